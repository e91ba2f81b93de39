"""PNG figures where a table is hard to read: accuracy by MATH level, vs distractors, vs SFT data size.

Matplotlib with the Agg backend (no display needed). Every figure is ``FIGSIZE`` inches at ``DPI``, so
a PNG is always ``FIGSIZE * DPI`` pixels (800 x 500 by default). A plot whose data no run has is
skipped (the function returns None and logs why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skymath_tasks.benchmarks import DISTRACTOR_LEVELS, LEVELS, MATH_SUBJECTS  # noqa: E402
from skymath_tasks.report.loader import ModelResults  # noqa: E402
from skymath_tasks.report.reference import reference_table  # noqa: E402
from skymath_tasks.report.tables import (  # noqa: E402
    DISTRACTOR_TASKS,
    MAIN_METRIC,
    format_size,
    math_task,
    subject_accuracy,
)

log = logging.getLogger(__name__)

FIGSIZE = (8.0, 5.0)
DPI = 100
PAPER_STYLE = {"color": "0.55", "linestyle": "--", "linewidth": 1.2}


def _figure():
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches="tight": keeps the pixel size fixed
    plt.close(fig)
    return path


def _skipped(fig, why: str) -> None:
    plt.close(fig)
    log.info("%s: plot skipped", why)
    return None


def _finish(fig, ax, path: str | Path, title: str) -> Path:
    """The accuracy axis every plot shares, the title and the legend; then the PNG."""
    ax.set_ylabel("accuracy (%, strict)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, Path(path))


def _paper_curve(ax, table: str, pick: Callable[[dict], bool], xs: Sequence[int], column: str) -> None:
    """The paper's rows of ``table`` that ``pick`` selects, as dashed reference lines (``column`` with {x})."""
    ref = reference_table(table)
    for row in ref.rows:
        if pick(row):
            data = f", {row['sft_data']}" if row.get("sft_data") else ""
            ax.plot(list(xs), [row[column.format(x=x)] for x in xs], label=f"paper: {row['model']}{data} ({ref.source})",
                    **PAPER_STYLE)


def plot_levels(models: Sequence[ModelResults], path: str | Path, show_paper: bool = True) -> Path | None:
    """Accuracy by MATH difficulty level, one line per model (paper table 2 as dashed reference)."""
    fig, ax = _figure()
    drawn = 0
    for m in models:
        task = math_task(m)
        if task is None:
            continue
        ys = [m.metric(task, f"acc_level_{k}") for k in LEVELS]
        pts = [(k, 100 * y) for k, y in zip(LEVELS, ys) if y is not None]
        if not pts:
            continue
        suffix = " (MATH-500)" if task == "skymath_math500" else ""
        ax.plot(*zip(*pts), marker="o", label=f"{m.label}{suffix}")
        drawn += 1
    if not drawn:
        return _skipped(fig, "no MATH run with per-level metrics: accuracy by level")
    if show_paper:
        _paper_curve(ax, "table2", lambda r: r["model"] == "Mistral-7B" and r["sft_data"].startswith("2.1M + 0.4M"),
                     LEVELS, "level_{x}")
    ax.set_xticks(LEVELS, [f"Level {k}" for k in LEVELS])
    return _finish(fig, ax, path, "MATH accuracy by difficulty level")


def plot_subjects(models: Sequence[ModelResults], path: str | Path, show_paper: bool = True) -> Path | None:
    """Accuracy by MATH subject, grouped bars (one colour per model); the paper's table 12 row for
    Mistral-7B on 2.5M rows as a dashed reference."""
    subjects = list(MATH_SUBJECTS)
    series = [(m.label, [subject_accuracy(m, s) for s in subjects]) for m in models]
    series = [(label, ys) for label, ys in series if any(y is not None for y in ys)]
    fig, ax = _figure()
    if not series:
        return _skipped(fig, "no MATH run with per-subject figures: accuracy by subject")
    width = 0.8 / len(series)
    for i, (label, ys) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, y in enumerate(ys) if y is not None]
        ax.bar(xs, [100 * y for y in ys if y is not None], width=width, label=label)
    if show_paper:
        ref = reference_table("table12")
        for row in ref.rows:
            if row["model"] == "Mistral-7B" and row["sft_data"] == "2.5M":
                ax.plot(range(len(subjects)), [row[s] for s in subjects], marker="_", markersize=14,
                        label=f"paper: {row['model']}, {row['sft_data']} ({ref.source})", **PAPER_STYLE)
    ax.set_xticks(range(len(subjects)), [MATH_SUBJECTS[s].replace(" & ", " &\n").replace("Intermediate ", "Interm.\n")
                                          for s in subjects], fontsize=8)
    return _finish(fig, ax, path, "MATH accuracy by subject")


def plot_distractors(models: Sequence[ModelResults], path: str | Path, show_paper: bool = True) -> Path | None:
    """GSM8K accuracy vs number of distractors (0 = original), one line per model."""
    fig, ax = _figure()
    drawn = 0
    for m in models:
        if not any(m.task(DISTRACTOR_TASKS[k]) for k in DISTRACTOR_LEVELS):
            continue
        pts = [(k, 100 * y) for k, t in DISTRACTOR_TASKS.items() if (y := m.metric(t, MAIN_METRIC)) is not None]
        ax.plot(*zip(*pts), marker="o", label=m.label)
        drawn += 1
    if not drawn:
        return _skipped(fig, "no run with skymath_gsm8k_distractor_* tasks: distractors")
    if show_paper:
        _paper_curve(ax, "table7", lambda r: r["model"] == "Skywork-Math-Mistral-7B", list(DISTRACTOR_TASKS), "d{x}")
    ax.set_xticks(list(DISTRACTOR_TASKS))
    ax.set_xlabel("number of distractors added to each GSM8K problem")
    return _finish(fig, ax, path, "Robustness: GSM8K accuracy vs distractors")


def plot_scaling(models: Sequence[ModelResults], sizes: dict[str, int], path: str | Path,
                 series: dict[str, str] | None = None) -> Path | None:
    """Accuracy vs SFT data size (log scale) over checkpoints trained on different amounts of data.

    ``series`` (label -> name) splits the checkpoints into curves, e.g. one per base model; a
    colour per series, a marker and line style per benchmark."""
    sized = sorted(((sizes[m.label], m) for m in models if m.label in sizes), key=lambda x: (x[0], x[1].label))
    if not sized:
        log.info("no model with a known SFT data size (use --size or skymath_stage.json): scaling plot skipped")
        return None
    series = series or {}
    names = list(dict.fromkeys(series.get(m.label, "") for _, m in sized))
    fig, ax = _figure()
    drawn = 0
    styles = (("skymath_gsm8k", "GSM8K", "o", "-"), ("skymath_math", "MATH", "s", "--"), ("skymath_math500", "MATH-500", "^", ":"))
    for si, sname in enumerate(names):
        color = f"C{si % 10}" if len(names) > 1 else None
        for ti, (task, tname, marker, style) in enumerate(styles):
            pts = [(n, 100 * y) for n, m in sized
                   if series.get(m.label, "") == sname and (y := m.metric(task, MAIN_METRIC)) is not None]
            if pts:
                ax.plot(*zip(*pts), marker=marker, linestyle=style, color=color or f"C{ti}",
                        label=f"{sname}: {tname}" if sname else tname)
                drawn += 1
    if not drawn:
        return _skipped(fig, "models with a known size have no GSM8K/MATH results: scaling")
    ax.set_xscale("log")
    xs = sorted({n for n, _ in sized})
    ax.set_xticks(xs, [format_size(n) for n in xs])
    ax.minorticks_off()
    ax.set_xlabel("SFT data size (training rows, log scale)")
    return _finish(fig, ax, path, "Scaling: accuracy vs SFT data size")


def all_plots(models: Sequence[ModelResults], out_dir: str | Path, sizes: dict[str, int] | None = None,
              show_paper: bool = True, series: dict[str, str] | None = None) -> list[Path]:
    out = Path(out_dir)
    made = [
        plot_levels(models, out / "math_levels.png", show_paper),
        plot_distractors(models, out / "distractors.png", show_paper),
        plot_scaling(models, sizes or {}, out / "scaling.png", series),
    ]
    return [p for p in made if p is not None]
