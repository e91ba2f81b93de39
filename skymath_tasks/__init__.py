"""SkyMath evaluation: lm-eval tasks for GSM8K/MATH with the Skywork-Math (MetaMath) protocol.

Public API::

    from skymath_tasks import extract_answer, score
    score("...\\nThe answer is 24%", "0.24", task="math", mode="strict")

Imports are lazy so that ``import skymath_tasks`` (done by lm-eval's task loader and by the
interpreter hook) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["extract_answer", "score", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from skymath_tasks.extract import extract_answer
    from skymath_tasks.scoring import score


def __getattr__(name: str) -> Any:
    if name == "extract_answer":
        from skymath_tasks.extract import extract_answer

        return extract_answer
    if name == "score":
        from skymath_tasks.scoring import score

        return score
    raise AttributeError(f"module 'skymath_tasks' has no attribute {name!r}")
