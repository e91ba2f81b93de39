"""How much of each task's test set a model's training data overlaps (the paper's 30-gram criterion).

Uses the selection pipeline's decontamination engine (``synth.selection.decontam``) unchanged, so the report
measures exactly what the data filter removes: the test problems (and reference solutions) are
indexed as benchmarks, the training rows are streamed through its ``Matcher``, and every test item a
row hits, by a shared 30-token n-gram or an exact (normalised) problem match, counts as overlapping.

Caveat inherited from ``Matcher``: a single training row reports at most 20 test items it hits, so
a row that quotes dozens of test problems at once is undercounted (the row itself is still counted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from skymath_tasks.data import ENV_VAR
from skymath_tasks.jsonl_io import iter_jsonl
from skymath_tasks.report.loader import ModelResults, ReportInputError

log = logging.getLogger(__name__)

#: report task -> built-in benchmark of synth.selection.decontam (same files as the task reads)
TASK_BENCHMARKS: dict[str, str] = {
    "skymath_gsm8k": "gsm8k",
    "skymath_math": "math",
    "skymath_math500": "math500",
    "skymath_gsm8k_zh": "gsm8k_zh",
}
BATCH_ROWS = 2000


def _data_dir(value: str | os.PathLike | None) -> Path:
    raw = value or os.environ.get(ENV_VAR)
    if not raw:
        from synth.selection.decontam import default_data_dir

        return default_data_dir()
    return Path(raw)


def training_overlap(train_paths: Sequence[str | Path], tasks: Iterable[str], *, data_dir: str | os.PathLike | None = None,
                     fields: Sequence[str] | None = None, n: int = 30) -> dict[str, dict[str, Any]]:
    """task -> {benchmark, total, overlapping, rate, train_rows_hit} for the tasks we can index."""
    from tqdm import tqdm

    from synth.selection.decontam import Matcher, NgramIndex, builtin_benchmark, row_texts

    ddir = _data_dir(data_dir)
    wanted = {t: TASK_BENCHMARKS[t] for t in tasks if t in TASK_BENCHMARKS}
    specs = []
    for bench in sorted(set(wanted.values())):
        spec = builtin_benchmark(bench, ddir)
        if Path(spec.path).is_file():
            specs.append(spec)
        else:
            log.warning("contamination: %s not found, tasks on benchmark %s get no overlap figure", spec.path, bench)
    if not specs:
        return {}
    index = NgramIndex(specs, n=n)
    matcher = Matcher(index)
    hit_items: dict[str, set[str]] = {s.name: set() for s in specs}
    rows_hit: dict[str, int] = {s.name: 0 for s in specs}
    for train in map(Path, train_paths):
        if not train.is_file():
            raise ReportInputError(f"training data {train}: no such file")
        batch: list[list[tuple[str, str]]] = []

        def flush() -> None:
            for match in matcher.match_batch(batch):
                if match is None:
                    continue
                benches = set()
                for key in match.benchmark_ids or [f"{match.benchmark}:{match.benchmark_id}"]:
                    bench, _, item = key.partition(":")
                    if bench in hit_items:
                        hit_items[bench].add(item)
                        benches.add(bench)
                for bench in benches:
                    rows_hit[bench] += 1
            batch.clear()

        for lineno, row in tqdm(iter_jsonl(train), desc=f"30-gram scan {train.name}", unit=" rows", leave=False):
            batch.append(row_texts(row, fields, str(train), lineno))
            if len(batch) >= BATCH_ROWS:
                flush()
        flush()
    totals = dict(zip((s.name for s in index.specs), index.items_per_bench))
    out = {}
    for task, bench in wanted.items():
        if bench not in totals:
            continue
        total = totals[bench]
        out[task] = {
            "benchmark": next(s.path for s in specs if s.name == bench),
            "total": total,
            "overlapping": len(hit_items[bench]),
            "rate": len(hit_items[bench]) / total if total else 0.0,
            "train_rows_hit": rows_hit[bench],
            "n": n,
        }
    return out


def contamination_by_model(models: Sequence[ModelResults], specs: Sequence[str], *, data_dir: str | os.PathLike | None = None,
                           fields: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``KEY=PATH`` specs (KEY = label or model id; repeat a KEY for several files) -> label -> task -> figures."""
    by_key: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, path = spec.rpartition("=")
        if not sep or not key or not path:
            raise ReportInputError(f"--train-data {spec!r}: expected KEY=PATH (KEY: model label or id)")
        by_key.setdefault(key, []).append(path)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    matched: set[str] = set()
    for m in models:
        paths = by_key.get(m.label) or by_key.get(m.model_id)
        if not paths:
            continue
        matched.update(k for k in (m.label, m.model_id) if k in by_key)
        tasks = [t for t in m.tasks if t in TASK_BENCHMARKS]
        out[m.label] = training_overlap(paths, tasks, data_dir=data_dir, fields=fields)
    unknown = sorted(set(by_key) - matched)
    if unknown:
        raise ReportInputError(f"--train-data: no model labelled {unknown}; models: {[m.label for m in models]}")
    return out
