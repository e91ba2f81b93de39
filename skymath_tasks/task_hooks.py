"""Functions the lm-eval task YAMLs call: datasets, prompts, few-shot shots and per-sample metrics.

Evaluation layer. Design notes
* The datasets come from the benchmark registry (:mod:`skymath_tasks.benchmarks`) through
  :mod:`skymath_tasks.data`. The data folder arrives explicitly: lm-eval passes the task metadata to
  ``custom_dataset`` as keyword arguments, so ``--metadata '{"data_dir": "DIR"}'`` (or
  ``TaskManager(metadata={"data_dir": DIR})``) reaches the loaders; without it ``$SKYMATH_DATA_DIR``,
  else the Hub.
* Few-shot the lm-eval way: every dataset has a ``train`` split (the task's ``fewshot_split``), shots
  are full solutions in our response format ending "The answer is X" (:func:`fewshot_target`), drawn
  by lm-eval's sampler. Tasks without a training split (the Chinese sets, the demo), or whose train
  file is unavailable, hold one placeholder row there instead; :class:`FewshotSampler` then refuses
  ``--num_fewshot k`` with the reason, and zero-shot runs are unaffected.
* The metrics are defined once in :mod:`skymath_tasks.metrics`; the grading details (extracted
  answer, deciding tier, reason) of each criterion are attached to the document under ``"skymath"``
  so they appear in lm-eval's per-sample logs without polluting the results table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lm_eval.api.samplers import ContextSampler

from skymath_tasks.benchmarks import TASKS, TaskData
from skymath_tasks.gold import gsm8k_reasoning
from skymath_tasks.metrics import grade_sample, sample_values
from skymath_tasks.prompts import build_prompt, format_response

#: column of the placeholder row of a task without a usable few-shot pool
NO_FEWSHOT = "fewshot_unavailable"


class FewshotUnavailable(ValueError):
    """``--num_fewshot k`` asked of a task that has no training split to draw shots from."""


# ----------------------------------------------------------------------------- datasets
def _test_rows(td: TaskData, data_dir: Any) -> list[dict[str, Any]]:
    from skymath_tasks import data

    key = td.benchmark
    if key == "gsm8k":
        return data.load_gsm8k("test", data_dir)
    if key == "math":
        return data.load_math(td.subject, "test", data_dir)
    if key == "math500":
        return data.load_math500(data_dir)
    if key == "gsm8k_zh":
        return data.load_gsm8k_zh(data_dir)
    if key == "mgsm_zh":
        return data.load_mgsm_zh(data_dir)
    if key == "math_zh":
        return data.load_math_zh(td.subject, data_dir)
    if key.startswith("gsm8k_distractor_"):
        return data.load_gsm8k_distractors(int(key.rsplit("_", 1)[1]), data_dir)
    if key == "demo":
        return data.load_sample_problems()
    raise KeyError(f"no document loader for benchmark {key!r}")


def task_dataset(task: str) -> Callable[..., Any]:
    """The ``custom_dataset`` function of ``task``: a DatasetDict with its ``test`` and ``train`` splits."""
    td = TASKS[task]

    def load(data_dir: str | None = None, **_: Any):
        from datasets import Dataset, DatasetDict

        from skymath_tasks.data import load_fewshot_pool

        rows = _test_rows(td, data_dir)
        if not rows:
            raise ValueError(f"{task}: the benchmark loader returned no rows")
        pool, reason = load_fewshot_pool(td.fewshot, td.subject, data_dir)
        if reason is not None:
            pool = [{NO_FEWSHOT: f"{task}: {reason}"}]
        return DatasetDict({"test": Dataset.from_list(rows), "train": Dataset.from_list(pool)})

    load.__name__ = load.__qualname__ = f"load_{task}"
    return load


class FewshotSampler(ContextSampler):
    """lm-eval's default sampler (random shots, seeded by lm-eval) that refuses a pool without shots."""

    def sample(self, n: int, eval_doc: dict[str, Any] | None = None, df: Sequence[dict[str, Any]] | None = None,
               **kwargs: Any):
        if n > 0:
            pool = df or self.df
            if pool and pool[0].get(NO_FEWSHOT):
                raise FewshotUnavailable(
                    f"--num_fewshot {n} refused: {pool[0][NO_FEWSHOT]}. The paper's protocol is zero-shot "
                    "(run without --num_fewshot)."
                )
        return super().sample(n, eval_doc=eval_doc, df=df, **kwargs)


# ----------------------------------------------------------------------------- prompts
def doc_to_text_question(doc: dict[str, Any]) -> str:
    return build_prompt(doc["question"])


def doc_to_text_problem(doc: dict[str, Any]) -> str:
    return build_prompt(doc["problem"])


def fewshot_target(doc: dict[str, Any]) -> str:
    """A shot's answer: its full solution in our response format, ending "The answer is X"."""
    if "solution" in doc and doc["solution"] is not None:
        return format_response(doc["solution"], doc["gold"])
    return format_response(gsm8k_reasoning(doc["answer"]), doc["gold"])


# ----------------------------------------------------------------------------- metrics
def _results(doc: dict[str, Any], results: Sequence[str], answer_type: str, by_subject: bool = False) -> dict[str, Any]:
    question = doc.get("question", doc.get("problem"))
    grades = grade_sample(results[0], str(doc["gold"]), answer_type=answer_type, question=question)  # type: ignore[arg-type]
    doc["skymath"] = {mode: g.to_dict() for mode, g in grades.items()}
    return sample_values(grades, answer_type=answer_type, level=doc.get("level"),  # type: ignore[arg-type]
                         subject=doc.get("subject"), by_subject=by_subject)


def process_results_gsm8k(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    return _results(doc, results, "gsm8k")


def process_results_math(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    """Criteria and per-level accuracy (one subject, or MATH-500)."""
    return _results(doc, results, "math")


def process_results_math_by_subject(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    """Criteria, per-level and per-subject accuracy (the tasks over all of MATH)."""
    return _results(doc, results, "math", by_subject=True)
