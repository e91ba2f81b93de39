"""Precision/recall of the graders on our labelled set and on the real GSM8K model solutions.

    python bench/grader_eval.py [--labelled tests/data/grader_labelled.jsonl] [--shared ../shared/data]
                                [--no-math-verify] [--workers 2]

Prints a Markdown table: strict, flexible and metamath (ours) and math-verify (parse+verify on the
whole response, its intended use; and on our strict extraction, which isolates its equivalence
check) on each set, plus strict's recall on the correctly formatted
equivalent answers of our set (the figure the issue's done-criterion names).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skymath_tasks.grader import GraderConfig  # noqa: E402
from skymath_tasks.grader.evidence import (  # noqa: E402
    evaluate,
    load_gsm8k_solutions,
    load_labelled,
    math_verify_judge,
    math_verify_on_extracted_judge,
    skymath_judge,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labelled", default=str(REPO / "tests" / "data" / "grader_labelled.jsonl"))
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)

    cfg = GraderConfig(workers=args.workers)
    sets = {"labelled (ours)": load_labelled(args.labelled)}
    if (Path(args.shared) / "gsm8k" / "example_model_solutions.jsonl").exists():
        sets["GSM8K model solutions"] = load_gsm8k_solutions(args.shared)
    else:
        print(f"(GSM8K model solutions not found under {args.shared}; skipped)", file=sys.stderr)

    judges = {m: skymath_judge(m, config=cfg) for m in ("strict", "flexible", "metamath")}
    if not args.no_math_verify:
        judges["math-verify"] = math_verify_judge
        judges["math-verify on our strict extraction"] = math_verify_on_extracted_judge

    print("| set | grader | n | TP | FP | FN | TN | precision | recall | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for set_name, cases in sets.items():
        for name, judge in judges.items():
            t0 = time.perf_counter()
            c = evaluate(cases, judge)
            dt = time.perf_counter() - t0
            print(f"| {set_name} | {name} | {len(cases)} | {c.tp} | {c.fp} | {c.fn} | {c.tn} | "
                  f"{100 * c.precision:.1f}% | {100 * c.recall:.1f}% | {dt:.1f} |")
            if c.false_positives:
                print(f"|  | false positives: {', '.join(c.false_positives[:8])} |  |  |  |  |  |  |  |  |")
    labelled = sets["labelled (ours)"]
    fmt_eq = [c for c in labelled if c.formatted and c.label]
    print()
    print(f"Correctly formatted equivalent answers in our set: {len(fmt_eq)}")
    for name in judges:
        c = evaluate(fmt_eq, judges[name])
        print(f"- {name}: recall {100 * c.recall:.1f}% ({c.tp}/{len(fmt_eq)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
