"""``skymath-report verify``: check a submission while trusting nothing in it.

What the verifier trusts is its own: the SkyMath package (grader, task definitions, the sha256 pins of
the official test sets in :mod:`skymath_tasks.benchmarks`) and its own copy of the data (the Hub, or
``--data-dir`` / ``$SKYMATH_DATA_DIR``, checked against those pins). From the submission it reads only
the files of its bundle (paths relative to it, never outside its folder); a folder the submission
names is never opened. Then, for every task:

* the data the run used must be the official set (its recorded hash equals the pin);
* the bundled per-sample log and lm-eval results JSON must match their recorded sha256;
* the log must hold every document of the task (``complete``) or exactly the first ``--limit`` of them
  (``partial``: verified, never ranked); no document missing, repeated or out of place;
* every logged document equals the verifier's own, the prompt is the task's, decoding was greedy;
* ``filtered_resps`` are what the task's lm-eval filters make of the raw ``resps``;
* every response is re-graded against the verifier's documents in all three modes; a logged verdict
  that differs is an error when the run claims the verifier's SkyMath version;
* every metric, in the submission and in lm-eval's own results JSON, equals the re-graded one.

Each problem is one line naming what is wrong; nothing of the submission is printed unclipped.
A consistent forgery (responses rewritten too) needs the model itself: ``--regenerate``
(:mod:`skymath_tasks.report.regenerate`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import (
    ENV_VAR,
    DataUnavailable,
    TaskData,
    benchmark,
    documents_sha256,
    local_path,
    task_data,
)
from skymath_tasks.data import derived_file_sha256
from skymath_tasks.jsonl_io import DataError, file_sha256
from skymath_tasks.metrics import BASE_METRICS, MODES
from skymath_tasks.report.loader import ReportInputError, read_samples
from skymath_tasks.report.submission import (
    SCHEMA_ID,
    _data_dir,
    bundle_path,
    clip,
    fmt,
    looks_absolute,
    metric_differences,
    official_pin,
    recompute_metrics,
    relpath_problem,
    same,
    schema_errors,
)

#: a submission JSON is a few hundred kB; anything this large is refused unread
MAX_SUBMISSION_BYTES = 64 << 20
#: grader tiers whose verdict depends on the machine's load (a time or memory limit), not the answer
_RESOURCE_TIERS = {"timeout", "crash"}
#: the lines a verdict prints at most (errors, then warnings)
MAX_ERRORS, MAX_WARNINGS = 25, 10
#: what loading a task's documents raises when the data is missing or bad (not a bug of ours)
_LOAD_ERRORS = (DataUnavailable, DataError, KeyError, OSError, ValueError)


@dataclass
class VerifyReport:
    path: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    #: "complete" / "partial" once the logs are read; None when they could not be
    status: str | None = None
    #: re-graded figures: task -> metrics, group -> metrics (what a leaderboard shows)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    submission: dict[str, Any] | None = None
    #: the verified per-sample logs by task (for --regenerate)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def error(self, text: str) -> None:
        self.errors.append(clip(text))

    def warn(self, text: str) -> None:
        self.warnings.append(clip(text))

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "FAILED"
        return "PARTIAL" if self.status == "partial" else "OK"

    def render(self, verbose: bool = False) -> str:
        head = f"{self.verdict}: {clip(self.path, 200)}"
        if self.verdict == "PARTIAL":
            head += " (a --limit run: every check passed, but it is not a leaderboard entry)"
        lines = [head]
        lines += [f"  ERROR: {e}" for e in self.errors[:MAX_ERRORS]]
        if len(self.errors) > MAX_ERRORS:
            lines.append(f"  ... and {len(self.errors) - MAX_ERRORS} more error(s)")
        lines += [f"  warning: {w}" for w in self.warnings[:MAX_WARNINGS]]
        if len(self.warnings) > MAX_WARNINGS:
            lines.append(f"  ... and {len(self.warnings) - MAX_WARNINGS} more warning(s)")
        if verbose:
            lines += [f"  checked: {c}" for c in self.checked]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ documents
class TaskDocuments:
    """The verifier's own documents of a task, loaded through lm-eval's task loader (so any SkyMath
    task works) from the verifier's data folder or the Hub; never from a folder a submission names.

    Task objects and documents are cached per process (keyed by data folder and task): indexing the
    tasks costs seconds, and a leaderboard verifies several submissions."""

    _managers: dict[str, Any] = {}
    _cache: dict[tuple[str, str], tuple[Any, list[dict[str, Any]]]] = {}

    def __init__(self, data_dir: Path | None):
        self.data_dir = data_dir

    def _manager(self) -> Any:
        from lm_eval.tasks import TaskManager

        import skymath_tasks

        key = str(self.data_dir)
        if key not in self._managers:
            metadata = {"data_dir": str(self.data_dir)} if self.data_dir is not None else None
            self._managers[key] = TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False,
                                              metadata=metadata)
        return self._managers[key]

    def load(self, task: str) -> tuple[Any, list[dict[str, Any]]]:
        """``(lm-eval task object, documents as JSON values)``; raises one of ``_LOAD_ERRORS``."""
        key = (task, str(self.data_dir))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            lm_log = logging.getLogger("lm_eval")
            level = lm_log.level
            lm_log.setLevel(logging.ERROR)  # task loading chatter would bury the verdict
            try:
                loaded = self._manager().load([task])["tasks"]
                if task not in loaded:
                    raise KeyError(f"lm-eval does not know task {task}")
                obj = loaded[task]
                docs = [json.loads(json.dumps(d, default=str)) for d in obj.test_docs()]
            finally:
                lm_log.setLevel(level)
            self._cache[key] = (obj, docs)
        return self._cache[key]


# ------------------------------------------------------------------------------------------ reading
def _read_json(path: Path, what: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, one-line reason)``: size-capped, strict UTF-8, strict JSON."""
    try:
        size = path.stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            return None, f"{what} {path.name} is {size} bytes (limit {MAX_SUBMISSION_BYTES}): refused unread"
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read {what} {path}: {exc.strerror or exc}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, f"{path}:{line}: {what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
    if not text.strip():
        return None, f"{path}: {what} is empty"

    def _no_constants(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    try:
        return json.loads(text, parse_constant=_no_constants), None
    except json.JSONDecodeError as exc:
        return None, f"{path}:{exc.lineno}: {what} is not valid JSON ({exc.msg} at column {exc.colno})"
    except (ValueError, RecursionError) as exc:
        return None, f"{path}: {what} is not valid JSON ({clip(exc, 80)})"


def _normal(value: Any) -> Any:
    """JSON round trip: tuples become lists, as in a log."""
    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------------------------------ checks
def _check_paths(report: VerifyReport, sub: dict[str, Any]) -> None:
    """Every path is relative and stays in the bundle; no machine's local path is recorded."""
    fields: list[tuple[str, Any]] = [(f"results_files[{i}].path", r.get("path")) for i, r in enumerate(sub["results_files"])]
    for name, t in sub["tasks"].items():
        fields += [(f"task {name}: samples path", t["samples"]["path"]), (f"task {name}: results_file", t["results_file"])]
    for name, g in sub["groups"].items():
        if "results_file" in g:
            fields.append((f"group {name}: results_file", g["results_file"]))
    for where, value in fields:
        problem = relpath_problem(value)
        if problem:
            report.error(f"{where} {clip(value, 80)!r} is {problem}: every path in a submission is relative to it and "
                         "stays in its folder")
    model = sub["model"]
    for key, value in [("label", model["label"]), ("id", model["id"]),
                       *((f"model_args.{k}", v) for k, v in model.get("model_args", {}).items())]:
        if isinstance(value, str) and looks_absolute(value):
            report.error(f"model {key} {clip(value, 80)!r} is an absolute local path: a submission records no "
                         "machine's folders")


def _check_contamination(report: VerifyReport, block: Mapping[str, Any] | None) -> None:
    """The contamination block is self-reported (the probes are not rerun here), but it must agree with
    itself: the gap inside its interval, and the reading the one SkyMath gives that interval."""
    if not block:
        return
    from skymath_tasks.leakage_probes import METHODS, GapStats, reading

    gap, (lo, hi) = block["gap"], block["interval"]
    if lo is not None and hi is not None and not lo <= gap <= hi:
        report.error(f"contamination: gap {gap!r} lies outside its own interval [{lo!r}, {hi!r}]")
    probe = next((p for p, text in METHODS.items() if str(block["method"]).startswith(text)), None)
    if probe is None:
        report.warn("contamination: not a SkyMath probe method; its reading is shown as submitted")
        return
    expected = reading(GapStats(probe, gap, lo, hi, None, None, int(block["n_items"])))
    if block["reading"] != expected:
        report.error(f"contamination: reading {clip(block['reading'], 60)!r}, but an interval with lower end "
                     f"{lo!r} reads {expected!r}")


def _check_data_pins(report: VerifyReport, sub: dict[str, Any]) -> dict[str, TaskData]:
    """The data each task ran on, as the submission records it, against the official pins (no file is
    opened: a recorded hash that is not the official one fails whatever data the verifier has)."""
    files = {f["path"]: f for f in sub["data"]["files"]}
    hub = {h["dataset"]: h for h in sub["data"]["hub"]}
    known: dict[str, TaskData] = {}
    for name in sub["tasks"]:
        td = task_data(name)
        if td is None:
            report.error(f"task {name}: not a SkyMath task known to this verifier: it cannot be re-graded or pinned")
            continue
        bench = benchmark(td.benchmark)
        pin = official_pin(td)
        if pin is None:
            report.error(f"task {name}: there is no official {bench.title} to verify it against")
            continue
        known[name] = td
        source = bench.hub or (benchmark(bench.derived_from).hub if bench.derived_from else None)
        entry = files.get(bench.local)
        if entry is not None and name in entry["tasks"]:
            if entry["sha256"] != pin:
                report.error(f"task {name}: ran on {bench.local} with sha256 {entry['sha256'][:16]}..., but the official "
                             f"{bench.title} is {pin[:16]}...: made on other (edited?) data, or its hash was edited")
            else:
                report.checked.append(f"task {name}: data pin {bench.local} is the official one")
        elif source is not None and source.label() in hub and name in hub[source.label()]["tasks"]:
            report.checked.append(f"task {name}: ran on the Hub dataset {source.label()}")
        else:
            report.error(f"task {name}: no data pin recorded for it (data.files {bench.local} or data.hub): "
                         "the data it ran on cannot be checked")
    for f in sub["data"]["files"]:
        for name in f["tasks"]:
            td = task_data(name)
            if td is not None and benchmark(td.benchmark).local != f["path"]:
                report.error(f"data file {clip(f['path'], 80)}: lists task {name}, which reads {benchmark(td.benchmark).local}")
    return known


def _check_own_data(report: VerifyReport, ddir: Path | None, tasks: Mapping[str, TaskData]) -> set[str]:
    """The verifier's data folder against the pins; returns the tasks whose data is good."""
    if ddir is None:
        return set(tasks)  # Hub: checked by the document pins once loaded
    good: set[str] = set()
    seen: dict[str, bool] = {}
    for name, td in tasks.items():
        bench = benchmark(td.benchmark)
        if bench.local not in seen:
            local = local_path(bench, ddir)
            actual = None
            if local is not None and local.is_file():
                actual = file_sha256(local)
            elif bench.derived_from:
                try:
                    actual = derived_file_sha256(bench.local, ddir)
                except (DataUnavailable, DataError, OSError) as exc:
                    report.error(f"your data folder {ddir}: cannot build {bench.local} ({clip(exc, 120)})")
            if actual is None and not bench.derived_from:
                report.error(f"your data folder {ddir} has no {bench.local}: pass --data-dir with the official "
                             f"data, or set no folder to use the Hub")
            elif actual is not None and actual != bench.sha256:
                report.error(f"your data copy {local} has sha256 {actual[:16]}..., not the official {bench.title} "
                             f"({bench.sha256[:16]}...): verify against the official data")
            elif actual is not None:
                report.checked.append(f"your {bench.local} is the official one ({actual[:16]}...)")
            seen[bench.local] = actual == bench.sha256
        if seen[bench.local]:
            good.add(name)
    return good


def _expected_count(limit: Any, n_total: int) -> int:
    """Documents lm-eval evaluates: all, the first ``limit``, or ``ceil(limit * n)`` for a fraction."""
    if limit is None:
        return n_total
    limit = float(limit)
    return min(n_total, int(math.ceil(n_total * limit)) if limit < 1.0 else int(limit))


def _check_coverage(report: VerifyReport, where: str, t: dict[str, Any], samples: Sequence[dict[str, Any]],
                    fname: str, n_docs: int) -> str | None:
    """Exactly every document (-> "complete") or exactly the first ``limit`` (-> "partial"); else None."""
    ids = [s["doc_id"] for s in samples]
    bad_ids = [i for i in ids if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n_docs]
    if bad_ids:
        report.error(f"{where}: doc_id(s) {clip(bad_ids[:5], 80)} in {fname} are not documents of the task (0..{n_docs - 1})")
        return None
    dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
    if dupes:
        report.error(f"{where}: doc_id(s) {dupes[:10]} appear more than once in {fname}")
        return None
    if t.get("n_total") != n_docs:
        report.error(f"{where}: the submission says the task has {t.get('n_total')} documents, the official set has {n_docs}")
    for what, value in (("n_samples", t["n_samples"]), ("samples.lines", t["samples"]["lines"])):
        if value != len(samples):
            report.error(f"{where}: {len(samples)} samples in {fname}, but the submission's {what} is {value}")
    have = set(ids)
    if have == set(range(n_docs)):
        return "complete"
    limit = t.get("limit")
    expected = _expected_count(limit, n_docs)
    gone = sorted(set(range(expected)) - have)
    extra = sorted(have - set(range(expected)))
    if limit is None:
        report.error(f"{where}: {len(samples)} of {n_docs} documents in {fname} and no --limit: a leaderboard entry "
                     f"needs every document; missing doc_id(s) {gone[:10]}{' ...' if len(gone) > 10 else ''}")
        return None
    if gone or extra:
        report.error(f"{where}: a --limit {limit} run evaluates doc_ids 0..{expected - 1}, but {fname} "
                     + (f"lacks {gone[:10]}{' ...' if len(gone) > 10 else ''}" if gone else "")
                     + (" and " if gone and extra else "") + (f"has {extra[:10]}" if extra else "")
                     + ": samples were dropped or picked")
        return None
    return "partial"


def _check_documents(report: VerifyReport, where: str, samples: Sequence[dict[str, Any]], docs: Sequence[dict[str, Any]]) -> None:
    bad: list[str] = []
    for s in samples:
        logged = {k: v for k, v in s["doc"].items() if k != "skymath"}
        expected = docs[s["doc_id"]]
        diff = sorted(k for k in set(logged) | set(expected) if logged.get(k) != expected.get(k))
        if diff:
            bad.append(f"{s['doc_id']} (field {', '.join(clip(k, 40) for k in diff[:3])})")
    if bad:
        report.error(f"{where}: logged document(s) differ from the official data: doc_id {'; '.join(bad[:5])}"
                     f"{' ...' if len(bad) > 5 else ''}: edited samples, or a different data set")
    else:
        report.checked.append(f"{where}: {len(samples)} documents match the official data")


def _check_requests(report: VerifyReport, where: str, samples: Sequence[dict[str, Any]], docs: Sequence[dict[str, Any]],
                    task_obj: Any, gen: Mapping[str, Any], generation: Mapping[str, Any]) -> None:
    """Greedy decoding with the recorded generation settings, and (zero-shot, no chat template, no system
    instruction) the task's own prompt for the document."""
    check_prompt = (gen.get("num_fewshot") in (0, None) and not generation.get("apply_chat_template")
                    and not generation.get("system_instruction_sha"))
    if check_prompt and samples:
        # lm-eval's zero-shot context is the task description plus doc_to_text; SkyMath tasks have no
        # description, so doc_to_text alone is the prompt (fewshot_context compiles templates per call)
        first = docs[samples[0]["doc_id"]]
        exact = task_obj.fewshot_context(first, 0) == task_obj.doc_to_text(first)
        prompt_of = task_obj.doc_to_text if exact else (lambda doc: task_obj.fewshot_context(doc, 0))
    recorded = _normal(gen.get("generation_kwargs"))
    bad_prompt, bad_kwargs, sampled = [], [], []
    for s in samples:
        args = s.get("arguments")
        try:
            prompt, kwargs = args[0][0], args[0][1]
        except (TypeError, IndexError, KeyError):
            report.error(f"{where}: doc_id {s['doc_id']}: the logged request ('arguments') is missing or malformed")
            return
        kwargs = _normal(kwargs)
        if not isinstance(kwargs, dict):
            bad_kwargs.append(s["doc_id"])
            continue
        if kwargs.get("do_sample") or kwargs.get("temperature") not in (None, 0, 0.0):
            sampled.append(s["doc_id"])
        if recorded is not None and kwargs != recorded:
            bad_kwargs.append(s["doc_id"])
        if check_prompt and prompt != prompt_of(docs[s["doc_id"]]):
            bad_prompt.append(s["doc_id"])
    if sampled:
        report.error(f"{where}: doc_id(s) {sampled[:10]} were generated with sampling (do_sample/temperature): the "
                     "protocol is greedy")
    if bad_kwargs:
        report.error(f"{where}: doc_id(s) {bad_kwargs[:10]} were generated with other settings than the recorded "
                     "generation_kwargs")
    if bad_prompt:
        report.error(f"{where}: doc_id(s) {bad_prompt[:10]} were prompted with another text than the task's prompt "
                     "for that document")
    if not check_prompt:
        report.warn(f"{where}: prompts not compared (few-shot, chat template or system instruction)")


def _request_args(sample: Mapping[str, Any]) -> Any:
    """lm-eval logs ``arguments`` as ``{"gen_args_0": {"arg_0": prompt, "arg_1": kwargs}}`` (0.4.x) or a
    list of argument tuples; both become ``[[prompt, kwargs], ...]``."""
    args = sample.get("arguments")
    if isinstance(args, dict):
        out = []
        for key in sorted(args, key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit() else 0):
            a = args[key]
            out.append([a.get("arg_0"), a.get("arg_1")] if isinstance(a, dict) else a)
        return out
    return args


def _apply_filters(task_obj: Any, name: str, resps: Any, doc: Mapping[str, Any]) -> Any:
    """What the task's lm-eval filter pipeline ``name`` makes of one document's raw responses."""
    for ensemble in getattr(task_obj, "_filters", None) or []:
        if ensemble.name == name:
            out = list(resps)
            docs = [doc] * len(out)
            for f in ensemble.filters:
                out = list(f().apply(out, docs))
            return out
    raise KeyError(name)


def _check_filters(report: VerifyReport, where: str, samples: Sequence[dict[str, Any]], docs: Sequence[dict[str, Any]],
                   task_obj: Any) -> None:
    bad = []
    for s in samples:
        resps = s.get("resps")
        if not isinstance(resps, list) or not all(isinstance(r, list) for r in resps):
            bad.append(s["doc_id"])
            continue
        try:
            expected = _apply_filters(task_obj, str(s.get("filter", "none")), resps, docs[s["doc_id"]])
        except KeyError:
            report.error(f"{where}: doc_id {s['doc_id']}: filter {clip(s.get('filter'), 40)!r} is not one of the task's")
            return
        if _normal(expected) != _normal(s["filtered_resps"]):
            bad.append(s["doc_id"])
    if bad:
        report.error(f"{where}: filtered_resps of doc_id(s) {bad[:10]} are not what the task's filters make of their "
                     "resps: the graded responses were edited")
    else:
        report.checked.append(f"{where}: filtered_resps are the task's filters applied to resps")


def _lm_eval_metrics(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"strict,none": x, "strict_stderr,none": ...}`` -> ``{"strict": x}``."""
    out = {}
    for key, value in entry.items():
        if isinstance(key, str) and key.endswith(",none") and "_stderr" not in key:
            out[key[: -len(",none")]] = value
    return out


def _compare(report: VerifyReport, where: str, source: str, claimed: Mapping[str, Any], actual: Mapping[str, Any],
             n: int, require_all: bool = True) -> None:
    for key, value, real in metric_differences(claimed, actual):
        extra = f" ({actual['_correct'][key]}/{n} correct)" if key in MODES and "_correct" in actual else ""
        report.error(f"{where}: metric {clip(key, 40)} = {fmt(value)} in {source}, but {fmt(real)} re-graded from "
                     f"{n} samples{extra}: the number was edited, or samples changed")
    missing = [k for k in actual if not k.startswith("_") and k not in claimed]
    if missing and require_all:
        report.error(f"{where}: metric(s) {', '.join(sorted(missing))} missing from {source}")


def _check_results_json(report: VerifyReport, where: str, name: str, res: Mapping[str, Any], t: Mapping[str, Any],
                        actual: Mapping[str, Any], n: int, n_docs: int, gen: Mapping[str, Any], fname: str) -> None:
    """lm-eval's own results JSON says what the re-grade says, for the same run settings."""
    entry = (res.get("results") or {}).get(name)
    if not isinstance(entry, dict):
        report.error(f"{where}: {fname} has no results for this task")
        return
    _compare(report, where, f"lm-eval's {fname}", _lm_eval_metrics(entry), actual, n)
    ns = (res.get("n-samples") or {}).get(name) or {}
    if ns.get("effective") != n or ns.get("original") != n_docs:
        report.error(f"{where}: {fname} counts {ns.get('effective')} of {ns.get('original')} documents, the log holds "
                     f"{n} of {n_docs}")
    limit = (res.get("config") or {}).get("limit")
    if not same(limit, t.get("limit")) and limit != t.get("limit"):
        report.error(f"{where}: {fname} ran with --limit {clip(limit, 20)}, the submission says {clip(t.get('limit'), 20)}")
    cfg = (res.get("configs") or {}).get(name) or {}
    if _normal(cfg.get("generation_kwargs")) != _normal(gen.get("generation_kwargs")):
        report.error(f"{where}: {fname} records other generation_kwargs than the submission")


def _check_drift(report: VerifyReport, where: str, drift: Mapping[str, list[int]], tiers: Mapping[int, Mapping[str, str]],
                 samples: Sequence[dict[str, Any]], sub: Mapping[str, Any]) -> None:
    import skymath_tasks

    graded_with = sub["versions"].get("skymath")
    ours = skymath_tasks.__version__
    logged_tiers = {s["doc_id"]: ((s.get("doc") or {}).get("skymath") or {}) for s in samples}
    for mode, bad in drift.items():
        resource = [i for i in bad if tiers.get(i, {}).get(mode) in _RESOURCE_TIERS
                    or (logged_tiers.get(i, {}).get(mode) or {}).get("tier") in _RESOURCE_TIERS]
        real = [i for i in bad if i not in resource]
        if resource:
            report.warn(f"{where}: {len(resource)} sample(s) ({mode}) hit the grader's time/memory limit in the run or "
                        f"now, doc_id(s) {resource[:10]}")
        if not real:
            continue
        msg = (f"{where}: {len(real)} sample(s) graded differently ({mode}) than their log says, doc_id(s) {real[:10]} "
               f"(run graded with SkyMath {clip(graded_with, 20)}, verifier {ours})")
        if graded_with == ours:
            report.error(msg + ": the per-sample verdicts were edited")
        else:
            report.warn(msg)


# ------------------------------------------------------------------------------------------ main
def verify_submission(path: str | Path, data_dir: str | os.PathLike | None = None,
                      samples_dir: str | os.PathLike | None = None) -> VerifyReport:
    """Check a submission against the official data and our grader; never raises on bad content.

    ``data_dir``: the verifier's data folder (default ``$SKYMATH_DATA_DIR``; neither = the Hub).
    ``samples_dir``: a folder now holding the bundle's files, if they were moved (looked up by name)."""
    path = Path(path)
    report = VerifyReport(path)
    sub, problem = _read_json(path, "submission")
    if problem:
        report.error(problem)
        return report
    if not isinstance(sub, dict):
        report.error("the submission is not a JSON object")
        return report
    if sub.get("schema") != SCHEMA_ID and isinstance(sub.get("schema"), str) and sub["schema"].startswith("skymath-submission/"):
        report.error(f"schema {clip(sub['schema'], 40)} is not {SCHEMA_ID}: run `skymath-report submit` again with "
                     "this SkyMath version")
        return report
    errs = schema_errors(sub)
    if errs:
        report.errors.extend(errs)
        return report
    report.submission = sub
    _check_paths(report, sub)
    _check_contamination(report, sub.get("contamination"))
    tasks = _check_data_pins(report, sub)
    try:
        ddir = _data_dir(data_dir)
    except ReportInputError as exc:
        report.error(str(exc))
        return report
    good_data = _check_own_data(report, ddir, tasks)
    if report.errors:
        return report  # nothing below can be trusted with bad paths, unknown tasks or the wrong data
    results = _read_results_files(report, path, sub, samples_dir)
    docs_source = TaskDocuments(ddir)
    statuses: list[str | None] = []
    recomputed: dict[str, dict[str, Any]] = {}
    for name, t in sub["tasks"].items():
        status, rec = _verify_task(report, path, sub, name, t, tasks[name], docs_source, ddir, results, samples_dir,
                                   name in good_data)
        statuses.append(status)
        if rec is not None:
            recomputed[name] = rec
            report.samples[name] = rec["samples"]
            report.metrics[name] = {k: v for k, v in rec["metrics"].items() if not k.startswith("_")}
    groups = sub.get("groups") or {}
    for gname, g in groups.items():
        _verify_group(report, gname, g, groups, recomputed, results)
    if all(s is not None for s in statuses):
        report.status = "complete" if all(s == "complete" for s in statuses) else "partial"
        if sub["status"] != report.status:
            report.error(f"the submission says it is {sub['status']}, but its logs make it {report.status}")
    return report


def _locate(path: Path, rel: str, samples_dir: str | os.PathLike | None) -> Path | None:
    if samples_dir is not None:
        return Path(samples_dir) / Path(rel).name
    return bundle_path(path, rel)


def _read_results_files(report: VerifyReport, path: Path, sub: dict[str, Any],
                        samples_dir: str | os.PathLike | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in sub["results_files"]:
        rel = entry["path"]
        p = _locate(path, rel, samples_dir)
        if p is None or not p.is_file():
            report.error(f"results file {clip(rel, 120)} not found in the submission's folder (pass --samples-dir if it moved)")
            continue
        sha = file_sha256(p)
        if sha != entry["sha256"]:
            report.error(f"results file {p.name} has sha256 {sha[:16]}..., the submission records {entry['sha256'][:16]}...: "
                         "it changed after submission")
        data, problem = _read_json(p, "lm-eval results file")
        if problem:
            report.error(problem)
        elif not isinstance(data, dict) or not isinstance(data.get("results"), dict):
            report.error(f"results file {p.name}: not an lm-eval results JSON (no 'results')")
        else:
            out[rel] = data
    return out


def _verify_task(report: VerifyReport, path: Path, sub: dict[str, Any], name: str, t: dict[str, Any], td: TaskData,
                 docs_source: TaskDocuments, ddir: Path | None, results: Mapping[str, Any],
                 samples_dir: str | os.PathLike | None, data_ok: bool) -> tuple[str | None, dict[str, Any] | None]:
    where = f"task {name}"
    if t["answer_type"] != td.answer_type:
        report.error(f"{where}: answer_type {t['answer_type']!r} but SkyMath grades this task as {td.answer_type!r}")
    if not data_ok:
        return None, None
    try:
        task_obj, docs = docs_source.load(name)
    except _LOAD_ERRORS as exc:
        report.error(f"{where}: cannot load the official documents "
                     f"({'from the Hub' if ddir is None else f'from {ddir}'}): {type(exc).__name__}: {exc}"
                     + (f"; pass --data-dir or set {ENV_VAR}" if ddir is None else ""))
        return None, None
    pin = td.documents_sha256
    if pin is not None and documents_sha256(docs) != pin:
        report.error(f"{where}: the documents this verifier loaded ({'Hub' if ddir is None else ddir}) are not the "
                     "official set (document pin differs): verify with the official data folder")
        return None, None
    spath = _locate(path, t["samples"]["path"], samples_dir)
    if spath is None or not spath.is_file():
        report.error(f"{where}: per-sample log {clip(t['samples']['path'], 120)} not found in the submission's folder "
                     "(pass --samples-dir if it moved)")
        return None, None
    sha = file_sha256(spath)
    if sha != t["samples"]["sha256"]:
        report.error(f"{where}: per-sample log {spath.name} has sha256 {sha[:16]}..., the submission records "
                     f"{t['samples']['sha256'][:16]}...: the samples changed after submission")
    try:
        samples = read_samples(spath)
    except DataError as exc:
        report.error(f"{where}: {exc}")
        return None, None
    for s in samples:
        s["arguments"] = _request_args(s)
    status = _check_coverage(report, where, t, samples, spath.name, len(docs))
    if status is None:
        return None, None
    gen = sub["generation"]["per_task"].get(name) or {}
    _check_documents(report, where, samples, docs)
    _check_requests(report, where, samples, docs, task_obj, gen, sub["generation"])
    _check_filters(report, where, samples, docs, task_obj)
    actual, drift = recompute_metrics(samples, td, docs)
    _check_drift(report, where, drift, actual["_tiers"], samples, sub)
    _compare(report, where, "the submission", t["metrics"], actual, len(samples))
    res = results.get(t["results_file"])
    if res is None:
        report.error(f"{where}: its results file {clip(t['results_file'], 120)} is not one of the submission's results_files")
    else:
        _check_results_json(report, where, name, res, t, actual, len(samples), len(docs), gen, Path(t["results_file"]).name)
    report.checked.append(f"{where}: {len(samples)} samples re-graded ({status})")
    return status, {"samples": samples, "metrics": actual}


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
                  recomputed: dict[str, dict[str, Any]], results: Mapping[str, Any]) -> None:
    """Group metrics recomputed from the re-graded leaves: the micro-average over all documents
    (``weight_by_size: true``, what SkyMath's groups use) or, for a group that averages its direct
    children instead, the mean of the children's figures; the claimed value must equal one of them,
    in the submission and in lm-eval's results JSON."""
    where = f"group {gname}"
    leaves = g.get("leaves") or g["subtasks"]
    unchecked = [m for m in leaves if m not in recomputed]
    if unchecked:
        report.error(f"{where}: subtasks {sorted(unchecked)[:10]} could not be checked")
        return
    micro = _micro(recomputed, leaves)
    if g.get("n_samples") is not None and g["n_samples"] != micro["_n"]:
        report.error(f"{where}: n_samples {g['n_samples']} in the submission, but its subtasks log {micro['_n']} samples")
    children = [groups[c].get("leaves") or groups[c]["subtasks"] if c in groups else [c] for c in g["subtasks"]]
    macro = {}
    if children and all(all(m in recomputed for m in c) for c in children):
        child_vals = [_micro(recomputed, c) for c in children]
        for key in BASE_METRICS:
            vals = [cv[key] for cv in child_vals]
            macro[key] = sum(vals) / len(vals) if all(v is not None for v in vals) else None
    sources = [("the submission", g["metrics"])]
    res = results.get(g.get("results_file", ""))
    if res is not None:
        entry = (res.get("groups") or {}).get(gname) or (res.get("results") or {}).get(gname)
        if isinstance(entry, dict):
            sources.append((f"lm-eval's {Path(g['results_file']).name}", _lm_eval_metrics(entry)))
    figures: dict[str, Any] | None = None
    for source, metrics in sources:
        claimed = {k: v for k, v in metrics.items() if k in micro}
        adjusted = dict(micro)
        for key, value in claimed.items():
            if key in macro and not same(value, micro[key]) and same(value, macro[key]):
                adjusted[key] = macro[key]
        _compare(report, where, source, claimed, adjusted, micro["_n"], require_all=False)
        if figures is None:
            figures = {k: adjusted[k] for k in BASE_METRICS}
    report.metrics[gname] = figures or {}
    report.checked.append(f"{where}: recomputed from {len(leaves)} subtasks")


__all__ = ["VerifyReport", "TaskDocuments", "verify_submission"]
