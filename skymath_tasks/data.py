"""Benchmark data: the Hugging Face Hub ids users expect, or a local folder for offline runs.

``SKYMATH_DATA_DIR`` points at a folder with the layout of our shared data (``gsm8k/test.jsonl``,
``math/test.jsonl``, ``math/math500_test.jsonl``, ``chinese/...``, ``distractors/...``) and makes every
task fully offline. Without it the Hub datasets are used. If neither works the error says how to fix it.

Every loader returns plain rows with the gold final answer already extracted (``gold``), so the task
metrics never re-derive it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, iter_jsonl

log = logging.getLogger(__name__)

ENV_VAR = "SKYMATH_DATA_DIR"

#: Hub sources (ids users know); the local layout mirrors ../shared/data.
GSM8K_HUB = ("openai/gsm8k", "main")
MATH_HUB = "EleutherAI/hendrycks_math"
MATH500_HUB = "HuggingFaceH4/MATH-500"

#: subject key (task suffix and Hub config name) -> the "type" field of the raw MATH files
MATH_SUBJECTS: dict[str, str] = {
    "algebra": "Algebra",
    "counting_and_probability": "Counting & Probability",
    "geometry": "Geometry",
    "intermediate_algebra": "Intermediate Algebra",
    "number_theory": "Number Theory",
    "prealgebra": "Prealgebra",
    "precalculus": "Precalculus",
}
_SUBJECT_BY_TYPE = {v: k for k, v in MATH_SUBJECTS.items()}


class DataUnavailable(RuntimeError):
    """Neither the local data folder nor the Hub could provide a benchmark."""


def data_dir() -> Path | None:
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataUnavailable(f"{ENV_VAR}={value!r} is not a directory")
    return path


def _local(relpath: str) -> Path | None:
    root = data_dir()
    if root is None:
        return None
    path = root / relpath
    if not path.exists():
        raise DataUnavailable(
            f"{ENV_VAR} is set to {root} but {relpath} is missing there. Use the layout of the shared "
            f"data folder (gsm8k/test.jsonl, math/test.jsonl, math/math500_test.jsonl, ...), or unset "
            f"{ENV_VAR} to load from the Hugging Face Hub."
        )
    return path


def _hub(loader: Callable[[], Any], what: str, relpath: str) -> Any:
    try:
        return loader()
    except Exception as exc:  # network, offline mode, missing dataset: one actionable message
        raise DataUnavailable(
            f"Could not load {what} from the Hugging Face Hub ({type(exc).__name__}: {exc}). Either make the "
            f"Hub reachable, or set {ENV_VAR} to a local folder containing {relpath} (layout of the SkyMath "
            f"shared data: gsm8k/test.jsonl, math/test.jsonl, math/math500_test.jsonl)."
        ) from exc


# ----------------------------------------------------------------------------- gold answers
_GSM_GOLD = re.compile(r"####\s*(.+?)\s*$", re.S)


def gsm8k_gold(answer_field: str) -> str:
    """The number after ``####`` in a GSM8K reference answer, thousands separators removed."""
    m = _GSM_GOLD.search(answer_field)
    if not m:
        raise ValueError("no '####' final answer")
    return m.group(1).replace(",", "").strip()


def math_gold(solution: str) -> str:
    """Content of the last ``\\boxed{...}`` (or ``\\boxed 2``) of a MATH reference solution."""
    from skymath_tasks.extract import last_boxed

    gold = last_boxed(solution)
    if gold is None:
        raise ValueError("no \\boxed{} answer in the solution")
    gold = gold.strip()
    # one MATH test gold ends with a stray sentence period inside the box ("\frac{7}{5} + \frac{1}{5} i.")
    return gold[:-1].rstrip() if gold.endswith(".") and len(gold) > 1 else gold


def parse_level(level: Any) -> int | None:
    """``"Level 3"`` -> 3; ``"Level ?"`` (two MATH train rows) -> None."""
    if isinstance(level, int):
        return level
    m = re.search(r"(\d+)", str(level or ""))
    return int(m.group(1)) if m else None


# ----------------------------------------------------------------------------- loaders
def _read_local_jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    return list(iter_jsonl(path, required=required))


def load_gsm8k(split: str = "test") -> list[dict[str, Any]]:
    rel = f"gsm8k/{split}.jsonl"
    local = _local(rel)
    if local is not None:
        raw = _read_local_jsonl(local, ("question", "answer"))
    else:
        from datasets import load_dataset

        ds = _hub(lambda: load_dataset(*GSM8K_HUB, split=split), f"GSM8K {split}", rel)
        raw = [(i + 1, dict(r)) for i, r in enumerate(ds)]
        local = Path(f"hf://{GSM8K_HUB[0]}")
    rows = []
    for idx, (lineno, r) in enumerate(raw):
        try:
            gold = gsm8k_gold(r["answer"])
        except ValueError as exc:
            raise DataError(local, lineno, str(exc), field="answer") from None
        rows.append({"index": idx, "question": r["question"], "answer": r["answer"], "gold": gold})
    return rows


def _math_row(r: dict[str, Any], source: Path, lineno: int, subject: str | None = None) -> dict[str, Any]:
    try:
        gold = r.get("answer") or math_gold(r["solution"])
    except ValueError as exc:
        raise DataError(source, lineno, str(exc), field="solution") from None
    subj_type = r.get("type") or r.get("subject") or (MATH_SUBJECTS.get(subject) if subject else None)
    return {
        "problem": r["problem"],
        "solution": r["solution"],
        "gold": gold,
        "level": parse_level(r.get("level")),
        "subject": _SUBJECT_BY_TYPE.get(subj_type, subject or str(subj_type)),
        "unique_id": r.get("unique_id", ""),
    }


def load_math(subject: str | None = None, split: str = "test") -> list[dict[str, Any]]:
    """MATH rows, optionally one subject (key of :data:`MATH_SUBJECTS`)."""
    if subject is not None and subject not in MATH_SUBJECTS:
        raise ValueError(f"unknown MATH subject {subject!r}; expected one of {sorted(MATH_SUBJECTS)}")
    rel = f"math/{split}.jsonl"
    local = _local(rel)
    if local is not None:
        rows = [_math_row(r, local, n) for n, r in _read_local_jsonl(local, ("problem", "solution", "level", "type"))]
        return [r for r in rows if subject is None or r["subject"] == subject]
    from datasets import load_dataset

    subjects = [subject] if subject else list(MATH_SUBJECTS)
    rows = []
    for subj in subjects:
        ds = _hub(lambda s=subj: load_dataset(MATH_HUB, s, split=split), f"MATH {split} ({subj})", rel)
        rows += [_math_row(dict(r), Path(f"hf://{MATH_HUB}/{subj}"), i + 1, subj) for i, r in enumerate(ds)]
    return rows


def load_math500() -> list[dict[str, Any]]:
    rel = "math/math500_test.jsonl"
    local = _local(rel)
    if local is not None:
        raw = _read_local_jsonl(local, ("problem", "solution", "answer", "level"))
        source = local
    else:
        from datasets import load_dataset

        ds = _hub(lambda: load_dataset(MATH500_HUB, split="test"), "MATH-500", rel)
        raw = [(i + 1, dict(r)) for i, r in enumerate(ds)]
        source = Path(f"hf://{MATH500_HUB}")
    return [_math_row(r, source, n) for n, r in raw]


def load_sample_problems() -> list[dict[str, Any]]:
    """The small hand-written problem set shipped with the package (offline demo, tests)."""
    path = Path(__file__).parent / "sample_data" / "demo_problems.jsonl"
    rows = []
    for lineno, r in iter_jsonl(path, required=("question", "gold")):
        rows.append({"index": lineno - 1, "question": r["question"], "answer": r.get("answer", ""), "gold": str(r["gold"])})
    return rows


def file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_source() -> dict[str, Any]:
    """Where the data comes from, for logs and submission files."""
    root = data_dir()
    return {"data_dir": str(root) if root else None, "hub": root is None}


__all__ = [
    "DataUnavailable",
    "ENV_VAR",
    "MATH_SUBJECTS",
    "data_dir",
    "gsm8k_gold",
    "math_gold",
    "parse_level",
    "load_gsm8k",
    "load_math",
    "load_math500",
    "load_sample_problems",
    "file_sha256",
    "describe_source",
]
