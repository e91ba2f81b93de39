"""Reading a selection step's input: the one place where the bytes of a JSONL file become rows.

Why one place: every selection step (decontaminate, coreset, select-hard, verify, dedup) reads the same
kind of file (millions of synth rows, possibly malformed) and must copy kept lines byte for byte, name
the file and line of a bad row, and resume at a byte offset. Reading in whole-line blocks of raw bytes
gives all three: a block is decoded and parsed in one go (JSON with orjson when installed), the raw
lines are what the step writes, and ``offset`` is where a resumed run seeks to.

Later work slots in here and nowhere else: a limit on the bytes of one line (today a huge line is read
whole), and a rejects file for malformed rows (today :meth:`RowReader.parse` raises
:class:`~skymath_tasks.jsonl_io.DataError`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError

try:  # optional: ~3x faster parsing; the standard library decides whenever orjson refuses a line
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def loads_json(line: str | bytes) -> Any:
    """``json.loads`` semantics (NaN, big integers accepted), with orjson's speed when it is installed."""
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
            raise DataError(self.path, self.lineno, "missing", field=field)
        if not isinstance(value, str):
            raise DataError(self.path, self.lineno, f"expected str, got {type(value).__name__}", field=field)
        return value


@dataclass(slots=True)
class Block:
    """Consecutive whole lines of the input as raw bytes (the last line of a file may lack its newline)."""

    lines: list[bytes]
    first_lineno: int
    offset: int  # byte offset of the first line in the file
    size: int  # bytes of all lines together

    @property
    def end(self) -> int:
        return self.offset + self.size


class RowReader:
    """Reads a JSONL file in blocks of ``batch_rows`` lines from any byte offset; parses blocks into rows."""

    def __init__(self, path: str | os.PathLike, batch_rows: int = 512):
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        self.path = Path(path)
        self.batch_rows = batch_rows
        if not self.path.is_file():
            raise FileNotFoundError(f"input file {self.path} not found")

    def size(self) -> int:
        return self.path.stat().st_size

    def blocks(self, offset: int = 0, lineno: int = 1) -> Iterator[Block]:
        """Blocks of whole lines from byte ``offset`` (which must start a line, numbered ``lineno``)."""
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            while True:
                lines = list(islice(fh, self.batch_rows))
                if not lines:
                    return
                size = sum(map(len, lines))
                yield Block(lines, lineno, offset, size)
                lineno += len(lines)
                offset += size

    def read_bytes(self, offset: int, size: int, fd: int | None = None) -> bytes:
        """The raw bytes of a block, by position (worker processes read their blocks themselves)."""
        if fd is not None:
            return os.pread(fd, size, offset)
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def parse(self, data: bytes, first_lineno: int) -> list[Row]:
        """The rows of a block's bytes. Blank lines give no row; a bad line raises a :class:`DataError`
        naming file and line (not UTF-8, not JSON, not a JSON object)."""
        path = str(self.path)
        raw_lines = data.split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()
        try:  # one decode per block (a newline byte is always a newline character in UTF-8)
            lines = data.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            bad = next(k for k, raw in enumerate(raw_lines) if not _is_utf8(raw))
            raise DataError(path, first_lineno + bad, "not valid UTF-8") from None
        rows: list[Row] = []
        for k, line in enumerate(lines[: len(raw_lines)]):
            try:
                value = loads_json(line)
            except json.JSONDecodeError as exc:
                if not line.strip():
                    continue  # blank line: no row (and not copied to any output)
                raise DataError(path, first_lineno + k, f"not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise DataError(path, first_lineno + k, "not valid JSON (nested too deeply)") from None
            if type(value) is not dict:
                raise DataError(path, first_lineno + k, f"expected a JSON object, got {type(value).__name__}")
            rows.append(Row(path, first_lineno + k, k, value))
        return rows

    def parse_block(self, block: Block) -> list[Row]:
        return self.parse(b"".join(block.lines), block.first_lineno)

    def rows(self) -> Iterator[Row]:
        """Every row of the file in order (for steps that look at all rows before deciding)."""
        for block in self.blocks():
            yield from self.parse_block(block)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
