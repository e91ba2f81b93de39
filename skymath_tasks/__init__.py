"""SkyMath evaluation: lm-eval tasks for GSM8K/MATH with the Skywork-Math (MetaMath) protocol.

Public API::

    from skymath_tasks import extract_answer, score
    score("...\\nThe answer is 24%", "0.24", task="math", mode="strict")

Imports are lazy so that ``import skymath_tasks`` (done by lm-eval's task loader) stays cheap.
:func:`task_dir` tells where our lm-eval task YAMLs are, for ``TaskManager(include_path=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["extract_answer", "score", "task_dir", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from skymath_tasks.extract import extract_answer
    from skymath_tasks.scoring import score


def task_dir() -> str | None:
    """Folder of our lm-eval task YAMLs: ``task_configs/`` of a source checkout (editable install), else
    the copy a wheel installs where lm-eval finds its own tasks (``lm_eval/tasks/skymath``); None if neither.

    lm-eval indexes that copy by default; pass this to ``TaskManager(include_path=task_dir(),
    include_defaults=False)`` to skip indexing lm-eval's own tasks (7-19 s), or to get the checkout's
    YAMLs when an editable install's copy may be stale.
    """
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(here), "task_configs")
    if os.path.isfile(os.path.join(checkout, "skymath_math.yaml")):
        return checkout
    spec = importlib.util.find_spec("lm_eval")
    if spec is not None and spec.origin:
        installed = os.path.join(os.path.dirname(spec.origin), "tasks", "skymath")
        if os.path.isdir(installed):
            return installed
    return None


def __getattr__(name: str) -> Any:
    if name == "extract_answer":
        from skymath_tasks.extract import extract_answer

        return extract_answer
    if name == "score":
        from skymath_tasks.scoring import score

        return score
    raise AttributeError(f"module 'skymath_tasks' has no attribute {name!r}")
