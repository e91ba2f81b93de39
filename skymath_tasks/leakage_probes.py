"""Contamination probes that need no training data: the lm-eval tasks ``skymath_contam_*``.

Two published probes, computed per test item and on a reference twin of it, so the figure is a gap:

* **n-gram accuracy** (Xu et al. 2024, "Benchmarking Benchmark Leakage in Large Language Models"): at
  cut points spread over problem + reference solution, does greedy decoding reproduce the next
  :data:`N_GRAM` words exactly? A model trained on the item does far more often.
* **Min-K% Prob** (Shi et al. 2023, "Detecting Pretraining Data from Large Language Models"): the mean
  log-probability of the :data:`MIN_K` least likely units of the item; seen text has few surprises.

The reference twin of an item is the same problem with other numbers, its solution recomputed
exactly (:mod:`skymath_tasks.number_twins`): equally easy for a model that has seen neither, never
seen by anyone. The gap is the mean over items of ``score(item) - score(twin)``, with a bootstrap
interval over items, and a plain-words reading (:func:`reading`).

What lm-eval 0.4.13 exposes, and the design that follows from it: a backend answers
``loglikelihood(context, continuation)`` with ``(sum of the continuation's token log-probs, whether
greedy decoding would produce exactly the continuation)``, ``loglikelihood_rolling`` with a sum, and
``generate_until`` with text; no request type returns per-token log-probs. So a text (problem +
solution) is cut into *units* of :data:`UNIT_WORDS` words (a word = a non-space run with the
whitespace before it; the first word is context only), and each unit is one ``loglikelihood``
request whose context is the whole text before it. For every unit that gives exactly

* ``log p(unit | everything before)``, the sum of the model's token log-probs over the unit's tokens
  (the backend tokenises context + unit together and splits at the context's length), and
* ``greedy(unit)``: the model's argmax continuation, teacher-forced on the true prefix, is the unit.

**n-gram accuracy**: with units of 5 words, ``greedy(unit)`` *is* the 5-gram test at that cut point
("greedy generation from here reproduces the next 5 words", up to a model that would write the same
characters with other tokens), so every unit is a cut point: about words/5 cut points per text,
evenly spaced, instead of Xu et al.'s 5 (more evidence per item, same event), and no
``generate_until`` call. With ``unit_words = 1`` the 5-gram flag is the AND of 5 word flags: the
same cut points, the same statistic.

**Min-K%** is taken over units instead of tokens (the approximation): a unit's score is its log-prob
per word, and the text's score the mean of its :data:`MIN_K` lowest. With 5-word units a surprising
number lowers its whole unit; ``--metadata '{"unit_words": 1}'`` gives word resolution (a rare long
word still counts once, with the probability of all its tokens) at five times the cost. Both are
tokenizer-independent, so every backend with loglikelihood support (hf, vllm, local-completions with
a tokenizer, gguf, ...) gives comparable figures; bench/contamination_calibration.py compares them
with token-level Min-K% computed directly from the model.

Cost: one request per unit, the context growing along the text: about words^2 / (2 * unit_words)
words of requests per text (GSM8K: ~100 words a text, 2638 texts: ~2.6M words with 5-word units);
backends with prefix caching (vLLM) pay little more than one pass over the texts.

Every document is one unit of one text; ``process_results`` returns the same small tuple for every
metric (lm-eval mis-weights metrics that only some documents return) and the aggregation functions
below regroup them per item. Evaluation layer: imports the core, the gold rules and the data loaders.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from skymath_tasks.gold import gsm8k_gold, gsm8k_reasoning
from skymath_tasks.number_twins import gsm8k_twin, math_twin

#: words per n-gram (Xu et al. 2024 use 5-grams, at K=5 starting points; we test every 5th word)
N_GRAM = 5
#: words per request; must divide N_GRAM (1 = word-level Min-K%, five times the requests)
UNIT_WORDS = 5
#: share of the least likely words Min-K% averages (Shi et al. 2023 recommend k = 20%)
MIN_K = 0.2
#: words scored per text at most (bounds the quadratic cost on long MATH solutions)
MAX_WORDS = 256
#: bootstrap resamples of items for the interval, its coverage, and its seed
BOOTSTRAP = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20241118

TEST, REFERENCE = 0, 1
SETS = ("test", "reference")
_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class ProbeTask:
    """A probe task: which benchmark's test items it probes and which part of them."""

    task: str
    benchmark: str
    part: str  # what of each item is probed, in words
    title: str


_BOTH = "problem + worked solution (the problem only where the twin's solution cannot be recomputed exactly)"
#: every probe task of task_configs/ (skymath_contam_*.yaml)
PROBE_TASKS: dict[str, ProbeTask] = {t.task: t for t in (
    ProbeTask("skymath_contam_gsm8k", "gsm8k", _BOTH, "GSM8K test"),
    ProbeTask("skymath_contam_math", "math", "problem statements", "MATH test"),
    ProbeTask("skymath_contam_math500", "math500", "problem statements", "MATH-500"),
    ProbeTask("skymath_contam_demo", "demo", _BOTH, "SkyMath sample problems"),
)}

#: the probe whose gap is the headline figure of a model (see docs/contamination.md for the choice)
HEADLINE = "ngram"

#: what each probe measures, for reports
METHODS: dict[str, str] = {
    "ngram": f"{N_GRAM}-gram accuracy of greedy continuation at every {N_GRAM}th word, test item minus its "
             "number-changed twin (Xu et al. 2024)",
    "mink": f"Min-{round(MIN_K * 100)}% log-probability per word over {UNIT_WORDS}-word units, test item minus "
            "its number-changed twin (Shi et al. 2023)",
}


# ----------------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class ProbePair:
    """One test item and its reference twin, as the texts the probes score."""

    pair: int
    item_id: str
    test_text: str
    reference_text: str
    part: str  # "problem+solution" or "problem" (when no exact twin solution exists)


def gsm8k_text(question: str, answer: str) -> str:
    """A GSM8K item as probed: the problem, the worked solution without calculator annotations, the
    ``#### n`` line (how the public files write it)."""
    return f"{question.strip()}\n{gsm8k_reasoning(answer)}\n#### {gsm8k_gold(answer)}"


def gsm8k_pairs(rows: Sequence[dict[str, Any]], *, twin_seed: int | str = 0) -> list[ProbePair]:
    """Pairs of GSM8K-format rows (``question``, ``answer``); rows without a number to change are left out."""
    out = []
    for i, row in enumerate(rows):
        key = str(row.get("index", i))
        twin = gsm8k_twin(row["question"], row["answer"], key=key, seed=twin_seed)
        if twin is None:
            continue
        if twin.answer is not None:
            test, ref, part = gsm8k_text(row["question"], row["answer"]), gsm8k_text(twin.question, twin.answer), \
                "problem+solution"
        else:
            test, ref, part = row["question"].strip(), twin.question.strip(), "problem"
        out.append(ProbePair(len(out), key, test, ref, part))
    return out


def math_pairs(rows: Sequence[dict[str, Any]], *, twin_seed: int | str = 0) -> list[ProbePair]:
    """Pairs of MATH rows: the problem statements only (a changed problem has no recomputable solution)."""
    out = []
    for i, row in enumerate(rows):
        key = str(row.get("unique_id") or i)
        twin = math_twin(row["problem"], key=key, seed=twin_seed)
        if twin is not None:
            out.append(ProbePair(len(out), key, row["problem"].strip(), twin.question.strip(), "problem"))
    return out


def load_pairs(task: str, data_dir: Any = None, *, max_items: int | None = None,
               twin_seed: int | str = 0) -> list[ProbePair]:
    """The pairs a probe task scores: its benchmark's test items (the first ``max_items``) and their twins."""
    from skymath_tasks import data

    bench = PROBE_TASKS[task].benchmark
    if bench == "gsm8k":
        rows = data.load_gsm8k("test", data_dir)
    elif bench == "demo":
        rows = data.load_sample_problems()
    elif bench == "math":
        rows = data.load_math(None, "test", data_dir)
    elif bench == "math500":
        rows = data.load_math500(data_dir)
    else:  # pragma: no cover - PROBE_TASKS names only the benchmarks above
        raise KeyError(bench)
    if max_items is not None:
        rows = rows[: int(max_items)]
    return gsm8k_pairs(rows, twin_seed=twin_seed) if bench in ("gsm8k", "demo") else math_pairs(rows, twin_seed=twin_seed)


def words(text: str) -> list[str]:
    """The units of a text: each non-space run with the whitespace before it (their join is the text,
    leading whitespace aside)."""
    return _WORD.findall(text)


def unit_documents(pairs: Sequence[ProbePair], unit_words: int = UNIT_WORDS,
                   max_words: int = MAX_WORDS) -> list[dict[str, Any]]:
    """One document per unit of ``unit_words`` words: ``context`` = the text before it, ``continuation``
    = the unit (its leading whitespace included).

    The first word of a text is context only (a request needs a context). ``units`` (the text's unit
    count) tells the aggregation when a text is complete, since ``--limit`` can cut one short; ``words``
    is the unit's word count (the last unit of a text may be shorter).
    """
    if unit_words < 1 or N_GRAM % unit_words:
        raise ValueError(f"unit_words must divide {N_GRAM} (1 or {N_GRAM}), got {unit_words}")
    docs = []
    for p in pairs:
        for s, text in ((TEST, p.test_text), (REFERENCE, p.reference_text)):
            ws = words(text)[:max_words]
            chunks = [ws[j: j + unit_words] for j in range(1, len(ws), unit_words)]
            prefix = ws[0] if ws else ""
            for u, chunk in enumerate(chunks):
                cont = "".join(chunk)
                docs.append({"pair": p.pair, "set": SETS[s], "item": p.item_id, "part": p.part, "unit": u,
                             "units": len(chunks), "words": len(chunk), "context": prefix, "continuation": cont})
                prefix += cont
    return docs


def task_dataset(task: str) -> Callable[..., Any]:
    """The ``custom_dataset`` of a probe task. Metadata keys: ``data_dir``, ``max_items`` (probe the first
    N test items), ``twin_seed`` (another draw of twins), ``unit_words`` (1: word-level Min-K%)."""
    if task not in PROBE_TASKS:
        raise KeyError(f"unknown probe task {task!r}; known: {sorted(PROBE_TASKS)}")

    def load(data_dir: str | None = None, max_items: int | None = None, twin_seed: int | str = 0,
             unit_words: int = UNIT_WORDS, **_: Any):
        from datasets import Dataset, DatasetDict

        pairs = load_pairs(task, data_dir, max_items=max_items, twin_seed=twin_seed)
        if not pairs:
            raise ValueError(f"{task}: no test item with a number to change (nothing to probe)")
        return DatasetDict({"test": Dataset.from_list(unit_documents(pairs, int(unit_words)))})

    load.__name__ = load.__qualname__ = f"load_{task}"
    return load


# ----------------------------------------------------------------------------------------- lm-eval hooks
def doc_to_text(doc: dict[str, Any]) -> str:
    return doc["context"]


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["continuation"]


#: metric -> the figure its aggregation computes (every document returns the same value for each)
METRICS: tuple[str, ...] = (
    "ngram_gap", "ngram_gap_lo", "ngram_gap_hi", "ngram_test", "ngram_reference",
    "mink_gap", "mink_gap_lo", "mink_gap_hi", "mink_test", "mink_reference", "pairs",
)


def process_results(doc: dict[str, Any], results: Sequence[Any]) -> dict[str, Any]:
    """``[pair, set, unit, units, words, log-prob, greedy]`` of the document's unit, for every metric."""
    ll, greedy = results[0]
    value = [int(doc["pair"]), SETS.index(doc["set"]), int(doc["unit"]), int(doc["units"]), int(doc["words"]),
             round(float(ll), 4), int(bool(greedy))]
    return {m: value for m in METRICS}


# ----------------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class TextScores:
    ngram: float | None  # share of the text's 5-grams (at every 5th word) greedy decoding reproduces
    mink: float | None  # mean of the MIN_K lowest per-word log-probs of its units


@dataclass(frozen=True)
class Unit:
    words: int
    ll: float  # log-prob of the unit given the text before it
    greedy: bool


def text_scores(units: Sequence[Unit], n: int = N_GRAM, min_k: float = MIN_K) -> TextScores:
    """Scores of one text from its units in order (units of 1 word or of ``n`` words).

    n-gram accuracy: the text's words after the first are cut into consecutive n-grams (every n-th
    word is a cut point); an n-gram counts when greedy decoding reproduces all of it; a last, shorter
    piece is no n-gram. Min-K%: the mean of the ``min_k`` share (at least one) of the lowest per-word
    unit log-probs.
    """
    grams: list[bool] = []
    run_words, run_ok = 0, True
    for u in units:
        run_words += u.words
        run_ok = run_ok and u.greedy
        if run_words >= n:
            grams.append(run_ok)
            run_words, run_ok = 0, True
    ngram = sum(grams) / len(grams) if grams else None
    per_word = sorted(u.ll / u.words for u in units if u.words)
    mink = None
    if per_word:
        lowest = per_word[: max(1, math.ceil(min_k * len(per_word)))]
        mink = sum(lowest) / len(lowest)
    return TextScores(ngram, mink)


@dataclass(frozen=True)
class PairScores:
    pair: int
    test: TextScores
    reference: TextScores

    def diff(self, probe: str) -> float | None:
        a, b = getattr(self.test, probe), getattr(self.reference, probe)
        return None if a is None or b is None else a - b


def pair_scores(values: Sequence[Sequence[Any]]) -> list[PairScores]:
    """The per-document values regrouped into pairs whose two texts are complete, ordered by pair
    (the order of ``values`` does not matter: multi-process runs gather them in any order)."""
    texts: dict[tuple[int, int], dict[int, Unit]] = {}
    counts: dict[tuple[int, int], int] = {}
    for pair, s, unit, n_units, n_words, ll, greedy in values:
        key = (int(pair), int(s))
        texts.setdefault(key, {})[int(unit)] = Unit(int(n_words), float(ll), bool(greedy))
        counts[key] = int(n_units)
    out = []
    for pair in sorted({p for p, _ in texts}):
        scored = []
        for s in (TEST, REFERENCE):
            units = texts.get((pair, s))
            if not units or len(units) != counts[(pair, s)]:
                break
            scored.append(text_scores([units[j] for j in sorted(units)]))
        if len(scored) == 2:
            out.append(PairScores(pair, scored[0], scored[1]))
    return out


@dataclass(frozen=True)
class GapStats:
    """A probe's gap over the pairs of a run."""

    probe: str
    gap: float | None
    lo: float | None
    hi: float | None
    test: float | None
    reference: float | None
    n: int


def bootstrap_interval(diffs: Sequence[float], *, resamples: int = BOOTSTRAP, confidence: float = CONFIDENCE,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | tuple[None, None]:
    """Percentile bootstrap interval of the mean of ``diffs`` (resampling items), seeded: the same
    numbers on every run."""
    import numpy as np

    if not diffs:
        return None, None
    x = np.asarray(diffs, dtype=float)
    rng = np.random.Generator(np.random.PCG64(seed))
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def gap_stats(pairs: Sequence[PairScores], probe: str) -> GapStats:
    rows = [(p.diff(probe), getattr(p.test, probe), getattr(p.reference, probe)) for p in pairs]
    rows = [r for r in rows if r[0] is not None]
    if not rows:
        return GapStats(probe, None, None, None, None, None, 0)
    diffs = [r[0] for r in rows]
    lo, hi = bootstrap_interval(diffs)
    n = len(rows)
    return GapStats(probe, sum(diffs) / n, lo, hi, sum(r[1] for r in rows) / n, sum(r[2] for r in rows) / n, n)


#: reading thresholds on the lower end of the interval, per probe (units of the probe's score: a share
#: of cut points for n-gram accuracy, nats for Min-K%); calibrated in docs/contamination.md
THRESHOLDS: dict[str, tuple[float, float]] = {"ngram": (0.01, 0.05), "mink": (0.05, 0.5)}
READINGS = ("no sign", "some items likely memorised", "strong sign")


def reading(stats: GapStats) -> str:
    """Plain words for a gap: "no sign" unless the interval's lower end clears the first threshold,
    "strong sign" when it clears the second, else "some items likely memorised"."""
    if stats.lo is None:
        return READINGS[0]
    some, strong = THRESHOLDS[stats.probe]
    if stats.lo >= strong:
        return READINGS[2]
    if stats.lo >= some:
        return READINGS[1]
    return READINGS[0]


#: item-level rule: an item is "likely memorised" when its score minus its twin's is at least this
#: (n-gram accuracy: a share of cut points; Min-K%: nats per word); calibrated in docs/contamination.md
ITEM_THRESHOLDS: dict[str, float] = {"ngram": 0.2, "mink": 0.5}


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half): the area
    under the ROC curve, as the Mann-Whitney statistic. None when a side is empty."""
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        for q in negatives:
            wins += 1.0 if p > q else 0.5 if p == q else 0.0
    return wins / (len(positives) * len(negatives))


# ----------------------------------------------------------------------------------------- aggregations
def _aggregation(probe: str, field: str) -> Callable[[Sequence[Any]], float | None]:
    def aggregate(values: Sequence[Any]) -> float | None:
        return getattr(gap_stats(pair_scores(values), probe), field)

    aggregate.__name__ = aggregate.__qualname__ = f"{probe}_{field}"
    return aggregate


def pairs_complete(values: Sequence[Any]) -> int:
    """Items probed (test item and twin both complete): the ``n`` of the intervals. A count, reported
    because an interval is unreadable without it."""
    return len(pair_scores(values))


AGGREGATIONS: dict[str, Callable[[Sequence[Any]], Any]] = {
    **{f"{probe}_{name}": _aggregation(probe, field) for probe in ("ngram", "mink")
       for name, field in (("gap", "gap"), ("gap_lo", "lo"), ("gap_hi", "hi"), ("test", "test"),
                           ("reference", "reference"))},
    "pairs": pairs_complete,
}


def summary(stats: GapStats, task: str) -> dict[str, Any]:
    """The block other parts of SkyMath show (report column, submissions, leaderboard)."""
    return {"gap": stats.gap, "interval": [stats.lo, stats.hi], "reading": reading(stats), "n_items": stats.n,
            "method": f"{METHODS[stats.probe]}; {PROBE_TASKS[task].title}: {PROBE_TASKS[task].part}"}


__all__ = [
    "N_GRAM", "UNIT_WORDS", "MIN_K", "MAX_WORDS", "PROBE_TASKS", "HEADLINE", "METHODS", "METRICS", "AGGREGATIONS",
    "THRESHOLDS", "READINGS", "ProbeTask", "ProbePair", "TextScores", "Unit", "PairScores", "GapStats",
    "gsm8k_text", "gsm8k_pairs", "math_pairs", "load_pairs", "words", "unit_documents", "task_dataset",
    "doc_to_text", "doc_to_target", "process_results", "text_scores", "pair_scores",
    "bootstrap_interval", "gap_stats", "reading", "pairs_complete", "summary", "ITEM_THRESHOLDS", "roc_auc",
]
