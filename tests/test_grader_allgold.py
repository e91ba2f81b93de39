"""Every real gold answer (1319 GSM8K, 5000 MATH) is accepted as itself and rejected when changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skymath_tasks.extract import last_boxed
from skymath_tasks.grader import GraderConfig
from skymath_tasks.jsonl_io import iter_jsonl
from skymath_tasks.scoring import grade_many

CFG = GraderConfig(workers=2)


def changed(gold: str) -> str:
    """A wrong answer close to ``gold``: its last digit bumped, else a different text/expression."""
    digits = list(re.finditer(r"\d", gold))
    if digits:
        i = digits[-1].start()
        d = int(gold[i])
        return gold[:i] + str(d + 1 if d < 9 else 8) + gold[i + 1:]
    if gold.startswith("\\text{"):
        return "\\text{banana}"
    return gold + "+1"


def _golds(shared: Path, task: str) -> list[str]:
    if task == "gsm8k":
        return [row["answer"].split("####")[-1].strip()
                for _, row in iter_jsonl(shared / "gsm8k" / "test.jsonl", required=("answer",))]
    golds = [last_boxed(row["solution"]) for _, row in iter_jsonl(shared / "math" / "test.jsonl", required=("solution",))]
    assert all(g is not None for g in golds)
    return golds  # type: ignore[return-value]


@pytest.mark.parametrize("task,count", [("gsm8k", 1319), ("math", 5000)])
def test_every_gold_scores_right_and_a_changed_one_wrong(shared_data: Path, task: str, count: int) -> None:
    golds = _golds(shared_data, task)
    assert len(golds) == count
    right = grade_many([f"Let's see.\nThe answer is {g}" for g in golds], golds, task=task, config=CFG)
    missed = [(g, r.tier) for g, r in zip(golds, right) if not r.correct]
    assert missed == []
    wrong = grade_many([f"Let's see.\nThe answer is {changed(g)}" for g in golds], golds, task=task, config=CFG)
    accepted = [(g, changed(g), r.tier, r.reason) for g, r in zip(golds, wrong) if r.correct]
    assert accepted == []
