"""The one benchmark registry: every evaluation set SkyMath knows, where it lives and how to read it.

Why one table: the tasks, the submission checker, the contamination report, the decontamination
filter and the commands that build derived test files all have to agree on the same facts (the file
under the data folder, the Hub dataset users load instead, which field is the problem and which one
holds the reference answer, how the gold answer is derived, how many rows the set has). They read
them here; nothing else spells out a benchmark path or a Hub id.

This is the core layer: it imports nothing from SkyMath. The gold *rules* are named here and
implemented in :mod:`skymath_tasks.gold` (the MATH rule needs the brace matcher of the grading layer).

The data folder (layout of the shared data: ``gsm8k/test.jsonl``, ``math/test.jsonl``, ...) is passed
explicitly where it matters (``--data-dir`` on our commands, ``--metadata '{"data_dir": DIR}'`` for
lm-eval) and defaults to the one environment variable :data:`ENV_VAR`; without either, the tasks load
the Hub datasets.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: The one environment variable naming the data folder (the default of every ``--data-dir``).
ENV_VAR = "SKYMATH_DATA_DIR"

#: MATH difficulty levels (paper table 2).
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)

#: subject key (task suffix, Hub config of EleutherAI/hendrycks_math, metric ``acc_<key>``) -> the
#: ``type`` field of the raw MATH files (and the column name of paper table 12)
MATH_SUBJECTS: dict[str, str] = {
    "algebra": "Algebra",
    "counting_and_probability": "Counting & Probability",
    "geometry": "Geometry",
    "intermediate_algebra": "Intermediate Algebra",
    "number_theory": "Number Theory",
    "prealgebra": "Prealgebra",
    "precalculus": "Precalculus",
}
SUBJECT_BY_TYPE: dict[str, str] = {v: k for k, v in MATH_SUBJECTS.items()}

AnswerType = Literal["gsm8k", "math"]

#: How the gold final answer of a row is derived (implemented in :mod:`skymath_tasks.gold`).
GOLD_RULES: dict[str, str] = {
    "gsm8k_final": "the text after the last '####' of the answer field, thousands separators removed",
    "math_boxed": "the row's 'answer' field when present, else the content of the last \\boxed{} of the "
                  "solution field (one stray trailing period dropped)",
    "number": "the field itself, a plain number (thousands separators removed)",
    "verbatim": "the field itself, as written",
}

_LEVEL_RE = re.compile(r"^\s*(?:level\s*)?([1-5])\s*$", re.IGNORECASE)


class DataUnavailable(RuntimeError):
    """Neither the data folder nor the Hub could provide a benchmark; the message says how to fix it."""


def parse_level(value: Any) -> int | None:
    """MATH level: ``3``, ``"3"``, ``"Level 3"`` -> 3; anything else (``"Level ?"``, 7, True, None) -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in LEVELS else None
    if isinstance(value, str):
        m = _LEVEL_RE.match(value)
        return int(m.group(1)) if m else None
    return None


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face Hub dataset, with the field names of *its* layout where they differ from the file's."""

    dataset: str
    config: str | None = None
    split: str = "test"
    #: one config per MATH subject (EleutherAI/hendrycks_math), loaded and concatenated in MATH_SUBJECTS order
    per_subject: bool = False
    problem_field: str | None = None
    answer_field: str | None = None
    gold: str | None = None
    #: rows of a dataset that mixes splits in one column (meta-math/GSM8K_zh): keep ``split_column == split_value``
    split_column: str | None = None
    split_value: str | None = None

    def label(self) -> str:
        """``openai/gsm8k:main`` (the form submissions record)."""
        return f"{self.dataset}:{self.config}" if self.config else self.dataset


@dataclass(frozen=True)
class Benchmark:
    """One evaluation file (one split of one data set)."""

    key: str
    title: str
    #: path under the data folder; ``package:...`` = shipped inside skymath_tasks
    local: str
    problem_field: str
    answer_field: str
    gold: str  # a key of GOLD_RULES
    answer_type: AnswerType
    rows: int | None
    hub: HubSource | None = None
    fmt: Literal["jsonl", "tsv"] = "jsonl"
    id_field: str | None = None
    #: other text fields that identify an item (indexed by the decontamination filter)
    extra_fields: tuple[str, ...] = ()
    #: built from this benchmark when the file is absent (the distractor variants)
    derived_from: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.gold not in GOLD_RULES:
            raise ValueError(f"benchmark {self.key}: unknown gold rule {self.gold!r}")

    @property
    def packaged(self) -> bool:
        return self.local.startswith("package:")


_GSM8K_HUB = HubSource("openai/gsm8k", "main", "test")
_MATH_HUB = HubSource("EleutherAI/hendrycks_math", None, "test", per_subject=True)


#: file of distractor level k under the data folder
DISTRACTOR_FILE = "distractors/gsm8k_test_distractor_{k}.jsonl"


def _distractor(k: int) -> Benchmark:
    return Benchmark(
        f"gsm8k_distractor_{k}", f"GSM8K test with {k} distractor sentence(s)",
        DISTRACTOR_FILE.format(k=k), "question", "answer", "gsm8k_final", "gsm8k", 1319,
        hub=None, derived_from="gsm8k",
        note="written by `skymath-synth distractors`; built in memory from GSM8K test (default seed) when absent",
    )


DISTRACTOR_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)

BENCHMARKS: dict[str, Benchmark] = {b.key: b for b in (
    Benchmark("gsm8k", "GSM8K test", "gsm8k/test.jsonl", "question", "answer", "gsm8k_final", "gsm8k", 1319,
              hub=_GSM8K_HUB, extra_fields=("answer",)),
    Benchmark("gsm8k_train", "GSM8K train", "gsm8k/train.jsonl", "question", "answer", "gsm8k_final", "gsm8k", 7473,
              hub=HubSource("openai/gsm8k", "main", "train")),
    Benchmark("math", "MATH test", "math/test.jsonl", "problem", "solution", "math_boxed", "math", 5000,
              hub=_MATH_HUB, id_field="unique_id", extra_fields=("solution",)),
    Benchmark("math_train", "MATH train", "math/train.jsonl", "problem", "solution", "math_boxed", "math", 7500,
              hub=HubSource("EleutherAI/hendrycks_math", None, "train", per_subject=True), id_field="unique_id",
              note="two rows have level 'Level ?' and two solutions box nothing"),
    Benchmark("math500", "MATH-500 (PRM800K test split of MATH)", "math/math500_test.jsonl", "problem", "solution",
              "math_boxed", "math", 500, hub=HubSource("HuggingFaceH4/MATH-500", None, "test"), id_field="unique_id",
              extra_fields=("solution",)),
    Benchmark("gsm8k_zh", "GSM8K test in Chinese", "chinese/gsm8k_test_zh.jsonl", "question_zh", "answer_openai",
              "number", "gsm8k", 1319, id_field="idx",
              hub=HubSource("meta-math/GSM8K_zh", None, "train", problem_field="question_zh", answer_field="answer",
                            gold="gsm8k_final", split_column="split", split_value="test"),
              note="local: GPT-4 translation from Yuan-2.0, gold = openai's answer (the file's own 'answer' corrects "
                   "4 rows); Hub: MetaMath's GPT-3.5 translation, so scores on the two differ"),
    Benchmark("mgsm_zh", "MGSM Chinese (human translations of GSM8K test 0-249)", "chinese/mgsm_zh.tsv", "question",
              "answer", "number", "gsm8k", 250, fmt="tsv",
              hub=HubSource("juletxara/mgsm", "zh", "test", answer_field="answer_number")),
    Benchmark("mgsm_en", "MGSM English", "chinese/mgsm_en.tsv", "question", "answer", "number", "gsm8k", 250,
              fmt="tsv", hub=HubSource("juletxara/mgsm", "en", "test", answer_field="answer_number")),
    Benchmark("math_zh", "MATH test in Chinese", "math/test_zh.jsonl", "problem", "solution", "math_boxed", "math",
              5000, hub=None, id_field="unique_id",
              note="no public translation exists: written by `skymath-synth translate --dataset math`"),
    Benchmark("cmath_distractor", "CMATH distractor set (reference for the distractor style)",
              "distractors/cmath_distractor.jsonl", "input", "golden", "verbatim", "gsm8k", 360, hub=None),
    *(_distractor(k) for k in DISTRACTOR_LEVELS),
    Benchmark("demo", "SkyMath sample problems", "package:sample_data/demo_problems.jsonl", "question", "gold",
              "verbatim", "gsm8k", 10, hub=None),
)}


#: the test sets the decontamination filter indexes by name (``skymath-synth decontaminate --bench gsm8k``)
#: and the contamination report counts
DECONTAMINATION_BENCHMARKS: tuple[str, ...] = ("gsm8k", "math", "math500", "gsm8k_zh")


@dataclass(frozen=True)
class TaskData:
    """What an lm-eval task of ours evaluates on: its benchmark, its few-shot pool, a subject filter."""

    task: str
    benchmark: str
    fewshot: str | None = None  # benchmark the shots come from (a train split); None = zero-shot only
    subject: str | None = None  # MATH subject key, None = all

    @property
    def answer_type(self) -> AnswerType:
        return BENCHMARKS[self.benchmark].answer_type

    @property
    def by_subject(self) -> bool:
        """Does the task report ``acc_<subject>``? (the tasks over every subject of MATH / MATH-zh)"""
        return self.benchmark in ("math", "math_zh") and self.subject is None


def _task_table() -> dict[str, TaskData]:
    out = [
        TaskData("skymath_gsm8k", "gsm8k", "gsm8k_train"),
        TaskData("skymath_math", "math", "math_train"),
        TaskData("skymath_math500", "math500", "math_train"),
        TaskData("skymath_gsm8k_zh", "gsm8k_zh"),
        TaskData("skymath_mgsm_zh", "mgsm_zh"),
        TaskData("skymath_math_zh", "math_zh"),
        TaskData("skymath_demo", "demo"),
    ]
    for s in MATH_SUBJECTS:
        out.append(TaskData(f"skymath_math_{s}", "math", "math_train", s))
        out.append(TaskData(f"skymath_math_zh_{s}", "math_zh", None, s))
    out += [TaskData(f"skymath_gsm8k_distractor_{k}", f"gsm8k_distractor_{k}", "gsm8k_train") for k in DISTRACTOR_LEVELS]
    return {t.task: t for t in out}


#: every leaf task of task_configs/ -> its data
TASKS: dict[str, TaskData] = _task_table()


def benchmark(key: str) -> Benchmark:
    try:
        return BENCHMARKS[key]
    except KeyError:
        raise KeyError(f"unknown benchmark {key!r}; known: {sorted(BENCHMARKS)}") from None


def task_data(task: str) -> TaskData | None:
    """The data of one of our leaf tasks; None for a task we do not know."""
    return TASKS.get(task)


def data_dir(value: str | os.PathLike | None = None) -> Path | None:
    """The data folder: ``value`` when given, else ``$SKYMATH_DATA_DIR``, else None (= the Hub).

    Read at call time, never written: a folder is passed down explicitly, not through the environment.
    """
    raw = value if value not in (None, "") else os.environ.get(ENV_VAR)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        source = f"{ENV_VAR}={raw!r}" if value in (None, "") else f"data folder {raw!r}"
        raise DataUnavailable(f"{source} is not a directory")
    return path


PACKAGE_ROOT = Path(__file__).resolve().parent


def resolve_relpath(relpath: str, root: Path | None) -> Path | None:
    """A registry path (``math/test.jsonl``, ``package:sample_data/...``) under data folder ``root``;
    None for a data-folder path without a folder."""
    if relpath.startswith("package:"):
        return PACKAGE_ROOT / relpath[len("package:"):]
    return root / relpath if root is not None else None


def local_path(bench: Benchmark | str, root: Path | None) -> Path | None:
    """Where ``bench``'s file is (or would be) for data folder ``root``; None without a folder."""
    b = benchmark(bench) if isinstance(bench, str) else bench
    return resolve_relpath(b.local, root)


def layout_hint() -> str:
    """One line describing the data-folder layout, for error messages."""
    main = ", ".join(BENCHMARKS[k].local for k in ("gsm8k", "math", "math500"))
    return f"layout of the SkyMath shared data: {main}, ..."


__all__ = [
    "ENV_VAR", "LEVELS", "MATH_SUBJECTS", "SUBJECT_BY_TYPE", "GOLD_RULES", "DISTRACTOR_LEVELS", "BENCHMARKS", "TASKS",
    "DECONTAMINATION_BENCHMARKS", "DISTRACTOR_FILE",
    "Benchmark", "HubSource", "TaskData", "DataUnavailable", "parse_level", "benchmark", "task_data", "data_dir",
    "local_path", "resolve_relpath", "layout_hint",
]
