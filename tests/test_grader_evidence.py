"""Precision first, on evidence: our labelled set and the real GSM8K model solutions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from skymath_tasks.grader.evidence import (
    evaluate,
    load_gsm8k_solutions,
    load_labelled,
    rewrite_final_line,
    skymath_judge,
)
from skymath_tasks.jsonl_io import DataError

LABELLED = Path(__file__).parent / "data" / "grader_labelled.jsonl"


@pytest.fixture(scope="module")
def labelled():
    return load_labelled(LABELLED)


def test_labelled_set_is_broad(labelled) -> None:
    assert len(labelled) >= 300
    subjects = Counter(c.subject for c in labelled)
    for s in ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
              "Prealgebra", "Precalculus", "gsm8k"):
        assert subjects[s] >= 20, s
    cats = Counter(c.category for c in labelled)
    assert cats["equivalent"] >= 150 and cats["near_miss"] >= 80 and cats["adversarial"] >= 30
    assert cats["format_failure"] >= 10
    assert len({c.id for c in labelled}) == len(labelled)


def test_strict_has_no_false_positive_and_high_recall(labelled) -> None:
    conf = evaluate(labelled, skymath_judge("strict"))
    assert conf.fp == 0, conf.false_positives
    formatted_equivalent = [c for c in labelled if c.formatted and c.label]
    rec = evaluate(formatted_equivalent, skymath_judge("strict")).recall
    assert rec >= 0.98, rec


def test_flexible_adds_format_failures_without_false_positives(labelled) -> None:
    strict = evaluate(labelled, skymath_judge("strict"))
    flexible = evaluate(labelled, skymath_judge("flexible"))
    assert flexible.fp == 0, flexible.false_positives
    assert flexible.tp > strict.tp


def test_metamath_criterion_is_the_weaker_one(labelled) -> None:
    strict = evaluate(labelled, skymath_judge("strict"))
    metamath = evaluate(labelled, skymath_judge("metamath"))
    assert metamath.recall < strict.recall
    assert metamath.fp > 0  # its GSM8K rounding and first-number rules let wrong answers through


def test_gsm8k_model_solutions_strict_precision(shared_data: Path) -> None:
    cases = load_gsm8k_solutions(shared_data)
    assert len(cases) == 4 * 1319
    conf = evaluate(cases, skymath_judge("strict"))
    assert conf.fp == 0, conf.false_positives[:10]
    assert conf.recall >= 0.99


def test_rewrite_final_line() -> None:
    assert rewrite_final_line("a\nb\nA: 18") == "a\nb\nThe answer is: 18"
    assert rewrite_final_line("no final line") == "no final line"


def test_bad_labelled_row_names_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"id": "a", "task": "math", "gold": "1", "response": "r", "label": "yes", '
                   '"category": "c", "formatted": true, "subject": "s"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:1: field 'label'"):
        load_labelled(bad)
