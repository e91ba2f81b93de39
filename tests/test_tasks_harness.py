"""The tasks inside lm-eval's real harness, driven by a replay model (canned responses, no LLM).

Proves: gold responses score 100% on all of GSM8K and MATH; a known mix of right, wrong and
unanswered responses gives exactly the expected fractions, per task, per level and for the group;
the prompt lm-eval renders is byte-identical to the shared Alpaca template.
"""

from __future__ import annotations

import hashlib
import math

import pytest

from skymath_tasks.prompts import ALPACA_PROMPT, METAMATH_STOP_SEQUENCES, build_prompt
from tests.helpers.replay_model import ReplayLM

lm_eval = pytest.importorskip("lm_eval")


@pytest.fixture(scope="module")
def task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False)


@pytest.fixture(autouse=True)
def _offline_data(shared_data, monkeypatch):
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))


def _evaluate(lm, tasks, task_manager, **kw):
    from lm_eval import simple_evaluate

    return simple_evaluate(model=lm, tasks=tasks, task_manager=task_manager, log_samples=True, bootstrap_iters=0, **kw)


def _decision(key: str) -> str:
    """Deterministic mix: about 1/3 wrong, 1/6 unanswered, the rest right."""
    h = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 6
    return "wrong" if h < 2 else "none" if h == 2 else "right"


def _mixed_responder(gold_by_prompt: dict[str, str]):
    def respond(prompt: str) -> str:
        gold = gold_by_prompt[prompt]
        d = _decision(prompt)
        if d == "right":
            return f"Let me work it out.\nThe answer is: {gold}"
        if d == "wrong":
            return "Let me work it out.\nThe answer is 987654321"
        return "I am not sure how to finish this."

    return respond


def test_gold_responses_score_100_percent_on_all_problems(task_manager) -> None:
    from skymath_tasks.data import load_gsm8k, load_math

    gold = {build_prompt(r["problem"]): r["gold"] for r in load_math()}
    gold |= {build_prompt(r["question"]): r["gold"] for r in load_gsm8k()}
    lm = ReplayLM(lambda p: "Reasoning.\nThe answer is " + gold[p])
    res = _evaluate(lm, ["skymath_math", "skymath_gsm8k"], task_manager)
    results = res["results"]
    assert results["skymath_math"]["sample_len"] == 5000
    assert results["skymath_gsm8k"]["sample_len"] == 1319
    for name in ("skymath_math", "skymath_gsm8k"):
        assert results[name]["strict,none"] == 1.0, name
        assert results[name]["flexible,none"] == 1.0, name
        assert results[name]["no_answer_rate,none"] == 0.0, name
    for k in range(1, 6):
        assert results["skymath_math"][f"acc_level_{k},none"] == 1.0
    assert sum(results["skymath_math"][f"n_level_{k},none"] for k in range(1, 6)) == 5000
    # every prompt is the shared template, byte for byte, with MetaMath's stop strings and 2048 tokens
    assert all(p.startswith(ALPACA_PROMPT.split("{instruction}")[0]) for p in lm.prompts)
    assert all(p.endswith("### Response: Let's think step by step.") for p in lm.prompts)
    assert all(g["until"] == list(METAMATH_STOP_SEQUENCES) and g["max_gen_toks"] == 2048 for g in lm.gen_kwargs)
    assert all(g.get("do_sample") is False for g in lm.gen_kwargs)


def test_known_mix_gives_exact_fractions_per_task_level_and_group(task_manager) -> None:
    from skymath_tasks.data import load_math

    rows = load_math()
    gold = {build_prompt(r["problem"]): r["gold"] for r in rows}
    res = _evaluate(ReplayLM(_mixed_responder(gold)), ["skymath_math"], task_manager)
    results, samples = res["results"], res["samples"]

    # expected figures, computed from the data and the decisions alone
    def frac(sel):
        sel = list(sel)
        return sum(_decision(build_prompt(r["problem"])) == "right" for r in sel) / len(sel)

    assert results["skymath_math"]["strict,none"] == pytest.approx(frac(rows), abs=1e-12)
    assert results["skymath_math"]["no_answer_rate,none"] == pytest.approx(
        sum(_decision(build_prompt(r["problem"])) == "none" for r in rows) / len(rows), abs=1e-12
    )
    # responses carry "The answer is: " so MetaMath's criterion agrees with strict here
    assert results["skymath_math"]["metamath,none"] == pytest.approx(frac(rows), abs=1e-12)
    for k in range(1, 6):
        level_rows = [r for r in rows if r["level"] == k]
        expected = frac(level_rows)
        assert results["skymath_math"][f"acc_level_{k},none"] == pytest.approx(expected, abs=1e-12)
        assert results["skymath_math"][f"n_level_{k},none"] == len(level_rows)
        # and the same figure counted from lm-eval's own per-sample logs
        logged = [s for task_samples in samples.values() for s in task_samples if s["doc"]["level"] == k]
        assert len(logged) == len(level_rows)
        assert results["skymath_math"][f"acc_level_{k},none"] == pytest.approx(
            sum(s["strict"] for s in logged) / len(logged), abs=1e-12
        )
    # per subject: plain accuracy of that subject's documents
    for subject_task, task_samples in samples.items():
        assert results[subject_task]["strict,none"] == pytest.approx(
            sum(s["strict"] for s in task_samples) / len(task_samples), abs=1e-12
        )
        # grading details are in the per-sample logs
        s0 = task_samples[0]
        assert set(s0["doc"]["skymath"]) == {"strict", "flexible", "metamath"}
        assert {"extracted", "tier", "correct"} <= set(s0["doc"]["skymath"]["strict"])


def test_levels_absent_from_a_limited_run_are_nan_not_zero(task_manager) -> None:
    from skymath_tasks.data import load_math500

    gold = {build_prompt(r["problem"]): r["gold"] for r in load_math500()}
    res = _evaluate(ReplayLM(lambda p: "The answer is " + gold[p]), ["skymath_math500"], task_manager, limit=3)
    r = res["results"]["skymath_math500"]
    assert r["strict,none"] == 1.0
    present = [k for k in range(1, 6) if r[f"n_level_{k},none"] > 0]
    absent = [k for k in range(1, 6) if r[f"n_level_{k},none"] == 0]
    assert sum(r[f"n_level_{k},none"] for k in range(1, 6)) == 3
    assert all(r[f"acc_level_{k},none"] == 1.0 for k in present)
    assert all(math.isnan(r[f"acc_level_{k},none"]) for k in absent)
