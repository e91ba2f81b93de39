"""The selection step protocol: kept lines byte for byte, reasons recorded, resume after kill -9, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import DataError
from synth.selection.reader import Row, RowReader
from synth.selection.step import KEEP, Decision, PerRowFilter, StepFiles, StepState, run_step

REPO = Path(__file__).resolve().parents[1]


@dataclass
class EvenFilter(PerRowFilter):
    """Keeps rows whose ``n`` is even; the test oracle below computes the same thing independently."""

    name: str = "even"
    delay_s: float = 0.0

    def settings(self) -> dict:
        return {"rule": "n % 2 == 0"}

    def decide(self, row: Row) -> Decision:
        if self.delay_s:
            time.sleep(self.delay_s)
        n = row.data["n"]
        return KEEP if n % 2 == 0 else Decision(False, "odd", {"n": n})


def _input(path: Path, rows: int = 300) -> Path:
    # varied spacing and unicode, no final newline: kept lines must come out exactly as they went in
    lines = [json.dumps({"n": i, "text": "é" * (i % 5)}, ensure_ascii=i % 3 == 0) + (" " if i % 7 == 0 else "")
             for i in range(rows)]
    lines.insert(10, "")  # a blank line: no row, not copied
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


def _oracle(path: Path) -> tuple[bytes, list[int]]:
    """Expected kept bytes and dropped line numbers, by plain Python."""
    kept, dropped = [], []
    for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        if json.loads(line)["n"] % 2 == 0:
            kept.append(line + b"\n")
        else:
            dropped.append(lineno)
    return b"".join(kept), dropped


def test_kept_lines_unchanged_and_reasons_recorded(tmp_path):
    inp = _input(tmp_path / "in.jsonl")
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    report = run_step(RowReader(inp, batch_rows=16), EvenFilter(), files, progress=False)
    kept, dropped = _oracle(inp)
    assert files.kept.read_bytes() == kept
    log = [json.loads(line) for line in files.log.read_text().splitlines()]
    assert [r["line"] for r in log] == dropped and {r["reason"] for r in log} == {"odd"}
    assert (report.rows, report.kept, report.removed) == (300, 150, 150)
    assert report.reasons == {"kept": 150, "odd": 150} and report.done


def test_verdicts_format_lists_every_row(tmp_path):
    inp = _input(tmp_path / "in.jsonl", rows=20)
    files = StepFiles.beside(tmp_path / "out.jsonl", ".verdicts.jsonl")
    run_step(RowReader(inp), EvenFilter(), files, log_format="verdicts", progress=False)
    log = [json.loads(line) for line in files.log.read_text().splitlines()]
    assert len(log) == 20 and [r["kept"] for r in log] == [i % 2 == 0 for i in range(20)]
    assert {r["verifier"] for r in log} == {"even"} and log[1]["verdict"] == "odd"


def test_interrupted_run_resumes_to_identical_files_and_is_not_redone(tmp_path):
    inp = _input(tmp_path / "in.jsonl")
    full = StepFiles.beside(tmp_path / "full.jsonl", ".removed.jsonl")
    run_step(RowReader(inp, batch_rows=16), EvenFilter(), full, progress=False)
    part = StepFiles.beside(tmp_path / "part.jsonl", ".removed.jsonl")
    first = run_step(RowReader(inp, batch_rows=16), EvenFilter(), part, progress=False, max_batches=4)
    assert not first.done and first.rows == 63  # 4 blocks of 16 lines, one of them blank
    with open(part.kept, "ab") as fh:  # what a kill during a write leaves behind
        fh.write(b'{"n": 1000, "tex')
    again = run_step(RowReader(inp, batch_rows=16), EvenFilter(), part, progress=False)
    assert again.resumed_at_line == 65 and again.done
    assert part.kept.read_bytes() == full.kept.read_bytes()
    assert part.log.read_bytes() == full.log.read_bytes()
    assert (again.rows, again.kept) == (300, 150)
    # an output deleted after an interrupted run is not padded with zero bytes: refused
    run_step(RowReader(inp, batch_rows=16), EvenFilter(), part, progress=False, overwrite=True, max_batches=2)
    part.kept.unlink()
    with pytest.raises(ValueError, match="changed or deleted"):
        run_step(RowReader(inp, batch_rows=16), EvenFilter(), part, progress=False)
    run_step(RowReader(inp, batch_rows=16), EvenFilter(), part, progress=False, overwrite=True)
    mtime = part.kept.stat().st_mtime_ns
    assert run_step(RowReader(inp, batch_rows=16), EvenFilter(delay_s=10), part, progress=False).rows == 300
    assert part.kept.stat().st_mtime_ns == mtime  # finished: nothing decided or written again


def test_refuses_other_settings_existing_outputs_and_writing_over_the_input(tmp_path):
    inp = _input(tmp_path / "in.jsonl", rows=40)
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    run_step(RowReader(inp), EvenFilter(), files, progress=False)

    @dataclass
    class OddFilter(EvenFilter):
        def settings(self) -> dict:
            return {"rule": "n % 2 == 1"}

    with pytest.raises(ValueError, match="different input, benchmark set or settings"):
        run_step(RowReader(inp), OddFilter(), files, progress=False)
    assert run_step(RowReader(inp), OddFilter(), files, progress=False, overwrite=True).kept == 20

    precious = tmp_path / "precious.jsonl"
    precious.write_text("do not lose me\n")
    with pytest.raises(FileExistsError, match="no resume state"):
        run_step(RowReader(inp), EvenFilter(), StepFiles.beside(precious, None), progress=False)
    assert precious.read_text() == "do not lose me\n"
    with pytest.raises(ValueError, match="is the input file"):
        run_step(RowReader(inp), EvenFilter(), StepFiles.beside(inp, None), progress=False, overwrite=True)
    assert len(inp.read_bytes().splitlines()) == 41


def test_input_changed_before_the_resume_point_is_refused_after_it_continues(tmp_path):
    rows = [json.dumps({"n": i}) for i in range(64)]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(rows) + "\n")
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False, max_batches=2)
    assert StepState.load(files.state).lineno == 17

    # a line after the stop point is changed (a fix of a bad row further on): the run goes on
    rows[40] = json.dumps({"n": 1040})
    inp.write_text("\n".join(rows) + "\n")
    report = run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False, max_batches=1)
    assert report.rows == 24

    # a line before it changes: refused, the outputs would mix two inputs
    rows[3] = json.dumps({"n": 1003})
    inp.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="changed before line 25"):
        run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False)

    # rows appended to a finished input are processed by the next run, nothing before them again
    rows[3] = json.dumps({"n": 3})
    inp.write_text("\n".join(rows) + "\n")
    assert run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False).rows == 64
    with open(inp, "a") as fh:
        fh.write(json.dumps({"n": 64}) + "\n" + json.dumps({"n": 65}) + "\n")
    done = run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False)
    assert (done.rows, done.kept) == (66, 33)
    assert files.kept.read_bytes() == _oracle(inp)[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_line_stops_the_run_and_after_the_fix_it_resumes_there(tmp_path, workers):
    rows = [json.dumps({"n": i}) for i in range(40)]
    rows[29] = '{"n": 29, "broken'
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(rows) + "\n")
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    with pytest.raises(DataError, match=r"in\.jsonl:30: not valid JSON"):
        run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False, workers=workers,
                 state_every_s=3600)
    assert StepState.load(files.state).lineno == 25  # saved at the error, not an hour later
    rows[29] = json.dumps({"n": 29})
    inp.write_text("\n".join(rows) + "\n")
    report = run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False)
    assert report.resumed_at_line == 25 and (report.rows, report.kept) == (40, 20)
    assert files.kept.read_bytes() == _oracle(inp)[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_rows_name_file_and_line(tmp_path, workers):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"n": 0}\n{"n": 2}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: expected a JSON object, got list"):
        run_step(RowReader(bad), EvenFilter(), StepFiles.beside(tmp_path / "o.jsonl", None), progress=False,
                 workers=workers)
    deep = tmp_path / "deep.jsonl"
    deep.write_bytes(b'{"n": 0}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with pytest.raises(DataError, match=r"deep\.jsonl:2: not valid JSON"):
        run_step(RowReader(deep), EvenFilter(), StepFiles.beside(tmp_path / "o2.jsonl", None), progress=False)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"x": 1}\n')

    @dataclass
    class NeedsText(EvenFilter):
        def decide(self, row: Row) -> Decision:
            row.text("query")
            return KEEP

    with pytest.raises(DataError, match=r"missing\.jsonl:1: field 'query': missing"):
        run_step(RowReader(missing), NeedsText(), StepFiles.beside(tmp_path / "o3.jsonl", None), progress=False,
                 workers=workers)


def test_two_workers_write_the_same_bytes(tmp_path):
    inp = _input(tmp_path / "in.jsonl")
    a = StepFiles.beside(tmp_path / "a.jsonl", ".removed.jsonl")
    b = StepFiles.beside(tmp_path / "b.jsonl", ".removed.jsonl")
    run_step(RowReader(inp, batch_rows=8), EvenFilter(), a, progress=False)
    run_step(RowReader(inp, batch_rows=8), EvenFilter(), b, progress=False, workers=2)
    assert a.kept.read_bytes() == b.kept.read_bytes() and a.log.read_bytes() == b.log.read_bytes()


_KILLED_CHILD = """
import sys
sys.path.insert(0, {repo!r})
from tests.test_selection_step import EvenFilter
from synth.selection.reader import RowReader
from synth.selection.step import StepFiles, run_step
run_step(RowReader({inp!r}, batch_rows=4), EvenFilter(delay_s=0.01), StepFiles.beside({out!r}, ".removed.jsonl"),
         progress=False, state_every_s=0.0)
"""


def test_kill_9_mid_run_then_resume_gives_the_clean_result(tmp_path):
    inp = _input(tmp_path / "in.jsonl")
    files = StepFiles.beside(tmp_path / "killed.jsonl", ".removed.jsonl")
    script = _KILLED_CHILD.format(repo=str(REPO), inp=str(inp), out=str(files.kept))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if files.state.exists() and StepState.load(files.state).lineno > 40:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the child made no progress")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert StepState.load(files.state).report.done is False
    report = run_step(RowReader(inp, batch_rows=4), EvenFilter(), files, progress=False)
    assert report.resumed_at_line and report.done
    clean = StepFiles.beside(tmp_path / "clean.jsonl", ".removed.jsonl")
    run_step(RowReader(inp, batch_rows=4), EvenFilter(), clean, progress=False)
    assert files.kept.read_bytes() == clean.kept.read_bytes() == _oracle(inp)[0]
    assert files.log.read_bytes() == clean.log.read_bytes()
