"""Near-duplicate removal with MinHash LSH in numpy (an optional step beyond the paper).

Why: synthesis from the same seed with several augmenters produces problems that differ by a word or
two; they waste training compute and skew core-set radii. Each row's compared text is cut into word
``shingle``-grams (normalised like decontamination, ``llemma`` rule), hashed, and summarised by
``num_perm`` min-hashes (universal hashing ``a*x + b`` modulo 2**64, top 32 bits). Rows agreeing on all
min-hashes of one of ``bands`` bands become candidates; a candidate pair is a duplicate when the
fraction of equal min-hashes (an unbiased estimate of Jaccard similarity) is at least ``threshold``.
Duplicates are grouped (union-find) and the first row of each group in input order is kept.

Deterministic: token hashes are the byte-polynomial hashes of decontamination (the same in every
process, whatever ``PYTHONHASHSEED``), and the min-hash permutations come from a seeded generator, so
the same file gives the same kept rows byte for byte. (Python's ``hash()`` of a string changes per
process; it made the kept rows change from run to run.)

Two passes through the step protocol: the first reads every row and computes its signature, the
second (:class:`DedupFilter` under :func:`synth.selection.step.run_step`) writes the kept rows and
``<output>.removed.jsonl``. Memory: ``num_perm * 4`` bytes per row (128 -> 512 B; 1M rows -> 0.5 GB).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synth.cli_args import option
from synth.selection.decontam import prepare, text_token_hashes
from synth.selection.reader import Row, RowReader
from synth.selection.step import KEEP, Decision, InputScan, PerRowFilter, StepFiles, run_step


@dataclass
class DedupConfig:
    """near-duplicates"""

    threshold: float = option(0.8, help="estimated Jaccard similarity to call a duplicate")
    num_perm: int = option(128, help="min-hashes per row")
    bands: int = option(32, help="LSH bands (rows agreeing on one band's min-hashes become candidates)")
    shingle: int = option(5, help="word n-gram size of the shingles")
    fields: tuple[str, ...] = option(("query",), help="comma-separated fields compared (default: query)")
    seed: int = option(1, help="seed of the min-hash permutations")
    batch_rows: int = option(512, help="rows per signature batch")


#: Characters of text hashed in one numpy pass (a longer text is cut at whitespace; shingles across a cut
#: are kept by repeating the last k-1 tokens): memory follows this, not the row.
PIECE_CHARS = 1 << 20
#: Shingles min-hashed in one numpy pass (each costs ``num_perm * 8`` bytes of temporaries).
SHINGLE_CHUNK = 1 << 15
_WS_RE = re.compile(r"\s")


def _piece_shingles(prepared: str, k: int) -> np.ndarray:
    h = text_token_hashes(prepared)
    if len(h) < k:
        return np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        out = np.zeros(len(h) - k + 1, np.uint64)
        mult = np.uint64(0x100000001B3)
        for j in range(k):
            out = out * mult + h[j : j + len(out)]
    return out


def shingle_hashes(text: str, k: int) -> np.ndarray:
    """Distinct 64-bit hashes of the word ``k``-grams of ``text`` (``llemma`` normalisation); a text with
    fewer than ``k`` words gives one shingle of all of them (a zero hash when it has none).

    A text over :data:`PIECE_CHARS` characters is hashed piece by piece (cut at whitespace, each piece
    after the first led by the previous pieces' last k-1 words, so every k-gram is seen exactly once,
    in the piece holding its last word): the same set, in memory that follows the piece."""
    if len(text) > PIECE_CHARS:
        parts: list[np.ndarray] = []
        tail: list[str] = []
        pos = 0
        while pos < len(text):
            cut = pos + PIECE_CHARS
            m = _WS_RE.search(text, cut) if cut < len(text) else None
            cut = m.start() if m else len(text)
            prepared = prepare(text[pos:cut], "llemma")
            parts.append(_piece_shingles(" ".join(tail) + " " + prepared if tail else prepared, k))
            if k > 1:
                words = prepared.rsplit(None, k - 1)
                tail = (tail + (words[1:] if len(words) > k - 1 else words))[-(k - 1):]
            pos = cut
        if any(len(x) for x in parts):
            return np.unique(np.concatenate(parts))
        # fewer than k words in all (a few giant tokens): the one-pass rule below
    prepared = prepare(text, "llemma")
    n = len(text_token_hashes(prepared))
    if n == 0:
        return np.zeros(1, np.uint64)
    return np.unique(_piece_shingles(prepared, min(k, n)))


class MinHasher:
    def __init__(self, num_perm: int, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64)

    def signatures(self, shingle_sets: list[np.ndarray], chunk: int = SHINGLE_CHUNK) -> np.ndarray:
        """(rows, num_perm) uint32: per permutation, the minimum of the top 32 bits of a*x+b, taken over
        ``chunk`` shingles at a time (the minimum of minima: the same values, in bounded memory)."""
        n, p = len(shingle_sets), len(self.a)
        out = np.full((n, p), np.iinfo(np.uint32).max, np.uint32)
        if n == 0:
            return out
        lens = np.fromiter(map(len, shingle_sets), dtype=np.int64, count=n)
        allx = np.concatenate(shingle_sets)
        row_of = np.repeat(np.arange(n), lens)
        for a in range(0, len(allx), chunk):
            x, r = allx[a:a + chunk], row_of[a:a + chunk]
            with np.errstate(over="ignore"):
                hv = ((x[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)).astype(np.uint32)
            starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            rows = r[starts]
            out[rows] = np.minimum(out[rows], np.minimum.reduceat(hv, starts, axis=0))
        return out


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def near_duplicate_groups(sigs: np.ndarray, bands: int, threshold: float) -> tuple[np.ndarray, dict[int, tuple[int, float]]]:
    """Root row per row (union-find over verified LSH candidates) and, per removed row, (kept row, similarity)."""
    n, p = sigs.shape
    r = max(1, p // bands)
    parent = np.arange(n)
    best: dict[int, tuple[int, float]] = {}
    for b in range(bands):
        band = np.ascontiguousarray(sigs[:, b * r : (b + 1) * r])
        if band.shape[1] == 0:
            break
        keys = band.view(np.dtype((np.void, band.dtype.itemsize * band.shape[1]))).ravel()
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        same = np.flatnonzero(sk[1:] == sk[:-1])
        if len(same) == 0:
            continue
        # group starts: for each run of equal keys compare every member with the run's first (smallest index)
        run_start = np.ones(n, bool)
        run_start[same + 1] = False
        first_of_run = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
        for pos in (same + 1).tolist():
            i, j = int(order[first_of_run[pos]]), int(order[pos])
            sim = float(np.mean(sigs[i] == sigs[j]))
            if sim >= threshold:
                ri, rj = _find(parent, i), _find(parent, j)
                if ri != rj:
                    lo, hi = min(ri, rj), max(ri, rj)
                    parent[hi] = lo
                keep, drop = min(i, j), max(i, j)
                if drop not in best or best[drop][1] < sim:
                    best[drop] = (keep, sim)
    roots = np.array([_find(parent, i) for i in range(n)])
    return roots, best


class DedupFilter(PerRowFilter):
    """Keeps the first row of each group of near-duplicates; the signatures of all rows are computed
    when the filter is made (one pass over the input through ``reader``)."""

    name = "dedup"

    def __init__(self, reader: RowReader, cfg: DedupConfig, on_bad_row: str = "fail"):
        if not 0 < cfg.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.cfg = cfg
        hasher = MinHasher(cfg.num_perm, cfg.seed)
        lines: list[int] = []
        sig_parts: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        scan = self.scan = InputScan(reader, on_bad_row)

        def shingles(row: Row) -> tuple[int, np.ndarray]:
            return row.lineno, shingle_hashes("\n".join(row.text(f) for f in cfg.fields), cfg.shingle)

        held = 0
        for lineno, sh in scan.each(shingles):
            batch.append(sh)
            lines.append(lineno)
            held += len(sh)
            if len(batch) >= cfg.batch_rows or held >= 64 * SHINGLE_CHUNK:  # bounded by rows and by shingles
                held = 0
                sig_parts.append(hasher.signatures(batch))
                batch = []
        if batch:
            sig_parts.append(hasher.signatures(batch))
        sigs = np.concatenate(sig_parts) if sig_parts else np.zeros((0, cfg.num_perm), np.uint32)
        self.input_digest = scan.digest
        self.lines = np.asarray(lines, dtype=np.int64)
        self.roots, self.best = near_duplicate_groups(sigs, cfg.bands, cfg.threshold)

    def settings(self) -> dict[str, Any]:
        return {**asdict(self.cfg), "input": self.input_digest}

    def decide(self, row: Row) -> Decision:
        self.scan.reraise(row)  # a row skipped while scanning (skip mode) is rejected again, with its error
        i = int(np.searchsorted(self.lines, row.lineno))
        root = int(self.roots[i])
        if root == i:
            return KEEP
        other, sim = self.best.get(i, (root, None))  # no verified pair of its own: merged through its group
        return Decision(False, "near_duplicate", {
            "duplicate_of_line": int(self.lines[root]), "matched_line": int(self.lines[other]),
            "estimated_jaccard": None if sim is None else round(sim, 4)})


def dedup_file(input_path: str | os.PathLike, output_path: str | os.PathLike, cfg: DedupConfig | None = None,
               *, overwrite: bool = False, progress: bool = True, on_bad_row: str = "fail") -> dict[str, Any]:
    """Write the rows of ``input_path`` without near-duplicates (lines unchanged, input order) and
    ``<output>.removed.jsonl`` (each removed line, the line it duplicates, the estimated similarity)."""
    cfg = cfg or DedupConfig()
    reader = RowReader(input_path, cfg.batch_rows, allow_empty=False)
    files = StepFiles.beside(output_path, ".removed.jsonl")
    report = run_step(reader, DedupFilter(reader, cfg, on_bad_row), files, log_format="removed", overwrite=overwrite,
                      progress=progress, on_bad_row=on_bad_row)
    return {"rows": report.rows, "kept": report.kept, "removed": report.removed, "output": str(files.kept),
            "removed_file": str(files.log), "threshold": cfg.threshold, "num_perm": cfg.num_perm, "bands": cfg.bands,
            **_rejected(report)}


def _rejected(report: Any) -> dict[str, Any]:
    return {"rejected": report.rejected, "rejects_file": report.rejects} if report.rejected else {}
