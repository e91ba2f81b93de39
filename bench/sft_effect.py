"""The training half on a real model: does SFT through ``skymath-train`` teach the answer format?

No teacher is needed: GSM8K train solutions are rewritten into the paper's response format (the worked
solution without the ``<<48/2=24>>`` calculator annotations, then ``The answer is N`` on the last line,
built with ``skymath_tasks.prompts.format_response``), a model is fine-tuned on them with
``skymath-train`` (one stage), and the base and the fine-tuned checkpoint are evaluated with ``lm_eval``
(``skymath_gsm8k``, the same first ``--test-problems`` test problems for both, greedy, generation capped
at ``--max-gen-toks``). Printed: strict, flexible and no_answer_rate before and after, and the wall time
of each phase; everything is also written to ``<output-dir>/sft_effect.json``.

What to expect: a 135M model fine-tuned on a few hundred examples writes "The answer is N" far more often
(no_answer_rate falls, strict rises towards flexible); its arithmetic barely changes.

Run (2 CPU cores, about 30 minutes with these sizes; the model folder is a plain Hugging Face folder,
e.g. ``skymath-demo --export-hf /tmp/smollm2``)::

    python bench/sft_effect.py --model /tmp/smollm2 --data-dir ../shared/data \\
        --train-rows 300 --test-problems 60 --max-gen-toks 256 --output-dir /tmp/sft_effect

With a GPU: ``--train-rows 7473 --test-problems 1319 --eval-backend vllm --max-gen-toks 512 --bf16``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_CALC = re.compile(r"<<[^<>]*>>")
_FINAL = re.compile(r"\n?####\s*(.+?)\s*$", re.S)
METRICS = ("strict", "flexible", "no_answer_rate")


def rewrite_solution(answer: str) -> tuple[str, str]:
    """A GSM8K ``answer`` (worked solution with calculator annotations, last line ``#### N``) ->
    ``(response in the paper's format, N)``."""
    from skymath_tasks.prompts import format_response

    m = _FINAL.search(answer)
    if m is None:
        raise ValueError(f"no '#### N' line in {answer[-80:]!r}")
    final = m.group(1).replace(",", "").strip()
    reasoning = _CALC.sub("", answer[: m.start()]).strip()
    return format_response(reasoning, final), final


def training_rows(train_path: Path, n: int, seed: int) -> list[dict[str, str]]:
    from skymath_tasks.jsonl_io import iter_jsonl

    rows = [r for _, r in iter_jsonl(train_path, required=("question", "answer"),
                                     types={"question": str, "answer": str})]
    random.Random(seed).shuffle(rows)
    out = []
    for r in rows[:n]:
        response, final = rewrite_solution(r["answer"])
        out.append({"query": r["question"].strip(), "response": response, "answer": final})
    return out


def _env(data_dir: Path, threads: int | None) -> dict[str, str]:
    env = dict(os.environ, SKYMATH_DATA_DIR=str(data_dir), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads do not spin on a shared CPU
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _run(cmd: list[str], env: dict[str, str], log_path: Path) -> float:
    t0 = time.time()
    with open(log_path, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return time.time() - t0


def evaluate(model_dir: Path, out_dir: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    """``lm_eval`` on the first ``test_problems`` GSM8K test problems; metrics of its results file."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model_args = f"pretrained={model_dir},dtype={'bfloat16' if args.bf16 else 'float32'}"
    if args.eval_backend == "vllm":
        model_args += ",max_model_len=2048"
    lm_eval = shutil.which("lm_eval") or "lm_eval"
    cmd = [lm_eval, "--model", args.eval_backend, "--model_args", model_args, "--tasks", "skymath_gsm8k",
           "--limit", str(args.test_problems), "--batch_size", str(args.eval_batch_size),
           "--gen_kwargs", f"max_gen_toks={args.max_gen_toks}", "--output_path", str(out_dir), "--log_samples"]
    if args.eval_backend == "hf":
        cmd += ["--device", args.device]
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = _run(cmd, env, out_dir / "lm_eval.log")
    (results_file,) = out_dir.rglob("results_*.json")
    res = json.loads(results_file.read_text(encoding="utf-8"))["results"]["skymath_gsm8k"]
    samples = [json.loads(line) for line in next(out_dir.rglob("samples_skymath_gsm8k_*.jsonl")).read_text(
        encoding="utf-8").splitlines() if line.strip()]
    return {"seconds": round(seconds, 1), "n": res.get("sample_len"), "results_file": str(results_file),
            "doc_ids": sorted(s["doc_id"] for s in samples),
            **{m: res.get(f"{m},none") for m in METRICS}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="plain Hugging Face model folder (or Hub id with network)")
    p.add_argument("--data-dir", default=os.environ.get("SKYMATH_DATA_DIR", str(REPO.parent / "shared" / "data")),
                   help="data folder with gsm8k/train.jsonl and gsm8k/test.jsonl (default: $SKYMATH_DATA_DIR)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--train-rows", type=int, default=300)
    p.add_argument("--test-problems", type=int, default=60)
    p.add_argument("--max-gen-toks", type=int, default=256)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--global-batch-size", type=int, default=8)
    p.add_argument("--per-device-batch-size", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--eval-backend", default="hf", choices=("hf", "vllm"))
    p.add_argument("--eval-batch-size", default="8")
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="train and evaluate in bfloat16 (GPU)")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the child processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-base", action="store_true", help="evaluate only the fine-tuned model")
    args = p.parse_args(argv)

    t_all = time.time()
    data_dir = Path(args.data_dir)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = _env(data_dir, args.threads)
    rows = training_rows(data_dir / "gsm8k" / "train.jsonl", args.train_rows, args.seed)
    from skymath_tasks.jsonl_io import write_jsonl

    train_file = out / "gsm8k_train_paper_format.jsonl"
    write_jsonl(train_file, rows)

    report: dict = {"model": args.model, "train_rows": len(rows), "test_problems": args.test_problems,
                    "max_gen_toks": args.max_gen_toks, "learning_rate": args.learning_rate, "epochs": args.epochs,
                    "global_batch_size": args.global_batch_size, "eval_backend": args.eval_backend,
                    "load_average_start": _load()}
    if not args.skip_base:
        report["base"] = evaluate(Path(args.model), out / "eval_base", args, env)
        print(f"base: {json.dumps({m: report['base'][m] for m in METRICS})} ({report['base']['seconds']} s)", flush=True)

    run_dir = out / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    skymath_train = shutil.which("skymath-train")
    train_cmd = ([skymath_train] if skymath_train else [sys.executable, "-m", "training.cli"]) + [
        "--preset", "cpu-smoke", "--stage", "1", "--model-name-or-path", str(args.model),
        "--stage1-data", str(train_file), "--output-dir", str(run_dir),
        "--learning-rate", str(args.learning_rate), "--num-train-epochs", str(args.epochs),
        "--global-batch-size", str(args.global_batch_size),
        "--per-device-train-batch-size", str(args.per_device_batch_size), "--max-length", str(args.max_length),
        "--save-strategy", "no", "--logging-steps", "5", "--seed", str(args.seed)]
    if args.bf16:
        train_cmd += ["--bf16", "true", "--use-cpu", "false"]
    train_s = _run(train_cmd, env, out / "train.log")
    stage = json.loads((run_dir / "stage1" / "skymath_stage.json").read_text(encoding="utf-8"))
    report["train"] = {"seconds": round(train_s, 1), "steps": stage.get("global_step"),
                       "train_loss": (stage.get("train_metrics") or {}).get("train_loss"),
                       "truncated_rows": stage["data"].get("truncated_rows"), "checkpoint": str(run_dir / "stage1")}
    print(f"train: {report['train']['steps']} steps on {len(rows)} rows, loss {report['train']['train_loss']} "
          f"({report['train']['seconds']} s)", flush=True)
    report["fine_tuned"] = evaluate(run_dir / "stage1", out / "eval_fine_tuned", args, env)
    ft = report["fine_tuned"]
    print(f"fine-tuned: {json.dumps({m: ft[m] for m in METRICS})} ({ft['seconds']} s)", flush=True)
    if "base" in report and report["base"]["doc_ids"] != ft["doc_ids"]:
        raise SystemExit("base and fine-tuned were evaluated on different documents")
    report["same_test_problems"] = "base" in report
    report["wall_s"] = round(time.time() - t_all, 1)
    report["load_average_end"] = _load()
    (out / "sft_effect.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print()
    print(f"| model | strict | flexible | no_answer_rate | eval s | (n={ft['n']} GSM8K test problems, "
          f"max_gen_toks {args.max_gen_toks}) |")
    print("|---|---|---|---|---|---|")
    for name in ("base", "fine_tuned"):
        if name in report:
            r = report[name]
            print(f"| {name} | {_fmt(r['strict'])} | {_fmt(r['flexible'])} | {_fmt(r['no_answer_rate'])} | "
                  f"{r['seconds']} | |")
    print(f"\ntraining: {report['train']['steps']} steps, {report['train']['seconds']} s; total wall {report['wall_s']} s; "
          f"load average {report['load_average_start']} -> {report['load_average_end']}")
    print(f"written: {out / 'sft_effect.json'}")
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
