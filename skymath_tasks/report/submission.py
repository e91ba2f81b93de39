"""Leaderboard submissions: a self-describing JSON per model, and an independent check of one.

A submission pins everything needed to reproduce and audit a result: the model (id, revision,
dtype, backend), generation settings, harness and SkyMath versions, task versions, the sha256 of
every evaluation data file, all metrics with their sample counts, and the path and sha256 of
lm-eval's per-sample outputs (``--log_samples``).

:func:`verify_submission` trusts none of the numbers: it re-hashes the data and sample files,
re-grades every logged response with our grader and recomputes every metric, so an edited number,
a dropped sample or a different data file each fail with a message saying what and where.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import (
    ENV_VAR,
    DataUnavailable,
    TaskData,
    benchmark,
    data_dir as resolve_data_dir,
    local_path,
    resolve_relpath,
    task_data,
)
from skymath_tasks.data import derived_file_sha256
from skymath_tasks.jsonl_io import DataError, file_sha256
from skymath_tasks.metrics import BASE_METRICS, MODES, aggregate, grade_sample, metric_names, sample_values
from skymath_tasks.report.loader import ModelResults, ReportInputError, read_samples, response_of

SCHEMA_ID = "skymath-submission/1"
SCHEMA_FILE = Path(__file__).with_name("submission.schema.json")
TOLERANCE = 1e-9  # metrics are means of 0/1 values: anything above float noise is a real difference
#: what loading a task's documents raises when the data is missing or bad (not a bug of ours)
_LOAD_ERRORS = (DataUnavailable, DataError, KeyError, OSError)


# ------------------------------------------------------------------------------------------ helpers
def _versions(model: ModelResults) -> dict[str, Any]:
    import skymath_tasks
    from skymath_tasks.prompts import PROMPT_VERSION

    run = model.runs[-1].data
    out = {
        "lm_eval": run.get("lm_eval_version"),
        "transformers": run.get("transformers_version"),
        "skymath": skymath_tasks.__version__,
        "prompt": PROMPT_VERSION,
        "python": platform.python_version(),
        "git_hash": run.get("git_hash"),
    }
    if not out["lm_eval"]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out["lm_eval"] = version("lm_eval")
        except PackageNotFoundError:  # informational only
            pass
    return out


def _finite(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", text).strip("_") or "model"


def _data_dir(value: str | os.PathLike | None) -> Path | None:
    """``--data-dir``, else ``$SKYMATH_DATA_DIR``, else None (Hub datasets)."""
    try:
        path = resolve_data_dir(value)
    except DataUnavailable as exc:
        raise ReportInputError(str(exc)) from None
    return path.resolve() if path is not None else None


def _task(name: str) -> TaskData:
    td = task_data(name)
    if td is None:
        raise ReportInputError(f"task {name} is not a SkyMath task: SkyMath cannot grade or pin it")
    return td


def _generation(model: ModelResults, tasks: Sequence[str]) -> dict[str, Any]:
    run = model.runs[-1]
    cfg = run.config
    per_task: dict[str, Any] = {}
    for r in model.runs:
        configs = r.data.get("configs") or {}
        nshot = r.data.get("n-shot") or {}
        for t in tasks:
            if t in configs and model.tasks[t].run is r:
                per_task[t] = {
                    "generation_kwargs": configs[t].get("generation_kwargs"),
                    "num_fewshot": nshot.get(t, configs[t].get("num_fewshot")),
                }
    return {
        "gen_kwargs_override": cfg.get("gen_kwargs"),
        "batch_size": cfg.get("batch_size"),
        "limit": cfg.get("limit"),
        "random_seed": cfg.get("random_seed"),
        "apply_chat_template": bool(run.data.get("chat_template")),
        "chat_template_sha": run.data.get("chat_template_sha"),
        "system_instruction_sha": run.data.get("system_instruction_sha"),
        "fewshot_as_multiturn": run.data.get("fewshot_as_multiturn"),
        "per_task": per_task,
    }


# ------------------------------------------------------------------------------------------ build
def build_submission(model: ModelResults, out_path: str | Path, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write ``out_path`` for ``model``; every leaf task needs its per-sample log (``--log_samples``)."""
    out_path = Path(out_path)
    ddir = _data_dir(data_dir)
    leaves = sorted(name for name, t in model.tasks.items() if not t.is_group)
    if not leaves:
        raise ReportInputError(f"model {model.label}: no task results found")
    tasks: dict[str, Any] = {}
    data_files: dict[str, dict[str, Any]] = {}
    hub: dict[str, dict[str, Any]] = {}
    for name in leaves:
        t = model.tasks[name]
        if t.samples_path is None:
            raise ReportInputError(
                f"model {model.label}, task {name}: no samples_{name}_{t.run.date_id}.jsonl next to "
                f"{t.run.results_path}; rerun lm_eval with --log_samples"
            )
        samples = read_samples(t.samples_path)
        rel = os.path.relpath(t.samples_path.resolve(), out_path.resolve().parent)
        td = _task(name)
        tasks[name] = {
            "version": t.version,
            "answer_type": td.answer_type,
            "n_samples": t.n if t.n is not None else len(samples),
            "n_total": t.n_original,
            "metrics": {k: _finite(v) for k, v in sorted(t.metrics.items())},
            "samples": {"path": rel, "sha256": file_sha256(t.samples_path), "lines": len(samples)},
            "task_hash": (t.run.data.get("task_hashes") or {}).get(name),
        }
        bench = benchmark(td.benchmark)
        relpath = bench.local
        local = local_path(bench, ddir)
        if local is not None:
            if local.is_file():
                entry = data_files.setdefault(relpath, {"path": relpath, "sha256": file_sha256(local), "tasks": []})
            else:
                # the distractor levels are built in memory when their file is absent: pin those bytes
                derived = derived_file_sha256(relpath, ddir)
                if derived is None:
                    raise ReportInputError(f"task {name}: data file {local} not found (data dir {ddir})")
                entry = data_files.setdefault(relpath, {"path": relpath, "sha256": derived, "tasks": [],
                                                        "generated": True})
            entry["tasks"].append(name)
        elif (source := bench.hub or (benchmark(bench.derived_from).hub if bench.derived_from else None)):
            label = source.label()
            hub.setdefault(label, {"dataset": label, "revision": None, "tasks": []})["tasks"].append(name)
        else:
            raise ReportInputError(
                f"task {name} reads {relpath}, a local-only file: set {ENV_VAR} or --data-dir to the data folder"
            )
    groups = {}
    for name, g in sorted(model.tasks.items()):
        if g.is_group and "strict" in g.metrics:  # a group without aggregate metrics has nothing to pin
            group_leaves = _leaves(model, name)
            missing = [x for x in group_leaves if x not in tasks]
            if missing:
                raise ReportInputError(f"model {model.label}, group {name}: subtasks {missing} have no results")
            groups[name] = {"subtasks": list(g.subtasks), "leaves": group_leaves, "n_samples": g.n,
                            "metrics": {k: _finite(v) for k, v in sorted(g.metrics.items())}}
    sub = {
        "schema": SCHEMA_ID,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "label": model.label,
            "id": model.model_id,
            "revision": model.revision,
            "dtype": model.dtype,
            "backend": model.backend,
            "model_args": {k: str(v) for k, v in model.runs[-1].model_args.items()},
        },
        "generation": _generation(model, leaves),
        "versions": _versions(model),
        "data": {
            "data_dir": str(ddir) if ddir else None,
            "files": sorted(data_files.values(), key=lambda d: d["path"]),
            "hub": sorted(hub.values(), key=lambda d: d["dataset"]),
            "unpinned_tasks": [],
        },
        "tasks": tasks,
        "groups": groups,
        "results_files": [str(r.results_path.resolve()) for r in model.runs],
    }
    validate_schema(sub)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(sub, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, out_path)
    return sub


def _leaves(model: ModelResults, name: str, _depth: int = 0) -> list[str]:
    t = model.tasks.get(name)
    if t is None or not t.is_group:
        return [name]
    if _depth > 16:
        raise ReportInputError(f"group {name}: nesting too deep (a cycle?)")
    return [leaf for sub in t.subtasks for leaf in _leaves(model, sub, _depth + 1)]


def submission_filename(model: ModelResults) -> str:
    return f"{_slug(model.label)}.submission.json"


# ------------------------------------------------------------------------------------------ schema
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def schema_errors(sub: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    out = []
    for err in sorted(validator.iter_errors(sub), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        out.append(f"schema: at {where}: {err.message}")
    return out


def validate_schema(sub: Any) -> None:
    errors = schema_errors(sub)
    if errors:
        raise ReportInputError("submission does not match its JSON Schema:\n  " + "\n  ".join(errors))


# ------------------------------------------------------------------------------------------ verify
@dataclass
class VerifyReport:
    path: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def render(self) -> str:
        lines = [f"{'OK' if self.ok else 'FAILED'}: {self.path}"]
        lines += [f"  ERROR: {e}" for e in self.errors]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  checked: {c}" for c in self.checked]
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return "null" if v is None else f"{v:.6f}" if isinstance(v, float) else str(v)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= TOLERANCE


def recompute_metrics(samples: Sequence[dict[str, Any]], td: TaskData) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Our grader over logged responses -> (task metrics, per mode the doc_ids graded unlike the log).

    The same per-sample metrics and aggregations as the task itself (skymath_tasks.metrics)."""
    graded = []
    for s in samples:
        doc = s["doc"]
        grades = grade_sample(response_of(s), str(doc.get("gold", s.get("target", ""))), answer_type=td.answer_type,
                              question=doc.get("question", doc.get("problem")))
        graded.append((grades, sample_values(grades, answer_type=td.answer_type, level=doc.get("level"),
                                             subject=doc.get("subject"), by_subject=td.by_subject)))
    out: dict[str, Any] = aggregate([values for _, values in graded], metric_names(td.answer_type, td.by_subject))
    drift: dict[str, list[int]] = {}
    for mode in MODES:
        bad = [s["doc_id"] for s, (g, _) in zip(samples, graded)
               if isinstance(s.get(mode), (int, float)) and bool(s[mode]) != g[mode].correct]
        if bad:
            drift[mode] = bad
    out["_correct"] = {mode: sum(g[mode].correct for g, _ in graded) for mode in MODES}
    return out, drift


def _compare_metrics(report: VerifyReport, where: str, claimed: dict[str, Any], actual: dict[str, Any], n: int,
                     require_all: bool = True) -> None:
    for key, value in claimed.items():
        if key not in actual:
            continue  # a metric we do not recompute (none today); reported as unchecked
        if not _same(value, actual[key]):
            extra = ""
            if key in MODES:
                extra = f" ({actual['_correct'][key]}/{n} correct)"
            report.errors.append(f"{where}: metric {key} = {_fmt(value)} in the submission, but {_fmt(actual[key])} "
                                 f"re-graded from {n} samples{extra}: the number was edited, or samples changed")
    missing = [k for k in actual if not k.startswith("_") and k not in claimed]
    if missing and require_all:
        report.errors.append(f"{where}: metrics {', '.join(sorted(missing))} missing from the submission")


def _check_data(report: VerifyReport, sub: dict[str, Any], data_dir: Path | None) -> None:
    data = sub.get("data") or {}
    recorded = data.get("data_dir")
    ddir = data_dir or (Path(recorded) if recorded and Path(recorded).is_dir() else None)
    pinned: set[str] = set()
    for f in data.get("files") or []:
        rel = f["path"]
        pinned.update(f.get("tasks") or [])
        local = resolve_relpath(rel, ddir)
        if local is None:
            report.errors.append(f"data file {rel}: no data directory to check it against (pass --data-dir or set {ENV_VAR})")
            continue
        if local.is_file():
            actual = file_sha256(local)
        elif f.get("generated") and (derived := derived_file_sha256(rel, ddir)) is not None:
            actual = derived
        else:
            report.errors.append(f"data file {rel}: not found at {local} (pass --data-dir with the evaluation data)")
            continue
        if actual != f["sha256"]:
            report.errors.append(
                f"data file {rel}: sha256 in the submission is {f['sha256'][:16]}..., but {local} has "
                f"{actual[:16]}...: the submission was made on different data, or its data hash was edited"
            )
        else:
            report.checked.append(f"data file {rel} sha256 {actual[:16]}...")
    for h in data.get("hub") or []:
        pinned.update(h.get("tasks") or [])
        report.warnings.append(f"Hub dataset {h['dataset']} (revision {h.get('revision') or 'unpinned'}) cannot be "
                               "hashed offline; its tasks are checked only by re-grading")
    for name in sub.get("tasks", {}):
        if name not in pinned:
            report.warnings.append(f"task {name}: no data file recorded, its data is not pinned")


def _expected_count(limit: Any, n_total: int | None) -> int | None:
    """Documents lm-eval evaluates: all, the first ``limit``, or ``ceil(limit * n)`` for a fraction."""
    if n_total is None:
        return None
    if limit is None:
        return n_total
    limit = float(limit)
    return min(n_total, int(math.ceil(n_total * limit)) if limit < 1.0 else int(limit))


def _check_counts(report: VerifyReport, where: str, t: dict[str, Any], samples: Sequence[dict[str, Any]],
                  fname: str, limit: Any, n_docs: int | None) -> None:
    """No sample missing or repeated: the log must hold exactly the documents the run evaluates."""
    ids = [s["doc_id"] for s in samples]
    dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
    if dupes:
        report.errors.append(f"{where}: doc_id(s) {dupes[:10]} appear more than once in {fname}")
    if n_docs is not None and t.get("n_total") is not None and t["n_total"] != n_docs:
        report.errors.append(f"{where}: the submission says the task has {t['n_total']} documents, the evaluation "
                             f"data has {n_docs}")
    expected = _expected_count(limit, n_docs if n_docs is not None else t.get("n_total"))
    total = n_docs if n_docs is not None else t.get("n_total")
    counts = [("the submission's n_samples is {}", t["n_samples"]), ("the recorded log length is {}", t["samples"]["lines"])]
    if expected is not None:
        scope = f"--limit {limit} of {total} documents" if limit is not None else f"all {total} documents"
        counts.append((f"the run evaluates {{}} ({scope})", expected))
    wrong = [phrase.format(v) for phrase, v in counts if v != len(samples)]
    if wrong:
        should = max(v for _, v in counts)
        gone = sorted(set(range(should)) - set(ids))
        report.errors.append(
            f"{where}: {len(samples)} samples in {fname}, but " + ", ".join(wrong)
            + (f"; missing doc_id(s) {gone[:10]}{' ...' if len(gone) > 10 else ''}" if gone else "")
        )
    elif expected is not None and sorted(ids) != list(range(expected)):
        report.warnings.append(f"{where}: doc_ids are not the first {expected} documents (a --samples selection?)")


def _samples_path(sub_path: Path, rel: str, samples_dir: Path | None) -> Path:
    p = Path(rel)
    if samples_dir is not None:
        return samples_dir / p.name
    return p if p.is_absolute() else (sub_path.parent / p)


def verify_submission(path: str | Path, data_dir: str | os.PathLike | None = None,
                      samples_dir: str | os.PathLike | None = None, check_docs: bool = True) -> VerifyReport:
    """Check a submission against its own files, the data and our grader; never raises on bad content.

    ``check_docs``: also compare every logged document (problem, gold answer, level, ...) with the
    task's documents loaded from the data folder, so a gold answer edited in the log is caught.
    """
    path = Path(path)
    report = VerifyReport(path)
    try:
        sub = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.errors.append(f"cannot read submission JSON: {exc}")
        return report
    errs = schema_errors(sub)
    if errs:
        report.errors.extend(errs)
        return report
    try:
        ddir = _data_dir(data_dir) if data_dir is not None else _data_dir(None)
    except ReportInputError as exc:
        report.errors.append(str(exc))
        ddir = None
    _check_data(report, sub, ddir)
    docs = _DocChecker(ddir or (Path(sub["data"]["data_dir"]) if sub["data"].get("data_dir") else None))
    sdir = Path(samples_dir) if samples_dir else None
    recomputed: dict[str, dict[str, Any]] = {}
    graded_with = sub["versions"].get("skymath")
    import skymath_tasks

    for name, t in sub["tasks"].items():
        where = f"task {name}"
        td = task_data(name)
        if td is None:
            report.errors.append(f"{where}: not a SkyMath task, it cannot be re-graded")
            continue
        if t["answer_type"] != td.answer_type:
            report.errors.append(f"{where}: answer_type {t['answer_type']!r} but SkyMath grades this task as {td.answer_type!r}")
        spath = _samples_path(path, t["samples"]["path"], sdir)
        if not spath.is_file():
            report.errors.append(f"{where}: per-sample log {spath} not found (pass --samples-dir if it moved)")
            continue
        sha = file_sha256(spath)
        if sha != t["samples"]["sha256"]:
            report.errors.append(f"{where}: per-sample log {spath.name} has sha256 {sha[:16]}..., the submission "
                                 f"records {t['samples']['sha256'][:16]}...: the samples changed after submission")
        try:
            samples = read_samples(spath)
        except DataError as exc:
            report.errors.append(f"{where}: {exc}")
            continue
        n_docs = docs.count(name) if check_docs else None
        _check_counts(report, where, t, samples, spath.name, sub["generation"].get("limit"), n_docs)
        # (no gold-vs-target check: lm-eval renders "[1,9]" as the target "[1, 9]"; the documents,
        # gold included, are compared with the evaluation data below)
        if check_docs:
            docs.check(report, name, samples, where)
        actual, drift = recompute_metrics(samples, td)
        recomputed[name] = {"samples": samples, "metrics": actual}
        _compare_metrics(report, where, t["metrics"], actual, len(samples))
        for mode, bad in drift.items():
            report.warnings.append(
                f"{where}: {len(bad)} sample(s) graded differently ({mode}) than their log says, doc_id(s) {bad[:10]}"
                f" (submission graded with SkyMath {graded_with}, now {skymath_tasks.__version__})"
            )
        report.checked.append(f"{where}: {len(samples)} samples re-graded")
    groups = sub.get("groups") or {}
    for gname, g in groups.items():
        _verify_group(report, gname, g, groups, recomputed)
    return report


class _DocChecker:
    """Loads a task's documents through lm-eval's own task loader (so any SkyMath task works).

    The data folder reaches the tasks as lm-eval metadata (``data_dir``), as with ``lm_eval --metadata``.
    Task managers and documents are cached per process (keyed by data folder, and task): indexing the
    tasks costs seconds, and a verifier often checks several submissions.
    """

    _managers: dict[str, Any] = {}
    _cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def __init__(self, data_dir: Path | None):
        self.data_dir = data_dir

    def _docs(self, task: str) -> list[dict[str, Any]]:
        key = (task, str(self.data_dir))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = self._load(task)
        return self._cache[key]

    def _manager(self) -> Any:
        from lm_eval.tasks import TaskManager

        import skymath_tasks

        key = str(self.data_dir)
        if key not in self._managers:
            metadata = {"data_dir": str(self.data_dir)} if self.data_dir is not None else None
            self._managers[key] = TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False,
                                              metadata=metadata)
        return self._managers[key]

    def _load(self, task: str) -> list[dict[str, Any]]:
        lm_log = logging.getLogger("lm_eval")
        level = lm_log.level
        lm_log.setLevel(logging.ERROR)  # task loading chatter would bury the verdict
        try:
            task_obj = self._manager().load([task])["tasks"][task]
            return [json.loads(json.dumps(d, default=str)) for d in task_obj.test_docs()]
        finally:
            lm_log.setLevel(level)

    def count(self, task: str) -> int | None:
        try:
            return len(self._docs(task))
        except _LOAD_ERRORS:  # reported by check()
            return None

    def check(self, report: VerifyReport, task: str, samples: Sequence[dict[str, Any]], where: str) -> None:
        try:
            docs = self._docs(task)
        except _LOAD_ERRORS as exc:  # a task whose data we cannot load is reported, not fatal
            report.warnings.append(f"{where}: documents not compared with the data ({type(exc).__name__}: {exc})")
            return
        bad: list[str] = []
        for s in samples:
            i = s["doc_id"]
            logged = {k: v for k, v in s["doc"].items() if k != "skymath"}
            if not isinstance(i, int) or not 0 <= i < len(docs):
                bad.append(f"{i} (no such document)")
                continue
            expected = docs[i]
            diff = sorted(k for k in set(logged) | set(expected) if logged.get(k) != expected.get(k))
            if diff:
                bad.append(f"{i} (field {', '.join(diff[:3])})")
        if bad:
            report.errors.append(f"{where}: logged document(s) differ from the evaluation data: doc_id {'; '.join(bad[:5])}"
                                 f"{' ...' if len(bad) > 5 else ''}: edited samples, or a different data set")
        else:
            report.checked.append(f"{where}: {len(samples)} documents match the evaluation data")


def _micro(recomputed: dict[str, dict[str, Any]], leaves: Sequence[str]) -> dict[str, Any]:
    """Criteria over all documents of ``leaves`` (a group with ``weight_by_size: true``); per-level and
    per-subject figures are task metrics (``skymath_math``), never group aggregates."""
    n_total = sum(len(recomputed[m]["samples"]) for m in leaves)
    out: dict[str, Any] = {"_correct": {}, "_n": n_total}
    for key in BASE_METRICS:
        total = sum(recomputed[m]["metrics"][key] * len(recomputed[m]["samples"]) for m in leaves
                    if recomputed[m]["metrics"][key] is not None)
        out[key] = total / n_total if n_total else None
        if key in MODES:
            out["_correct"][key] = sum(recomputed[m]["metrics"]["_correct"][key] for m in leaves)
    return out


def _verify_group(report: VerifyReport, gname: str, g: dict[str, Any], groups: dict[str, Any],
                  recomputed: dict[str, dict[str, Any]]) -> None:
    """Group metrics recomputed from the re-graded leaves: the micro-average over all documents
    (``weight_by_size: true``, what SkyMath's groups use) or, for a group that averages its direct
    children instead, the mean of the children's figures; the claimed value must equal one of them."""
    where = f"group {gname}"
    leaves = g.get("leaves") or g["subtasks"]
    unchecked = [m for m in leaves if m not in recomputed]
    if unchecked:
        report.errors.append(f"{where}: subtasks {sorted(unchecked)} could not be checked")
        return
    micro = _micro(recomputed, leaves)
    if g.get("n_samples") is not None and g["n_samples"] != micro["_n"]:
        report.errors.append(f"{where}: n_samples {g['n_samples']} in the submission, but its subtasks log {micro['_n']} samples")
    children = [groups[c].get("leaves") or groups[c]["subtasks"] if c in groups else [c] for c in g["subtasks"]]
    macro = {}
    if all(all(m in recomputed for m in c) for c in children) and children:
        child_vals = [_micro(recomputed, c) for c in children]
        for key in BASE_METRICS:
            vals = [cv[key] for cv in child_vals]
            macro[key] = sum(vals) / len(vals) if all(v is not None for v in vals) else None
    claimed = {k: v for k, v in g["metrics"].items() if k in micro}
    adjusted = dict(micro)
    for key, value in claimed.items():
        if key in macro and not _same(value, micro[key]) and _same(value, macro[key]):
            adjusted[key] = macro[key]
    _compare_metrics(report, where, claimed, adjusted, micro["_n"], require_all=False)
    report.checked.append(f"{where}: recomputed from {len(leaves)} subtasks")
