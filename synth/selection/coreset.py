"""Core-set selection by k-center greedy (Sener & Savarese, 2017), as the paper uses on seed problems.

Why k-center greedy: it picks the subset whose *coverage radius* (the largest distance from any row to
its nearest selected row) is within a factor 2 of optimal, i.e. it maximises diversity while covering
the whole set. Each step adds the row farthest from everything selected so far.

Memory is linear in the number of rows: the selection keeps one ``min_d2`` vector (squared distance of
each row to its nearest centre) and updates it with one matrix-vector product per pick,
``|x|^2 + |c|^2 - 2 x.c``; no N x N matrix is ever built. Everything runs in torch, on the GPU when
one is present. All picks stay on the device (no host sync per step).

For millions of rows, :func:`bucketed_k_center` splits the rows into buckets (k-means on a sample or
random-projection signs) and runs k-center inside each bucket with a budget proportional to its size:
the work drops by the number of buckets; the reported radius is then an upper bound (every row is
covered at least as well by its own bucket's centres).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skymath_tasks.jsonl_io import DataError, JsonlAppender, read_output_rows
from synth.selection.embeddings import cut_words
from synth.selection.reader import Row, RowReader
from synth.selection.step import KEEP, Decision, InputScan, PerRowFilter, StepFiles, run_step

log = logging.getLogger(__name__)


def _torch():
    import torch

    return torch


@dataclass
class KCenterResult:
    indices: np.ndarray  # row indices in selection order
    radii: np.ndarray  # radii[j] = coverage radius with the first j+1 centres
    exact: bool = True  # False when radii are upper bounds (bucketed mode)
    buckets: list[int] = field(default_factory=list)  # bucket sizes (bucketed mode)

    def radius_at(self, k: int) -> float:
        return float(self.radii[min(k, len(self.radii)) - 1])

    def radius_table(self, ks: Sequence[int] | None = None) -> list[dict[str, float]]:
        n = len(self.indices)
        if ks is None:
            ks = sorted({1, *(2**i for i in range(int(math.log2(max(n, 1))) + 1)), n})
        return [{"k": int(k), "radius": self.radius_at(k)} for k in ks if 1 <= k <= n]


def _as_tensor(x, device: str | None):
    torch = _torch()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32) if isinstance(x, np.ndarray) else x)
    return t.to(device=device, dtype=torch.float32)


def min_sq_distances(X, centres, sq=None, row_block: int = 65536, centre_block: int = 1024):
    """Squared distance of every row of ``X`` to its nearest row of ``centres`` (blocked, linear memory)."""
    torch = _torch()
    sq = (X * X).sum(1) if sq is None else sq
    out = torch.full((X.shape[0],), float("inf"), device=X.device)
    if centres.shape[0] == 0:
        return out
    csq = (centres * centres).sum(1)
    for r in range(0, X.shape[0], row_block):
        xb = X[r : r + row_block]
        best = out[r : r + row_block]
        for c in range(0, centres.shape[0], centre_block):
            d2 = sq[r : r + row_block, None] + csq[None, c : c + centre_block] - 2.0 * (xb @ centres[c : c + centre_block].T)
            torch.minimum(best, d2.min(1).values.clamp_min_(0), out=best)
    return out


def k_center_greedy(
    X,
    k: int,
    *,
    initial: Sequence[int] = (),
    seed: int = 0,
    device: str | None = None,
    on_pick: Callable[[np.ndarray, np.ndarray], None] | None = None,
    report_every: int = 256,
    progress: bool = False,
) -> KCenterResult:
    """Greedy k-center on the rows of ``X`` (array or tensor, shape (N, d)).

    ``initial``: already selected rows (a resumed run, or a labelled pool in active learning); they
    count towards ``k``. Without it the first centre is a seeded random row. ``on_pick(indices,
    radii)`` is called every ``report_every`` picks with everything selected so far (used to
    checkpoint). Returns rows in selection order and the coverage radius after each pick.
    """
    torch = _torch()
    X = _as_tensor(X, device)
    n = X.shape[0]
    k = min(k, n)
    if k <= 0:
        return KCenterResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
    sq = (X * X).sum(1)
    initial = [int(i) for i in initial][:k]
    if initial:
        init_t = torch.as_tensor(initial, dtype=torch.long, device=X.device)
        min_d2 = min_sq_distances(X, X[init_t], sq)
        picks = list(initial)
        rad2 = [float("nan")] * (len(initial) - 1)  # unknown for picks made before a resume
    else:
        first = int(np.random.default_rng(seed).integers(n))
        min_d2 = torch.mv(X, X[first]).mul_(-2.0).add_(sq).add_(sq[first])
        min_d2[first] = 0.0
        picks = [first]
        rad2 = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=k, initial=len(picks), unit="centre", desc="k-center")
    if X.device.type == "cpu":
        loop = _greedy_loop_cpu
    else:
        loop = _greedy_loop_device
    sel, rad = loop(X, sq, min_d2, picks, rad2, k, on_pick, report_every, bar)
    if bar is not None:
        bar.close()
    return KCenterResult(sel, rad)


def _greedy_loop_cpu(X, sq, min_d2, picks, rad2, k, on_pick, report_every, bar):
    """CPU: the matrix-vector product in torch (BLAS, all threads); the O(N) updates in NumPy on the same
    memory, single-threaded, which on a busy 2-core machine is ~10x cheaper than waking a thread pool
    for each small op."""
    torch = _torch()
    md = min_d2.numpy()
    sqn = sq.numpy()
    buf_t = torch.empty_like(min_d2)
    buf = buf_t.numpy()
    while True:
        c = int(md.argmax())
        rad2.append(float(md[c]))  # radius of the centres picked so far
        if len(picks) >= k:
            break
        picks.append(c)
        torch.mv(X, X[c], out=buf_t)
        buf *= -2.0
        buf += sqn
        buf += sqn[c]
        np.minimum(md, buf, out=md)
        md[c] = 0.0
        _maybe_report(picks, rad2, k, on_pick, report_every, bar, last=False)
    _maybe_report(picks, rad2, k, on_pick, report_every, bar, last=True)
    return np.asarray(picks, dtype=np.int64), np.sqrt(np.clip(np.asarray(rad2, np.float32), 0, None))


def _greedy_loop_device(X, sq, min_d2, picks, rad2, k, on_pick, report_every, bar):
    """GPU: everything stays on the device; picks and radii are gathered there (no host sync per step)."""
    torch = _torch()
    n_done = len(picks)
    sel = torch.empty(k, dtype=torch.long, device=X.device)
    sel[:n_done] = torch.as_tensor(picks, device=X.device)
    r2 = torch.full((k,), float("nan"), device=X.device)
    if rad2:
        r2[: len(rad2)] = torch.as_tensor(rad2, device=X.device)
    buf = torch.empty_like(min_d2)
    for j in range(n_done, k + 1):
        c = torch.argmax(min_d2)
        r2[j - 1] = min_d2[c]  # radius of the j centres picked so far
        if j == k:
            break
        if j % report_every == 0:
            if on_pick is not None:
                on_pick(sel[:j].cpu().numpy(), r2[:j].clamp_min(0).sqrt().cpu().numpy())
            if bar is not None:
                bar.update(j - bar.n)
        sel[j] = c
        torch.mv(X, X.index_select(0, c.view(1))[0], out=buf)
        buf.mul_(-2.0).add_(sq).add_(sq.index_select(0, c.view(1)))
        torch.minimum(min_d2, buf, out=min_d2)
        min_d2.index_fill_(0, c.view(1), 0.0)
    if on_pick is not None:
        on_pick(sel.cpu().numpy(), r2.clamp_min(0).sqrt().cpu().numpy())
    return sel.cpu().numpy(), r2.clamp_min(0).sqrt().cpu().numpy()


def _maybe_report(picks, rad2, k, on_pick, report_every, bar, last):
    if not last and len(picks) % report_every:
        return
    if bar is not None:
        bar.update(len(picks) - bar.n)
    if on_pick is not None and len(rad2) >= len(picks):
        on_pick(np.asarray(picks, dtype=np.int64), np.sqrt(np.clip(np.asarray(rad2[: len(picks)], np.float32), 0, None)))
    elif on_pick is not None and not last:
        # the radius of the newest pick is known only after the next argmax: report all but it
        on_pick(np.asarray(picks[:-1], dtype=np.int64), np.sqrt(np.clip(np.asarray(rad2, np.float32), 0, None)))


def k_center_greedy_numpy(X: np.ndarray, k: int, seed: int = 0) -> KCenterResult:
    """The straightforward NumPy version (the benchmark's baseline): full distance pass per pick."""
    n = X.shape[0]
    first = int(np.random.default_rng(seed).integers(n))
    sel = [first]
    min_d = np.linalg.norm(X - X[first], axis=1)
    radii = [min_d.max()]
    for _ in range(1, min(k, n)):
        c = int(np.argmax(min_d))
        sel.append(c)
        min_d = np.minimum(min_d, np.linalg.norm(X - X[c], axis=1))
        radii.append(min_d.max())
    return KCenterResult(np.array(sel), np.array(radii, dtype=np.float32))


# --------------------------------------------------------------------------------------------------
# Bucketed (approximate) mode for millions of rows
# --------------------------------------------------------------------------------------------------


def assign_buckets(X, n_buckets: int, *, method: str = "kmeans", seed: int = 0, iters: int = 10,
                   sample: int = 100_000, device: str | None = None) -> np.ndarray:
    """Bucket id per row: k-means (Lloyd on a sample, then nearest centroid) or random-projection signs."""
    torch = _torch()
    X = _as_tensor(X, device)
    n = X.shape[0]
    g = torch.Generator(device="cpu").manual_seed(seed)
    if method == "rp":
        bits = max(1, math.ceil(math.log2(max(n_buckets, 2))))
        planes = torch.randn(X.shape[1], bits, generator=g).to(X.device)
        codes = ((X @ planes) > 0).long()
        ids = (codes * (2 ** torch.arange(bits, device=X.device))).sum(1)
        return ids.cpu().numpy()
    if method != "kmeans":
        raise ValueError(f"bucket method must be 'kmeans' or 'rp', got {method!r}")
    n_buckets = min(n_buckets, n)
    pick = torch.randperm(n, generator=g)[: min(n, max(sample, n_buckets))].to(X.device)
    S = X[pick]
    cent = S[torch.randperm(S.shape[0], generator=g)[:n_buckets].to(X.device)].clone()
    for _ in range(iters):
        a = _nearest(S, cent)
        sums = torch.zeros_like(cent).index_add_(0, a, S)
        counts = torch.bincount(a, minlength=n_buckets).clamp_min(1).unsqueeze(1).to(S.dtype)
        moved = sums / counts
        empty = torch.bincount(a, minlength=n_buckets) == 0
        cent = torch.where(empty.unsqueeze(1), cent, moved)
    return _nearest(X, cent).cpu().numpy()


def _nearest(X, cent, block: int = 65536):
    torch = _torch()
    csq = (cent * cent).sum(1)
    out = torch.empty(X.shape[0], dtype=torch.long, device=X.device)
    for r in range(0, X.shape[0], block):
        xb = X[r : r + block]
        out[r : r + block] = (csq[None, :] - 2.0 * (xb @ cent.T)).argmin(1)
    return out


def proportional_budgets(sizes: Sequence[int], k: int) -> list[int]:
    """Split ``k`` over buckets proportionally to size (largest remainder), never above a bucket's size."""
    total = sum(sizes)
    if total == 0:
        return [0] * len(sizes)
    k = min(k, total)
    raw = [k * s / total for s in sizes]
    out = [min(int(r), s) for r, s in zip(raw, sizes)]
    order = sorted(range(len(sizes)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while sum(out) < k:
        b = order[i % len(order)]
        if out[b] < sizes[b]:
            out[b] += 1
        i += 1
    return out


def bucketed_k_center(X, k: int, *, n_buckets: int = 64, method: str = "kmeans", seed: int = 0,
                      device: str | None = None, progress: bool = False) -> KCenterResult:
    """Approximate k-center: exact greedy inside each bucket, budgets proportional to bucket size.

    ``radii`` holds one value per pick in the merged order, where the value is the largest bucket radius
    reached at that point (an upper bound of the true coverage radius of the centres picked so far, but
    only the last value is meaningful as "radius of the whole selection").
    """
    torch = _torch()
    Xt = _as_tensor(X, device)
    buckets = assign_buckets(Xt, n_buckets, method=method, seed=seed, device=device)
    ids = np.unique(buckets)
    members = [np.flatnonzero(buckets == b) for b in ids]
    sizes = [len(m) for m in members]
    budgets = proportional_budgets(sizes, k)
    picks: list[np.ndarray] = []
    radii: list[float] = []
    worst = 0.0
    it = zip(members, budgets)
    if progress:
        from tqdm import tqdm

        it = tqdm(list(it), desc="k-center buckets")
    for m, b in it:
        if b == 0:
            continue
        res = k_center_greedy(Xt[torch.as_tensor(m, device=Xt.device)], b, seed=seed, device=device)
        picks.append(m[res.indices])
        worst = max(worst, float(res.radii[-1]))
        radii.extend([worst] * b)
    # rows of buckets with no budget are uncovered by their own bucket: measure them exactly
    uncovered = [m for m, b in zip(members, budgets) if b == 0]
    sel = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    if uncovered and len(sel):
        rest = np.concatenate(uncovered)
        d2 = min_sq_distances(Xt[torch.as_tensor(rest, device=Xt.device)], Xt[torch.as_tensor(sel, device=Xt.device)])
        worst = max(worst, float(d2.max().clamp_min(0).sqrt()))
        if radii:
            radii[-1] = worst
    return KCenterResult(sel, np.asarray(radii, np.float32), exact=False, buckets=sizes)


def coverage_radius(X, centres_idx: Sequence[int], device: str | None = None) -> float:
    """Exact coverage radius of a selection (blocked; for checking the bucketed bound)."""
    torch = _torch()
    Xt = _as_tensor(X, device)
    c = Xt[torch.as_tensor(np.asarray(centres_idx, dtype=np.int64), device=Xt.device)]
    return float(min_sq_distances(Xt, c).max().clamp_min(0).sqrt())


# --------------------------------------------------------------------------------------------------
# Files: JSONL in, selected JSONL out (resumable)
# --------------------------------------------------------------------------------------------------

PROBLEM_FIELDS = ("query", "problem", "question", "instruction")


def read_texts(scan: InputScan, text_field: str | None) -> tuple[list[str], list[int], str]:
    """Texts to embed and their input line numbers (one pass through the step reader); errors name file:line
    (in skip mode a row without its text is left out, and rejected again when the rows are written)."""
    texts: list[str] = []
    linenos: list[int] = []
    found = [text_field]

    def text(row: Row) -> tuple[int, str]:
        if found[0] is None:
            found[0] = next((f for f in PROBLEM_FIELDS if isinstance(row.data.get(f), str)), None)
            if found[0] is None:
                raise DataError(row.path, row.lineno,
                                f"no text field found (tried {', '.join(PROBLEM_FIELDS)}); pass --text-field",
                                reason="missing")
        return row.lineno, cut_words(row.text(found[0]))  # held for the whole selection: bounded per row

    for lineno, t in scan.each(text):
        texts.append(t)
        linenos.append(lineno)
    return texts, linenos, found[0] or ""


@dataclass
class ChosenRows(PerRowFilter):
    """Keeps the rows a core-set selection picked (the selection itself happens before, with resume)."""

    lines: frozenset[int]
    selection: dict  # the selection's meta: input digest, k, mode, seed, model, ...
    name: str = "coreset"
    scan: InputScan | None = None  # rows skipped while reading the texts (skip mode) are rejected again

    def settings(self) -> dict:
        return self.selection

    def decide(self, row: Row) -> Decision:
        if self.scan is not None:
            self.scan.reraise(row)
        return KEEP if row.lineno in self.lines else _NOT_SELECTED


_NOT_SELECTED = Decision(False, "not_selected")


def select_coreset_file(
    input_path,
    output_path,
    k: int | None,
    *,
    fraction: float | None = None,
    text_field: str | None = None,
    embeddings=None,
    embedding_cfg=None,
    mode: str = "exact",
    n_buckets: int = 64,
    bucket_method: str = "kmeans",
    seed: int = 0,
    device: str | None = None,
    overwrite: bool = False,
    checkpoint_every: int = 256,
    progress: bool = True,
    stop_after: int | None = None,
    on_bad_row: str = "fail",
) -> dict:
    """Pick ``k`` diverse rows of ``input_path`` (or ``fraction`` of them) and write them (input order,
    lines unchanged).

    Side files: ``<output>.picks.jsonl`` (one line per pick: rank, input line, radius; appended during
    the run, so an interrupted exact-mode run resumes from its picks) and ``<output>.report.json``
    (coverage radius per k). ``embeddings``: a precomputed (N, d) array or ``.npy`` path instead of
    the model. ``stop_after``: stop after that many picks (tests simulate an interruption with it).
    The rows are written by the step protocol (:func:`synth.selection.step.run_step`) with
    :class:`ChosenRows`; unpicked rows are not listed anywhere but by their absence (the picks file says
    what was picked and why).
    """
    import json
    import time

    from synth.selection.embeddings import Embedder, EmbeddingConfig

    t0 = time.perf_counter()
    output_path = Path(output_path)
    picks_path = output_path.with_name(output_path.name + ".picks.jsonl")
    report_path = output_path.with_name(output_path.name + ".report.json")
    reader = RowReader(input_path, allow_empty=False)
    scan = InputScan(reader, on_bad_row)
    texts, linenos, text_field = read_texts(scan, text_field)
    if not texts:
        raise DataError(input_path, None, "no usable rows (every row was rejected; see the rejects file)",
                        reason="empty")
    n = len(texts)
    if k is None:
        if fraction is None:
            raise ValueError("give -k or --fraction")
        k = max(1, round(fraction * n))
    if isinstance(embeddings, (str, Path)):
        embeddings = np.load(embeddings, mmap_mode="r")
    if embeddings is None:
        embedding_cfg = embedding_cfg or EmbeddingConfig()
        embeddings = Embedder(embedding_cfg).embed(texts, progress=progress)
    if embeddings.shape[0] != n:
        raise ValueError(f"{len(embeddings)} embeddings for {n} rows of {input_path}")
    meta = {"input": str(input_path), "input_digest": scan.digest, "rows": n, "k": k, "mode": mode, "seed": seed,
            "text_field": text_field, "model": getattr(embedding_cfg, "model", "precomputed")}
    # the greedy order does not depend on k: picks of a run with another k are a valid prefix
    picks_meta = {key: v for key, v in meta.items() if key != "k"}
    initial: list[int] = []
    recorded: list[float] = []
    if overwrite:
        for p in (picks_path, report_path, output_path):
            p.unlink(missing_ok=True)
    elif report_path.exists() and output_path.exists():
        report = json.loads(report_path.read_text())
        if report.get("meta") == meta:
            log.info("%s: already selected; nothing to do", output_path)
            return report
        if {key: v for key, v in report.get("meta", {}).items() if key != "k"} != picks_meta:
            raise FileExistsError(f"{output_path} exists from a different selection; pass --overwrite")
    elif output_path.exists():
        raise FileExistsError(f"{output_path} exists and is not a finished selection; pass --overwrite")
    if picks_path.exists() and mode == "exact":
        rows = read_output_rows(picks_path)
        if rows and rows[0].get("meta") != picks_meta:
            raise FileExistsError(f"{picks_path} belongs to a different selection; pass --overwrite")
        line_to_idx = {ln: i for i, ln in enumerate(linenos)}
        initial = [line_to_idx[r["line"]] for r in rows[1:]][:k]
        recorded = [r["radius"] for r in rows[1:]][:k]
        if initial:
            log.info("continuing core-set selection from %d recorded picks", len(initial))
    elif picks_path.exists():
        picks_path.unlink()

    appender = JsonlAppender(picks_path)
    if appender.path.stat().st_size == 0:
        appender.write({"meta": picks_meta})
    written = [len(read_output_rows(picks_path)) - 1]

    def checkpoint(sel: np.ndarray, radii: np.ndarray) -> None:
        for j in range(written[0], len(sel)):
            appender.write({"rank": j, "line": linenos[int(sel[j])], "radius": float(radii[j])})
        written[0] = len(sel)

    try:
        if mode == "exact":
            target = k if stop_after is None else min(k, stop_after)
            res = k_center_greedy(embeddings, target, initial=initial, seed=seed, device=device,
                                  on_pick=checkpoint, report_every=checkpoint_every, progress=progress)
        elif mode == "bucketed":
            res = bucketed_k_center(embeddings, k, n_buckets=n_buckets, method=bucket_method, seed=seed,
                                    device=device, progress=progress)
            checkpoint(res.indices, res.radii)
        else:
            raise ValueError(f"mode must be 'exact' or 'bucketed', got {mode!r}")
    finally:
        appender.close()
    if stop_after is not None and len(res.indices) < k:
        return {"meta": meta, "interrupted_after": len(res.indices)}
    chosen = np.sort(res.indices)
    files = StepFiles(output_path, None, output_path.with_name(output_path.name + ".state.json"))
    # overwrite: this selection's own checks above decided the output may be (re)written
    step = run_step(reader, ChosenRows(frozenset(linenos[i] for i in chosen.tolist()), meta, scan=scan), files,
                    log_format="none", overwrite=True, progress=False, on_bad_row=on_bad_row)
    radii = res.radii.copy()
    if recorded:  # picks made by an earlier run: their radii were recorded when they were made
        head = radii[: len(recorded)]
        radii[: len(recorded)] = np.where(np.isnan(head), np.asarray(recorded, np.float32), head)
    known = ~np.isnan(radii)
    table = [r for r in KCenterResult(res.indices, radii).radius_table() if known[r["k"] - 1]]
    report = {
        "meta": meta, "selected": int(len(chosen)), "radius": float(radii[-1]),
        "radius_is_upper_bound": not res.exact, "radius_per_k": table,
        "bucket_sizes": res.buckets, "seconds": round(time.perf_counter() - t0, 3),
    }
    if step.rejected:
        report.update(rejected=step.rejected, rejects_file=step.rejects)
    report_path.write_text(json.dumps(report, indent=2))
    log.info("selected %d of %d rows; coverage radius %.4f%s", len(chosen), n, radii[-1],
             " (upper bound)" if not res.exact else "")
    return report
