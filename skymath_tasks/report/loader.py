"""Reading lm-eval output directories: ``results_<date>.json`` plus ``samples_<task>_<date>.jsonl``.

lm-eval writes one results file per run into ``<output_path>/<model_name_sanitized>/`` and, with
``--log_samples``, one samples file per task with the same ``<date>`` suffix. A user usually runs
GSM8K and MATH separately into the same output folder, so runs of the same model (same id, revision,
dtype and backend) are merged into one :class:`ModelResults`; for a task found in several runs the
newest run wins.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, iter_jsonl

FILTER = "none"
_RESULTS_RE = re.compile(r"^results_(?P<date>.+)\.json$")


class ReportInputError(ValueError):
    """An input directory or file cannot be used; the message names it and says why."""


@dataclass
class TaskResult:
    """One task (or group) of one run: its metrics (``strict``, ``acc_level_3``, ...) and sample file."""

    name: str
    metrics: dict[str, float | None]
    n: int | None  # documents evaluated (lm-eval's "effective" count, or the group's sample_len)
    n_original: int | None  # documents in the task's test set
    version: Any
    samples_path: Path | None
    run: "Run"
    is_group: bool = False
    subtasks: list[str] = field(default_factory=list)

    def metric(self, name: str) -> float | None:
        value = self.metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)


@dataclass
class Run:
    """One ``results_*.json`` file."""

    results_path: Path
    data: dict[str, Any]
    date_id: str

    @property
    def directory(self) -> Path:
        return self.results_path.parent

    @property
    def config(self) -> dict[str, Any]:
        return self.data.get("config") or {}

    @property
    def model_args(self) -> dict[str, Any]:
        return parse_model_args(self.config.get("model_args"))

    @property
    def backend(self) -> str:
        return str(self.config.get("model") or "unknown")

    @property
    def model_id(self) -> str:
        args = self.model_args
        for key in ("pretrained", "model", "path", "model_name", "engine"):
            if args.get(key):
                return str(args[key])
        return str(self.data.get("model_name") or self.directory.name)

    @property
    def revision(self) -> str | None:
        rev = self.model_args.get("revision")
        return str(rev) if rev else None

    @property
    def dtype(self) -> str | None:
        dtype = self.model_args.get("dtype") or self.data.get("model_dtype")
        return str(dtype) if dtype else None

    def samples_file(self, task: str) -> Path | None:
        path = self.directory / f"samples_{task}_{self.date_id}.jsonl"
        return path if path.is_file() else None


@dataclass
class ModelResults:
    """Every task result of one model, merged over its runs."""

    label: str
    model_id: str
    revision: str | None
    dtype: str | None
    backend: str
    runs: list[Run] = field(default_factory=list)
    tasks: dict[str, TaskResult] = field(default_factory=dict)

    def task(self, name: str) -> TaskResult | None:
        return self.tasks.get(name)

    def metric(self, task: str, name: str) -> float | None:
        t = self.tasks.get(task)
        return t.metric(name) if t else None

    @property
    def directories(self) -> list[Path]:
        return sorted({r.directory for r in self.runs})


def parse_model_args(value: Any) -> dict[str, Any]:
    """lm-eval's ``--model_args`` (``"pretrained=x,revision=y"`` or an already parsed dict)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for part in str(value).split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _metrics(entry: dict[str, Any], filt: str = FILTER) -> dict[str, float | None]:
    """``{"strict,none": x, "strict_stderr,none": ...}`` -> ``{"strict": x}`` (stderr dropped).

    A ``null`` value (a level or subject with no document in the run) stays, as None."""
    out: dict[str, float | None] = {}
    suffix = "," + filt
    for key, value in entry.items():
        if not key.endswith(suffix) or "_stderr" in key:
            continue
        if value is None:
            out[key[: -len(suffix)]] = None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key[: -len(suffix)]] = float(value)
    return out


def find_results_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every ``results_*.json`` under the given directories (or the files themselves)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            if not _RESULTS_RE.match(p.name):
                raise ReportInputError(f"{p}: not an lm-eval results file (expected results_<date>.json)")
            found.append(p)
        elif p.is_dir():
            hits = sorted(q for q in p.rglob("results_*.json") if _RESULTS_RE.match(q.name))
            if not hits:
                raise ReportInputError(
                    f"{p}: no lm-eval results_*.json in this directory or below (was lm_eval run with "
                    f"--output_path {p}?)"
                )
            found.extend(hits)
        else:
            raise ReportInputError(f"{p}: no such file or directory")
    return found


def read_run(path: Path) -> Run:
    m = _RESULTS_RE.match(path.name)
    if not m:
        raise ReportInputError(f"{path}: not an lm-eval results file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: cannot read lm-eval results JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ReportInputError(f"{path}: field 'results' missing: not an lm-eval results file")
    return Run(path, data, m.group("date"))


def _task_results(run: Run) -> Iterator[TaskResult]:
    data = run.data
    n_samples = data.get("n-samples") or {}
    versions = data.get("versions") or {}
    group_subtasks = data.get("group_subtasks") or {}
    groups = data.get("groups") or {}
    for name, entry in data["results"].items():
        if name in groups or name in group_subtasks and group_subtasks[name]:
            continue
        ns = n_samples.get(name) or {}
        n = ns.get("effective", entry.get("sample_len"))
        yield TaskResult(name, _metrics(entry), _int(n), _int(ns.get("original")), versions.get(name),
                         run.samples_file(name), run)
    for name, entry in groups.items():
        subtasks = list(group_subtasks.get(name) or [])
        n = entry.get("sample_len")
        if n is None:
            n = sum(_int((n_samples.get(t) or {}).get("effective")) or 0 for t in subtasks)
        original = sum(_int((n_samples.get(t) or {}).get("original")) or 0 for t in subtasks) or None
        yield TaskResult(name, _metrics(entry), _int(n), original, versions.get(name), None, run,
                         is_group=True, subtasks=subtasks)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_labels(specs: Sequence[str] | None) -> dict[Path, str]:
    """``DIR=NAME`` pairs: runs found under DIR are reported as NAME."""
    out: dict[Path, str] = {}
    for spec in specs or ():
        if "=" not in spec:
            raise ReportInputError(f"--label {spec!r}: expected DIR=NAME")
        d, name = spec.rsplit("=", 1)
        out[Path(d).resolve()] = name
    return out


def _label_for(run: Run, labels: dict[Path, str]) -> str | None:
    resolved = run.results_path.resolve()
    best: tuple[int, str] | None = None
    for d, name in labels.items():
        if resolved == d or d in resolved.parents:
            depth = len(d.parts)
            if best is None or depth > best[0]:
                best = (depth, name)
    return best[1] if best else None


def load_models(paths: Iterable[str | Path], labels: Sequence[str] | None = None) -> list[ModelResults]:
    """Models found under ``paths`` in the order first seen; runs of the same model merged."""
    label_map = parse_labels(labels)
    runs = [read_run(p) for p in find_results_files(paths)]
    runs.sort(key=lambda r: r.date_id)  # newest last, so it wins for a task run twice
    models: dict[tuple, ModelResults] = {}
    for run in runs:
        label = _label_for(run, label_map)
        key = (label, run.model_id, run.revision, run.dtype, run.backend)
        model = models.get(key)
        if model is None:
            model = models[key] = ModelResults(
                label or run.model_id, run.model_id, run.revision, run.dtype, run.backend
            )
        model.runs.append(run)
        for t in _task_results(run):
            model.tasks[t.name] = t
    out = list(models.values())
    seen: dict[str, int] = {}
    for m in out:  # two models with the same id (different revision/dtype/backend): make labels unique
        seen[m.label] = seen.get(m.label, 0) + 1
        if seen[m.label] > 1:
            m.label = f"{m.label} ({m.revision or m.dtype or m.backend} #{seen[m.label]})"
    return out


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """A per-sample log, validated: each line needs ``doc_id``, ``doc`` and ``filtered_resps``.

    Bad input is a :class:`DataError` naming file and line (a file that is not UTF-8 included)."""
    rows = []
    try:
        for lineno, row in iter_jsonl(path, required=("doc_id", "doc", "filtered_resps")):
            if not isinstance(row["doc"], dict):
                raise DataError(path, lineno, "expected an object", field="doc")
            row["_line"] = lineno
            rows.append(row)
    except UnicodeDecodeError as exc:
        raise DataError(path, _bad_utf8_line(path), f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x})") from None
    return rows


def _bad_utf8_line(path: str | Path) -> int | None:
    """Line of the first byte sequence that is not UTF-8 (the text reader only says the byte offset of
    its buffer)."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return None


def response_of(sample: dict[str, Any]) -> str:
    """The (filtered) model response lm-eval scored."""
    resp = sample.get("filtered_resps")
    while isinstance(resp, list):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)
