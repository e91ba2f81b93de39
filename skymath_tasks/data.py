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
#: Chinese GSM8K on the Hub: MetaMath's GPT-3.5 translation (the shared data holds a GPT-4 one, from
#: Yuan-2.0; scores on the two differ, so submissions record which one was used).
GSM8K_ZH_HUB = "meta-math/GSM8K_zh"
#: MGSM, human translations of the first 250 GSM8K test problems.
MGSM_HUB = ("juletxara/mgsm", "zh")

#: Files of the local layout (relative to SKYMATH_DATA_DIR).
GSM8K_ZH_FILE = "chinese/gsm8k_test_zh.jsonl"
MGSM_ZH_FILE = "chinese/mgsm_zh.tsv"
MATH_ZH_FILE = "math/test_zh.jsonl"
DISTRACTOR_FILE = "distractors/gsm8k_test_distractor_{k}.jsonl"

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


def load_gsm8k_zh() -> list[dict[str, Any]]:
    """Chinese GSM8K test; gold is openai's (``answer_openai``; the file's own ``answer`` corrects 4 rows)."""
    local = _local(GSM8K_ZH_FILE)
    if local is not None:
        raw = _read_local_jsonl(local, ("question_zh", "answer_openai"))
        source: Path = local
        rows = []
        for idx, (lineno, r) in enumerate(raw):
            rows.append({
                "index": idx,
                "question": r["question_zh"],
                "question_en": r.get("question_en", ""),
                "openai_test_index": r.get("openai_test_index", idx),
                "gold": _plain_number(r["answer_openai"], source, lineno, "answer_openai"),
            })
        return rows
    from datasets import load_dataset

    ds = _hub(lambda: load_dataset(GSM8K_ZH_HUB, split="train"), "Chinese GSM8K", GSM8K_ZH_FILE)
    source = Path(f"hf://{GSM8K_ZH_HUB}")
    return _gsm8k_zh_from_hub([dict(r) for r in ds], source)


def _gsm8k_zh_from_hub(records: list[dict[str, Any]], source: Path) -> list[dict[str, Any]]:
    """MetaMath's GSM8K_zh is one JSON file with a ``split`` column; its test rows carry ``question_zh``
    and the English GSM8K ``answer`` (``#### n``)."""
    rows = []
    for lineno, r in enumerate(records, start=1):
        if r.get("split", "test") != "test":
            continue
        if not r.get("question_zh"):
            raise DataError(source, lineno, "missing Chinese question", field="question_zh")
        if r.get("answer_only") not in (None, ""):
            gold = _plain_number(r["answer_only"], source, lineno, "answer_only")
        else:
            try:
                gold = gsm8k_gold(str(r.get("answer", "")))
            except ValueError as exc:
                raise DataError(source, lineno, str(exc), field="answer") from None
        rows.append({"index": len(rows), "question": r["question_zh"], "question_en": r.get("question", ""),
                     "openai_test_index": len(rows), "gold": gold})
    return rows


def _plain_number(value: Any, source: Path, lineno: int, field: str) -> str:
    text = str(value).replace(",", "").strip()
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise DataError(source, lineno, f"expected a number, got {value!r}", field=field)
    return text


def load_mgsm_zh() -> list[dict[str, Any]]:
    """MGSM Chinese (250 human translations of GSM8K test 0..249); local file is ``question<TAB>answer``."""
    local = _local(MGSM_ZH_FILE)
    if local is None:
        from datasets import load_dataset

        ds = _hub(lambda: load_dataset(*MGSM_HUB, split="test"), "MGSM (zh)", MGSM_ZH_FILE)
        src = Path(f"hf://{MGSM_HUB[0]}/{MGSM_HUB[1]}")
        return [{"index": i, "question": r["question"],
                 "gold": _plain_number(r["answer_number"], src, i + 1, "answer_number")} for i, r in enumerate(ds)]
    rows = []
    with open(local, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            question, tab, answer = line.rpartition("\t")
            if not tab or not question.strip():
                raise DataError(local, lineno, "expected 'question<TAB>answer'", field="question")
            rows.append({"index": len(rows), "question": question,
                         "gold": _plain_number(answer, local, lineno, "answer")})
    return rows


def load_math_zh(subject: str | None = None) -> list[dict[str, Any]]:
    """MATH test translated by ``skymath-synth translate --dataset math`` (no public translation exists)."""
    if subject is not None and subject not in MATH_SUBJECTS:
        raise ValueError(f"unknown MATH subject {subject!r}; expected one of {sorted(MATH_SUBJECTS)}")
    root = data_dir()
    if root is None or not (root / MATH_ZH_FILE).exists():
        where = f"{root / MATH_ZH_FILE}" if root else f"${ENV_VAR}/{MATH_ZH_FILE} ({ENV_VAR} is not set)"
        raise DataUnavailable(
            f"MATH-zh needs {where}, which our translate command writes (there is no public Chinese "
            f"translation of MATH): `skymath-synth translate --dataset math --lang zh --data-dir DIR "
            f"--base-url URL --model MODEL`, or `skymath-synth build-eval-data` with an endpoint; then set "
            f"{ENV_VAR}=DIR. See docs/robustness.md."
        )
    path = root / MATH_ZH_FILE
    rows = [_math_row(r, path, n) | {"problem_en": r.get("problem_en", "")}
            for n, r in _read_local_jsonl(path, ("problem", "solution", "level", "type"))]
    return [r for r in rows if subject is None or r["subject"] == subject]


def load_gsm8k_distractors(k: int) -> list[dict[str, Any]]:
    """GSM8K test with ``k`` distractor sentences (1..5).

    Reads ``distractors/gsm8k_test_distractor_{k}.jsonl`` when the data folder has it (written by
    ``skymath-synth distractors``, possibly in LLM mode); otherwise builds the default offline variant
    from GSM8K test in memory. Both give the same rows for the default seed, byte for byte.
    """
    from synth.distractors import K_MAX, build_distractor_rows

    if not 1 <= k <= K_MAX:
        raise ValueError(f"k must be in 1..{K_MAX}, got {k}")
    root = data_dir()
    rel = DISTRACTOR_FILE.format(k=k)
    if root is not None and (root / rel).exists():
        path = root / rel
        raw = _read_local_jsonl(path, ("question", "answer"))
    else:
        log.info("%s not found: building the offline distractor variant k=%d from GSM8K test", rel, k)
        base = load_gsm8k("test")
        path = Path(f"generated:{rel}")
        raw = list(enumerate(build_distractor_rows([{"question": r["question"], "answer": r["answer"]} for r in base], k),
                             start=1))
    rows = []
    for idx, (lineno, r) in enumerate(raw):
        try:
            gold = gsm8k_gold(r["answer"])
        except ValueError as exc:
            raise DataError(path, lineno, str(exc), field="answer") from None
        rows.append({
            "index": r.get("index", idx),
            "question": r["question"],
            "original_question": r.get("original_question", ""),
            "distractors": list(r.get("distractors", [])),
            "k": int(r.get("k", k)),
            "answer": r["answer"],
            "gold": gold,
        })
    return rows


def derived_file_sha256(relpath: str) -> str | None:
    """sha256 of the bytes ``skymath-synth distractors`` (default seed) would write at ``relpath``.

    The distractor tasks build their rows in memory when the file is absent; a submission still pins
    their data by this hash, which equals the file's once someone writes it. None for other files.
    """
    import hashlib
    import json

    m = re.fullmatch(DISTRACTOR_FILE.replace("{k}", r"(\d+)"), relpath)
    if not m:
        return None
    from synth.distractors import build_distractor_rows

    base = [{"question": r["question"], "answer": r["answer"]} for r in load_gsm8k("test")]
    h = hashlib.sha256()
    for row in build_distractor_rows(base, int(m.group(1))):
        h.update((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return h.hexdigest()


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
    "load_gsm8k_zh",
    "load_mgsm_zh",
    "load_math_zh",
    "load_gsm8k_distractors",
    "derived_file_sha256",
    "load_sample_problems",
    "file_sha256",
    "describe_source",
]
