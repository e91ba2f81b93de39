"""Hard-problem selection: by the MATH level of the seed, or by an LLM judge.

Why: the paper's stage 2 adds hard problems (from MATH level 4-5 seeds) and its table 5 shows that
picking ~360K hard problems with GPT-4 and a chain-of-thought prompt beats a random 360K. Level
selection is free and exact where the seed is a MATH problem; the judge covers everything else.

Levels are read from the row (``level``: ``5`` or ``"Level 5"``) or from the seed file joined on the
row's ``seed_id``. Unknown levels (MATH train has two ``"Level ?"`` rows) are never selected and are
counted as ``unknown_level``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from skymath_tasks.benchmarks import parse_level
from skymath_tasks.jsonl_io import DataError
from synth.verify import Verdict, iter_raw_rows, load_seed_map, require_str, run_judge, select_rows

log = logging.getLogger(__name__)

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


def select_by_level(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    min_level: int = 4,
    level_field: str = "level",
    seeds_path: str | os.PathLike | None = None,
    seed_id_field: str = "seed_id",
    overwrite: bool = False,  # deterministic and fast: a rerun recomputes (accepted for CLI symmetry)
) -> dict[str, Any]:
    seed_levels = load_seed_map(seeds_path, "level") if seeds_path else {}

    def decide(lineno: int, row: dict[str, Any]) -> Verdict:
        raw = row.get(level_field)
        if raw is None and seeds_path:
            if seed_id_field not in row:
                raise DataError(input_path, lineno, "missing (needed to look up the seed's level)", field=seed_id_field)
            raw = seed_levels.get(str(row[seed_id_field]))
        elif raw is None:
            raise DataError(input_path, lineno, "missing (or pass --seeds to join levels from the seed file)",
                            field=level_field)
        level = parse_level(raw)
        if level is None:
            return Verdict(False, "unknown_level", {"level": raw})
        hard = level >= min_level
        return Verdict(hard, "hard" if hard else "easy", {"level": level})

    stats = select_rows(input_path, output_path, decide, f"level>={min_level}")
    return stats


def parse_difficulty(text: str, min_difficulty: int) -> Verdict:
    found = _DIFFICULTY_RE.findall(text)
    if not found:
        return Verdict(False, "unparsed", {})
    d = int(found[-1])
    return Verdict(d >= min_difficulty, "hard" if d >= min_difficulty else "easy", {"difficulty": d})


def select_by_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    min_difficulty: int = 4,
    text_field: str = "query",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    def build(lineno: int, row: dict[str, Any]) -> list[dict[str, str]]:
        problem = require_str(row, text_field, input_path, lineno)
        return [{"role": "system", "content": HARD_SYSTEM}, {"role": "user", "content": HARD_USER.format(problem=problem)}]

    return run_judge(input_path, output_path, client_cfg, build_messages=build,
                     parse=lambda t: parse_difficulty(t, min_difficulty), name="hard-judge",
                     prompt_version=HARD_PROMPT_VERSION, overwrite=overwrite, progress=progress)


__all__ = ["parse_level", "parse_difficulty", "select_by_level", "select_by_judge", "iter_raw_rows"]
