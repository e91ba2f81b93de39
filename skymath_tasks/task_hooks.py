"""Functions the lm-eval task YAMLs call: dataset loading, prompt rendering, per-sample metrics.

Design notes
* Every document returns every metric (lm-eval mis-weights metrics that only some documents return).
  Per-level accuracy is therefore a pair ``(doc is at this level, correct)`` for all five levels,
  aggregated by :func:`level_accuracy`; ``n_level_k`` carries the support so groups can weight levels
  by their real counts (see :mod:`skymath_tasks.lm_eval_compat`).
* The grading details (extracted answer, deciding tier, reason) for each mode are attached to the
  document under ``"skymath"`` so they appear in lm-eval's per-sample logs without polluting the
  results table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from skymath_tasks.prompts import build_prompt

LEVELS = (1, 2, 3, 4, 5)
MODES = ("strict", "flexible", "metamath")


# ----------------------------------------------------------------------------- datasets
def _as_dataset_dict(rows: list[dict[str, Any]]):
    from datasets import Dataset, DatasetDict

    if not rows:
        raise ValueError("the benchmark loader returned no rows")
    return DatasetDict({"test": Dataset.from_list(rows)})


def gsm8k_dataset(**_: Any):
    from skymath_tasks.data import load_gsm8k

    return _as_dataset_dict(load_gsm8k("test"))


def math_dataset(subject: str | None) -> Callable[..., Any]:
    def load(**_: Any):
        from skymath_tasks.data import load_math

        return _as_dataset_dict(load_math(subject))

    load.__name__ = f"math_dataset_{subject or 'all'}"
    return load


def math500_dataset(**_: Any):
    from skymath_tasks.data import load_math500

    return _as_dataset_dict(load_math500())


def gsm8k_zh_dataset(**_: Any):
    from skymath_tasks.data import load_gsm8k_zh

    return _as_dataset_dict(load_gsm8k_zh())


def mgsm_zh_dataset(**_: Any):
    from skymath_tasks.data import load_mgsm_zh

    return _as_dataset_dict(load_mgsm_zh())


def math_zh_dataset(subject: str | None) -> Callable[..., Any]:
    def load(**_: Any):
        from skymath_tasks.data import load_math_zh

        return _as_dataset_dict(load_math_zh(subject))

    load.__name__ = f"math_zh_dataset_{subject or 'all'}"
    return load


def gsm8k_distractor_dataset(k: int) -> Callable[..., Any]:
    def load(**_: Any):
        from skymath_tasks.data import load_gsm8k_distractors

        return _as_dataset_dict(load_gsm8k_distractors(k))

    load.__name__ = f"gsm8k_distractor_dataset_{k}"
    return load


def demo_dataset(**_: Any):
    from skymath_tasks.data import load_sample_problems

    return _as_dataset_dict(load_sample_problems())


# ----------------------------------------------------------------------------- prompts
def doc_to_text_question(doc: dict[str, Any]) -> str:
    return build_prompt(doc["question"])


def doc_to_text_problem(doc: dict[str, Any]) -> str:
    return build_prompt(doc["problem"])


# ----------------------------------------------------------------------------- metrics
def _grade_all(doc: dict[str, Any], response: str, task: str) -> dict[str, Any]:
    from skymath_tasks.scoring import grade

    gold = str(doc["gold"])
    question = doc.get("question") or doc.get("problem")  # its nouns may name the answer's unit
    grades = {mode: grade(response, gold, task=task, mode=mode, question=question)  # type: ignore[arg-type]
              for mode in MODES}
    doc["skymath"] = {mode: g.to_dict() for mode, g in grades.items()}
    return {
        "strict": float(grades["strict"].correct),
        "flexible": float(grades["flexible"].correct),
        "metamath": float(grades["metamath"].correct),
        "no_answer_rate": float(grades["strict"].extracted is None),
    }


def process_results_gsm8k(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    return _grade_all(doc, results[0], "gsm8k")


def process_results_math(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = _grade_all(doc, results[0], "math")
    level = doc.get("level")
    for k in LEVELS:
        at_level = level == k
        out[f"acc_level_{k}"] = (at_level, bool(out["strict"]))
        out[f"n_level_{k}"] = int(at_level)
    return out


def level_accuracy(items: Sequence[tuple[bool, bool]]) -> float:
    """Accuracy over the documents of one level; NaN when the run holds none of that level."""
    hits = [correct for at_level, correct in items if at_level]
    return sum(hits) / len(hits) if hits else math.nan


def count(items: Sequence[int]) -> int:
    return int(sum(items))
