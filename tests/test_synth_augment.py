"""Augmenters produce well-formed rows from scripted answers; filters drop what they must."""

from __future__ import annotations

from typing import Any

import pytest

from skymath_tasks.prompts import ANSWER_MARKER
from synth.augment import (
    AUGMENTERS,
    AugmentContext,
    choose_method,
    mask_number,
    parse_verdict,
    split_answer,
)
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

ROW_KEYS = {"id", "stage", "round", "method", "seed_id", "seed_source", "level", "subject", "query", "response",
            "answer", "model", "prompt_version", "usage", "request_id"}


def drive(gen, model) -> tuple[list[dict[str, Any]], int]:
    """Run an augmenter generator with a scripted model in-process; returns (outcomes, requests sent)."""
    sent = 0
    try:
        reqs = next(gen)
        while True:
            replies = []
            for r in reqs:
                sent += 1
                reply = model({"messages": r.messages})
                replies.append(None if reply is None else {"text": reply, "finish_reason": "stop", "model": "scripted",
                                                           "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
            reqs = gen.send(replies)
    except StopIteration as stop:
        return stop.value, sent


def ctx(**kw) -> AugmentContext:
    return AugmentContext(stage="stage1", model="scripted", **kw)


def check_row(row: dict[str, Any], method: str, seed: dict[str, Any]) -> None:
    assert set(row) == ROW_KEYS, row
    assert row["method"] == method and row["seed_id"] == seed["id"] and row["stage"] == "stage1"
    assert (row["seed_source"], row["level"], row["subject"]) == (seed["source"], seed["level"], seed["subject"])
    assert row["response"].endswith(f"\n{ANSWER_MARKER} {row['answer']}")
    assert row["response"].count(ANSWER_MARKER) == 1
    assert row["query"] and row["model"] == "scripted" and "+metamath-alpaca-v1" in row["prompt_version"]


@pytest.mark.parametrize("method", sorted(AUGMENTERS))
def test_each_augmenter_produces_well_formed_rows(method):
    seed = toy_seeds(1, start=7)[0]  # What is 7 + 17? -> 24
    rows, sent = drive(AUGMENTERS[method](seed, ctx(evol_max_steps=3), 0), ScriptedModel())
    assert rows and all("rejected" not in r for r in rows), rows
    for r in rows:
        check_row(r, method, seed)
    if method == "metamath_ansaug":
        assert rows[0]["query"] == seed["problem"] and rows[0]["answer"] == "24"
    if method in ("metamath_fobar", "metamath_sv"):
        assert "unknown variable X" in rows[0]["query"] and rows[0]["answer"] in ("7", "17")
    if method == "evol":
        assert len(rows) == 3 and sent == 6  # three evolutions, each answered
        assert rows[2]["query"].count("Explain each step.") == 3
    if method == "xwin":
        assert rows[0]["query"] == "What is 8 + 18?" and rows[0]["answer"] == "26"


def test_ground_truth_filter_drops_wrong_answers():
    seed = toy_seeds(1, start=3)[0]  # What is 3 + 13? gold 16
    model = ScriptedModel(wrong_for=["3 + 13"])
    out, _ = drive(AUGMENTERS["metamath_ansaug"](seed, ctx(answer_aug_samples=3), 0), model)
    assert [o["rejected"] for o in out] == ["wrong_answer"] * 3
    assert out[0]["answer"] == "161" and out[0]["gold"] == "16"
    out, _ = drive(AUGMENTERS["metamath_rephrase"](seed, ctx(), 0), model)
    assert out[0]["rejected"] == "wrong_answer"
    # the same model is right on another seed: rows kept
    ok, _ = drive(AUGMENTERS["metamath_ansaug"](toy_seeds(1, start=4)[0], ctx(answer_aug_samples=2), 0), model)
    assert len(ok) == 2 and all("rejected" not in o for o in ok)


def test_unparseable_and_truncated_answers_are_rejected_with_reason():
    seed = toy_seeds(1, start=5)[0]
    out, _ = drive(AUGMENTERS["evol"](seed, ctx(evol_max_steps=1), 0), ScriptedModel(no_marker_for=["Explain"]))
    assert [o["rejected"] for o in out] == ["no_answer_marker"]

    gen = AUGMENTERS["metamath_ansaug"](seed, ctx(), 0)
    next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.send([{"text": "cut off mid-sen", "finish_reason": "length"}])
    assert stop.value.value[0]["rejected"] == "truncated"
    gen = AUGMENTERS["metamath_ansaug"](seed, ctx(), 0)
    next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.send([None])  # the request failed for good
    assert stop.value.value[0]["rejected"] == "request_failed"


def test_failed_evolution_is_dropped_and_ends_the_trajectory():
    seed = toy_seeds(1)[0]
    calls = {"n": 0}
    base = ScriptedModel()

    def model(req):
        if "Prompt Rewriter" in req["messages"][0]["content"]:
            calls["n"] += 1
            if calls["n"] == 3:  # third evolution: the model returns the problem unchanged
                return req["messages"][-1]["content"].split("#Given Problem#:")[1].split("#New Problem#:")[0]
        return base(req)

    out, _ = drive(AUGMENTERS["evol"](seed, ctx(evol_max_steps=5), 0), model)
    rows = [o for o in out if "rejected" not in o]
    rej = [o for o in out if "rejected" in o]
    assert calls["n"] == 3  # stopped at the failure, no 4th/5th step
    assert len(rows) == 2 and [r["rejected"] for r in rej] == ["evol_no_change"] and rej[0]["step"] == 3


def test_xwin_corrects_a_problem_that_fails_verification():
    seed = toy_seeds(1, start=2)[0]
    out, sent = drive(AUGMENTERS["xwin"](seed, ctx(), 0), ScriptedModel(xwin_incorrect_first=True))
    assert len(out) == 1 and "rejected" not in out[0]
    assert out[0]["query"].endswith("(fixed)") and sent == 5  # generate, verify, correct, verify, answer
    out, _ = drive(AUGMENTERS["xwin"](seed, ctx(xwin_max_corrections=0), 0), ScriptedModel(xwin_incorrect_first=True))
    assert out[0]["rejected"] == "xwin_failed_verification"


def test_helpers():
    assert split_answer("Work.\nThe answer is: 5.") == ("Work.", "5")
    assert split_answer("no marker") == "no_answer_marker"
    assert split_answer("The answer is 3") == "no_reasoning"
    assert split_answer("W.\nThe answer is $\\boxed{\\frac{1}{2}}$.") == ("W.", "\\frac{1}{2}")
    assert split_answer("W.\nThe answer is $(1, 2]$") == ("W.", "(1, 2]")
    assert split_answer("W.\nThe answer is \\boxed{1}+\\boxed{2}") == ("W.", "\\boxed{1}+\\boxed{2}")
    assert parse_verdict("blah\nVerdict: Incorrect") == "incorrect" and parse_verdict("fine") is None
    import random

    q, hidden = mask_number("Find $x^2$ if 3 apples cost 12 dollars.", random.Random(0))
    assert hidden in ("3", "12") and "x^2" in q and q.count("X") == 1
    assert mask_number("What is X + 1?", random.Random(0)) is None
    assert mask_number("Find $\\frac{a}{b}$.", random.Random(0)) is None


def test_mix_ratio_is_followed_and_metamath_needs_gold():
    c = ctx()
    seeds = toy_seeds(400)
    picks = [choose_method(s, 0, {"metamath": 2, "evol": 1, "xwin": 1}, {"answer_aug": 1, "fobar": 1}, c) for s in seeds]
    mm = sum(p.startswith("metamath") for p in picks)
    assert 160 <= mm <= 240 and set(p for p in picks if p.startswith("metamath")) == {"metamath_ansaug",
                                                                                     "metamath_fobar"}
    no_gold = dict(seeds[0], answer=None)
    assert {choose_method(no_gold, d, {"metamath": 5, "evol": 1}, {"answer_aug": 1}, c) for d in range(30)} == {"evol"}


def test_refused_replies_are_rejections_with_their_reason():
    """A reply the client marked as refused, and a short "I'm sorry" text, end as `refusal`, never as a row."""
    seed = toy_seeds(1, start=7)[0]

    def refuse_all(gen, reply):
        try:
            reqs = next(gen)
            while True:
                reqs = gen.send([reply for _ in reqs])
        except StopIteration as stop:
            return stop.value

    flagged = {"text": "", "refusal": True, "finish_reason": None}
    sorry = {"text": "I'm sorry, but I can't help with that.", "finish_reason": "stop"}
    for method, want in (("metamath_ansaug", "refusal"), ("evol", "evol_refusal"),
                         ("xwin", "xwin_generate_refusal"), ("metamath_rephrase", "rephrase_refusal")):
        for reply in (flagged, sorry):
            out = refuse_all(AUGMENTERS[method](seed, ctx(evol_max_steps=2), 0), reply)
            assert out and {o.get("rejected") for o in out} == {want}, (method, reply, out)
