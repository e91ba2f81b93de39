"""The contamination column: training-data overlap (30-gram criterion) and model-only probes.

Two sources, both optional. **With the training data** (below): how much of each task's test set a
model's training data overlaps (the paper's 30-gram criterion). **Without it** (the end of this file:
:func:`probe_summary`, :func:`model_probes`): the figures of the ``skymath_contam_*`` lm-eval tasks,
n-gram accuracy and Min-K% on test items minus number-changed twins (docs/contamination.md).

Training-data overlap:
The figure comes from the decontamination step itself, so the report shows exactly what the data
filter found: ``skymath-synth decontaminate --report-only --input train.jsonl`` (or the step's removed
rows report of a real filtering run) writes one JSON line per training row that shares a 30-token
n-gram, or its whole normalised problem, with a benchmark item. This module reads those lines (data,
not code: the report layer does not import the synthesis package) and counts, per benchmark, the
distinct test items hit and the training rows that hit them.

Caveat inherited from the filter: a single training row lists at most 20 test items it hits, so a row
that quotes dozens of test problems at once is undercounted (the row itself is still counted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import DECONTAMINATION_BENCHMARKS as INDEXED_BENCHMARKS, TASKS, benchmark, local_path
from skymath_tasks.jsonl_io import DataError, iter_jsonl
from skymath_tasks.leakage_probes import HEADLINE, PROBE_TASKS, GapStats, summary as probe_block
from skymath_tasks.report.loader import ModelResults, ReportInputError, TaskResult, load_models

log = logging.getLogger(__name__)

#: report task -> its benchmark (tasks over a whole indexed test set)
TASK_BENCHMARKS: dict[str, str] = {t.task: t.benchmark for t in TASKS.values()
                                   if t.benchmark in INDEXED_BENCHMARKS and t.subject is None}


def _items_hit(row: dict[str, Any]) -> list[tuple[str, str]]:
    """``(benchmark, item id)`` pairs of one matched-row record (flat, or under ``details``)."""
    match = row.get("details") if isinstance(row.get("details"), dict) else row
    keys = match.get("benchmark_ids") or []
    if not keys and match.get("benchmark") is not None:
        keys = [f"{match['benchmark']}:{match.get('benchmark_id')}"]
    out = []
    for key in keys:
        bench, sep, item = str(key).partition(":")
        if sep:
            out.append((bench, item))
    return out


def _benchmark_size(key: str, data_dir: Path | None) -> tuple[int, str]:
    """Items of a benchmark (non-blank lines of its file when the data folder has it, else the registry's size)."""
    b = benchmark(key)
    path = local_path(b, data_dir)
    if path is not None and path.is_file():
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip()), str(path)
    if b.rows is None:
        raise ReportInputError(f"contamination: the size of {b.title} is unknown; pass --data-dir")
    return b.rows, b.local


def overlap_from_report(report_paths: Sequence[str | Path], tasks: Iterable[str], *,
                        data_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """task -> {benchmark, total, overlapping, rate, train_rows_hit} from decontamination reports."""
    wanted = {t: TASK_BENCHMARKS[t] for t in tasks if t in TASK_BENCHMARKS}
    hit_items: dict[str, set[str]] = {b: set() for b in INDEXED_BENCHMARKS}
    rows_hit: dict[str, int] = {b: 0 for b in INDEXED_BENCHMARKS}
    for path in map(Path, report_paths):
        if not path.is_file():
            raise ReportInputError(f"contamination report {path}: no such file (written by `skymath-synth "
                                   "decontaminate --report-only --input TRAIN.jsonl`)")
        for lineno, row in iter_jsonl(path):
            pairs = _items_hit(row)
            if not pairs:
                raise DataError(path, lineno, "no benchmark item named (not a decontamination report?)",
                                field="benchmark_ids")
            benches = set()
            for bench, item in pairs:
                if bench in hit_items:
                    hit_items[bench].add(item)
                    benches.add(bench)
            for bench in benches:
                rows_hit[bench] += 1
    out = {}
    for task, bench in wanted.items():
        total, where = _benchmark_size(bench, data_dir)
        out[task] = {
            "benchmark": where,
            "total": total,
            "overlapping": len(hit_items[bench]),
            "rate": len(hit_items[bench]) / total if total else 0.0,
            "train_rows_hit": rows_hit[bench],
        }
    return out


def contamination_by_model(models: Sequence[ModelResults], specs: Sequence[str], *,
                           data_dir: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``KEY=REPORT`` specs (KEY = label or model id; repeat a KEY for several files) -> label -> task -> figures."""
    by_key: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, path = spec.rpartition("=")
        if not sep or not key or not path:
            raise ReportInputError(f"--contamination {spec!r}: expected KEY=REPORT (KEY: model label or id)")
        by_key.setdefault(key, []).append(path)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    matched: set[str] = set()
    for m in models:
        paths = by_key.get(m.label) or by_key.get(m.model_id)
        if not paths:
            continue
        matched.update(k for k in (m.label, m.model_id) if k in by_key)
        out[m.label] = overlap_from_report(paths, [t for t in m.tasks if t in TASK_BENCHMARKS], data_dir=data_dir)
    unknown = sorted(set(by_key) - matched)
    if unknown:
        raise ReportInputError(f"--contamination: no model labelled {unknown}; models: {[m.label for m in models]}")
    return out


# ------------------------------------------------------------------------------ probes (no training data)
# The other half of the column: the model-only probes of ``skymath_contam_*`` (skymath_tasks.leakage_probes),
# read from lm-eval's results like any task. Nothing here recomputes what the aggregation functions
# wrote; the reading is derived from the interval by the same function the tasks use.

#: probe tasks in the order a model's headline probe is chosen
PROBE_ORDER: tuple[str, ...] = tuple(PROBE_TASKS)


def probe_stats(result: TaskResult) -> dict[str, GapStats]:
    """``{"ngram": ..., "mink": ...}`` of one probe task's results."""
    n = result.metric("pairs")
    out = {}
    for probe in ("ngram", "mink"):
        out[probe] = GapStats(probe, result.metric(f"{probe}_gap"), result.metric(f"{probe}_gap_lo"),
                              result.metric(f"{probe}_gap_hi"), result.metric(f"{probe}_test"),
                              result.metric(f"{probe}_reference"), int(n) if n is not None else 0)
    return out


def model_probes(model: ModelResults) -> dict[str, dict[str, GapStats]]:
    """probe task -> probe -> figures, for the probe tasks the model's runs include (in PROBE_ORDER)."""
    return {task: probe_stats(model.tasks[task]) for task in PROBE_ORDER if task in model.tasks}


def headline(model: ModelResults) -> tuple[str, GapStats] | None:
    """The model's headline probe figure: the first probe task run (GSM8K before MATH), its HEADLINE probe."""
    for task, stats in model_probes(model).items():
        if stats[HEADLINE].gap is not None:
            return task, stats[HEADLINE]
    return None


def model_probe_summary(model: ModelResults) -> dict[str, Any] | None:
    """The submission's ``contamination`` block for a model whose runs include a probe task (else None)."""
    found = headline(model)
    if found is None:
        return None
    task, stats = found
    return probe_block(stats, task)


def probe_summary(run_dir: str | Path, *, model: str | None = None) -> dict[str, Any] | None:
    """``{"gap", "interval", "reading", "n_items", "method"}`` of the contamination probe found under
    ``run_dir`` (an lm-eval ``--output_path``), or None when no probe task was run there.

    ``model`` (a model id) picks one model when the folder holds runs of several; without it such a
    folder is an error rather than a guess.
    """
    models = [m for m in load_models([run_dir]) if headline(m) is not None]
    if model is not None:
        models = [m for m in models if model in (m.model_id, m.label)]
    if not models:
        return None
    if len(models) > 1:
        raise ReportInputError(f"{run_dir}: contamination probes of {len(models)} models "
                               f"({', '.join(m.label for m in models)}); pass model=<id>")
    return model_probe_summary(models[0])
