"""The paper's result tables computed from our lm-eval runs, with the published rows as reference.

Every table is a :class:`Table`: our rows (one per model) followed by the paper's rows from
``paper_reference.yaml``, written as Markdown (for people) and CSV (for tools). Accuracies are in
percent, like the paper; an empty cell means the run did not include that task (or, per level, no
document of that level).

The accuracy reported is the ``strict`` criterion (the paper's: the answer after "The answer is",
graded by our equivalence engine); :func:`criteria_gap_table` shows how far ``metamath`` (MetaMath's
original string criterion, which the paper's numbers used) and ``flexible`` move it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import DISTRACTOR_LEVELS, LEVELS, MATH_SUBJECTS
from skymath_tasks.leakage_probes import PROBE_TASKS, GapStats, reading
from skymath_tasks.report.contamination import headline as probe_headline, model_probes
from skymath_tasks.report.loader import ModelResults, TaskResult, read_samples
from skymath_tasks.report.reference import reference_table

SUBJECTS = MATH_SUBJECTS  # subject key -> the name in the paper's table 12
DISTRACTOR_TASKS = {0: "skymath_gsm8k", **{k: f"skymath_gsm8k_distractor_{k}" for k in DISTRACTOR_LEVELS}}
MAIN_METRIC = "strict"


@dataclass
class Table:
    key: str  # file stem: "table1_gsm8k_math"
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)  # ours
    reference_rows: list[list[Any]] = field(default_factory=list)  # the paper's
    reference_source: str = ""
    notes: list[str] = field(default_factory=list)

    def cell(self, model: str, column: str) -> Any:
        """Value of our row ``model`` in ``column`` (tests and scripts)."""
        ci = self.columns.index(column)
        for row in self.rows:
            if row[0] == model:
                return row[ci]
        raise KeyError(f"{self.key}: no row for model {model!r}")

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(["Source", *self.columns]) + " |")
        lines.append("|" + "|".join(["---"] + ["---:" if i else "---" for i in range(len(self.columns))]) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(["ours", *(_md(v) for v in row)]) + " |")
        for row in self.reference_rows:
            lines.append("| " + " | ".join([f"paper ({self.reference_source})", *(_md(v) for v in row)]) + " |")
        if not self.rows:
            lines.append("")
            lines.append("_No run of ours includes the tasks of this table._")
        for note in self.notes:
            lines.append("")
            lines.append(f"_{note}_")
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["source", *self.columns])
        for row in self.rows:
            w.writerow(["ours", *(_csv(v) for v in row)])
        for row in self.reference_rows:
            w.writerow([f"paper {self.reference_source}", *(_csv(v) for v in row)])
        return buf.getvalue()

    def write(self, out_dir: str | Path) -> list[Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, cs = out / f"{self.key}.md", out / f"{self.key}.csv"
        md.write_text(self.to_markdown(), encoding="utf-8")
        cs.write_text(self.to_csv(), encoding="utf-8")
        return [md, cs]


def _md(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v).replace("|", "\\|")


def _csv(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def format_size(n: int | None) -> str:
    """7500 -> "7.5K", 2_100_000 -> "2.1M" (the paper's way of writing SFT data sizes)."""
    if n is None:
        return ""
    for unit, scale in (("M", 1_000_000), ("K", 1_000)):
        if n >= scale:
            return f"{n / scale:.4g}{unit}"
    return str(n)


def _ref(key: str, fields: Sequence[str]) -> tuple[list[list[Any]], str]:
    ref = reference_table(key)
    rows = [[r.get(f) if f else None for f in fields] for r in ref.rows]
    return rows, ref.source


def math_task(model: ModelResults) -> str | None:
    """Full MATH if the run has it, else MATH-500 (noted in the table)."""
    for name in ("skymath_math", "skymath_math500"):
        if model.task(name):
            return name
    return None


# ----------------------------------------------------------------------------------------- tables
def table1(models: Sequence[ModelResults], sizes: dict[str, int] | None = None) -> Table:
    have_500 = any(m.task("skymath_math500") for m in models)
    have_probe = any(probe_headline(m) for m in models
                     if any(m.task(x) for x in ("skymath_gsm8k", "skymath_math", "skymath_math500")))
    cols = ["Model", "GSM8K (%)", "MATH (%)"] + (["MATH-500 (%)"] if have_500 else []) + ["n GSM8K", "n MATH"]
    cols += [PROBE_COLUMN] if have_probe else []
    t = Table("table1_gsm8k_math", "Table 1: GSM8K and MATH accuracy (strict)", cols)
    for m in models:
        g, ma, m5 = m.task("skymath_gsm8k"), m.task("skymath_math"), m.task("skymath_math500")
        if not (g or ma or m5):
            continue
        row = [m.label, pct(m.metric("skymath_gsm8k", MAIN_METRIC)), pct(m.metric("skymath_math", MAIN_METRIC))]
        if have_500:
            row.append(pct(m.metric("skymath_math500", MAIN_METRIC)))
        row += [g.n if g else None, ma.n if ma else None]
        if have_probe:
            row.append(probe_cell(m))
        t.rows.append(row)
    ref, t.reference_source = _ref("table1", ["model", "gsm8k", "math"] + ([""] if have_500 else []) + ["", ""]
                                   + ([""] if have_probe else []))
    t.reference_rows = [[f"{r[0]}", *r[1:]] for r in ref]
    _note_partial(t, models, ["skymath_gsm8k", "skymath_math", "skymath_math500"])
    if have_probe:
        t.notes.append(PROBE_NOTE)
    return t


def table2(models: Sequence[ModelResults], sizes: dict[str, int] | None = None) -> Table:
    cols = ["Model", "SFT data", "Task", *(f"Level-{k} (%)" for k in LEVELS), *(f"n L{k}" for k in LEVELS)]
    t = Table("table2_math_levels", "Table 2: MATH accuracy by difficulty level (strict)", cols)
    for m in models:
        task = math_task(m)
        if task is None:
            continue
        r = m.task(task)
        assert r is not None
        t.rows.append([
            m.label, format_size((sizes or {}).get(m.label)), task,
            *(pct(r.metric(f"acc_level_{k}")) for k in LEVELS),
            *level_counts(r),
        ])
    ref, t.reference_source = _ref("table2", ["model", "sft_data", "", *(f"level_{k}" for k in LEVELS), *[""] * 5])
    t.reference_rows = ref
    if any(row[2] == "skymath_math500" for row in t.rows):
        t.notes.append("Rows with task skymath_math500 are on the 500-problem MATH subset, not the full test set.")
    if any(row[-1] is None for row in t.rows):
        t.notes.append("n Lk (documents per level) is counted from lm-eval's per-sample logs (--log_samples); empty "
                       "without them.")
    _note_partial(t, models, ["skymath_math"])
    return t


def subject_accuracy(model: ModelResults, subject: str) -> float | None:
    """Strict accuracy on one MATH subject: ``skymath_math``'s ``acc_<subject>`` when the run has the
    full task, else the single-subject task ``skymath_math_<subject>``."""
    full = model.task("skymath_math")
    if full is not None and f"acc_{subject}" in full.metrics:
        return full.metric(f"acc_{subject}")
    return model.metric(f"skymath_math_{subject}", MAIN_METRIC)


def table12(models: Sequence[ModelResults], sizes: dict[str, int] | None = None) -> Table:
    cols = ["Model", "SFT data", *SUBJECTS.values(), "n"]
    t = Table("table12_math_subjects", "Table 12: MATH accuracy by subject (strict)", cols)
    for m in models:
        full = m.task("skymath_math")
        tasks = [m.task(f"skymath_math_{s}") for s in SUBJECTS]
        if full is None and not any(tasks):
            continue
        n = full.n if full is not None else sum(x.n or 0 for x in tasks if x)
        t.rows.append([m.label, format_size((sizes or {}).get(m.label)),
                       *(pct(subject_accuracy(m, s)) for s in SUBJECTS), n])
    ref, t.reference_source = _ref("table12", ["model", "sft_data", *SUBJECTS, ""])
    t.reference_rows = ref
    _note_partial(t, models, [f"skymath_math_{s}" for s in SUBJECTS])
    return t


def table6(models: Sequence[ModelResults], sizes: dict[str, int] | None = None) -> Table:
    have_mgsm = any(m.task("skymath_mgsm_zh") for m in models)
    cols = ["Model", "GSM8K English (%)", "GSM8K Chinese (%)", "MATH English (%)", "MATH Chinese (%)"]
    cols += ["MGSM Chinese (%)"] if have_mgsm else []
    t = Table("table6_english_chinese", "Table 6: English vs Chinese (strict)", cols)
    tasks = ["skymath_gsm8k", "skymath_gsm8k_zh", "skymath_math", "skymath_math_zh"] + (["skymath_mgsm_zh"] if have_mgsm else [])
    for m in models:
        if not any(m.task(x) for x in tasks[1:] if "zh" in x):
            continue
        t.rows.append([m.label, *(pct(m.metric(x, MAIN_METRIC)) for x in tasks)])
    ref, t.reference_source = _ref("table6", ["model", "gsm8k_en", "gsm8k_zh", "math_en", "math_zh"] + ([""] if have_mgsm else []))
    t.reference_rows = ref
    return t


def table7(models: Sequence[ModelResults], sizes: dict[str, int] | None = None) -> Table:
    cols = ["Model", "SFT data", *(f"{k} distractors (%)" for k in DISTRACTOR_TASKS)]
    t = Table("table7_distractors", "Table 7: GSM8K accuracy vs number of distractors (strict; 0 = original GSM8K)", cols)
    for m in models:
        if not any(m.task(DISTRACTOR_TASKS[k]) for k in DISTRACTOR_LEVELS):
            continue
        t.rows.append([m.label, format_size((sizes or {}).get(m.label)),
                       *(pct(m.metric(task, MAIN_METRIC)) for task in DISTRACTOR_TASKS.values())])
    ref, t.reference_source = _ref("table7", ["model", "sft_data", *(f"d{k}" for k in DISTRACTOR_TASKS)])
    t.reference_rows = ref
    return t


def headline_tasks(model: ModelResults) -> list[str]:
    """The model's tasks and groups, leaving out subtasks whose group is also present and the
    contamination probes (they grade nothing; see :func:`probe_table`)."""
    inner = {s for t in model.tasks.values() if t.is_group and "strict" in t.metrics for s in t.subtasks}
    return sorted(name for name, t in model.tasks.items()
                  if name not in inner and name not in PROBE_TASKS and (not t.is_group or "strict" in t.metrics))


def criteria_gap_table(models: Sequence[ModelResults], contamination: dict[str, dict[str, Any]] | None = None) -> Table:
    """strict vs metamath vs flexible for every task of every model (plus the 30-gram overlap if given)."""
    cols = ["Model", "Task", "n", "strict (%)", "metamath (%)", "flexible (%)",
            "metamath - strict (pts)", "flexible - strict (pts)", "no answer (%)"]
    if contamination:
        cols.append("30-gram overlap (%)")
    t = Table("criteria_gap", "Grading criteria: strict vs metamath vs flexible", cols)
    for m in models:
        for task in headline_tasks(m):
            r = m.tasks[task]
            s, mm, fl = r.metric("strict"), r.metric("metamath"), r.metric("flexible")
            row = [m.label, task, r.n, pct(s), pct(mm), pct(fl),
                   _diff(mm, s), _diff(fl, s), pct(r.metric("no_answer_rate"))]
            if contamination:
                c = (contamination.get(m.label) or {}).get(task)
                row.append(pct(c["rate"]) if c else None)
            t.rows.append(row)
    t.notes.append("strict: the paper's criterion (answer after 'The answer is', equivalence-checked); "
                   "metamath: MetaMath's original string criterion, bit for bit; flexible: also \\boxed{} and "
                   "other answer phrasings.")
    return t


def contamination_table(contamination: dict[str, dict[str, Any]]) -> Table:
    cols = ["Model", "Task", "Benchmark file", "test problems", "with 30-gram overlap", "overlap (%)", "training rows hit"]
    t = Table("contamination", "30-gram overlap between training data and each task's test set", cols)
    for label, per_task in contamination.items():
        for task, c in sorted(per_task.items()):
            t.rows.append([label, task, c["benchmark"], c["total"], c["overlapping"], pct(c["rate"]), c["train_rows_hit"]])
    t.notes.append("A test problem overlaps when a training row shares a 30-token n-gram with it or equals its "
                   "normalised problem (the decontamination step's report, the paper's 30-gram filter).")
    return t


PROBE_COLUMN = "Leakage probe (no training data)"
PROBE_NOTE = ("Leakage probe: n-gram accuracy of greedy continuation on test items minus the same items with "
              "their numbers changed (Xu et al. 2024), in points, with a 95% bootstrap interval over items and its "
              "reading; see the contamination_probes table and docs/contamination.md. It needs no training data, "
              "and 'no sign' is not proof of a clean model.")


def _signed(value: float | None, scale: float, digits: int) -> str:
    return "" if value is None else f"{value * scale:+.{digits}f}"


def gap_text(stats: GapStats) -> str:
    """``+12.3 [+8.1, +16.4]`` (n-gram accuracy in points, Min-K% in nats)."""
    if stats.gap is None:
        return ""
    scale, digits = (100.0, 1) if stats.probe == "ngram" else (1.0, 3)
    return (f"{_signed(stats.gap, scale, digits)} [{_signed(stats.lo, scale, digits)}, "
            f"{_signed(stats.hi, scale, digits)}]")


def probe_cell(model: ModelResults) -> str | None:
    """The column of a model: its headline probe's gap, interval and reading (None without a probe run)."""
    found = probe_headline(model)
    if found is None:
        return None
    task, stats = found
    return f"{reading(stats)}: {gap_text(stats)} pts, {PROBE_TASKS[task].title}, n={stats.n}"


def probe_table(models: Sequence[ModelResults]) -> Table:
    """Every probe run of every model: both probes, test vs twin, the gap, its interval and reading."""
    cols = ["Model", "Probe task", "items", "5-gram acc. test (%)", "5-gram acc. twin (%)", "5-gram gap (pts) [95% CI]",
            "5-gram reading", "Min-K% test", "Min-K% twin", "Min-K% gap (nats) [95% CI]", "Min-K% reading"]
    t = Table("contamination_probes", "Contamination probes: test items vs number-changed twins (no training data)",
              cols)
    for m in models:
        for task, stats in model_probes(m).items():
            ng, mk = stats["ngram"], stats["mink"]
            t.rows.append([m.label, task, ng.n, pct(ng.test), pct(ng.reference), gap_text(ng), reading(ng),
                           mk.test, mk.reference, gap_text(mk), reading(mk)])
    t.notes.append("Each test item is paired with a twin: the same problem with its numbers changed and the worked "
                   "solution recomputed exactly (problem only where that is not possible). 5-gram accuracy: share "
                   "of cut points (every 5th word) where greedy decoding reproduces the next 5 words (Xu et al. "
                   "2024). Min-K%: mean log-probability per word of the 20% least likely 5-word units (Shi et al. "
                   "2023). A gap is the mean over items of item minus twin; the interval is a percentile bootstrap "
                   "over items. Readings: docs/contamination.md.")
    return t


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else 100.0 * (a - b)


def level_counts(task: TaskResult) -> list[int | None]:
    """Documents per MATH level in the run, from its per-sample log (None for each without one)."""
    if task.samples_path is None:
        return [None] * len(LEVELS)
    levels = [s["doc"].get("level") for s in read_samples(task.samples_path)]
    return [levels.count(k) for k in LEVELS]


def _note_partial(t: Table, models: Sequence[ModelResults], tasks: Sequence[str]) -> None:
    for m in models:
        for name in tasks:
            r = m.task(name)
            if r and r.n_original and r.n is not None and r.n < r.n_original:
                t.notes.append(f"{m.label}: {name} evaluated on {r.n} of {r.n_original} problems (--limit); "
                               "not comparable with the paper's full-test-set figures.")


TABLES: dict[str, Callable[..., Table]] = {
    "table1": table1,
    "table2": table2,
    "table12": table12,
    "table6": table6,
    "table7": table7,
}


def all_tables(models: Sequence[ModelResults], sizes: dict[str, int] | None = None,
               contamination: dict[str, dict[str, Any]] | None = None) -> list[Table]:
    tables = [fn(models, sizes) for fn in TABLES.values()]
    tables.append(criteria_gap_table(models, contamination))
    if contamination:
        tables.append(contamination_table(contamination))
    if any(model_probes(m) for m in models):
        tables.append(probe_table(models))
    return tables


def write_report(tables: Sequence[Table], out_dir: str | Path, title: str = "SkyMath report") -> Path:
    """Each table as .md and .csv, plus ``report.md`` with all of them."""
    out = Path(out_dir)
    for t in tables:
        t.write(out)
    report = out / "report.md"
    body = [f"# {title}", "", "Accuracies in %; 'paper' rows are the published Skywork-Math figures "
            "(skymath_tasks/report/paper_reference.yaml).", ""]
    body += [t.to_markdown() for t in tables]
    report.write_text("\n".join(body), encoding="utf-8")
    return report
