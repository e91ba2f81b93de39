"""Which evaluation data file each SkyMath task reads, so a submission can pin it by sha256.

Paths are relative to ``SKYMATH_DATA_DIR`` (layout of the shared data folder, see
``skymath_tasks.data`` and ``synth/eval_data_cli.py``). Without a local folder the tasks load from
the Hugging Face Hub; the submission then records the dataset id (the Hub revision is whatever
``datasets`` resolved, recorded as ``null`` = unpinned).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from skymath_tasks.data import GSM8K_HUB, MATH500_HUB, MATH_HUB

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../skymath_tasks


@dataclass(frozen=True)
class TaskData:
    local: tuple[str, ...]  # relative to the data dir; "package:..." = shipped inside skymath_tasks
    hub: str | None  # Hub dataset id used when no data dir is set, None if the task is local-only


# first matching pattern wins; ordered from the most specific
_RULES: tuple[tuple[str, TaskData], ...] = (
    (r"skymath_demo", TaskData(("package:sample_data/demo_problems.jsonl",), None)),
    (r"skymath_gsm8k", TaskData(("gsm8k/test.jsonl",), f"{GSM8K_HUB[0]}:{GSM8K_HUB[1]}")),
    (r"skymath_gsm8k_distractor_(?P<k>\d+)", TaskData(("distractors/gsm8k_test_distractor_{k}.jsonl",),
                                                                    f"{GSM8K_HUB[0]}:{GSM8K_HUB[1]}")),
    (r"skymath_gsm8k_zh", TaskData(("chinese/gsm8k_test_zh.jsonl",), None)),
    (r"skymath_mgsm_zh", TaskData(("chinese/mgsm_zh.tsv",), None)),
    (r"skymath_math500", TaskData(("math/math500_test.jsonl",), MATH500_HUB)),
    (r"skymath_math_zh(_[a-z_]+)?", TaskData(("math/test_zh.jsonl",), None)),
    (r"skymath_math(_[a-z_]+)?", TaskData(("math/test.jsonl",), MATH_HUB)),
)


def task_data(task: str) -> TaskData | None:
    """Data files of ``task``; None for a task we do not know (its data cannot be pinned)."""
    for pattern, data in _RULES:
        m = re.fullmatch(pattern, task)
        if m:
            k = m.groupdict().get("k")
            local = tuple(p.format(k=k) if k else p for p in data.local)
            return TaskData(local, data.hub)
    return None


def answer_type(task: str) -> str:
    """Which grader task type scores ``task``: MATH-style LaTeX answers or GSM8K-style numbers."""
    return "math" if re.fullmatch(r"skymath_math(500|_zh)?(_[a-z_]+)?", task) else "gsm8k"


def resolve_local(relpath: str, data_dir: Path | None) -> Path | None:
    if relpath.startswith("package:"):
        return PACKAGE_ROOT / relpath[len("package:"):]
    return data_dir / relpath if data_dir is not None else None
