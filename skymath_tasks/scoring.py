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

from skymath_tasks.extract import Mode, Task, extract_answer
from skymath_tasks.grader import DEFAULT_CONFIG, GraderConfig, equivalent, equivalent_many
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


def answers_equivalent(pred: str, gold: str, task: Task, cfg: GraderConfig = DEFAULT_CONFIG) -> tuple[bool, str]:
    """(equal, tier) for two final answers. Exact: numbers compare as rationals, no float tolerance."""
    v = equivalent(pred, gold, task, cfg)
    return v.equal, v.tier


def _check(task: str, mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if task not in ("gsm8k", "math"):
        raise ValueError(f"task must be 'gsm8k' or 'math', got {task!r}")


def grade(response: str, gold: str, *, task: Task = "math", mode: GradeMode = "strict",
          config: GraderConfig = DEFAULT_CONFIG) -> Grade:
    """Grade one response against the final answer ``gold``."""
    return grade_many([response], [gold], task=task, mode=mode, config=config)[0]


def grade_many(responses: Iterable[str], golds: Iterable[str], *, task: Task = "math",
               mode: GradeMode = "strict", config: GraderConfig = DEFAULT_CONFIG) -> list[Grade]:
    """Grade a batch; items that need the symbolic tier share the worker pool (``config.workers``)."""
    _check(task, mode)
    responses, golds = list(responses), list(golds)
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses but {len(golds)} gold answers")
    if mode == "metamath":
        out = []
        for response, gold in zip(responses, golds):
            ok, extracted = metamath_correct(response, str(gold), task)
            out.append(Grade(ok, extracted, "metamath", "" if extracted is not None else "no 'The answer is: '"))
        return out
    grades: list[Grade | None] = [None] * len(responses)
    todo: list[tuple[int, str]] = []
    for i, response in enumerate(responses):
        extracted = extract_answer(response, task=task, mode=mode)
        if extracted is None:
            grades[i] = Grade(False, None, "no_answer", "no final answer found")
        else:
            todo.append((i, extracted))
    verdicts = equivalent_many([(ext, str(golds[i])) for i, ext in todo], task, config)
    for (i, ext), v in zip(todo, verdicts):
        grades[i] = Grade(v.equal, ext, v.tier, v.reason)
    return [g for g in grades if g is not None]


def score(response: str, gold: str, *, task: Task = "math", mode: Mode = "strict") -> bool:
    """Is ``response`` correct for final answer ``gold``? ``mode``: "strict" (marker required) or "flexible"."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    return grade(response, gold, task=task, mode=mode).correct


__all__ = ["Grade", "GraderConfig", "grade", "grade_many", "score", "answers_equivalent", "is_equiv"]
