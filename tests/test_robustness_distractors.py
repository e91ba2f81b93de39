"""Distractor variants of GSM8K: exact counts, nesting, safety of the numbers, byte reproducibility."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skymath_tasks.distractors import (
    DEFAULT_SEED,
    assemble,
    build_all_distractor_rows,
    build_distractor_rows,
    check_distractor,
    find_entities,
    forbidden_numbers,
    make_distractor_variants,
    numbers_in,
    split_question_sentence,
)
from skymath_tasks.jsonl_io import read_jsonl
from synth.distractors import parse_llm_distractors, select_llm_distractors

JANET = (
    "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
    "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
    "duck egg. How much in dollars does she make every day at the farmers' market?"
)
JANET_ANSWER = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.\n#### 18"
)


@pytest.fixture(scope="module")
def gsm8k_test(shared_data: Path) -> list[dict]:
    return read_jsonl(shared_data / "gsm8k" / "test.jsonl", required=("question", "answer"))


@pytest.fixture(scope="module")
def all_levels(gsm8k_test: list[dict]) -> dict[int, list[dict]]:
    return build_all_distractor_rows(gsm8k_test, seed=DEFAULT_SEED)


# --- splitting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, final",
    [
        (JANET, "How much in dollars does she make every day at the farmers' market?"),
        ("Mr. Smith has 3 cats. Dr. Jones has 2. How many cats does Mr. Smith have?", "How many cats does Mr. Smith have?"),
        ("Tom buys 3 apples.  How much did he pay? (Round to the nearest integer.)", "How much did he pay? (Round to the nearest integer.)"),
        ("Sara has 4 pens. Calculate the number of pens Sara has after buying 2 more.", "Calculate the number of pens Sara has after buying 2 more."),
        ("She mowed Kamala's lawn as often as Joe's. If Joe paid $6, how much did she make?", "If Joe paid $6, how much did she make?"),
        ("If a pen costs $1.50, how much do 4 pens cost?", "If a pen costs $1.50, how much do 4 pens cost?"),
        ("He leaves at 7 a.m. How long is the trip?", "How long is the trip?"),
    ],
)
def test_split_finds_the_final_question_sentence(question: str, final: str) -> None:
    context, got = split_question_sentence(question)
    assert got == final
    assert question.replace("  ", " ").startswith(context)
    assert assemble(question, []) .replace("  ", " ") == question.replace("  ", " ")


def test_numbers_in_reads_digits_words_fractions_and_percentages() -> None:
    got = numbers_in("Two and a half dozen, 1,200 eggs at 50% and 3/4 cup")
    assert {2.0, 0.5, 12.0, 1200.0, 50.0, 3.0, 4.0, 0.75} <= got


def test_entities_are_the_problems_people_and_things() -> None:
    ents = find_entities("Kylar went to the store. Kylar wants to buy 16 glasses. Each glass costs $5.")
    assert "Kylar" in ents.names and "glasses" in ents.objects
    ents = find_entities("Ducks lay 5 eggs. The ducks are white. How many eggs?")
    assert "Ducks" not in ents.names  # a common noun at a sentence start is not a person


# --- one problem --------------------------------------------------------------------------------------


def test_variants_hold_exactly_k_inserted_sentences_before_the_question() -> None:
    variants = make_distractor_variants(JANET, JANET_ANSWER, seed=DEFAULT_SEED)
    context, final = split_question_sentence(JANET)
    assert [v.k for v in variants] == [1, 2, 3, 4, 5]
    for v in variants:
        assert len(v.distractors) == v.k == len(set(v.distractors))
        assert v.question == f"{context} {' '.join(v.distractors)} {final}"
        assert v.question.endswith(final) and v.question.startswith(context)
        # removing the distractors gives back the original problem
        assert v.question.replace(" ".join(v.distractors) + " ", "") == JANET
        # the whole question still has exactly one question sentence, at the end
        assert split_question_sentence(v.question)[1] == final
    # distractors talk about the problem's own entities
    assert any("Janet" in d or "eggs" in d for d in variants[-1].distractors)


def test_levels_nest() -> None:
    variants = make_distractor_variants(JANET, JANET_ANSWER, seed=7)
    for a, b in zip(variants, variants[1:]):
        assert b.distractors[:-1] == a.distractors
        assert b.question.startswith(a.question.rsplit(" How much", 1)[0])


def test_seed_changes_the_distractors_and_same_seed_repeats_them() -> None:
    a = make_distractor_variants(JANET, JANET_ANSWER, seed=1)[-1].distractors
    b = make_distractor_variants(JANET, JANET_ANSWER, seed=1)[-1].distractors
    c = make_distractor_variants(JANET, JANET_ANSWER, seed=2)[-1].distractors
    assert a == b and a != c


def test_no_template_contradicts_the_topic_of_the_problem() -> None:
    q = "Tom is 12 years old. His cousin is twice as old. How old is his cousin?"
    for v in make_distractor_variants(q, "#### 24", seed=3):
        for d in v.distractors:
            assert not re.search(r"\b(old|age|years|cousin|cousins)\b", d), d


# --- the whole GSM8K test set ----------------------------------------------------------------------------


def test_all_gsm8k_levels_count_nest_and_keep_question_and_gold(gsm8k_test: list[dict], all_levels: dict[int, list[dict]]) -> None:
    assert sorted(all_levels) == [1, 2, 3, 4, 5]
    for k, rows in all_levels.items():
        assert len(rows) == len(gsm8k_test) == 1319
        for i, (row, src) in enumerate(zip(rows, gsm8k_test)):
            assert row["index"] == i and row["k"] == k
            assert row["answer"] == src["answer"]  # gold unchanged, byte for byte
            assert row["original_question"] == src["question"]
            assert len(row["distractors"]) == k
            context, final = split_question_sentence(src["question"])
            assert row["question"] == " ".join(p for p in (context, " ".join(row["distractors"]), final) if p)
            assert split_question_sentence(row["question"])[1] == final
            if k > 1:
                assert all_levels[k - 1][i]["distractors"] == row["distractors"][:-1]


def test_distractor_numbers_never_equal_the_problems_numbers_or_answer(all_levels: dict[int, list[dict]]) -> None:
    for row in all_levels[5]:
        question, answer = row["original_question"], row["answer"]
        gold = float(answer.rsplit("####", 1)[1].strip().replace(",", ""))
        forbidden = numbers_in(question) | {gold}
        seen: set[float] = set()
        for d in row["distractors"]:
            digits = re.findall(r"\d+(?:\.\d+)?", d)
            assert len(digits) == 1, d  # exactly one number, the chosen one
            value = float(digits[0])
            assert value not in forbidden, (d, question)
            assert value not in forbidden_numbers(question, answer)  # nor any step of the solution
            assert value not in seen
            seen.add(value)
            assert "?" not in d
            assert check_distractor(d, question, answer) == [], d


def test_two_runs_with_one_seed_give_identical_bytes(gsm8k_test: list[dict], tmp_path: Path) -> None:
    subset = gsm8k_test[:200]
    a = json.dumps(build_distractor_rows(subset, 3, seed="s"), ensure_ascii=False)
    b = json.dumps(build_distractor_rows([dict(r) for r in subset], 3, seed="s"), ensure_ascii=False)
    assert a == b
    assert a != json.dumps(build_distractor_rows(subset, 3, seed="other"), ensure_ascii=False)


def test_build_distractor_rows_rejects_bad_k(gsm8k_test: list[dict]) -> None:
    with pytest.raises(ValueError):
        build_distractor_rows(gsm8k_test[:2], 0)
    with pytest.raises(ValueError):
        build_distractor_rows(gsm8k_test[:2], 6)


# --- checks used by the LLM mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, reason",
    [
        ("Janet has 18 friends.", "reuses a number"),  # the answer
        ("Janet's farm has 9 barns.", "reuses a number"),  # an intermediate step of the solution
        ("Janet keeps 16 chickens too.", "reuses a number"),  # a number of the problem
        ("The ducks are 4 years old.", "reuses a number"),  # "four" in words in the problem
        ("How many barns does Janet have?", "question mark"),
        ("Janet has a blue barn.", "no number"),
        ("Janet earns $7 from her garden.", "money"),
        ("Janet has 7 cats. She also has 23 dogs.", "more than one sentence"),
        ("How much in dollars does she make every day at the farmers' market?", "question mark"),
    ],
)
def test_check_distractor_rejects_answer_changing_sentences(sentence: str, reason: str) -> None:
    problems = check_distractor(sentence, JANET, JANET_ANSWER)
    assert any(reason in p for p in problems), problems


def test_check_distractor_accepts_an_irrelevant_fact() -> None:
    assert check_distractor("Janet's barn has 7 windows.", JANET, JANET_ANSWER) == []


def test_llm_selection_keeps_good_sentences_and_tops_up_with_templates() -> None:
    reply = '```json\n["Janet\'s barn has 7 windows.", "Janet sells 18 eggs.", "What is 5+5?", "The farm is 31 years old."]\n```'
    cands = parse_llm_distractors(reply)
    assert len(cands) == 4
    kept, sources, rejected = select_llm_distractors(JANET, JANET_ANSWER, cands, seed=1)
    assert kept[:2] == ["Janet's barn has 7 windows.", "The farm is 31 years old."]
    assert sources[:2] == ["llm", "llm"] and all(s != "llm" for s in sources[2:])
    assert len(kept) == 5 and len(rejected) == 2
    values = [numbers_in(d) for d in kept]
    assert all(not (a & b) for i, a in enumerate(values) for b in values[i + 1 :])  # template numbers avoid the model's


def test_a_problem_that_rules_out_most_templates_still_gets_k_safe_distractors() -> None:
    # mentions the topics of most templates and uses every small number, so ranges run dry
    q = ("Tom lives in a town with a library, a museum, a bakery, a park, trees, a bus stop and a radio station; "
         "his cousin, 3 cats, 4 dogs, 5 bikes, 6 books, 7 windows, 8 roses, 9 students, 10 games and 11 pages "
         "are all there, and the temperature is high. How many days does Tom spend there?")
    variants = make_distractor_variants(q, "#### 12", seed=0)
    assert len(variants[-1].distractors) == 5
    forbidden = forbidden_numbers(q, "#### 12")
    for d in variants[-1].distractors:
        assert not (numbers_in(d) & forbidden)
        assert not {"day", "days"} & set(re.findall(r"[a-z]+", d.lower()))  # never about what the question asks for
