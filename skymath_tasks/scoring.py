"""The public grading API: ``score`` (bool) and ``grade`` (verdict with the extracted answer and why).

Every task metric goes through :func:`grade`, so the per-sample logs of lm-eval show the extracted
answer and which tier of the equivalence engine decided (see docs/grader.md):

* ``strict``: the answer after the last "The answer is" (the paper's protocol), graded by the tiered
  engine in :mod:`skymath_tasks.grader`.
* ``flexible``: same engine, extraction also accepts ``\\boxed{}``, "final answer is", 答案是 and,
  for GSM8K, the last number.
* ``metamath``: MetaMath's original criterion, bit for bit (:mod:`skymath_tasks.metamath`).

The symbolic tier runs in a per-process pool of killable workers, started on first need; a
response that makes SymPy hang or blow up costs at most ``GraderConfig.timeout_s`` and is graded
wrong with ``tier="timeout"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Literal

from skymath_tasks.extract import Mode, Task, extract
from skymath_tasks.grader import DEFAULT_CONFIG, GraderConfig, equivalent_many
from skymath_tasks.metamath import is_equiv, metamath_correct

GradeMode = Literal["strict", "flexible", "metamath"]
_MODES = ("strict", "flexible", "metamath")


@dataclass(frozen=True)
class Grade:
    correct: bool
    extracted: str | None
    tier: str  # which rule decided: "no_answer", "exact", "normalization", "number", "structure",
    #            "symbolic", "guard", "timeout", "crash", "too_long", "parse_limit", "metamath"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(task: str, mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if task not in ("gsm8k", "math"):
        raise ValueError(f"task must be 'gsm8k' or 'math', got {task!r}")


def grade(response: str, gold: str, *, task: Task = "math", mode: GradeMode = "strict",
          config: GraderConfig = DEFAULT_CONFIG, question: str | None = None) -> Grade:
    """Grade one response against the final answer ``gold``.

    ``question`` is the problem text (optional): a noun it uses may follow the number as a unit
    ("12 apples" for 12 when the problem is about apples), and a unit it asks for ("how many hours")
    may not be swapped for another of the same kind. Without it only real units are accepted.
    """
    return grade_many([response], [gold], task=task, mode=mode, config=config,
                      questions=None if question is None else [question])[0]


def grade_many(responses: Iterable[str], golds: Iterable[str], *, task: Task = "math",
               mode: GradeMode = "strict", config: GraderConfig = DEFAULT_CONFIG,
               questions: Iterable[str | None] | None = None) -> list[Grade]:
    """Grade a batch; items that need the symbolic tier share the worker pool (``config.workers``)."""
    _check(task, mode)
    responses, golds = list(responses), list(golds)
    qs = list(questions) if questions is not None else [None] * len(responses)
    if len(responses) != len(golds) or len(qs) != len(responses):
        raise ValueError(f"{len(responses)} responses, {len(golds)} gold answers, {len(qs)} questions")
    if mode == "metamath":
        out = []
        for response, gold in zip(responses, golds):
            ok, extracted = metamath_correct(response, str(gold), task)
            out.append(Grade(ok, extracted, "metamath", "" if extracted is not None else "no 'The answer is: '"))
        return out
    grades: list[Grade | None] = [None] * len(responses)
    todo: list[tuple[int, str]] = []
    for i, response in enumerate(responses):
        found = extract(response, task=task, mode=mode, max_chars=config.max_answer_chars)
        if found.answer is None:
            grades[i] = Grade(False, None, "no_answer", found.reason)
        else:
            todo.append((i, found.answer))
    verdicts = equivalent_many([(ext, str(golds[i])) for i, ext in todo], task, config, [qs[i] for i, _ in todo])
    for (i, ext), v in zip(todo, verdicts):
        grades[i] = Grade(v.equal, ext, v.tier, v.reason)
    return [g for g in grades if g is not None]


def score(response: str, gold: str, *, task: Task = "math", mode: Mode = "strict",
          question: str | None = None) -> bool:
    """Is ``response`` correct for final answer ``gold``? ``mode``: "strict" (marker required) or "flexible"."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    return grade(response, gold, task=task, mode=mode, question=question).correct


__all__ = ["Grade", "GraderConfig", "grade", "grade_many", "score", "is_equiv"]
