"""Seed problems for synthesis, normalised to ``{id, source, problem, answer, level, subject}``.

The paper's seeds: MATH train (the main source), OlympiadBench (non-proof), AGIEval (gaokao maths),
SciBench (calculus, differential equations, statistics, ...) and JEEBench (maths). Each loader reads the
layout of our shared data folder (``<root>/math/train.jsonl``, ``<root>/seeds/...``) or, for users, the
Hugging Face Hub. GSM8K train is deliberately not a source (paper, section 3).

Never a test set: AGIEval's ``math.jsonl`` is the MATH test split, so asking for it raises
:class:`ContaminatedSeedError`. Malformed files raise :class:`skymath_tasks.jsonl_io.DataError` naming the
file, line (or JSON array index) and field.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, iter_jsonl, read_json

log = logging.getLogger(__name__)

Seed = dict[str, Any]  # {id, source, problem, answer, level, subject}


class ContaminatedSeedError(ValueError):
    """The requested seed file is (part of) an evaluation test set."""


#: Hub ids for users without the local folder (loaded with ``datasets.load_dataset``).
HUB_IDS: dict[str, tuple[str, str | None, str]] = {
    # name: (dataset id, config, split)
    "math_train": ("EleutherAI/hendrycks_math", None, "train"),  # per-subject configs, see _hub_math
    "olympiadbench": ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train"),
    "agieval_gaokao_mathqa": ("hails/agieval-gaokao-mathqa", None, "test"),
    "agieval_gaokao_mathcloze": ("hails/agieval-gaokao-mathcloze", None, "test"),
    "agieval_sat_math": ("hails/agieval-sat-math", None, "test"),
    "scibench": ("xw27/scibench", None, "train"),
    "jeebench": ("daman1209arora/jeebench", None, "test"),
}

#: AGIEval files that may be used as seeds; ``math`` is MATH test and is refused.
AGIEVAL_SEED_FILES = ("gaokao-mathqa", "gaokao-mathcloze", "sat-math")
AGIEVAL_TEST_FILES = {"math": "AGIEval's math.jsonl is the MATH test set (all 1000 rows are MATH test problems)"}

#: SciBench maths textbooks (the others are physics and chemistry).
SCIBENCH_MATH = ("calculus", "diff", "stat")


@dataclass
class SeedSpec:
    """One entry of ``seeds:`` in a run config."""

    name: str  # math_train | olympiadbench | agieval | scibench | jeebench | jsonl
    path: str | None = None  # file or folder; default: the shared-data layout under ``root``
    levels: list[int] | None = None  # MATH only: e.g. [4, 5] for stage 2
    files: list[str] | None = None  # agieval / scibench: which files (default: the maths ones)
    hub: bool = False  # load from the Hugging Face Hub instead of a local path
    limit: int | None = None

    @classmethod
    def from_obj(cls, obj: Any, where: str) -> "SeedSpec":
        if isinstance(obj, str):
            obj = {"name": obj}
        if not isinstance(obj, dict) or "name" not in obj:
            raise ValueError(f"{where}: a seed entry is a name or a mapping with 'name', got {obj!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"{where}: unknown seed key(s) {unknown}; known: {sorted(known)}")
        spec = cls(**obj)
        if spec.name not in LOADERS:
            raise ValueError(f"{where}: unknown seed source {spec.name!r}; one of {sorted(LOADERS)}")
        return spec


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _seed(id_: str, source: str, problem: str, answer: str | None = None, level: int | None = None,
          subject: str | None = None) -> Seed:
    return {"id": id_, "source": source, "problem": problem.strip(), "answer": answer, "level": level,
            "subject": subject}


def _need_str(path: Any, line: int | None, row: dict[str, Any], field: str) -> str:
    v = row.get(field)
    if not isinstance(v, str) or not v.strip():
        raise DataError(path, line, "missing or not a non-empty string", field=field)
    return v


def _json_array(path: Path) -> list[dict[str, Any]]:
    """A JSON array of objects; errors name the file and the (1-based) element as the 'line' (bad bytes or
    JSON: the line of the file)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON array of objects, got {type(data).__name__}")
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise DataError(path, i, f"element {i} is not a JSON object")
    return data


def _check_not_test(path: Path) -> None:
    """Refuse known test-set files by name, wherever they are."""
    stem = path.name.removesuffix(".jsonl")
    if path.parent.name == "agieval" and stem in AGIEVAL_TEST_FILES:
        raise ContaminatedSeedError(
            f"{path}: refusing to use as seeds: {AGIEVAL_TEST_FILES[stem]}. Synthesising from it would leak the "
            f"MATH test set into the training data. Use agieval files {list(AGIEVAL_SEED_FILES)} instead.")
    if path.parent.name in ("math", "gsm8k") and "test" in path.name:
        raise ContaminatedSeedError(f"{path}: refusing to use a test split as synthesis seeds")


def _load_hub(name: str, config: str | None = None) -> list[dict[str, Any]]:
    from datasets import load_dataset
    from datasets.exceptions import DatasetsError

    ds_id, default_config, split = HUB_IDS[name]
    try:
        return [dict(r) for r in load_dataset(ds_id, config or default_config, split=split)]
    except (OSError, ValueError, DatasetsError) as exc:  # no network, unknown id/config/split, offline mode
        raise RuntimeError(f"could not load seeds {name!r} from the Hub ({ds_id}): {type(exc).__name__}: {exc}. "
                           f"Pass a local 'path' instead.") from exc


# ----------------------------------------------------------------------------------------------
# loaders: (spec, root) -> list of seeds
# ----------------------------------------------------------------------------------------------


def load_math_train(spec: SeedSpec, root: Path | None) -> list[Seed]:
    from skymath_tasks.benchmarks import MATH_SUBJECTS, parse_level
    from skymath_tasks.gold import math_gold

    levels = set(spec.levels) if spec.levels else None
    out: list[Seed] = []
    if spec.hub:
        hub_rows: list[tuple[int, dict[str, Any]]] = []
        for subject in MATH_SUBJECTS:
            hub_rows += [(i, r) for i, r in enumerate(_load_hub("math_train", subject), start=1)]
        rows: Iterable[tuple[int, dict[str, Any]]] = hub_rows
        path = Path("hf://" + HUB_IDS["math_train"][0])
    else:
        path = Path(spec.path) if spec.path else _root(root) / "math" / "train.jsonl"
        _check_not_test(path)
        rows = iter_jsonl(path, required=("problem", "solution"), types={"problem": str, "solution": str},
                          allow_empty=False)
    for lineno, r in rows:
        level = parse_level(r.get("level"))
        if levels is not None and level not in levels:
            continue
        try:
            answer = math_gold(r["solution"])
        except ValueError as exc:
            raise DataError(path, lineno, str(exc), field="solution") from None
        if not answer:  # two MATH train solutions box nothing ("there are $\boxed{}$ primes"): no gold
            answer = None
        uid = r.get("unique_id") or f"{r.get('type', 'math')}/{lineno}"
        out.append(_seed(f"math_train/{uid}", "math_train", _need_str(path, lineno, r, "problem"), answer, level,
                         r.get("type")))
    return out


def load_olympiadbench(spec: SeedSpec, root: Path | None) -> list[Seed]:
    if spec.hub:
        rows = list(enumerate(_load_hub("olympiadbench"), start=1))
        path: Path = Path("hf://" + HUB_IDS["olympiadbench"][0])
    else:
        path = Path(spec.path) if spec.path else _root(root) / "seeds" / "olympiadbench" / "olympiadbench_en_text.jsonl"
        rows = list(iter_jsonl(path, required=("question",), types={"question": str}, allow_empty=False))
    out = []
    for lineno, r in rows:
        if r.get("answer_type") == "Proof" or not r.get("final_answer"):
            continue  # the paper keeps non-proof problems only
        fa = r["final_answer"]
        if isinstance(fa, list):
            if not all(isinstance(a, str) for a in fa):
                raise DataError(path, lineno, "expected a list of strings", field="final_answer")
            answer = ", ".join(a.strip().strip("$") for a in fa)
        elif isinstance(fa, str):
            answer = fa.strip().strip("$")
        else:
            raise DataError(path, lineno, f"expected a string or list, got {type(fa).__name__}", field="final_answer")
        problem = _need_str(path, lineno, r, "question")
        if r.get("context"):
            problem = f"{r['context']}\n\n{problem}"
        out.append(_seed(f"olympiadbench/{r.get('id', lineno)}", "olympiadbench", problem, answer, None,
                         r.get("subfield")))
    return out


def load_agieval(spec: SeedSpec, root: Path | None) -> list[Seed]:
    files = spec.files or list(AGIEVAL_SEED_FILES)
    for f in files:
        if f.removesuffix(".jsonl") in AGIEVAL_TEST_FILES:
            raise ContaminatedSeedError(
                f"agieval file {f!r}: refusing to use as seeds: {AGIEVAL_TEST_FILES[f.removesuffix('.jsonl')]}")
    out: list[Seed] = []
    for f in files:
        stem = f.removesuffix(".jsonl")
        if spec.hub:
            key = "agieval_" + stem.replace("-", "_")
            if key not in HUB_IDS:
                raise ValueError(f"no Hub id known for agieval file {f!r}")
            rows = list(enumerate(_load_hub(key), start=1))
            path: Path = Path("hf://" + HUB_IDS[key][0])
        else:
            base = Path(spec.path) if spec.path else _root(root) / "seeds" / "agieval"
            path = base / f"{stem}.jsonl" if base.is_dir() or not base.suffix else base
            _check_not_test(path)
            rows = list(iter_jsonl(path, required=("question",), types={"question": str}, allow_empty=False))
        for lineno, r in rows:
            problem = _need_str(path, lineno, r, "question").strip().rstrip("\\").strip()
            if r.get("passage"):
                problem = f"{r['passage']}\n{problem}"
            options = r.get("options")
            if options:
                if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                    raise DataError(path, lineno, "expected a list of strings", field="options")
                problem += "\n" + "\n".join(options)
                label = r.get("label")
                answer = label if isinstance(label, str) and label else None
                if answer is None:
                    raise DataError(path, lineno, "multiple-choice row without a label", field="label")
            else:
                ans = r.get("answer")
                answer = ans.strip() if isinstance(ans, str) and ans.strip() else None
            out.append(_seed(f"agieval/{stem}/{lineno}", f"agieval/{stem}", problem, answer, None, None))
    return out


def load_scibench(spec: SeedSpec, root: Path | None) -> list[Seed]:
    files = spec.files or list(SCIBENCH_MATH)
    out: list[Seed] = []
    for f in files:
        stem = f.removesuffix(".json")
        if spec.hub:
            rows = [r for r in _load_hub("scibench") if str(r.get("source", "")).strip() == stem]
            path: Path = Path("hf://" + HUB_IDS["scibench"][0])
        else:
            base = Path(spec.path) if spec.path else _root(root) / "seeds" / "scibench"
            path = base / f"{stem}.json" if base.is_dir() or not base.suffix else base
            rows = _json_array(path)
        for i, r in enumerate(rows, start=1):
            problem = _need_str(path, i, r, "problem_text")
            ans = r.get("answer_latex") or r.get("answer_number")
            if not isinstance(ans, str) or not ans.strip():
                raise DataError(path, i, "missing answer", field="answer_latex")
            unit = (r.get("unit") or "").strip()
            if unit:
                problem = f"{problem.strip()} The unit of the answer is {unit}."
            # problemid is not unique within a book (stat has two "5.8-5"): the element index is
            out.append(_seed(f"scibench/{stem}/{i}", f"scibench/{stem}", problem, ans.strip(), None, stem))
    return out


def load_jeebench(spec: SeedSpec, root: Path | None) -> list[Seed]:
    if spec.hub:
        rows = _load_hub("jeebench")
        path: Path = Path("hf://" + HUB_IDS["jeebench"][0])
    else:
        path = Path(spec.path) if spec.path else _root(root) / "seeds" / "jeebench" / "dataset.json"
        rows = _json_array(path)
    out = []
    for i, r in enumerate(rows, start=1):
        if r.get("subject") != "math":
            continue
        problem = _need_str(path, i, r, "question")
        gold = r.get("gold")
        if not isinstance(gold, str) or not gold.strip():
            raise DataError(path, i, "missing answer", field="gold")
        out.append(_seed(f"jeebench/{r.get('description', '')}/{r.get('index', i)}".replace(" ", "_"), "jeebench",
                         problem, gold.strip(), None, r.get("type")))
    return out


def load_jsonl(spec: SeedSpec, root: Path | None) -> list[Seed]:
    """Your own seeds: JSONL with ``problem`` (required), ``id``, ``answer``, ``level``, ``subject``."""
    if not spec.path:
        raise ValueError("seed source 'jsonl' needs a 'path'")
    path = Path(spec.path)
    _check_not_test(path)
    out = []
    for lineno, r in iter_jsonl(path, required=("problem",), types={"problem": str, "answer": (str, int, float),
                                                                    "level": int, "id": (str, int)},
                                allow_empty=False):
        ans = r.get("answer")
        out.append(_seed(str(r.get("id", f"{path.stem}/{lineno}")), r.get("source", path.stem),
                         _need_str(path, lineno, r, "problem"), None if ans is None else str(ans), r.get("level"),
                         r.get("subject")))
    return out


LOADERS: dict[str, Callable[[SeedSpec, Path | None], list[Seed]]] = {
    "math_train": load_math_train,
    "olympiadbench": load_olympiadbench,
    "agieval": load_agieval,
    "scibench": load_scibench,
    "jeebench": load_jeebench,
    "jsonl": load_jsonl,
}


def default_root() -> Path | None:
    """The data folder every command reads: ``$SKYMATH_DATA_DIR`` (``skymath_tasks.benchmarks.data_dir``),
    else None (then ``seed_root``, a ``path`` per seed or ``hub: true`` is needed)."""
    from skymath_tasks.benchmarks import data_dir

    return data_dir()


def _root(root: Path | None) -> Path:
    if root is None:
        raise ValueError("no seed data folder: set SKYMATH_DATA_DIR or 'seed_root' in the config (the data folder "
                         "layout: math/train.jsonl, seeds/...), give each seed a 'path', or use 'hub: true'")
    return root


def load_seeds(specs: Iterable[SeedSpec | str | dict[str, Any]], root: str | os.PathLike | None = None) -> list[Seed]:
    """Load and concatenate seed sources; ids are unique (a repeated id is an error)."""
    root_path = Path(root) if root is not None else default_root()
    seeds: list[Seed] = []
    seen: set[str] = set()
    for n, s in enumerate(specs):
        spec = s if isinstance(s, SeedSpec) else SeedSpec.from_obj(s, where=f"seeds[{n}]")
        got = LOADERS[spec.name](spec, root_path)
        if spec.limit is not None:
            got = got[: spec.limit]
        if not got:  # never a silent run that synthesises nothing
            where = spec.path or f"the {spec.name} files of the seed data folder"
            raise ValueError(f"seeds[{n}] ({spec.name}, {where}): no seed problems (empty file, or nothing "
                             f"left after the filters: levels {spec.levels}, limit {spec.limit})")
        for seed in got:
            if seed["id"] in seen:
                raise ValueError(f"duplicate seed id {seed['id']!r} (from {spec.name})")
            seen.add(seed["id"])
        log.info("seeds %s: %d problems", spec.name, len(got))
        seeds.extend(got)
    return seeds


__all__ = ["Seed", "SeedSpec", "ContaminatedSeedError", "LOADERS", "HUB_IDS", "load_seeds", "default_root"]
