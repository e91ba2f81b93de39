"""The paper's "random selection" arm: a seeded random subset of the same size as a selection.

Why: tables 4 and 5 judge a selection (verified rows, hard problems) against random rows of the same
count; without this control a gain could come from the smaller size alone. The subset is a step of the
selection protocol like any other: the rows are counted in one pass, ``size`` of them are drawn with
``random.Random(seed)``, and the kept lines are copied unchanged in input order.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.selection.reader import Row, RowReader
from synth.selection.step import KEEP, Decision, InputScan, PerRowFilter, StepFiles, run_step

_NOT_SAMPLED = Decision(False, "not_sampled")


@dataclass
class SampleFilter(PerRowFilter):
    """Keeps exactly the rows whose input lines were drawn."""

    lines: frozenset[int]
    size: int
    seed: int
    input_digest: str
    name: str = "random-control"

    def settings(self) -> dict[str, Any]:
        return {"size": self.size, "seed": self.seed, "input": self.input_digest}

    def decide(self, row: Row) -> Decision:
        return KEEP if row.lineno in self.lines else _NOT_SAMPLED


def write_random_control(input_path: str | os.PathLike, size: int, output_path: str | os.PathLike,
                         seed: int = 0, *, overwrite: bool = False, on_bad_row: str = "fail") -> int:
    """Write ``size`` seeded random rows of ``input_path`` (all rows if it has fewer); return how many.
    In skip mode malformed lines are never drawn (and are listed in the control's rejects file)."""
    reader = RowReader(input_path)
    scan = InputScan(reader, on_bad_row)
    lines = [row.lineno for row in scan]
    pick = random.Random(seed).sample(range(len(lines)), min(size, len(lines)))
    filt = SampleFilter(frozenset(lines[i] for i in pick), size, seed, scan.digest)
    out = Path(output_path)
    files = StepFiles(out, None, out.with_name(out.name + ".state.json"))
    return run_step(reader, filt, files, log_format="none", overwrite=overwrite, progress=False,
                    on_bad_row=on_bad_row).kept
