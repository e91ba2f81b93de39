"""Grader limits in one dataclass, so a run's settings can be logged and reproduced."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


#: Default longest final answer, in characters: a longer "answer" is a runaway generation, graded wrong.
MAX_ANSWER_CHARS = 1000


@dataclass(frozen=True)
class GraderConfig:
    """Caps that bound every grading call.

    The cheap tiers only ever cut and compare strings, so their cost is linear in ``max_answer_chars``.
    The symbolic tier is the only one that can blow up; it runs in a killable worker process and is
    reached only by answers that pass the static caps below (length, nesting, exponent size).
    """

    #: Extracted answers longer than this are runaway generations: graded wrong without parsing.
    max_answer_chars: int = MAX_ANSWER_CHARS
    #: Longest answer (either side) that may reach the symbolic tier.
    max_symbolic_chars: int = 400
    #: Deepest nesting of {}, (), [] allowed before the symbolic tier.
    max_depth: int = 24
    #: Largest exponent literal (absolute value) allowed before the symbolic tier; also bans towers.
    max_exponent: int = 1000
    #: Longest integer literal (digits) allowed before the symbolic tier.
    max_number_digits: int = 60
    #: Most items in one list/set/tuple/matrix.
    max_items: int = 64
    #: Wall-clock limit per symbolic item, seconds (env SKYMATH_GRADER_TIMEOUT overrides the default).
    timeout_s: float = field(default_factory=lambda: _env_float("SKYMATH_GRADER_TIMEOUT", 5.0))
    #: Address-space cap of each worker process, MiB (resource.setrlimit(RLIMIT_AS)).
    memory_mb: int = 2048
    #: Worker processes for batch grading (per-item calls use one at a time).
    workers: int = 1
    #: Warm spare workers, so a killed worker is replaced without waiting for an import.
    spares: int = 1
    #: Use the symbolic tier at all (False: undecided items are graded wrong).
    symbolic: bool = True
    #: Run the symbolic tier in worker processes (False only for debugging: no time limit!).
    isolation: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONFIG = GraderConfig()
