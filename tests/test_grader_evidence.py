"""Precision first, on evidence: our labelled set, our adversarial set, the peer graders' own test
suites and the real GSM8K model solutions. Labels are human judgements stored with the data (the
oracle), never what a grader says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from skymath_tasks.grader.evidence import (
    evaluate,
    load_adversarial,
    load_gsm8k_solutions,
    load_labelled,
    load_peer_suites,
    rewrite_final_line,
    skymath_judge,
)
from skymath_tasks.jsonl_io import DataError

LABELLED = Path(__file__).parent / "data" / "grader_labelled.jsonl"
ADVERSARIAL = Path(__file__).parent / "data" / "grader_adversarial.jsonl"
PEER = Path(__file__).parent / "data" / "grader_peer_suites.jsonl"


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
    assert rec >= 0.99, rec


@pytest.fixture(scope="module")
def adversarial():
    return load_adversarial(ADVERSARIAL)


@pytest.fixture(scope="module")
def peer():
    return load_peer_suites(PEER)


def test_adversarial_set_has_the_size_the_issue_asks_for(adversarial) -> None:
    wrong = [c for c in adversarial if not c.label]
    right = [c for c in adversarial if c.label]
    assert len(wrong) >= 150 and len(right) >= 50
    assert len({c.id for c in adversarial}) == len(adversarial)
    assert all(c.question for c in adversarial)
    assert len({c.category for c in wrong}) >= 15  # many families, not one trick repeated


@pytest.mark.parametrize("mode", ["strict", "flexible"])
def test_no_wrong_answer_of_the_adversarial_set_is_credited(adversarial, mode: str) -> None:
    conf = evaluate(adversarial, skymath_judge(mode))
    assert conf.fp == 0, conf.false_positives
    assert conf.recall >= 0.95, conf.recall  # and the odd-looking right ones are found


def test_peer_suites_carry_their_source(peer) -> None:
    sources = Counter(c.source for c in peer)
    assert set(sources) == {"huggingface/Math-Verify", "MARIO-Math-Reasoning/MARIO_EVAL", "hendrycks/math",
                            "QwenLM/Qwen2.5-Math", "openai/simple-evals"}
    assert len(peer) >= 300 and len({c.id for c in peer}) == len(peer)


@pytest.mark.parametrize("mode", ["strict", "flexible"])
def test_peer_suites_no_false_positive(peer, mode: str) -> None:
    conf = evaluate(peer, skymath_judge(mode))
    assert conf.fp == 0, conf.false_positives


def test_peer_suites_strict_recall(peer) -> None:
    """Strict on what a model prompted as in the paper writes (see evidence.load_peer_suites)."""
    formatted = [c for c in peer if c.formatted and c.label]
    assert len(formatted) >= 150
    assert evaluate(formatted, skymath_judge("strict")).recall >= 0.97


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
