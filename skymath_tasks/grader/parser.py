"""Tier 3 parser: an answer string -> a small typed tree (numbers, lists, tuples, intervals, ...).

The parser only cuts and classifies substrings; leaves that are real expressions stay LaTeX text
(:class:`Expr`) and are compared later, first as normalised strings, then (in a worker process) by the
symbolic tier. It never evaluates anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skymath_tasks.grader.normalize import clean, leaf_key, matching_close, split_top, unwrap_command
from skymath_tasks.grader.numbers import Num, parse_number, strip_units


class ParseLimit(Exception):
    """The answer exceeds a structural cap (too many items, too deep)."""


@dataclass(frozen=True)
class Expr:
    latex: str
    key: str = ""


@dataclass(frozen=True)
class Text:
    words: str


@dataclass(frozen=True)
class Choice:
    letter: str


@dataclass(frozen=True)
class Seq:
    """kind: "tuple" (ordered, parentheses), "list" (bare comma/and/or list, unordered),
    "set" (braces, unordered), "union" (intervals joined by \\cup, unordered)."""

    kind: str
    items: tuple


@dataclass(frozen=True)
class Interval:
    left_closed: bool
    lo: object
    hi: object
    right_closed: bool


@dataclass(frozen=True)
class Matrix:
    rows: tuple  # tuple of tuples of nodes


@dataclass(frozen=True)
class Eq:
    """``var = value`` (var a single symbol, or None for a chain like ``\\frac{2401}{100}=24.01``),
    or a genuine equation (``relation=True``, e.g. ``x^2+y^2=25``) kept as lhs/rhs."""

    var: str | None
    value: object
    lhs: str = ""
    rhs: str = ""
    relation: bool = False


@dataclass(frozen=True)
class Empty:
    pass


Node = object
UNORDERED = ("list", "set", "union")

_VAR = re.compile(r"^(?:[a-zA-Z]|\\(?:alpha|beta|gamma|delta|theta|phi|lambda|mu|omega|varphi|rho|sigma|tau|psi))"
                  r"(?:_\{?[a-zA-Z0-9]{1,3}\}?)?(?:\s*\(\s*[a-z]\s*\))?'*$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z' -]*$")
_CHOICE = re.compile(r"^\(\s*([A-Ea-e])\s*\)$")
_LIST_SEPS = (",", ";", "\\text{ and }", "\\text{ or }", "\\text{and}", "\\text{or}", " and ", " or ",
              "\\quad\\text{and}", "\\text{, }", "\\text{,}")
_INEQ_SEPS = ("\\le ", "\\ge ", "<", ">", "\\le", "\\ge")
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.S)
_QUOTES = re.compile(r"^[\"'`“”‘’]+(.*?)[\"'`“”‘’]+$")


def parse(text: str, *, max_items: int = 64, _depth: int = 0) -> Node:
    """Typed tree of an answer. Raises :class:`ParseLimit` if a cap is exceeded."""
    if _depth > 12:
        raise ParseLimit("structure nested too deeply")
    s = clean(text)
    m = _QUOTES.match(s)
    if m:
        s = m.group(1).strip()
    inner = unwrap_command(s, ("\\text",))
    if inner is not None and (inner.strip().startswith("(") or "," in inner or _WORDS.match(inner.strip())):
        s = clean(inner)
    if not s:
        return Empty()
    rec = lambda t: parse(t, max_items=max_items, _depth=_depth + 1)  # noqa: E731

    # a number with thousands separators is one number, not a list ("1,000", "10{,}000")
    num = parse_number(s, cleaned=True)
    if num is not None:
        return num

    parts = [p for p in split_top(s, _LIST_SEPS) if p != ""]
    parts = [_strip_connective(p) for p in parts]
    parts = [p for p in parts if p]
    if len(parts) > max_items:
        raise ParseLimit(f"more than {max_items} items")
    if len(parts) > 1:
        return Seq("list", tuple(rec(p) for p in parts))
    if len(parts) == 1 and parts[0] != s:
        return rec(parts[0])

    unions = split_top(s, ("\\cup",))
    if len(unions) > 1:
        return Seq("union", tuple(rec(p) for p in unions))

    # set \{...\}
    if s.startswith("\\{") and s.endswith("\\}"):
        body = s[2:-2].strip()
        items = [p for p in split_top(body, (",", ";")) if p]
        if len(items) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        return Seq("set", tuple(rec(p) for p in items))

    m = _MATRIX.match(s)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        if len(rows) > max_items:
            raise ParseLimit(f"more than {max_items} rows")
        cells = tuple(tuple(rec(c) for c in split_top(r, ("&",))) for r in rows)
        if sum(len(r) for r in cells) > max_items * 4:
            raise ParseLimit("matrix too large")
        return Matrix(cells)

    m = _CHOICE.match(s)
    if m:
        return Choice(m.group(1).upper())

    # bracketed: tuple / interval
    if s[:1] in "([" and s[-1:] in ")]" and matching_close(s, 0) == len(s) - 1:
        body = s[1:-1]
        items = [p for p in split_top(body, (",",))]
        if len(items) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        if len(items) == 1:
            if s[0] == "(" and s[-1] == ")":
                return rec(body)
            return Expr(s, leaf_key(s))
        if len(items) == 2 and (s[0] == "[" or s[-1] == "]"):
            return Interval(s[0] == "[", rec(items[0]), rec(items[1]), s[-1] == "]")
        return Seq("tuple", tuple(rec(p) for p in items))

    # equations and chains
    eq_parts = split_top(s, ("=",))
    if len(eq_parts) >= 2 and all(eq_parts):
        lhs = eq_parts[0]
        if _VAR.match(lhs):
            return Eq(leaf_key(lhs), rec(eq_parts[-1]), lhs, eq_parts[-1])
        if len(eq_parts) == 2:
            return Eq(None, rec(eq_parts[-1]), lhs, eq_parts[-1], relation=True)
        return Eq(None, rec(eq_parts[-1]), lhs, eq_parts[-1])

    ineq = _inequality(s, rec)
    if ineq is not None:
        return ineq

    if _WORDS.match(s) and (len(s) > 1) and not re.fullmatch(r"[A-Za-z]{1,2}", s):
        return Text(" ".join(s.lower().replace("-", " ").split()))

    # a \pm b: the two solutions a + b and a - b
    if s.count("\\pm") == 1 and s.count("\\mp") == 0 and len(split_top(s, ("\\pm",))) == 2:
        return Seq("list", (rec(s.replace("\\pm", "+", 1)), rec(s.replace("\\pm", "-", 1))))

    # expression leaf: drop a trailing unit in \text{...} (e.g. "5\sqrt{2}\text{ cm}")
    t, _ = strip_units(s)
    if t != s and t:
        return rec(t)
    return Expr(s, leaf_key(s))


def _strip_connective(p: str) -> str:
    p = re.sub(r"^(?:\\text\{\s*(?:and|or)\s*\}|and\b|or\b)\s*", "", p.strip())
    return p.strip()


def _inequality(s: str, rec) -> Interval | None:
    """``x \\le 3`` -> ``(-\\infty, 3]``; ``-2 < x \\le 3`` -> ``(-2, 3]``; ``3 > x`` -> ``(-\\infty, 3)``."""
    tokens = re.split(r"(\\le |\\ge |\\le(?![a-z])|\\ge(?![a-z])|<|>)", s)
    if len(tokens) not in (3, 5):
        return None
    ops = [t.strip() for t in tokens[1::2]]
    terms = [t.strip() for t in tokens[0::2]]
    if not all(terms):
        return None
    inf = Expr("\\infty", "\\infty")
    ninf = Expr("-\\infty", "-\\infty")
    if len(tokens) == 3:
        a, op, b = terms[0], ops[0], terms[1]
        if _VAR.match(a) and not _VAR.match(b):
            var, bound, op_ = a, b, op
        elif _VAR.match(b) and not _VAR.match(a):
            var, bound = b, a
            op_ = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le"}[op]
        else:
            return None
        closed = op_ in ("\\le", "\\ge")
        if op_ in ("<", "\\le"):
            return Interval(False, ninf, rec(bound), closed)
        return Interval(closed, rec(bound), inf, False)
    lo, var, hi = terms
    if not _VAR.match(var) or _VAR.match(lo) or _VAR.match(hi):
        return None
    if all(o in ("<", "\\le") for o in ops):
        return Interval(ops[0] == "\\le", rec(lo), rec(hi), ops[1] == "\\le")
    if all(o in (">", "\\ge") for o in ops):
        return Interval(ops[1] == "\\ge", rec(hi), rec(lo), ops[0] == "\\ge")
    return None


__all__ = ["parse", "ParseLimit", "Expr", "Text", "Choice", "Seq", "Interval", "Matrix", "Eq", "Empty", "Num",
           "UNORDERED"]
