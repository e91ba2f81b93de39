"""Gold final answers: the rules the benchmark registry names (:data:`skymath_tasks.benchmarks.GOLD_RULES`).

Grading layer: the MATH rule needs the brace-matched ``\\boxed{}`` reader of :mod:`skymath_tasks.extract`.
Every loader, the synthesis seeds and the translation check derive gold answers through these
functions, so a reference answer means the same thing everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from skymath_tasks.benchmarks import GOLD_RULES, Benchmark, HubSource
from skymath_tasks.extract import last_boxed

_GSM_GOLD = re.compile(r"####\s*(.+?)\s*$", re.S)
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_CALCULATOR = re.compile(r"<<[^<>]*>>")


def gsm8k_gold(answer_field: str) -> str:
    """The number after ``####`` in a GSM8K reference answer, thousands separators removed."""
    m = _GSM_GOLD.search(answer_field)
    if not m:
        raise ValueError("no '####' final answer")
    return m.group(1).replace(",", "").strip()


def gsm8k_reasoning(answer_field: str) -> str:
    """The worked solution of a GSM8K reference answer: without the ``#### n`` line and without the
    ``<<48/2=24>>`` calculator annotations (what a model is trained to write)."""
    return _CALCULATOR.sub("", answer_field.rsplit("####", 1)[0]).strip()


def math_gold(solution: str) -> str:
    """Content of the last ``\\boxed{...}`` (or ``\\boxed 2``) of a MATH reference solution."""
    gold = last_boxed(solution)
    if gold is None:
        raise ValueError("no \\boxed{} answer in the solution")
    gold = gold.strip()
    # one MATH test gold ends with a stray sentence period inside the box ("\frac{7}{5} + \frac{1}{5} i.")
    return gold[:-1].rstrip() if gold.endswith(".") and len(gold) > 1 else gold


def plain_number(value: Any) -> str:
    """A plain number field ("1,200" -> "1200"); ValueError for anything else."""
    text = str(value).replace(",", "").strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(f"expected a number, got {value!r}")
    return text


def apply_rule(rule: str, row: dict[str, Any], field: str) -> str:
    """Gold answer of ``row`` under ``rule``, reading ``field``; ValueError (with the reason) if it has none."""
    if rule not in GOLD_RULES:
        raise ValueError(f"unknown gold rule {rule!r}")
    if rule == "math_boxed":
        if row.get("answer") not in (None, ""):
            return str(row["answer"])
        return math_gold(str(row[field]))
    value = row[field]
    if rule == "gsm8k_final":
        return gsm8k_gold(str(value))
    if rule == "number":
        return plain_number(value)
    return str(value)


def gold_of(bench: Benchmark, row: dict[str, Any], hub: HubSource | None = None) -> str:
    """Gold answer of a row of ``bench`` (read from its file, or from ``hub`` in that dataset's layout)."""
    if hub is not None:
        return apply_rule(hub.gold or bench.gold, row, hub.answer_field or bench.answer_field)
    return apply_rule(bench.gold, row, bench.answer_field)


__all__ = ["gsm8k_gold", "gsm8k_reasoning", "math_gold", "plain_number", "apply_rule", "gold_of"]
