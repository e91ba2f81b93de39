"""Contamination probes: the documents, the statistics, and the lm-eval tasks end to end with scripted models.

Oracles: hand-computed n-gram accuracies and Min-K% means on small inputs; string identities for the
requests (context + continuation rebuild the text); scripted models whose behaviour fixes the answer
(a model that knows nothing about any item has gap exactly 0; one that reproduces a known half of the
items is flagged, the other half not); the report's column and summary checked against the results
file lm-eval wrote.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from pathlib import Path

import pytest

from skymath_tasks.leakage_probes import (
    AGGREGATIONS,
    MIN_K,
    PROBE_TASKS,
    READINGS,
    GapStats,
    ProbePair,
    Unit,
    bootstrap_interval,
    gap_stats,
    load_pairs,
    pair_scores,
    reading,
    text_scores,
    unit_documents,
    words,
)

lm_eval = pytest.importorskip("lm_eval")
from lm_eval.api.model import LM  # noqa: E402

# ----------------------------------------------------------------------------------------- documents
TEXT_A = "Ann has 12 red pens and 30 blue pens.\nShe gives away 5 pens, so she has 12 + 30 - 5 = 37 pens.\n#### 37"
TEXT_B = "Ann has 14 red pens and 20 blue pens.\nShe gives away 5 pens, so she has 14 + 20 - 5 = 29 pens.\n#### 29"


@pytest.mark.parametrize("unit_words", [1, 5])
def test_requests_rebuild_the_text_exactly(unit_words: int) -> None:
    docs = unit_documents([ProbePair(0, "a", TEXT_A, TEXT_B, "problem+solution")], unit_words)
    for set_name, text in (("test", TEXT_A), ("reference", TEXT_B)):
        mine = [d for d in docs if d["set"] == set_name]
        n_words = len(text.split())
        assert sum(d["words"] for d in mine) == n_words - 1  # the first word is context only
        assert {d["units"] for d in mine} == {len(mine)}
        for d in mine:
            assert text.startswith(d["context"] + d["continuation"])
            assert not d["context"][-1:].isspace() and d["continuation"][:1].isspace()
            assert len(d["continuation"].split()) == d["words"] <= unit_words
        assert mine[-1]["context"] + mine[-1]["continuation"] == text
    with pytest.raises(ValueError, match="must divide"):
        unit_documents([], 3)


def test_words_keep_their_whitespace() -> None:
    assert "".join(words(TEXT_A)) == TEXT_A
    assert words("a  b\nc") == ["a", "  b", "\nc"]


# ----------------------------------------------------------------------------------------- statistics
def _units(flags: str, lls: list[float] | None = None, size: int = 1) -> list[Unit]:
    lls = lls or [-1.0] * len(flags)
    return [Unit(size, ll, f == "1") for f, ll in zip(flags, lls)]


def test_ngram_accuracy_by_hand() -> None:
    # 12 one-word units -> 5-grams at words 1-5, 6-10 (11-12 is no 5-gram)
    assert text_scores(_units("111111111100")).ngram == 1.0
    assert text_scores(_units("111101111100")).ngram == 0.5
    assert text_scores(_units("011110111100")).ngram == 0.0
    # 5-word units: each unit is one 5-gram; a short last unit is none
    units = [Unit(5, -1, True), Unit(5, -1, False), Unit(5, -1, True), Unit(2, -1, False)]
    assert text_scores(units).ngram == pytest.approx(2 / 3)
    assert text_scores(_units("1111")).ngram is None  # shorter than one 5-gram


def test_min_k_by_hand() -> None:
    lls = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0]
    assert MIN_K == 0.2
    assert text_scores(_units("0" * 10, lls)).mink == pytest.approx(-9.5)  # mean of the 2 lowest
    assert text_scores(_units("0" * 3, [-1.0, -4.0, -2.0])).mink == pytest.approx(-4.0)  # at least one
    # per word: a 5-word unit of -10 is -2 a word
    assert text_scores([Unit(5, -10.0, False), Unit(5, -5.0, False)]).mink == pytest.approx(-2.0)


def _values(pair: int, s: int, units: list[Unit]) -> list[list]:
    return [[pair, s, j, len(units), u.words, u.ll, int(u.greedy)] for j, u in enumerate(units)]


def test_pairs_regroup_in_any_order_and_incomplete_texts_are_dropped() -> None:
    values = (_values(0, 0, _units("1111111111")) + _values(0, 1, _units("0000011111"))
              + _values(1, 0, _units("1111100000")) + _values(1, 1, _units("1111100000"))
              + _values(2, 0, _units("1111111111")) + _values(2, 1, _units("00000"))[:-1])  # pair 2 cut short
    random.Random(0).shuffle(values)
    pairs = pair_scores(values)
    assert [p.pair for p in pairs] == [0, 1]
    assert [p.diff("ngram") for p in pairs] == [0.5, 0.0]
    stats = gap_stats(pairs, "ngram")
    assert (stats.gap, stats.test, stats.reference, stats.n) == (0.25, 0.75, 0.5, 2)
    assert AGGREGATIONS["ngram_gap"](values) == 0.25 and AGGREGATIONS["pairs"](values) == 2


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    rng = random.Random(1)
    diffs = [rng.gauss(0.3, 1.0) for _ in range(200)]
    lo, hi = bootstrap_interval(diffs)
    mean = sum(diffs) / len(diffs)
    assert (lo, hi) == bootstrap_interval(diffs)
    assert lo < mean < hi
    se = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)) ** 0.5
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)  # the normal-theory width
    assert bootstrap_interval([0.2] * 30) == pytest.approx((0.2, 0.2))
    assert bootstrap_interval([]) == (None, None)


def test_readings() -> None:
    def r(lo: float | None) -> str:
        return reading(GapStats("ngram", 0.1, lo, 0.2, 0.5, 0.4, 100))

    assert [r(None), r(-0.05), r(0.0), r(0.009), r(0.01), r(0.049), r(0.05), r(0.3)] == [
        READINGS[0], READINGS[0], READINGS[0], READINGS[0], READINGS[1], READINGS[1], READINGS[2], READINGS[2]]


# ----------------------------------------------------------------------------------------- lm-eval end to end
class ScriptedLM(LM):
    """loglikelihood from a rule on the request strings (no model)."""

    def __init__(self, rule) -> None:
        super().__init__()
        self.rule = rule
        self.requests: list[tuple[str, str]] = []

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        out = []
        for req in requests:
            self.requests.append(req.args)
            out.append(self.rule(*req.args))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the probe tasks send loglikelihood requests only")

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the probe tasks send loglikelihood requests only")


def _noise(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


def _run(lm, task: str, tmp_path: Path, metadata: dict | None = None) -> dict:
    """simple_evaluate + the files ``lm_eval --output_path tmp_path --log_samples`` writes."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    import skymath_tasks

    tm = TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False, metadata=metadata or {})
    tracker = EvaluationTracker(output_path=str(tmp_path))
    res = simple_evaluate(model=lm, tasks=[task], task_manager=tm, bootstrap_iters=0, log_samples=True,
                          evaluation_tracker=tracker)
    res["config"]["model_args"] = "pretrained=org/scripted"
    res["config"]["model"] = "hf"
    tracker.general_config_tracker.model_name = "org/scripted"
    tracker.general_config_tracker.model_name_sanitized = "org__scripted"
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    for name in res["configs"]:
        tracker.save_results_samples(task_name=name, samples=samples[name])
    res["samples"] = samples
    return res


def test_a_model_that_knows_no_item_shows_no_gap(tmp_path: Path) -> None:
    # a twin has the same words as its item except the numbers, so a rule that sees each number only
    # as "a number" cannot tell them apart: the gap is exactly 0
    def shape_rule(context: str, continuation: str):
        shape = re.sub(r"[\d,.]*\d", "9", continuation)
        return -len(shape) * (1 + _noise(shape)), _noise(shape + "g") < 0.4

    res = _run(ScriptedLM(shape_rule), "skymath_contam_demo", tmp_path)
    r = res["results"]["skymath_contam_demo"]
    assert r["pairs,none"] == 10
    assert r["ngram_gap,none"] == 0.0 and r["mink_gap,none"] == pytest.approx(0.0, abs=1e-9)
    assert r["ngram_gap_lo,none"] <= 0.0 <= r["ngram_gap_hi,none"]


def test_a_model_that_memorised_half_the_items_is_flagged_on_that_half(tmp_path: Path) -> None:
    pairs = load_pairs("skymath_contam_demo")
    planted = {p.test_text for p in pairs if p.pair % 2 == 0}
    twins = {p.reference_text for p in pairs}

    def memorised(context: str, continuation: str):
        seen = context + continuation
        if any(t.startswith(seen) for t in planted) and not any(t.startswith(seen) for t in twins):
            return -0.05, True  # recalled verbatim
        return -2.0 - 3 * _noise(seen), _noise(seen + "g") < 0.2

    lm = ScriptedLM(memorised)
    res = _run(lm, "skymath_contam_demo", tmp_path)
    r = res["results"]["skymath_contam_demo"]
    assert r["ngram_gap,none"] > 0.2 and r["ngram_gap_lo,none"] > 0.05
    assert r["mink_gap,none"] > 0.5
    # every request was (text so far, next unit) of a test item or of its twin
    texts = [p.test_text for p in pairs] + [p.reference_text for p in pairs]
    assert all(any(t.startswith(c + x) for t in texts) for c, x in lm.requests)
    # the per-item differences separate the planted half from the rest
    values = [s["ngram_gap"] for s in res["samples"]["skymath_contam_demo"]]
    by_pair = {p.pair: p.diff("mink") for p in pair_scores(values)}
    assert min(by_pair[i] for i in range(0, 10, 2)) > max(by_pair[i] for i in range(1, 10, 2))

    from skymath_tasks.report.cli import main
    from skymath_tasks.report.contamination import probe_summary

    summary = probe_summary(tmp_path)
    assert set(summary) == {"gap", "interval", "reading", "n_items", "method"}
    assert summary["gap"] == pytest.approx(r["ngram_gap,none"]) and summary["n_items"] == 10
    assert summary["interval"] == pytest.approx([r["ngram_gap_lo,none"], r["ngram_gap_hi,none"]])
    assert summary["reading"] in READINGS[1:] and "5-gram" in summary["method"]
    assert probe_summary(tmp_path, model="someone/else") is None

    # a GSM8K score of the same model in the same folder: table 1 gets the column
    (tmp_path / "org__scripted" / "results_2000-01-01T00-00-00.json").write_text(json.dumps({
        "results": {"skymath_gsm8k": {"strict,none": 0.5, "metamath,none": 0.5, "flexible,none": 0.5}},
        "n-samples": {"skymath_gsm8k": {"original": 1319, "effective": 1319}},
        "config": {"model": "hf", "model_args": "pretrained=org/scripted"}}), encoding="utf-8")
    out = tmp_path / "report"
    assert main(["tables", str(tmp_path), "--output-dir", str(out)]) == 0
    from skymath_tasks.report.tables import PROBE_COLUMN

    with open(out / "table1_gsm8k_math.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ours = [row for row in rows if row["source"] == "ours"]
    assert len(ours) == 1 and ours[0]["GSM8K (%)"] == "50.0000"
    cell = ours[0][PROBE_COLUMN]
    assert cell.startswith(summary["reading"] + ": ") and "GSM8K" not in cell and "n=10" in cell
    assert f"{100 * summary['interval'][0]:+.1f}" in cell and f"{100 * summary['interval'][1]:+.1f}" in cell
    assert all(row[PROBE_COLUMN] == "" for row in rows if row["source"] != "ours")
    table = (out / "contamination_probes.md").read_text(encoding="utf-8")
    assert "skymath_contam_demo" in table and summary["reading"] in table
    assert f"+{100 * r['ngram_gap,none']:.1f} [" in table
    gap_csv = (out / "criteria_gap.csv").read_text(encoding="utf-8")
    assert "skymath_contam_demo" not in gap_csv  # probes grade nothing


def test_no_probe_run_no_summary(tmp_path: Path) -> None:
    from skymath_tasks.report.contamination import probe_summary

    run = tmp_path / "m"
    run.mkdir()
    (run / "results_2026-01-01T00-00-00.json").write_text(json.dumps(
        {"results": {"skymath_gsm8k": {"strict,none": 0.5}}, "config": {"model": "hf", "model_args": "pretrained=x"}}))
    assert probe_summary(tmp_path) is None


def test_max_items_and_unit_words_reach_the_dataset(tmp_path: Path) -> None:
    lm = ScriptedLM(lambda c, x: (-1.0, False))
    res = _run(lm, "skymath_contam_demo", tmp_path, metadata={"max_items": 3, "unit_words": 1})
    assert res["results"]["skymath_contam_demo"]["pairs,none"] == 3
    assert all(len(x.split()) == 1 for _, x in lm.requests)


def test_every_probe_task_has_its_yaml() -> None:
    """(tests/test_tasks_cli.py runs ``lm_eval validate`` on them with every other task.)"""
    import skymath_tasks

    folder = Path(skymath_tasks.task_dir())
    assert {p.stem for p in folder.glob("skymath_contam_*.yaml")} == set(PROBE_TASKS)


def test_gsm8k_probe_pairs(shared_data) -> None:
    pairs = load_pairs("skymath_contam_gsm8k", shared_data, max_items=60)
    assert 50 <= len(pairs) <= 60
    for p in pairs:
        assert p.test_text != p.reference_text
        assert len(p.test_text.split()) == len(p.reference_text.split())
        assert "<<" not in p.test_text and "<<" not in p.reference_text
        if p.part == "problem+solution":
            assert "\n#### " in p.test_text and "\n#### " in p.reference_text
    assert sum(p.part == "problem+solution" for p in pairs) >= 0.6 * len(pairs)


def test_probe_runs_reach_the_submission_and_never_count_as_scores(shared_data, tmp_path: Path, capsys) -> None:
    """``submit --contamination-summary PROBE_RUN_DIR`` attaches the probe's block; a probe task inside
    the submitted runs is used the same way, and is not submitted as a score."""
    import shutil

    from skymath_tasks.report.cli import main
    from skymath_tasks.report.contamination import probe_summary
    from tests.test_report_tables import make_run

    pairs = load_pairs("skymath_contam_demo")
    planted = {p.test_text for p in pairs if p.pair % 2 == 0}

    def memorised(context: str, continuation: str):
        seen = context + continuation
        return (-0.05, True) if any(t.startswith(seen) for t in planted) else (-2.0 - 3 * _noise(seen), False)

    probe_dir = tmp_path / "probe"
    _run(ScriptedLM(memorised), "skymath_contam_demo", probe_dir)
    expected = probe_summary(probe_dir)
    assert expected is not None and expected["reading"] != READINGS[0]
    scores = tmp_path / "scores"
    make_run(scores, seed="P", model_args="pretrained=org/scripted", data_dir=shared_data, limit=None,
             tasks=["skymath_demo"])

    def submit(*extra: str) -> dict:
        out = tmp_path / f"subs{len(list(tmp_path.glob('subs*')))}"
        assert main(["submit", str(scores), "--output-dir", str(out), "--data-dir", str(shared_data), *extra]) == 0
        (path,) = out.glob("*.submission.json")
        assert main(["verify", str(path), "--data-dir", str(shared_data)]) == 0
        return json.loads(path.read_text(encoding="utf-8"))

    sub = submit("--contamination-summary", str(probe_dir))
    assert sub["contamination"] == expected and set(sub["tasks"]) == {"skymath_demo"}
    # a folder without a probe run of this model is an error, not an empty block
    assert main(["submit", str(scores), "--output-dir", str(tmp_path / "none"), "--data-dir", str(shared_data),
                 "--contamination-summary", str(scores)]) == 2
    assert "no contamination probe run" in capsys.readouterr().err

    # the probe run copied into the submitted folder (one lm_eval output path for both)
    for f in (probe_dir / "org__scripted").iterdir():
        shutil.copy(f, scores / "org__scripted" / f.name)
    sub = submit()
    assert sub["contamination"] == expected
    assert set(sub["tasks"]) == {"skymath_demo"}  # the probe task is not a score

    # the block is self-reported, but a reading edited without its numbers (or numbers that contradict
    # each other) is caught
    (path,) = (tmp_path / "subs1").glob("*.submission.json")
    for edit, reason in ((dict(reading=READINGS[0]), "reads"), (dict(gap=expected["interval"][1] + 1), "outside")):
        forged = json.loads(path.read_text(encoding="utf-8"))
        forged["contamination"].update(edit)
        path.write_text(json.dumps(forged), encoding="utf-8")
        capsys.readouterr()
        assert main(["verify", str(path), "--data-dir", str(shared_data)]) == 1
        out = capsys.readouterr().out
        assert "ERROR: contamination: " in out and reason in out, out
