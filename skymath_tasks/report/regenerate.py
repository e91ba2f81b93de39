"""Spot re-generation: re-run K randomly chosen problems of a submission with the model it names.

A forgery that rewrites the responses, and everything computed from them, is consistent on paper:
only the model can tell. ``skymath-report verify --regenerate K`` picks K (task, document) pairs at
random, runs exactly those documents through lm-eval (``simple_evaluate(samples=...)``) with the
recorded backend, generation settings (the tasks' greedy settings plus the run's ``--gen_kwargs``),
chat-template choice and few-shot count, and compares the extracted answers, in every grading mode,
with the logged ones. What makes this possible is recorded by ``submit``: model id, revision, dtype and
backend, the model arguments, lm-eval and SkyMath versions, and the generation settings.

Greedy decoding is deterministic for one model, dtype and backend on one kind of hardware; a
different GPU or batch size can flip a few answers of a large model, so ``--regenerate-tolerance N``
lets N of the K differ (default 0: with K draws, a share p of rewritten responses goes unnoticed with
probability (1 - p)^K).
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import task_data
from skymath_tasks.metrics import MODES, grade_sample
from skymath_tasks.report.loader import response_of
from skymath_tasks.report.submission import clip
from skymath_tasks.report.verify import TaskDocuments

log = logging.getLogger(__name__)


@dataclass
class RegenerateResult:
    seed: int
    picks: list[tuple[str, int]] = field(default_factory=list)
    matched: int = 0
    identical: int = 0
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tolerance: int = 0
    command: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and len(self.mismatches) <= self.tolerance

    def render(self) -> str:
        lines = [f"  regenerate: {len(self.picks)} problem(s) drawn with seed {self.seed} ({self.command})"]
        lines += [f"  ERROR: {e}" for e in self.errors]
        if self.picks and not self.errors:
            lines.append(f"  regenerate: {self.matched} of {len(self.picks)} give the logged answers "
                         f"({self.identical} identical responses); {len(self.mismatches)} differ"
                         + (f" (tolerance {self.tolerance})" if self.tolerance else ""))
        tag = "ERROR" if not self.ok else "warning"
        lines += [f"  {tag}: {m}" for m in self.mismatches[:20]]
        return "\n".join(lines)


def pick_problems(samples: Mapping[str, Sequence[Mapping[str, Any]]], k: int, seed: int) -> list[tuple[str, int]]:
    """K (task, doc_id) pairs drawn uniformly from every logged sample, reproducibly from ``seed``."""
    population = [(task, int(s["doc_id"])) for task in sorted(samples) for s in samples[task]]
    rng = random.Random(seed)
    return sorted(rng.sample(population, min(k, len(population))))


def _model_args(sub: Mapping[str, Any], given: str | None) -> str:
    if given:
        return given
    model = sub["model"]
    if model.get("local_path"):
        raise ValueError(f"the run loaded the model from a local folder ({clip(model['id'], 80)}): pass --model-args "
                         "pretrained=DIR (plus dtype=...) naming your copy of it")
    return ",".join(f"{k}={v}" for k, v in model.get("model_args", {}).items())


def _answers(response: str, doc: Mapping[str, Any], answer_type: str) -> dict[str, str | None]:
    grades = grade_sample(response, str(doc.get("gold", "")), answer_type=answer_type,  # type: ignore[arg-type]
                          question=doc.get("question", doc.get("problem")))
    return {mode: grades[mode].extracted for mode in MODES}


def regenerate(sub: Mapping[str, Any], samples: Mapping[str, Sequence[Mapping[str, Any]]], k: int, *,
               data_dir: Path | None, model: str | None = None, model_args: str | None = None,
               seed: int | None = None, batch_size: int | str = 1, device: str | None = None,
               tolerance: int = 0) -> RegenerateResult:
    """Re-run ``k`` random logged problems through lm-eval and compare the extracted answers.

    ``samples``: the submission's verified per-sample logs by task; ``data_dir``: the verifier's data
    (None = the Hub); ``model``/``model_args``: override the recorded backend / arguments."""
    seed = seed if seed is not None else secrets.randbelow(2**31)
    result = RegenerateResult(seed=seed, tolerance=tolerance)
    gen = sub["generation"]
    backend = model or sub["model"]["backend"]
    try:
        args = _model_args(sub, model_args)
    except ValueError as exc:
        result.errors.append(str(exc))
        return result
    result.command = clip(f"--model {backend} --model_args {args}", 200)
    if gen.get("system_instruction_sha"):
        result.errors.append("the run used a system instruction, which the submission records only by its hash: "
                             "it cannot be re-run")
        return result
    shots = {(gen["per_task"].get(t) or {}).get("num_fewshot") or 0 for t in samples}
    if len(shots) > 1:
        result.errors.append(f"the tasks ran with different few-shot counts {sorted(shots)}: re-run them one at a time")
        return result
    result.picks = pick_problems(samples, k, seed)
    by_task: dict[str, list[int]] = {}
    for task, doc_id in result.picks:
        by_task.setdefault(task, []).append(doc_id)
    try:
        fresh = _run(backend, args, by_task, data_dir=data_dir, gen_kwargs=gen.get("gen_kwargs_override"),
                     batch_size=batch_size, device=device, num_fewshot=shots.pop() or None,
                     apply_chat_template=bool(gen.get("apply_chat_template")),
                     fewshot_as_multiturn=bool(gen.get("fewshot_as_multiturn")))
    except (OSError, ValueError, RuntimeError, ImportError, KeyError, TypeError) as exc:  # model or harness failed
        result.errors.append(f"lm-eval could not re-run the model: {type(exc).__name__}: {clip(exc, 200)}")
        return result
    docs = TaskDocuments(data_dir)
    logged = {task: {int(s["doc_id"]): s for s in rows} for task, rows in samples.items()}
    for task, doc_id in result.picks:
        new = fresh.get(task, {}).get(doc_id)
        if new is None:
            result.errors.append(f"task {task} doc_id {doc_id}: lm-eval returned no sample")
            continue
        td = task_data(task)
        _, task_docs = docs.load(task)
        doc = task_docs[doc_id]
        old_resp, new_resp = response_of(logged[task][doc_id]), response_of(new)
        old, now = _answers(old_resp, doc, td.answer_type), _answers(new_resp, doc, td.answer_type)
        result.identical += old_resp == new_resp
        if old == now:
            result.matched += 1
            continue
        diff = [m for m in MODES if old[m] != now[m]]
        m = diff[0]
        result.mismatches.append(
            f"task {task} doc_id {doc_id}: the logged response answers {clip(old[m], 60)!r} ({m}), the model now "
            f"answers {clip(now[m], 60)!r}" + (f" (also differs: {', '.join(diff[1:])})" if diff[1:] else "")
            + ": the logged response is not what this model generates with these settings")
    return result


def _run(backend: str, model_args: str, samples: dict[str, list[int]], *, data_dir: Path | None, gen_kwargs: Any,
         batch_size: int | str, device: str | None, num_fewshot: int | None, apply_chat_template: bool,
         fewshot_as_multiturn: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """lm-eval on exactly these documents -> task -> doc_id -> logged sample."""
    import lm_eval.models  # noqa: F401  lm-eval registers its own backends only when no other model is registered
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import skymath_tasks

    if device is None:  # lm-eval's hf backend assumes CUDA when no device is named
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    metadata = {"data_dir": str(data_dir)} if data_dir is not None else None
    tm = TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False, metadata=metadata)
    res = simple_evaluate(model=backend, model_args=model_args, tasks=sorted(samples), task_manager=tm,
                          samples=samples, gen_kwargs=gen_kwargs, batch_size=batch_size, device=device,
                          num_fewshot=num_fewshot, apply_chat_template=apply_chat_template,
                          fewshot_as_multiturn=fewshot_as_multiturn, log_samples=True, bootstrap_iters=0)
    return {task: {int(s["doc_id"]): s for s in rows} for task, rows in (res or {}).get("samples", {}).items()}


__all__ = ["RegenerateResult", "pick_problems", "regenerate"]
