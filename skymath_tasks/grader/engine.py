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
from typing import Iterable

from skymath_tasks.grader.compare import compare
from skymath_tasks.grader.config import DEFAULT_CONFIG, GraderConfig
from skymath_tasks.grader.numbers import Num
from skymath_tasks.grader.parser import ParseLimit, Seq, parse
from skymath_tasks.metamath import strip_string


@dataclass(frozen=True)
class Verdict:
    equal: bool
    tier: str
    reason: str = ""


_DIGIT_SPACE_DIGIT = re.compile(r"\d\s+\d")
_TRAILING_MOD = re.compile(r"\s*(?:\\pmod\s*\{?\s*\d+\s*\}?|\(\s*(?:\\text\{\s*)?(?:\\)?mod\s*\}?\s*\d+\s*\)"
                           r"|\\(?:bmod|mod)\s*\{?\s*\d+\s*\}?)\s*$")
_CACHE: "OrderedDict[tuple, Verdict]" = OrderedDict()
_CACHE_MAX = 50_000


def _hendrycks_equal(pred: str, gold: str) -> bool:
    if "\\text{ " in pred or "\\text{ " in gold or "=" in pred or "=" in gold:
        return False  # its \\text{ cut equates "1\\text{ or }2" with "1"; its "=" rule "y=5" with "x=5"
    if _DIGIT_SPACE_DIGIT.search(pred) or _DIGIT_SPACE_DIGIT.search(gold):
        return False  # strip_string deletes spaces: "2 0" would equal "20"
    try:
        return strip_string(pred) == strip_string(gold)
    except Exception:
        return False


def _comma_list(text: str, tree, other):
    if isinstance(tree, Num) and isinstance(other, Seq) and other.kind in ("list", "set") and "," in text:
        try:
            return parse(text.replace("{,}", ",").replace(",", ", "))
        except ParseLimit:
            return tree
    return tree


def cheap_verdict(pred: str, gold: str, task: str, cfg: GraderConfig) -> Verdict | None:
    """Tiers 0-3; None when only the symbolic tier can decide."""
    if len(pred) > cfg.max_answer_chars:
        return Verdict(False, "too_long", f"answer longer than {cfg.max_answer_chars} chars")
    if not gold.strip():
        return Verdict(False, "no_gold", "empty gold answer")
    if len(gold) > cfg.max_answer_chars:
        return Verdict(pred.strip() == gold.strip(), "too_long", "gold longer than max_answer_chars: exact match only")
    if pred.strip() == gold.strip():
        return Verdict(True, "exact")
    if _hendrycks_equal(pred, gold):
        return Verdict(True, "normalization", "Hendrycks strip_string equality")
    if "mod" not in gold:  # "12 \\pmod{13}" states the residue 12; the modulus is the question's
        pred = _TRAILING_MOD.sub("", pred)
    try:
        p = parse(pred, max_items=cfg.max_items)
        g = parse(gold, max_items=cfg.max_items)
    except ParseLimit as exc:
        return Verdict(False, "parse_limit", str(exc))
    except RecursionError:
        return Verdict(False, "parse_limit", "recursion limit")
    v = compare(p, g, None)
    if v is False:
        # "70,110" is a number or the list 70, 110: read it as a list when the other side is a list
        p2, g2 = _comma_list(pred, p, g), _comma_list(gold, g, p)
        if p2 is not p or g2 is not g:
            p, g = p2, g2
            v = compare(p, g, None)
    tier = "number" if isinstance(p, Num) and isinstance(g, Num) else "structure"
    if v is True:
        return Verdict(True, tier)
    if v is False:
        return Verdict(False, tier)
    if task == "gsm8k":
        return Verdict(False, "structure", "gsm8k answers must be numbers")
    if not cfg.symbolic:
        return Verdict(False, "undecided", "symbolic tier disabled")
    from skymath_tasks.grader.symbolic import guard_reason

    for side, text in (("answer", pred), ("gold", gold)):
        why = guard_reason(text, cfg)
        if why:
            return Verdict(False, "guard", f"{side}: {why}")
    return None


def symbolic_compare(pred: str, gold: str, max_items: int = 64) -> tuple[bool, str, str]:
    """Worker-side: the same tree comparison with a SymPy prover on undecided leaves."""
    from skymath_tasks.grader.symbolic import SympyProver

    prover = SympyProver()
    try:
        v = compare(parse(pred, max_items=max_items), parse(gold, max_items=max_items), prover)
    except (ParseLimit, RecursionError) as exc:
        return False, "parse_limit", str(exc)
    return bool(v), "symbolic", prover.last_reason


def _symbolic_inprocess(pred: str, gold: str, cfg: GraderConfig) -> Verdict:
    ok, tier, reason = symbolic_compare(pred, gold, cfg.max_items)
    return Verdict(ok, tier, reason + " (no isolation)")


def equivalent_many(pairs: Iterable[tuple[str, str]], task: str = "math",
                    cfg: GraderConfig = DEFAULT_CONFIG) -> list[Verdict]:
    """Verdicts for (pred, gold) pairs; undecided ones go to the worker pool together."""
    pairs = list(pairs)
    out: list[Verdict | None] = [None] * len(pairs)
    todo: list[int] = []
    for i, (pred, gold) in enumerate(pairs):
        key = (pred, gold, task, cfg)
        if key in _CACHE:
            out[i] = _CACHE[key]
            continue
        v = cheap_verdict(pred, gold, task, cfg)
        if v is None:
            todo.append(i)
        else:
            out[i] = v
    if todo:
        if not cfg.isolation:
            for i in todo:
                out[i] = _symbolic_inprocess(pairs[i][0], pairs[i][1], cfg)
        else:
            from skymath_tasks.grader.pool import get_pool

            pool = get_pool(cfg.memory_mb, cfg.spares)
            jobs = [{"op": "compare", "pred": pairs[i][0], "gold": pairs[i][1], "max_items": cfg.max_items}
                    for i in todo]
            results = pool.run_many(jobs, cfg.timeout_s, cfg.workers)
            for i, r in zip(todo, results):
                out[i] = Verdict(r.ok, r.tier, r.reason)
        for i in todo:
            _CACHE[(pairs[i][0], pairs[i][1], task, cfg)] = out[i]  # type: ignore[assignment]
            if len(_CACHE) > _CACHE_MAX:
                _CACHE.popitem(last=False)
    return [v if v is not None else Verdict(False, "error", "no verdict") for v in out]


def equivalent(pred: str, gold: str, task: str = "math", cfg: GraderConfig = DEFAULT_CONFIG) -> Verdict:
    """Is the extracted answer ``pred`` equivalent to ``gold``? Precision first: unsure means no."""
    return equivalent_many([(pred, gold)], task, cfg)[0]


def clear_cache() -> None:
    _CACHE.clear()
