"""Per-sample metrics of every SkyMath task and their aggregation, defined once.

lm-eval's ``process_results`` (through :mod:`skymath_tasks.task_hooks`) and the submission checker
(:mod:`skymath_tasks.report.submission`) both call :func:`grade_sample`, :func:`sample_values` and
the aggregations below, so a verified submission recomputes exactly what lm-eval reported.

Design notes
* Every document returns every metric of its task (lm-eval mis-weights metrics that only some
  documents return). Per-level and per-subject accuracies therefore get the same per-document value
  ``(level, subject, correct under strict)`` from every document, and an aggregation function per
  metric picks the documents of its level or subject: ``acc_level_3`` is the accuracy over the
  level-3 problems of the run, whatever their subjects.
* A level or subject with no document in the run (``--limit``) aggregates to ``None`` (JSON
  ``null``), never NaN: results files stay valid JSON for strict parsers.
* Counts are not metrics: lm-eval ranks every metric, and "more level-3 documents" is not better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

from skymath_tasks.benchmarks import LEVELS, MATH_SUBJECTS, AnswerType
from skymath_tasks.scoring import Grade, GradeMode, grade

#: the grading criteria, each a metric of every task (see skymath_tasks.scoring)
MODES: tuple[str, ...] = get_args(GradeMode)
BASE_METRICS: tuple[str, ...] = (*MODES, "no_answer_rate")
LEVEL_METRICS: dict[str, int] = {f"acc_level_{k}": k for k in LEVELS}
SUBJECT_METRICS: dict[str, str] = {f"acc_{s}": s for s in MATH_SUBJECTS}
#: higher is better? (no_answer_rate is the share of responses without a final answer)
HIGHER_IS_BETTER: dict[str, bool] = {**{m: True for m in MODES}, "no_answer_rate": False,
                                     **{m: True for m in LEVEL_METRICS}, **{m: True for m in SUBJECT_METRICS}}

def metric_names(answer_type: AnswerType, by_subject: bool = False) -> tuple[str, ...]:
    """The metrics of a task, in the order of its YAML ``metric_list``."""
    names = BASE_METRICS
    if answer_type == "math":
        names += tuple(LEVEL_METRICS)
        if by_subject:
            names += tuple(SUBJECT_METRICS)
    return names


def grade_sample(response: str, gold: str, *, answer_type: AnswerType, question: str | None = None) -> dict[str, Grade]:
    """One response graded under every criterion. ``question`` (the problem text) lets a noun of the
    problem stand as the answer's unit and tells the grader what the problem asks for."""
    return {mode: grade(response, str(gold), task=answer_type, mode=mode, question=question)  # type: ignore[arg-type]
            for mode in MODES}


def sample_values(grades: Mapping[str, Grade], *, answer_type: AnswerType, level: int | None = None,
                  subject: str | None = None, by_subject: bool = False) -> dict[str, Any]:
    """The per-document value of every metric of the task (what ``process_results`` returns)."""
    out: dict[str, Any] = {mode: float(grades[mode].correct) for mode in MODES}
    out["no_answer_rate"] = float(grades["strict"].extracted is None)
    if answer_type == "math":
        tag = (level, subject, bool(grades["strict"].correct))
        for name in LEVEL_METRICS:
            out[name] = tag
        if by_subject:
            for name in SUBJECT_METRICS:
                out[name] = tag
    return out


def mean(values: Sequence[float]) -> float | None:
    """lm-eval's ``mean`` (same arithmetic), None for no values."""
    return sum(values) / len(values) if values else None


def _accuracy_where(position: int, wanted: Any, name: str) -> Callable[[Sequence[Sequence[Any]]], float | None]:
    def accuracy(items: Sequence[Sequence[Any]]) -> float | None:
        hits = [bool(item[2]) for item in items if item[position] == wanted]
        return sum(hits) / len(hits) if hits else None

    accuracy.__name__ = accuracy.__qualname__ = name
    accuracy.__doc__ = f"strict accuracy over the documents with {('level', 'subject')[position]} {wanted!r}; None if none"
    return accuracy


def level_accuracy(k: int) -> Callable[[Sequence[Sequence[Any]]], float | None]:
    return _accuracy_where(0, k, f"level_{k}_accuracy")


def subject_accuracy(subject: str) -> Callable[[Sequence[Sequence[Any]]], float | None]:
    return _accuracy_where(1, subject, f"{subject}_accuracy")


#: metric -> aggregation over the per-document values
AGGREGATIONS: dict[str, Callable[[Sequence[Any]], float | None]] = {
    **{m: mean for m in BASE_METRICS},
    **{name: level_accuracy(k) for name, k in LEVEL_METRICS.items()},
    **{name: subject_accuracy(s) for name, s in SUBJECT_METRICS.items()},
}


def aggregate(per_sample: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, float | None]:
    """Task-level figures over the documents of a run, as lm-eval computes them."""
    return {name: AGGREGATIONS[name]([values[name] for values in per_sample]) for name in names}


__all__ = [
    "MODES", "BASE_METRICS", "LEVEL_METRICS", "SUBJECT_METRICS", "HIGHER_IS_BETTER", "AGGREGATIONS",
    "metric_names", "grade_sample", "sample_values", "mean", "level_accuracy", "subject_accuracy", "aggregate",
]
