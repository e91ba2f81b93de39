"""Precision and recall of the graders on every evidence set we have.

    python bench/grader_eval.py [--shared ../shared/data] [--no-math-verify] [--workers 2]

Sets (see skymath_tasks/grader/evidence.py and the READMEs under tests/data/):
- labelled (ours): 398 hand-labelled responses;
- peer suites: pairs from other graders' own test suites (Math-Verify, MARIO_EVAL, Hendrycks MATH,
  Qwen2.5-Math, simple-evals), each label reviewed; one row per source and one pooled;
- adversarial (ours): 248 "looks right, is wrong" and 82 "looks odd, is right", with questions;
- GSM8K model solutions: 5276 real GPT-3 solutions with human labels (needs the shared data).

Graders: SkyMath strict, flexible, metamath, and math-verify as its authors use it (parse + verify on
the text as the source gives it). Prints Markdown tables, false positives by id, and the headline
figures of issue 12: false positives of strict/flexible on every set, strict recall on the peer suites'
formatted positives and on our labelled set's correctly formatted answers, and the remaining misses.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skymath_tasks.grader import GraderConfig  # noqa: E402
from skymath_tasks.grader.evidence import (  # noqa: E402
    Case,
    Confusion,
    load_adversarial,
    load_gsm8k_solutions,
    load_labelled,
    load_peer_suites,
    math_verify_judge,
    skymath_judge,
)

DATA = REPO / "tests" / "data"


def _row(set_name: str, grader: str, cases: list[Case], c: Confusion, seconds: float) -> str:
    return (f"| {set_name} | {grader} | {len(cases)} | {c.tp} | {c.fp} | {c.fn} | {c.tn} | "
            f"{100 * c.precision:.1f}% | {100 * c.recall:.1f}% | {seconds:.1f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)

    cfg = GraderConfig(workers=args.workers)
    labelled = load_labelled(DATA / "grader_labelled.jsonl")
    peer = load_peer_suites(DATA / "grader_peer_suites.jsonl")
    adversarial = load_adversarial(DATA / "grader_adversarial.jsonl")
    sets: dict[str, list[Case]] = {"labelled (ours)": labelled}
    for source in sorted({c.source for c in peer}):
        sets[f"peer: {source}"] = [c for c in peer if c.source == source]
    sets["peer suites (all)"] = peer
    sets["adversarial (ours)"] = adversarial
    if (Path(args.shared) / "gsm8k" / "example_model_solutions.jsonl").exists():
        sets["GSM8K model solutions"] = load_gsm8k_solutions(args.shared)
    else:
        print(f"(GSM8K model solutions not found under {args.shared}; skipped)", file=sys.stderr)

    judges: dict[str, Callable[[list[Case]], list[bool]]] = {
        m: skymath_judge(m, config=cfg) for m in ("strict", "flexible", "metamath")}
    if not args.no_math_verify:
        judges["math-verify"] = math_verify_judge

    print("| set | grader | n | TP | FP | FN | TN | precision | recall | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts: dict[tuple[str, str], list[bool]] = {}
    for set_name, cases in sets.items():
        for name, judge in judges.items():
            t0 = time.perf_counter()
            got = judge(cases)
            dt = time.perf_counter() - t0
            verdicts[(set_name, name)] = got
            c = Confusion()
            for case, v in zip(cases, got):
                c.add(case, v)
            print(_row(set_name, name, cases, c, dt))
            if c.false_positives:
                more = f" (+{len(c.false_positives) - 12} more)" if len(c.false_positives) > 12 else ""
                print(f"|  | false positives: {', '.join(c.false_positives[:12])}{more} |  |  |  |  |  |  |  |  |")

    print()
    print("Headline figures (issue 12):")
    for set_name in sets:
        for mode in ("strict", "flexible"):
            fps = [c.id for c, v in zip(sets[set_name], verdicts[(set_name, mode)]) if v and not c.label]
            print(f"- {mode} false positives on {set_name}: {len(fps)}{' ' + str(fps[:10]) if fps else ''}")

    def recall_on(set_name: str, cases_filter: Callable[[Case], bool], mode: str) -> tuple[int, int, list[Case]]:
        pairs = [(c, v) for c, v in zip(sets[set_name], verdicts[(set_name, mode)]) if cases_filter(c)]
        hit = sum(v for _, v in pairs)
        return hit, len(pairs), [c for c, v in pairs if not v]

    formatted_pos = lambda c: c.formatted and c.label  # noqa: E731
    for set_name in ("peer suites (all)", "labelled (ours)", "adversarial (ours)"):
        for name in judges:
            if name == "metamath" and set_name != "labelled (ours)":
                continue
            hit, n, _ = recall_on(set_name, formatted_pos, name)
            print(f"- recall of {name} on the formatted positives of {set_name}: {hit}/{n} = {hit / n:.3f}")
    for name in ("flexible", "math-verify"):
        if name in judges:
            hit, n, _ = recall_on("peer suites (all)", lambda c: c.label, name)
            print(f"- recall of {name} on all positives of the peer suites: {hit}/{n} = {hit / n:.3f}")

    print()
    print("Strict misses on formatted positives, by set and category:")
    for set_name in ("peer suites (all)", "labelled (ours)", "adversarial (ours)"):
        _, _, missed = recall_on(set_name, formatted_pos, "strict")
        cats = Counter(c.category for c in missed)
        print(f"- {set_name}: " + (", ".join(f"{k} {v}" for k, v in cats.most_common()) or "none"))
        for c in missed:
            print(f"    {c.id} [{c.category}] gold {c.gold[:50]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
