"""The public grading API: ``score`` (bool) and ``grade`` (verdict with the extracted answer and why).

Every task metric goes through :func:`grade`, so the per-sample logs of lm-eval show the extracted
answer and which tier of the equivalence engine decided.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

from skymath_tasks.extract import Mode, Task, extract_answer
from skymath_tasks.metamath import is_equiv, metamath_correct, strip_string

GradeMode = Literal["strict", "flexible", "metamath"]


@dataclass(frozen=True)
class Grade:
    correct: bool
    extracted: str | None
    tier: str  # which rule decided: "no_answer", "string", "number", "metamath", ...
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _as_number(text: str) -> Fraction | None:
    t = text.strip().replace("\\$", "").replace("$", "").replace("\\!", "").replace("{,}", "").replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    if not _NUM_RE.match(t):
        return None
    return Fraction(t)


def answers_equivalent(pred: str, gold: str, task: Task) -> tuple[bool, str]:
    """(equal, tier). Exact: numbers compare as rationals, never with a float tolerance."""
    p_num, g_num = _as_number(pred), _as_number(gold)
    if p_num is not None and g_num is not None:
        return p_num == g_num, "number"
    if task == "gsm8k":
        return False, "number"
    try:
        return strip_string(pred) == strip_string(gold), "string"
    except Exception:
        return pred.strip() == gold.strip(), "string"


def grade(response: str, gold: str, *, task: Task = "math", mode: GradeMode = "strict") -> Grade:
    if mode == "metamath":
        ok, extracted = metamath_correct(response, gold, task)
        return Grade(ok, extracted, "metamath", "" if extracted is not None else "no 'The answer is: '")
    extracted = extract_answer(response, task=task, mode=mode)
    if extracted is None:
        return Grade(False, None, "no_answer", "no final answer found")
    ok, tier = answers_equivalent(extracted, gold, task)
    return Grade(ok, extracted, tier)


def score(response: str, gold: str, *, task: Task = "math", mode: Mode = "strict") -> bool:
    """Is ``response`` correct for final answer ``gold``? ``mode``: "strict" (marker required) or "flexible"."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    return grade(response, gold, task=task, mode=mode).correct


__all__ = ["Grade", "grade", "score", "answers_equivalent", "is_equiv"]
