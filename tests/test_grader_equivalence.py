"""Tier-by-tier behaviour of the grader: each case is a rule a careful human grader applies."""

from __future__ import annotations

import pytest

from skymath_tasks.extract import extract_answer
from skymath_tasks.grader import GraderConfig, equivalent
from skymath_tasks.grader.numbers import parse_number
from skymath_tasks.metamath import extract_gsm8k, is_equiv, metamath_correct, strip_string
from skymath_tasks.scoring import Grade, grade, grade_many, score

EQUAL = [
    # tier 2: numbers
    ("24\\%", "0.24"), ("0.24", "24\\%"), ("24", "24\\%"), ("1,000", "1000"), ("10{,}000", "10000"),
    ("10\\,000", "10000"), ("\\$18.90", "18.9"), ("18.0", "18"), ("5\\text{ cm}", "5"), ("5 inches", "5\\text{ in.}"),
    ("45^\\circ", "45"), ("45 degrees", "45^{\\circ}"), ("\\frac{3}{4}", "0.75"), ("3/4", "\\dfrac34"),
    ("2\\frac{1}{4}", "\\frac94"), ("8.\\overline{3}", "\\frac{25}{3}"), ("-\\frac{1}{16}", "\\frac{-1}{16}"),
    ("1.5\\times 10^{3}", "1500"), ("15000", "\\$15,\\!000"), ("$\\boxed{\\$15,\\!000}$.", "\\$15,\\!000"),
    ("12 \\pmod{13}", "12"), ("12 \\pmod {13}", "12"), ("12 (\\text{mod } 13)", "12"),
    # tier 3: structure
    ("\\sqrt{3},\\sqrt{2}", "\\sqrt{2},\\sqrt{3}"), ("x=3 \\text{ or } x=5", "3, 5"), ("\\{5, 3\\}", "3, 5"),
    ("12\\text{ and }13", "13, 12"), ("x=\\frac{2401}{100}=24.01", "24.01"), ("x = 5", "5"),
    ("x \\le 3", "(-\\infty,3]"), ("-2 \\le x < 3", "[-2,3)"), ("[2,\\infty)\\cup(-\\infty,-2]", "(-\\infty,-2]\\cup[2,\\infty)"),
    ("(C)", "\\text{(C)}"), ("C", "\\text{(C)}"), ('"odd"', "\\text{odd}"), ("Odd", "\\text{odd}"),
    ("(-18,-49,96)", "\\begin{pmatrix} -18 \\\\ -49 \\\\ 96 \\end{pmatrix}"),
    ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("x=2, y=3", "(2,3)"), ("1+\\sqrt{2}, 1-\\sqrt{2}", "1 \\pm \\sqrt{2}"), ("4210_7", "4210_{7}"),
    # tier 4: symbolic
    ("\\frac{1}{2}+\\frac{\\sqrt{2}}{4}", "\\frac{2+\\sqrt{2}}{4}"), ("\\sqrt{12}", "2\\sqrt{3}"), ("x^2+2x+1", "(x+1)^2"),
    ("\\frac{1}{\\sqrt{3}}", "\\frac{\\sqrt{3}}{3}"), ("3z-x=0", "x - 3z = 0"), ("\\sin 60^\\circ", "\\frac{\\sqrt{3}}{2}"),
    ("5!", "120"), ("\\binom{8}{2}", "28"), ("2^{1000}-2^{999}", "2^{999}"),
]

NOT_EQUAL = [
    ("500", "5"), ("500\\%", "5"), ("2400\\%", "24"), ("5", "500"), ("0.05", "5"), ("0.24", "24"), ("2400", "24\\%"), ("0.333", "\\frac{1}{3}"),
    ("0.3333333333", "\\frac13"), ("18.5", "18"), ("1,450,000", "1450"), ("1.000", "1000"),
    ("440\\text{ cm}^3", "440\\text{ cm}^2"), ("4210_{8}", "4210_{7}"), ("(2,1)", "(1,2)"), ("x<3", "(-\\infty,3]"),
    ("[-2,3]", "[-2,3)"), ("(5,\\infty)", "[5,\\infty)"), ("3", "3, 5"), ("3, 5, 7", "3, 5"), ("42 or 43", "42"),
    ("1 \\text{ or } 2", "1"), ("2\\text{ apples and 3 oranges}", "2"), ("D", "\\text{(C)}"), ("even", "\\text{odd}"),
    ("x^2+y^2", "x^2+y^2=25"), ("x=-5", "5"), ("y=5", "x=5"), ("2 0", "20"), ("3.464", "2\\sqrt{3}"),
    ("2\\sqrt{3}+1", "\\sqrt{12}"), ("x^{999}+1", "(x+1)^{999}"), ("5 million", "5"), ("5 hundred", "5"),
    ("\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("\\pm 2", "4"), ("", "5"), ("8+i", "8-i"), ("2A", "2a"), ("X^2", "x^2"),
    ("5 is wrong", "5"), ("5 or more", "5"), ("5 at least", "5"), ("about 5", "5"), ("5 not", "5"),
    ("13 \\pmod{13}", "12"), ("3 \\pmod{5}", "3 \\pmod{7}"),
]


@pytest.mark.parametrize("pred,gold", EQUAL)
def test_equivalent_forms_are_accepted(pred: str, gold: str) -> None:
    v = equivalent(pred, gold, "math")
    assert v.equal, (pred, gold, v)


@pytest.mark.parametrize("pred,gold", NOT_EQUAL)
def test_near_misses_are_rejected(pred: str, gold: str) -> None:
    v = equivalent(pred, gold, "math")
    assert not v.equal, (pred, gold, v)


def test_cheap_tiers_decide_without_the_pool() -> None:
    for pred, gold, tier in [("1,000", "1000", "number"), ("\\dfrac{1}{2}", "\\frac12", "normalization"),
                             ("3, 5", "5, 3", "structure"), ("0.5", "\\frac{1}{2}", "normalization"),
                             ("0.25", "\\frac14", "number")]:
        assert equivalent(pred, gold).tier == tier, (pred, gold)


def test_percent_is_a_flag_not_a_factor() -> None:
    assert parse_number("24\\%").percent and parse_number("24\\%").value == 24
    assert parse_number("24").value == 24 and not parse_number("24").percent
    assert equivalent("24", "0.24").equal is False  # no x100 without a percent sign


def test_exact_rationals_not_floats() -> None:
    assert parse_number("0.1").value * 3 == parse_number("0.3").value
    assert not equivalent("0.1666666666666667", "\\frac16").equal


def test_gsm8k_never_goes_symbolic() -> None:
    v = equivalent("\\sqrt{324}", "18", "gsm8k")
    assert not v.equal and v.tier == "structure"
    v = equivalent("9 \\cdot 2", "18", "gsm8k")  # plain arithmetic is exact and decided in-process
    assert v.equal and v.tier == "number"
    assert equivalent("\\$1,450,000", "1450000", "gsm8k").equal
    assert equivalent("18 eggs", "18", "gsm8k", question="How many eggs does she sell?").equal
    assert not equivalent("18 eggs", "18", "gsm8k").equal  # without the question "eggs" is an unknown word


def test_symbolic_disabled_marks_undecided_wrong() -> None:
    v = equivalent("\\sqrt{12}", "2\\sqrt{3}", cfg=GraderConfig(symbolic=False))
    assert not v.equal and v.tier == "undecided"


# --------------------------------------------------------------------------- public API / modes
def test_grade_fields_and_modes() -> None:
    g = grade("So x = 2.\nThe answer is: 24\\%", "0.24", task="math", mode="strict")
    assert isinstance(g, Grade) and g.correct and g.extracted == "24\\%" and g.tier == "number"
    assert set(g.to_dict()) >= {"correct", "extracted", "tier", "reason"}
    assert not grade("\\boxed{7}", "7", mode="strict").correct
    assert grade("\\boxed{7}", "7", mode="flexible").correct
    assert grade("所以答案是 7", "7", mode="flexible").correct
    assert grade("She has 18 left.", "18", task="gsm8k", mode="flexible").correct
    assert not score("She has 18 left.", "18", task="gsm8k", mode="strict")
    with pytest.raises(ValueError):
        score("The answer is 1", "1", mode="metamath")  # score() keeps its two modes
    with pytest.raises(ValueError):
        grade("The answer is 1", "1", mode="lenient")


def test_answer_on_the_line_after_the_marker() -> None:
    assert extract_answer("So.\nThe answer is:\n\\[ \\frac{1}{2} \\]") == "\\[ \\frac{1}{2} \\]"
    assert score("So.\nThe answer is:\n\\[ \\frac{1}{2} \\]", "0.5")
    assert extract_answer("The answer is") is None


def test_last_marker_wins_and_colon_optional() -> None:
    assert extract_answer("The answer is 42.\nWait.\nThe answer is: 43") == "43"
    assert score("The answer is 42.\nThe answer is 43", "43")
    assert not score("The answer is 42.\nThe answer is 43", "42")


def test_grade_many_matches_grade() -> None:
    responses = ["The answer is 5", "The answer is \\sqrt{12}", "nothing", "The answer is 7"]
    golds = ["5", "2\\sqrt{3}", "1", "8"]
    batch = grade_many(responses, golds, task="math", mode="strict")
    assert [g.correct for g in batch] == [grade(r, g).correct for r, g in zip(responses, golds)]
    assert [g.correct for g in batch] == [True, True, False, False]


# --------------------------------------------------------------------------- metamath parity quirks
def test_metamath_quirks_are_kept() -> None:
    assert extract_gsm8k("The answer is: 1,450,000") == 1450  # comma splits the number
    assert extract_gsm8k("The answer is: 42 or 43") == 42  # first number wins
    assert extract_gsm8k("The answer is: 18.5") == 18  # banker's rounding
    assert extract_gsm8k("The answer is: 17.5") == 18
    assert extract_gsm8k("The answer is: 3/4") == 1
    assert extract_gsm8k("The answer is 18") is None  # colon and space required
    assert metamath_correct("The answer is: 18.5", "18", "gsm8k")[0] is True  # the false positive we fix
    assert grade("The answer is: 18.5", "18", task="gsm8k", mode="strict").correct is False
    # MATH: strip_string equality; "0.5" is special-cased; a/b only for ints; raises fall back to raw ==
    assert is_equiv("0.5", "\\frac{1}{2}") and not is_equiv("0.25", "\\frac{1}{4}")
    assert is_equiv("\\dfrac{1}{2}", "\\frac12") and is_equiv("x=5", "5")
    assert not is_equiv("0.24", "24\\%") and not is_equiv("\\sqrt{3},\\sqrt{2}", "\\sqrt{2},\\sqrt{3}")
    assert strip_string("5\\text{ cm}") == "5" and is_equiv("1\\text{ or }2", "1")  # the \text{ cut
    assert is_equiv("a/b", "a/b") and not is_equiv("a/b", "\\frac{a}{b}")  # ValueError -> raw equality
    assert metamath_correct("The answer is: $5$.", "5", "math") == (False, "$5$")  # dollars not stripped
    assert metamath_correct("so 5.\nThe answer is: 7.\nmore", "7", "math")[0] is True  # cut at ".\n"
