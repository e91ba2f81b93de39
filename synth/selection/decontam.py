"""N-gram decontamination of SFT data against benchmark test sets (the paper's 30-gram filter).

Why this design: the paper filters 2.5M synthetic rows against GSM8K and MATH test with a 30-gram
hit (Azerbayev et al., 2023) and shows a 10-gram filter is too strict (figure 9). A plain Python set
of n-gram strings costs one string join and hash per token position and does not hold up at millions
of rows, so this module:

* joins a whole batch of rows into one byte buffer and tokenizes and hashes it with numpy passes:
  token boundaries from whitespace bytes (exactly ``str.split()``'s whitespace), token hashes as
  polynomials over bytes (mod 2**32, then spread to 64 bits), n-gram hashes as polynomials over token
  hashes (mod 2**64): numpy's unsigned arithmetic wraps, and prefix sums give every span in O(1)
  whatever n is. No Python object is made per token;
* masks n-grams containing a token no benchmark uses (a presence table over token hashes);
* looks hashes up in a 16M-slot presence table, then confirms the few survivors by binary search in the
  sorted benchmark hash array and finally by comparing the actual tokens (so a 64-bit collision can
  never remove a row);
* streams the input, copies kept lines byte for byte, and checkpoints at fixed positions so an
  interrupted run (or one stopped by a bad line, once it is fixed) resumes where it stopped (see
  :func:`decontaminate_file`); ``workers > 1`` spreads batches over forked processes that read their
  block of the file themselves;
* keeps memory to a budget whatever the row size: batches are at most ``batch_bytes`` of input, and a
  field longer than that is cut at whitespace into pieces hashed one at a time (each led by the
  previous piece's last n-1 tokens, so every window is seen exactly once; the exact-match hash is
  combined over the pieces). The matches do not depend on the sizes.

Normalisation (both documented in docs/selection.md):

``llemma``  lowercase, split on any whitespace. Punctuation stays attached to words, LaTeX is kept as is.
``lmeval``  lm-eval's ``Janitor``: lowercase ASCII, delete ``string.punctuation``, split on whitespace.

Short benchmark problems have fewer than ``n`` tokens and so no n-gram at all; every text field of a
row is therefore also compared exactly (after normalisation) with the benchmark problems.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skymath_tasks.benchmarks import (
    DECONTAMINATION_BENCHMARKS,
    ENV_VAR,
    benchmark,
    data_dir as registry_data_dir,
)
from skymath_tasks.jsonl_io import DataError, iter_jsonl, parse_size
from synth.cli_args import option
from synth.selection.reader import DEFAULT_BATCH_BYTES, Row, RowReader
from synth.selection.step import DEFAULT_CHECKPOINT_ROWS, KEEP, Decision, StepFiles, StepReport, run_step

log = logging.getLogger(__name__)

NORMALIZATIONS = ("llemma", "lmeval")
_BASE = 0x9E3779B97F4A7C15 | 1  # odd, so it has an inverse modulo 2**64
_TABLE_BITS = 24
_TOK_TABLE_BITS = 22
_TOK_MASK = (1 << _TOK_TABLE_BITS) - 1

_LMEVAL_TABLE = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase, string.ascii_lowercase * 2, string.punctuation
)


# Every character ``str.split()`` treats as whitespace: the ASCII ones (9-13, 28-32) are found in the
# bytes, the others are replaced by a space before encoding, so the vectorised byte tokenizer splits
# exactly like ``str.split()`` (tests check this).
_UNICODE_WS_RE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def prepare(text: str, normalization: str = "llemma") -> str:
    """Normalised text whose ``split()`` gives the tokens, with all whitespace made ASCII."""
    if normalization == "llemma":
        t = text.lower()
    elif normalization == "lmeval":
        t = text.translate(_LMEVAL_TABLE)
    else:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    return t if t.isascii() else _UNICODE_WS_RE.sub(" ", t)


def tokenize(text: str, normalization: str = "llemma") -> list[str]:
    """Normalised whitespace tokens of ``text`` (see module docstring for the two rules)."""
    return prepare(text, normalization).split()


class _Powers:
    """BASE**i and BASE**-i modulo 2**64 for i < len, grown on demand (uint64 arithmetic wraps)."""

    def __init__(self, base: int):
        self.base, self.inv = base, pow(base, -1, 1 << 64)
        self.pow = np.ones(1, np.uint64)
        self.ipow = np.ones(1, np.uint64)

    def ensure(self, length: int) -> None:
        if len(self.pow) >= length:
            return
        size = max(length + length // 2, 1 << 16)  # grow rarely: recomputing costs a full pass
        with np.errstate(over="ignore"):
            self.pow = np.cumprod(np.full(size, self.base, np.uint64), dtype=np.uint64) * np.uint64(self.inv)
            self.ipow = np.cumprod(np.full(size, self.inv, np.uint64), dtype=np.uint64) * np.uint64(self.base)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """P[k] = sum_{j<k} values[j] * BASE**j, so any span's hash is (P[e] - P[s]) * BASE**-s."""
        self.ensure(len(values) + 1)
        out = np.empty(len(values) + 1, np.uint64)
        out[0] = 0
        with np.errstate(over="ignore"):
            np.cumsum(values * self.pow[: len(values)], dtype=np.uint64, out=out[1:])
        return out

    def spans(self, prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (prefix[ends] - prefix[starts]) * self.ipow[starts]

    def windows(self, prefix: np.ndarray, n: int) -> np.ndarray:
        """Hashes of all length-n windows (slices, no gathers)."""
        m = len(prefix) - n
        with np.errstate(over="ignore"):
            return (prefix[n:] - prefix[:m]) * self.ipow[:m]


_BYTE_BASE32 = 0x9E3779B1  # odd: a 32-bit polynomial over bytes (half the memory traffic of 64-bit)
_BYTE_POW32 = np.ones(1, np.uint32)
_BYTE_IPOW32 = np.ones(1, np.uint32)


def _byte_powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    global _BYTE_POW32, _BYTE_IPOW32
    if len(_BYTE_POW32) < length:
        size = max(length + length // 2, 1 << 16)
        inv = pow(_BYTE_BASE32, -1, 1 << 32)
        with np.errstate(over="ignore"):
            _BYTE_POW32 = np.cumprod(np.full(size, _BYTE_BASE32, np.uint32), dtype=np.uint32) * np.uint32(inv)
            _BYTE_IPOW32 = np.cumprod(np.full(size, inv, np.uint32), dtype=np.uint32) * np.uint32(_BYTE_BASE32)
    return _BYTE_POW32, _BYTE_IPOW32


def byte_token_hashes(buf: np.ndarray, with_ends: bool = False) -> tuple[np.ndarray, ...]:
    """``(hash per token, start offset per token)`` for a uint8 array of prepared text.

    Vectorised tokenizer: a token is a maximal run of non-whitespace bytes (the ASCII whitespace of
    ``str.split()``: 9-13 and 28-32); its hash is a 32-bit polynomial over its bytes taken from one
    prefix sum over the whole buffer, spread to 64 bits by a multiply-xorshift. Deterministic across
    processes and runs. (Two tokens sharing a 32-bit hash can only make a window *look* like a
    candidate; every hit is verified token by token.) ``with_ends`` also returns each token's end offset."""
    if len(buf) == 0:
        empty = np.zeros(0, np.int64)
        return (np.zeros(0, np.uint64), empty, empty) if with_ends else (np.zeros(0, np.uint64), empty)
    ws = ((buf - np.uint8(9)) <= 4) | ((buf - np.uint8(28)) <= 4)
    nonws = ~ws
    starts = np.flatnonzero(nonws[1:] & ws[:-1]) + 1
    ends = np.flatnonzero(ws[1:] & nonws[:-1]) + 1
    if nonws[0]:
        starts = np.r_[0, starts]
    if nonws[-1]:
        ends = np.r_[ends, len(buf)]
    pw, ipw = _byte_powers(len(buf) + 1)
    with np.errstate(over="ignore"):
        v = buf.astype(np.uint32)
        v += np.uint32(1)
        v *= pw[: len(buf)]
        q = np.empty(len(buf) + 1, np.uint32)
        q[0] = 0
        np.cumsum(v, dtype=np.uint32, out=q[1:])
        h = ((q[ends] - q[starts]) * ipw[starts]).astype(np.uint64)
        h *= _MIX
        h ^= h >> np.uint64(29)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(32)
    return (h, starts, ends) if with_ends else (h, starts)


def text_token_hashes(prepared: str) -> np.ndarray:
    return byte_token_hashes(np.frombuffer(prepared.encode("utf-8"), np.uint8))[0]


# --------------------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark file: which field is the problem (exact match + n-grams) and which others to index."""

    name: str
    path: str
    problem_field: str
    extra_fields: tuple[str, ...] = ()
    id_field: str | None = None

    @classmethod
    def parse(cls, spec: str, data_dir: str | os.PathLike | None = None) -> "BenchmarkSpec":
        """``gsm8k`` | ``math`` | ``math500`` | ``NAME=PATH:problem_field[,extra,...][@id_field]``."""
        if "=" not in spec:
            return builtin_benchmark(spec, data_dir)
        name, rest = spec.split("=", 1)
        id_field = None
        if "@" in rest.rsplit(":", 1)[-1]:
            rest, id_field = rest.rsplit("@", 1)
        if ":" not in rest:
            raise ValueError(f"benchmark spec {spec!r}: expected NAME=PATH:problem_field[,extra...][@id_field]")
        path, fields = rest.rsplit(":", 1)
        names = [f for f in fields.split(",") if f]
        if not names:
            raise ValueError(f"benchmark spec {spec!r}: no field given")
        return cls(name, path, names[0], tuple(names[1:]), id_field)


#: benchmarks indexed by name (``--bench gsm8k``); names, files, fields and ids come from the one
#: benchmark registry (skymath_tasks.benchmarks)
BUILTIN_BENCHMARKS: tuple[str, ...] = DECONTAMINATION_BENCHMARKS


def default_data_dir() -> Path:
    """The data folder when none is passed: ``$SKYMATH_DATA_DIR`` (the registry's one variable)."""
    root = registry_data_dir()
    if root is None:
        raise ValueError(f"no data folder for the built-in benchmarks: pass --data-dir or set {ENV_VAR}")
    return root


def builtin_benchmark(name: str, data_dir: str | os.PathLike | None = None) -> BenchmarkSpec:
    if name not in BUILTIN_BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}: use one of {sorted(BUILTIN_BENCHMARKS)} or NAME=PATH:field")
    b = benchmark(name)
    base = Path(data_dir) if data_dir else default_data_dir()
    return BenchmarkSpec(name, str(base / b.local), b.problem_field, b.extra_fields, b.id_field)


@dataclass
class _Segment:
    bench: int  # index into specs
    item_id: str
    field: str
    tokens: list[str]


class NgramIndex:
    """All n-grams (as 64-bit hashes) and normalised problems of a set of benchmark files."""

    def __init__(self, specs: Sequence[BenchmarkSpec], n: int = 30, normalization: str = "llemma"):
        if n < 1:
            raise ValueError("n must be >= 1")
        tokenize("", normalization)  # validates the name
        self.specs = list(specs)
        self.n = n
        self.normalization = normalization
        self.segments: list[_Segment] = []
        self.exact: dict[str, list[int]] = {}  # normalised problem -> segment indices
        self.items_per_bench: list[int] = []
        self.max_token_chars = 0  # longest benchmark token: a longer one in a row can never match
        self.max_exact_tokens = 0  # tokens of the longest benchmark problem: a longer field is never an exact match
        for b, spec in enumerate(self.specs):
            self._load(b, spec)
        self._build()

    def _load(self, b: int, spec: BenchmarkSpec) -> None:
        path = Path(spec.path)
        if not path.exists():
            raise FileNotFoundError(f"benchmark {spec.name!r}: {path} not found")
        count = 0
        for lineno, row in iter_jsonl(path, allow_empty=False):
            item_id = str(row[spec.id_field]) if spec.id_field and spec.id_field in row else str(lineno)
            for fname in (spec.problem_field, *spec.extra_fields):
                value = row.get(fname)
                if value is None:
                    if fname == spec.problem_field:
                        raise DataError(path, lineno, "missing", field=fname)
                    continue
                if not isinstance(value, str):
                    raise DataError(path, lineno, f"expected str, got {type(value).__name__}", field=fname)
                toks = tokenize(value, self.normalization)
                seg = len(self.segments)
                self.segments.append(_Segment(b, item_id, fname, toks))
                self.max_token_chars = max(self.max_token_chars, max(map(len, toks), default=0))
                if fname == spec.problem_field and toks:
                    self.exact.setdefault(" ".join(toks), []).append(seg)
                    self.max_exact_tokens = max(self.max_exact_tokens, len(toks))
            count += 1
        self.items_per_bench.append(count)

    def _build(self) -> None:
        self._powers = _Powers(_BASE)
        seg_hashes: list[np.ndarray] = []
        for seg in self.segments:
            th = text_token_hashes(" ".join(seg.tokens))
            assert len(th) == len(seg.tokens), "byte tokenizer disagrees with str.split()"
            seg_hashes.append(th)
        vocab = np.unique(np.concatenate(seg_hashes)) if seg_hashes else np.zeros(0, np.uint64)
        self.vocab_size = len(vocab)
        self.tok_table = np.zeros(1 << _TOK_TABLE_BITS, dtype=bool)
        self.tok_table[(vocab & np.uint64(_TOK_MASK)).astype(np.int64)] = True
        hashes, seg_ids, positions = [], [], []
        exact_h = []
        for s, (seg, th) in enumerate(zip(self.segments, seg_hashes)):
            prefix = self._powers.prefix(th)
            if seg.field == self.specs[seg.bench].problem_field and len(th):
                exact_h.append(prefix[-1])
            m = len(th) - self.n + 1
            if m <= 0:
                continue
            g = self._powers.windows(prefix, self.n)
            hashes.append(g)
            seg_ids.append(np.full(m, s, dtype=np.int32))
            positions.append(np.arange(m, dtype=np.int32))
        if hashes:
            h = np.concatenate(hashes)
            order = np.argsort(h, kind="stable")
            self.hashes = h[order]
            self.hash_seg = np.concatenate(seg_ids)[order]
            self.hash_pos = np.concatenate(positions)[order]
        else:
            self.hashes = np.zeros(0, np.uint64)
            self.hash_seg = np.zeros(0, np.int32)
            self.hash_pos = np.zeros(0, np.int32)
        self.table = np.zeros(1 << _TABLE_BITS, dtype=bool)
        self.table[(self.hashes >> np.uint64(64 - _TABLE_BITS)).astype(np.int64)] = True
        self.exact_hashes = np.sort(np.asarray(exact_h, dtype=np.uint64))
        log.info(
            "n-gram index: %d benchmark segments, %d distinct tokens, %d %d-grams, %d exact problems",
            len(self.segments), self.vocab_size, len(self.hashes), self.n, len(self.exact),
        )

    def known_tokens(self, th: np.ndarray) -> np.ndarray:
        """False where a token is certainly not in any benchmark (then no window through it can match)."""
        return self.tok_table[(th & np.uint64(_TOK_MASK)).astype(np.int64)]

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{self.n}|{self.normalization}".encode())
        for spec in self.specs:
            h.update(json.dumps(asdict(spec), sort_keys=True).encode())
            st = Path(spec.path).stat()
            h.update(f"{st.st_size}".encode())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Matching rows
# --------------------------------------------------------------------------------------------------


@dataclass
class Match:
    reason: str  # "ngram" or "exact"
    benchmark: str
    benchmark_id: str
    benchmark_field: str
    row_field: str
    text: str  # the matched n-gram (normalised tokens) or the normalised problem
    n_ngrams: int = 0  # how many of the row's n-gram windows hit the benchmarks
    benchmark_ids: list[str] = field(default_factory=list)  # every item hit (capped at 20)


def row_texts(row: dict[str, Any], fields: Sequence[str] | None, path: str, lineno: int) -> list[tuple[str, str]]:
    """``(field, text)`` pairs to scan: the named fields (must be strings) or every string field."""
    if fields is None:
        return [(k, v) for k, v in row.items() if isinstance(v, str)]
    out = []
    for f in fields:
        v = row.get(f)
        if v is None:
            raise DataError(path, lineno, "missing", field=f)
        if not isinstance(v, str):
            raise DataError(path, lineno, f"expected str, got {type(v).__name__}", field=f)
        out.append((f, v))
    return out


#: Characters of a field's text handled in one piece: a longer field is cut at whitespace into pieces
#: (each also given the previous piece's last n-1 tokens), so memory follows the piece, not the row.
DEFAULT_PIECE_CHARS = 1 << 20
#: Bytes of prepared text tokenized and hashed in one numpy pass (the temporaries are ~25x this).
DEFAULT_GROUP_BYTES = 1 << 20
#: A whitespace-free run of at least this many characters is one token no benchmark can contain (the
#: index raises it above its longest token); it only separates windows and is never copied.
_GIANT_TOKEN_CHARS = 1 << 16
_WS_RE = re.compile(r"\s")


@dataclass(slots=True)
class _Unit:
    """A piece of one field's prepared text, with the previous piece's last n-1 tokens in front (``tail``
    tokens: windows crossing the cut are seen once, in the piece holding their last token)."""

    row: int
    field: int  # index of the field in the batch
    text: str
    tail: int  # tokens at the front that belong to the previous piece
    last: bool  # the field's last piece


@dataclass(slots=True)
class _FieldAcc:
    """Exact-match state of a field cut into pieces: its token hash so far, token count, small token list."""

    hash: int = 0
    count: int = 0
    tokens: list[str] | None = field(default_factory=list)
    giant: bool = False  # held a giant token: cannot equal a benchmark problem


@dataclass(slots=True)
class _RowAcc:
    """N-gram state of a row over all its pieces: confirmed windows, items hit, the first verified window."""

    count: int = 0
    items: dict[str, None] = field(default_factory=dict)
    first: tuple[int, int, str, str] | None = None  # (segment, position, row field, tokens) of the first verified hit


class Matcher:
    """Finds benchmark matches for batches of rows with the vectorised n-gram pipeline, in bounded memory."""

    def __init__(self, index: NgramIndex, exact_match: bool = True, *, group_bytes: int = DEFAULT_GROUP_BYTES,
                 piece_chars: int = DEFAULT_PIECE_CHARS):
        if group_bytes < 1 or piece_chars < 1:
            raise ValueError("group_bytes and piece_chars must be >= 1")
        self.index = index
        self.exact_match = exact_match
        self.group_bytes = group_bytes
        self.piece_chars = piece_chars
        self.giant_chars = max(_GIANT_TOKEN_CHARS, index.max_token_chars + 1)
        self._giant_re = re.compile(r"(?<!\S)\S{%d,}" % self.giant_chars)

    # -- pieces ------------------------------------------------------------------------------------
    def _pieces(self, text: str) -> Iterator[tuple[str, bool]]:
        """``(prepared piece, after_giant)``: the field's prepared text in pieces cut at whitespace; a giant
        token is left out and the piece after it starts a new run of windows (``after_giant``)."""
        norm = self.index.normalization
        pos, end = 0, len(text)
        after_giant = False
        for m in self._giant_re.finditer(text):
            giant = self._giant(text, m.start(), m.end())
            if giant is not None:  # lmeval normalisation may shrink it to an ordinary token
                continue
            yield from self._cut(text, pos, m.start(), norm, after_giant)
            pos, after_giant = m.end(), True
        yield from self._cut(text, pos, end, norm, after_giant)

    def _cut(self, text: str, pos: int, end: int, norm: str, after_giant: bool) -> Iterator[tuple[str, bool]]:
        first = True
        while pos < end or first:
            cut = pos + self.piece_chars
            if cut >= end:
                cut = end
            else:  # the next whitespace: no giant token in [pos, end), so it is less than giant_chars away
                m = _WS_RE.search(text, cut, end)
                cut = m.start() if m else end
            yield prepare(text[pos:cut], norm), after_giant and first
            pos, first = cut, False

    def _giant(self, text: str, start: int, end: int) -> str | None:
        """``None`` when the token cannot be a benchmark token, else its prepared form (only possible when
        the normalisation deletes characters: ``lmeval``)."""
        if self.index.normalization == "llemma":
            return None  # lowercasing never shortens a string
        total, limit = 0, self.index.max_token_chars
        for a in range(start, end, 1 << 20):
            total += len(prepare(text[a:min(a + (1 << 20), end)], self.index.normalization))
            if total > limit:
                return None
        return prepare(text[start:end], self.index.normalization)

    def _units(self, texts: Sequence[Sequence[tuple[str, str]]], field_acc: dict[int, _FieldAcc]) -> Iterator[_Unit]:
        norm, keep = self.index.normalization, self.index.n - 1
        f = -1
        for r, pairs in enumerate(texts):
            for _, text in pairs:
                f += 1
                if len(text) <= self.piece_chars and not (len(text) >= self.giant_chars
                                                          and self._giant_re.search(text)):
                    yield _Unit(r, f, prepare(text, norm), 0, True)
                    continue
                acc = field_acc[f] = _FieldAcc()
                tail: list[str] = []
                pending: tuple[str, bool] | None = None
                for piece, after_giant in self._pieces(text):
                    if after_giant:
                        acc.giant, tail = True, []
                    if pending is not None:
                        yield self._unit(r, f, pending, False)
                    pending = (piece, tail)
                    if keep:
                        parts = piece.rsplit(None, keep)
                        last = parts[1:] if len(parts) > keep else parts
                        tail = (tail + last)[-keep:] if len(last) < keep else last
                if pending is not None:
                    yield self._unit(r, f, pending, True)

    @staticmethod
    def _unit(r: int, f: int, pending: tuple[str, list[str]], last: bool) -> _Unit:
        piece, tail = pending
        return _Unit(r, f, (" ".join(tail) + " " + piece) if tail else piece, len(tail), last)

    # -- matching ----------------------------------------------------------------------------------
    def match_batch(self, texts: Sequence[Sequence[tuple[str, str]]]) -> list[Match | None]:
        """One result per row (``None`` = clean). ``texts[i]`` are row i's ``(field, text)`` pairs.

        The rows' fields are cut into pieces (long fields only) and the pieces grouped into byte buffers
        of about ``group_bytes``: tokenizing, token hashing, n-gram hashing, the presence tables and the
        exact-problem hashes are numpy passes over one buffer; Python touches only rows with a
        hash-confirmed hit (to verify tokens and write the report). The result does not depend on the
        group or piece sizes."""
        results: list[Match | None] = [None] * len(texts)
        field_name = [f for pairs in texts for f, _ in pairs]
        if not field_name:
            return results
        field_acc: dict[int, _FieldAcc] = {}
        rows: dict[int, _RowAcc] = {}
        exact: dict[int, Match] = {}
        group: list[_Unit] = []
        size = 0
        for unit in self._units(texts, field_acc):
            group.append(unit)
            size += len(unit.text) + 1
            if size >= self.group_bytes:
                self._match_group(group, field_name, field_acc, rows, exact)
                group, size = [], 0
        if group:
            self._match_group(group, field_name, field_acc, rows, exact)
        idx = self.index
        for r, acc in rows.items():
            if r in exact or acc.first is None:
                continue
            seg_i, _, fname, tokens = acc.first
            seg = idx.segments[seg_i]
            results[r] = Match("ngram", idx.specs[seg.bench].name, seg.item_id, seg.field, fname, tokens,
                               n_ngrams=acc.count, benchmark_ids=list(acc.items)[:20])
        for r, m in exact.items():
            results[r] = m
        return results

    def _match_group(self, group: list[_Unit], field_name: list[str], field_acc: dict[int, _FieldAcc],
                     rows: dict[int, _RowAcc], exact: dict[int, Match]) -> None:
        idx = self.index
        n = idx.n
        pieces = [u.text.encode("utf-8") for u in group]
        lens = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        ustart = np.cumsum(lens + 1) - (lens + 1)  # byte offset of each unit (joined by b"\n")
        buf = np.frombuffer(b"\n".join(pieces), np.uint8)
        del pieces
        th, tstart, tend = byte_token_hashes(buf, with_ends=True)
        nu = len(group)
        utok_start = np.searchsorted(tstart, ustart, side="left")
        utok_end = np.empty_like(utok_start)
        utok_end[:-1] = utok_start[1:]
        utok_end[-1] = len(th)
        tails = np.fromiter((u.tail for u in group), dtype=np.int64, count=nu)
        own_start = np.minimum(utok_start + tails, utok_end)
        powers = idx._powers
        prefix = powers.prefix(th)

        if self.exact_match and len(idx.exact_hashes):
            self._exact_group(group, field_name, field_acc, exact, buf, tstart, tend, prefix, own_start, utok_end)

        m = len(th) - n + 1
        if m <= 0 or len(idx.hashes) == 0:
            return
        tunit = np.repeat(np.arange(nu), utok_end - utok_start)
        g = powers.windows(prefix, n)
        unknown = np.empty(len(th) + 1, np.int64)
        unknown[0] = 0
        np.cumsum(~idx.known_tokens(th), out=unknown[1:])
        valid = ((unknown[n:] - unknown[:m]) == 0) & (tunit[:m] == tunit[n - 1:])
        pos = np.flatnonzero(valid)
        if len(pos) == 0:
            return
        gv = g[pos]
        hit = idx.table[(gv >> np.uint64(64 - _TABLE_BITS)).astype(np.int64)]
        if not hit.any():
            return
        pos, gv = pos[hit], gv[hit]
        loc = np.searchsorted(idx.hashes, gv)
        loc[loc == len(idx.hashes)] = 0
        confirmed = idx.hashes[loc] == gv
        if not confirmed.any():
            return
        pos, gv, loc = pos[confirmed], gv[confirmed], loc[confirmed]
        units_of = tunit[pos]
        rows_of = np.fromiter((group[u].row for u in units_of.tolist()), dtype=np.int64, count=len(units_of))
        starts = np.flatnonzero(np.r_[True, rows_of[1:] != rows_of[:-1]]).tolist() + [len(pos)]
        for a, b in zip(starts[:-1], starts[1:]):
            r = int(rows_of[a])
            acc = rows.setdefault(r, _RowAcc())
            acc.count += b - a
            if len(acc.items) < 20:
                segs = idx.hash_seg[loc[a:b]]
                _, first = np.unique(segs, return_index=True)
                for s_ in segs[np.sort(first)].tolist():
                    seg = idx.segments[s_]
                    acc.items.setdefault(f"{idx.specs[seg.bench].name}:{seg.item_id}", None)
                    if len(acc.items) >= 20:
                        break
            if acc.first is not None or r in exact:
                continue
            for t in range(a, b):  # the first window whose tokens really equal a benchmark n-gram
                p0 = int(pos[t])
                tokens = bytes(buf[tstart[p0]:tend[p0 + n - 1]]).decode("utf-8").split()
                h, k = gv[t], int(loc[t])
                while k < len(idx.hashes) and idx.hashes[k] == h:
                    seg = idx.segments[int(idx.hash_seg[k])]
                    q = int(idx.hash_pos[k])
                    if seg.tokens[q:q + n] == tokens:
                        acc.first = (int(idx.hash_seg[k]), q, field_name[group[int(units_of[t])].field],
                                     " ".join(tokens))
                        break
                    k += 1
                if acc.first is not None:
                    break

    def _exact_group(self, group: list[_Unit], field_name: list[str], field_acc: dict[int, _FieldAcc],
                     exact: dict[int, Match], buf: np.ndarray, tstart: np.ndarray, tend: np.ndarray,
                     prefix: np.ndarray, own_start: np.ndarray, utok_end: np.ndarray) -> None:
        """Exact match of whole normalised fields: a field's token hash (over all its pieces) against the
        benchmark problems' hashes, confirmed by comparing the tokens."""
        idx = self.index
        powers = idx._powers
        local = powers.spans(prefix, own_start, utok_end)  # hash of each unit's own tokens
        count = utok_end - own_start
        whole = np.fromiter((u.field not in field_acc for u in group), dtype=bool, count=len(group))
        # fields in one piece: all at once
        cand_units = np.flatnonzero(whole & (count > 0) & (count <= idx.max_exact_tokens))
        if len(cand_units):
            fh = local[cand_units]
            loc = np.searchsorted(idx.exact_hashes, fh)
            loc[loc == len(idx.exact_hashes)] = 0
            for u in cand_units[idx.exact_hashes[loc] == fh].tolist():
                unit = group[u]
                if unit.row not in exact:
                    self._confirm_exact(unit.row, field_name[unit.field], unit.text.split(), exact)
        # fields cut into pieces: accumulate, decide at the last piece
        for u in np.flatnonzero(~whole).tolist():
            unit = group[u]
            acc = field_acc[unit.field]
            c = int(count[u])
            if c:  # field hash = sum of token hashes times BASE**position: this piece's part, moved to its place
                acc.hash = (acc.hash + int(local[u]) * pow(_BASE, acc.count, 1 << 64)) % (1 << 64)
                acc.count += c
                if acc.tokens is not None:
                    if acc.count > idx.max_exact_tokens:
                        acc.tokens = None
                    else:
                        a, b = int(own_start[u]), int(utok_end[u])
                        acc.tokens += bytes(buf[tstart[a]:tend[b - 1]]).decode("utf-8").split()
            if not unit.last or acc.giant or acc.tokens is None or not acc.count or unit.row in exact:
                continue
            k = int(np.searchsorted(idx.exact_hashes, np.uint64(acc.hash)))
            if k < len(idx.exact_hashes) and int(idx.exact_hashes[k]) == acc.hash:
                self._confirm_exact(unit.row, field_name[unit.field], acc.tokens, exact)

    def _confirm_exact(self, r: int, fname: str, toks: list[str], exact: dict[int, Match]) -> None:
        segs = self.index.exact.get(" ".join(toks))
        if segs:
            exact[r] = self._exact_match(fname, toks, segs)

    def _exact_match(self, fname: str, toks: list[str], segs: list[int]) -> Match:
        idx = self.index
        first = idx.segments[segs[0]]
        return Match(
            "exact", idx.specs[first.bench].name, first.item_id, first.field, fname, " ".join(toks),
            benchmark_ids=[f"{idx.specs[idx.segments[s].bench].name}:{idx.segments[s].item_id}" for s in segs[:20]],
        )

# --------------------------------------------------------------------------------------------------
# Streaming files (resumable): a filter of the selection step protocol
# --------------------------------------------------------------------------------------------------


@dataclass
class DecontamConfig:
    """matching"""

    n: int = option(30, flags=("-n", "--n"), help="n-gram length in tokens (paper: 30; 10/13 for comparison)")
    normalization: str = option("llemma", choices=NORMALIZATIONS, help="token normalisation (docs/selection.md)")
    exact_match: bool = option(True, flags=("--no-exact",), help="skip the exact match of normalised problems")
    text_fields: tuple[str, ...] | None = option(
        None, flags=("--fields",), help="comma-separated row fields to scan (default: every string field)")
    id_field: str | None = option(None, help="row field copied into the removed-rows report")
    batch_rows: int = option(512, help="rows per batch at most (~0.8 MB of text: numpy temporaries stay in cache)")
    batch_bytes: int = option(DEFAULT_BATCH_BYTES, type=parse_size,
                              help="bytes of input per batch at most, and of text per numpy pass (default 1MiB; "
                              "a longer row is cut into pieces): memory follows this, not the row size")
    workers: int = option(1, help="worker processes (the parent reads and writes)")


@dataclass
class DecontamStats:
    rows: int = 0
    kept: int = 0
    removed: int = 0
    by_benchmark: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    items_hit: dict[str, int] = field(default_factory=dict)  # benchmark -> distinct items hit
    seconds: float = 0.0
    rejected: int = 0  # malformed lines skipped (--on-bad-row skip)
    rejects: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DecontamFilter:
    """Drops a row that shares an n-gram (or, normalised, the whole problem) with a benchmark. The reason
    is ``ngram`` or ``exact``; the details say which benchmark item, field and text matched."""

    name = "decontaminate"

    def __init__(self, index: NgramIndex, cfg: DecontamConfig):
        self.index = index
        self.cfg = cfg
        self.matcher = Matcher(index, cfg.exact_match, group_bytes=cfg.batch_bytes, piece_chars=cfg.batch_bytes)

    def settings(self) -> dict[str, Any]:
        return {"index": self.index.fingerprint(), "exact_match": self.cfg.exact_match,
                "text_fields": self.cfg.text_fields}

    def decide_batch(self, rows: Sequence[Row]) -> list[Decision]:
        fields = self.cfg.text_fields
        texts: list[list[tuple[str, str]]] = []
        for row in rows:
            pairs = None
            if fields is not None:  # fast path: the named fields are all strings
                try:
                    pairs = [(f, row.data[f]) for f in fields]
                except KeyError:
                    pairs = None
                else:
                    if not all(type(v) is str for _, v in pairs):
                        pairs = None
            if pairs is None:  # slow path with precise errors (or every string field)
                pairs = row_texts(row.data, fields, row.path, row.lineno)
            texts.append(pairs)
        return [KEEP if m is None else Decision(False, m.reason, {k: v for k, v in vars(m).items() if k != "reason"})
                for m in self.matcher.match_batch(texts)]


def decontaminate_file(
    input_path: str | os.PathLike,
    index: NgramIndex,
    kept_path: str | os.PathLike | None,
    removed_path: str | os.PathLike,
    cfg: DecontamConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    max_batches: int | None = None,
    state_every_s: float | None = None,
    on_bad_row: str = "fail",
    max_row_bytes: int | str | None = None,
    checkpoint_rows: int | None = DEFAULT_CHECKPOINT_ROWS,
) -> DecontamStats:
    """Stream ``input_path``; write kept lines (byte-identical) and a JSONL report of removed rows.

    ``kept_path=None`` is report-only mode (contamination of a training file, nothing is written but the
    removed-rows report). Resumable through the step protocol (:func:`synth.selection.step.run_step`):
    the state file ``<removed_path>.state.json`` records what was processed (input offset and line, a
    digest of the input before it, output sizes), saved at the start, every ``checkpoint_rows`` lines,
    when a bad line stops the run and at the end; a rerun with the same input (before the resume
    point), benchmarks and settings truncates the outputs to those sizes and continues, so fixing a bad
    line and rerunning writes exactly what a clean run writes. A finished run is not redone.
    ``on_bad_row="skip"`` records malformed lines in ``<kept or removed>.rejects.jsonl`` instead of
    stopping. Memory follows ``cfg.batch_bytes`` and ``max_row_bytes``, not the size of a row.
    ``max_batches`` stops early (tests use it to simulate an interruption).
    """
    cfg = cfg or DecontamConfig()
    removed_path = Path(removed_path)
    base = Path(kept_path) if kept_path is not None else removed_path
    files = StepFiles(Path(kept_path) if kept_path is not None else None, removed_path,
                      removed_path.with_name(removed_path.name + ".state.json"),
                      base.with_name(base.name + ".rejects.jsonl"))
    report = run_step(
        RowReader(input_path, cfg.batch_rows, cfg.batch_bytes, max_row_bytes, allow_empty=False),
        DecontamFilter(index, cfg), files, log_format="removed", id_field=cfg.id_field, overwrite=overwrite,
        progress=progress, workers=cfg.workers, max_batches=max_batches, state_every_s=state_every_s,
        on_bad_row=on_bad_row, checkpoint_rows=checkpoint_rows,
    )
    return _stats(report, removed_path)


def _stats(report: StepReport, removed_path: Path) -> DecontamStats:
    """Counts per benchmark and distinct benchmark items hit, from the removed-rows report itself (so they
    are right after any number of resumes)."""
    by_benchmark: Counter[str] = Counter()
    items: dict[str, set[str]] = {}
    with open(removed_path, encoding="utf-8") as fh:
        for line in fh:
            m = json.loads(line)
            by_benchmark[m["benchmark"]] += 1
            for key in m["benchmark_ids"] or [f"{m['benchmark']}:{m['benchmark_id']}"]:
                b, _, item = key.partition(":")
                items.setdefault(b, set()).add(item)
    return DecontamStats(
        rows=report.rows, kept=report.kept, removed=report.removed, by_benchmark=dict(by_benchmark),
        by_reason={r: n for r, n in report.reasons.items() if r != KEEP.reason},
        items_hit={b: len(v) for b, v in items.items()}, seconds=report.seconds,
        rejected=report.rejected, rejects=report.rejects,
    )


def contamination_markdown(stats: DecontamStats, index: NgramIndex, input_path: str) -> str:
    """A human-readable contamination table (per benchmark: rows hit, distinct items hit)."""
    lines = [
        f"# Contamination of `{input_path}`",
        "",
        f"{index.n}-gram overlap (normalisation `{index.normalization}`) plus exact match of normalised problems.",
        f"Rows scanned: {stats.rows}; rows matching any benchmark: {stats.removed} "
        f"({100.0 * stats.removed / max(stats.rows, 1):.3f}%).",
        "",
        "| benchmark | items | rows hit | distinct items hit | % of items hit |",
        "|---|---:|---:|---:|---:|",
    ]
    for b, spec in enumerate(index.specs):
        total = index.items_per_bench[b]
        hit_items = stats.items_hit.get(spec.name, 0)
        lines.append(
            f"| {spec.name} | {total} | {stats.by_benchmark.get(spec.name, 0)} | {hit_items} | "
            f"{100.0 * hit_items / max(total, 1):.2f} |"
        )
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.by_reason.items()))
    lines += ["", f"By reason: {reasons or 'none'}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Baseline (for bench/selection.py): the obvious implementation
# --------------------------------------------------------------------------------------------------


class BaselineSetMatcher:
    """Plain Python: a set of benchmark n-gram strings, every row window joined and looked up."""

    def __init__(self, index: NgramIndex):
        self.n = index.n
        self.normalization = index.normalization
        self.grams: set[str] = set()
        for seg in index.segments:
            t = seg.tokens
            for i in range(len(t) - self.n + 1):
                self.grams.add(" ".join(t[i : i + self.n]))
        self.exact = set(index.exact)

    def is_contaminated(self, pairs: Iterable[tuple[str, str]]) -> bool:
        n = self.n
        for _, text in pairs:
            toks = tokenize(text, self.normalization)
            if " ".join(toks) in self.exact:
                return True
            for i in range(len(toks) - n + 1):
                if " ".join(toks[i : i + n]) in self.grams:
                    return True
        return False


__all__ = [
    "BenchmarkSpec", "BUILTIN_BENCHMARKS", "NgramIndex", "Matcher", "Match", "DecontamConfig", "DecontamStats",
    "decontaminate_file", "contamination_markdown", "tokenize", "BaselineSetMatcher", "builtin_benchmark",
    "default_data_dir", "row_texts", "NORMALIZATIONS", "DecontamFilter",
]
