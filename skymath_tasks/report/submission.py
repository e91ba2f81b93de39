"""Leaderboard submissions: a self-describing JSON per model plus lm-eval's own files, in one bundle.

``skymath-report submit`` writes ``<name>.submission.json`` and, next to it, the folder ``<name>/``
holding copies of lm-eval's ``results_<date>.json`` files and per-sample logs (``--log_samples``). The
JSON pins everything needed to reproduce and audit the result: the model (id, revision, dtype,
backend), generation settings, harness and SkyMath versions, task versions, the sha256 of every
evaluation data file, all metrics with their sample counts, and the sha256 of every bundled file.
Every path in it is relative to the submission file and stays inside the bundle, so a submission can
be moved, downloaded and checked anywhere; no local folder of the submitter is recorded.

``submit`` refuses results that do not agree with their own logs (a metric edited in lm-eval's results
JSON, a log graded differently by this SkyMath version) and leaves out tasks that have no official
data to verify against (MATH-zh, which each user translates). The independent check lives in
:mod:`skymath_tasks.report.verify`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from skymath_tasks.benchmarks import (
    ENV_VAR,
    DataUnavailable,
    TaskData,
    benchmark,
    data_dir as resolve_data_dir,
    local_path,
    task_data,
)
from skymath_tasks.data import derived_file_sha256
from skymath_tasks.jsonl_io import DataError, file_sha256
from skymath_tasks.metrics import MODES, aggregate, grade_sample, metric_names, sample_values
from skymath_tasks.report.loader import ModelResults, ReportInputError, read_samples, response_of

log = logging.getLogger(__name__)

SCHEMA_ID = "skymath-submission/2"
SCHEMA_FILE = Path(__file__).with_name("submission.schema.json")
TOLERANCE = 1e-9  # metrics are means of 0/1 values: anything above float noise is a real difference
#: the longest line a verdict prints (a submission can hold megabytes in one field)
MAX_LINE = 300
_BUNDLE_FILE_RE = re.compile(r"^(results_.+\.json|samples_.+\.jsonl)$")


# ------------------------------------------------------------------------------------------ small helpers
def clip(text: Any, limit: int = MAX_LINE) -> str:
    """``text`` on one line and at most ``limit`` characters: what a verdict may print of untrusted input."""
    s = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return s if len(s) <= limit else f"{s[: limit - 30]}... ({len(s)} characters)"


def finite(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return abs(float(a) - float(b)) <= TOLERANCE
    except (TypeError, ValueError):
        return False


def fmt(v: Any) -> str:
    return "null" if v is None else f"{v:.6f}" if isinstance(v, float) else clip(v, 40)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", text).strip("_.") or "model"


def looks_absolute(value: str) -> bool:
    """A filesystem path of one machine: ``/x``, ``~/x``, ``C:\\x``, ``\\\\server\\x``."""
    return bool(re.match(r"^(/|~|[A-Za-z]:[\\/]|\\\\)", value))


def relpath_problem(value: Any) -> str | None:
    """Why ``value`` is not a portable path inside a submission bundle (None when it is one)."""
    if not isinstance(value, str) or not value:
        return "not a path"
    if looks_absolute(value):
        return "absolute"
    if "\\" in value or "\x00" in value:
        return "has a backslash or NUL"
    if ".." in PurePosixPath(value).parts:
        return "leaves the submission's folder ('..')"
    return None


def bundle_path(sub_path: Path, rel: str) -> Path | None:
    """The file ``rel`` of the bundle next to ``sub_path``; None when it would lie outside the
    submission's folder (after symlinks are resolved): a submission's paths never reach elsewhere."""
    if relpath_problem(rel) is not None:
        return None
    base = sub_path.resolve().parent
    target = (base / rel).resolve()
    return target if target != base and base in target.parents else None


def bundle_dir(out_path: Path) -> Path:
    """``subs/m.submission.json`` -> ``subs/m/`` (``-o subs/m.json`` -> ``subs/m/``)."""
    name = out_path.name
    for suffix in (".submission.json", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return out_path.with_name(name[: -len(suffix)])
    return out_path.with_name(name + ".files")


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


def official_pin(td: TaskData) -> str | None:
    """The registry's pin of the task's data file (None: there is no official set, e.g. MATH-zh)."""
    return benchmark(td.benchmark).sha256


# ------------------------------------------------------------------------------------------ grading
def _question(doc: Mapping[str, Any]) -> Any:
    return doc.get("question", doc.get("problem"))


def regrade(samples: Sequence[dict[str, Any]], td: TaskData,
            docs: Sequence[Mapping[str, Any]] | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(grades, per-sample metric values)`` of every sample, by our grader, against ``docs[doc_id]``
    (the verifier's own documents) when given, else against the logged document."""
    out = []
    for s in samples:
        doc = s["doc"]
        if docs is not None and isinstance(s.get("doc_id"), int) and 0 <= s["doc_id"] < len(docs):
            doc = docs[s["doc_id"]]
        grades = grade_sample(response_of(s), str(doc.get("gold", s.get("target", ""))), answer_type=td.answer_type,
                              question=_question(doc))
        out.append((grades, sample_values(grades, answer_type=td.answer_type, level=doc.get("level"),
                                          subject=doc.get("subject"), by_subject=td.by_subject)))
    return out


def recompute_metrics(samples: Sequence[dict[str, Any]], td: TaskData,
                      docs: Sequence[Mapping[str, Any]] | None = None) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Our grader over logged responses -> (task metrics, per mode the doc_ids graded unlike the log).

    The same per-sample metrics and aggregations as the task itself (skymath_tasks.metrics). A sample
    whose logged verdicts (lm-eval's per-sample value and the task's ``doc.skymath`` record) include one
    that differs from the re-grade is listed under its mode."""
    graded = regrade(samples, td, docs)
    out: dict[str, Any] = aggregate([values for _, values in graded], metric_names(td.answer_type, td.by_subject))
    drift: dict[str, list[int]] = {}
    for mode in MODES:
        bad = [s["doc_id"] for s, (g, _) in zip(samples, graded) if logged_verdicts(s, mode) - {g[mode].correct}]
        if bad:
            drift[mode] = bad
    out["_correct"] = {mode: sum(g[mode].correct for g, _ in graded) for mode in MODES}
    out["_tiers"] = {s["doc_id"]: {m: g[m].tier for m in MODES} for s, (g, _) in zip(samples, graded)}
    return out, drift


def logged_verdicts(sample: Mapping[str, Any], mode: str) -> set[bool]:
    """The verdicts the run logged for ``mode``: lm-eval's per-sample metric value and the task's
    ``doc.skymath`` record (empty when it logged neither)."""
    found: set[bool] = set()
    value = sample.get(mode)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        found.add(bool(value))
    record = (sample.get("doc") or {}).get("skymath")
    if isinstance(record, dict) and isinstance(record.get(mode), dict) and isinstance(record[mode].get("correct"), bool):
        found.add(record[mode]["correct"])
    return found


def logged_metrics(samples: Sequence[dict[str, Any]], td: TaskData) -> dict[str, Any]:
    """The task's figures aggregated from the per-sample values lm-eval logged (what its results JSON
    must say); a metric without a logged value in some sample is left out."""
    names = metric_names(td.answer_type, td.by_subject)
    out: dict[str, Any] = {}
    for name in names:
        values = [s.get(name) for s in samples]
        if any(v is None for v in values):
            continue
        try:
            out[name] = aggregate([{name: v} for v in values], [name])[name]
        except (TypeError, IndexError, ValueError):  # a value of the wrong shape: nothing to compare
            continue
    return out


def metric_differences(claimed: Mapping[str, Any], actual: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(metric, claimed, actual)`` for every metric present in both that differs."""
    return [(k, v, actual[k]) for k, v in claimed.items() if k in actual and not k.startswith("_")
            and not same(finite(v), finite(actual[k]))]


# ------------------------------------------------------------------------------------------ build
def _versions(model: ModelResults) -> dict[str, Any]:
    import skymath_tasks
    from skymath_tasks.prompts import PROMPT_VERSION

    run = model.runs[-1].data
    torch = re.search(r"PyTorch version: (\S+)", str(run.get("pretty_env_info") or ""))
    out = {
        "lm_eval": run.get("lm_eval_version"),
        "transformers": run.get("transformers_version"),
        "torch": torch.group(1) if torch else None,
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


def _portable(value: str) -> tuple[str, bool]:
    """A model id or argument as anyone can read it: a local absolute path becomes its last component."""
    if looks_absolute(value):
        return (PurePosixPath(value.replace("\\", "/")).name or "model"), True
    return value, False


def _model(model: ModelResults) -> dict[str, Any]:
    ident, local = _portable(model.model_id)
    args = {}
    for k, v in model.runs[-1].model_args.items():
        args[k] = _portable(str(v))[0]
    return {"label": _portable(model.label)[0], "id": ident, "revision": model.revision, "dtype": model.dtype,
            "backend": model.backend, "model_args": args, "local_path": local}


def _generation(model: ModelResults, tasks: Sequence[str]) -> dict[str, Any]:
    run = model.runs[-1]
    cfg = run.config
    per_task: dict[str, Any] = {}
    for t in tasks:
        r = model.tasks[t].run
        configs = r.data.get("configs") or {}
        nshot = r.data.get("n-shot") or {}
        per_task[t] = {
            "generation_kwargs": (configs.get(t) or {}).get("generation_kwargs"),
            "num_fewshot": nshot.get(t, (configs.get(t) or {}).get("num_fewshot")),
            "limit": r.config.get("limit"),
        }
    return {
        "gen_kwargs_override": cfg.get("gen_kwargs"),
        "batch_size": cfg.get("batch_size"),
        "random_seed": cfg.get("random_seed"),
        "apply_chat_template": bool(run.data.get("chat_template")),
        "chat_template_sha": run.data.get("chat_template_sha"),
        "system_instruction_sha": run.data.get("system_instruction_sha"),
        "fewshot_as_multiturn": run.data.get("fewshot_as_multiturn"),
        "per_task": per_task,
    }


def _check_own_figures(name: str, t, samples: Sequence[dict[str, Any]], td: TaskData) -> dict[str, Any]:
    """The task's figures, after checking that lm-eval's results JSON, its per-sample values and our
    grader agree (a submission copies nothing it has not checked)."""
    import skymath_tasks

    logged = logged_metrics(samples, td)
    fname = t.run.results_path.name
    for key, claimed, actual in metric_differences(t.metrics, logged):
        raise ReportInputError(
            f"{fname}: task {name} metric {key} = {fmt(claimed)}, but its per-sample log "
            f"{t.samples_path.name} gives {fmt(actual)}: the results file was edited")
    regraded, drift = recompute_metrics(samples, td)
    for mode, bad in drift.items():
        raise ReportInputError(
            f"task {name}: SkyMath {skymath_tasks.__version__} grades {len(bad)} sample(s) ({mode}) differently than "
            f"the run logged, doc_id(s) {bad[:10]}: the log was edited, or the run used another SkyMath version "
            "(re-run lm_eval with this one)")
    missing = [k for k in metric_names(td.answer_type, td.by_subject) if k not in t.metrics]
    if missing:
        raise ReportInputError(f"{fname}: task {name} lacks metric(s) {', '.join(missing)}: not a SkyMath run")
    return {k: finite(regraded[k]) for k in metric_names(td.answer_type, td.by_subject)}


def _fresh_bundle(path: Path) -> Path:
    """An empty folder at ``path``; an old bundle (only lm-eval files) is replaced, anything else refused."""
    if path.exists():
        if not path.is_dir() or any(not (p.is_file() and _BUNDLE_FILE_RE.match(p.name)) for p in path.iterdir()):
            raise ReportInputError(f"{path} exists and is not a submission bundle: choose another output")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def build_submission(model: ModelResults, out_path: str | Path, data_dir: str | os.PathLike | None = None,
                     contamination: Mapping[str, Any] | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """Write ``out_path`` and its bundle folder for ``model``; every leaf task needs its per-sample log.

    ``contamination``: the contamination probe summary to attach (schema ``contamination``).
    ``notes``: receives one line per thing the user should know (a task left out, data that is not the
    official set)."""
    notes = notes if notes is not None else []
    out_path = Path(out_path)
    ddir = _data_dir(data_dir)
    from skymath_tasks.report.contamination import PROBE_ORDER, model_probe_summary

    probes = sorted(name for name in model.tasks if name in PROBE_ORDER)
    if probes:
        # probe tasks measure leakage, not accuracy: their figure is the contamination block, never a score
        found = model_probe_summary(model)
        if contamination is None and found is not None:
            contamination = found
            notes.append(f"contamination block from the probe task(s) {', '.join(probes)} of this run: "
                         f"{found['reading']} (gap {found['gap']:+.3f})")
        notes.append(f"probe task(s) {', '.join(probes)} not submitted as scores (they measure leakage)")
    leaves = sorted(name for name, t in model.tasks.items() if not t.is_group and name not in PROBE_ORDER)
    if not leaves:
        raise ReportInputError(f"model {model.label}: no task results found")
    kept = []
    for name in leaves:
        td = _task(name)
        if official_pin(td) is None:
            notes.append(f"task {name} left out: there is no official {benchmark(td.benchmark).title} to verify it "
                         "against (each user makes their own copy)")
        else:
            kept.append(name)
    if not kept:
        raise ReportInputError(f"model {model.label}: no task with an official test set to submit")
    tasks: dict[str, Any] = {}
    data_files: dict[str, dict[str, Any]] = {}
    hub: dict[str, dict[str, Any]] = {}
    sample_sources: dict[str, Path] = {}
    run_files: dict[Path, str] = {}
    complete = True
    bdir = bundle_dir(out_path)
    for name in kept:
        t = model.tasks[name]
        td = _task(name)
        if t.samples_path is None:
            raise ReportInputError(
                f"model {model.label}, task {name}: no samples_{name}_{t.run.date_id}.jsonl next to "
                f"{t.run.results_path}; rerun lm_eval with --log_samples"
            )
        samples = read_samples(t.samples_path)
        metrics = _check_own_figures(name, t, samples, td)
        run_files.setdefault(t.run.results_path, f"{bdir.name}/{t.run.results_path.name}")
        rel = f"{bdir.name}/{t.samples_path.name}"
        sample_sources[rel] = t.samples_path
        n_total = t.n_original
        ids = sorted(s["doc_id"] for s in samples if isinstance(s["doc_id"], int))
        complete &= n_total is not None and ids == list(range(n_total))
        tasks[name] = {
            "version": t.version,
            "answer_type": td.answer_type,
            "n_samples": len(samples),
            "n_total": n_total,
            "limit": t.run.config.get("limit"),
            "metrics": metrics,
            "samples": {"path": rel, "sha256": file_sha256(t.samples_path), "lines": len(samples)},
            "results_file": run_files[t.run.results_path],
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
            if entry["sha256"] != bench.sha256 and len(entry["tasks"]) == 1:
                notes.append(f"data file {relpath} is not the official {bench.title} (sha256 {entry['sha256'][:16]}..., "
                             f"official {bench.sha256[:16]}...): verify will reject this submission")
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
            if any(x not in tasks for x in group_leaves):
                if all(x in model.tasks for x in group_leaves):
                    notes.append(f"group {name} left out: some of its tasks are")
                    continue
                raise ReportInputError(f"model {model.label}, group {name}: subtasks "
                                       f"{[x for x in group_leaves if x not in model.tasks]} have no results")
            run_files.setdefault(g.run.results_path, f"{bdir.name}/{g.run.results_path.name}")
            groups[name] = {"subtasks": list(g.subtasks), "leaves": group_leaves, "n_samples": g.n,
                            "metrics": {k: finite(v) for k, v in sorted(g.metrics.items())},
                            "results_file": run_files[g.run.results_path]}
    sub: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "complete" if complete else "partial",
        "model": _model(model),
        "generation": _generation(model, kept),
        "versions": _versions(model),
        "data": {
            "files": sorted(data_files.values(), key=lambda d: d["path"]),
            "hub": sorted(hub.values(), key=lambda d: d["dataset"]),
        },
        "tasks": tasks,
        "groups": groups,
        "results_files": [{"path": rel, "sha256": file_sha256(src)} for src, rel in sorted(run_files.items(), key=lambda x: x[1])],
    }
    if contamination is not None:
        sub["contamination"] = dict(contamination)
    validate_schema(sub)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bundle = _fresh_bundle(bdir)
    for src, rel in run_files.items():
        shutil.copyfile(src, bundle / Path(rel).name)
    for rel, src in sample_sources.items():
        shutil.copyfile(src, bundle / Path(rel).name)
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


def read_contamination(path: str | Path) -> dict[str, Any]:
    """A contamination probe summary JSON (``{"gap", "interval", "reading", "n_items", "method"}``)."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: cannot read the contamination summary ({clip(exc)})") from None
    errors = schema_errors({"contamination": data}, only="contamination")
    if errors:
        raise ReportInputError(f"{path}: not a contamination summary: {errors[0]}")
    return data


# ------------------------------------------------------------------------------------------ schema
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def schema_errors(sub: Any, only: str | None = None) -> list[str]:
    """One line per schema violation, naming its JSON path (values are never printed whole).

    ``only``: check just that top-level property (``contamination``)."""
    import jsonschema

    schema = load_schema()
    if only is not None:
        schema = {"$defs": schema["$defs"], "type": "object", "properties": {only: schema["properties"][only]}}
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(sub), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(clip(p, 80) for p in err.absolute_path) or "(top level)"
        out.append(clip(f"schema: at {where}: {err.message}"))
    return out


def validate_schema(sub: Any) -> None:
    errors = schema_errors(sub)
    if errors:
        raise ReportInputError("submission does not match its JSON Schema:\n  " + "\n  ".join(errors))


def verify_submission(*args: Any, **kwargs: Any):
    """See :func:`skymath_tasks.report.verify.verify_submission` (kept here for existing imports)."""
    from skymath_tasks.report.verify import verify_submission as _verify

    return _verify(*args, **kwargs)


__all__ = ["SCHEMA_ID", "build_submission", "submission_filename", "bundle_dir", "verify_submission",
           "recompute_metrics", "logged_metrics", "schema_errors", "validate_schema", "read_contamination", "DataError"]
