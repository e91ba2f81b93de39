"""Grader throughput and latency on the MATH test answers, side by side with math-verify.

    python bench/grader.py [--limit 5000] [--shared ../shared/data] [--timeout 5] [--skip-adversarial]

For each MATH test problem the gold answer (last ``\\boxed{}`` of the solution) is written in several
surface forms: as is, ``\\dfrac`` for ``\\frac``, extra spaces, a reordered solution list, a decimal for
a terminating fraction, and a wrong answer (last digit changed). Each (form, gold) pair is graded
one item at a time, as lm-eval does, by

* SkyMath: ``grade("...The answer is <form>", gold)`` with isolation on (symbolic tier in the worker
  pool, per-item limit ``--timeout``);
* math-verify 0.9: ``verify(parse("$<gold>$"), parse("$<form>$"))`` in this process.

Both are warmed up first (pool start, imports) and timed on the same items in the same run. Printed:
items/s, p50/p99 per-item latency, agreement with the expected verdict per form, the throughput
ratio, and the slowest adversarial items for SkyMath.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skymath_tasks.extract import last_boxed  # noqa: E402
from skymath_tasks.grader import GraderConfig, clear_cache  # noqa: E402
from skymath_tasks.grader.parser import Seq, parse  # noqa: E402
from skymath_tasks.grader.pool import get_pool  # noqa: E402
from skymath_tasks.jsonl_io import iter_jsonl  # noqa: E402
from skymath_tasks.scoring import grade  # noqa: E402

ADVERSARIAL = [
    "10^{10^{10^{10}}}", "9^{9^{9^{9}}}", "10^{100000}", "((10^{1000})^{1000})^{1000}", "100000!",
    "(" * 500 + "1" + ")" * 500, "\\frac{1}{" * 300 + "1" + "}" * 300, "1+" * 50000 + "1", "x" * 100_000,
    "((x+1)^{2}-1)^{500}", "((x+y+1)^{2}-1)^{300}", "\\sqrt{2}^{999}", "(x+1)^{999}-x^{999}",
    "\\sin^{2}x+\\cos^{2}x", "((x+1)(y+2))^{300}", "__import__('os').system('true')", ",".join(["x"] * 60),
]


def changed(gold: str) -> str:
    digits = list(re.finditer(r"\d", gold))
    if digits:
        i = digits[-1].start()
        d = int(gold[i])
        return gold[:i] + str(d + 1 if d < 9 else 8) + gold[i + 1:]
    return "\\text{banana}" if gold.startswith("\\text{") else gold + "+1"


def as_decimal(gold: str) -> str | None:
    m = re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", gold.strip())
    if not m:
        return None
    v = Fraction(int(m.group(2)), int(m.group(3)))
    den = v.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1 or v.denominator > 10**6:
        return None
    s = f"{float(v):.10f}".rstrip("0").rstrip(".")
    if Fraction(s) != v:
        return None
    return m.group(1) + s


def forms(gold: str) -> list[tuple[str, str, bool]]:
    """(form name, predicted answer, expected verdict)."""
    out = [("as_is", gold, True)]
    if "\\frac" in gold:
        out.append(("dfrac", gold.replace("\\frac", "\\dfrac"), True))
    spaced = re.sub(r"\s*((?<!\\)[,+=]|\\cdot|\\times)\s*", r" \1 ", gold).strip()
    if spaced != gold:
        out.append(("spaces", spaced, True))
    try:
        tree = parse(gold)
    except Exception:
        tree = None
    if (isinstance(tree, Seq) and tree.kind == "list" and "," in gold and "\\text" not in gold
            and not gold.strip().startswith(("(", "["))):
        parts = [p.strip() for p in gold.split(",")]
        if len(parts) == len(tree.items):
            out.append(("reordered", ", ".join(reversed(parts)), True))
    dec = as_decimal(gold)
    if dec is not None:
        out.append(("decimal", dec, True))
    out.append(("wrong", changed(gold), False))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_skymath(items, cfg: GraderConfig) -> tuple[list[bool], list[float]]:
    verdicts, lat = [], []
    for _, pred, gold, _ in items:
        t0 = time.perf_counter()
        verdicts.append(grade(f"Let's see.\nThe answer is {pred}", gold, task="math", config=cfg).correct)
        lat.append(time.perf_counter() - t0)
    return verdicts, lat


def run_math_verify(items) -> tuple[list[bool], list[float]]:
    from math_verify import parse as mv_parse, verify

    verdicts, lat = [], []
    for _, pred, gold, _ in items:
        t0 = time.perf_counter()
        try:
            ok = bool(verify(mv_parse(f"${gold}$"), mv_parse(f"${pred}$")))
        except Exception:
            ok = False
        verdicts.append(ok)
        lat.append(time.perf_counter() - t0)
    return verdicts, lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--limit", type=int, default=5000, help="number of MATH test problems (first N)")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-item symbolic limit, seconds")
    ap.add_argument("--skip-adversarial", action="store_true")
    ap.add_argument("--skip-math-verify", action="store_true")
    args = ap.parse_args(argv)

    golds = [last_boxed(row["solution"]) for _, row in iter_jsonl(Path(args.shared) / "math" / "test.jsonl",
                                                                   required=("solution",))][: args.limit]
    items = [(name, pred, g, exp) for g in golds if g for name, pred, exp in forms(g)]
    cfg = GraderConfig(timeout_s=args.timeout)
    print(f"{len(golds)} MATH test answers -> {len(items)} graded items; isolation on, limit {cfg.timeout_s:g}s, "
          f"memory cap {cfg.memory_mb} MiB")

    t0 = time.perf_counter()
    get_pool(cfg.memory_mb, cfg.spares).warmup()
    run_skymath(items[:20], cfg)
    print(f"SkyMath warm-up (pool start): {time.perf_counter() - t0:.2f}s")
    clear_cache()
    t0 = time.perf_counter()
    ours, ours_lat = run_skymath(items, cfg)
    ours_s = time.perf_counter() - t0
    pool = get_pool(cfg.memory_mb, cfg.spares)

    rows = [("SkyMath strict (isolated)", ours, ours_lat, ours_s)]
    if not args.skip_math_verify:
        run_math_verify(items[:20])
        t0 = time.perf_counter()
        mv, mv_lat = run_math_verify(items)
        rows.append(("math-verify parse+verify", mv, mv_lat, time.perf_counter() - t0))

    print()
    print("| grader | items | seconds | items/s | p50 ms | p99 ms | max ms | agrees with expected |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, verdicts, lat, secs in rows:
        agree = sum(v == it[3] for v, it in zip(verdicts, items))
        print(f"| {name} | {len(items)} | {secs:.1f} | {len(items) / secs:.0f} | {1000 * pct(lat, .5):.2f} | "
              f"{1000 * pct(lat, .99):.1f} | {1000 * max(lat):.0f} | {100 * agree / len(items):.2f}% |")
    if len(rows) == 2:
        print(f"\nThroughput ratio SkyMath / math-verify: {rows[1][3] / rows[0][3]:.1f}x")
    print(f"SkyMath symbolic workers started {pool.started}, killed on timeout {pool.killed}, crashed {pool.crashed}")

    print("\n| form | items | SkyMath agrees | " + ("math-verify agrees |" if len(rows) == 2 else "") )
    print("|---|---:|---:|" + ("---:|" if len(rows) == 2 else ""))
    for form in ("as_is", "dfrac", "spaces", "reordered", "decimal", "wrong"):
        idx = [i for i, it in enumerate(items) if it[0] == form]
        if not idx:
            continue
        cells = [f"{100 * sum(r[1][i] == items[i][3] for i in idx) / len(idx):.2f}%" for r in rows]
        print(f"| {form} | {len(idx)} | " + " | ".join(cells) + " |")

    wrong_accepted = [(items[i][1], items[i][2]) for i, v in enumerate(ours) if v and not items[i][3]]
    print(f"\nSkyMath false positives on wrong forms: {len(wrong_accepted)} {wrong_accepted[:5]}")
    missed = [(items[i][0], items[i][1], items[i][2]) for i, v in enumerate(ours) if not v and items[i][3]]
    print(f"SkyMath misses on equivalent forms: {len(missed)} {missed[:8]}")

    if not args.skip_adversarial:
        adv = []
        for text in ADVERSARIAL:
            pairs = [(text, "1"), (text, text + "+1"), ("1", text)]
            if text == "((x+1)(y+2))^{300}":
                pairs.append((text, "(xy+2x+y+2)^{300}"))  # equal, but the proof needs a huge expansion
            for pred, gold in pairs:
                clear_cache()
                t0 = time.perf_counter()
                g = grade(f"The answer is {pred}", gold, task="math", config=cfg)
                adv.append((time.perf_counter() - t0, pred[:40], gold[:40], g.correct, g.tier))
        adv.sort(reverse=True)
        print(f"\nSlowest adversarial items (limit {cfg.timeout_s:g}s; {len(adv)} items):")
        print("| seconds | answer (first 40 chars) | gold (first 40 chars) | correct | tier |")
        print("|---:|---|---|---|---|")
        for secs, pred, gold, ok, tier in adv[:8]:
            print(f"| {secs:.2f} | `{pred}` | `{gold}` | {ok} | {tier} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
