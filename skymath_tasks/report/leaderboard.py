"""``skymath-report leaderboard``: a static leaderboard site built from verified submissions.

Every submission is verified first (:mod:`skymath_tasks.report.verify`) against the builder's own
copy of the official data; one that fails is left out and named with its reasons. The figures shown
are the verifier's re-graded ones (``strict``, the paper's protocol, in percent), never the numbers
the submission states. A ``partial`` submission (a ``--limit`` run) is shown with its badge but never
ranked; the paper's published rows (``paper_reference.yaml``) are shown as reference rows.

The site is plain HTML and CSS with one small script for sorting (no CDN, no fetch: it works offline
and from ``file://``)::

    site/index.html                        the sortable table
    site/style.css, site/leaderboard.js
    site/models/<slug>.html                one page per model: details, all task figures, plots
    site/models/<slug>/*.png               accuracy by level, by subject, vs number of distractors
    site/submissions/<slug>/...            the submission JSON and its bundle, as submitted
    site/submissions/<slug>.zip            the same in one file
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import DISTRACTOR_LEVELS, LEVELS, MATH_SUBJECTS
from skymath_tasks.metrics import BASE_METRICS
from skymath_tasks.report.loader import ReportInputError
from skymath_tasks.report.reference import reference_table
from skymath_tasks.report.verify import VerifyReport, verify_submission

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("site_assets")
#: written into every site folder: a rebuild replaces only folders that carry it
MARKER = ".skymath-leaderboard"


@dataclass(frozen=True)
class Column:
    key: str  # data-col of the header and of every cell
    title: str
    task: str | None = None
    metric: str = "strict"
    tip: str = ""


#: the table's figure columns, in order
COLUMNS: tuple[Column, ...] = (
    Column("gsm8k", "GSM8K", "skymath_gsm8k", tip="GSM8K test, strict accuracy (%)"),
    Column("math", "MATH", "skymath_math", tip="MATH test (5000), strict accuracy (%)"),
    *(Column(f"math_l{k}", f"L{k}", "skymath_math", f"acc_level_{k}", tip=f"MATH level {k} (%)") for k in LEVELS),
    Column("gsm8k_zh", "zh", "skymath_gsm8k_zh", tip="GSM8K test in Chinese (%)"),
    *(Column(f"d{k}", f"D{k}", f"skymath_gsm8k_distractor_{k}", tip=f"GSM8K with {k} distractor(s) (%)")
      for k in DISTRACTOR_LEVELS),
)
#: default order (and rank): MATH, then GSM8K, higher first
RANK_BY = ("math", "gsm8k")


@dataclass
class Entry:
    label: str
    kind: str  # "complete", "partial" or "paper"
    values: dict[str, float | None]  # column key -> fraction (0..1)
    slug: str | None = None
    source: str = ""  # paper rows: the tables they come from
    contamination: dict[str, Any] | None = None
    report: VerifyReport | None = None
    path: Path | None = None
    rank: int | None = None


@dataclass
class Site:
    out_dir: Path
    entries: list[Entry] = field(default_factory=list)
    rejected: list[tuple[Path, VerifyReport]] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"

    def lines(self) -> list[str]:
        subs = [e for e in self.entries if e.kind != "paper"]
        out = [f"wrote {self.index}: {len(subs)} submission(s) "
               f"({sum(e.kind == 'complete' for e in subs)} complete, {sum(e.kind == 'partial' for e in subs)} partial), "
               f"{len(self.entries) - len(subs)} paper reference row(s)"]
        for path, report in self.rejected:
            out.append(f"left out (verification failed): {path}")
            out += [f"  {line}" for line in report.render().splitlines()[1:]]
        return out


# ------------------------------------------------------------------------------------------ rows
def _values(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for c in COLUMNS:
        v = (metrics.get(c.task) or {}).get(c.metric) if c.task else None
        out[c.key] = float(v) if isinstance(v, (int, float)) else None
    return out


def _sft_name(sft: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", sft).strip()


def paper_entries() -> list[Entry]:
    """The paper's rows of tables 1, 2, 6 and 7 merged by model name (accuracies as fractions)."""
    rows: dict[str, Entry] = {}

    def row(name: str, source: str) -> Entry:
        e = rows.setdefault(name, Entry(name, "paper", {c.key: None for c in COLUMNS}))
        if source not in e.source:
            e.source = f"{e.source}, {source}" if e.source else source
        return e

    def put(e: Entry, key: str, value: Any) -> None:
        if e.values.get(key) is None and isinstance(value, (int, float)):
            e.values[key] = value / 100.0

    t = reference_table("table1")
    for r in t.rows:
        e = row(r["model"], t.source)
        put(e, "gsm8k", r.get("gsm8k"))
        put(e, "math", r.get("math"))
    t = reference_table("table6")
    for r in t.rows:
        e = row(r["model"], t.source)
        put(e, "gsm8k", r.get("gsm8k_en"))
        put(e, "math", r.get("math_en"))
        put(e, "gsm8k_zh", r.get("gsm8k_zh"))
    t = reference_table("table7")
    for r in t.rows:
        sft = r.get("sft_data") or "-"
        name = r["model"] if sft == "-" or r["model"].startswith("Skywork-Math") else f"{r['model']} + {_sft_name(sft)}"
        e = row(name, t.source)
        put(e, "gsm8k", r.get("d0"))
        for k in DISTRACTOR_LEVELS:
            put(e, f"d{k}", r.get(f"d{k}"))
    t = reference_table("table2")
    for r in t.rows:
        sft = r.get("sft_data") or "-"
        name = r["model"] if sft == "-" else f"{r['model']} ({sft} SFT)"
        e = row(name, t.source)
        for k in LEVELS:
            put(e, f"math_l{k}", r.get(f"level_{k}"))
    return list(rows.values())


def _order_key(e: Entry) -> tuple:
    return tuple((0, -e.values[k]) if e.values.get(k) is not None else (1, 0.0) for k in RANK_BY) + (e.label,)


def _slugs(reports: Sequence[tuple[Path, VerifyReport]]) -> list[str]:
    used: dict[str, int] = {}
    out = []
    for _, r in reports:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", r.submission["model"]["label"]).strip("-.").lower()[:60] or "model"
        used[base] = used.get(base, 0) + 1
        out.append(base if used[base] == 1 else f"{base}-{used[base]}")
    return out


# ------------------------------------------------------------------------------------------ build
def build_site(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
               show_paper: bool = True) -> Site:
    """Verify every submission, then write the site into ``out_dir`` (replacing an earlier build)."""
    site = Site(Path(out_dir))
    verified: list[tuple[Path, VerifyReport]] = []
    for p in map(Path, paths):
        report = verify_submission(p, data_dir=data_dir)
        if report.ok and report.submission is not None:
            verified.append((p, report))
        else:
            site.rejected.append((p, report))
    for (p, report), slug in zip(verified, _slugs(verified)):
        sub = report.submission
        site.entries.append(Entry(sub["model"]["label"], report.status or "partial", _values(report.metrics), slug=slug,
                                  contamination=sub.get("contamination"), report=report, path=p))
    if show_paper:
        site.entries += paper_entries()
    site.entries.sort(key=_order_key)
    for rank, e in enumerate((e for e in site.entries if e.kind == "complete"), start=1):
        e.rank = rank
    _write(site)
    return site


def _write(site: Site) -> None:
    out = site.out_dir
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ReportInputError(f"{out} is not empty and not a leaderboard site built here: choose an empty or new folder")
    for sub in ("models", "submissions"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "models").mkdir(parents=True)
    (out / MARKER).write_text("built by skymath-report leaderboard; a rebuild replaces this folder's content\n",
                              encoding="utf-8")
    (out / "submissions").mkdir()
    for name in ("style.css", "leaderboard.js"):
        shutil.copyfile(ASSETS / name, out / name)
    for e in site.entries:
        if e.kind != "paper":
            _copy_submission(e, out / "submissions")
            _model_page(e, out / "models")
    site.index.write_text(_index_html(site), encoding="utf-8")


def _copy_submission(e: Entry, dest: Path) -> None:
    """The submission JSON and the bundle files it names (nothing else of the submitter's folder)."""
    assert e.path is not None and e.report is not None and e.report.submission is not None
    sub = e.report.submission
    folder = dest / e.slug
    folder.mkdir(parents=True)
    files = [e.path] + [e.path.parent / r["path"] for r in sub["results_files"]]
    files += [e.path.parent / t["samples"]["path"] for t in sub["tasks"].values()]
    with zipfile.ZipFile(dest / f"{e.slug}.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            rel = f.relative_to(e.path.parent)
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, folder / rel)
            zf.write(f, rel.as_posix())


# ------------------------------------------------------------------------------------------ HTML
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _page(title: str, body: str, root: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="stylesheet" href="{root}style.css">\n</head>\n<body>\n{body}\n</body>\n</html>\n')


def _contamination_cell(c: Mapping[str, Any] | None) -> str:
    if not c:
        return '<td class="num contamination" data-col="contamination" data-value="">n/a</td>'
    lo, hi = c["interval"]
    css = {"no sign": "c-none", "some items likely memorised": "c-some", "strong sign": "c-strong"}[c["reading"]]
    tip = f"gap {c['gap']:+.3f}, interval [{lo:.3f}, {hi:.3f}], {c['n_items']} items; {c['method']} (self-reported)"
    return (f'<td class="contamination {css}" data-col="contamination" data-value="{float(c["gap"])!r}" title="{_e(tip)}">'
            f'<span class="reading">{_e(c["reading"])}</span> <span class="gap">{c["gap"]:+.3f} '
            f'[{lo:.3f}, {hi:.3f}]</span></td>')


def _badge(e: Entry) -> str:
    if e.kind == "complete":
        return '<span class="badge verified" title="every document of every task, verified">verified</span>'
    if e.kind == "partial":
        return '<span class="badge partial" title="a --limit run: verified, never ranked">partial</span>'
    return f'<span class="badge paper" title="published figure, {_e(e.source)}">paper</span>'


def _row(e: Entry) -> str:
    kind = f"row-{e.kind}"
    name = (f'<a href="models/{_e(e.slug)}.html">{_e(e.label)}</a>' if e.slug else
            f'{_e(e.label)} <span class="source">({_e(e.source)})</span>')
    cells = [f'<td class="num rank" data-col="rank" data-value="{e.rank if e.rank else ""}">{e.rank or ""}</td>',
             f'<td class="model" data-col="model" data-value="{_e(e.label.lower())}">{name}</td>',
             f'<td class="status" data-col="status" data-value="{_e(e.kind)}">{_badge(e)}</td>']
    for c in COLUMNS:
        v = e.values.get(c.key)
        cells.append(f'<td class="num" data-col="{c.key}" data-value="{"" if v is None else repr(float(v))}">{_pct(v)}</td>')
    cells.append(_contamination_cell(e.contamination) if e.kind != "paper" else
                 '<td class="num contamination" data-col="contamination" data-value="">n/a</td>')
    return f'<tr class="{kind}" data-kind="{e.kind}">' + "".join(cells) + "</tr>"


def _index_html(site: Site) -> str:
    heads = ['<th data-col="rank" data-type="num" title="rank among complete, verified submissions">#</th>',
             '<th data-col="model" data-type="text">Model</th>',
             '<th data-col="status" data-type="text">Status</th>']
    heads += [f'<th data-col="{c.key}" data-type="num" title="{_e(c.tip)}">{_e(c.title)}</th>' for c in COLUMNS]
    heads.append('<th data-col="contamination" data-type="num" title="contamination probe gap (issue 18): '
                 'accuracy on test items minus on rewritten items; self-reported">Contamination</th>')
    groups = ('<tr class="groups"><th colspan="3"></th><th colspan="2">accuracy (%)</th>'
              f'<th colspan="{len(LEVELS)}">MATH by level</th><th>Chinese</th>'
              f'<th colspan="{len(DISTRACTOR_LEVELS)}">GSM8K + k distractors</th><th></th></tr>')
    rows = "\n".join(_row(e) for e in site.entries)
    body = f"""<header>
<h1>SkyMath leaderboard</h1>
<p>Accuracy (%) under the <code>strict</code> criterion (the Skywork-Math protocol: zero-shot, greedy, the
answer after "The answer is", graded by SkyMath's equivalence grader). Every submission was re-graded from
its per-sample outputs against the official test sets before it got here; the figures are the re-graded
ones. <span class="badge verified">verified</span> = every document of every task, ranked;
<span class="badge partial">partial</span> = a <code>--limit</code> run, never ranked;
<span class="badge paper">paper</span> = published in the Skywork-Math paper (MetaMath's criterion), for
reference. Click a column header to sort.</p>
<label class="toggle"><input type="checkbox" id="show-paper" checked> show the paper's rows</label>
</header>
<main>
<table id="leaderboard">
<thead>
{groups}
<tr class="heads">{''.join(heads)}</tr>
</thead>
<tbody>
{rows}
</tbody>
</table>
<p class="foot">Built by <code>skymath-report leaderboard</code>. Submissions: <code>skymath-report submit</code>;
check one yourself: <code>skymath-report verify FILE.submission.json --data-dir DATA</code>.</p>
</main>
<script src="leaderboard.js"></script>"""
    return _page("SkyMath leaderboard", body)


def _merged_results(e: Entry):
    """The submission's lm-eval results as one ModelResults (for the plots), labelled like the entry."""
    from skymath_tasks.report.loader import load_models

    assert e.report is not None and e.report.submission is not None and e.path is not None
    bundle = e.path.parent / Path(e.report.submission["results_files"][0]["path"]).parent
    models = load_models([bundle])
    base = models[0]
    for other in models[1:]:
        base.runs += other.runs
        base.tasks.update(other.tasks)
    base.label = e.label.replace("$", r"\$")  # a label is text, never matplotlib mathtext
    return base


def _model_page(e: Entry, dest: Path) -> None:
    from skymath_tasks.report.plots import plot_distractors, plot_levels, plot_subjects

    assert e.report is not None and e.report.submission is not None and e.path is not None
    sub, rep = e.report.submission, e.report
    model = _merged_results(e)
    pics = dest / e.slug
    made = [(p, title) for p, title in (
        (plot_levels([model], pics / "levels.png"), "Accuracy by MATH level"),
        (plot_subjects([model], pics / "subjects.png"), "Accuracy by MATH subject"),
        (plot_distractors([model], pics / "distractors.png"), "Accuracy vs number of distractors"),
    ) if p is not None]
    m = sub["model"]
    info = [("model id", m["id"] + (" (local folder)" if m.get("local_path") else "")), ("revision", m["revision"] or "unpinned"),
            ("dtype", m["dtype"]), ("backend", m["backend"]), ("status", e.kind),
            ("lm-eval", sub["versions"].get("lm_eval")), ("SkyMath", sub["versions"].get("skymath")),
            ("transformers", sub["versions"].get("transformers")), ("submitted", sub.get("created")),
            ("gen_kwargs", sub["generation"].get("gen_kwargs_override") or "task defaults (greedy, 2048 tokens)")]
    dl = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in info)
    metric_heads = "".join(f"<th>{_e(k)}</th>" for k in BASE_METRICS)
    trs = []
    for name in sorted(rep.metrics):
        vals = rep.metrics[name]
        n = sub["tasks"].get(name, {}).get("n_samples", sub["groups"].get(name, {}).get("n_samples"))
        total = sub["tasks"].get(name, {}).get("n_total")
        kind = "group" if name in sub["groups"] else "task"
        trs.append(f'<tr class="{kind}"><td>{_e(name)}</td><td class="num">{_e(n)}{f" / {_e(total)}" if total else ""}</td>'
                   + "".join(f'<td class="num">{_pct(vals.get(k))}</td>' for k in BASE_METRICS) + "</tr>")
    subject_rows = ""
    if "skymath_math" in rep.metrics:
        mm = rep.metrics["skymath_math"]
        subject_rows = ("<h2>MATH by level and subject (strict, %)</h2><table class=\"figures\"><tr>"
                        + "".join(f"<th>L{k}</th>" for k in LEVELS) + "".join(f"<th>{_e(v)}</th>" for v in MATH_SUBJECTS.values())
                        + "</tr><tr>" + "".join(f'<td class="num">{_pct(mm.get(f"acc_level_{k}"))}</td>' for k in LEVELS)
                        + "".join(f'<td class="num">{_pct(mm.get(f"acc_{s}"))}</td>' for s in MATH_SUBJECTS) + "</tr></table>")
    files = [("submission JSON", f"{e.path.name}")] + [(Path(r["path"]).name, r["path"]) for r in sub["results_files"]]
    files += [(Path(t["samples"]["path"]).name, t["samples"]["path"]) for t in sub["tasks"].values()]
    downloads = "".join(f'<li><a href="../submissions/{_e(e.slug)}/{_e(href)}">{_e(label)}</a></li>' for label, href in files)
    plots = "".join(f'<figure><img src="{_e(e.slug)}/{_e(p.name)}" alt="{_e(t)}" width="800" height="500">'
                    f"<figcaption>{_e(t)}</figcaption></figure>" for p, t in made) or "<p>No plot: the submission has no MATH or distractor task.</p>"
    contamination = e.contamination
    ctext = ("n/a (no contamination probe in this submission)" if not contamination else
             f"{_e(contamination['reading'])}: gap {contamination['gap']:+.3f} "
             f"[{contamination['interval'][0]:.3f}, {contamination['interval'][1]:.3f}], {_e(contamination['n_items'])} items, "
             f"{_e(contamination['method'])} (self-reported)")
    warnings = "".join(f"<li>{_e(w)}</li>" for w in rep.warnings)
    body = f"""<header><p><a href="../index.html">&larr; leaderboard</a></p>
<h1>{_e(e.label)} {_badge(e)}</h1></header>
<main>
<table class="info">{dl}</table>
<p><strong>Contamination:</strong> {ctext}</p>
<h2>Every task (re-graded from the per-sample outputs, %)</h2>
<table class="figures"><tr><th>task / group</th><th>samples</th>{metric_heads}</tr>
{''.join(trs)}
</table>
{subject_rows}
<h2>Plots</h2>
{plots}
<h2>Download</h2>
<p>Everything as submitted (<a href="../submissions/{_e(e.slug)}.zip">one zip</a>); check it with
<code>skymath-report verify {_e(e.path.name)} --data-dir DATA</code> from the unpacked folder.</p>
<ul class="downloads">{downloads}</ul>
{f'<h2>Verifier warnings</h2><ul>{warnings}</ul>' if warnings else ''}
</main>"""
    (dest / f"{e.slug}.html").write_text(_page(f"{e.label}: SkyMath leaderboard", body, root="../"), encoding="utf-8")


__all__ = ["COLUMNS", "Entry", "Site", "build_site", "paper_entries"]
