"""Evaluate a trained checkpoint with our lm-eval tasks and write the scores next to it.

Why a subprocess: evaluation loads a second copy of the model (or a vLLM engine that wants the whole
GPU), so it runs in its own process after the trainer has released memory, under a hard time limit,
and a crash there cannot take the training results with it. ``python -m training.evaluate`` is that
child; :func:`evaluate_checkpoint` starts it.

Output, in ``<checkpoint>/eval/``: what ``lm_eval --output_path <checkpoint>/eval --log_samples`` writes
(written by lm-eval's own ``EvaluationTracker``: ``<model>/results_<date>.json`` and
``<model>/samples_<task>_<date>.jsonl``, one line per document: prompt, generation, filtered answer,
metrics), so ``skymath-report`` and ``skymath-report submit`` read it like any lm-eval run; plus
``scores.json`` (task -> metric -> value, the exact settings and the results file), for a quick look.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EVAL_DIRNAME = "eval"


class EvalError(RuntimeError):
    """The evaluation child failed or timed out; its log file is named in the message."""


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    tasks: list[str],
    *,
    backend: str = "hf",
    limit: float | None = None,
    batch_size: str = "auto",
    extra_model_args: str | None = None,
    gen_kwargs: str | None = None,
    timeout: int = 6 * 3600,
) -> dict[str, Any]:
    """Run the tasks on ``checkpoint`` in a child process and return the scores it wrote."""
    checkpoint = Path(checkpoint)
    out_dir = checkpoint / EVAL_DIRNAME
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "training.evaluate",
        "--model-dir", str(checkpoint),
        "--tasks", ",".join(tasks),
        "--backend", backend,
        "--batch-size", str(batch_size),
        "--output-dir", str(out_dir),
    ]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if extra_model_args:
        cmd += ["--model-args", extra_model_args]
    if gen_kwargs:
        cmd += ["--gen-kwargs", gen_kwargs]
    log_path = out_dir / "eval.log"
    log.info("evaluating %s on %s (%s backend%s); log: %s", checkpoint, ",".join(tasks), backend,
             f", limit {limit}" if limit is not None else "", log_path)
    with open(log_path, "w", encoding="utf-8") as log_fh:
        try:
            proc = subprocess.run(cmd, stdout=log_fh, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                  env=_single_process_env())
        except subprocess.TimeoutExpired:
            raise EvalError(f"evaluation of {checkpoint} exceeded {timeout} s and was killed; see {log_path}") from None
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise EvalError(f"evaluation of {checkpoint} failed (exit {proc.returncode}); see {log_path}\n{tail}")
    return json.loads((out_dir / "scores.json").read_text(encoding="utf-8"))


#: Set by torchrun / accelerate launch. Inherited by the child, they make lm-eval's accelerate setup wait
#: for the other ranks of a process group that no longer exists (seen: a hang after a 2-process run).
_LAUNCHER_ENV_PREFIXES = ("TORCHELASTIC_", "ACCELERATE_", "FSDP_", "DEEPSPEED_")
_LAUNCHER_ENV_NAMES = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                       "ROLE_RANK", "ROLE_WORLD_SIZE", "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT",
                       "TORCH_NCCL_ASYNC_ERROR_HANDLING", "OMP_NUM_THREADS_SET_BY_LAUNCHER"}


def _single_process_env() -> dict[str, str]:
    """The parent's environment minus the distributed launcher's variables: the evaluation is one process."""
    return {k: v for k, v in os.environ.items()
            if k not in _LAUNCHER_ENV_NAMES and not k.startswith(_LAUNCHER_ENV_PREFIXES)}


def model_args_for(backend: str, model_dir: str, extra: str | None) -> str:
    base = f"pretrained={model_dir},dtype=auto"
    if backend == "vllm":
        base += ",max_model_len=4096"
    return f"{base},{extra}" if extra else base


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _child(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--tasks", required=True, help="comma-separated lm-eval task names")
    parser.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--limit", type=float, default=None)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--model-args", default=None)
    parser.add_argument("--gen-kwargs", default=None, help="override the tasks' generation settings, e.g. max_gen_toks=64")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    # Index only our tasks: the built-in index costs 7-19 s and is not needed.
    include = _task_dir()
    task_manager = TaskManager(include_path=include, include_defaults=False) if include else TaskManager()
    limit: float | int | None = args.limit
    if limit is not None and limit >= 1 and float(limit).is_integer():
        limit = int(limit)
    tasks = [t for t in args.tasks.split(",") if t]
    device = None
    if args.backend == "hf":
        import torch

        # lm-eval's hf backend otherwise asks torch for a CUDA device even on a CPU-only build.
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tracker = EvaluationTracker(output_path=str(out))
    start = time.time()
    results = lm_eval.simple_evaluate(
        model=args.backend,
        model_args=model_args_for(args.backend, args.model_dir, args.model_args),
        tasks=tasks,
        limit=limit,
        batch_size=args.batch_size,
        device=device,
        task_manager=task_manager,
        log_samples=True,
        evaluation_tracker=tracker,
        gen_kwargs=args.gen_kwargs,
        # quick --limit checks: skip bootstrap stderr (minutes on CPU for a handful of documents)
        **({"bootstrap_iters": 0} if limit is not None else {}),
    )
    if results is None:  # non-zero ranks
        return 0
    samples = results.pop("samples", {}) or {}
    # exactly what the lm_eval command line does with --output_path and --log_samples
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    results_files = sorted(out.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    scores = {
        "model": args.model_dir,
        "backend": args.backend,
        "limit": limit,
        "gen_kwargs": args.gen_kwargs,
        "seconds": round(time.time() - start, 1),
        "results": {task: {k: _jsonable(v) for k, v in metrics.items() if k != "alias"}
                    for task, metrics in results.get("results", {}).items()},
        "n_samples": {task: _jsonable(v) for task, v in results.get("n-samples", {}).items()},
        "results_file": str(results_files[-1]) if results_files else None,
    }
    tmp = out / "scores.json.tmp"
    tmp.write_text(json.dumps(scores, indent=2), encoding="utf-8")
    os.replace(tmp, out / "scores.json")
    print(json.dumps(scores["results"], indent=2))
    return 0


def _task_dir() -> str | None:
    import skymath_tasks

    return skymath_tasks.task_dir()


if __name__ == "__main__":
    sys.exit(_child())
