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
* after every block both files are flushed and, at most every ``state_every_s`` seconds, a
  :class:`StepState` (the one place resume state is kept) records the input offset, a digest of the
  input bytes before it, the output sizes and the counts. A rerun with the same settings truncates the outputs
  to those sizes and continues; a finished run is not redone; other settings, or an input changed
  before the resume point, are refused (``overwrite=True`` starts again);
* the counts (rows, kept, removed, per reason) come back as a :class:`StepReport`.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from skymath_tasks.jsonl_io import DataError
from synth.selection.reader import Block, Row, RowReader

log = logging.getLogger(__name__)

STATE_VERSION = 1
LogFormat = Literal["removed", "verdicts", "none"]


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
    see all rows before deciding (put ``digest`` into their settings after the pass)."""

    def __init__(self, reader: RowReader):
        self.reader = reader
        self.digest = ""
        self.rows = 0

    def __iter__(self) -> Iterator[Row]:
        h, self.rows = input_hasher(), 0
        for block in self.reader.blocks():
            for line in block.lines:
                h.update(line)
            rows = self.reader.parse_block(block)
            self.rows += len(rows)
            yield from rows
        self.digest = h.hexdigest()


@dataclass(frozen=True)
class StepFiles:
    """Where a step writes: kept rows (``None``: report only), its decisions, its resume state."""

    kept: Path | None
    log: Path | None
    state: Path

    @classmethod
    def beside(cls, output: str | os.PathLike, log_suffix: str | None) -> StepFiles:
        """``<output>``, ``<output><log_suffix>`` and ``<output>.state.json``."""
        out = Path(output)
        return cls(out, out.with_name(out.name + log_suffix) if log_suffix else None,
                   out.with_name(out.name + ".state.json"))


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
            if data.pop("version", None) != STATE_VERSION:
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


def _decide_block(data: bytes, first_lineno: int) -> _BlockResult:
    reader: RowReader = _CONTEXT["reader"]
    filt: RowFilter = _CONTEXT["filter"]
    fmt, id_field = _CONTEXT["log"], _CONTEXT["id_field"]
    rows = reader.parse(data, first_lineno)
    decisions = filt.decide_batch(rows)
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
    return _BlockResult(keep, len(rows), "".join(records).encode("utf-8"), reasons)


def _worker_block(args: tuple[int, int, int]) -> Any:
    offset, size, first = args
    try:
        fd = _CONTEXT.get("fd")
        if fd is None:
            fd = _CONTEXT["fd"] = os.open(_CONTEXT["reader"].path, os.O_RDONLY)
        return _decide_block(_CONTEXT["reader"].read_bytes(offset, size, fd), first)
    except DataError as exc:  # DataError does not survive pickling: send its parts back
        where = exc.path if exc.line is None else f"{exc.path}:{exc.line}"
        message = str(exc)[len(where) + 2:]
        if exc.field:
            message = message[len(f"field '{exc.field}': "):]
        return ("__error__", exc.path, exc.line, message, exc.field)


def _decided(blocks: Iterator[Block], pool: Any, workers: int) -> Iterator[tuple[Block, _BlockResult]]:
    """``(block, result)`` in input order; with a pool at most ``2 * workers`` blocks are in flight
    (``Pool.imap`` would read the whole input into memory ahead of the workers)."""
    if pool is None:
        for b in blocks:
            yield b, _decide_block(b"".join(b.lines), b.first_lineno)
        return
    inflight: deque = deque()

    def result(item: tuple[Block, Any]) -> tuple[Block, _BlockResult]:
        b, fut = item
        res = fut.get()
        if isinstance(res, tuple) and res and res[0] == "__error__":
            _, path, line, message, fld = res
            raise DataError(path, line, message, field=fld)
        return b, res

    for b in blocks:
        inflight.append((b, pool.apply_async(_worker_block, ((b.offset, b.size, b.first_lineno),))))
        if len(inflight) >= 2 * workers:
            yield result(inflight.popleft())
    while inflight:
        yield result(inflight.popleft())


# --------------------------------------------------------------------------------------------------
# Running a step
# --------------------------------------------------------------------------------------------------


def _start(reader: RowReader, files: StepFiles, step: str, digest: str, overwrite: bool) -> StepState:
    fresh = StepState(digest, str(reader.path.resolve()),
                      report=StepReport(step, str(reader.path), _str(files.kept), _str(files.log)))
    if overwrite:
        files.state.unlink(missing_ok=True)
        return fresh
    if files.state.exists():
        state = StepState.load(files.state)
        if state.settings != digest or state.input_path != fresh.input_path:
            raise ValueError(
                f"{files.state}: left by a run with a different input, benchmark set or settings; "
                "pass --overwrite to start again"
            )
        return state
    for p in (files.kept, files.log):
        if p is not None and p.exists() and p.stat().st_size > 0:
            raise FileExistsError(f"{p} exists and has no resume state; pass --overwrite to replace it")
    return fresh


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


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
    state_every_s: float = 1.0,
) -> StepReport:
    """Run ``filt`` over the rows of ``reader`` into ``files`` (see the module docstring).

    ``workers > 1`` forks processes that read and decide their own blocks (the filter is shared
    copy-on-write); the parent writes, so outputs are identical to a single process.
    ``max_batches`` stops early after that many blocks, as an interruption would (tests use it).
    """
    for p in (files.kept, files.log, files.state):
        if p is not None and p.exists() and p.resolve() == reader.path.resolve():
            raise ValueError(f"{p} is the input file; choose another output")
    digest = settings_digest({"step": filt.name, "filter": filt.settings(), "kept": _str(files.kept),
                              "log_format": log_format, "id_field": id_field})
    state = _start(reader, files, filt.name, digest, overwrite)
    report = state.report
    assert report is not None
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
    for p, valid in ((files.kept, state.kept_bytes), (files.log, state.log_bytes)):
        if p is not None:
            have = p.stat().st_size if p.exists() else 0
            if have < valid:  # truncate() would pad it with zero bytes
                raise ValueError(f"{p} has {have} bytes but the resume state {files.state} counts {valid}: it was "
                                 "changed or deleted after the run; pass --overwrite to start again")
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "ab") as fh:
                fh.truncate(valid)  # drops whatever an interrupted run wrote after its last saved state
    files.state.parent.mkdir(parents=True, exist_ok=True)

    def save(done: bool = False) -> None:
        st = reader.path.stat()
        state.input_size, state.input_mtime_ns = st.st_size, st.st_mtime_ns
        report.done = done
        state.save(files.state)

    t0 = time.perf_counter() - report.seconds
    _CONTEXT.update(reader=reader, filter=filt, log=log_format, id_field=id_field)
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=size, initial=state.offset, unit="B", unit_scale=True, desc=filt.name)
    try:
        with _open(files.kept) as fkeep, _open(files.log) as flog:
            last_save = time.perf_counter()
            blocks = reader.blocks(state.offset, state.lineno)
            try:
                for done_blocks, (block, res) in enumerate(_decided(blocks, pool, workers), start=1):
                    for line in block.lines:
                        hasher.update(line)
                    state.input_digest = hasher.hexdigest()
                    if not block.lines[-1].endswith(b"\n"):
                        block.lines[-1] += b"\n"  # a kept last line of a file without a final newline
                    fkeep.write(b"".join(block.lines[i] for i in res.keep))
                    flog.write(res.records)
                    fkeep.flush()
                    flog.flush()
                    state.offset, state.lineno = block.end, block.first_lineno + len(block.lines)
                    state.kept_bytes, state.log_bytes = fkeep.tell(), flog.tell()
                    report.rows += res.rows
                    report.kept += len(res.keep)
                    report.removed = report.rows - report.kept
                    report.reasons = dict(Counter(report.reasons) + res.reasons)
                    report.seconds = round(time.perf_counter() - t0, 3)
                    stop = max_batches is not None and done_blocks >= max_batches
                    now = time.perf_counter()
                    if stop or now - last_save >= state_every_s:
                        save()  # outputs are flushed first, so the state never points past what is on disk
                        last_save = now
                    if bar is not None:
                        bar.update(block.size)
                        bar.set_postfix(rows=report.rows, kept=report.kept)
                    if stop:
                        return report
            except DataError:
                save()  # the blocks before the bad one are on disk: after a fix, the rerun starts at that block
                raise
        report.seconds = round(time.perf_counter() - t0, 3)
        save(done=True)
        log.info("%s: kept %d of %d rows of %s (%s)", filt.name, report.kept, report.rows, reader.path,
                 dict(sorted(report.reasons.items())))
        return report
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.terminate()
        _CONTEXT.clear()


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
    "input_hasher", "settings_digest",
]
