"""Tree comparison shared by the cheap in-process pass and the symbolic worker.

``compare(pred, gold, prover)`` returns True / False / None. None means "undecided without symbolic
work": only Expr leaves whose normalised strings differ produce it. The in-process pass runs with
``prover=None``; the worker runs the same code with a prover, so both passes agree on structure.
"""

from __future__ import annotations

import re
from typing import Callable, Optional, Protocol

from skymath_tasks.grader.numbers import Num
from skymath_tasks.grader.parser import (
    UNORDERED,
    Choice,
    Empty,
    Eq,
    Expr,
    Interval,
    Matrix,
    Seq,
    Text,
    Time,
    as_time,
)

#: True / False / None (None: undecided without the symbolic tier)
Tri = Optional[bool]


class Prover(Protocol):
    """Interface of the symbolic tier (implemented by :class:`skymath_tasks.grader.symbolic.SympyProver`)."""

    def leaf(self, pred: str, gold: str) -> bool: ...

    def relation(self, p_lhs: str, p_rhs: str, g_lhs: str, g_rhs: str) -> bool: ...


def _latex_of(node) -> str | None:
    if isinstance(node, Expr):
        return node.latex
    if isinstance(node, Num):
        v = node.value
        s = str(v.numerator) if v.denominator == 1 else f"\\frac{{{v.numerator}}}{{{v.denominator}}}"
        return s + ("\\%" if node.percent else "")
    return None


def _all(verdicts) -> Tri:
    undecided = False
    for v in verdicts:
        if v is False:
            return False
        if v is None:
            undecided = True
    return None if undecided else True


def compare(p, g, prover: Prover | None = None) -> Tri:
    if isinstance(p, Empty) or isinstance(g, Empty):
        return False
    # equations / assignments
    if isinstance(g, Eq) or isinstance(p, Eq):
        return _compare_eq(p, g, prover)
    if isinstance(p, Num) and isinstance(g, Num):
        return p.equals(g)
    if isinstance(p, Time) or isinstance(g, Time):
        pt, gt = as_time(p), as_time(g)
        return pt is not None and gt is not None and pt == gt
    if isinstance(p, Text) or isinstance(g, Text):
        return isinstance(p, Text) and isinstance(g, Text) and p.words == g.words
    if isinstance(g, Choice) or isinstance(p, Choice):
        letter = lambda n: n.letter if isinstance(n, Choice) else (n.latex if isinstance(n, Expr) else None)  # noqa: E731
        lp, lg = letter(p), letter(g)
        return lp is not None and lp == lg and len(lp) == 1
    if isinstance(p, Seq) and isinstance(g, Seq):
        return _compare_seq(p, g, prover)
    if isinstance(g, Matrix) or isinstance(p, Matrix):
        pr, gr = _as_rows(p, g), _as_rows(g, p)
        if pr is None or gr is None or len(pr) != len(gr) or any(len(a) != len(b) for a, b in zip(pr, gr)):
            return False
        return _all(compare(a, b, prover) for ra, rb in zip(pr, gr) for a, b in zip(ra, rb))
    if isinstance(g, Interval) or isinstance(p, Interval):
        pi, gi = _as_interval(p), _as_interval(g)
        if pi is None or gi is None:
            return False
        if pi.left_closed != gi.left_closed or pi.right_closed != gi.right_closed:
            return False
        return _all([compare(pi.lo, gi.lo, prover), compare(pi.hi, gi.hi, prover)])
    if isinstance(p, Seq) or isinstance(g, Seq):
        return False
    lp, lg = _latex_of(p), _latex_of(g)
    if lp is None or lg is None:
        return False
    if isinstance(p, Expr) and isinstance(g, Expr) and p.key == g.key:
        return True
    if (isinstance(p, Expr) and p.words) or (isinstance(g, Expr) and g.words):
        return False  # a plain word is no mathematics: only an identical spelling equals it
    if prover is None:
        return None
    return prover.leaf(lp, lg)


def _chain_holds(n, prover) -> Tri:
    """Every side of an equation chain that has a value equals its final side (``2+2=5`` fails)."""
    if not isinstance(n, Eq) or not n.checks:
        return True
    return _all(compare(c, n.value, prover) for c in n.checks)


def _compare_eq(p, g, prover) -> Tri:
    chains = _all([_chain_holds(p, prover), _chain_holds(g, prover)])
    if chains is False:
        return False
    v = _compare_eq_values(p, g, prover)
    return _all([chains, v])


def _compare_eq_values(p, g, prover) -> Tri:
    if isinstance(p, Eq) and p.relation and not (isinstance(g, Eq) and g.relation):
        return False  # "x+1=5" states x = 4, not the value 5: an equation is no value
    if isinstance(p, Eq) and p.foreign and not (isinstance(g, Eq) and g.var == p.var):
        return False  # "y = 5" when the question asks for x
    if isinstance(g, Eq) and g.relation:
        # a genuine equation (a line, a plane, a circle): the prediction must be an equation too
        if not (isinstance(p, Eq) and (p.relation or p.var is not None)):
            return False
        from skymath_tasks.grader.normalize import leaf_key

        if leaf_key(p.lhs) == leaf_key(g.lhs) and leaf_key(p.rhs) == leaf_key(g.rhs):
            return True
        if leaf_key(p.lhs) == leaf_key(g.rhs) and leaf_key(p.rhs) == leaf_key(g.lhs):
            return True
        if prover is None:
            return None
        return prover.relation(p.lhs, p.rhs, g.lhs, g.rhs)
    if isinstance(p, Eq) and isinstance(g, Eq):
        if p.var is not None and g.var is not None and p.var != g.var and not _same_function(p.var, g.var):
            return False
        return compare(p.value, g.value, prover)
    if isinstance(p, Eq):
        return compare(p.value, g, prover)
    return compare(p, g.value, prover)


_FUNCTION_OF_X = re.compile(r"^[a-zA-Z]\(x\)$")


def _same_function(a: str, b: str) -> bool:
    """``y = 2x+3`` and ``f(x) = 2x+3`` name one function: y is the value of a function of x."""
    return (a == "y" and bool(_FUNCTION_OF_X.match(b))) or (b == "y" and bool(_FUNCTION_OF_X.match(a)))


def _as_interval(n) -> Interval | None:
    if isinstance(n, Interval):
        return n
    if isinstance(n, Seq) and n.kind == "tuple" and len(n.items) == 2:
        return Interval(False, n.items[0], n.items[1], False)
    return None


def _as_rows(n, other):
    if isinstance(n, Matrix):
        return [list(r) for r in n.rows]
    items = None
    if isinstance(n, Seq) and n.kind == "tuple":
        items = n.items
    elif isinstance(n, Interval) and n.left_closed and n.right_closed:
        items = (n.lo, n.hi)  # "[0.5, 1]" next to a matrix is the vector, not the interval
    if items is not None and isinstance(other, Matrix):
        # a vector written as a tuple matches a single column or a single row matrix
        if all(len(r) == 1 for r in other.rows):
            return [[x] for x in items]
        if len(other.rows) == 1:
            return [list(items)]
    return None


def _point_from_assignments(p: Seq) -> Seq | None:
    """``x=2, y=3`` -> the point ``(2, 3)``; ``p=5, q=2`` -> ``(5, 2)``: distinct single-letter
    variables written in alphabetical order, so the tuple's order is the one the letters give."""
    if not p.items or not all(isinstance(it, Eq) and it.var is not None and not it.relation for it in p.items):
        return None
    names = [it.var for it in p.items]
    if not all(len(n) == 1 and n.isalpha() for n in names) or len(set(names)) != len(names) or names != sorted(names):
        return None
    return Seq("tuple", tuple(it.value for it in p.items))


def _compare_seq(p: Seq, g: Seq, prover) -> Tri:
    if g.kind == "tuple" and p.kind == "list":
        p = _point_from_assignments(p) or p
    elif p.kind == "tuple" and g.kind == "list":
        g = _point_from_assignments(g) or g
    if len(p.items) != len(g.items):
        return False
    p_unordered, g_unordered = p.kind in UNORDERED, g.kind in UNORDERED
    if p_unordered != g_unordered:
        return False
    if not g_unordered:
        return _all(compare(a, b, prover) for a, b in zip(p.items, g.items))
    n = len(g.items)
    # cheap verdicts first; prover only on the pairs still undecided
    table = [[compare(a, b, None) for b in g.items] for a in p.items]
    if _perfect_matching(table, lambda v: v is True):
        return True
    if not _perfect_matching(table, lambda v: v is not False):
        return False
    if prover is None:
        return None
    for i in range(n):
        for j in range(n):
            if table[i][j] is None:
                table[i][j] = compare(p.items[i], g.items[j], prover)
    return _perfect_matching(table, lambda v: v is True)


def _perfect_matching(table, ok: Callable) -> bool:
    """Kuhn's augmenting paths: can every prediction item be paired with a distinct gold item?"""
    n = len(table)
    match_of_gold = [-1] * n

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(n):
            if ok(table[i][j]) and not seen[j]:
                seen[j] = True
                if match_of_gold[j] < 0 or augment(match_of_gold[j], seen):
                    match_of_gold[j] = i
                    return True
        return False

    return all(augment(i, [False] * n) for i in range(n))
