"""Benchmark: big rows. Peak memory of decontamination on 50 MB rows and on 80 KB rows against a stated
budget, and the cost of an over-long row in training. Prints figures; nothing is asserted.

Each measurement is a fresh child process (the real console script where there is one); its peak RSS
comes from ``wait4``, so it is that process's own. (Linux counts a child's peak from the fork, when it
is a copy of its parent, so the parent here stays small: inputs and the tiny tokenizer are made by
children too; the parent's own peak RSS is printed as the floor of every figure.) Measured in the same
run:

* ``skymath-synth decontaminate`` (GSM8K + MATH test, n=30) on
  - a file of ``--big-rows`` rows of ``--big-mb`` MB each (MATH train solutions run together, a MATH
    test problem planted in the middle of one of them), under the default 64 MiB row limit;
  - a file of ``--rows-80k`` rows of 80 KB each;
  with the defaults (blocks of at most 512 rows and 1 MiB, long fields in 1 MiB pieces) and with the
  baseline ``--batch-bytes 1T`` (one numpy pass per 512-row block and per whole row: what the step did
  before). Both must write the same bytes (checked here); the budget is ``--budget-mb`` (512 MiB);
  - the 50 MB file with ``--max-row-bytes 16MiB``: the run stops at once on line 1 (exit 2).
* ``skymath-synth dedup --fields response`` on both files (signatures over 32K shingles at a time, texts
  hashed in 1 MiB pieces; before, 200 rows of 80 KB took 5.0 GB);
* training data (``training.data.apply_length_policy``, the tiny byte-level BPE tokenizer of the test
  suite) on one row of ``--train-mb`` MB with ``max_length`` 2048: the text cut before tokenization
  (ours) against tokenizing the whole row (before); and ``skymath-train --max-steps 1`` on the 50 MB-row
  file (rows cut before tokenizing) and with ``--max-row-bytes 16MiB`` (stops with file:line): exit
  code, seconds, peak RSS.

Usage (about 3 minutes on 2 busy cores, 400 MB of temporary files)::

    python bench/big_rows.py
    python bench/big_rows.py --big-mb 10 --rows-80k 300 --train-mb 4     # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent


def _data_dir(args) -> Path:
    return Path(args.data_dir or os.environ.get("SKYMATH_DATA_DIR") or os.environ.get("SKYMATH_SHARED_DATA") or REPO.parent / "shared" / "data")


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``: its exit code, wall seconds, peak RSS (MiB, from ``wait4``: this child's own) and the last
    line it wrote to stderr."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=errf, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace").strip().splitlines()
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "last_stderr_line": err[-1][:300] if err else ""}


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def _math_text(rng: random.Random, train: list[dict], nbytes: int) -> str:
    parts, n = [], 0
    while n < nbytes:
        s = rng.choice(train)["solution"]
        parts.append(s)
        n += len(s) + 1
    return " ".join(parts)[:nbytes]


def make_inputs(work: Path, data: Path, args) -> dict:
    train = [json.loads(x) for x in (data / "math" / "train.jsonl").open()]
    test = [json.loads(x) for x in (data / "math" / "test.jsonl").open()]
    planted = next(r for r in test if len(r["problem"].split()) >= 45)
    rng = random.Random(0)
    big = work / "rows_50mb.jsonl"
    with open(big, "w", encoding="utf-8") as fh:
        for i in range(args.big_rows):
            text = _math_text(rng, train, args.big_mb * 1_000_000)
            if i == args.big_rows // 2:
                mid = len(text) // 2
                text = text[:mid] + " " + planted["problem"] + " " + text[mid:]
            fh.write(json.dumps({"id": f"big-{i}", "query": "q", "response": text}) + "\n")
    small = work / "rows_80kb.jsonl"
    with open(small, "w", encoding="utf-8") as fh:
        for i in range(args.rows_80k):
            fh.write(json.dumps({"id": f"r-{i}", "query": "q", "response": _math_text(rng, train, 80_000)}) + "\n")
    return {"big": big, "big_bytes": big.stat().st_size, "small": small, "small_bytes": small.stat().st_size,
            "planted": planted["unique_id"]}


# --------------------------------------------------------------------------------------------------
# decontamination
# --------------------------------------------------------------------------------------------------


def decontam(inp: Path, out: Path, data: Path, *extra: str) -> dict:
    for p in out.parent.glob(out.name + "*"):
        p.unlink()
    cmd = [str(BIN / "skymath-synth"), "decontaminate", str(inp), "-o", str(out), "--data-dir", str(data),
           "--id-field", "id", "--no-progress", *extra]
    res = run_measured(cmd)
    removed = out.with_name(out.name + ".removed.jsonl")
    res["removed_rows"] = sum(1 for _ in open(removed)) if removed.exists() else None
    return res


def _same(a: Path, b: Path) -> bool:
    return all((a.with_name(a.name + s).read_bytes() if s else a.read_bytes())
               == (b.with_name(b.name + s).read_bytes() if s else b.read_bytes())
               for s in ("", ".removed.jsonl"))


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------

_TRAIN_CHILD = """
import json, sys, time
from transformers import AutoTokenizer
from training.data import StageData, apply_length_policy, to_pair, token_length
tok = AutoTokenizer.from_pretrained(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
pair = to_pair("Sum it all up.", text)
t0 = time.perf_counter()
if sys.argv[3] == "cut":
    data = apply_length_policy(StageData([pair]), tok, 2048, "truncate")
    n, capped = data.longest_tokens, data.capped_rows
else:  # what the length check did before: tokenize the whole row
    n, capped = token_length(tok, pair), 0
print(json.dumps({"tokens_counted": n, "capped": capped, "tokenize_seconds": round(time.perf_counter() - t0, 2)}))
"""


def train_child(tok_dir: Path, text_file: Path, mode: str) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as outf, tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen([sys.executable, "-c", _TRAIN_CHILD, str(tok_dir), str(text_file), mode],
                                stdout=outf, stderr=errf, env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(proc.pid, 0)
        outf.seek(0)
        errf.seek(0)
        lines = outf.read().decode().strip().splitlines()
        if os.waitstatus_to_exitcode(status) != 0 or not lines:
            raise RuntimeError(errf.read().decode()[-2000:])
    return {**json.loads(lines[-1]), "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _child(args) -> None:
    """Work done in a child so the measuring parent stays small (see the module docstring)."""
    work = Path(args.workdir)
    if args.child == "inputs":
        out = make_inputs(work, _data_dir(args), args)
        text_file = work / "train_row.txt"
        train = [json.loads(x) for x in (_data_dir(args) / "math" / "train.jsonl").open()]
        text_file.write_text(_math_text(random.Random(1), train, args.train_mb * 1_000_000), encoding="utf-8")
        out["text_file"] = text_file
    else:
        from skymath_tasks.devtools.tiny_model import build_tiny_llama

        out = {"tok_dir": build_tiny_llama(work / "tiny")}
    print(json.dumps(out, default=str))


def _run_child(kind: str, args) -> dict:
    argv = [sys.executable, __file__, "--child", kind, "--workdir", str(args.workdir), "--big-mb", str(args.big_mb),
            "--big-rows", str(args.big_rows), "--rows-80k", str(args.rows_80k), "--train-mb", str(args.train_mb)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big-mb", type=int, default=50, help="MB per row of the big-row file")
    ap.add_argument("--big-rows", type=int, default=3)
    ap.add_argument("--rows-80k", type=int, default=1500, help="rows of 80 KB")
    ap.add_argument("--train-mb", type=int, default=15, help="MB of the training row")
    ap.add_argument("--budget-mb", type=float, default=512.0, help="stated peak-RSS budget of decontamination")
    ap.add_argument("--data-dir")
    ap.add_argument("--workdir", help="where the files go (default: a temp dir, deleted after)")
    ap.add_argument("--skip-baseline", action="store_true", help="do not run the unbounded baseline")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(args)
    data = _data_dir(args)
    tmp = tempfile.TemporaryDirectory() if not args.workdir else None
    work = Path(tmp.name if tmp else args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    args.workdir = str(work)
    load = os.getloadavg()
    print(f"# big rows: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start, {os.cpu_count()} CPUs")
    inputs = {k: (Path(v) if k in ("big", "small", "text_file") else v) for k, v in _run_child("inputs", args).items()}
    print(f"inputs: {args.big_rows} rows x {args.big_mb} MB ({inputs['big_bytes'] / 1e6:.0f} MB), "
          f"{args.rows_80k} rows x 80 KB ({inputs['small_bytes'] / 1e6:.0f} MB)")
    results: dict = {"budget_mb": args.budget_mb, "inputs": {k: str(v) for k, v in inputs.items()}}

    print("\n## decontaminate (GSM8K + MATH test, n=30)")
    print(f"{'input':<22} {'setting':<34} {'rc':>3} {'seconds':>8} {'peak RSS MiB':>13} {'removed':>8}")
    for label, inp, extra in (("50 MB rows", inputs["big"], []), ("80 KB rows", inputs["small"], [])):
        ours = decontam(inp, work / "ours.jsonl", data, *extra)
        rows = [("ours (1 MiB blocks and pieces)", ours)]
        if not args.skip_baseline:
            base = decontam(inp, work / "base.jsonl", data, *extra, "--batch-bytes", "1T")
            rows.append(("baseline (--batch-bytes 1T)", base))
            ours["same_output_as_baseline"] = _same(work / "ours.jsonl", work / "base.jsonl")
        for name, r in rows:
            print(f"{label:<22} {name:<34} {r['rc']:>3} {r['seconds']:>8} {r['peak_rss_mb']:>13} "
                  f"{r['removed_rows']!s:>8}")
        verdict = "within" if ours["peak_rss_mb"] <= args.budget_mb and ours["rc"] == 0 else "OVER"
        same = ours.get("same_output_as_baseline")
        print(f"{'':<22} -> {verdict} the {args.budget_mb:.0f} MiB budget"
              + ("" if same is None else f"; output identical to the baseline: {same}")
              + ("" if args.skip_baseline else f"; RSS ratio baseline/ours {rows[1][1]['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x"))
        results[label] = dict(rows)
    limited = decontam(inputs["big"], work / "lim.jsonl", data, "--max-row-bytes", "16MiB")
    print(f"{'50 MB rows':<22} {'--max-row-bytes 16MiB':<34} {limited['rc']:>3} {limited['seconds']:>8} "
          f"{limited['peak_rss_mb']:>13}   {limited['last_stderr_line'][-110:]}")
    results["50 MB rows, 16 MiB limit"] = limited

    print("\n## dedup --fields response (MinHash, 128 permutations)")
    for label, inp, extra in (("80 KB rows", inputs["small"], []), ("50 MB rows", inputs["big"], [])):
        for p in work.glob("dd.jsonl*"):
            p.unlink()
        r = run_measured([str(BIN / "skymath-synth"), "dedup", str(inp), "-o", str(work / "dd.jsonl"), "--fields",
                          "response", "--no-progress", *extra])
        verdict = "within" if r["peak_rss_mb"] <= args.budget_mb and r["rc"] == 0 else "OVER"
        print(f"{label:<22} rc {r['rc']}, {r['seconds']} s, peak RSS {r['peak_rss_mb']} MiB -> {verdict} the budget")
        results[f"dedup {label}"] = r

    print(f"\n## training data: one row of {args.train_mb} MB, max_length 2048 (tiny byte-level BPE tokenizer)")
    tok_dir = Path(_run_child("tiny", args)["tok_dir"])
    text_file = inputs["text_file"]
    cut = train_child(tok_dir, text_file, "cut")
    print(f"cut before tokenizing (ours):  {cut}")
    if not args.skip_baseline:
        whole = train_child(tok_dir, text_file, "whole")
        print(f"whole row tokenized (before): {whole}")
        print(f"-> time ratio {whole['tokenize_seconds'] / max(cut['tokenize_seconds'], 0.01):.0f}x, "
              f"peak RSS ratio {whole['peak_rss_mb'] / cut['peak_rss_mb']:.1f}x")
        results["train_whole"] = whole
    results["train_cut"] = cut
    for name, extra in (("default limit, --max-steps 1", ["--max-steps", "1"]),
                        ("--max-row-bytes 16MiB", ["--max-row-bytes", "16MiB"])):
        cli = run_measured([str(BIN / "skymath-train"), "--stage", "1", "--model-name-or-path", str(tok_dir),
                            "--stage1-data", str(inputs["big"]), "--output-dir", str(work / f"run{len(extra)}{extra[0]}"),
                            "--use-cpu", "--bf16", "false", "--report-to", "none", "--max-length", "2048", *extra])
        print(f"skymath-train on the {args.big_mb} MB-row file, {name}: rc {cli['rc']}, {cli['seconds']} s, peak RSS "
              f"{cli['peak_rss_mb']} MiB: {cli['last_stderr_line'][-160:]}")
        results[f"train_cli_big_row {name}"] = cli
    import resource

    load = os.getloadavg()
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n# load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; this parent's peak RSS "
          f"{floor:.0f} MiB (the floor of every child figure)")
    results["parent_peak_rss_mb"] = floor
    print(json.dumps(results, default=str))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
