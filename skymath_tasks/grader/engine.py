"""The tiered equivalence engine: cheap tiers in-process, the symbolic tier in the worker pool.

Tier order (the first that decides wins; ``tier`` in the verdict names it):

1. ``normalization``: Hendrycks/MetaMath ``strip_string`` equality (positives only, and not when its
   ``\\text{ `` truncation fired, which would equate ``1\\text{ or }2`` with ``1``).
2. ``number``: both sides are plain numbers -> exact rational comparison (percent rule).
3. ``structure``: lists/sets/tuples/intervals/matrices/equations/choices/text compared item by item,
   expression leaves by their normalised strings.
4. ``symbolic``: leaves still undecided go, with the whole item, to a killable worker process.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Sequence

from skymath_tasks.grader.compare import compare
from skymath_tasks.grader.config import DEFAULT_CONFIG, GraderConfig
from skymath_tasks.grader.numbers import Num
from skymath_tasks.grader.parser import ParseLimit, Seq, parse
from skymath_tasks.grader.units import NO_CONTEXT, Context, context_from_question
from skymath_tasks.metamath import strip_string


@dataclass(frozen=True)
class Equivalence:
    """Are two final answers the same answer, which tier decided, and why."""

    equal: bool
    tier: str
    reason: str = ""


_DIGIT_SPACE_DIGIT = re.compile(r"\d\s+\d")
_TRAILING_MOD = re.compile(r"\s*(?:\\pmod\s*\{?\s*\d+\s*\}?|\(\s*(?:\\text\{\s*)?(?:\\)?mod\s*\}?\s*\d+\s*\)"
                           r"|\\(?:bmod|mod)\s*\{?\s*\d+\s*\}?)\s*$")
_CACHE: "OrderedDict[tuple, Equivalence]" = OrderedDict()
_CACHE_MAX = 50_000


def _hendrycks_equal(pred: str, gold: str) -> bool:
    if "\\text{ " in pred or "\\text{ " in gold or "=" in pred or "=" in gold:
        return False  # its \\text{ cut equates "1\\text{ or }2" with "1"; its "=" rule "y=5" with "x=5"
    if "%" in pred or "%" in gold:
        return False  # it deletes "\\%": the number tier owns the one reading of percent
    if _DIGIT_SPACE_DIGIT.search(pred) or _DIGIT_SPACE_DIGIT.search(gold):
        return False  # strip_string deletes spaces: "2 0" would equal "20"
    try:
        return strip_string(pred) == strip_string(gold)
    except Exception:
        return False


def _comma_list(text: str, tree, other, ctx: Context):
    if isinstance(tree, Num) and isinstance(other, Seq) and other.kind in ("list", "set") and "," in text:
        try:
            return parse(text.replace("{,}", ",").replace(",", ", "), ctx=ctx)
        except ParseLimit:
            return tree
    return tree


def cheap_verdict(pred: str, gold: str, task: str, cfg: GraderConfig,
                  ctx: Context = NO_CONTEXT) -> Equivalence | None:
    """Tiers 0-3; None when only the symbolic tier can decide."""
    if len(pred) > cfg.max_answer_chars:
        return Equivalence(False, "too_long", f"answer longer than {cfg.max_answer_chars} chars")
    if not gold.strip():
        return Equivalence(False, "no_gold", "empty gold answer")
    if len(gold) > cfg.max_answer_chars:
        return Equivalence(pred.strip() == gold.strip(), "too_long", "gold longer than max_answer_chars: exact match only")
    if pred.strip() == gold.strip():
        return Equivalence(True, "exact")
    if _hendrycks_equal(pred, gold):
        return Equivalence(True, "normalization", "Hendrycks strip_string equality")
    if "mod" not in gold:  # "12 \\pmod{13}" states the residue 12; the modulus is the question's
        pred = _TRAILING_MOD.sub("", pred)
    try:
        p = parse(pred, max_items=cfg.max_items, ctx=ctx)
        g = parse(gold, max_items=cfg.max_items, ctx=ctx)
    except ParseLimit as exc:
        return Equivalence(False, "parse_limit", str(exc))
    except RecursionError:
        return Equivalence(False, "parse_limit", "recursion limit")
    v = compare(p, g, None)
    if v is False:
        # "70,110" is a number or the list 70, 110: read it as a list when the other side is a list
        p2, g2 = _comma_list(pred, p, g, ctx), _comma_list(gold, g, p, ctx)
        if p2 is not p or g2 is not g:
            p, g = p2, g2
            v = compare(p, g, None)
    tier = "number" if isinstance(p, Num) and isinstance(g, Num) else "structure"
    if v is True:
        return Equivalence(True, tier)
    if v is False:
        return Equivalence(False, tier)
    if task == "gsm8k":
        return Equivalence(False, "structure", "gsm8k answers must be numbers")
    if not cfg.symbolic:
        return Equivalence(False, "undecided", "symbolic tier disabled")
    from skymath_tasks.grader.symbolic import guard_reason

    for side, text in (("answer", pred), ("gold", gold)):
        why = guard_reason(text, cfg)
        if why:
            return Equivalence(False, "guard", f"{side}: {why}")
    return None


def symbolic_compare(pred: str, gold: str, max_items: int = 64,
                     ctx: Context = NO_CONTEXT) -> tuple[bool, str, str]:
    """Worker-side: the same tree comparison with a SymPy prover on undecided leaves."""
    from skymath_tasks.grader.symbolic import SympyProver

    prover = SympyProver()
    try:
        v = compare(parse(pred, max_items=max_items, ctx=ctx), parse(gold, max_items=max_items, ctx=ctx), prover)
    except (ParseLimit, RecursionError) as exc:
        return False, "parse_limit", str(exc)
    return bool(v), "symbolic", prover.last_reason


def _symbolic_inprocess(pred: str, gold: str, cfg: GraderConfig, ctx: Context) -> Equivalence:
    ok, tier, reason = symbolic_compare(pred, gold, cfg.max_items, ctx)
    return Equivalence(ok, tier, reason + " (no isolation)")


def equivalent_many(pairs: Iterable[tuple[str, str]], task: str = "math",
                    cfg: GraderConfig = DEFAULT_CONFIG,
                    questions: Sequence[str | None] | None = None) -> list[Equivalence]:
    """Verdicts for (pred, gold) pairs; undecided ones go to the worker pool together.

    ``questions`` (optional, one per pair) are the problem texts: a noun a problem uses may follow a
    number as its unit ("12 apples"), and a unit the problem asks for must not be swapped for another.
    """
    pairs = list(pairs)
    if questions is not None and len(questions) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(questions)} questions")
    ctxs = [context_from_question(q) for q in questions] if questions is not None else [NO_CONTEXT] * len(pairs)
    out: list[Equivalence | None] = [None] * len(pairs)
    todo: list[int] = []
    for i, (pred, gold) in enumerate(pairs):
        key = (pred, gold, task, cfg, ctxs[i])
        if key in _CACHE:
            out[i] = _CACHE[key]
            continue
        v = cheap_verdict(pred, gold, task, cfg, ctxs[i])
        if v is None:
            todo.append(i)
        else:
            out[i] = v
    if todo:
        if not cfg.isolation:
            for i in todo:
                out[i] = _symbolic_inprocess(pairs[i][0], pairs[i][1], cfg, ctxs[i])
        else:
            from skymath_tasks.grader.pool import get_pool

            pool = get_pool(cfg.memory_mb, cfg.spares)
            jobs = [{"op": "compare", "pred": pairs[i][0], "gold": pairs[i][1], "max_items": cfg.max_items,
                     "ctx": ctxs[i].to_job()} for i in todo]
            results = pool.run_many(jobs, cfg.timeout_s, cfg.workers)
            for i, r in zip(todo, results):
                out[i] = Equivalence(r.ok, r.tier, r.reason)
        for i in todo:
            _CACHE[(pairs[i][0], pairs[i][1], task, cfg, ctxs[i])] = out[i]  # type: ignore[assignment]
            if len(_CACHE) > _CACHE_MAX:
                _CACHE.popitem(last=False)
    return [v if v is not None else Equivalence(False, "error", "no verdict") for v in out]


def equivalent(pred: str, gold: str, task: str = "math", cfg: GraderConfig = DEFAULT_CONFIG,
               question: str | None = None) -> Equivalence:
    """Is the extracted answer ``pred`` equivalent to ``gold``? Precision first: unsure means no."""
    return equivalent_many([(pred, gold)], task, cfg, None if question is None else [question])[0]


def clear_cache() -> None:
    _CACHE.clear()
