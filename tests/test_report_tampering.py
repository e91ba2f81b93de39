"""An adversarial submitter against ``skymath-report verify``: every forgery of issue 17 fails.

Each case starts from a real lm-eval run (the replay model of tests/helpers, a known mix of right and
wrong answers, saved exactly as ``lm_eval --output_path --log_samples`` saves it), made into a
submission by ``skymath-report submit``, then tampered with the way a submitter who wants a better
score would: every number they can recompute is recomputed with SkyMath's own functions and every
hash is patched, so only the check under test can catch it. Each must make ``verify`` exit 1 with a
one-line reason. The oracles are the edits themselves (which document, which field), not the
verifier's output.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.forge import load_json, reseal, restate, results_json, sample_rows, save_json, write_rows
from tests.test_report_tables import make_run

lm_eval = pytest.importorskip("lm_eval")

MODEL_ARGS = "pretrained=org/tamper-model,revision=r1,dtype=bfloat16"
LIMIT = 20


# ------------------------------------------------------------------------------------------ fixtures
def _submit(out: Path, subs: Path, data_dir: Path) -> Path:
    from skymath_tasks.report.cli import main

    assert main(["submit", str(out), "--output-dir", str(subs), "--data-dir", str(data_dir)]) == 0
    (sub,) = subs.glob("*.submission.json")
    return sub


@pytest.fixture(autouse=True)
def _quiet_submit(capsys):
    """What ``submit`` printed in a fixture is not part of the verdict a test reads."""
    capsys.readouterr()


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory) -> Path:
    """A partial submission: skymath_demo complete (10 documents), skymath_gsm8k with --limit 20."""
    root = tmp_path_factory.mktemp("tamper")
    make_run(root / "out", seed="T", model_args=MODEL_ARGS, data_dir=shared_data, limit=None, tasks=["skymath_demo"])
    make_run(root / "out", seed="T", model_args=MODEL_ARGS, data_dir=shared_data, limit=LIMIT, tasks=["skymath_gsm8k"])
    return _submit(root / "out", root / "subs", shared_data)


@pytest.fixture
def sub(built, tmp_path) -> Path:
    """A private copy of the submission and its bundle (the tests tamper with it)."""
    shutil.copytree(built.parent, tmp_path / "subs")
    return tmp_path / "subs" / built.name


@pytest.fixture
def no_env_data(monkeypatch):
    monkeypatch.delenv("SKYMATH_DATA_DIR", raising=False)


def verify_cli(sub_path: Path, capsys, *args: str) -> tuple[int, list[str]]:
    """``skymath-report verify``: (exit code, the ERROR lines)."""
    from skymath_tasks.report.cli import main

    rc = main(["verify", str(sub_path), *args])
    out = capsys.readouterr().out
    return rc, [line.strip()[len("ERROR: "):] for line in out.splitlines() if line.strip().startswith("ERROR: ")]


def _one_wrong(rows: list[dict]) -> dict:
    return next(r for r in rows if not r["doc"]["skymath"]["strict"]["correct"] and 3 <= r["doc_id"] < LIMIT - 3)


# ------------------------------------------------------------------------------------------ honest
def test_the_honest_partial_submission_verifies_as_partial(built, shared_data, capsys) -> None:
    rc, errors = verify_cli(built, capsys, "--data-dir", str(shared_data))
    assert rc == 0 and errors == []
    from skymath_tasks.report.cli import main

    assert main(["verify", str(built), "--data-dir", str(shared_data), "--require-complete"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("PARTIAL: ") and "not a leaderboard entry" in out


def test_a_complete_submission_verifies_ok(shared_data, tmp_path, capsys) -> None:
    make_run(tmp_path / "out", seed="C", model_args=MODEL_ARGS, data_dir=shared_data, limit=None, tasks=["skymath_demo"])
    sub = _submit(tmp_path / "out", tmp_path / "subs", shared_data)
    capsys.readouterr()
    assert load_json(sub)["status"] == "complete"
    from skymath_tasks.report.cli import main

    assert main(["verify", str(sub), "--data-dir", str(shared_data), "--require-complete"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


# ------------------------------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def edited_data_run(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """A run on the submitter's own data copy whose first 20 GSM8K golds were changed to the replay
    model's wrong answer (987654321): its wrong answers now score. Returns (submission, edited folder)."""
    root = tmp_path_factory.mktemp("edited_data")
    data = root / "data"
    (data / "gsm8k").mkdir(parents=True)
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    for i in range(LIMIT):
        row = json.loads(lines[i])
        row["answer"] = row["answer"].rsplit("####", 1)[0] + "#### 987654321"
        lines[i] = json.dumps(row) + "\n"
    (data / "gsm8k" / "test.jsonl").write_text("".join(lines), encoding="utf-8")
    for rel in ("math/test.jsonl", "math/math500_test.jsonl"):  # the replay model's answer key reads them
        (data / rel).parent.mkdir(exist_ok=True)
        os.symlink(shared_data / rel, data / rel)
    make_run(root / "out", seed="T", model_args=MODEL_ARGS, data_dir=data, limit=LIMIT, tasks=["skymath_gsm8k"])
    return _submit(root / "out", root / "subs", data), data


def test_golds_edited_in_the_submitters_data_copy_are_rejected_without_data_dir(edited_data_run, no_env_data,
                                                                               capsys) -> None:
    sub, _ = edited_data_run
    rows = sample_rows(sub, "skymath_gsm8k")[1]
    assert sum(r["doc"]["skymath"]["strict"]["correct"] for r in rows) > LIMIT // 2  # the edit paid off
    rc, errors = verify_cli(sub, capsys)
    assert rc == 1
    assert len(errors) == 1, errors
    assert errors[0].startswith("task skymath_gsm8k: ran on gsm8k/test.jsonl with sha256 ")
    assert "but the official GSM8K test is 3730d312f6e34405" in errors[0]


def test_a_recorded_data_folder_is_not_part_of_a_submission(edited_data_run, no_env_data, tmp_path, capsys) -> None:
    """The old format's ``data_dir`` (the submitter's folder, which the verifier used to open) is refused."""
    sub, data = edited_data_run
    shutil.copytree(sub.parent, tmp_path / "s")
    path = tmp_path / "s" / sub.name
    d = load_json(path)
    d["data"]["data_dir"] = str(data)
    save_json(path, d)
    rc, errors = verify_cli(path, capsys)
    assert rc == 1 and any("schema: at data" in e and "'data_dir' was unexpected" in e for e in errors), errors


def test_a_verifier_pointed_at_the_edited_copy_refuses_it(edited_data_run, capsys) -> None:
    sub, data = edited_data_run
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(data))
    assert rc == 1
    assert any(e.startswith(f"your data copy {data / 'gsm8k' / 'test.jsonl'} has sha256 ") for e in errors), errors


def test_a_removed_data_pin_is_rejected(sub, shared_data, capsys) -> None:
    d = load_json(sub)
    d["data"]["files"] = [f for f in d["data"]["files"] if f["path"] != "gsm8k/test.jsonl"]
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert errors == ["task skymath_gsm8k: no data pin recorded for it (data.files gsm8k/test.jsonl or data.hub): the "
                      "data it ran on cannot be checked"]


def test_an_unknown_extra_task_with_copied_samples_is_rejected(sub, shared_data, capsys) -> None:
    d = load_json(sub)
    extra = json.loads(json.dumps(d["tasks"]["skymath_gsm8k"]))
    src = sub.parent / extra["samples"]["path"]
    copy = src.with_name(src.name.replace("skymath_gsm8k", "skymath_gsm8k_extra"))
    shutil.copyfile(src, copy)
    extra["samples"]["path"] = str(Path(extra["samples"]["path"]).with_name(copy.name))
    d["tasks"]["skymath_gsm8k_extra"] = extra
    next(f for f in d["data"]["files"] if f["path"] == "gsm8k/test.jsonl")["tasks"].append("skymath_gsm8k_extra")
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert "task skymath_gsm8k_extra: not a SkyMath task known to this verifier: it cannot be re-graded or pinned" in errors


# ------------------------------------------------------------------------------------------ samples
def test_a_sample_dropped_from_the_middle_with_limit_and_hashes_updated_is_rejected(sub, shared_data, capsys) -> None:
    f, rows = sample_rows(sub, "skymath_gsm8k")
    dropped = _one_wrong(rows)
    write_rows(f, [r for r in rows if r is not dropped])
    rf, res = results_json(sub, "skymath_gsm8k")
    res["config"]["limit"] = LIMIT - 1
    rf.write_text(json.dumps(res), encoding="utf-8")
    d = load_json(sub)
    d["tasks"]["skymath_gsm8k"]["limit"] = d["generation"]["per_task"]["skymath_gsm8k"]["limit"] = LIMIT - 1
    save_json(sub, d)
    restate(sub, "skymath_gsm8k")  # metrics now those of the 19 kept samples, everywhere
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert errors == [f"task skymath_gsm8k: a --limit {LIMIT - 1} run evaluates doc_ids 0..{LIMIT - 2}, but "
                      f"{f.name} lacks [{dropped['doc_id']}] and has [{LIMIT - 1}]: samples were dropped or picked"]


def test_verdicts_edited_under_the_same_grader_version_are_rejected(sub, shared_data, capsys) -> None:
    f, rows = sample_rows(sub, "skymath_gsm8k")
    target = _one_wrong(rows)
    target["strict"] = 1.0
    target["doc"]["skymath"]["strict"]["correct"] = True
    write_rows(f, rows)
    reseal(sub)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert len(errors) == 1 and errors[0].startswith(
        f"task skymath_gsm8k: 1 sample(s) graded differently (strict) than their log says, doc_id(s) [{target['doc_id']}]")
    assert errors[0].endswith("the per-sample verdicts were edited")


def test_verdict_drift_under_another_grader_version_is_only_a_warning(sub, shared_data) -> None:
    from skymath_tasks.report.verify import verify_submission

    f, rows = sample_rows(sub, "skymath_gsm8k")
    target = _one_wrong(rows)
    target["strict"] = 1.0
    write_rows(f, rows)
    d = reseal(sub)
    d["versions"]["skymath"] = "0.0.1"
    save_json(sub, d)
    report = verify_submission(sub, data_dir=shared_data)
    assert report.ok, report.render()
    assert any("graded differently (strict)" in w and "SkyMath 0.0.1" in w for w in report.warnings)


def test_filtered_resps_that_are_not_the_filtered_resps_are_rejected(sub, shared_data, capsys) -> None:
    f, rows = sample_rows(sub, "skymath_gsm8k")
    target = _one_wrong(rows)
    raw = target["resps"]
    target["filtered_resps"] = [f"The answer is: {target['doc']['gold']}"]
    write_rows(f, rows)
    restate(sub, "skymath_gsm8k")  # metrics, verdicts and lm-eval's results all agree with the edit
    assert sample_rows(sub, "skymath_gsm8k")[1][rows.index(target)]["resps"] == raw
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert errors == [f"task skymath_gsm8k: filtered_resps of doc_id(s) [{target['doc_id']}] are not what the task's "
                      "filters make of their resps: the graded responses were edited"]


def test_a_metric_edited_in_lm_evals_results_json_is_rejected(sub, shared_data, capsys) -> None:
    rf, res = results_json(sub, "skymath_gsm8k")
    true = res["results"]["skymath_gsm8k"]["strict,none"]
    res["results"]["skymath_gsm8k"]["strict,none"] = true + 0.25
    rf.write_text(json.dumps(res, indent=2), encoding="utf-8")
    reseal(sub)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert len(errors) == 1 and errors[0].startswith(
        f"task skymath_gsm8k: metric strict = {true + 0.25:.6f} in lm-eval's {rf.name}, but {true:.6f} re-graded")


def test_submit_refuses_an_edited_results_json(shared_data, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    run = make_run(tmp_path / "out", seed="T", model_args=MODEL_ARGS, data_dir=shared_data, limit=6,
                   tasks=["skymath_gsm8k"])
    (rf,) = run.glob("results_*.json")
    res = json.loads(rf.read_text(encoding="utf-8"))
    res["results"]["skymath_gsm8k"]["flexible,none"] = 1.0
    rf.write_text(json.dumps(res), encoding="utf-8")
    assert main(["submit", str(tmp_path / "out"), "--output-dir", str(tmp_path / "subs"), "--data-dir", str(shared_data)]) == 2
    err = capsys.readouterr().err
    assert f"{rf.name}: task skymath_gsm8k metric flexible = 1.000000, but its per-sample log" in err
    assert "the results file was edited" in err and not list((tmp_path / "subs").glob("*.json"))


# ------------------------------------------------------------------------------------------ paths
def test_absolute_paths_are_rejected(sub, shared_data, capsys) -> None:
    d = load_json(sub)
    t = d["tasks"]["skymath_gsm8k"]
    t["samples"]["path"] = str((sub.parent / t["samples"]["path"]).resolve())  # the right file, by absolute path
    d["results_files"][0]["path"] = str((sub.parent / d["results_files"][0]["path"]).resolve())
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert any(e.startswith("task skymath_gsm8k: samples path '/") and "is absolute" in e for e in errors), errors
    assert any(e.startswith("results_files[0].path '/") and "is absolute" in e for e in errors), errors


def test_paths_leaving_the_submission_folder_are_never_opened(sub, shared_data, tmp_path, capsys) -> None:
    d = load_json(sub)
    t = d["tasks"]["skymath_gsm8k"]
    outside = tmp_path / "outside.jsonl"
    shutil.copyfile(sub.parent / t["samples"]["path"], outside)
    t["samples"]["path"] = "../outside.jsonl"
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1 and any("samples path '../outside.jsonl' is leaves the submission's folder" in e for e in errors), errors
    # a symlink inside the bundle pointing outside is not followed either
    t["samples"]["path"] = str(Path(t["samples"]["path"]).with_name("link.jsonl"))
    link = sub.parent / Path(d["tasks"]["skymath_demo"]["samples"]["path"]).parent / "link.jsonl"
    link.symlink_to(outside)
    t["samples"]["path"] = f"{link.parent.name}/link.jsonl"
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1 and any(e.startswith("task skymath_gsm8k: per-sample log") and "not found in the submission's folder" in e
                           for e in errors), errors


def test_a_local_model_path_is_recorded_by_its_name_only(sub, shared_data, capsys) -> None:
    d = load_json(sub)
    d["model"]["id"] = "/home/someone/models/secret-ckpt"
    save_json(sub, d)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1 and any(e.startswith("model id '/home/someone/models/secret-ckpt' is an absolute local path") for e in errors)


# ------------------------------------------------------------------------------------------ bad input
def test_a_samples_file_that_is_not_utf8_fails_with_file_and_line(sub, shared_data, capsys) -> None:
    f, _ = sample_rows(sub, "skymath_gsm8k")
    lines = f.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"Step", b"St\xff\xfep", 1)
    f.write_bytes(b"".join(lines))
    reseal(sub)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert errors == [f"task skymath_gsm8k: {f}:3: not valid UTF-8 (byte 0xff)"]


def test_submit_reports_a_non_utf8_log_with_file_and_line(shared_data, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    run = make_run(tmp_path / "out", seed="T", model_args=MODEL_ARGS, data_dir=shared_data, limit=4,
                   tasks=["skymath_gsm8k"])
    (f,) = run.glob("samples_skymath_gsm8k_*.jsonl")
    f.write_bytes(f.read_bytes() + b'{"doc_id": 9, "doc": {"q": "\xc3\x28"}, "filtered_resps": []}\n')
    assert main(["submit", str(tmp_path / "out"), "--output-dir", str(tmp_path / "subs")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"skymath-report: error: {f}:5: not valid UTF-8 (byte 0xc3)"
    assert "Traceback" not in err


def test_a_50_mb_field_is_never_printed(sub, shared_data, capsys) -> None:
    big = "9" * (50 << 20)
    d = load_json(sub)
    d["model"]["label"] = big
    d["tasks"]["skymath_gsm8k"]["metrics"]["strict"] = "7" * 5000
    save_json(sub, d)
    from skymath_tasks.report.cli import main

    assert main(["verify", str(sub), "--data-dir", str(shared_data)]) == 1
    out = capsys.readouterr().out
    assert len(out) < 5000 and out.count("\n") < 40, len(out)
    assert "schema: at model/label" in out and "(52428" in out  # clipped, with the original length
    assert "schema: at tasks/skymath_gsm8k/metrics/strict" in out


def test_a_50_mb_value_in_a_logged_document_is_never_printed(sub, shared_data, capsys) -> None:
    f, rows = sample_rows(sub, "skymath_gsm8k")
    rows[4]["doc"]["question"] = "x" * (50 << 20)
    rows[5]["doc"]["x" * (1 << 20)] = 1  # a megabyte-long field name
    write_rows(f, rows)
    reseal(sub)
    from skymath_tasks.report.cli import main

    assert main(["verify", str(sub), "--data-dir", str(shared_data)]) == 1
    out = capsys.readouterr().out
    assert len(out) < 5000, len(out)
    assert "logged document(s) differ from the official data: doc_id 4 (field question); 5 (field xxxxxxxxx" in out


def test_a_prompt_other_than_the_tasks_is_rejected(sub, shared_data, capsys) -> None:
    """Answers obtained with a hint in the prompt: the logged documents and numbers are all genuine."""
    f, rows = sample_rows(sub, "skymath_gsm8k")
    target = rows[6]
    target["arguments"]["gen_args_0"]["arg_0"] += f" (Hint: the answer is {target['doc']['gold']}.)"
    write_rows(f, rows)
    reseal(sub)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert errors == [f"task skymath_gsm8k: doc_id(s) [{target['doc_id']}] were prompted with another text than the "
                      "task's prompt for that document"]


def test_sampled_decoding_is_rejected(sub, shared_data, capsys) -> None:
    f, rows = sample_rows(sub, "skymath_gsm8k")
    for r in rows:
        r["arguments"]["gen_args_0"]["arg_1"].update(do_sample=True, temperature=0.7)
    write_rows(f, rows)
    rf, res = results_json(sub, "skymath_gsm8k")
    res["configs"]["skymath_gsm8k"]["generation_kwargs"].update(do_sample=True, temperature=0.7)
    rf.write_text(json.dumps(res), encoding="utf-8")
    d = load_json(sub)
    d["generation"]["per_task"]["skymath_gsm8k"]["generation_kwargs"].update(do_sample=True, temperature=0.7)
    save_json(sub, d)
    reseal(sub)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1
    assert len(errors) == 1 and errors[0].startswith("task skymath_gsm8k: doc_id(s) [0, 1, 2") and "sampling" in errors[0]


def test_moved_bundle_files_are_found_with_samples_dir(sub, shared_data, tmp_path, capsys) -> None:
    """The verifier may name where the bundle's files are now (looked up by file name, hashes still checked)."""
    moved = tmp_path / "moved"
    bundle = sub.parent / load_json(sub)["results_files"][0]["path"].split("/")[0]
    shutil.move(str(bundle), moved)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data))
    assert rc == 1 and any("not found in the submission's folder (pass --samples-dir if it moved)" in e for e in errors)
    rc, errors = verify_cli(sub, capsys, "--data-dir", str(shared_data), "--samples-dir", str(moved))
    assert rc == 0 and errors == []
