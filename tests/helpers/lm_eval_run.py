"""Real lm-eval runs saved exactly as ``lm_eval --output_path OUT --log_samples`` saves them.

``run_and_save`` calls lm-eval's ``simple_evaluate`` with an ``EvaluationTracker`` and writes the
results and per-sample files the way lm-eval's own command line does (``lm_eval/_cli/run.py``), so the
report and submission code reads genuine lm-eval output; the test only picks the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_and_save(out_dir: Path, *, model: Any, model_args: str | None, tasks: list[str], data_dir: Path,
                 limit: int | float | None = None, gen_kwargs: str | None = None, batch_size: int = 1) -> Path:
    """One lm-eval run into ``out_dir``; returns the folder lm-eval wrote (``out_dir/<model name>``)."""
    import lm_eval.models  # noqa: F401  (registered lazily only while no other model is: the replay model is)
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    import skymath_tasks

    tm = TaskManager(include_defaults=False, include_path=skymath_tasks.task_dir(), metadata={"data_dir": str(data_dir)})
    tracker = EvaluationTracker(output_path=str(out_dir))
    res = simple_evaluate(model=model, model_args=model_args, tasks=tasks, task_manager=tm, limit=limit,
                          gen_kwargs=gen_kwargs, batch_size=batch_size, device="cpu", log_samples=True,
                          bootstrap_iters=0, evaluation_tracker=tracker)
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    for task_name in res["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    return out_dir / tracker.general_config_tracker.model_name_sanitized
