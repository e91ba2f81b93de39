"""Steps that record a verdict for every row (``verify``, ``select-hard``): the shared plumbing.

Why a verdict per row and not only the dropped ones: the paper's ablations (tables 4 and 5) compare what
a verifier or a difficulty judge kept with what it left, so ``<output>.verdicts.jsonl`` has one line per
input row (line, id, verifier, verdict, kept, details), written by the step protocol.
"""

from __future__ import annotations

import os
from typing import Any

from skymath_tasks.jsonl_io import DataError, iter_jsonl
from synth.selection.reader import RowReader
from synth.selection.step import RowFilter, StepFiles, run_step


def load_seed_map(path: str | os.PathLike, value_field: str, key_field: str = "id") -> dict[str, Any]:
    """``seed id -> value`` from a seed JSONL (rows without the value are left out)."""
    out: dict[str, Any] = {}
    for lineno, row in iter_jsonl(path, allow_empty=False):
        if key_field not in row:
            raise DataError(path, lineno, "missing", field=key_field)
        if row.get(value_field) is not None:
            out[str(row[key_field])] = row[value_field]
    return out


def select_rows(input_path: str | os.PathLike, output_path: str | os.PathLike, filt: RowFilter, *,
                overwrite: bool = False, progress: bool = True, on_bad_row: str = "fail") -> dict[str, Any]:
    """Run a verdict filter as a step: kept rows (unchanged) to ``output_path``, every row's verdict to
    ``<output>.verdicts.jsonl`` (malformed rows: an error, or with ``on_bad_row="skip"`` the rejects file);
    return the counts."""
    files = StepFiles.beside(output_path, ".verdicts.jsonl")
    report = run_step(RowReader(input_path, allow_empty=False), filt, files, log_format="verdicts",
                      overwrite=overwrite, progress=progress, on_bad_row=on_bad_row)
    out = {"rows": report.rows, "kept": report.kept, "removed": report.removed, "verdicts": report.reasons,
           "output": str(files.kept), "verdicts_file": str(files.log)}
    if report.rejected:
        out.update(rejected=report.rejected, rejects_file=report.rejects)
    return out
