"""Reading a selection step's input: the one place where the bytes of a JSONL file become rows.

Why one place: every selection step (decontaminate, coreset, select-hard, verify, dedup) reads the same
kind of file (millions of synth rows, possibly malformed, some of them huge) and must copy kept lines
byte for byte, name the file and line of a bad row, and resume at a byte offset. Reading in whole-line
blocks of raw bytes gives all three: a block's lines are parsed with the core reader's rules
(:func:`skymath_tasks.jsonl_io.parse_line`: orjson when installed, ``file:line`` errors with a reason),
the raw lines are what the step writes, and ``offset`` is where a resumed run seeks to.

Memory follows a budget, not the input:

* a block ends at ``batch_rows`` lines or ``batch_bytes`` bytes, whichever comes first (512 rows of
  81 KB are 41 MB; by bytes the block stays near 1 MiB whatever the row size);
* a line longer than the byte limit (:func:`skymath_tasks.jsonl_io.max_row_bytes`, 64 MiB by default)
  streams past in pieces and is never held: it is a :class:`~skymath_tasks.jsonl_io.LongLine` in the
  block, an error (or a rejected row) when parsed;
* the digest of the input bytes read so far (what a resume state records) is taken while reading,
  so nothing is read twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import (
    DataError,
    LongLine,
    OnError,
    _orjson,
    check_fields,
    empty_file_error,
    max_row_bytes,
    parse_line,
    read_line,
)

#: Bytes of input lines per block: a few MB of numpy temporaries per block in decontamination.
DEFAULT_BATCH_BYTES = 1 << 20


def loads_json(line: str | bytes) -> Any:
    """``json.loads`` semantics (NaN, big integers accepted), with orjson's speed when it is installed."""
    import json

    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(line)


@dataclass(slots=True)
class Row:
    """One parsed input row: where it came from (for error messages and reports) and its fields."""

    path: str
    lineno: int  # 1-based line number in the input file
    index: int  # position of its line inside the block it was read with
    data: dict[str, Any]

    def text(self, field: str) -> str:
        """The string value of ``field``; a missing or non-string value is a :class:`DataError` at this row."""
        value = self.data.get(field)
        if value is None:
            raise DataError(self.path, self.lineno, "missing", field=field, reason="missing")
        if not isinstance(value, str):
            check_fields(self.path, self.lineno, self.data, types={field: str})
        return value


@dataclass(slots=True)
class Rejected:
    """A line that gave no row: its position in the block, the error, and its raw bytes (or their size)."""

    index: int
    error: DataError
    raw: bytes | LongLine | None


@dataclass(slots=True)
class Block:
    """Consecutive whole lines of the input as raw bytes (the last line of a file may lack its newline;
    a line over the byte limit is a :class:`LongLine`, its bytes not kept)."""

    lines: list[bytes | LongLine]
    first_lineno: int
    offset: int  # byte offset of the first line in the file
    size: int  # bytes of all lines together
    digest: str | None = None  # digest of the input bytes [0, end), when read with a hasher
    long_lines: int = field(default=0)

    @property
    def end(self) -> int:
        return self.offset + self.size


class RowReader:
    """Reads a JSONL file in blocks (``batch_rows`` lines or ``batch_bytes`` bytes) from any byte offset,
    with a byte limit per line; parses blocks into rows."""

    def __init__(self, path: str | os.PathLike, batch_rows: int = 512, batch_bytes: int | None = None,
                 max_row_bytes: int | str | None = None, *, allow_empty: bool = True):
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        if batch_bytes is not None and batch_bytes < 1:
            raise ValueError("batch_bytes must be >= 1")
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes or DEFAULT_BATCH_BYTES
        self.max_row_bytes = _limit(max_row_bytes)
        if not self.path.is_file():
            raise FileNotFoundError(f"input file {self.path} not found")
        if not allow_empty:
            self.require_rows()

    def require_rows(self) -> None:
        """A :class:`DataError` (``file:1: no rows``) when the file holds nothing but blank lines."""
        blank = 0
        with open(self.path, "rb") as fh:
            while True:
                piece = fh.readline(1 << 16)
                if not piece:
                    raise empty_file_error(self.path, blank)
                if piece.strip():
                    return
                blank += piece.endswith(b"\n")

    def size(self) -> int:
        return self.path.stat().st_size

    def settings(self) -> dict[str, Any]:
        """What the rows depend on (a resumed run must read with the same limit)."""
        return {"max_row_bytes": self.max_row_bytes}

    def blocks(self, offset: int = 0, lineno: int = 1, hasher: Any = None) -> Iterator[Block]:
        """Blocks of whole lines from byte ``offset`` (which must start a line, numbered ``lineno``).
        ``hasher`` (fed with the bytes before ``offset``) is fed with every byte read, over-long lines
        included, and each block carries the digest at its end."""
        limit = self.max_row_bytes
        on_chunk = hasher.update if hasher is not None else None
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            while True:
                lines: list[bytes | LongLine] = []
                size = longs = 0
                while len(lines) < self.batch_rows and size < self.batch_bytes:
                    raw = read_line(fh, limit, on_chunk)
                    if not raw:
                        break
                    if isinstance(raw, LongLine):
                        longs += 1
                    elif hasher is not None:
                        hasher.update(raw)
                    lines.append(raw)
                    size += len(raw)
                if not lines:
                    return
                yield Block(lines, lineno, offset, size, hasher.hexdigest() if hasher is not None else None, longs)
                lineno += len(lines)
                offset += size

    def read_bytes(self, offset: int, size: int, fd: int | None = None) -> bytes:
        """The raw bytes of a block, by position (worker processes read their blocks themselves)."""
        if fd is not None:
            return os.pread(fd, size, offset)
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    @staticmethod
    def split_lines(data: bytes) -> list[bytes]:
        """A block's bytes as its lines, newlines kept (only ``\\n`` ends a line, as when reading)."""
        lines = [line + b"\n" for line in data.split(b"\n")]
        last = lines.pop()
        if last != b"\n":
            lines.append(last[:-1])  # the file's last line, without a newline
        return lines

    def parse_rows(self, lines: Sequence[bytes | LongLine], first_lineno: int,
                   on_error: OnError = "fail") -> tuple[list[Row], list[Rejected]]:
        """The rows of a block's lines, and the lines rejected (``on_error="skip"``; with ``"fail"`` the
        first bad line raises a :class:`DataError` naming file and line: over the byte limit, not UTF-8,
        not JSON, not a JSON object). Blank lines give no row."""
        path = str(self.path)
        rows: list[Row] = []
        bad: list[Rejected] = []
        for k, raw in enumerate(lines):
            try:
                value = parse_line(path, first_lineno + k, raw)
            except DataError as err:
                if on_error != "skip":
                    raise
                bad.append(Rejected(k, err, raw))
                continue
            if value is not None:
                rows.append(Row(path, first_lineno + k, k, value))
        return rows, bad

    def parse(self, data: bytes, first_lineno: int) -> list[Row]:
        """The rows of a block's bytes (fail fast)."""
        return self.parse_rows(self.split_lines(data), first_lineno)[0]

    def parse_block(self, block: Block) -> list[Row]:
        return self.parse_rows(block.lines, block.first_lineno)[0]

    def rows(self) -> Iterator[Row]:
        """Every row of the file in order (for steps that look at all rows before deciding)."""
        for block in self.blocks():
            yield from self.parse_block(block)


def _limit(value: int | str | None) -> int:
    return max_row_bytes(value)


__all__ = ["Row", "Rejected", "Block", "RowReader", "loads_json", "DEFAULT_BATCH_BYTES"]
