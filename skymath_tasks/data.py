"""Benchmark documents for the tasks: the registry's files (or Hub datasets) read into plain rows.

Where each set lives and how its gold answer is derived is in :mod:`skymath_tasks.benchmarks`; this
module turns a benchmark into the documents the lm-eval tasks see (the gold final answer already in
``gold``, so no metric re-derives it). Every loader takes the data folder explicitly (``data_dir``;
default ``$SKYMATH_DATA_DIR``; neither = the Hugging Face Hub). A data folder that lacks a file is an
error naming the file, not a silent switch to the Hub: the submission of a run pins the files it used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import (
    BENCHMARKS,
    ENV_VAR,
    MATH_SUBJECTS,
    SUBJECT_BY_TYPE,
    Benchmark,
    DataUnavailable,
    benchmark,
    data_dir as resolve_data_dir,
    layout_hint,
    local_path,
    parse_level,
)
from skymath_tasks.gold import gold_of
from skymath_tasks.jsonl_io import DataError, iter_jsonl

log = logging.getLogger(__name__)

PathLike = str | os.PathLike | None

# --------------------------------------------------------------------------------------------- sources


def _local_file(b: Benchmark, root: Path | None) -> Path | None:
    """The benchmark's file, None for "use the Hub"; DataUnavailable when the data folder lacks it."""
    path = local_path(b, root)
    if path is None or path.exists():
        return path
    hub = f"the Hub ({b.hub.label()})" if b.hub else "nowhere else (it has no Hub source)"
    raise DataUnavailable(
        f"data folder {root} has no {b.local} ({b.title}); use the {layout_hint()}, or leave the data folder "
        f"unset (no --metadata data_dir, no {ENV_VAR}) to load it from {hub}."
    )


def _hub_records(b: Benchmark, subject: str | None = None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(source label, row number, record)`` of the benchmark's Hub dataset (per-subject configs in order)."""
    hub = b.hub
    if hub is None:
        raise DataUnavailable(f"{b.title} has no Hub source: it needs {b.local} in a data folder "
                              f"(--metadata data_dir=DIR or {ENV_VAR}=DIR). {b.note}".rstrip())
    from datasets import load_dataset

    configs = ([subject] if subject else list(MATH_SUBJECTS)) if hub.per_subject else [hub.config]
    for config in configs:
        try:
            ds = load_dataset(hub.dataset, config, split=hub.split)
        except OSError as exc:  # network, offline mode, missing or gated dataset: one actionable message
            raise DataUnavailable(
                f"Could not load {b.title} from the Hugging Face Hub ({hub.dataset}"
                f"{'/' + config if config else ''}, split {hub.split}: {type(exc).__name__}: {exc}). Make the Hub "
                f"reachable, or pass a data folder holding {b.local} (--metadata data_dir=DIR or {ENV_VAR}=DIR; "
                f"{layout_hint()})."
            ) from exc
        label = f"hf://{hub.dataset}" + (f"/{config}" if config else "")
        for i, record in enumerate(ds, start=1):
            row = dict(record)
            if hub.split_column and row.get(hub.split_column, hub.split_value) != hub.split_value:
                continue
            yield label, i, row


def _gold(b: Benchmark, row: dict[str, Any], source: str | Path, lineno: int, hub: bool = False) -> str:
    field = (b.hub.answer_field if hub and b.hub and b.hub.answer_field else None) or b.answer_field
    try:
        return gold_of(b, row, b.hub if hub else None)
    except KeyError:
        raise DataError(source, lineno, "missing", field=field) from None
    except ValueError as exc:
        raise DataError(source, lineno, str(exc), field=field) from None


@lru_cache(maxsize=32)
def _read_jsonl(path: str, mtime_ns: int, size: int, required: tuple[str, ...]) -> tuple[tuple[int, dict[str, Any]], ...]:
    # Parsed once per process and file version: the seven MATH subject tasks all read math/test.jsonl.
    return tuple(iter_jsonl(path, required=required))


def _jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    st = path.stat()
    return [(n, dict(r)) for n, r in _read_jsonl(str(path), st.st_mtime_ns, st.st_size, required)]


def _problem_field(b: Benchmark, hub: bool) -> str:
    return (b.hub.problem_field if hub and b.hub and b.hub.problem_field else None) or b.problem_field


# --------------------------------------------------------------------------------------------- GSM8K


def load_gsm8k(split: str = "test", data_dir: PathLike = None) -> list[dict[str, Any]]:
    """GSM8K ``test`` or ``train``: ``{index, question, answer, gold}``."""
    if split not in ("test", "train"):
        raise ValueError(f"GSM8K split must be 'test' or 'train', got {split!r}")
    b = benchmark("gsm8k" if split == "test" else "gsm8k_train")
    path = _local_file(b, resolve_data_dir(data_dir))
    if path is not None:
        raw = [(str(path), n, r) for n, r in _jsonl(path, ("question", "answer"))]
    else:
        raw = list(_hub_records(b))
    return [{"index": i, "question": r["question"], "answer": r["answer"], "gold": _gold(b, r, src, n, path is None)}
            for i, (src, n, r) in enumerate(raw)]


def load_gsm8k_zh(data_dir: PathLike = None) -> list[dict[str, Any]]:
    """Chinese GSM8K test; local gold is openai's (``answer_openai``; the file's own ``answer`` corrects 4 rows)."""
    b = benchmark("gsm8k_zh")
    path = _local_file(b, resolve_data_dir(data_dir))
    if path is not None:
        raw = [(str(path), n, r) for n, r in _jsonl(path, (b.problem_field, b.answer_field))]
    else:
        raw = list(_hub_records(b))
    field = _problem_field(b, path is None)
    rows = []
    for i, (src, n, r) in enumerate(raw):
        if not r.get(field):
            raise DataError(src, n, "missing Chinese question", field=field)
        rows.append({"index": i, "question": r[field],
                     "question_en": r.get("question_en") or r.get("question", ""),
                     "openai_test_index": r.get("openai_test_index", i),
                     "gold": _gold(b, r, src, n, path is None)})
    return rows


def _mgsm_tsv(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            question, tab, answer = line.rpartition("\t")
            if not tab or not question.strip():
                raise DataError(path, lineno, "expected 'question<TAB>answer'", field="question")
            yield str(path), lineno, {"question": question, "answer": answer}


def load_mgsm_zh(data_dir: PathLike = None) -> list[dict[str, Any]]:
    """MGSM Chinese (250 human translations of GSM8K test 0..249); local file is ``question<TAB>answer``."""
    b = benchmark("mgsm_zh")
    path = _local_file(b, resolve_data_dir(data_dir))
    raw = list(_mgsm_tsv(path)) if path is not None else list(_hub_records(b))
    return [{"index": i, "question": r["question"], "gold": _gold(b, r, src, n, path is None)}
            for i, (src, n, r) in enumerate(raw)]


# --------------------------------------------------------------------------------------------- MATH


def _math_row(b: Benchmark, r: dict[str, Any], source: str | Path, lineno: int, subject: str | None = None,
              hub: bool = False) -> dict[str, Any]:
    subj_type = r.get("type") or r.get("subject") or (MATH_SUBJECTS.get(subject) if subject else None)
    return {
        "problem": r["problem"],
        "solution": r["solution"],
        "gold": _gold(b, r, source, lineno, hub),
        "level": parse_level(r.get("level")),
        "subject": SUBJECT_BY_TYPE.get(subj_type, subject or str(subj_type)),
        "unique_id": r.get("unique_id") or "",
    }


def _check_subject(subject: str | None) -> None:
    if subject is not None and subject not in MATH_SUBJECTS:
        raise ValueError(f"unknown MATH subject {subject!r}; expected one of {sorted(MATH_SUBJECTS)}")


def load_math(subject: str | None = None, split: str = "test", data_dir: PathLike = None,
              *, skip_without_gold: bool = False) -> list[dict[str, Any]]:
    """MATH ``test`` or ``train`` rows, optionally one subject (key of :data:`MATH_SUBJECTS`).

    ``skip_without_gold``: leave out rows whose solution boxes no answer (two MATH train rows) instead of
    failing; for few-shot pools, never for test sets.
    """
    _check_subject(subject)
    if split not in ("test", "train"):
        raise ValueError(f"MATH split must be 'test' or 'train', got {split!r}")
    b = benchmark("math" if split == "test" else "math_train")
    path = _local_file(b, resolve_data_dir(data_dir))
    if path is not None:
        raw: list[tuple[str, int, dict[str, Any]]] = [
            (str(path), n, r) for n, r in _jsonl(path, ("problem", "solution", "level", "type"))
            if subject is None or SUBJECT_BY_TYPE.get(r["type"]) == subject]
        subjects: list[str | None] = [None] * len(raw)
    else:
        raw = []
        subjects = []
        for s in [subject] if subject else list(MATH_SUBJECTS):
            got = list(_hub_records(b, s))
            raw += got
            subjects += [s] * len(got)
    rows = []
    for (src, n, r), s in zip(raw, subjects):
        try:
            row = _math_row(b, r, src, n, s, hub=path is None)
        except DataError:
            if skip_without_gold:
                continue
            raise
        if skip_without_gold and not row["gold"]:
            continue
        rows.append(row)
    return rows


def load_math500(data_dir: PathLike = None) -> list[dict[str, Any]]:
    b = benchmark("math500")
    path = _local_file(b, resolve_data_dir(data_dir))
    if path is not None:
        raw = [(str(path), n, r) for n, r in _jsonl(path, ("problem", "solution", "answer", "level"))]
    else:
        raw = list(_hub_records(b))
    return [_math_row(b, r, src, n, hub=path is None) for src, n, r in raw]


def load_math_zh(subject: str | None = None, data_dir: PathLike = None) -> list[dict[str, Any]]:
    """MATH test translated by ``skymath-synth translate --dataset math`` (no public translation exists)."""
    _check_subject(subject)
    b = benchmark("math_zh")
    root = resolve_data_dir(data_dir)
    path = local_path(b, root)
    if path is None or not path.exists():
        where = str(path) if path is not None else f"${ENV_VAR}/{b.local} (no data folder given: {ENV_VAR} is not set)"
        raise DataUnavailable(
            f"MATH-zh needs {where}, which our translate command writes (there is no public Chinese "
            f"translation of MATH): `skymath-synth translate --dataset math --lang zh --data-dir DIR "
            f"--base-url URL --model MODEL`, or `skymath-synth build-eval-data` with an endpoint; then pass "
            f"--metadata '{{\"data_dir\": \"DIR\"}}' or set {ENV_VAR}=DIR. See docs/robustness.md."
        )
    rows = [_math_row(b, r, path, n) | {"problem_en": r.get("problem_en", "")}
            for n, r in _jsonl(path, ("problem", "solution", "level", "type"))]
    return [r for r in rows if subject is None or r["subject"] == subject]


# --------------------------------------------------------------------------------------------- derived


def load_gsm8k_distractors(k: int, data_dir: PathLike = None) -> list[dict[str, Any]]:
    """GSM8K test with ``k`` distractor sentences (1..5).

    Reads ``distractors/gsm8k_test_distractor_{k}.jsonl`` when the data folder has it (written by
    ``skymath-synth distractors``, possibly in LLM mode); otherwise builds the default offline variant
    from GSM8K test in memory. Both give the same rows for the default seed, byte for byte.
    """
    from skymath_tasks.distractors import K_MAX, build_distractor_rows

    if not 1 <= k <= K_MAX:
        raise ValueError(f"k must be in 1..{K_MAX}, got {k}")
    b = benchmark(f"gsm8k_distractor_{k}")
    root = resolve_data_dir(data_dir)
    path = local_path(b, root)
    if path is not None and path.exists():
        raw = [(str(path), n, r) for n, r in _jsonl(path, ("question", "answer"))]
    else:
        log.info("%s not found: building the offline distractor variant k=%d from GSM8K test", b.local, k)
        base = [{"question": r["question"], "answer": r["answer"]} for r in load_gsm8k("test", root)]
        raw = [(f"generated:{b.local}", n, r) for n, r in enumerate(build_distractor_rows(base, k), start=1)]
    rows = []
    for idx, (src, n, r) in enumerate(raw):
        rows.append({
            "index": r.get("index", idx),
            "question": r["question"],
            "original_question": r.get("original_question", ""),
            "distractors": list(r.get("distractors", [])),
            "k": int(r.get("k", k)),
            "answer": r["answer"],
            "gold": _gold(b, r, src, n),
        })
    return rows


def derived_file_sha256(relpath: str, data_dir: PathLike = None) -> str | None:
    """sha256 of the bytes ``skymath-synth distractors`` (default seed) would write at ``relpath``.

    The distractor tasks build their rows in memory when the file is absent; a submission still pins
    their data by this hash, which equals the file's once someone writes it. None for other files.
    """
    import hashlib
    import json

    from skymath_tasks.distractors import build_distractor_rows

    level = next((int(key.rsplit("_", 1)[1]) for key, b in BENCHMARKS.items()
                  if b.derived_from == "gsm8k" and b.local == relpath), None)
    if level is None:
        return None
    base = [{"question": r["question"], "answer": r["answer"]} for r in load_gsm8k("test", data_dir)]
    h = hashlib.sha256()
    for row in build_distractor_rows(base, level):
        h.update((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return h.hexdigest()


def load_sample_problems() -> list[dict[str, Any]]:
    """The small hand-written problem set shipped with the package (offline demo, tests)."""
    b = benchmark("demo")
    path = local_path(b, None)
    assert path is not None
    return [{"index": n - 1, "question": r["question"], "answer": r.get("answer", ""), "gold": _gold(b, r, path, n)}
            for n, r in _jsonl(path, ("question", "gold"))]


# --------------------------------------------------------------------------------------------- few-shot pools


_LOADERS_BY_BENCHMARK = {
    "gsm8k_train": lambda subject, root: load_gsm8k("train", root),
    "math_train": lambda subject, root: load_math(subject, "train", root, skip_without_gold=True),
}


def load_fewshot_pool(key: str | None, subject: str | None = None, data_dir: PathLike = None) -> tuple[list[dict[str, Any]], str | None]:
    """``(rows, None)`` of the train split the shots come from, or ``([], reason)`` when there is none.

    Few-shot is optional: a missing train file must not stop a zero-shot run, so the reason is kept and
    only a run that asks for shots fails with it (see :class:`skymath_tasks.task_hooks.FewshotSampler`).
    """
    if key is None:
        return [], "the task is zero-shot only: there is no training split to draw shots from"
    try:
        return _LOADERS_BY_BENCHMARK[key](subject, resolve_data_dir(data_dir)), None
    except DataUnavailable as exc:
        return [], f"its few-shot pool ({benchmark(key).title}) is unavailable: {exc}"


__all__ = [
    "DataUnavailable",
    "load_gsm8k",
    "load_gsm8k_zh",
    "load_mgsm_zh",
    "load_math",
    "load_math500",
    "load_math_zh",
    "load_gsm8k_distractors",
    "derived_file_sha256",
    "load_sample_problems",
    "load_fewshot_pool",
]
