"""Benchmark of data selection at scale: n-gram decontamination and k-center greedy.

Prints figures (nothing is asserted):

* decontamination of synthetic rows of realistic length (MATH train problems and solutions recombined,
  ~300 whitespace tokens / ~1.6 KB per row, with a MATH test problem planted in 1 row of 2,000) against
  GSM8K + MATH test (problems and solutions, n=30): rows/s and peak RSS for our implementation (1 and 2
  worker processes) and for the plain Python set-of-n-gram-strings baseline, measured in the same run.
  The baseline runs on a subsample (``--baseline-rows``) and its rows/s is extrapolated: it is linear in
  the rows. Each measurement runs in a fresh child process so peak RSS is its own.
* k-center greedy on random unit vectors (N x 384) selecting k centres: seconds for our torch
  implementation and the straightforward NumPy one (per-pick time measured on ``--numpy-picks`` picks and
  extrapolated to k: each pick costs the same), plus the bucketed approximate mode.
* scaling of both with the row count (3 sizes).

Usage (full sizes, ~15-25 min on 2 shared cores)::

    python bench/selection.py

Small smoke run::

    python bench/selection.py --rows 20000 --sizes 5000,10000,20000 --baseline-rows 2000 \\
        --kcenter-sizes 5000,10000,20000 --k 200 --numpy-picks 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _data_dir(args) -> Path:
    return Path(args.data_dir or os.environ.get("SKYMATH_DATA_DIR") or os.environ.get("SKYMATH_SHARED_DATA") or REPO.parent / "shared" / "data")


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (workers): robust to other load on the cores."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _peak_rss_mb() -> tuple[float, float]:
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return self_mb, kids_mb


# --------------------------------------------------------------------------------------------------
# synthetic rows
# --------------------------------------------------------------------------------------------------


def make_rows(path: Path, n: int, data_dir: Path, seed: int = 0, plant_every: int = 2000) -> dict:
    train = [json.loads(line) for line in (data_dir / "math" / "train.jsonl").open()]
    test = [json.loads(line) for line in (data_dir / "math" / "test.jsonl").open()]
    long_test = [r for r in test if len(r["problem"].split()) >= 40]
    rng = random.Random(seed)
    planted = 0
    t0 = time.perf_counter()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            a, b, c = rng.choice(train), rng.choice(train), rng.choice(train)
            response = b["solution"] + "\n\nAlternatively, " + c["solution"]
            if i % plant_every == plant_every // 2:
                t = rng.choice(long_test)
                response = f"Recall a similar problem: {t['problem']} " + response
                planted += 1
            fh.write(json.dumps({"id": f"syn-{i}", "stage": 1, "method": "bench", "seed_id": a["unique_id"],
                                 "query": a["problem"], "response": response + "\nThe answer is 7"}) + "\n")
    size = path.stat().st_size
    return {"rows": n, "bytes": size, "planted": planted, "seconds": time.perf_counter() - t0}


def head_file(src: Path, dst: Path, n: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        for i, line in enumerate(fi):
            if i >= n:
                break
            fo.write(line)


# --------------------------------------------------------------------------------------------------
# children (one measurement per process)
# --------------------------------------------------------------------------------------------------


def child_decontam(args) -> dict:
    from synth.selection.decontam import DecontamConfig, NgramIndex, builtin_benchmark, decontaminate_file

    dd = _data_dir(args)
    t0 = time.perf_counter()
    index = NgramIndex([builtin_benchmark("gsm8k", dd), builtin_benchmark("math", dd)], n=args.n)
    t_index = time.perf_counter() - t0
    out = Path(args.workdir)
    cfg = DecontamConfig(n=args.n, workers=args.workers, text_fields=("query", "response"), id_field="id")
    t0 = time.perf_counter()
    c0 = _cpu_s()
    stats = decontaminate_file(args.input, index, out / f"kept.{os.getpid()}.jsonl",
                               out / f"removed.{os.getpid()}.jsonl", cfg, overwrite=True, progress=False)
    dt = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    removed = [json.loads(line) for line in open(out / f"removed.{os.getpid()}.jsonl")]
    planted_caught = sum(1 for r in removed if int(r["id"].split("-")[1]) % 2000 == 1000)
    for p in out.glob(f"*.{os.getpid()}.jsonl*"):
        p.unlink()
    self_mb, kids_mb = _peak_rss_mb()
    return {"impl": f"ours, {args.workers} worker(s)", "rows": stats.rows, "removed": stats.removed,
            "planted_caught": planted_caught, "seconds": dt, "index_seconds": t_index,
            "rows_per_s": stats.rows / dt, "cpu_s": cpu, "peak_rss_mb": self_mb, "peak_rss_workers_mb": kids_mb if args.workers > 1 else 0}


def child_baseline(args) -> dict:
    from synth.selection.decontam import BaselineSetMatcher, NgramIndex, builtin_benchmark
    from synth.selection.reader import loads_json

    dd = _data_dir(args)
    t0 = time.perf_counter()
    index = NgramIndex([builtin_benchmark("gsm8k", dd), builtin_benchmark("math", dd)], n=args.n)
    base = BaselineSetMatcher(index)
    del index
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    c0 = _cpu_s()
    rows = removed = 0
    with open(args.input, "rb") as fin, open(os.devnull, "wb") as fout:
        for line in fin:
            row = loads_json(line)  # the same JSON parser as ours
            rows += 1
            if base.is_contaminated([("query", row["query"]), ("response", row["response"])]):
                removed += 1
            else:
                fout.write(line)
    dt = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    self_mb, _ = _peak_rss_mb()
    return {"impl": "baseline: Python set of n-gram strings", "rows": rows, "removed": removed, "seconds": dt,
            "cpu_s": cpu,
            "index_seconds": t_index, "rows_per_s": rows / dt, "peak_rss_mb": self_mb}


def child_kcenter(args) -> dict:
    import numpy as np
    import torch

    from synth.selection.coreset import bucketed_k_center, k_center_greedy, k_center_greedy_numpy

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.kn, 384), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    out: dict = {"n": args.kn, "k": args.k, "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu")}
    if args.impl in ("torch", "all"):
        k_center_greedy(X[:1000], 5, device=args.device)  # warm-up (thread pools, CUDA context)
        if out["device"] == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = k_center_greedy(X, args.k, device=args.device)
        out["torch_seconds"] = time.perf_counter() - t0
        out["torch_radius"] = float(res.radii[-1])
    if args.impl in ("numpy", "all"):
        t0 = time.perf_counter()
        k_center_greedy_numpy(X, args.numpy_picks)
        per_pick = (time.perf_counter() - t0) / args.numpy_picks
        out["numpy_seconds_per_pick"] = per_pick
        out["numpy_seconds_extrapolated"] = per_pick * args.k
    if args.impl in ("bucketed", "all"):
        t0 = time.perf_counter()
        res = bucketed_k_center(X, args.k, n_buckets=args.buckets, device=args.device)
        out["bucketed_seconds"] = time.perf_counter() - t0
        out["bucketed_radius_bound"] = float(res.radii[-1])
    out["peak_rss_mb"] = _peak_rss_mb()[0]
    return out


def run_child(kind: str, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows for the main decontamination figure")
    ap.add_argument("--sizes", default="250000,500000,1000000", help="row counts for the scaling table")
    ap.add_argument("--baseline-rows", type=int, default=20_000, help="subsample for the baseline")
    ap.add_argument("--baseline-sizes", default="5000,10000,20000")
    ap.add_argument("--workers", default="1,2", help="worker counts for our decontamination")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--compare-n", default="10,13,30", help="n values compared on --compare-rows rows")
    ap.add_argument("--compare-rows", type=int, default=100_000)
    ap.add_argument("--kcenter-sizes", default="50000,100000,200000")
    ap.add_argument("-k", "--k", type=int, default=2000)
    ap.add_argument("--numpy-picks", type=int, default=20)
    ap.add_argument("--buckets", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for k-center")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-dir")
    ap.add_argument("--workdir", help="where the synthetic file goes (default: a temp dir, deleted after)")
    ap.add_argument("--skip-decontam", action="store_true")
    ap.add_argument("--skip-kcenter", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--kn", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="all", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.child == "decontam":
            args.workers = int(args.workers)
            print(json.dumps(child_decontam(args)))
        elif args.child == "baseline":
            print(json.dumps(child_baseline(args)))
        elif args.child == "kcenter":
            print(json.dumps(child_kcenter(args)))
        return

    print(f"# bench/selection.py  ({time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start)")
    print("command: python " + " ".join(sys.argv))
    tmp = tempfile.TemporaryDirectory(dir=args.workdir) if not args.workdir else None
    work = Path(tmp.name if tmp else args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    common = ["--workdir", str(work), "-n", str(args.n)] + (["--data-dir", args.data_dir] if args.data_dir else [])
    try:
        if not args.skip_decontam:
            sizes = sorted({int(s) for s in args.sizes.split(",")} | {args.rows})
            big = work / "rows.jsonl"
            info = make_rows(big, max(sizes), _data_dir(args))
            print(f"\n## Decontamination (n={args.n}, GSM8K test + MATH test, problems and solutions)")
            print(f"synthetic rows: {info['rows']} ({info['bytes'] / info['rows']:.0f} bytes/row, "
                  f"{info['planted']} with a planted MATH test problem); generated in {info['seconds']:.0f}s")
            results = []
            base_sizes = sorted({int(s) for s in args.baseline_sizes.split(",")} | {args.baseline_rows})
            for n in base_sizes:
                f = work / f"rows_{n}.jsonl"
                head_file(big, f, n)
                r = run_child("baseline", common + ["--input", str(f)])
                f.unlink()
                results.append(r)
            for w in [int(x) for x in args.workers.split(",")]:
                for n in sizes:
                    f = big if n == max(sizes) else work / f"rows_{n}.jsonl"
                    if f != big:
                        head_file(big, f, n)
                    r = run_child("decontam", common + ["--input", str(f), "--workers", str(w)])
                    if f != big:
                        f.unlink()
                    results.append(r)
            print("\n| implementation | rows | wall s | rows/s (wall) | CPU s | rows per CPU-s | removed (planted caught) "
                  "| peak RSS MB (parent / workers) |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in results:
                caught = f" ({r['planted_caught']})" if "planted_caught" in r else ""
                print(f"| {r['impl']} | {r['rows']} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['cpu_s']:.1f} | "
                      f"{r['rows'] / r['cpu_s']:,.0f} | {r['removed']}{caught} | "
                      f"{r['peak_rss_mb']:.0f}" + (f" / {r['peak_rss_workers_mb']:.0f}" if r.get("peak_rss_workers_mb") else "") + " |")
            base = [r for r in results if r["impl"].startswith("baseline") and r["rows"] == args.baseline_rows][0]
            base_rate, base_cpu_rate = base["rows_per_s"], base["rows"] / base["cpu_s"]
            print(f"\nbaseline rows/s measured on {args.baseline_rows} rows and extrapolated (linear in rows): "
                  f"{args.rows} rows would take {args.rows / base_rate:.0f}s")
            for r in results:
                if r["impl"].startswith("ours") and r["rows"] == args.rows:
                    print(f"{r['impl']}: {r['rows_per_s'] / base_rate:.1f}x the baseline's rows/s (wall clock), "
                          f"{(r['rows'] / r['cpu_s']) / base_cpu_rate:.1f}x its rows per CPU-second; 2.5M rows would "
                          f"take {2_500_000 / r['rows_per_s']:.0f}s at this wall-clock rate (target < 300 s)")
            if args.compare_n:
                f = work / "rows_compare.jsonl"
                head_file(big, f, args.compare_rows)
                print(f"\n### Removed rows by n (first {args.compare_rows} rows; the paper's table 9 compares 30 and 10)")
                print("| n | removed | % of rows | planted caught | rows/s |")
                print("|---:|---:|---:|---:|---:|")
                for n_ in [int(x) for x in args.compare_n.split(",")]:
                    r = run_child("decontam", ["--workdir", str(work), "-n", str(n_), "--input", str(f), "--workers", "1"]
                                  + (["--data-dir", args.data_dir] if args.data_dir else []))
                    print(f"| {n_} | {r['removed']} | {100 * r['removed'] / r['rows']:.2f} | {r['planted_caught']} | "
                          f"{r['rows_per_s']:,.0f} |")
                f.unlink()
            big.unlink()

        if not args.skip_kcenter:
            print(f"\n## k-center greedy (random unit vectors, d=384, k={args.k}, torch threads={args.threads})")
            print("| N | torch s | NumPy s (extrapolated from "
                  f"{args.numpy_picks} picks) | speed-up | bucketed ({args.buckets} buckets) s | radius exact / bucketed bound | peak RSS MB |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            for n in [int(s) for s in args.kcenter_sizes.split(",")]:
                extra = ["--kn", str(n), "-k", str(args.k), "--numpy-picks", str(args.numpy_picks),
                         "--buckets", str(args.buckets), "--threads", str(args.threads)]
                if args.device:
                    extra += ["--device", args.device]
                r = run_child("kcenter", common + extra)
                print(f"| {n} | {r['torch_seconds']:.1f} | {r['numpy_seconds_extrapolated']:.1f} | "
                      f"{r['numpy_seconds_extrapolated'] / r['torch_seconds']:.1f}x | {r['bucketed_seconds']:.1f} | "
                      f"{r['torch_radius']:.4f} / {r['bucketed_radius_bound']:.4f} | {r['peak_rss_mb']:.0f} |")
            print(f"(device: {r['device']})")
        print(f"\nload average at end: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    finally:
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    main()
