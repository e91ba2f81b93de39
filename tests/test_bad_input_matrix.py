"""Issue 16's matrix: every command that reads user rows, fed each kind of bad file.

Kinds: bad JSON, a missing field, a wrong type, an empty file, bytes that are not UTF-8, a row over the
byte limit (lowered to 4 KiB with $SKYMATH_MAX_ROW_BYTES so no test writes megabytes; the 50 MB case is
in bench/big_rows.py). Each case asserts: exit code 2, ``file:line`` of the bad row in the message, no
traceback, and that what the command had already written is intact (the kept lines before the bad one,
byte for byte, for streaming steps; nothing half-written for the others).

Commands run in-process through their ``main`` (an exception escaping it would fail the test, so exit
code 2 also means no traceback); a few run as real console scripts in a subprocess to check stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from skymath_tasks.jsonl_io import ENV_MAX_ROW_BYTES

LIMIT = 4096
KINDS = ("bad_json", "missing_field", "wrong_type", "empty_file", "not_utf8", "over_limit")
BAD_AT = 4  # 1-based line of the bad row (three good rows before it)


@dataclass
class Case:
    """A command and the rows it reads: ``good(i)`` is row i, ``field`` the required string field."""

    name: str
    field: str
    good: Callable[[int], dict]
    wrong: object  # a value of the wrong type for ``field``
    run: Callable[[Path, Path], int]  # (input file, work folder) -> exit code
    kept: Callable[[Path], Path | None] = lambda work: None  # the streaming output to check, if any
    prefix_kept: bool = False  # rows before the bad one are already written (and must stay intact)


def _bad_file(path: Path, case: Case, kind: str) -> int:
    """Write the input for ``kind``; return the line the error must name."""
    if kind == "empty_file":
        path.write_bytes(b"")
        return 1
    lines = [json.dumps(case.good(i)).encode() for i in range(6)]
    i = BAD_AT - 1
    row = case.good(i)
    if kind == "bad_json":
        lines[i] = json.dumps(row).encode()[:-3]
    elif kind == "missing_field":
        del row[case.field]
        lines[i] = json.dumps(row).encode()
    elif kind == "wrong_type":
        row[case.field] = case.wrong
        lines[i] = json.dumps(row).encode()
    elif kind == "not_utf8":
        lines[i] = json.dumps(row).encode().replace(b'"', b'"\xff\xfe', 4)
    elif kind == "over_limit":
        row["padding"] = "pad " * (LIMIT // 4)
        lines[i] = json.dumps(row).encode()
        assert len(lines[i]) > LIMIT
    path.write_bytes(b"\n".join(lines) + b"\n")
    return BAD_AT


# -------------------------------------------------------------------------------- the commands


def _synth(*argv: str) -> int:
    from synth.cli import main

    return main(list(argv))


def _bench(work: Path) -> Path:
    path = work / "bench.jsonl"
    path.write_text(json.dumps({"problem": " ".join(f"bench{i}" for i in range(40))}) + "\n")
    return path


def run_generate(inp: Path, work: Path) -> int:
    cfg = {"client": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0},
           "output_dir": str(work / "out"),
           "stages": {"stage1": {"seeds": [{"name": "jsonl", "path": str(inp)}]}}}
    (work / "run.yaml").write_text(yaml.safe_dump(cfg))
    return _synth("generate", "--config", str(work / "run.yaml"), "--no-progress")


def run_decontaminate(inp: Path, work: Path) -> int:
    return _synth("decontaminate", str(inp), "-o", str(work / "kept.jsonl"), "--bench", f"b={_bench(work)}:problem",
                  "--fields", "query", "--batch-rows", "1", "--no-progress")


def run_dedup(inp: Path, work: Path) -> int:
    return _synth("dedup", str(inp), "-o", str(work / "kept.jsonl"), "--no-progress")


def run_verify(inp: Path, work: Path) -> int:
    return _synth("verify", str(inp), "-o", str(work / "kept.jsonl"), "--gold-field", "answer", "--no-progress")


def run_select_hard(inp: Path, work: Path) -> int:
    return _synth("select-hard", str(inp), "-o", str(work / "kept.jsonl"), "--no-progress")


def run_coreset(inp: Path, work: Path) -> int:
    import numpy as np

    np.save(work / "emb.npy", np.eye(6, 4, dtype=np.float32))
    return _synth("coreset", str(inp), "-o", str(work / "kept.jsonl"), "-k", "2", "--text-field", "query",
                  "--embeddings", str(work / "emb.npy"), "--no-progress")


def run_train(inp: Path, work: Path) -> int:
    from training.cli import main

    return main(["--stage", "1", "--model-name-or-path", str(work), "--stage1-data", str(inp),
                 "--output-dir", str(work / "run"), "--use-cpu", "--bf16", "false", "--report-to", "none"])


DATE = "2026-01-01T00-00-00.000000"


def run_report_tables(inp: Path, work: Path) -> int:
    from skymath_tasks.report.cli import main

    run = work / "runs" / "org__m"
    run.mkdir(parents=True)
    results = {"results": {"skymath_math": {"alias": "skymath_math", "strict,none": 0.5, "acc_level_1,none": 0.5}},
               "n-samples": {"skymath_math": {"effective": 6, "original": 5000}},
               "config": {"model": "hf", "model_args": "pretrained=org/m"}}
    (run / f"results_{DATE}.json").write_text(json.dumps(results))
    os.replace(inp, run / f"samples_skymath_math_{DATE}.jsonl")
    return main(["tables", str(work / "runs"), "--output-dir", str(work / "report")])


def _synth_row(i: int) -> dict:
    return {"id": f"r{i}", "query": f"What is {i} plus {i}?", "response": f"Add them.\nThe answer is {2 * i}",
            "answer": str(2 * i), "level": 5 - i % 2}


CASES = [
    Case("generate", "problem", lambda i: {"id": f"s{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)}, 7,
         run_generate),
    Case("decontaminate", "query", _synth_row, 12345, run_decontaminate, lambda w: w / "kept.jsonl", True),
    Case("dedup", "query", _synth_row, ["a", "list"], run_dedup, lambda w: w / "kept.jsonl"),
    Case("verify", "response", _synth_row, {"not": "text"}, run_verify, lambda w: w / "kept.jsonl"),
    Case("select-hard", "level", _synth_row, [5], run_select_hard, lambda w: w / "kept.jsonl"),
    Case("coreset", "query", _synth_row, 3.5, run_coreset, lambda w: w / "kept.jsonl"),
    Case("skymath-train", "response", _synth_row, 7, run_train),
    Case("skymath-report tables", "doc",
         lambda i: {"doc_id": i, "doc": {"level": f"Level {i % 5 + 1}", "problem": f"p{i}"},
                    "filtered_resps": [f"The answer is {i}"]}, "a string", run_report_tables),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(ENV_MAX_ROW_BYTES, str(LIMIT))
    work = tmp_path / "work"
    work.mkdir()
    inp = tmp_path / "rows.jsonl"
    line = _bad_file(inp, case, kind)
    shown = inp.name if case.name != "skymath-report tables" else f"samples_skymath_math_{DATE}.jsonl"

    rc = case.run(inp, work)

    out = capsys.readouterr()
    said = out.err + caplog.text
    assert rc == 2, said
    assert f"{shown}:{line}: " in said, said
    assert "Traceback" not in said + out.out
    words = {"bad_json": "not valid JSON", "missing_field": f"field '{case.field}': missing",
             "wrong_type": f"field '{case.field}': expected", "empty_file": "no rows",
             "not_utf8": "not valid UTF-8", "over_limit": f"over the limit of {LIMIT} bytes"}[kind]
    assert words in said, said
    assert len(max(said.splitlines(), key=len)) < 1000  # long values are cut
    kept = case.kept(work)
    if kept is not None and kept.exists():
        written = kept.read_bytes()
        if case.prefix_kept and kind != "empty_file":
            clean = b"".join(json.dumps(case.good(i)).encode() + b"\n" for i in range(BAD_AT - 1))
            assert written == clean  # the rows before the bad one, exactly
        else:
            assert written == b""
    for p in work.rglob("*.jsonl"):  # whatever was written is whole JSON lines (the input aside)
        if p.name == shown:
            continue
        for raw in p.read_bytes().splitlines():
            json.loads(raw)
    assert not (work / "report" / "report.md").exists()
    assert not (work / "out" / "stage1.jsonl").exists() and not (work / "run" / "stage1" / "config.json").exists()


def test_empty_seeds_never_run_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A seed source that yields nothing (a filter that keeps no seed) is an error too, not a 0-row run."""
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "a", "problem": "What is 1 + 1?", "level": 2}) + "\n")
    cfg = {"client": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}, "output_dir": str(tmp_path / "out"),
           "stages": {"s": {"seeds": [{"name": "jsonl", "path": str(seeds), "limit": 0}]}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    assert _synth("generate", "--config", str(tmp_path / "run.yaml"), "--no-progress") == 2


@pytest.mark.parametrize("argv,needle", [
    (["skymath-synth", "decontaminate", "{inp}", "-o", "{work}/k.jsonl", "--bench", "b={work}/bench.jsonl:problem",
      "--max-row-bytes", "4KiB", "--no-progress"], "rows.jsonl:4: row of"),
    (["skymath-synth", "dedup", "{inp}", "-o", "{work}/k.jsonl", "--no-progress"], "rows.jsonl:4: not valid UTF-8"),
    (["skymath-train", "--stage", "1", "--model-name-or-path", "{work}", "--stage1-data", "{inp}", "--output-dir",
      "{work}/run", "--use-cpu", "--bf16", "false", "--report-to", "none", "--max-row-bytes", "4096"],
     "rows.jsonl:4: not valid UTF-8"),
])
def test_console_scripts_print_one_line_and_no_traceback(tmp_path: Path, argv: list[str], needle: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _bench(work)
    inp = tmp_path / "rows.jsonl"
    case = CASES[1]
    _bad_file(inp, case, "over_limit" if "--max-row-bytes" in argv and "skymath-synth" in argv else "not_utf8")
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / argv[0])] + [a.format(inp=inp, work=work) for a in argv[1:]]
    env = {k: v for k, v in os.environ.items() if k != ENV_MAX_ROW_BYTES}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr


SKIP_CASES = [c for c in CASES if c.name in ("decontaminate", "dedup", "verify", "select-hard", "coreset")]
REASONS = {"bad_json": "bad_json", "missing_field": "missing", "wrong_type": "wrong_type", "not_utf8": "not_utf8",
           "over_limit": "too_long"}


@pytest.mark.parametrize("kind", sorted(REASONS))
@pytest.mark.parametrize("case", SKIP_CASES, ids=[c.name for c in SKIP_CASES])
def test_skip_mode_lists_the_bad_row_and_keeps_the_rest(case: Case, kind: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setenv(ENV_MAX_ROW_BYTES, str(LIMIT))
    work = tmp_path / "work"
    work.mkdir()
    inp = tmp_path / "rows.jsonl"
    _bad_file(inp, case, kind)
    argv = {"decontaminate": ["--bench", f"b={_bench(work)}:problem", "--fields", "query"],
            "dedup": [], "verify": ["--gold-field", "answer"], "select-hard": [],
            "coreset": ["-k", "2", "--text-field", "query", "--embeddings", str(work / "emb.npy")]}[case.name]
    np.save(work / "emb.npy", np.eye(5, 4, dtype=np.float32))  # the five good rows
    rc = _synth(case.name, str(inp), "-o", str(work / "kept.jsonl"), "--on-bad-row", "skip", "--no-progress", *argv)
    assert rc == 0
    recs = [json.loads(x) for x in (work / "kept.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in recs] == [(BAD_AT, REASONS[kind])]
    kept = [json.loads(x)["id"] for x in (work / "kept.jsonl").read_text().splitlines()]
    good = [case.good(i)["id"] for i in range(6) if i != BAD_AT - 1]
    assert kept == good if case.name != "coreset" else len(kept) == 2 and set(kept) <= set(good)
