"""SkyMath's answer-equivalence grader: exact, bounded, safe, explainable.

Split Math-Verify style into a parser (:mod:`.normalize`, :mod:`.numbers`, :mod:`.parser`) that turns
an answer into a typed tree without interpreting it, and a grader (:mod:`.compare`, :mod:`.engine`)
that decides equality tier by tier; only the symbolic tier (:mod:`.symbolic`) touches SymPy, and only
inside killable worker processes (:mod:`.pool`, :mod:`.worker`). See docs/grader.md.
"""

from skymath_tasks.grader.config import DEFAULT_CONFIG, GraderConfig
from skymath_tasks.grader.engine import Equivalence, clear_cache, equivalent, equivalent_many

__all__ = ["GraderConfig", "DEFAULT_CONFIG", "Equivalence", "equivalent", "equivalent_many", "clear_cache"]
