"""Training data: synth rows (or any query/response dataset) -> TRL prompt/completion pairs.

Why this module exists: the SFT prompt must be byte-identical to the prompt our lm-eval tasks render,
so every pair goes through :mod:`skymath_tasks.prompts` (``build_prompt`` / ``completion_for``) and
nothing here formats text on its own. TRL's prompt/completion format then gives completion-only loss.

It also owns what the paper's experiments vary: which sources feed a stage, how many rows (the
scaling curve spans 7.5K to 2.5M) and in what mixture, all seeded so a run can be repeated; and what
happens to rows longer than ``max_length`` (truncated or dropped, always counted and reported).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, JsonlReader, OnError, RejectsWriter
from skymath_tasks.prompts import build_prompt, completion_for

log = logging.getLogger(__name__)

#: Prefix that marks a data source as a Hugging Face Hub dataset: ``hub:NAME[:SPLIT]``.
HUB_PREFIX = "hub:"
OVERLONG_POLICIES = ("truncate", "drop")


class SelectionError(ValueError):
    """A subset/mixture/length request the data cannot satisfy (e.g. more rows than the sources hold)."""


def to_pair(query: str, response: str) -> dict[str, str]:
    """One SFT example in TRL's prompt/completion format, through the shared prompt module."""
    return {"prompt": build_prompt(query), "completion": completion_for(response)}


@dataclass
class SourceStats:
    """What happened to one source while building a stage's training set (goes into the run report)."""

    source: str
    rows_read: int = 0
    rows_filtered_out: int = 0  # rows whose `stage` field did not match the stage filter
    rows_selected: int = 0
    rows_rejected: int = 0  # malformed rows skipped (on_bad_row="skip"), listed in the rejects file


@dataclass
class StageData:
    """The pairs of one stage plus the bookkeeping a person needs to trust the run."""

    pairs: list[dict[str, str]]
    sources: list[SourceStats] = field(default_factory=list)
    origins: list[tuple[str, int]] | None = None  # (source, line) of each pair, for messages
    seed: int = 0
    requested_rows: int | None = None
    weights: list[float] | None = None
    # Filled by `apply_length_policy`:
    max_length: int | None = None
    overlong_policy: str | None = None
    overlong_rows: int = 0
    dropped_rows: int = 0
    truncated_rows: int = 0
    longest_tokens: int = 0  # of rows tokenized whole; a capped row counts what its first `cap` characters give
    capped_rows: int = 0  # rows longer than the character cap: only their start was tokenized (see text_cap)
    text_cap_chars: int | None = None
    rejects: str | None = None  # where malformed rows went (on_bad_row="skip")

    def report(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("pairs")
        out.pop("origins")
        out["rows"] = len(self.pairs)
        return out


def _iter_hub_rows(spec: str) -> Iterator[tuple[int, dict[str, Any]]]:
    from datasets import load_dataset

    name_split = spec[len(HUB_PREFIX):]
    name, _, split = name_split.partition(":")
    if not name:
        raise DataError(spec, None, "empty Hub dataset name (expected hub:NAME[:SPLIT])")
    dataset = load_dataset(name, split=split or "train")
    for index, row in enumerate(dataset, start=1):
        yield index, dict(row)


def iter_source_rows(
    source: str,
    query_field: str = "query",
    response_field: str = "response",
    *,
    on_bad_row: OnError = "fail",
    rejects: RejectsWriter | None = None,
    stats: SourceStats | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_or_row_number, row)`` with the two text columns validated.

    Local files go through the core reader (:class:`skymath_tasks.jsonl_io.JsonlReader`), so a
    malformed line (over the byte limit, not UTF-8, not JSON, a missing or mistyped field) names its
    file and line, and an empty file is an error; Hub rows are numbered from 1 in split order. Empty or
    whitespace-only text is rejected too: such a row would train the model on nothing (or on a bare
    template). ``on_bad_row="skip"`` skips such rows into ``rejects`` and counts them in ``stats``.
    """
    if source.startswith(HUB_PREFIX):
        rows: Iterable[tuple[int, dict[str, Any]]] = _iter_hub_rows(source)
        for lineno, row in rows:
            for name in (query_field, response_field):
                if row.get(name) is None:
                    raise DataError(source, lineno, "missing", field=name)
                if not isinstance(row[name], str):
                    raise DataError(source, lineno, f"expected str, got {type(row[name]).__name__}", field=name)
            _check_not_blank(source, lineno, row, query_field, response_field)
            yield lineno, row
        return
    path = Path(source)
    if not path.is_file():
        raise DataError(source, None, "no such file (use hub:NAME[:SPLIT] for a Hub dataset)")
    reader = JsonlReader(path, required=(query_field, response_field),
                         types={query_field: str, response_field: str}, on_error=on_bad_row, rejects=rejects,
                         allow_empty=False,
                         check=lambda lineno, row: _check_not_blank(source, lineno, row, query_field, response_field))
    yield from reader
    if stats is not None:
        stats.rows_rejected += reader.rejected


def _check_not_blank(source: str, lineno: int, row: dict[str, Any], *fields: str) -> None:
    for name in fields:
        if not row[name].strip():
            raise DataError(source, lineno, "empty text", field=name, reason="empty_text")


def _stage_matches(row: dict[str, Any], wanted: str | None) -> bool:
    return wanted is None or str(row.get("stage", "")).strip().lower() == wanted.strip().lower()


def _quotas(sizes: Sequence[int], weights: Sequence[float] | None, total: int | None) -> list[int]:
    """Rows to take from each source.

    Without ``total`` every row is used. With it, rows are split in proportion to ``weights`` (by
    default the sources' own sizes, i.e. the natural mixture) with largest-remainder rounding so the
    quotas add up to ``total`` exactly.
    """
    if total is None:
        if weights is not None:
            raise SelectionError("mixture weights need a total row count (rows: N) to split")
        return list(sizes)
    if total <= 0:
        raise SelectionError(f"rows must be positive, got {total}")
    if total > sum(sizes):
        raise SelectionError(f"asked for {total} rows but the sources hold only {sum(sizes)}")
    w = list(weights) if weights is not None else [float(s) for s in sizes]
    if len(w) != len(sizes):
        raise SelectionError(f"{len(w)} mixture weights for {len(sizes)} sources")
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise SelectionError(f"mixture weights must be >= 0 with a positive sum, got {w}")
    exact = [total * x / sum(w) for x in w]
    quotas = [math.floor(x) for x in exact]
    order = sorted(range(len(w)), key=lambda i: exact[i] - quotas[i], reverse=True)
    for i in order[: total - sum(quotas)]:
        quotas[i] += 1
    for i, (q, s) in enumerate(zip(quotas, sizes)):
        if q > s:
            raise SelectionError(f"source {i} has {s} rows but the mixture asks for {q} of them")
    return quotas


def load_stage_data(
    sources: Sequence[str],
    *,
    query_field: str = "query",
    response_field: str = "response",
    stage_filter: str | None = None,
    rows: int | None = None,
    weights: Sequence[float] | None = None,
    seed: int = 0,
    on_bad_row: OnError = "fail",
    rejects: str | Path | None = None,
) -> StageData:
    """Read, validate, filter, subsample and convert one stage's sources.

    A malformed row stops the load with ``file:line`` (``on_bad_row="fail"``) or is skipped and listed
    in ``rejects`` (``"skip"``; one JSON line per row: file, line, reason, a cut excerpt).

    Subsets are nested: each source is put in one seeded random order and its quota is a prefix of
    it, so with the same seed and weights the 7.5K subset lies inside the 60K one, which inside the
    360K one, and so on (what a scaling-law curve wants: more data, not different data).
    """
    if not sources:
        raise SelectionError("no data sources given for this stage")
    per_source: list[list[dict[str, str]]] = []
    per_source_lines: list[list[int]] = []
    stats: list[SourceStats] = []
    writer = None
    if rejects is not None and on_bad_row == "skip":
        Path(rejects).unlink(missing_ok=True)  # this load's rejects only
        writer = RejectsWriter(rejects)
    try:
        for source in sources:
            st = SourceStats(source=source)
            pairs: list[dict[str, str]] = []
            lines: list[int] = []
            for lineno, row in iter_source_rows(source, query_field, response_field, on_bad_row=on_bad_row,
                                                rejects=writer, stats=st):
                st.rows_read += 1
                if not _stage_matches(row, stage_filter):
                    st.rows_filtered_out += 1
                    continue
                pairs.append(to_pair(row[query_field], row[response_field]))
                lines.append(lineno)
            if not pairs:
                raise DataError(source, None, f"no usable rows (read {st.rows_read}, rejected {st.rows_rejected}, "
                                f"stage filter {stage_filter!r})", reason="empty")
            per_source.append(pairs)
            per_source_lines.append(lines)
            stats.append(st)
    finally:
        if writer is not None:
            writer.close()

    quotas = _quotas([len(p) for p in per_source], weights, rows)
    selected: list[tuple[dict[str, str], tuple[str, int]]] = []
    for index, (pairs, lines, quota, st) in enumerate(zip(per_source, per_source_lines, quotas, stats)):
        order = list(range(len(pairs)))
        if quota < len(pairs):
            random.Random(f"{seed}:{index}").shuffle(order)
        chosen = sorted(order[:quota])  # keep file order inside a source: easier to audit
        selected.extend((pairs[i], (st.source, lines[i])) for i in chosen)
        st.rows_selected = quota
    if len(per_source) > 1:
        random.Random(seed).shuffle(selected)  # the permutation depends on the length only: as before
    log.info("stage data: %d pairs from %d source(s)", len(selected), len(sources))
    return StageData(
        pairs=[p for p, _ in selected],
        origins=[o for _, o in selected],
        sources=stats,
        seed=seed,
        requested_rows=rows,
        weights=list(weights) if weights is not None else None,
        rejects=str(rejects) if writer is not None and writer.count else None,
    )


def token_length(tokenizer: Any, pair: dict[str, str]) -> int:
    """Length of the sequence TRL will build: prompt + completion + EOS, tokenized as one text."""
    eos = tokenizer.eos_token or ""
    completion = pair["completion"] if pair["completion"].endswith(eos) else pair["completion"] + eos
    return len(tokenizer(text=pair["prompt"] + completion)["input_ids"])


def prompt_length(tokenizer: Any, pair: dict[str, str]) -> int:
    return len(tokenizer(text=pair["prompt"])["input_ids"])


#: Characters kept beyond ``max_length`` tokens' worth when a text is cut before tokenization (the cut
#: never lands inside the first ``max_length`` tokens, so only the last word before it may tokenize
#: differently, and it lies past what TRL keeps).
CAP_MARGIN_CHARS = 1024


def longest_token_chars(tokenizer: Any) -> int:
    """Characters of the longest vocabulary entry: no token stands for more text (byte-level BPE entries
    are one character per byte, so this bounds decoded characters too)."""
    vocab = tokenizer.get_vocab()
    return max((len(t) for t in vocab), default=1) or 1


def text_cap(tokenizer: Any, max_length: int) -> int:
    """Characters of text that are certainly more than ``max_length`` tokens: a text longer than this is
    over-long without tokenizing the rest of it (a 50 MB row took 83 s and 4.7 GB to tokenize whole)."""
    return max_length * longest_token_chars(tokenizer) + CAP_MARGIN_CHARS


def _cut_pair(pair: dict[str, str], cap: int) -> dict[str, str]:
    prompt = pair["prompt"][:cap]
    return {"prompt": prompt, "completion": pair["completion"][: max(0, cap - len(prompt))]}


def apply_length_policy(data: StageData, tokenizer: Any, max_length: int | None, policy: str) -> StageData:
    """Count rows longer than ``max_length`` and drop them, or keep them for truncation.

    With ``truncate`` the row stays and TRL keeps its first ``max_length`` tokens (the end of the
    solution and the EOS are lost); a row whose prompt alone fills ``max_length`` has no completion
    token left and is dropped either way (TRL would drop it silently; we count it).

    Text longer than :func:`text_cap` characters is cut to it before anything is tokenized (it is
    over-long for sure): the time and memory of this step follow ``max_length``, not the row. A kept
    truncated row keeps the cut text, which gives TRL the same first ``max_length`` tokens.
    """
    if policy not in OVERLONG_POLICIES:
        raise SelectionError(f"overlong policy must be one of {OVERLONG_POLICIES}, got {policy!r}")
    data.max_length = max_length
    data.overlong_policy = policy
    if max_length is None:
        return data
    cap = data.text_cap_chars = text_cap(tokenizer, max_length)
    kept: list[dict[str, str]] = []
    kept_origins: list[tuple[str, int]] = []
    origins = data.origins or [("?", 0)] * len(data.pairs)
    total = len(data.pairs)
    first_dropped: tuple[tuple[str, int], int] | None = None
    for pair, origin in zip(data.pairs, origins):
        chars = len(pair["prompt"]) + len(pair["completion"])
        if chars > cap:
            pair = _cut_pair(pair, cap)
            data.capped_rows += 1
        n = token_length(tokenizer, pair)
        data.longest_tokens = max(data.longest_tokens, n)
        if n <= max_length:
            kept.append(pair)
            kept_origins.append(origin)
            continue
        data.overlong_rows += 1
        if policy == "drop" or prompt_length(tokenizer, pair) >= max_length:
            data.dropped_rows += 1
            first_dropped = first_dropped or (origin, chars)
        else:
            data.truncated_rows += 1
            kept.append(pair)
            kept_origins.append(origin)
    data.pairs = kept
    data.origins = kept_origins if data.origins is not None else None
    if data.overlong_rows:
        log.warning(
            "%d of %d rows exceed max_length=%d tokens: %d truncated, %d dropped (%d cut to %d characters first)",
            data.overlong_rows, total, max_length, data.truncated_rows, data.dropped_rows, data.capped_rows, cap,
        )
    if not data.pairs:
        where = ""
        if first_dropped is not None and data.origins is not None:
            (src, line), chars = first_dropped
            where = f" (first: {src}:{line}, {chars} characters)"
        raise SelectionError(f"every row is longer than max_length={max_length} tokens{where}; nothing left to "
                             f"train on (policy {policy!r}; a row whose prompt alone fills max_length is dropped)")
    return data


def to_dataset(data: StageData):
    """A `datasets.Dataset` with exactly the two columns TRL reads."""
    from datasets import Dataset

    return Dataset.from_list(data.pairs)


def pretokenize(data: StageData, tokenizer: Any, max_length: int | None):
    """Tokenize like TRL does (prompt/completion -> input_ids + completion-only labels), truncating.

    Only needed for padding-free batching without packing: TRL then refuses ``max_length`` (it cannot
    enforce it), so the sequences must arrive already cut. The labels reproduce TRL's own recipe:
    the completion starts where the tokenized prompt and prompt+completion diverge.
    """
    from datasets import Dataset

    eos = tokenizer.eos_token or ""
    rows = []
    for pair in data.pairs:
        completion = pair["completion"] if pair["completion"].endswith(eos) else pair["completion"] + eos
        prompt_ids = tokenizer(text=pair["prompt"])["input_ids"]
        ids = tokenizer(text=pair["prompt"] + completion)["input_ids"]
        start = 0
        while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
            start += 1
        labels = [-100] * start + ids[start:]
        if max_length is not None:
            ids, labels = ids[:max_length], labels[:max_length]
        if all(x == -100 for x in labels):
            continue
        rows.append({"input_ids": ids, "labels": labels})
    return Dataset.from_list(rows)
