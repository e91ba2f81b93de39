"""The one response cache of a synthesis run: every answered request of every stage and round.

Why one file for the whole run (``<output_dir>/responses.jsonl``): a request is identified by the hash
of its content (:func:`synth.client.request_id`), so the same request asked by round 1 and round 2, or
by a rerun, must find the answer that was already paid for. With one cache per round an identical
request was sent once per round.

Why an index: at paper scale the cache holds millions of lines (gigabytes), and each step of each round
needs a few of them back. Scanning the file per step (what a plain :func:`synth.client.load_responses`
does) would read it dozens of times; :class:`ResponseCache` reads it once, keeps ``request id -> byte
offset`` and reads an answer with one seek. After a step appended new answers, :meth:`refresh` reads
only the new tail.

The line format is :func:`synth.client.response_row`'s (``{id, text, finish_reason, model, usage,
attempts, meta}``), unchanged; the first answer of an id wins; a torn last line (a write cut by a
crash, no newline) is ignored and will be asked again; a bad line anywhere else is a
:class:`~skymath_tasks.jsonl_io.CorruptOutputError` naming file and line (``generate --repair``). Caches of the old per-round layout
(``<stage>/<round>/responses.jsonl``) are read as well, never written, so an old output folder resumes
without paying again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import CorruptOutputError, DataError, parse_line

log = logging.getLogger(__name__)

CACHE_NAME = "responses.jsonl"


class ResponseCache:
    """Answered requests by id, over the run's cache file plus any legacy per-round caches."""

    def __init__(self, path: str | os.PathLike, legacy: Iterable[str | os.PathLike] = ()):
        self.path = Path(path)
        self.files: list[Path] = [self.path, *(Path(p) for p in legacy if Path(p) != self.path)]
        self._offsets: list[dict[str, int]] = [{} for _ in self.files]
        self._scanned: list[int] = [0 for _ in self.files]  # bytes of each file already indexed
        self.refresh()
        if len(self.files) > 1:
            log.info("response cache %s: also reading %d cache file(s) of the old per-round layout", self.path,
                     len(self.files) - 1)

    @classmethod
    def for_output_dir(cls, output_dir: str | os.PathLike) -> "ResponseCache":
        out = Path(output_dir)
        legacy = sorted(out.glob(f"*/round*/{CACHE_NAME}"))
        return cls(out / CACHE_NAME, legacy)

    def refresh(self) -> None:
        """Index the lines appended since the last call (all of them the first time)."""
        for i, path in enumerate(self.files):
            if not path.exists():
                continue
            size = path.stat().st_size
            start = self._scanned[i]
            if size < start:  # the file was replaced or truncated: index it again
                self._offsets[i].clear()
                start = 0
            if size == start:
                continue
            self._scanned[i] = self._index(i, path, start)

    def _index(self, i: int, path: Path, start: int) -> int:
        offsets = self._offsets[i]
        with open(path, "rb") as fh:
            fh.seek(start)
            pos = start
            lineno = None
            for raw in fh:
                if not raw.endswith(b"\n"):
                    # a torn last line (interrupted write): not an answer; the writer trims it on open
                    log.warning("%s: ignoring a torn last line at byte %d (interrupted write); it will be redone",
                                path, pos)
                    return pos
                if raw.strip():
                    try:
                        row = parse_line(path, 0, raw)
                    except DataError as err:
                        # a bad line in the middle (edited or damaged): `generate --repair` sets it aside
                        lineno = lineno or _line_number(path, pos)
                        raise CorruptOutputError(path, lineno, f"output file is corrupt ({err.message})",
                                                 reason="corrupt") from None
                    rid = row.get("id") if row is not None else None
                    if isinstance(rid, str) and rid not in offsets:
                        offsets[rid] = pos
                pos += len(raw)
            return pos

    def __contains__(self, rid: object) -> bool:
        return any(rid in offsets for offsets in self._offsets)

    def __len__(self) -> int:
        seen: set[str] = set()
        for offsets in self._offsets:
            seen.update(offsets)
        return len(seen)

    def get(self, rid: str) -> dict[str, Any] | None:
        for path, offsets in zip(self.files, self._offsets):
            pos = offsets.get(rid)
            if pos is not None:
                with open(path, "rb") as fh:
                    fh.seek(pos)
                    return json.loads(fh.readline())
        return None

    def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Answers of ``ids`` that are in the cache (one open file per cache file, reads in file order)."""
        wanted = set(ids)
        out: dict[str, dict[str, Any]] = {}
        for path, offsets in zip(self.files, self._offsets):
            todo = sorted((offsets[r], r) for r in wanted if r in offsets and r not in out)
            if not todo:
                continue
            with open(path, "rb") as fh:
                for pos, rid in todo:
                    fh.seek(pos)
                    out[rid] = json.loads(fh.readline())
        return out


def _line_number(path: Path, offset: int) -> int:
    with open(path, "rb") as fh:
        return fh.read(offset).count(b"\n") + 1


__all__ = ["ResponseCache", "CACHE_NAME"]
