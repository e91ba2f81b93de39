"""JSONL reading and append-only writing shared by every long job in SkyMath, and file hashes.

Why one module: every stage (synthesis, selection, training data, reports) reads user files that can
be malformed and writes results that must survive a crash. Errors name the file, line and field; the
writer appends whole lines and flushes them, and the reader of an output file tolerates exactly one
torn last line (what a ``kill -9`` mid-write leaves) so a resumed job loses nothing and duplicates
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data, located precisely: ``file:line: field 'x': message``."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field '{field}': {message}" if field else message
        super().__init__(f"{where}: {what}")


def iter_jsonl(
    path: str | os.PathLike,
    required: Sequence[str] = (),
    types: dict[str, type | tuple[type, ...]] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)`` from a JSONL file, validating as it streams.

    Blank lines are skipped. A line that is not a JSON object, lacks a ``required`` field or has a
    field of the wrong type raises :class:`DataError` naming file, line and field.
    """
    types = types or {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise DataError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
            for field in required:
                if field not in row or row[field] is None:
                    raise DataError(path, lineno, "missing", field=field)
            for field, expected in types.items():
                if field in row and row[field] is not None and not isinstance(row[field], expected):
                    raise DataError(
                        path, lineno, f"expected {_type_name(expected)}, got {type(row[field]).__name__}", field=field
                    )
            yield lineno, row


def iter_raw_rows(path: str | os.PathLike) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """``(line_number, raw_line, row)`` for filters that copy kept lines unchanged (byte for byte);
    errors name file and line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise DataError(path, lineno, "not valid JSON") from None
            if not isinstance(row, dict):
                raise DataError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
            yield lineno, (raw if raw.endswith(b"\n") else raw + b"\n"), row


def read_jsonl(path: str | os.PathLike, **kwargs: Any) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path, **kwargs)]


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def read_output_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a file written by :class:`JsonlAppender`, dropping a torn final line.

    Only the last line may be incomplete (the writer appends whole lines); a bad line anywhere else is
    corruption and raises :class:`DataError`.
    """
    p = Path(path)
    if not p.exists():
        return []
    rows: list[dict[str, Any]] = []
    with open(p, encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) and not line.endswith("\n"):
                log.warning("%s:%d: dropping torn last line (interrupted write); it will be redone", p, i)
                continue
            raise DataError(p, i, "output file is corrupt (not JSON)") from None
        rows.append(row)
    return rows


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
