"""Extraction rules of the strict and flexible modes (the paper's "The answer is" criterion)."""

from __future__ import annotations

import pytest

from skymath_tasks import extract_answer, score
from skymath_tasks.extract import last_boxed


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Step 1.\nThe answer is 18", "18"),
        ("Step 1.\nThe answer is: 18", "18"),  # MetaMath's models write a colon
        ("The answer is 18.", "18"),  # the sentence's period is not part of the answer
        ("The answer is 3.5.", "3.5"),
        ("The answer is 5\nWait, recheck.\nThe answer is 7", "7"),  # the LAST marker wins
        ("the answer is 9", "9"),
        ("The answer is $\\frac{1}{2}$.", "$\\frac{1}{2}$"),
        ("No marker here, just 42.", None),
        ("The answer is ", None),
    ],
)
def test_strict_extraction(response: str, expected: str | None) -> None:
    assert extract_answer(response, task="math", mode="strict") == expected


def test_strict_needs_the_marker_flexible_does_not() -> None:
    boxed = "So we get \\boxed{12}."
    assert extract_answer(boxed, task="math", mode="strict") is None
    assert extract_answer(boxed, task="math", mode="flexible") == "12"
    assert not score(boxed, "12", task="math", mode="strict")
    assert score(boxed, "12", task="math", mode="flexible")


def test_flexible_gsm8k_last_number_and_final_answer_phrase() -> None:
    assert extract_answer("He has 3 apples then 5 more, 8 in total", task="gsm8k", mode="flexible") == "8"
    assert extract_answer("The final answer is 17.", task="gsm8k", mode="flexible") == "17"
    assert extract_answer("所以答案是 25。", task="gsm8k", mode="flexible") == "25"
    # last number is a GSM8K-only fallback
    assert extract_answer("He has 3 apples", task="math", mode="flexible") is None


def test_marker_answer_spanning_lines_inside_an_environment() -> None:
    resp = "The answer is \\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}.\nThanks"
    assert extract_answer(resp) == "\\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}"


def test_last_boxed_brace_matched_and_unbraced() -> None:
    assert last_boxed("\\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("so the answer is $\\boxed 2$.") == "2"
    assert last_boxed("\\boxed{unclosed") is None


def test_wrong_and_missing_answers_are_wrong() -> None:
    assert score("The answer is 18", "18", task="gsm8k")
    assert not score("The answer is 19", "18", task="gsm8k")
    assert not score("I think 18", "18", task="gsm8k", mode="strict")
    with pytest.raises(ValueError):
        score("The answer is 1", "1", task="gsm8k", mode="lenient")  # type: ignore[arg-type]
