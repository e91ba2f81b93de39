"""Issue 16's bad-input matrix for ``skymath-report submit`` and ``skymath-report verify``.

Each kind of bad input (bad JSON, a missing field, a wrong type, an empty file, non-UTF-8 bytes, a row
over the byte limit) is put on line 3 of an lm-eval per-sample log. ``submit`` must stop with exit 2 and
``file:line`` (nothing written); ``verify`` reads the same damage in a submission's bundle (hashes
patched, as a forger would) and must say ``FAILED`` with ``file:line`` (exit 1: its verdict, never a
traceback). The submission JSON itself, broken the same ways, must fail with its file named. The oracle
is the edit: which file, which line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import ENV_MAX_ROW_BYTES
from tests.helpers.forge import load_json, reseal, sample_rows
from tests.test_report_tables import make_run

pytest.importorskip("lm_eval")

KINDS = ("bad_json", "missing_field", "wrong_type", "empty_file", "not_utf8", "over_limit")
LIMIT = 64 << 10  # a logged demo row is a few KB; the over-long row is made larger than this
WORDS = {"bad_json": "not valid JSON", "missing_field": "field 'doc_id': missing",
         "wrong_type": "field 'doc': expected", "empty_file": "no rows", "not_utf8": "not valid UTF-8",
         "over_limit": f"over the limit of {LIMIT} bytes"}


def _damage(path: Path, kind: str) -> int | None:
    """Damage line 3 of a JSONL file in the way ``kind`` names; the line damaged (None: the whole file)."""
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) > 4
    row = json.loads(lines[2])
    if kind == "bad_json":
        lines[2] = lines[2][: len(lines[2]) // 2] + b"\n"
    elif kind == "missing_field":
        del row["doc_id"]
        lines[2] = json.dumps(row).encode() + b"\n"
    elif kind == "wrong_type":
        row["doc"] = "a string"
        lines[2] = json.dumps(row).encode() + b"\n"
    elif kind == "empty_file":
        path.write_bytes(b"")
        return None
    elif kind == "not_utf8":
        lines[2] = lines[2].replace(b'"doc"', b'"d\xff\xfeoc"', 1)
    elif kind == "over_limit":
        row["filler"] = "9" * (LIMIT + 10)
        lines[2] = json.dumps(row).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    return 3


@pytest.fixture(scope="module")
def run_dir(shared_data, tmp_path_factory) -> Path:
    """An honest lm-eval output folder (replay model, skymath_demo: 10 documents, a complete run)."""
    out = tmp_path_factory.mktemp("badsub") / "out"
    make_run(out, seed="B", model_args="pretrained=org/bad-input", data_dir=shared_data, limit=None,
             tasks=["skymath_demo"])
    return out


@pytest.fixture(scope="module")
def submission(run_dir, shared_data, tmp_path_factory) -> Path:
    from skymath_tasks.report.cli import main

    subs = tmp_path_factory.mktemp("badsub_subs")
    assert main(["submit", str(run_dir), "--output-dir", str(subs), "--data-dir", str(shared_data)]) == 0
    (sub,) = subs.glob("*.submission.json")
    return sub


@pytest.fixture(autouse=True)
def _row_limit(monkeypatch):
    monkeypatch.setenv(ENV_MAX_ROW_BYTES, str(LIMIT))


def _said(capsys, caplog) -> tuple[str, str]:
    out = capsys.readouterr()
    return out.out, out.err + caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_submit_stops_at_the_bad_line(kind, run_dir, shared_data, tmp_path, capsys, caplog) -> None:
    from skymath_tasks.report.cli import main

    run = tmp_path / "out"
    shutil.copytree(run_dir, run)
    capsys.readouterr()
    (samples,) = run.rglob("samples_skymath_demo_*.jsonl")
    line = _damage(samples, kind)
    subs = tmp_path / "subs"
    rc = main(["submit", str(run), "--output-dir", str(subs), "--data-dir", str(shared_data)])
    out, err = _said(capsys, caplog)
    assert rc == 2, out + err
    where = f"{samples}:{line}: " if line else f"{samples}:"
    assert where in err and WORDS[kind] in err, err
    assert "Traceback" not in out + err
    assert max(len(x) for x in err.splitlines()) < 1000  # long values are cut
    assert not list(subs.glob("*.submission.json")) if subs.exists() else True


@pytest.mark.parametrize("kind", KINDS)
def test_verify_fails_at_the_bad_line_of_a_bundled_log(kind, submission, shared_data, tmp_path, capsys,
                                                        caplog) -> None:
    from skymath_tasks.report.cli import main

    shutil.copytree(submission.parent, tmp_path / "subs")
    sub = tmp_path / "subs" / submission.name
    samples, _ = sample_rows(sub, "skymath_demo")
    line = _damage(samples, kind)
    reseal(sub)  # counts and hashes patched: only reading the file can catch it
    capsys.readouterr()
    rc = main(["verify", str(sub), "--data-dir", str(shared_data)])
    out, err = _said(capsys, caplog)
    assert rc == 1, out + err
    assert out.startswith("FAILED"), out
    if line is None:  # an emptied log, its counts patched to 0: the schema refuses a task without samples
        assert "n_samples: 0 is less than the minimum of 1" in out, out
    else:
        assert f"{samples}:{line}: " in out and WORDS[kind] in out, out
    assert "Traceback" not in out + err
    assert max(len(x) for x in out.splitlines()) < 1000


SUBMISSION_DAMAGE = {
    "bad_json": lambda b: b[: len(b) // 2],
    "missing_field": lambda b: json.dumps({k: v for k, v in json.loads(b).items() if k != "tasks"}).encode(),
    "wrong_type": lambda b: json.dumps({**json.loads(b), "tasks": "a string"}).encode(),
    "empty_file": lambda b: b"",
    "not_utf8": lambda b: b.replace(b'"model"', b'"mo\xff\xfedel"', 1),
    "over_limit": lambda b: json.dumps({**json.loads(b), "filler": "9" * (LIMIT + 10)}).encode(),
}
SUBMISSION_WORDS = {"bad_json": "not valid JSON", "missing_field": "'tasks' is a required property",
                    "wrong_type": "tasks", "empty_file": "empty", "not_utf8": "not valid UTF-8",
                    "over_limit": "filler"}


@pytest.mark.parametrize("kind", KINDS)
def test_verify_names_a_broken_submission_file(kind, submission, shared_data, tmp_path, capsys, caplog) -> None:
    from skymath_tasks.report.cli import main

    shutil.copytree(submission.parent, tmp_path / "subs")
    sub = tmp_path / "subs" / submission.name
    original = load_json(sub)
    sub.write_bytes(SUBMISSION_DAMAGE[kind](sub.read_bytes()))
    capsys.readouterr()
    rc = main(["verify", str(sub), "--data-dir", str(shared_data)])
    out, err = _said(capsys, caplog)
    assert rc in (1, 2) and original["tasks"], out + err
    said = out + err
    assert str(sub) in said and SUBMISSION_WORDS[kind] in said, said
    assert "Traceback" not in said
    assert max(len(x) for x in said.splitlines()) < 1000
