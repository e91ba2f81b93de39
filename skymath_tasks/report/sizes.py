"""SFT data size of each evaluated checkpoint, for the scaling curve (accuracy vs SFT data size).

Two ways, the first that answers wins:

1. ``--size KEY=N`` on the command line, KEY being the model's label, its model id (the
   ``pretrained=`` path) or an lm-eval output directory holding its runs;
2. the ``skymath_stage.json`` that ``skymath-train`` writes into each stage folder: the checkpoint
   evaluated is ``pretrained=<stage folder>``; its size is that stage's ``data.rows`` plus, for a
   stage 2 started from a stage-1 folder (``init_from``), that folder's rows, recursively.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from skymath_tasks.report.loader import ModelResults, ReportInputError

STAGE_SUMMARY = "skymath_stage.json"
T = TypeVar("T")


def parse_sizes(specs: Sequence[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for spec in specs or ():
        key, sep, value = spec.rpartition("=")
        if not sep or not key:
            raise ReportInputError(f"--size {spec!r}: expected KEY=N (KEY: label, model id or run directory)")
        try:
            n = int(float(value.replace("_", "")))
        except ValueError:
            raise ReportInputError(f"--size {spec!r}: {value!r} is not a number of training rows") from None
        if n <= 0:
            raise ReportInputError(f"--size {spec!r}: the size must be positive")
        out[key] = n
    return out


def size_from_checkpoint(path: str | Path, _depth: int = 0) -> int | None:
    """Training rows behind a ``skymath-train`` stage folder (None if it has no stage summary)."""
    summary = Path(path) / STAGE_SUMMARY
    if not summary.is_file() or _depth > 8:
        return None
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
        rows = int(data["data"]["rows"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportInputError(f"{summary}: field 'data.rows' unreadable ({exc})") from None
    parent = data.get("init_from")
    if parent and Path(parent).resolve() != Path(path).resolve():
        rows += size_from_checkpoint(parent, _depth + 1) or 0
    return rows


def resolve_keyed(models: Sequence[ModelResults], given: dict[str, T]) -> dict[str, T]:
    """label -> value for ``KEY=value`` options whose KEY is a label, a model id or a run directory."""
    by_dir = {Path(k).resolve(): v for k, v in given.items() if Path(k).exists()}
    out: dict[str, T] = {}
    for m in models:
        if m.label in given:
            out[m.label] = given[m.label]
        elif m.model_id in given:
            out[m.label] = given[m.model_id]
        else:
            for d in m.directories:
                hit = next((v for k, v in by_dir.items() if d.resolve() == k or k in d.resolve().parents), None)
                if hit is not None:
                    out[m.label] = hit
                    break
    return out


def resolve_sizes(models: Sequence[ModelResults], specs: Sequence[str] | None = None) -> dict[str, int]:
    """label -> SFT rows for every model whose size is known (``--size`` first, then the checkpoint)."""
    out = resolve_keyed(models, parse_sizes(specs))
    for m in models:
        if m.label not in out and Path(m.model_id).is_dir():
            n = size_from_checkpoint(m.model_id)
            if n is not None:
                out[m.label] = n
    return out


def resolve_series(models: Sequence[ModelResults], specs: Sequence[str] | None = None) -> dict[str, str]:
    """label -> curve name for the scaling plot (``--series KEY=NAME``; default: one curve per task)."""
    given: dict[str, str] = {}
    for spec in specs or ():
        key, sep, name = spec.rpartition("=")
        if not sep or not key or not name:
            raise ReportInputError(f"--series {spec!r}: expected KEY=NAME (KEY: label, model id or run directory)")
        given[key] = name
    return resolve_keyed(models, given)
