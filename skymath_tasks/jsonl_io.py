"""The one reader of JSONL/JSON input in SkyMath, append-only JSONL writing, and file hashes.

Why one module: every stage (synthesis, selection, training data, reports) reads user files that can
be malformed or huge, and writes results that must survive a crash. The rules are written once, here:

* **errors name the place**: ``file:line: field 'x': message`` (:class:`DataError`, with a stable
  ``reason`` word: ``not_utf8``, ``bad_json``, ``not_object``, ``missing``, ``wrong_type``,
  ``too_long``, ``empty``), never a ``UnicodeDecodeError`` traceback;
* **a byte limit per row**: a line longer than :func:`max_row_bytes` (default
  :data:`DEFAULT_MAX_ROW_BYTES`, 64 MiB; ``$SKYMATH_MAX_ROW_BYTES`` or each command's
  ``--max-row-bytes`` changes it) is measured while it streams past and never held in memory;
* **fail fast or skip and record**: ``on_error="fail"`` stops at the first bad row,
  ``on_error="skip"`` goes on and writes each skipped row (line, reason, message, a cut excerpt) to a
  rejects file (:class:`RejectsWriter`);
* **long values are cut** in messages (:func:`excerpt`: the first and last 80 characters and the
  length), so a 50 MB field never lands in a terminal or a log;
* an empty file is an error where a command needs rows (``allow_empty=False``).

The writer appends whole lines and flushes them, and the reader of an output file tolerates exactly
one torn last line (what a ``kill -9`` mid-write leaves), so a resumed job loses nothing and duplicates
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TextIO

try:  # optional: ~3x faster parsing; the standard library decides whenever orjson refuses a line
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

log = logging.getLogger(__name__)

#: Longest row (one JSONL line, or one whole JSON document) read by default: a synthetic row is a few
#: KB and an lm-eval sample row tens of KB, so 64 MiB is thousands of times what real rows need, and the
#: steps that hold a row stay within their memory budgets up to it (bench/big_rows.py: the selection
#: steps under 512 MiB with 50 MB rows); a longer row is refused while it streams past, never read in.
DEFAULT_MAX_ROW_BYTES = 64 * 1024 * 1024
#: Environment variable that changes the default limit (``64MiB``, ``1G``, ``2000000``).
ENV_MAX_ROW_BYTES = "SKYMATH_MAX_ROW_BYTES"
#: Characters kept at each end of a long value shown in a message.
EXCERPT_CHARS = 80

#: What a reader does with a bad row: stop with its DataError ("fail", also spelled "raise"), or skip it and
#: record it ("skip").
OnError = Literal["fail", "raise", "skip"]
ON_ERROR_CHOICES: tuple[str, ...] = ("fail", "skip")

_override: list[int] = []  # set by row_byte_limit() (a command's --max-row-bytes), innermost last


# --------------------------------------------------------------------------------------------------
# Errors and messages
# --------------------------------------------------------------------------------------------------


def excerpt(value: Any, keep: int = EXCERPT_CHARS, *, quote: bool = True) -> str:
    """A value fit for a one-line message: its ``repr`` (``quote=False``: the bare text); beyond
    ``2 * keep`` characters only the first and last ``keep`` characters and the length
    (``'abc…' … '…xyz' (52428800 characters)``). Bytes are shown as UTF-8 text, bad bytes escaped."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    text = value if isinstance(value, str) else repr(value)
    show = repr if quote and isinstance(value, str) else str
    if len(text) <= 2 * keep:
        return show(text)
    return f"{show(text[:keep])} … {show(text[-keep:])} ({len(text)} characters)"


def cut_message(text: str, keep: int = EXCERPT_CHARS) -> str:
    """A whole message that grew too long (a caller put a huge value in it): its ends and its length."""
    if len(text) <= 4 * keep + 200:
        return text
    return f"{text[: 2 * keep]} … {text[-keep:]} [message cut: {len(text)} characters]"


class DataError(ValueError):
    """Bad input data, located precisely: ``file:line: field 'x': message``.

    ``reason`` is a short stable word for reports and rejects files (``bad_json``, ``not_utf8``,
    ``not_object``, ``missing``, ``wrong_type``, ``too_long``, ``empty``; read from the message when not
    given: ``missing ...`` and ``expected ...``; ``invalid`` otherwise).
    A message longer than a few hundred characters is cut (first and last part plus the length)."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str, field: str | None = None, *,
                 reason: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = cut_message(str(message))
        self.reason = reason or _reason_of(self.message)
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field '{field}': {self.message}" if field else self.message
        super().__init__(f"{where}: {what}")

    def __reduce__(self) -> tuple:  # survives pickling (worker processes send it back)
        return (_rebuild_data_error, (self.path, self.line, self.message, self.field, self.reason))


def _reason_of(message: str) -> str:
    """The reason word of a message written without one (``missing ...``, ``expected X, got Y``)."""
    if message.startswith("missing"):
        return "missing"
    if message.startswith("expected"):
        return "wrong_type"
    return "invalid"


def _rebuild_data_error(path: str, line: int | None, message: str, field: str | None, reason: str) -> DataError:
    return DataError(path, line, message, field, reason=reason)


class CorruptOutputError(DataError):
    """A line in the middle of one of our own append-only output files (a response cache, a picks file)
    is not a JSON object: the file was edited or damaged. ``skymath-synth generate --repair`` moves such
    lines to a side file so only their work is redone."""


# --------------------------------------------------------------------------------------------------
# The byte limit per row
# --------------------------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``16777216``, ``16MiB``, ``16M``, ``1.5G`` -> bytes (K/M/G/T are powers of 1024)."""
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE_RE.match(str(text))
        if not m:
            raise ValueError(f"not a size in bytes: {text!r} (e.g. 16777216, 16MiB, 1G)")
        value = int(float(m.group(1)) * 1024 ** "_kmgt".index((m.group(2) or "_").lower()))
    if value < 1:
        raise ValueError(f"a byte limit must be at least 1, got {text!r}")
    return value


def max_row_bytes(value: int | str | None = None) -> int:
    """The byte limit of one row: ``value`` if given, else the innermost :func:`row_byte_limit`, else
    ``$SKYMATH_MAX_ROW_BYTES``, else :data:`DEFAULT_MAX_ROW_BYTES`."""
    if value is not None:
        return parse_size(value)
    if _override:
        return _override[-1]
    env = os.environ.get(ENV_MAX_ROW_BYTES)
    if env:
        try:
            return parse_size(env)
        except ValueError as exc:
            raise ValueError(f"${ENV_MAX_ROW_BYTES}: {exc}") from None
    return DEFAULT_MAX_ROW_BYTES


@contextmanager
def row_byte_limit(value: int | str | None) -> Iterator[None]:
    """Within the block, readers that are given no explicit limit use ``value`` (``None``: no change).
    What a command's ``--max-row-bytes`` sets for the libraries it calls."""
    if value is None:
        yield
        return
    _override.append(parse_size(value))
    try:
        yield
    finally:
        _override.pop()


def _too_long_message(size: int, limit: int) -> str:
    return (f"row of {size} bytes is over the limit of {limit} bytes (raise it with --max-row-bytes or "
            f"${ENV_MAX_ROW_BYTES})")


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line over the byte limit: only its sizes and first bytes were kept (the rest streamed past)."""

    size: int  # bytes in the file, newline included
    content: int  # bytes before the newline (what the limit applies to)
    head: bytes
    limit: int

    def __len__(self) -> int:
        return self.size

    def endswith(self, suffix: bytes) -> bool:
        return suffix == b"\n" and self.size > self.content


def read_line(fh: IO[bytes], limit: int, on_chunk: Callable[[bytes], Any] | None = None) -> bytes | LongLine:
    """The next line of a binary file, newline included (``b""`` at the end). A line whose bytes before
    the newline exceed ``limit`` is read in 1 MiB pieces (each given to ``on_chunk``, e.g. a hasher),
    counted and dropped: a :class:`LongLine`."""
    raw = fh.readline(limit + 1)
    if len(raw) <= limit or raw.endswith(b"\n"):
        return raw
    head, size = raw[: 8 * EXCERPT_CHARS], len(raw)
    if on_chunk is not None:
        on_chunk(raw)
    del raw
    newline = False
    while True:
        chunk = fh.readline(1 << 20)
        size += len(chunk)
        if on_chunk is not None and chunk:
            on_chunk(chunk)
        if not chunk:
            break
        if chunk.endswith(b"\n"):
            newline = True
            break
    return LongLine(size, size - newline, head, limit)


def iter_lines(fh: IO[bytes], limit: int, first_lineno: int = 1) -> Iterator[tuple[int, bytes | LongLine]]:
    """``(line number, raw line or LongLine)`` for every line of a binary file (blank lines included)."""
    lineno = first_lineno
    while True:
        raw = read_line(fh, limit)
        if not raw:
            return
        yield lineno, raw
        lineno += 1


# --------------------------------------------------------------------------------------------------
# Parsing and checking one row
# --------------------------------------------------------------------------------------------------


def _is_blank(raw: bytes) -> bool:
    return not raw.strip()


def parse_line(path: str | os.PathLike, lineno: int, raw: bytes | LongLine) -> dict[str, Any] | None:
    """The JSON object on one line (``None`` for a blank line), with ``json.loads`` semantics (NaN and big
    integers accepted) at orjson's speed. Errors are :class:`DataError` naming file and line: over the
    byte limit, not UTF-8 (with the bad byte), not JSON (with the column), not an object."""
    if isinstance(raw, LongLine):
        raise DataError(path, lineno, _too_long_message(raw.content, raw.limit), reason="too_long")
    if _orjson is not None:
        try:
            value = _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            value = _slow_parse(path, lineno, raw)
    else:  # pragma: no cover - depends on the environment
        value = _slow_parse(path, lineno, raw)
    if value is _BLANK:
        return None
    if type(value) is not dict:
        raise DataError(path, lineno, f"expected a JSON object, got {type(value).__name__}", reason="not_object")
    return value


_BLANK = object()


def _slow_parse(path: str | os.PathLike, lineno: int, raw: bytes) -> Any:
    if _is_blank(raw):
        return _BLANK
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, lineno, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", reason="not_utf8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})", reason="bad_json") from None
    except RecursionError:
        raise DataError(path, lineno, "not valid JSON (nested too deeply)", reason="bad_json") from None


def type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def check_fields(path: str | os.PathLike, lineno: int, row: dict[str, Any], required: Sequence[str] = (),
                 types: dict[str, type | tuple[type, ...]] | None = None) -> None:
    """``required`` fields present and not null, fields of ``types`` of that type when present (a bool is
    not an int here); errors name file, line and field, and show a cut excerpt of a wrong value."""
    for name in required:
        if name not in row or row[name] is None:
            raise DataError(path, lineno, "missing", field=name, reason="missing")
    for name, expected in (types or {}).items():
        value = row.get(name)
        if value is None:
            continue
        exp = expected if isinstance(expected, tuple) else (expected,)
        if not isinstance(value, exp) or (isinstance(value, bool) and bool not in exp and int in exp):
            raise DataError(path, lineno, f"expected {type_name(expected)}, got {type(value).__name__} "
                            f"{excerpt(value)}", field=name, reason="wrong_type")


# --------------------------------------------------------------------------------------------------
# Rejects: skipped rows and why
# --------------------------------------------------------------------------------------------------


def reject_record(err: DataError, raw: bytes | LongLine | None = None) -> dict[str, Any]:
    """One line of a rejects file: where, why, and a cut excerpt of the row (never the whole row)."""
    rec: dict[str, Any] = {"file": err.path, "line": err.line, "reason": err.reason, "field": err.field,
                           "message": err.message}
    if isinstance(raw, LongLine):
        head = raw.head.decode("utf-8", "backslashreplace")[:EXCERPT_CHARS]
        rec.update(bytes=raw.size, excerpt=f"{head} … ({raw.content} bytes)")
    elif raw is not None:
        rec.update(bytes=len(raw), excerpt=excerpt(raw.rstrip(b"\n"), quote=False))
    return rec


class RejectsWriter:
    """Appends one JSON line per skipped row to ``path`` (created on the first reject, flushed at once)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.count = 0
        self._fh: IO[bytes] | None = None

    def write(self, err: DataError, raw: bytes | LongLine | None = None) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
        self._fh.write(json.dumps(reject_record(err, raw), ensure_ascii=False).encode("utf-8") + b"\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------------


def check_on_error(value: str) -> OnError:
    """``"fail"`` or ``"skip"`` (``"raise"`` is read as ``"fail"``)."""
    if value == "raise":
        return "fail"
    if value not in ON_ERROR_CHOICES:
        raise ValueError(f"on a bad row: expected one of {ON_ERROR_CHOICES}, got {value!r}")
    return value  # type: ignore[return-value]


def empty_file_error(path: str | os.PathLike, blank_lines: int = 0) -> DataError:
    what = f"only {blank_lines} blank line(s)" if blank_lines else "the file is empty"
    return DataError(path, 1, f"no rows: {what}", reason="empty")


@dataclass
class JsonlReader:
    """Rows of a JSONL file, streamed and checked (see the module docstring for the rules).

    Iterate for ``(line_number, row)``; :meth:`raw_rows` also gives each raw line (for steps that copy
    kept lines byte for byte). With ``on_error="skip"`` a bad row is skipped, logged, counted in
    ``rejected`` and written to ``rejects`` (a path or a :class:`RejectsWriter`) when given; ``check``
    is an extra per-row check whose :class:`DataError` counts as a bad row too."""

    path: str | os.PathLike
    required: Sequence[str] = ()
    types: dict[str, type | tuple[type, ...]] | None = None
    max_row_bytes: int | str | None = None
    on_error: OnError = "fail"
    rejects: str | os.PathLike | RejectsWriter | None = None
    allow_empty: bool = True
    check: Callable[[int, dict[str, Any]], None] | None = None
    rows: int = field(default=0, init=False)
    rejected: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.on_error = check_on_error(self.on_error)
        self.limit = max_row_bytes(self.max_row_bytes)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for lineno, _, row in self.raw_rows():
            yield lineno, row

    def raw_rows(self) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
        path = self.path
        own_writer = self.rejects is not None and not isinstance(self.rejects, RejectsWriter)
        writer = RejectsWriter(self.rejects) if own_writer else self.rejects  # type: ignore[arg-type]
        blank = 0
        self.rows = self.rejected = 0
        try:
            with _open_input(path) as fh:
                for lineno, raw in iter_lines(fh, self.limit):
                    try:
                        row = parse_line(path, lineno, raw)
                        if row is None:
                            blank += 1
                            continue
                        check_fields(path, lineno, row, self.required, self.types)
                        if self.check is not None:
                            self.check(lineno, row)
                    except DataError as err:
                        if self.on_error == "fail":
                            raise
                        self.rejected += 1
                        log.warning("skipping %s", err)
                        if writer is not None:
                            writer.write(err, raw)
                        continue
                    self.rows += 1
                    yield lineno, raw if isinstance(raw, bytes) else b"", row
            if not self.rows and not self.rejected and not self.allow_empty:
                raise empty_file_error(path, blank)
            if self.rejected:
                log.warning("%s: skipped %d bad row(s)%s", path, self.rejected,
                            f" (listed in {writer.path})" if writer is not None else "")
        finally:
            if own_writer and writer is not None:
                writer.close()


def _open_input(path: str | os.PathLike) -> IO[bytes]:
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a JSONL file") from None


def iter_jsonl(
    path: str | os.PathLike,
    required: Sequence[str] = (),
    types: dict[str, type | tuple[type, ...]] | None = None,
    *,
    max_row_bytes: int | str | None = None,
    on_error: OnError = "fail",
    rejects: str | os.PathLike | RejectsWriter | None = None,
    allow_empty: bool = True,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)`` from a JSONL file, validating as it streams (:class:`JsonlReader`).

    Blank lines are skipped. A line over the byte limit, not UTF-8, not a JSON object, lacking a
    ``required`` field or with a field of the wrong type raises :class:`DataError` naming file, line
    and field (or, with ``on_error="skip"``, is skipped and recorded in ``rejects``)."""
    return iter(JsonlReader(path, required, types, max_row_bytes, on_error, rejects, allow_empty))


def iter_raw_rows(path: str | os.PathLike, **kwargs: Any) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """``(line_number, raw_line, row)`` for filters that copy kept lines unchanged (byte for byte; a last
    line without its newline gets one); same checks and options as :func:`iter_jsonl`."""
    for lineno, raw, row in JsonlReader(path, **kwargs).raw_rows():
        yield lineno, (raw if raw.endswith(b"\n") else raw + b"\n"), row


def read_jsonl(path: str | os.PathLike, **kwargs: Any) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path, **kwargs)]


def read_json(path: str | os.PathLike, *, max_bytes: int | str | None = None) -> Any:
    """A whole JSON document (a results file, a submission, a JSON array of seeds). The file counts as one
    row for the byte limit; errors name file and line: too big, not UTF-8, not JSON."""
    limit = max_row_bytes(max_bytes)
    with _open_input(path) as fh:
        data = fh.read(limit + 1)
        if len(data) > limit:
            size = os.fstat(fh.fileno()).st_size
            raise DataError(path, 1, f"JSON document of {size} bytes is over the limit of {limit} bytes (raise it "
                            f"with --max-row-bytes or ${ENV_MAX_ROW_BYTES})", reason="too_long")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", reason="not_utf8") from None
    if not text.strip():
        raise empty_file_error(path, text.count("\n"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})",
                        reason="bad_json") from None
    except RecursionError:
        raise DataError(path, 1, "not valid JSON (nested too deeply)", reason="bad_json") from None


# Kept for callers of the old private name.
_type_name = type_name


# --------------------------------------------------------------------------------------------------
# Our own append-only output files
# --------------------------------------------------------------------------------------------------


def stream_output_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, row)`` of a file written by :class:`JsonlAppender`, streamed (a response cache at
    paper scale is gigabytes). Only a torn *last* line (no newline) is dropped, with a warning; a bad
    line anywhere else is :class:`CorruptOutputError` naming file and line. No byte limit: we wrote it."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, "rb") as fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            try:
                row = parse_line(p, lineno, raw)
            except DataError as err:
                if not raw.endswith(b"\n") and not fh.read(1):
                    log.warning("%s:%d: dropping torn last line (interrupted write); it will be redone", p, lineno)
                    return
                raise CorruptOutputError(p, lineno, f"output file is corrupt ({err.message})",
                                         reason="corrupt") from None
            if row is not None:
                yield lineno, row


def read_output_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a file written by :class:`JsonlAppender`, dropping a torn final line.

    Only the last line may be incomplete (the writer appends whole lines); a bad line anywhere else is
    corruption and raises :class:`CorruptOutputError` (a :class:`DataError`).
    """
    return [row for _, row in stream_output_rows(path)]


_ID_RE = re.compile(rb'"id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


@dataclass
class RepairReport:
    """What :func:`repair_output_file` did: bad lines moved out (their ids when readable), lines kept."""

    path: str
    side_file: str | None
    bad_lines: list[int] = field(default_factory=list)
    bad_ids: list[str] = field(default_factory=list)
    kept_lines: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "side_file": self.side_file, "bad_lines": self.bad_lines,
                "bad_ids": self.bad_ids, "kept_lines": self.kept_lines}


def repair_output_file(path: str | os.PathLike, side_file: str | os.PathLike | None = None) -> RepairReport:
    """Move every line of an append-only output file that is not a JSON object to ``side_file`` (default
    ``<path>.bad.jsonl``; appended: one record per line with its number, reason, the id read from it when
    possible, and its bytes as text, lone bytes escaped), and rewrite the file without them (temp file +
    rename: a crash leaves the old file or the new one, never half of each). The work of those lines is
    then simply missing, so a rerun redoes exactly that work."""
    p = Path(path)
    side = Path(side_file) if side_file is not None else p.with_name(p.name + ".bad.jsonl")
    report = RepairReport(str(p), None)
    if not p.exists():
        return report
    tmp = p.with_name(p.name + ".repair.tmp")
    bad: list[dict[str, Any]] = []
    with open(p, "rb") as src, open(tmp, "wb") as dst:
        for lineno, raw in enumerate(src, start=1):
            try:
                row = parse_line(p, lineno, raw)
            except DataError as err:
                m = _ID_RE.search(raw)
                rid = m.group(1).decode("utf-8", "replace") if m else None
                bad.append({"line": lineno, "reason": err.reason, "message": err.message, "id": rid,
                            "raw": raw.rstrip(b"\n").decode("utf-8", "surrogateescape")})
                report.bad_lines.append(lineno)
                if rid:
                    report.bad_ids.append(rid)
                continue
            if row is None:
                continue
            dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
            report.kept_lines += 1
        dst.flush()
        os.fsync(dst.fileno())
    if not bad:
        tmp.unlink()
        return report
    with open(side, "ab") as fh:
        for rec in bad:
            fh.write(json.dumps(rec, ensure_ascii=True).encode("ascii") + b"\n")
    os.replace(tmp, p)
    report.side_file = str(side)
    log.warning("%s: moved %d bad line(s) %s to %s; their work will be redone", p, len(bad),
                report.bad_lines[:20], side)
    return report


@dataclass
class JsonlAppender:
    """Append-only JSONL writer: one ``write`` = one complete, flushed line.

    On open it truncates a torn last line left by a crash so new lines never glue onto it.
    ``fsync=True`` also forces the data to disk on every write (slow; for very expensive rows).
    """

    path: Path
    fsync: bool = False
    _fh: TextIO | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        assert self._fh is not None, "writer is closed"
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return
        # find the last newline and cut everything after it
        pos = size - 1
        chunk = 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            data = fh.read(pos - start)
            idx = data.rfind(b"\n")
            if idx != -1:
                fh.truncate(start + idx + 1)
                log.warning("%s: removed a torn last line left by an interrupted write", path)
                return
            pos = start
        fh.truncate(0)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file + rename); for small derived files, not for long jobs."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, p)
    return n


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks): how submissions and manifests pin data."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = [
    "DataError", "CorruptOutputError", "DEFAULT_MAX_ROW_BYTES", "ENV_MAX_ROW_BYTES", "EXCERPT_CHARS",
    "ON_ERROR_CHOICES", "OnError", "check_on_error", "excerpt", "cut_message", "parse_size", "max_row_bytes", "row_byte_limit", "LongLine", "read_line",
    "iter_lines", "parse_line", "check_fields", "type_name", "reject_record", "RejectsWriter", "JsonlReader",
    "empty_file_error", "iter_jsonl", "iter_raw_rows", "read_jsonl", "read_json", "stream_output_rows",
    "read_output_rows", "RepairReport", "repair_output_file", "JsonlAppender", "write_jsonl", "file_sha256",
]
