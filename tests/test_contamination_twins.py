"""Reference twins of the contamination probes: test problems with other numbers, solutions recomputed.

Oracles: sympy re-checks every calculation of a twin's solution (an evaluator independent of ours),
hand-written expectations for the rules (what changes, what stays), and word counts read with
``str.split``.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
import sympy

from skymath_tasks.number_twins import ExpressionError, evaluate, gsm8k_twin, math_twin, new_value, number_tokens

ANNOTATION = re.compile(r"<<([^<>]*)>>")


def _sympy_true(equation: str) -> bool:
    expr, result = equation.rsplit("=", 1)
    return sympy.simplify(sympy.sympify(expr.replace("x", "*"), rational=True)
                          - sympy.sympify(result.replace(",", ""), rational=True)) == 0


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", text)


# ----------------------------------------------------------------------------------------- hand-made
def test_a_twin_changes_the_question_numbers_and_recomputes_every_step() -> None:
    q = "Natalia sold clips to 48 of her friends in April, and then she sold 24 more clips in May. How many clips did she sell?"
    a = "In May she sold 24 clips.\nAltogether she sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    twin = gsm8k_twin(q, a, key="t1")
    assert twin is not None and twin.solution_exact
    old_q, new_q = _numbers(q), _numbers(twin.question)
    assert len(old_q) == len(new_q) == 2
    assert all(o != n and len(o) == len(n) for o, n in zip(old_q, new_q))
    x, y = (int(v) for v in new_q)
    assert f"<<{x}+{y}={x + y}>>{x + y}" in twin.answer
    assert twin.answer.endswith(f"#### {x + y}")
    assert twin.answer.startswith(f"In May she sold {y} clips.")
    assert len(twin.question.split()) == len(q.split()) and len(twin.answer.split()) == len(a.split())


def test_twins_are_deterministic_and_depend_on_key_and_seed() -> None:
    q, a = "Tom has 37 apples and buys 45 more. How many now?", "37+45=<<37+45=82>>82\n#### 82"
    first = gsm8k_twin(q, a, key="k")
    assert first == gsm8k_twin(q, a, key="k")
    others = {gsm8k_twin(q, a, key="k", seed=s).question for s in range(1, 6)} | {gsm8k_twin(q, a, key=f"k{s}").question for s in range(5)}
    assert len(others) > 3


def test_what_stays_0_1_decimals_times_ordinals_number_words_and_percent_base() -> None:
    q = ("On the 3rd day at 7:30, Ann had 1 bag of 0.5 kg and three boxes; 20% of her 40 cards were red. "
         "How many red cards?")
    a = "20/100*40=<<20/100*40=8>>8\n#### 8"
    twin = gsm8k_twin(q, a, key="keep")
    assert twin is not None
    for kept in ("3rd", "7:30", "1 bag", "0.5 kg", "three boxes"):
        assert kept in twin.question
    assert "20%" not in twin.question and "40 cards" not in twin.question
    if twin.solution_exact:
        assert "/100*" in twin.answer  # 100 is the percent base here: it stays
        assert all(_sympy_true(e) for e in ANNOTATION.findall(twin.answer))


def test_a_number_the_solution_does_not_explain_gives_a_question_only_twin() -> None:
    # 23 is worked out in the head (no annotation, no visible equation): nothing exact to recompute
    q = "Siobhan has 2 fewer jewels than Aaron. Aaron has 25 jewels. How many does Siobhan have?"
    a = "Aaron has 25 jewels, so Siobhan has 23 jewels.\n#### 23"
    twin = gsm8k_twin(q, a, key="head")
    assert twin is not None and not twin.solution_exact and twin.answer is None
    assert twin.question != q


def test_a_reference_solution_with_wrong_arithmetic_is_not_recomputed() -> None:
    q = "A box has 12 pens and Bea adds 15 pens. How many pens?"
    a = "12+15=<<12+15=28>>28\n#### 28"  # wrong on purpose: 27
    twin = gsm8k_twin(q, a, key="wrong")
    assert twin is not None and twin.answer is None


def test_visible_equations_are_recomputed_when_there_are_no_annotations() -> None:
    q = "Sara had 15 stickers and gave away 6. Then she bought 4 more. How many stickers does she have now?"
    a = "15 - 6 + 4 = 13\n#### 13"
    twin = gsm8k_twin(q, a, key="vis")
    assert twin is not None and twin.solution_exact
    equation = twin.answer.split("\n")[0]
    assert _sympy_true(equation.replace(" ", ""))
    assert twin.answer.endswith("#### " + equation.rsplit("= ", 1)[1])


def test_no_number_to_change_means_no_twin() -> None:
    assert gsm8k_twin("Ann has three cats and one dog. How many pets?", "3+1=<<3+1=4>>4\n#### 4", key="w") is None


def test_new_values_are_nearby_numbers_of_the_same_shape() -> None:
    from skymath_tasks.distractors import _Rng

    rng = _Rng("shape")
    seen: dict[int, set[int]] = {}
    for value in (2, 7, 48, 60, 600, 1200, 4500, 125, 99, 10, 15, 25):
        for _ in range(40):
            new = new_value(value, rng, set())
            assert new is not None and new != value
            seen.setdefault(value, set()).add(new)
            assert len(str(new)) == len(str(value)), (value, new)
            if value < 10:
                assert 2 <= new <= 9 and abs(new - value) <= 3
            if value % 5 == 0:
                assert new % 5 == 0, (value, new)
            if value >= 10 and value % 10:
                assert value / 2 <= new <= value * 1.5, (value, new)
    assert seen[600] <= {300, 400, 500, 700, 800, 900} and seen[1200] <= {n * 100 for n in range(10, 19)}
    assert all(len(v) > 1 for v in seen.values())
    assert new_value(2, rng, {Fraction(v) for v in range(3, 6)}) is None  # every nearby value taken


@pytest.mark.parametrize(("expr", "value"), [("48/2", Fraction(24)), ("60/100*5", Fraction(3)), ("(3+4)*2", Fraction(14)),
                                             ("2-.5", Fraction(3, 2)), ("1,200/4", Fraction(300)), ("-3+5", Fraction(2)),
                                             ("6 x 3", Fraction(18)), ("$5*4", Fraction(20))])
def test_arithmetic_values(expr: str, value: Fraction) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize("expr", ["__import__('os').system('true')", "2**3", "a+b", "4/0", "3+", "(2+3", "2 3", ""])
def test_arithmetic_refuses_everything_else(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr)


def test_number_tokens() -> None:
    got = [t.text for t in number_tokens("On the 5th day, 1,200 ants and 2.50 $ at 7:30 ate .5 of 48/2 = 24.")]
    assert got == ["1,200", "2.50", ".5", "48", "2", "24"]


def test_math_twins_change_numbers_but_not_exponents_or_subscripts() -> None:
    p = r"Find $x$ if $x^2 + 5x + 6 = 0$ and $\log_{10} 1000 = \frac{3}{4} y$."
    twin = math_twin(p, key="m1")
    assert twin is not None
    assert "x^2" in twin.question and r"\log_{10}" in twin.question
    assert "5x" not in twin.question and "+ 6 =" not in twin.question
    assert twin.question.count("$") == p.count("$") and len(twin.question.split()) == len(p.split())
    assert math_twin("Compute $1 + 1$.", key="m2") is None


# ----------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def gsm8k_rows(shared_data):
    with open(shared_data / "gsm8k" / "test.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh][:500]


def test_gsm8k_twins_are_exact_aligned_and_mostly_complete(gsm8k_rows) -> None:
    exact = question_only = 0
    for i, row in enumerate(gsm8k_rows):
        twin = gsm8k_twin(row["question"], row["answer"], key=str(i))
        if twin is None:
            continue
        assert twin.question != row["question"]
        assert len(twin.question.split()) == len(row["question"].split()), i
        if twin.answer is None:
            question_only += 1
            continue
        exact += 1
        assert len(twin.answer.split()) == len(row["answer"].split()), i
        for eq in ANNOTATION.findall(twin.answer):
            assert _sympy_true(eq), (i, eq)
        old_final, new_final = row["answer"].rsplit("####", 1)[1].strip(), twin.answer.rsplit("####", 1)[1].strip()
        old_last = ANNOTATION.findall(row["answer"])[-1].rsplit("=", 1)[1] if ANNOTATION.findall(row["answer"]) else None
        if old_last is not None and Fraction(old_last.replace(",", "")) == Fraction(old_final.replace(",", "")):
            new_last = ANNOTATION.findall(twin.answer)[-1].rsplit("=", 1)[1]
            assert Fraction(new_last.replace(",", "")) == Fraction(new_final.replace(",", "")), i
    # measured on all 1319 (MAX_DRAWS = 60): 73% exact, 22% question only, 4% nothing to change
    assert exact >= 0.65 * len(gsm8k_rows) and exact + question_only >= 0.9 * len(gsm8k_rows)
