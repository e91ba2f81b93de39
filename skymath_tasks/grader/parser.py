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
from skymath_tasks.grader.units import NO_CONTEXT, Context, label_core


class ParseLimit(Exception):
    """The answer exceeds a structural cap (too many items, too deep)."""


@dataclass(frozen=True)
class Expr:
    """An expression leaf kept as LaTeX; ``key`` is its normalised spelling. ``words`` marks a leaf
    that holds a plain word (``5 invalid``, ``about 5``): only an identical spelling may equal it,
    never a proof (a word is no math)."""

    latex: str
    key: str = ""
    words: bool = False


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
    """``label = value`` or an equation.

    * ``var``: the label's key when the left side names the quantity (``x``, ``f(2)``, ``|AB|``,
      ``(p,q)``, ``V_1:V_2``, ``x \\in``), else None (a chain of values like ``\\frac{10}{2}=5``).
    * ``value``: the final side, the answer.
    * ``checks``: every other side that has a value; each must equal ``value`` exactly, or the
      answer is wrong (``2+2=5``, ``x=4=5``).
    * ``relation``: a genuine equation (``x^2+y^2=25``, a line, a plane) kept as ``lhs``/``rhs``.
    """

    var: str | None
    value: object
    lhs: str = ""
    rhs: str = ""
    relation: bool = False
    checks: tuple = ()
    #: the label names another quantity than the one(s) the question asks for by name (``y = 5`` when
    #: it asks "Solve for $x$", ``AC = 4`` when it asks "What is $AB$?"): as a prediction, wrong
    foreign: bool = False


@dataclass(frozen=True)
class Time:
    """A time of day, in seconds after midnight (``08:34 \\text{P.M.}``, ``20:34:00``)."""

    seconds: int


@dataclass(frozen=True)
class Empty:
    pass


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\{\s*([AaPp])\.?\s*[Mm]\.?\s*\}|([AaPp])\.?\s*[Mm]\.?)?$")


def _clock(s: str) -> tuple[int, bool] | None:
    """(seconds after midnight, unambiguous) of ``HH:MM[:SS][ AM|PM]``; ``unambiguous`` when it has
    seconds or AM/PM (a bare ``20:34`` may as well be a ratio)."""
    m = _CLOCK.match(s.strip())
    if not m:
        return None
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    half = (m.group(4) or m.group(5) or "").lower()
    if mi > 59 or sec > 59 or h > 23 or (half and not 1 <= h <= 12):
        return None
    if half:
        h = h % 12 + (12 if half == "p" else 0)
    return h * 3600 + mi * 60 + sec, bool(half or m.group(3))


def as_time(node) -> int | None:
    """A node read as a time of day: a :class:`Time`, or an expression that is a bare ``HH:MM``."""
    if isinstance(node, Time):
        return node.seconds
    if isinstance(node, Expr):
        t = _clock(node.latex)
        return t[0] if t else None
    return None


Node = object
UNORDERED = ("list", "set", "union")

_VAR = re.compile(r"^(?:[a-zA-Z]|\\(?:alpha|beta|gamma|delta|theta|phi|lambda|mu|omega|varphi|rho|sigma|tau|psi))"
                  r"(?:_\{?[a-zA-Z0-9]{1,3}\}?)?(?:\s*\(\s*[a-z]\s*\))?'*$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z' -]*$")
_CHOICE = re.compile(r"^\(\s*([A-Ea-e])\s*\)$")
_LIST_SEPS = (",", "\\text{ and }", "\\text{ or }", "\\text{and}", "\\text{or}", " and ", " or ",
              "\\quad\\text{and}", "\\text{, }", "\\text{,}")
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.S)
_QUOTES = re.compile(r"^[\"'`“”‘’]+(.*?)[\"'`“”‘’]+$")


def parse(text: str, *, max_items: int = 64, ctx: Context = NO_CONTEXT, _depth: int = 0) -> Node:
    """Typed tree of an answer. Raises :class:`ParseLimit` if a cap is exceeded.

    ``ctx`` carries what the question says (its nouns may follow a number as units).
    """
    if _depth > 12:
        raise ParseLimit("structure nested too deeply")
    s = clean(text)
    m = _QUOTES.match(s)
    if m:
        s = m.group(1).strip()
    inner = unwrap_command(s, ("\\text",))
    if inner is not None:
        s = clean(inner)
    if not s:
        return Empty()
    rec = lambda t: parse(t, max_items=max_items, ctx=ctx, _depth=_depth + 1)  # noqa: E731

    if s in ("\\emptyset", "\\{\\}", "\\{ \\}"):
        return Seq("set", ())

    # a number with thousands separators is one number, not a list ("1,000", "10{,}000")
    num = parse_number(s, cleaned=True, ctx=ctx)
    if num is not None:
        return num

    groups = [p for p in split_top(s, (";",)) if p.strip()]
    if len(groups) > 1:  # "p=5,q=2; p=7,q=2": groups of one answer each
        if len(groups) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        return Seq("list", tuple(rec(p) for p in groups))

    clock = _clock(s)
    if clock is not None and clock[1]:
        return Time(clock[0])

    parts = [p for p in split_top(s, _LIST_SEPS) if p != ""]
    parts = [_strip_connective(p) for p in parts]
    parts = [p for p in parts if p]
    if len(parts) > max_items:
        raise ParseLimit(f"more than {max_items} items")
    if len(parts) > 1:
        return Seq("list", tuple(rec(p) for p in parts))
    if len(parts) == 1 and parts[0] != s:
        return rec(parts[0])

    # x \in [-2, 7]: the label names the answer, the set is the answer
    member = split_top(s, ("\\in",))
    if len(member) == 2 and is_label(member[0]) and member[1]:
        return Eq(leaf_key(member[0]), rec(member[1]), member[0], member[1], foreign=_foreign(member[0], ctx))

    unions = split_top(s, ("\\cup",))
    if len(unions) > 1:
        return Seq("union", tuple(rec(p) for p in unions))

    # set \{...\}, or bare braces around two or more items ({2, 3, 5})
    if s.startswith("\\{") and s.endswith("\\}"):
        body = s[2:-2].strip()
        items = [p for p in split_top(body, (",", ";")) if p]
        if len(items) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        return Seq("set", tuple(rec(p) for p in items))
    if s.startswith("{") and matching_close(s, 0) == len(s) - 1:
        items = split_top(s[1:-1], (",", ";"))
        if len(items) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        if len(items) > 1 and all(items):
            return Seq("set", tuple(rec(p) for p in items))

    m = _MATRIX.match(s)
    if m:
        return _matrix(m.group(2), rec, max_items)

    m = _CHOICE.match(s)
    if m:
        return Choice(m.group(1).upper())

    # bracketed: a matrix in brackets, a tuple, an interval
    if s[:1] in "([" and s[-1:] in ")]" and matching_close(s, 0) == len(s) - 1:
        body = s[1:-1]
        m = _MATRIX.match(body.strip())
        if m:  # \left[\begin{array}{cc}...\end{array}\right]
            return _matrix(m.group(2), rec, max_items)
        items = [p for p in split_top(body, (",",))]
        if len(items) > max_items:
            raise ParseLimit(f"more than {max_items} items")
        if len(items) == 1:
            if s[0] == "(" and s[-1] == ")":
                return rec(body)
            return _expr(s)
        if len(items) == 2 and (s[0] == "[" or s[-1] == "]"):
            return Interval(s[0] == "[", rec(items[0]), rec(items[1]), s[-1] == "]")
        return Seq("tuple", tuple(rec(p) for p in items))

    # equations and chains
    eq_parts = split_top(s, ("=",))
    if len(eq_parts) > max_items:
        raise ParseLimit(f"more than {max_items} sides")
    if len(eq_parts) >= 2:
        if not all(eq_parts):
            return _expr(s)  # "x =", "= 5": a malformed equation is never an answer
        return _equation(eq_parts, rec, ctx)

    ineq = _inequality(s, rec)
    if ineq is not None:
        return ineq

    if _WORDS.match(s) and (len(s) > 1) and not re.fullmatch(r"[A-Za-z]{1,2}", s):
        return Text(" ".join(s.lower().replace("-", " ").split()))

    # a \pm b: the two solutions a + b and a - b
    if s.count("\\pm") == 1 and s.count("\\mp") == 0 and len(split_top(s, ("\\pm",))) == 2:
        return Seq("list", (rec(s.replace("\\pm", "+", 1)), rec(s.replace("\\pm", "-", 1))))

    # expression leaf: drop a trailing unit (e.g. "5\sqrt{2}\text{ cm}")
    t, _ = strip_units(s, ctx)
    if t != s and t:
        return rec(t)
    return _expr(s)


_MATH_WORDS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "lim", "max", "min", "gcd",
                         "lcm", "det", "mod", "arg", "deg", "sinh", "cosh", "tanh", "arcsin", "arccos",
                         "arctan", "sqrt", "frac", "inf", "sup", "ker", "dim", "cis", "lcd"})
_LETTER_RUN = re.compile(r"(?<![A-Za-z\\])[A-Za-z]{3,}")


_UNPROVABLE = re.compile(r"\\(?:boxed|fbox|approx|thickapprox|sim|simeq|ne|neq|lessapprox|gtrapprox)(?![a-zA-Z])|≈")


def has_words(s: str) -> bool:
    """Does ``s`` hold a plain word (3+ letters that are no LaTeX command and no function name), or a
    sign that makes it no value (``\\approx``, a ``\\boxed`` inside a longer answer)?"""
    if _UNPROVABLE.search(s):
        return True
    return any(m.group().lower() not in _MATH_WORDS for m in _LETTER_RUN.finditer(s))


def _expr(s: str) -> Expr:
    return Expr(s, leaf_key(s), has_words(s))


def _matrix(body: str, rec, max_items: int) -> Matrix:
    rows = [r for r in re.split(r"\\\\", body) if r.strip()]
    if len(rows) > max_items:
        raise ParseLimit(f"more than {max_items} rows")
    cells = tuple(tuple(rec(c) for c in split_top(r, ("&",))) for r in rows)
    if sum(len(r) for r in cells) > max_items * 4:
        raise ParseLimit("matrix too large")
    return Matrix(cells)


#: A left side that names the quantity asked for: a variable (``x``, ``a_1``, ``f(x)``), a function
#: value (``f(2)``, ``P(A)``), a length or segment (``|AB|``, ``AB``, ``\overline{AB}``), an angle
#: (``\angle ABC``, ``m\angle A``), a tuple of names (``(p,q)``), a ratio of names (``V_1:V_2``).
_NAME = r"(?:[a-zA-Z]|\\(?:alpha|beta|gamma|delta|theta|phi|lambda|mu|omega|varphi|rho|sigma|tau|psi|varepsilon|epsilon|eta|xi|zeta|kappa|nu|chi))(?:_\{?[a-zA-Z0-9]{1,4}\}?)?'*"
_LABEL = re.compile(
    rf"^(?:{_NAME}(?:\s*\(\s*[^()=<>]{{1,24}}\s*\))?"  # x, a_1, f(x), f(2), P(A)
    r"|\|\s*[A-Z]{1,3}\s*\||[A-Z]{2,3}|\\overline\s*\{\s*[A-Z]{1,3}\s*\}"  # |AB|, AB, \overline{AB}
    r"|(?:m\s*)?\\angle\s*[A-Z]{1,3}"  # \angle ABC, m\angle A
    r"|\\frac\s*\{\s*[A-Z]{1,3}\s*\}\s*\{\s*[A-Z]{1,3}\s*\}"  # \frac{NO}{BO}
    rf"|\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*\)"  # (p,q)
    rf"|{_NAME}(?:\s*:\s*{_NAME})+"  # V_1:V_2
    r")$")


def is_label(text: str) -> bool:
    """Does ``text`` name a quantity (so ``text = value`` states the value of that quantity)?"""
    return bool(_LABEL.match(text.strip()))


def has_value(text: str) -> bool:
    """A side without free letters (``2+2``, ``\\sqrt{16}``, ``5\\pi``): it has a value to check."""
    return not _FREE_LETTER.search(_COMMAND.sub(" ", text))


_COMMAND = re.compile(r"\\[A-Za-z]+")
_FREE_LETTER = re.compile(r"[A-Za-df-hj-z]")  # e and i are constants here


def _foreign(label: str, ctx: Context) -> bool:
    """Does the answer's label name another quantity than the ones the question asks for by name?"""
    return bool(ctx.asked_labels) and label_core(label) not in ctx.asked_labels


def _equation(parts: list[str], rec, ctx: Context) -> Eq:
    """``label = ... = value``, ``value = ... = value`` or an equation; see :class:`Eq`."""
    first, final = parts[0], parts[-1]
    value = rec(final)
    middle = parts[1:-1]
    if is_label(first):
        checks = tuple(rec(p) for p in middle if has_value(p))
        return Eq(leaf_key(first), value, first, final, checks=checks, foreign=_foreign(first, ctx))
    if has_value(first) and not has_value(final):
        if len(parts) == 2 and is_label(final):  # "5 = x": the assignment written the other way round
            return Eq(leaf_key(final), rec(first), final, first, foreign=_foreign(final, ctx))
        # "25 = x^2+y^2": an equation written the other way round
        return Eq(None, value, first, final, relation=True, checks=tuple(rec(p) for p in middle if has_value(p)))
    if has_value(first):
        checks = tuple(rec(p) for p in [first, *middle] if has_value(p))
        return Eq(None, value, first, final, checks=checks)
    checks = tuple(rec(p) for p in middle if has_value(p))
    return Eq(None, value, first, final, relation=True, checks=checks)


def _strip_connective(p: str) -> str:
    p = re.sub(r"^(?:\\text\{\s*(?:and|or)\s*\}|and\b|or\b)\s*", "", p.strip())
    return p.strip()


_INF = Expr("\\infty", "\\infty")
_NINF = Expr("-\\infty", "-\\infty")


def _half_line(op: str, bound) -> Interval:
    """``x op bound`` as an interval (``x < 3`` is ``(-\\infty, 3)``)."""
    closed = op in ("\\le", "\\ge")
    if op in ("<", "\\le"):
        return Interval(False, _NINF, bound, closed)
    return Interval(closed, bound, _INF, False)


def _negate(node, text: str, rec):
    if isinstance(node, Num):
        return Num(-node.value, node.percent, node.unit)
    return rec(f"-({text})")


_ABS = re.compile(rf"^\|\s*{_NAME}\s*\|$")


def _abs_bound(op: str, bound):
    """``|x| < b`` is ``(-b, b)``; ``|x| \\ge b`` is ``(-\\infty, -b] \\cup [b, \\infty)`` (numeric b >= 0)."""
    if not isinstance(bound, Num) or bound.value < 0 or bound.unit or bound.percent:
        return None
    neg = Num(-bound.value)
    closed = op in ("\\le", "\\ge")
    if op in ("<", "\\le"):
        return Interval(closed, neg, bound, closed)
    return Seq("union", (Interval(False, _NINF, neg, closed), Interval(closed, bound, _INF, False)))


def _abs_between(lo, ops: list[str], hi):
    """``1 \\le |z| \\le 3/2`` is ``[-3/2, -1] \\cup [1, 3/2]`` (numeric bounds, 0 <= lo <= hi)."""
    if not all(o in ("<", "\\le") for o in ops):
        return None
    if not (isinstance(lo, Num) and isinstance(hi, Num)) or lo.unit or hi.unit or lo.percent or hi.percent:
        return None
    if not 0 <= lo.value <= hi.value:
        return None
    lc, hc = ops[0] == "\\le", ops[1] == "\\le"
    return Seq("union", (Interval(hc, Num(-hi.value), Num(-lo.value), lc), Interval(lc, lo, hi, hc)))


def _inequality(s: str, rec) -> Interval | Seq | None:
    """``x \\le 3`` -> ``(-\\infty, 3]``; ``-2 < x \\le 3`` -> ``(-2, 3]``; ``3 > x`` -> ``(-\\infty, 3)``."""
    tokens = re.split(r"(\\le |\\ge |\\le(?![a-z])|\\ge(?![a-z])|<|>)", s)
    if len(tokens) not in (3, 5):
        return None
    ops = [t.strip() for t in tokens[1::2]]
    terms = [t.strip() for t in tokens[0::2]]
    if not all(terms):
        return None
    if len(tokens) == 3:
        a, op, b = terms[0], ops[0], terms[1]
        flip = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le"}
        for neg_side in (0, 1):  # -x > -1 is x < 1: negate both sides, turn the relation round
            t = terms[neg_side]
            if t.startswith("-") and _VAR.match(t[1:].strip()) and not _VAR.match(terms[1 - neg_side]):
                other = terms[1 - neg_side]
                negated = _negate(rec(other), other, rec)
                if neg_side == 0:
                    return _half_line(flip[op], negated)
                return _half_line(op, negated)
        if _ABS.match(a) or _ABS.match(b):
            at_left = bool(_ABS.match(a))
            return _abs_bound(op if at_left else flip[op], rec(b if at_left else a))
        if _VAR.match(a) and not _VAR.match(b):
            var, bound, op_ = a, b, op
        elif _VAR.match(b) and not _VAR.match(a):
            var, bound = b, a
            op_ = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le"}[op]
        else:
            return None
        return _half_line(op_, rec(bound))
    lo, var, hi = terms
    if _ABS.match(var):
        return _abs_between(rec(lo), ops, rec(hi))
    if not _VAR.match(var) or _VAR.match(lo) or _VAR.match(hi):
        return None
    if all(o in ("<", "\\le") for o in ops):
        return Interval(ops[0] == "\\le", rec(lo), rec(hi), ops[1] == "\\le")
    if all(o in (">", "\\ge") for o in ops):
        return Interval(ops[1] == "\\ge", rec(hi), rec(lo), ops[0] == "\\ge")
    return None


__all__ = ["parse", "ParseLimit", "Expr", "Text", "Choice", "Seq", "Interval", "Matrix", "Eq", "Empty", "Num", "Time",
           "UNORDERED"]
