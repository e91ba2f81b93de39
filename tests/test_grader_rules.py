"""One test per rule of docs/grader.md ("What is credited, exactly"): each rule's examples, both ways.

The expected verdicts are the documentation's, written by hand; a change of behaviour that is not a
change of the documented rule fails here.
"""

from __future__ import annotations

import pytest

from skymath_tasks.extract import extract_answer
from skymath_tasks.scoring import grade


def credited(answer: str, gold: str, *, task: str = "math", question: str | None = None,
             mode: str = "strict") -> bool:
    return grade(f"Some working.\nThe answer is: {answer}", gold, task=task, mode=mode,  # type: ignore[arg-type]
                 question=question).correct


def test_r1_extraction_display_blocks_quotes_and_withdrawn_answers() -> None:
    assert grade("So.\nThe answer is:\n\\[\n\\boxed{9}\n\\]", "9").correct
    assert grade("The answer is\n$$\n9\n$$.", "9").correct
    assert grade("The answer is \\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}.", "\\begin{pmatrix}1\\\\2\\end{pmatrix}").correct
    # a quoted marker is not the response's own
    resp = "If a solution says 'The answer is: 6', it is wrong.\nThe answer is: 5. Not 'The answer is: 6'."
    assert not grade(resp, "6").correct
    # text after the answer withdraws it, in both modes; closings and end tokens do not
    for mode in ("strict", "flexible"):
        assert not grade("The answer is: 6\nWait, I made an error: it is 5.", "6", mode=mode).correct
        assert not grade("The answer is: $6$\n(approximately)", "6", mode=mode).correct
        assert grade("The answer is: 6.\nI hope it is correct.\n</s>", "6", mode=mode).correct
        assert grade("The answer is: 6\nThanks", "6", mode=mode).correct
    assert grade("The answer is: 6\nWait, no.\n\\boxed{5}", "5", mode="flexible").correct
    # flexible also reads "Answer: ..." lines and Minerva's "final answer is"; a new chat turn ends the response
    assert grade("Work.\nAnswer \\[ 9 \\]", "9", mode="flexible").correct
    assert grade("Final Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user\nThe answer is 5",
                 "12000023", mode="flexible").correct
    assert not grade("Work.\nAnswer \\[ 9 \\]", "9", mode="strict").correct
    assert not grade("The answer is: 6\nWait, no.\n\\boxed{5}", "5", mode="strict").correct
    # a runaway answer is wrong, and never graded on a cut prefix
    assert not grade("The answer is " + "1" * 1200, "1" * 1200).correct
    assert len(extract_answer("The answer is " + "1" * 5000) or "") == 1001


@pytest.mark.parametrize("answer,gold", [
    ("1,000", "1000"), ("10{,}000", "10000"), ("10\\,000", "10000"), ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
    ("\\$18.90", "18.9"), ("18.00", "18"), ("\\frac12", "0.5"), ("3/4", "\\dfrac34"), ("2\\frac{1}{4}", "\\frac94"),
    ("1 1/2", "\\frac32"), ("1.5\\times10^{3}", "1500"), ("8.\\overline{3}", "\\frac{25}{3}"), ("45^\\circ", "45"),
    ("2^{10}", "1024"), ("3\\cdot 4", "12"), ("\\frac{10}{2}", "5"), ("2(3+4)", "14"),
])
def test_r2_numbers_are_exact_in_every_spelling(answer: str, gold: str) -> None:
    assert credited(answer, gold)


@pytest.mark.parametrize("answer,gold", [("0.333", "\\frac13"), ("3.14", "\\pi"), ("1.414", "\\sqrt{2}"),
                                         ("2^{11}", "1024"), ("1 1/2", "11/2")])
def test_r2_no_float_tolerance(answer: str, gold: str) -> None:
    assert not credited(answer, gold)


def test_r3_units_nouns_and_value_words() -> None:
    apples = "Ann had 10 apples and bought 2 more. How many apples does she have?"
    for answer in ("5 \\text{ cm}", "5 cm", "5 inches", "5\\text{ in.}", "5 \\text{m}", "5 square feet", "5 km/h",
                   "5 miles per hour", "5 times", "5 \\text{ units}^2", "\\$5", "5 dollars"):
        assert credited(answer, "5"), answer
    assert credited("12 apples", "12", question=apples, task="gsm8k")
    assert credited("12 \\text{ apples}", "12", question=apples)
    assert not credited("12 apples", "12", task="gsm8k")  # without the question, an unknown word
    assert not credited("12 pears", "12", question=apples)
    for answer, gold in (("2 dozen", "24"), ("1.2 million", "1200000"), ("3 hundred", "300"), ("4 fifths", "\\frac45"),
                         ("7 tenths", "0.7"), ("5 \\text{ thousandths}", "0.005"), ("4 squared", "16"),
                         ("3 factorial", "6")):
        assert credited(answer, gold), answer
    for answer, gold in (("4 fifths", "4"), ("7 tenths", "7"), ("5 \\text{ thousandths}", "5"), ("3 factorial", "3"),
                         ("2 inverse", "2"), ("5 grand", "5"), ("5 grand", "5000"), ("5 lakh", "5"), ("5 score", "5"),
                         ("5 googol", "5"), ("\\$5k", "5000"), ("5 invalid", "5"), ("5 impossible", "5"),
                         ("5 nope", "5"), ("5 unsure", "5"), ("5 approximately", "5"), ("about 5", "5"),
                         ("at least 5", "5"), ("5 or more", "5"), ("more than 5", "5"), ("5 or 6", "5"),
                         ("5 to 6", "5"), ("5 m", "5")):
        assert not credited(answer, gold), answer
    assert not credited("18 tenths", "18", task="gsm8k")
    # a value word is never a unit, even when the question uses it
    assert not credited("2 dozen", "2", question="How many dozen eggs did she buy?")
    assert not credited("5 invalid", "5", question="How many ballots were invalid?")
    assert not credited("5 estimated", "5", question="What is the estimated number of birds?")


def test_r3_units_must_agree_and_match_what_is_asked() -> None:
    assert not credited("440 \\text{ cm}^3", "440 \\text{ cm}^2")
    assert credited("20 \\text{ cm}^2", "20 square centimeters")
    assert credited("440 \\text{ cm}^2", "440", question="What is its area in square centimeters?")
    assert not credited("5 minutes", "5", question="How many hours did the trip take?")
    assert not credited("20 \\text{ m}^2", "20", question="A square has side 5 m. What is its perimeter in meters?")
    assert not credited("20 liters", "20", question="Paint costs $4 per liter. How many dollars does he spend?",
                        task="gsm8k")
    assert credited("3 hours", "3", question="How many hours did the trip take?")


def test_r4_percent_has_one_reading() -> None:
    assert credited("24\\%", "24") and credited("24\\%", "0.24") and credited("0.24", "24\\%")
    assert credited("24 percent", "24") and credited("24 pct", "24")
    assert not credited("2400\\%", "24") and not credited("500\\%", "5") and not credited("1800%", "18", task="gsm8k")
    assert not credited("0.24", "24") and not credited("2400", "24\\%")
    q_count = "Ann had 10 apples and bought 14 more. How many apples does she have?"
    assert not credited("24%", "24", question=q_count, task="gsm8k")
    q_prob = "What is the probability that a random marble is red? Give a decimal."
    assert not credited("0.24\\%", "0.24", question=q_prob)
    assert credited("24\\%", "0.24", question=q_prob)
    assert credited("24\\%", "24", question="What percent of the marbles are red?")
    assert credited("24\\%", "24", question="红色弹珠占百分之几？")  # the Chinese tasks ask in percent too


def test_r5_chains_and_equations() -> None:
    for answer in ("2+2=5", "4 = 5", "x = 4 = 5", "\\frac{10}{2}=6", "x = 2+3 = 6"):
        assert not credited(answer, "5" if "6" not in answer else "6"), answer
    assert credited("x = 3+2 = 5", "5") and credited("x=\\frac{2401}{100}=24.01", "24.01")
    assert credited("5 = x", "5")
    assert not credited("x+1=5", "5")  # an equation states x = 4; it is no value
    assert credited("25=x^2+y^2", "x^2+y^2=25") and not credited("25", "x^2+y^2=25")
    assert credited("y=-\\frac{1}{2}x+\\frac{3}{4}", "2x+4y-3=0")
    assert not credited("y=-\\frac{1}{2}x+\\frac{1}{4}", "2x+4y-3=0")


def test_r6_labels() -> None:
    assert credited("(3,2)", "(p,q)=(3,2)") and credited("(p,q)=(3,2)", "(3,2)")
    assert credited("1", "|AB|=1") and credited("11:21", "V_1:V_2=11:21")
    assert credited("\\frac{1}{\\sqrt{6}}", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}")
    assert credited("x \\in [-2,7]", "[-2,7]") and credited("[-2,7]", "x \\in [-2,7]")
    assert credited("x \\in \\{-1\\} \\cup [0,7)", "\\{-1\\} \\cup [0,7)")
    assert not credited("y=5", "x=5")
    assert credited("y = 2x + 3", "f(x) = 2x + 3")
    assert not credited("y = 5", "5", question="Solve for $x$: $x + y = 7$ and $y = 2$.")
    assert credited("x = 5", "5", question="Solve for $x$: $x + y = 7$ and $y = 2$.")
    assert not credited("AC = 4", "4", question="In triangle $ABC$, what is $AB$?")
    assert credited("|AB| = 4", "4", question="In triangle $ABC$, what is $AB$?")
    assert credited("a = 1, b = 2", "(1,2)", question="Find $a$ and $b$.")


def test_r7_sets_lists_tuples() -> None:
    assert credited("{2, 3, 5}", "2,3,5") and credited("${-2021, 2021}$", "\\pm 2021")
    assert credited("\\pm 2021", "\\{-2021, 2021\\}") and credited("\\sqrt{2},\\sqrt{3}", "\\sqrt3,\\sqrt2")
    assert grade("So $\\boxed{1}, \\boxed{2}, \\boxed{3}$", "1,2,3", mode="flexible").correct
    assert grade("$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", "(2, 2), (6, 2)", mode="flexible").correct
    assert not grade("We get \\boxed{1}. Later, \\boxed{2}", "1,2", mode="flexible").correct  # prose between: last box
    assert credited("\\varnothing", "\\emptyset") and credited("\\{\\}", "\\emptyset")
    assert credited("x=2, y=3", "(2,3)") and credited("(5,2),(7,2)", "p=5,q=2;p=7,q=2")
    assert not credited("y=3, x=2", "(3,2)")  # the point's order is the letters'
    assert not credited("42 or 43", "42") and not credited("(2,3)", "(3,2)") and not credited("{1,2}", "1,2,3")


def test_r8_intervals_and_inequalities() -> None:
    assert credited("x \\le 3", "(-\\infty,3]") and credited("-2 \\le x < 3", "[-2,3)")
    assert credited("3 > x", "x < 3") and credited("-x > -1", "x < 1")
    assert credited("|x| < 3", "(-3,3)") and credited("z \\in [-\\frac{3}{2}, -1] \\cup [1, \\frac{3}{2}]",
                                                        "1\\leq|z|\\leq \\frac{3}{2}")
    assert not credited("[1,2]", "[1,2)") and not credited("x > 1", "x < 1")


def test_r9_matrices_and_vectors() -> None:
    pm = "\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}"
    assert credited("\\left[\\begin{array}{cc}1 & 2\\\\ 3 & 4\\end{array}\\right]", pm)
    assert credited("\\begin{bmatrix}1 & 2\\\\ 3 & 4\\end{bmatrix}", pm)
    assert credited("(1,2)", "\\begin{pmatrix}1\\\\2\\end{pmatrix}") and credited("[0.5, 1]", "\\begin{matrix} \\frac12 \\\\ 1 \\end{matrix}")
    assert not credited("\\begin{pmatrix}1 & 2\\\\ 4 & 3\\end{pmatrix}", pm)


def test_r10_text_and_choices() -> None:
    assert credited("\\text{13}", "13") and credited("\\text{odd}", "\\textbf{Odd}") and credited("(C)", "\\text{(C)}")
    assert not credited("twelve", "12") and not credited("(B)", "(C)")


def test_r11_symbols() -> None:
    assert credited("i^2", "-1") and credited("1+2i", "i(2-i)") and credited("\\sin 60^\\circ", "\\frac{\\sqrt3}{2}")
    assert credited("08:34 \\text{P.M.}", "20:34") and credited("20:34:00", "20:34")
    assert not credited("08:34 \\text{A.M.}", "20:34") and not credited("4210_8", "4210_7")
    assert credited("12 \\pmod{13}", "12")


def test_r12_unprovable_and_unproved() -> None:
    assert not credited("x \\approx 5", "5") and not credited("5\\boxed{6}", "6")
    assert not credited("P(5,5)", "120")
    assert credited("\\frac{1}{2}+\\frac{\\sqrt2}{4}", "\\frac{2+\\sqrt2}{4}")
