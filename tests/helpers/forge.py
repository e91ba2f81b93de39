"""A forger's toolkit for tests: edit a submission bundle, then make every number and hash agree.

The forger has SkyMath's own code, so :func:`restate` recomputes the per-sample values, the task's
``doc.skymath`` records, lm-eval's results JSON and the submission's metrics with it, and
:func:`reseal` patches every count and sha256: only a check that looks beyond consistency can
catch what is left.
"""

from __future__ import annotations

import json
from pathlib import Path


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def save_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def sample_rows(sub_path: Path, task: str) -> tuple[Path, list[dict]]:
    f = sub_path.parent / load_json(sub_path)["tasks"][task]["samples"]["path"]
    return f, [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_rows(f: Path, rows: list[dict]) -> None:
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def results_json(sub_path: Path, task: str) -> tuple[Path, dict]:
    f = sub_path.parent / load_json(sub_path)["tasks"][task]["results_file"]
    return f, json.loads(f.read_text(encoding="utf-8"))


def reseal(sub_path: Path) -> dict:
    """Patch every count and hash of the submission to match the bundle as it now is."""
    from skymath_tasks.jsonl_io import file_sha256

    sub = load_json(sub_path)
    for t in sub["tasks"].values():
        f = sub_path.parent / t["samples"]["path"]
        if f.is_file():
            n = sum(1 for line in f.read_bytes().splitlines() if line.strip())
            t["samples"].update(sha256=file_sha256(f), lines=n)
            t["n_samples"] = n
    for r in sub["results_files"]:
        f = sub_path.parent / r["path"]
        if f.is_file():
            r["sha256"] = file_sha256(f)
    save_json(sub_path, sub)
    return sub


def restate(sub_path: Path, task: str) -> None:
    """Make every figure agree with the (edited) log, as SkyMath itself would compute it: the per-sample
    values and ``doc.skymath`` verdicts, lm-eval's results JSON and the submission's metrics; then reseal."""
    from skymath_tasks.benchmarks import TASKS
    from skymath_tasks.metrics import aggregate, grade_sample, metric_names, sample_values
    from skymath_tasks.report.loader import response_of

    td = TASKS[task]
    f, rows = sample_rows(sub_path, task)
    values = []
    for r in rows:
        doc = r["doc"]
        grades = grade_sample(response_of(r), str(doc["gold"]), answer_type=td.answer_type, question=doc.get("question"))
        doc["skymath"] = {m: g.to_dict() for m, g in grades.items()}
        v = sample_values(grades, answer_type=td.answer_type, level=doc.get("level"), subject=doc.get("subject"))
        r.update(v)
        values.append(v)
    write_rows(f, rows)
    metrics = aggregate(values, metric_names(td.answer_type, td.by_subject))
    rf, res = results_json(sub_path, task)
    for k, v in metrics.items():
        res["results"][task][f"{k},none"] = v
    res["n-samples"][task]["effective"] = len(rows)
    rf.write_text(json.dumps(res, indent=2), encoding="utf-8")
    sub = load_json(sub_path)
    sub["tasks"][task]["metrics"].update(metrics)
    save_json(sub_path, sub)
    reseal(sub_path)
