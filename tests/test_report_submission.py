"""Leaderboard submissions: built from real lm-eval outputs, verified by re-grading every sample.

An honest submission verifies (a ``--limit`` run as PARTIAL); an edited metric, a dropped sample (with
or without its file hash patched to match), an edited response, a changed data hash and a schema
violation are each rejected with a message naming what is wrong. The adversarial cases of issue 17
are in tests/test_report_tampering.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_report_tables import make_run

lm_eval = pytest.importorskip("lm_eval")

MODEL_ARGS = "pretrained=org/submit-model,revision=v1.2,dtype=bfloat16"

# Nested groups like the coming ``skymath`` group: one micro-averaged over GSM8K and MATH (mixed answer
# types), and one on top of it that averages its children (not weighted by size).
_AGG = "".join(f"  - metric: {m}\n    aggregation: mean\n    weight_by_size: {{w}}\n"
               for m in ("strict", "flexible", "metamath", "no_answer_rate"))
GROUPS = {
    "skyrep_all.yaml": "group: skyrep_all\ntask:\n  - skymath_gsm8k\n  - skymath_math\naggregate_metric_list:\n"
                       + _AGG.format(w="true") + "metadata:\n  version: 1.0\n",
    "skyrep_macro.yaml": "group: skyrep_macro\ntask:\n  - skymath_demo\n  - skyrep_all\naggregate_metric_list:\n"
                         + _AGG.format(w="false") + "metadata:\n  version: 1.0\n",
}


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """(folder holding the lm-eval output and the submission, submission file)."""
    from skymath_tasks.report.cli import main

    root = tmp_path_factory.mktemp("submission")
    groups = tmp_path_factory.mktemp("groups")
    for name, text in GROUPS.items():
        (groups / name).write_text(text, encoding="utf-8")
    make_run(root / "lm_eval_out", seed="S", model_args=MODEL_ARGS, data_dir=shared_data, limit=4,
             tasks=["skyrep_macro"], include_path=groups)
    rc = main(["submit", str(root / "lm_eval_out"), "--output-dir", str(root / "subs"), "--data-dir", str(shared_data)])
    assert rc == 0
    (sub,) = (root / "subs").glob("*.submission.json")
    return root, sub


@pytest.fixture
def copy(built, tmp_path) -> tuple[Path, dict]:
    """A private copy of the run and the submission (the tests tamper with it)."""
    root, sub = built
    shutil.copytree(root, tmp_path / "c")
    path = tmp_path / "c" / "subs" / sub.name
    return path, json.loads(path.read_text(encoding="utf-8"))


def _save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _verify(path: Path, data_dir: Path):
    from skymath_tasks.report.submission import verify_submission

    return verify_submission(path, data_dir=data_dir)


def test_submission_records_model_settings_versions_data_and_samples(built, shared_data) -> None:
    from skymath_tasks.jsonl_io import file_sha256
    from skymath_tasks.report.submission import schema_errors

    _, path = built
    sub = json.loads(path.read_text(encoding="utf-8"))
    assert schema_errors(sub) == []
    assert sub["schema"] == "skymath-submission/2" and sub["status"] == "partial"
    assert {"id": "org/submit-model", "revision": "v1.2", "dtype": "bfloat16", "backend": "hf"}.items() <= sub["model"].items()
    assert "data_dir" not in sub["data"]  # no local folder of the submitter is recorded
    bundle = path.parent / path.name.removesuffix(".submission.json")
    assert sorted(r["path"] for r in sub["results_files"]) == sorted(
        f"{bundle.name}/{p.name}" for p in bundle.glob("results_*.json"))
    for r in sub["results_files"]:
        assert r["sha256"] == file_sha256(path.parent / r["path"])
    assert sub["versions"]["lm_eval"] == "0.4.13" and sub["versions"]["skymath"]
    gen = sub["generation"]["per_task"]["skymath_gsm8k"]
    assert gen["num_fewshot"] == 0 and gen["generation_kwargs"]["max_gen_toks"] == 2048
    files = {f["path"]: f for f in sub["data"]["files"]}
    assert files["gsm8k/test.jsonl"]["sha256"] == file_sha256(shared_data / "gsm8k" / "test.jsonl")
    assert files["math/test.jsonl"]["tasks"] == ["skymath_math"]
    assert "package:sample_data/demo_problems.jsonl" in files
    t = sub["tasks"]["skymath_gsm8k"]
    samples_file = path.parent / t["samples"]["path"]
    assert t["n_samples"] == t["samples"]["lines"] == 4 and t["n_total"] == 1319 and t["limit"] == 4
    assert samples_file.parent == bundle and t["results_file"].startswith(f"{bundle.name}/results_")
    assert t["samples"]["sha256"] == file_sha256(samples_file)
    assert set(t["metrics"]) == {"strict", "flexible", "metamath", "no_answer_rate"}
    m = sub["tasks"]["skymath_math"]
    assert m["n_samples"] == 4 and m["n_total"] == 5000
    assert {f"acc_level_{k}" for k in range(1, 6)} | {"acc_algebra", "acc_geometry"} <= set(m["metrics"])
    assert not any(k.startswith("n_level") for k in m["metrics"])
    assert sub["groups"]["skyrep_macro"]["subtasks"] == ["skymath_demo", "skyrep_all"]
    assert len(sub["groups"]["skyrep_macro"]["leaves"]) == 3 and sub["groups"]["skyrep_all"]["n_samples"] == 8


def test_honest_submission_verifies(built, shared_data, capsys) -> None:
    from skymath_tasks.report.cli import main

    _, path = built
    report = _verify(path, shared_data)
    assert report.ok, report.render()
    assert any("samples re-graded" in c for c in report.checked)
    assert {"group skyrep_macro: recomputed from 3 subtasks", "group skyrep_all: recomputed from 2 subtasks"} <= set(report.checked)
    assert main(["verify", str(path), "--data-dir", str(shared_data)]) == 0
    assert capsys.readouterr().out.startswith("PARTIAL: ")  # a --limit run: verified, never ranked
    assert report.status == "partial"


def test_edited_metric_is_rejected(copy, shared_data, capsys) -> None:
    from skymath_tasks.report.cli import main

    path, sub = copy
    old = sub["tasks"]["skymath_gsm8k"]["metrics"]["strict"]
    sub["tasks"]["skymath_gsm8k"]["metrics"]["strict"] = min(1.0, old + 0.25)
    _save(path, sub)
    report = _verify(path, shared_data)
    assert not report.ok
    (err,) = report.errors
    assert err.startswith("task skymath_gsm8k: metric strict =") and "re-graded from 4 samples" in err
    assert main(["verify", str(path), "--data-dir", str(shared_data)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_edited_level_and_subject_figures_are_rejected(copy, shared_data) -> None:
    path, sub = copy
    metrics = sub["tasks"]["skymath_math"]["metrics"]
    level = next(k for k in range(1, 6) if metrics[f"acc_level_{k}"] is not None)
    metrics[f"acc_level_{level}"] = 0.0 if metrics[f"acc_level_{level}"] >= 0.5 else 1.0
    metrics["acc_geometry"] = 0.5  # no geometry problem among the first 4: the true figure is null
    _save(path, sub)
    errors = _verify(path, shared_data).errors
    assert len(errors) == 2, errors
    assert any(e.startswith(f"task skymath_math: metric acc_level_{level} =") for e in errors)
    assert any(e.startswith("task skymath_math: metric acc_geometry = 0.500000") and "null re-graded" in e
               for e in errors)


def test_edited_nested_group_figures_are_rejected(copy, shared_data) -> None:
    path, sub = copy
    sub["groups"]["skyrep_macro"]["metrics"]["flexible"] += 0.01  # macro average over demo and skyrep_all
    sub["groups"]["skyrep_all"]["metrics"]["metamath"] -= 0.01  # micro average over GSM8K and MATH
    _save(path, sub)
    errors = _verify(path, shared_data).errors
    assert len(errors) == 2, errors
    assert errors[0].startswith("group skyrep_all: metric metamath =") or errors[1].startswith("group skyrep_all: metric metamath =")
    assert any(e.startswith("group skyrep_macro: metric flexible =") for e in errors)


def _drop_first_line(samples: Path) -> None:
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    samples.write_text("".join(lines[1:]), encoding="utf-8")


def test_missing_sample_is_rejected(copy, shared_data) -> None:
    path, sub = copy
    samples = path.parent / sub["tasks"]["skymath_demo"]["samples"]["path"]
    _drop_first_line(samples)
    errors = _verify(path, shared_data).errors
    assert any("per-sample log" in e and "samples changed after submission" in e for e in errors), errors
    assert any("3 samples in" in e and "n_samples is 4" in e for e in errors), errors
    assert any("a --limit 4 run evaluates doc_ids 0..3, but" in e and "lacks [0]" in e for e in errors), errors


def test_missing_sample_is_rejected_even_with_its_hash_patched(copy, shared_data) -> None:
    from skymath_tasks.jsonl_io import file_sha256

    path, sub = copy
    t = sub["tasks"]["skymath_demo"]
    samples = path.parent / t["samples"]["path"]
    _drop_first_line(samples)
    t["samples"]["sha256"] = file_sha256(samples)
    t["samples"]["lines"] = t["n_samples"] = 3
    _save(path, sub)
    errors = _verify(path, shared_data).errors
    assert any(e.startswith("task skymath_demo: a --limit 4 run evaluates doc_ids 0..3, but") and "lacks [0]" in e
               for e in errors), errors
    assert any(e == "group skyrep_macro: subtasks ['skymath_demo'] could not be checked" for e in errors), errors


def test_edited_response_with_patched_hash_is_caught_by_regrading(copy, shared_data) -> None:
    """Someone rewrites a wrong answer into the right one and re-hashes the log: the metric no longer matches."""
    from skymath_tasks.jsonl_io import file_sha256

    path, sub = copy
    t = sub["tasks"]["skymath_gsm8k"]
    samples = path.parent / t["samples"]["path"]
    rows = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    target = next(r for r in rows if not r["doc"]["skymath"]["strict"]["correct"])
    target["filtered_resps"] = [f"The answer is: {target['doc']['gold']}"]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    t["samples"]["sha256"] = file_sha256(samples)
    _save(path, sub)
    report = _verify(path, shared_data)
    assert any(e.startswith("task skymath_gsm8k: metric strict =") for e in report.errors), report.errors
    assert any(e.startswith(f"task skymath_gsm8k: filtered_resps of doc_id(s) [{target['doc_id']}] are not what")
               for e in report.errors), report.errors
    assert any("graded differently (strict)" in e and str(target["doc_id"]) in e for e in report.errors)


def test_changed_data_hash_is_rejected(copy, shared_data) -> None:
    path, sub = copy
    entry = next(f for f in sub["data"]["files"] if f["path"] == "gsm8k/test.jsonl")
    entry["sha256"] = "0" * 64
    _save(path, sub)
    (err,) = _verify(path, shared_data).errors
    assert err.startswith("task skymath_gsm8k: ran on gsm8k/test.jsonl with sha256 0000000000000000..., but the "
                          "official GSM8K test is 3730d312f6e34405")


def test_different_local_data_is_rejected(copy, shared_data, tmp_path) -> None:
    """Verifying against a data folder whose MATH test file differs (one problem edited)."""
    path, _ = copy
    other = tmp_path / "data"
    for rel in ("gsm8k/test.jsonl", "math/test.jsonl"):
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / rel, other / rel)
    with open(other / "math" / "test.jsonl", "a", encoding="utf-8") as fh:
        fh.write("\n")
    errors = _verify(path, other).errors
    assert [e.split(" has sha256")[0] for e in errors] == [f"your data copy {other / 'math' / 'test.jsonl'}"], errors


def test_schema_violation_is_reported_with_its_location(copy, shared_data) -> None:
    path, sub = copy
    del sub["tasks"]["skymath_gsm8k"]["samples"]["sha256"]
    sub["tasks"]["skymath_demo"]["metrics"]["strict"] = 1.5
    _save(path, sub)
    errors = _verify(path, shared_data).errors
    assert any("tasks/skymath_gsm8k/samples" in e and "'sha256' is a required property" in e for e in errors), errors
    assert any("tasks/skymath_demo/metrics/strict" in e for e in errors), errors


def test_submit_without_per_sample_logs_says_how_to_fix(built, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    root, _ = built
    shutil.copytree(root / "lm_eval_out", tmp_path / "out")
    for f in (tmp_path / "out").rglob("samples_skymath_demo_*.jsonl"):
        f.unlink()
    assert main(["submit", str(tmp_path / "out"), "--output-dir", str(tmp_path / "s")]) == 2
    assert "rerun lm_eval with --log_samples" in capsys.readouterr().err


def test_edited_gold_answer_in_the_log_is_caught_against_the_data(copy, shared_data) -> None:
    """Gold, target and hashes all patched to turn wrong answers right: the documents no longer match the
    data, and the re-grade (against the verifier's own gold) disagrees with the numbers."""
    from skymath_tasks.benchmarks import TASKS
    from skymath_tasks.jsonl_io import file_sha256
    from skymath_tasks.report.submission import recompute_metrics

    path, sub = copy
    t = sub["tasks"]["skymath_gsm8k"]
    samples = path.parent / t["samples"]["path"]
    rows = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    wrong = next(r for r in rows if r["doc"]["skymath"]["strict"]["extracted"] not in (None, r["doc"]["gold"]))
    wrong["doc"]["gold"] = wrong["target"] = wrong["doc"]["skymath"]["strict"]["extracted"]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    t["samples"]["sha256"] = file_sha256(samples)
    metrics, _ = recompute_metrics(rows, TASKS["skymath_gsm8k"])
    t["metrics"].update({k: metrics[k] for k in t["metrics"]})  # numbers consistent with the edited log
    _save(path, sub)
    errors = _verify(path, shared_data).errors
    assert errors[0].startswith(f"task skymath_gsm8k: logged document(s) differ from the official data: "
                                f"doc_id {wrong['doc_id']} (field gold)"), errors
    assert any(e.startswith("task skymath_gsm8k: metric strict =") and "in the submission" in e for e in errors)
