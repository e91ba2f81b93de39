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

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
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

    @property
    def sha256(self) -> str | None:
        """Pin of the official file's bytes (:data:`FILE_PINS`); None = no official copy (MATH-zh is
        translated by each user), so a submission on it cannot be verified."""
        return FILE_PINS.get(self.local)


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

#: sha256 pins of the official evaluation files, by path under the data folder. The test sets are the
#: files of the shared data folder, byte-identical to the Hub sets (its README); the distractor levels are
#: the bytes ``skymath-synth distractors`` writes with the default seed (also what the tasks build in
#: memory when the file is absent). ``skymath-report verify`` checks its own data against these and
#: refuses a submission whose recorded data hashes differ. tests/test_benchmark_pins.py recomputes them.
FILE_PINS: dict[str, str] = {
    "gsm8k/test.jsonl": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    "gsm8k/train.jsonl": "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
    "math/test.jsonl": "1b833f0f8869d7cb975debfe04f0697bd23455c388045ba9159e5046d37df5fa",
    "math/train.jsonl": "00aa30008a611172529ab775ed6f3af9efd32974625b19181c3ebfc724134e52",
    "math/math500_test.jsonl": "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
    "chinese/gsm8k_test_zh.jsonl": "fdabc334db335c148e478c6f0dd2dc64a80277dfc66fccef02dc61bb07e2135f",
    "chinese/mgsm_zh.tsv": "b2fa63151022370a0de1f4211c8c284eae74b0f5a3b003b1d5982c0d4a73f661",
    "chinese/mgsm_en.tsv": "50021d0f28cc957edcb44e7806425b1c7fbd648ddcb9e0a8ec689d10e57d40fa",
    "distractors/cmath_distractor.jsonl": "6970b6f0c1770ac73a1a78efbc0980ad5d4437d0fac21eb3d645dc2be4933c31",
    "distractors/gsm8k_test_distractor_1.jsonl": "0723145d9b5f89921a944bb0036fec3418b6d53825ccc3ae9c49de34f24124dd",
    "distractors/gsm8k_test_distractor_2.jsonl": "733313bc3bf9b9d40a59b3f24831b60e33fc8762d779dc3dfff66b2b47526825",
    "distractors/gsm8k_test_distractor_3.jsonl": "cd3f37282856865079c3bfce7615b4084b1625f3d95dd5c750231c6f6235dad4",
    "distractors/gsm8k_test_distractor_4.jsonl": "42a51c842ced6fd18f08f750a4560debe3e9592b1ae90fe8fb84027bc82d3771",
    "distractors/gsm8k_test_distractor_5.jsonl": "c3d1e029ed472b6b2f34c6a484eaa228ea56a323bddad255b25561b29084b00f",
    "package:sample_data/demo_problems.jsonl": "efb6b351701453e72cca08de81a94b811cc9c3635586f177a6ad322c7319b1bc",
}

#: sha256 pins of each task's test documents as lm-eval sees them (:func:`documents_sha256`: problem
#: text, gold answer, level, subject, in document order), computed from the official files. A verifier
#: that loads the sets from the Hub checks its copy with these (a Hub dataset has no file to hash).
DOCUMENT_PINS: dict[str, str] = {
    "skymath_gsm8k": "437b87f56fed598845ef200bb700a3bbfd8de623a01f9cc4a19609fc1d987065",
    "skymath_math": "60d6a59e2325a847211c19a62f285b7d1b76d1244f8a7e051990045d05cbba09",
    "skymath_math500": "1a7d809b1935deaaed513220060430346b094915b903232db286195a9d094254",
    "skymath_gsm8k_zh": "9d8b8be71c18c41a8dc65fdd6efc49b0406a33d2d744b9e1dffa14201e68b447",
    "skymath_mgsm_zh": "4f71a5a03fff744c2530701dd6e08ff786421c8b2440b5f3f962cbf71ad73c8b",
    "skymath_demo": "70a1ac919dd2d347ca3e2c5455765ee440ccdab172918c6c0b38e7a8a25b4f21",
    "skymath_math_algebra": "48d3696998d02af0671f6cd2342e0c0397cbd0ec9395a2a7e1d8a642d20744f5",
    "skymath_math_counting_and_probability": "8a973ac2b3a791742ece575592f6d25b43481a41c3f5a21837cd9bb52f97a2c7",
    "skymath_math_geometry": "4956c09f4dc48bed028e05a2d8247d2588ac225caf4cca055b42ff2d4d053865",
    "skymath_math_intermediate_algebra": "95ee471ed7db900ddc9213123986c9ede2ed58656e76f68146a9e358dad8f63a",
    "skymath_math_number_theory": "abfcfcef4f0bba3cc6938e95f71d6a99e19f48435ef624f22b6bd69ae6d550b1",
    "skymath_math_prealgebra": "a5d1c476ebdbd015d6407a85883b3f326acc2c7b2c31604f0cf0aa1b2a5e12ac",
    "skymath_math_precalculus": "6b22eec253378bc302211891982627fea7e068867580716964ccdc8c196c6038",
    "skymath_gsm8k_distractor_1": "a1a8cc55e5f030e8e79a54948b3928d32f982c2edca92cf2e82e0edab13c10ab",
    "skymath_gsm8k_distractor_2": "fde38505e36a541fcb135a1319fe9e27782f2cf83b41b38fa5ec5bd8a0bb2301",
    "skymath_gsm8k_distractor_3": "dc46b8d1f0b95cd563d0e73a9bc9c26164a3ed876ef23692758d06b070549092",
    "skymath_gsm8k_distractor_4": "db425b497bc539781889b4ee9f30c1c6253ea4c60eaf3cecda09b374f727f1bc",
    "skymath_gsm8k_distractor_5": "5628cba39db22778439117646c0a0a412ab1ed7322dec4f42d6f988a000173ef",
}

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
    def documents_sha256(self) -> str | None:
        """Pin of the task's official test documents (:data:`DOCUMENT_PINS`); None = no official set."""
        return DOCUMENT_PINS.get(self.task)

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


def documents_sha256(docs: Iterable[Mapping[str, Any]]) -> str:
    """sha256 over what grading depends on, document by document in order: the problem text (``question``
    or ``problem``), the gold answer, the level and the subject. Independent of where the documents came
    from (a file or a Hub dataset) and of fields the grading never reads."""
    h = hashlib.sha256()
    for d in docs:
        text = d.get("question", d.get("problem"))
        row = [text, None if d.get("gold") is None else str(d.get("gold")), d.get("level"), d.get("subject")]
        h.update((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return h.hexdigest()


def layout_hint() -> str:
    """One line describing the data-folder layout, for error messages."""
    main = ", ".join(BENCHMARKS[k].local for k in ("gsm8k", "math", "math500"))
    return f"layout of the SkyMath shared data: {main}, ..."


__all__ = [
    "ENV_VAR", "LEVELS", "MATH_SUBJECTS", "SUBJECT_BY_TYPE", "GOLD_RULES", "DISTRACTOR_LEVELS", "BENCHMARKS", "TASKS",
    "DECONTAMINATION_BENCHMARKS", "DISTRACTOR_FILE", "FILE_PINS", "DOCUMENT_PINS", "documents_sha256",
    "Benchmark", "HubSource", "TaskData", "DataUnavailable", "parse_level", "benchmark", "task_data", "data_dir",
    "local_path", "resolve_relpath", "layout_hint",
]
