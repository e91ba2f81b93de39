"""Small, targeted adjustments to lm-eval 0.4.13, applied when lm-eval's task manager is imported.

Group per-level accuracy. lm-eval aggregates a group metric as the mean of its subtasks' values
weighted by each subtask's total size. For ``acc_level_k`` that is wrong: the right figure over all
subjects is (correct at level k) / (documents at level k). Our MATH tasks report the support
``n_level_k`` next to each ``acc_level_k``; this wrapper recomputes the group value from the two,
so ``skymath_math``'s ``acc_level_3`` is exactly the accuracy over every level-3 problem in the run.
Nothing changes for metrics that have no ``n_`` companion.
"""

from __future__ import annotations

import math
import re
from typing import Any

_LEVEL_KEY = re.compile(r"^acc_(level_\d+),(.*)$")
_installed = False


def _recompute_levels(group_metrics: dict[str, Any], leaf_metrics: list[dict[str, Any]]) -> None:
    sums: dict[tuple[str, str], list[float]] = {}
    for tm in leaf_metrics:
        for key, value in tm.items():
            m = _LEVEL_KEY.match(key)
            if not m:
                continue
            level, filt = m.groups()
            n = tm.get(f"n_{level},{filt}")
            if n is None:
                continue
            acc = sums.setdefault((level, filt), [0.0, 0.0])
            if n and isinstance(value, (int, float)) and not math.isnan(value):
                acc[0] += value * n
                acc[1] += n
    for (level, filt), (correct, n) in sums.items():
        p = correct / n if n else math.nan
        group_metrics[f"acc_{level},{filt}"] = p
        group_metrics[f"n_{level},{filt}"] = int(round(n))
        group_metrics[f"acc_{level}_stderr,{filt}"] = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else "N/A"


def install() -> None:
    """Idempotent; called by the interpreter hook right after lm-eval's task manager loads."""
    global _installed
    if _installed:
        return
    from lm_eval.api.group import Group

    original = Group.aggregate

    def aggregate(self, task_metrics):  # type: ignore[no-untyped-def]
        result = original(self, task_metrics)
        leaves = [task_metrics[t.task_name] for t in self.get_all_tasks() if t.task_name in task_metrics]
        _recompute_levels(result, leaves)
        return result

    aggregate.__wrapped__ = original  # type: ignore[attr-defined]
    Group.aggregate = aggregate
    _installed = True
