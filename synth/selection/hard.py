"""Hard-problem selection: by the MATH level of the seed, or by an LLM judge.

Why: the paper's stage 2 adds hard problems (from MATH level 4-5 seeds) and its table 5 shows that
picking ~360K hard problems with GPT-4 and a chain-of-thought prompt beats a random 360K. Level
selection is free and exact where the seed is a MATH problem; the judge covers everything else.

Levels are read from the row (``level``: ``5`` or ``"Level 5"``) or from the seed file joined on the
row's ``seed_id``. Unknown levels (MATH train has two ``"Level ?"`` rows; ``level: null`` in a synth row
whose seed has no MATH level, e.g. OlympiadBench) are never selected and are counted as ``unknown_level``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from skymath_tasks.benchmarks import parse_level
from skymath_tasks.jsonl_io import DataError, excerpt
from synth.selection.judge import run_judge
from synth.selection.reader import Row
from synth.selection.step import Decision, PerRowFilter, settings_digest
from synth.selection.verdicts import load_seed_map, select_rows

HARD_PROMPT_VERSION = "hard-judge-v1"
HARD_SYSTEM = (
    "You are an experienced mathematics competition coach who rates how hard problems are on the scale "
    "of the MATH dataset: 1 (easiest, routine one-step exercises) to 5 (hardest, competition problems "
    "needing several non-obvious ideas)."
)
HARD_USER = """Problem:
{problem}

Think step by step: which concepts does the problem need, how many reasoning steps, and how error-prone
is the computation? Do not solve it completely. Then, on the last line, write exactly
"Difficulty: N" with N an integer from 1 to 5."""

_DIFFICULTY_RE = re.compile(r"difficulty\s*[:：]\s*\**\s*([1-5])\b", re.IGNORECASE)


@dataclass
class LevelFilter(PerRowFilter):
    """Keeps rows whose level (their own, or their seed's) is at least ``min_level``."""

    min_level: int = 4
    level_field: str = "level"
    seed_levels: dict[str, Any] | None = None  # seed id -> level, when levels are joined from the seed file
    seed_id_field: str = "seed_id"

    @property
    def name(self) -> str:
        return f"level>={self.min_level}"

    def settings(self) -> dict[str, Any]:
        return {"min_level": self.min_level, "level_field": self.level_field, "seed_id_field": self.seed_id_field,
                "seed_levels": None if self.seed_levels is None else settings_digest(self.seed_levels)}

    def decide(self, row: Row) -> Decision:
        raw = row.data.get(self.level_field)
        if raw is None and self.seed_levels is not None:
            if self.seed_id_field not in row.data:
                raise DataError(row.path, row.lineno, "missing (needed to look up the seed's level)",
                                field=self.seed_id_field)
            raw = self.seed_levels.get(str(row.data[self.seed_id_field]))
        elif raw is None and self.level_field not in row.data:
            raise DataError(row.path, row.lineno, "missing (or pass --seeds to join levels from the seed file)",
                            field=self.level_field)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (int, str))):
            raise DataError(row.path, row.lineno, f"expected int or str like 'Level 5', got {type(raw).__name__} "
                            f"{excerpt(raw)}", field=self.level_field, reason="wrong_type")
        level = parse_level(raw)
        if level is None:
            return Decision(False, "unknown_level", {"level": raw})
        hard = level >= self.min_level
        return Decision(hard, "hard" if hard else "easy", {"level": level})


def select_by_level(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    min_level: int = 4,
    level_field: str = "level",
    seeds_path: str | os.PathLike | None = None,
    seed_id_field: str = "seed_id",
    overwrite: bool = False,
    progress: bool = True,
    on_bad_row: str = "fail",
) -> dict[str, Any]:
    seed_levels = load_seed_map(seeds_path, "level") if seeds_path else None
    filt = LevelFilter(min_level, level_field, seed_levels, seed_id_field)
    return select_rows(input_path, output_path, filt, overwrite=overwrite, progress=progress, on_bad_row=on_bad_row)


def parse_difficulty(text: str, min_difficulty: int) -> Decision:
    found = _DIFFICULTY_RE.findall(text)
    if not found:
        return Decision(False, "unparsed")
    d = int(found[-1])
    return Decision(d >= min_difficulty, "hard" if d >= min_difficulty else "easy", {"difficulty": d})


def select_by_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    min_difficulty: int = 4,
    text_field: str = "query",
    overwrite: bool = False,
    progress: bool = True,
    on_bad_row: str = "fail",
) -> dict[str, Any]:
    def build(row: Row) -> list[dict[str, str]]:
        problem = row.text(text_field)
        return [{"role": "system", "content": HARD_SYSTEM}, {"role": "user", "content": HARD_USER.format(problem=problem)}]

    return run_judge(input_path, output_path, client_cfg, build_messages=build,
                     parse=lambda t: parse_difficulty(t, min_difficulty), name="hard-judge",
                     prompt_version=HARD_PROMPT_VERSION, criteria={"min_difficulty": min_difficulty},
                     overwrite=overwrite, progress=progress, on_bad_row=on_bad_row)
