"""The tasks inside lm-eval's real harness, driven by a replay model (canned responses, no LLM).

Proves: gold responses score 100% on all of GSM8K and MATH; a known mix of right, wrong and
unanswered responses gives exactly the expected fractions over all of MATH, per level and per subject
(task-level aggregations of the one ``skymath_math`` task), and the single-subject tasks agree; the
prompt lm-eval renders is byte-identical to the shared Alpaca template; few-shot works the lm-eval
way or is refused.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from skymath_tasks.prompts import ALPACA_PROMPT, METAMATH_STOP_SEQUENCES, build_prompt
from tests.helpers.replay_model import ReplayLM

lm_eval = pytest.importorskip("lm_eval")


SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus")


@pytest.fixture(scope="module")
def task_manager(shared_data):
    """Our tasks only, with the data folder passed the lm-eval way (task metadata -> custom_dataset)."""
    from lm_eval.tasks import TaskManager

    import skymath_tasks

    return TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False,
                       metadata={"data_dir": str(shared_data)})


@pytest.fixture(autouse=True)
def _offline_data(shared_data, monkeypatch):
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))  # for the loaders the tests call directly


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
    for s in SUBJECTS:
        assert results["skymath_math"][f"acc_{s},none"] == 1.0
    assert not any(k.startswith("n_level") for k in results["skymath_math"])  # counts are not ranked metrics
    # every prompt is the shared template, byte for byte, with MetaMath's stop strings and 2048 tokens
    assert all(p.startswith(ALPACA_PROMPT.split("{instruction}")[0]) for p in lm.prompts)
    assert all(p.endswith("### Response: Let's think step by step.") for p in lm.prompts)
    assert all(g["until"] == list(METAMATH_STOP_SEQUENCES) and g["max_gen_toks"] == 2048 for g in lm.gen_kwargs)
    assert all(g.get("do_sample") is False for g in lm.gen_kwargs)


def test_known_mix_gives_exact_fractions_over_all_per_level_and_per_subject(task_manager) -> None:
    from skymath_tasks.data import load_math

    rows = load_math()
    gold = {build_prompt(r["problem"]): r["gold"] for r in rows}
    res = _evaluate(ReplayLM(_mixed_responder(gold)), ["skymath_math", "skymath_math_subjects"], task_manager)
    results, samples = res["results"], res["samples"]
    full = results["skymath_math"]

    # expected figures, computed from the data and the decisions alone
    def frac(sel):
        sel = list(sel)
        return sum(_decision(build_prompt(r["problem"])) == "right" for r in sel) / len(sel)

    assert full["sample_len"] == 5000
    assert full["strict,none"] == pytest.approx(frac(rows), abs=1e-12)
    assert full["no_answer_rate,none"] == pytest.approx(
        sum(_decision(build_prompt(r["problem"])) == "none" for r in rows) / len(rows), abs=1e-12
    )
    # responses carry "The answer is: " so MetaMath's criterion agrees with strict here
    assert full["metamath,none"] == pytest.approx(frac(rows), abs=1e-12)
    logged = samples["skymath_math"]
    assert len(logged) == 5000
    for k in range(1, 6):
        level_rows = [r for r in rows if r["level"] == k]
        expected = frac(level_rows)
        assert full[f"acc_level_{k},none"] == pytest.approx(expected, abs=1e-12)
        # and the same figure counted from lm-eval's own per-sample logs
        at = [s for s in logged if s["doc"]["level"] == k]
        assert len(at) == len(level_rows)
        assert full[f"acc_level_{k},none"] == pytest.approx(sum(s["strict"] for s in at) / len(at), abs=1e-12)
    for subject in SUBJECTS:
        subject_rows = [r for r in rows if r["subject"] == subject]
        assert full[f"acc_{subject},none"] == pytest.approx(frac(subject_rows), abs=1e-12)
        # the single-subject task: plain accuracy of that subject's documents, the same number
        alone = results[f"skymath_math_{subject}"]
        assert alone["sample_len"] == len(subject_rows)
        assert alone["strict,none"] == pytest.approx(full[f"acc_{subject},none"], abs=1e-12)
        for k in range(1, 6):
            in_both = [r for r in subject_rows if r["level"] == k]
            assert alone[f"acc_level_{k},none"] == (pytest.approx(frac(in_both), abs=1e-12) if in_both else None)
    # grading details are in the per-sample logs
    s0 = logged[0]
    assert set(s0["doc"]["skymath"]) == {"strict", "flexible", "metamath"}
    assert {"extracted", "tier", "correct"} <= set(s0["doc"]["skymath"]["strict"])


def test_levels_absent_from_a_limited_run_are_null_not_nan_or_zero(task_manager) -> None:
    from skymath_tasks.data import load_math500

    gold = {build_prompt(r["problem"]): r["gold"] for r in load_math500()}
    rows = load_math500()[:3]
    res = _evaluate(ReplayLM(lambda p: "The answer is " + gold[p]), ["skymath_math500"], task_manager, limit=3)
    r = res["results"]["skymath_math500"]
    assert r["strict,none"] == 1.0
    present = {row["level"] for row in rows}
    assert all(r[f"acc_level_{k},none"] == 1.0 for k in present)
    assert all(r[f"acc_level_{k},none"] is None for k in set(range(1, 6)) - present)
    # results stay valid JSON for a strict parser (no bare NaN)
    text = json.dumps(res["results"], default=str)

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    json.loads(text, parse_constant=refuse)


def test_num_fewshot_draws_full_solutions_from_the_train_split(task_manager, shared_data) -> None:
    """--num_fewshot 2: two MATH *train* problems with their full solutions ending "The answer is X",
    each in the Alpaca template, before the zero-shot prompt of the test problem."""
    from skymath_tasks.data import load_math

    test = load_math("algebra")
    train = {r["problem"]: r for r in load_math("algebra", "train", skip_without_gold=True)}
    lm = ReplayLM(lambda p: "The answer is 0")
    _evaluate(lm, ["skymath_math_algebra"], task_manager, limit=2, num_fewshot=2)
    for prompt, doc in zip(lm.prompts, test[:2]):
        assert prompt.endswith(build_prompt(doc["problem"]))
        shots = prompt[: -len(build_prompt(doc["problem"]))].split("\n\nBelow is an instruction")
        assert len(shots) == 2
        for shot in shots:
            problem = shot.split("### Instruction:\n", 1)[1].split("\n\n### Response:", 1)[0]
            assert problem in train, "a shot that is not a MATH train problem"
            assert shot.rstrip().endswith(f"The answer is {train[problem]['gold']}")
            assert train[problem]["solution"].strip() in shot


def test_num_fewshot_is_refused_where_there_is_no_training_split(task_manager) -> None:
    from skymath_tasks.task_hooks import FewshotUnavailable

    with pytest.raises(FewshotUnavailable, match="skymath_mgsm_zh.*zero-shot only"):
        _evaluate(ReplayLM(lambda p: "The answer is 0"), ["skymath_mgsm_zh"], task_manager, limit=1, num_fewshot=3)


def test_every_task_reports_exactly_the_metrics_of_skymath_tasks_metrics(task_manager) -> None:
    """The YAML metric lists (which lm-eval needs) agree with the one definition in skymath_tasks.metrics,
    direction of "better" included; counts are not among them."""
    from skymath_tasks.benchmarks import TASKS
    from skymath_tasks.metrics import HIGHER_IS_BETTER, metric_names

    names = [t for t, td in TASKS.items() if td.benchmark != "math_zh"]  # MATH-zh needs a translation
    loaded = task_manager.load(names)["tasks"]
    for name in names:
        td = TASKS[name]
        expected = {m: HIGHER_IS_BETTER[m] for m in metric_names(td.answer_type, td.by_subject)}
        assert loaded[name].higher_is_better() == expected, name
