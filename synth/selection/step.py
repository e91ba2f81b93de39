"""The protocol of every selection step: read rows, decide keep or drop with a reason, write, resume, report.

Why one protocol (modelled on datatrove's pipeline steps): decontamination, core-set, hard-problem and
verifier selection and near-duplicate removal differ only in *what* they decide. Reading malformed
input, copying kept lines byte for byte, recording why a row went, surviving ``kill -9`` at millions of
rows and counting are the same job each time, so they are written once, here:

* rows come from a :class:`~synth.selection.reader.RowReader`, the one place input bytes are read;
* a :class:`RowFilter` returns one :class:`Decision` per row (keep or drop, a reason, details for the
  record) and knows nothing about files;
* :func:`run_step` copies the kept lines unchanged, in input order, to the output and writes the
  decisions to a side file: ``removed`` (one line per dropped row) or ``verdicts`` (one line per row);
* a bad line (over the byte limit, not UTF-8, not JSON, a missing or mistyped field) stops the step
  (``on_bad_row="fail"``) or is skipped and written with its reason to ``<output>.rejects.jsonl``
  (``on_bad_row="skip"``);
* after every block all files are flushed; a :class:`StepState` (the one place resume state is kept)
  records what was really processed: the input offset and line, a digest of the input bytes before
  it, the size of each output and the counts. It is written before the first block, then whenever
  the lines or bytes read cross a multiple of ``checkpoint_rows`` / ``checkpoint_bytes`` counted
  from the first row (fixed positions, not a clock), when a bad line stops the run, on any
  interruption that Python sees, and at the end. A rerun with the same settings truncates the outputs
  to those sizes and continues; a finished run is not redone; other settings, or an input changed
  before the resume point, are refused (``overwrite=True`` starts again). Fixing a bad line (or
  lines after it) changes nothing before the resume point, so the rerun goes on from there and
  writes exactly the bytes a clean run writes;
* the counts (rows, kept, removed, per reason, rejected) come back as a :class:`StepReport`.

Filters that must see every row before deciding (dedup, core-set, an LLM judge) read the input through
the same reader first and put a digest of what they saw into :meth:`RowFilter.settings`, so a changed
input is never mixed with an old partial output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from skymath_tasks.jsonl_io import DataError, OnError, check_on_error, reject_record
from synth.selection.reader import Block, Rejected, Row, RowReader

log = logging.getLogger(__name__)

STATE_VERSION = 2
LogFormat = Literal["removed", "verdicts", "none"]
#: A checkpoint every this many input lines and every this many input bytes, counted from the first row.
DEFAULT_CHECKPOINT_ROWS = 10_000
DEFAULT_CHECKPOINT_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class Decision:
    """A filter's verdict on one row: keep it or not, why (a short stable word), and details to record."""

    keep: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


#: The decision for a row a filter has nothing to say about (shared: no object per clean row).
KEEP = Decision(True, "kept")


class RowFilter(Protocol):
    """What a selection step decides. ``settings()`` holds everything its decisions depend on (JSON-able);
    a resumed run must have equal settings."""

    name: str

    def settings(self) -> dict[str, Any]: ...

    def decide_batch(self, rows: Sequence[Row]) -> list[Decision]: ...


class PerRowFilter:
    """Mixin for filters that decide each row on its own: ``decide(row)`` gives ``decide_batch``."""

    def decide_batch(self, rows: Sequence[Row]) -> list[Decision]:
        return [self.decide(row) for row in rows]  # type: ignore[attr-defined]


class InputScan:
    """One pass over every row of the input that also computes the input digest, for filters that must
    see all rows before deciding (put ``digest`` into their settings after the pass).

    With ``on_error="skip"`` lines that give no row are left out (the step records them later), and
    :meth:`each` leaves out rows whose own check raised a :class:`DataError`, remembering the error in
    ``errors`` so the filter can raise it again when the step reaches that row (:meth:`reraise`)."""

    def __init__(self, reader: RowReader, on_error: OnError = "fail"):
        self.reader = reader
        self.on_error = check_on_error(on_error)
        self.digest = ""
        self.rows = 0
        self.errors: dict[int, DataError] = {}

    def __iter__(self) -> Iterator[Row]:
        h, self.rows = input_hasher(), 0
        for block in self.reader.blocks(hasher=h):
            rows, _ = self.reader.parse_rows(block.lines, block.first_lineno, self.on_error)
            self.rows += len(rows)
            yield from rows
        self.digest = h.hexdigest()

    def each(self, fn: Any) -> Iterator[Any]:
        """``fn(row)`` for every row, skipping (and remembering) rows it raises a DataError for in skip mode."""
        for row in self:
            try:
                yield fn(row)
            except DataError as err:
                if self.on_error != "skip" or err.line != row.lineno:
                    raise
                self.errors[row.lineno] = err

    def reraise(self, row: Row) -> None:
        """Raise again the error this row had during the scan (no-op for a row that had none)."""
        err = self.errors.get(row.lineno)
        if err is not None:
            raise err


@dataclass(frozen=True)
class StepFiles:
    """Where a step writes: kept rows (``None``: report only), its decisions, its resume state, and the
    rows it skipped as malformed (``on_bad_row="skip"``; default ``<output>.rejects.jsonl``)."""

    kept: Path | None
    log: Path | None
    state: Path
    rejects: Path | None = None

    @classmethod
    def beside(cls, output: str | os.PathLike, log_suffix: str | None) -> StepFiles:
        """``<output>``, ``<output><log_suffix>``, ``<output>.state.json`` and ``<output>.rejects.jsonl``."""
        out = Path(output)
        return cls(out, out.with_name(out.name + log_suffix) if log_suffix else None,
                   out.with_name(out.name + ".state.json"), out.with_name(out.name + ".rejects.jsonl"))

    def rejects_path(self) -> Path:
        if self.rejects is not None:
            return self.rejects
        base = self.kept or self.log or self.state
        return base.with_name(base.name + ".rejects.jsonl")


@dataclass
class StepReport:
    """Counts of one step over one input; also stored in the state file, so a finished run reports again."""

    step: str
    input: str
    output: str | None
    log: str | None
    rows: int = 0
    kept: int = 0
    removed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    done: bool = False
    resumed_at_line: int | None = None
    rejected: int = 0  # malformed lines skipped (on_bad_row="skip"), listed in the rejects file
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejects: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepState:
    """Everything a resumed run needs: where in the input it stopped and how much of each output is valid."""

    settings: str  # digest of the filter's and the step's settings
    input_path: str
    offset: int = 0  # bytes of the input done (always the end of a line)
    lineno: int = 1  # number of the next line
    input_digest: str = ""  # blake2b of the input bytes [0, offset)
    input_size: int = 0  # size and mtime of the input when saved: unchanged and done -> nothing is re-read
    input_mtime_ns: int = 0
    kept_bytes: int = 0
    log_bytes: int = 0
    rejects_bytes: int = 0
    report: StepReport | None = None

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        data = {"version": STATE_VERSION, **asdict(self)}
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> StepState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.pop("version", None) not in (1, STATE_VERSION):  # version 1 lacks only the rejects fields
                raise ValueError("unknown version")
            report = StepReport(**data.pop("report"))
            return cls(**data, report=report)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path}: not a resume state of this version ({exc}); pass --overwrite to start again") from None


def input_hasher() -> Any:
    """The digest of input bytes kept in the state (blake2b: fast, and the same in every process)."""
    return hashlib.blake2b(digest_size=16)


def _prefix_hasher(path: Path, offset: int) -> Any | None:
    """A hasher fed with the first ``offset`` bytes of ``path`` (``None`` when the file is shorter)."""
    h = input_hasher()
    left = offset
    with open(path, "rb") as fh:
        while left:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                return None
            h.update(chunk)
            left -= len(chunk)
    return h


def settings_digest(payload: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(payload, sort_keys=True, default=str).encode("utf-8"), digest_size=16).hexdigest()


# --------------------------------------------------------------------------------------------------
# Deciding a block (in this process or in a forked worker)
# --------------------------------------------------------------------------------------------------

# The running step, set before worker processes are forked (they share the filter copy-on-write).
_CONTEXT: dict[str, Any] = {}


@dataclass(slots=True)
class _BlockResult:
    keep: list[int]  # indices of the lines to copy to the output
    rows: int
    records: bytes  # JSONL lines for the decisions file
    reasons: Counter
    rejects: bytes = b""  # JSONL lines for the rejects file (skip mode)
    rejected: Counter = field(default_factory=Counter)  # reason -> lines skipped


def _record(row: Row, d: Decision, fmt: LogFormat, name: str, id_field: str | None) -> dict[str, Any] | None:
    if fmt == "removed":
        if d.keep:
            return None
        return {"line": row.lineno, **({"id": row.data.get(id_field)} if id_field else {}), "reason": d.reason,
                **d.detail}
    if fmt == "verdicts":
        return {"line": row.lineno, "id": row.data.get("id"), "verifier": name, "verdict": d.reason, "kept": d.keep,
                **d.detail}
    return None


def _decide_rows(filt: RowFilter, rows: list[Row], on_error: OnError, bad: list[Rejected],
                 lines: Sequence[Any]) -> list[Decision]:
    """The filter's decisions; in skip mode a row whose decision raised a DataError at that row is taken out
    (into ``bad``) and the others are decided without it."""
    if on_error != "skip":
        return filt.decide_batch(rows)
    decide = getattr(filt, "decide", None)
    if decide is not None:  # a per-row filter: one try per row
        out, good = [], []
        for row in rows:
            try:
                out.append(decide(row))
                good.append(row)
            except DataError as err:
                if err.line != row.lineno:
                    raise
                bad.append(Rejected(row.index, err, lines[row.index]))
        rows[:] = good
        return out
    while True:
        try:
            return filt.decide_batch(rows)
        except DataError as err:
            pos = next((i for i, r in enumerate(rows) if r.lineno == err.line), None)
            if pos is None:
                raise
            row = rows.pop(pos)
            bad.append(Rejected(row.index, err, lines[row.index]))


def _decide_block(lines: Sequence[Any], first_lineno: int) -> _BlockResult:
    reader: RowReader = _CONTEXT["reader"]
    filt: RowFilter = _CONTEXT["filter"]
    fmt, id_field, on_error = _CONTEXT["log"], _CONTEXT["id_field"], _CONTEXT["on_error"]
    rows, bad = reader.parse_rows(lines, first_lineno, on_error)
    decisions = _decide_rows(filt, rows, on_error, bad, lines)
    if len(decisions) != len(rows):
        raise RuntimeError(f"filter {filt.name!r} returned {len(decisions)} decisions for {len(rows)} rows")
    keep: list[int] = []
    records: list[str] = []
    reasons: Counter = Counter()
    for row, d in zip(rows, decisions, strict=True):
        reasons[d.reason] += 1
        if d.keep:
            keep.append(row.index)
        rec = _record(row, d, fmt, filt.name, id_field)
        if rec is not None:
            records.append(json.dumps(rec, ensure_ascii=False) + "\n")
    res = _BlockResult(keep, len(rows), "".join(records).encode("utf-8"), reasons)
    if bad:
        bad.sort(key=lambda r: r.index)
        res.rejects = "".join(json.dumps(reject_record(r.error, r.raw), ensure_ascii=False) + "\n"
                              for r in bad).encode("utf-8")
        res.rejected = Counter(r.error.reason for r in bad)
    return res


def _worker_block(args: tuple[int, int, int]) -> _BlockResult:
    offset, size, first = args
    fd = _CONTEXT.get("fd")
    if fd is None:
        fd = _CONTEXT["fd"] = os.open(_CONTEXT["reader"].path, os.O_RDONLY)
    reader: RowReader = _CONTEXT["reader"]
    return _decide_block(reader.split_lines(reader.read_bytes(offset, size, fd)), first)


class _Now:
    """A block decided in the parent (it holds a line over the byte limit, which workers must not re-read),
    kept in the queue like a worker's result so results and errors still come in input order."""

    def __init__(self, block: Block):
        try:
            self.value, self.error = _decide_block(block.lines, block.first_lineno), None
        except DataError as err:
            self.value, self.error = None, err

    def get(self) -> _BlockResult:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def _decided(blocks: Iterator[Block], pool: Any, workers: int) -> Iterator[tuple[Block, _BlockResult]]:
    """``(block, result)`` in input order; with a pool at most ``2 * workers`` blocks are in flight
    (``Pool.imap`` would read the whole input into memory ahead of the workers). A worker's DataError
    comes back pickled and is raised here, in input order."""
    if pool is None:
        for b in blocks:
            yield b, _decide_block(b.lines, b.first_lineno)
        return
    inflight: deque = deque()
    for b in blocks:
        if b.long_lines:
            inflight.append((b, _Now(b)))
        else:
            inflight.append((b, pool.apply_async(_worker_block, ((b.offset, b.size, b.first_lineno),))))
        if len(inflight) >= 2 * workers:
            b0, fut = inflight.popleft()
            yield b0, fut.get()
    while inflight:
        b0, fut = inflight.popleft()
        yield b0, fut.get()


# --------------------------------------------------------------------------------------------------
# Running a step
# --------------------------------------------------------------------------------------------------


def _start(reader: RowReader, files: StepFiles, step: str, digest: str, overwrite: bool) -> tuple[StepState, bool]:
    """The state to continue from, and whether it is a fresh start."""
    fresh = StepState(digest, str(reader.path.resolve()),
                      report=StepReport(step, str(reader.path), _str(files.kept), _str(files.log)))
    if overwrite:
        files.state.unlink(missing_ok=True)
        return fresh, True
    if files.state.exists():
        state = StepState.load(files.state)
        if state.settings != digest or state.input_path != fresh.input_path:
            raise ValueError(
                f"{files.state}: left by a run with a different input, benchmark set or settings; "
                "pass --overwrite to start again"
            )
        return state, False
    for p in (files.kept, files.log):
        if p is not None and p.exists() and p.stat().st_size > 0:
            raise FileExistsError(f"{p} exists and has no resume state; pass --overwrite to replace it")
    return fresh, True


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


@dataclass(frozen=True, slots=True)
class _Progress:
    """Everything a checkpoint records, taken in one assignment once a block's outputs are flushed (an
    interruption between two statements can never leave a state that points past what is on disk)."""

    offset: int
    lineno: int
    digest: str
    kept_bytes: int
    log_bytes: int
    rejects_bytes: int
    rows: int
    kept: int
    reasons: dict[str, int]
    rejected: int
    rejected_reasons: dict[str, int]
    seconds: float


def run_step(
    reader: RowReader,
    filt: RowFilter,
    files: StepFiles,
    *,
    log_format: LogFormat = "removed",
    id_field: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 1,
    max_batches: int | None = None,
    on_bad_row: OnError = "fail",
    checkpoint_rows: int | None = DEFAULT_CHECKPOINT_ROWS,
    checkpoint_bytes: int | None = DEFAULT_CHECKPOINT_BYTES,
    state_every_s: float | None = None,
) -> StepReport:
    """Run ``filt`` over the rows of ``reader`` into ``files`` (see the module docstring).

    ``workers > 1`` forks processes that read and decide their own blocks (the filter is shared
    copy-on-write); the parent writes, so outputs are identical to a single process.
    ``on_bad_row``: ``"fail"`` stops at the first malformed line (the state is saved: fix it and rerun),
    ``"skip"`` records it in the rejects file and goes on. Checkpoints are taken at fixed input
    positions (``checkpoint_rows`` lines, ``checkpoint_bytes`` bytes, counted from the first row);
    ``state_every_s`` adds one at least that often (``0``: after every block). ``max_batches`` stops
    early after that many blocks, as an interruption would (tests use it).
    """
    on_bad_row = check_on_error(on_bad_row)
    for n, what in ((checkpoint_rows, "checkpoint_rows"), (checkpoint_bytes, "checkpoint_bytes")):
        if n is not None and n < 1:
            raise ValueError(f"{what} must be >= 1 or None")
    for p in (files.kept, files.log, files.state, files.rejects):
        if p is not None and p.exists() and p.resolve() == reader.path.resolve():
            raise ValueError(f"{p} is the input file; choose another output")
    digest = settings_digest({"step": filt.name, "filter": filt.settings(), "kept": _str(files.kept),
                              "log_format": log_format, "id_field": id_field})
    state, fresh = _start(reader, files, filt.name, digest, overwrite)
    report = state.report
    assert report is not None
    rejects_path = files.rejects_path()
    st = reader.path.stat()
    size = st.st_size
    unchanged = (size, st.st_mtime_ns) == (state.input_size, state.input_mtime_ns)
    if not (report.done and state.offset == size and unchanged):
        hasher = _prefix_hasher(reader.path, state.offset)
        if hasher is None or (state.offset and hasher.hexdigest() != state.input_digest):
            # a line fixed or added *after* the resume point is fine: the run goes on from there
            raise ValueError(f"{files.state}: the input {reader.path} changed before line {state.lineno}, where "
                             "the earlier run stopped; pass --overwrite to start again")
    if report.done and state.offset == size:
        log.info("%s: %s already done (%d rows, %d kept); nothing to do", filt.name, reader.path, report.rows,
                 report.kept)
        return report
    if state.offset:
        report.resumed_at_line = state.lineno
        log.info("%s: resuming %s at line %d (%d rows done)", filt.name, reader.path, state.lineno, report.rows)
    report.done = False
    write_rejects = on_bad_row == "skip" or rejects_path.exists() or state.rejects_bytes > 0
    for p, valid in ((files.kept, state.kept_bytes), (files.log, state.log_bytes),
                     (rejects_path if write_rejects else None, state.rejects_bytes)):
        if p is not None:
            have = p.stat().st_size if p.exists() else 0
            if have < valid:  # truncate() would pad it with zero bytes
                raise ValueError(f"{p} has {have} bytes but the resume state {files.state} counts {valid}: it was "
                                 "changed or deleted after the run; pass --overwrite to start again")
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "ab") as fh:
                fh.truncate(valid)  # drops whatever an interrupted run wrote after its last saved state
    files.state.parent.mkdir(parents=True, exist_ok=True)

    last = _Progress(state.offset, state.lineno, state.input_digest, state.kept_bytes, state.log_bytes,
                     state.rejects_bytes, report.rows, report.kept, dict(report.reasons), report.rejected,
                     dict(report.rejected_reasons), report.seconds)

    def save(done: bool = False) -> None:
        cp = last
        st = reader.path.stat()
        state.input_size, state.input_mtime_ns = st.st_size, st.st_mtime_ns
        state.offset, state.lineno, state.input_digest = cp.offset, cp.lineno, cp.digest
        state.kept_bytes, state.log_bytes, state.rejects_bytes = cp.kept_bytes, cp.log_bytes, cp.rejects_bytes
        report.rows, report.kept, report.removed = cp.rows, cp.kept, cp.rows - cp.kept
        report.reasons, report.seconds = dict(cp.reasons), cp.seconds
        report.rejected, report.rejected_reasons = cp.rejected, dict(cp.rejected_reasons)
        report.rejects = str(rejects_path) if cp.rejected else None
        report.done = done
        state.save(files.state)

    if fresh:
        save()  # before anything is written: a run stopped at once (or on its first line) can resume
    t0 = time.perf_counter() - report.seconds
    _CONTEXT.update(reader=reader, filter=filt, log=log_format, id_field=id_field, on_error=on_bad_row)
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=size, initial=state.offset, unit="B", unit_scale=True, desc=filt.name)
    next_lines = _next_mark(state.lineno - 1, checkpoint_rows)
    next_bytes = _next_mark(state.offset, checkpoint_bytes)
    try:
        with _open(files.kept) as fkeep, _open(files.log) as flog, \
                _open(rejects_path if write_rejects else None) as frej:
            last_save = time.perf_counter()
            blocks = reader.blocks(state.offset, state.lineno, hasher)
            try:
                for done_blocks, (block, res) in enumerate(_decided(blocks, pool, workers), start=1):
                    lines = block.lines
                    if res.keep and not lines[-1].endswith(b"\n") and res.keep[-1] == len(lines) - 1:
                        lines[-1] += b"\n"  # a kept last line of a file without a final newline
                    fkeep.write(b"".join(lines[i] for i in res.keep))
                    flog.write(res.records)
                    frej.write(res.rejects)
                    fkeep.flush()
                    flog.flush()
                    frej.flush()
                    lineno = block.first_lineno + len(lines)
                    last = _Progress(
                        block.end, lineno, block.digest or "", fkeep.tell(), flog.tell(), frej.tell(),
                        last.rows + res.rows, last.kept + len(res.keep), dict(Counter(last.reasons) + res.reasons),
                        last.rejected + sum(res.rejected.values()),
                        dict(Counter(last.rejected_reasons) + res.rejected),
                        round(time.perf_counter() - t0, 3))
                    stop = max_batches is not None and done_blocks >= max_batches
                    now = time.perf_counter()
                    due = (lineno - 1 >= next_lines or block.end >= next_bytes
                           or (state_every_s is not None and now - last_save >= state_every_s))
                    if stop or due:
                        save()  # outputs are flushed first, so the state never points past what is on disk
                        last_save = now
                        next_lines = _next_mark(lineno - 1, checkpoint_rows)
                        next_bytes = _next_mark(block.end, checkpoint_bytes)
                    if bar is not None:
                        bar.update(block.size)
                        bar.set_postfix(rows=last.rows, kept=last.kept)
                    if stop:
                        return report
            except BaseException:
                # a bad line, Ctrl-C, a failing filter: the blocks before are on disk, so the state says
                # so; after a fix, the rerun starts at the block that stopped this one
                save()
                raise
        last = replace(last, seconds=round(time.perf_counter() - t0, 3))
        save(done=True)
        log.info("%s: kept %d of %d rows of %s (%s)", filt.name, report.kept, report.rows, reader.path,
                 dict(sorted(report.reasons.items())))
        if report.rejected:
            log.warning("%s: skipped %d malformed line(s) of %s (%s); listed in %s", filt.name, report.rejected,
                        reader.path, dict(sorted(report.rejected_reasons.items())), rejects_path)
        return report
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.terminate()
        _CONTEXT.clear()


def _next_mark(position: int, interval: int | None) -> float:
    """The next multiple of ``interval`` after ``position`` (checkpoints at fixed positions from the start)."""
    if interval is None:
        return float("inf")
    return (position // interval + 1) * interval


class _Discard:
    """A write-only sink for outputs a step does not keep (report-only runs)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        return None

    def tell(self) -> int:
        return 0

    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _open(path: Path | None) -> Any:
    return open(path, "ab") if path is not None else _Discard()


__all__ = [
    "Decision", "KEEP", "RowFilter", "PerRowFilter", "InputScan", "StepFiles", "StepReport", "StepState", "run_step",
    "input_hasher", "settings_digest", "DEFAULT_CHECKPOINT_ROWS", "DEFAULT_CHECKPOINT_BYTES",
]
