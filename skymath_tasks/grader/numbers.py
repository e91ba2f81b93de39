"""Tier 2: numbers as exact rationals (``fractions.Fraction``), never floats.

Accepted spellings: thousands separators (``1,000``, ``10{,}000``, ``10\\,000``), currency (``\\$5``),
trailing zeros (``18.00``), decimals, ``\\frac{a}{b}``, ``a/b``, mixed numbers (``2\\frac{1}{2}``,
``1 1/2``), ``a \\times 10^{k}``, plain rational arithmetic (``2^{10}``, ``3\\cdot 4``), percent
(``24\\%``), degrees, and after the number: units and nouns of the question (``5 \\text{ cm}``,
``18 dollars``, ``12 apples``) and exact value words (``2 dozen`` = 24, ``4 fifths`` = 4/5); see
:mod:`.units`. Any other word after a number makes the text no number (and the answer wrong).

Percent is a flag with one reading: ``x\\%`` equals ``x`` and, when ``|x| <= 100``, ``x/100``
(``24\\%`` meets 24 and 0.24; ``2400\\%`` never meets 24); numbers without a percent sign are never
compared up to a factor of 100.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from skymath_tasks.grader.arith import evaluate
from skymath_tasks.grader.normalize import clean
from skymath_tasks.grader.units import NO_CONTEXT, Context, conflicts_with_question, read_unit, value_word

_INT_SEP = r"\d{1,3}(?:(?:,|\{,\}| )\d{3})+"
_DEC = rf"(?:{_INT_SEP}|\d+)(?:\.\d*)?|\.\d+"
_SDEC = rf"[+-]?(?:{_DEC})"
_RE_DEC = re.compile(rf"^(?:{_DEC})$")
_RE_FRAC = re.compile(rf"^\\frac\s*\{{\s*({_SDEC})\s*\}}\s*\{{\s*({_SDEC})\s*\}}$")
_RE_FRAC_SHORT = re.compile(r"^\\frac\s*(\d)\s*(\d)$")
_RE_SLASH = re.compile(rf"^({_DEC})\s*/\s*({_DEC})$")
_RE_MIXED = re.compile(r"^(\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$")
_RE_SCI = re.compile(rf"^({_DEC})\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*(?:\{{\s*([+-]?\d{{1,3}})\s*\}}|([+-]?\d))$")
_RE_REPEAT = re.compile(r"^(\d*)\.(\d*)\\overline\s*\{\s*(\d{1,12})\s*\}$")
_RE_MIXED_SLASH = re.compile(r"^(\d+)\s+(\d+)\s*/\s*(\d+)$")
_OPERATOR_WORD = re.compile(r"(?<=[\d}])\s+(squared|cubed|factorial)$", re.I)
_DIGIT_SPACE_DIGIT = re.compile(r"\d\s+\d")
_RE_POW10 = re.compile(r"^10\s*\^\s*(?:\{\s*([+-]?\d{1,3})\s*\}|(\d))$")

_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\s+(?:percent|percentage|pct)|\\text\{\s*(?:percent|pct)\s*\})$")
_CURRENCY = re.compile(r"\\\$|\$|\\text\{\s*\\?\$\s*\}|^USD\s*|\\pounds|£|€|¥")
#: A run of words / ``\text{...}`` groups / per-slashes / squares at the end of an answer, not starting
#: inside a LaTeX command name (``5\pi`` has no suffix "pi").
_SUFFIX = re.compile(  # atomic groups and possessive quantifiers: linear, never backtracks
    r"(?<![\\A-Za-z])(?>\s*+(?>\\text\s*+\{[^{}]*+\}|[A-Za-z]++\.?+|/(?=\s*[A-Za-z\\]))"
    r"(?>\s*+\^\s*+\{?+\s*+[23]\s*+\}?+)?+)++\s*+$")
_TEXT_GROUP = re.compile(r"\\text\s*\{([^{}]*)\}")


@dataclass(frozen=True)
class Num:
    """An exact number and whether it was written with a percent sign."""

    value: Fraction
    percent: bool = False
    #: normalised unit written after the number ("square centimeter", "kilometer/hour"), "" if none
    unit: str = ""

    def equals(self, other: "Num") -> bool:
        """Exact equality. Percent has one reading: ``x\\%`` equals ``x`` (the answer asked in percent)
        and ``x/100`` (the answer as a fraction) when ``|x| <= 100``, so ``24\\%`` meets 24 and 0.24
        but ``2400\\%`` never meets 24."""
        if self.unit and other.unit and self.unit != other.unit:
            return False  # "440 cm^2" is not "440 cm^3"; a missing unit is tolerated
        if self.percent == other.percent:
            return self.value == other.value
        p, q = (self, other) if self.percent else (other, self)
        return q.value == p.value or (abs(p.value) <= 100 and q.value == p.value / 100)


@dataclass(frozen=True)
class Suffix:
    """What followed the number: the exact factor of a value word and the canonical unit."""

    factor: Fraction
    unit: str


def read_suffix(text: str, ctx: Context = NO_CONTEXT) -> Suffix | None:
    """Read the words after a number, or None when they are anything but units/nouns/value words.

    ``text`` is the suffix (``" dozen eggs"``, ``"\\text{ cm}^2"``). The first word may be a value word
    (``dozen``, ``million``, ``fifths``); the rest must read as one unit phrase (:mod:`.units`).
    """
    in_text = "\\text" in text
    plain = _TEXT_GROUP.sub(lambda m: " " + m.group(1) + " ", text).strip()
    words = plain.split()
    factor = Fraction(1)
    if words:
        f = value_word(words[0].rstrip("."))
        if f is not None:
            factor = f
            plain = plain[len(words[0]):].strip()
    if not plain:
        return Suffix(factor, "")
    unit = read_unit(plain, ctx, in_text=in_text)
    if unit is None or conflicts_with_question(unit, ctx):
        return None
    return Suffix(factor, unit)


def _find_suffix(t: str) -> tuple[int, str] | None:
    """(start, text) of the trailing word run, looked for in the last 120 characters only (a unit
    phrase is short; a longer run of words is no unit, and this keeps the search linear)."""
    tail = t[-120:]
    m = _SUFFIX.search(tail)
    if not m:
        return None
    return len(t) - len(tail) + m.start(), m.group(0)


def strip_units(t: str, ctx: Context = NO_CONTEXT) -> tuple[str, str]:
    """(text without a trailing unit phrase, the canonical unit or ""). Only units and nouns of the
    question are removed; value words and anything else stay (so the text is no plain number)."""
    found = _find_suffix(t)
    if not found or found[0] == 0:
        return t, ""
    start, text = found
    suffix = read_suffix(text, ctx)
    if suffix is None or suffix.factor != 1 or not suffix.unit:
        return t, ""
    return t[:start].rstrip(), suffix.unit


def _dec(s: str) -> Fraction:
    s = s.replace("{,}", "").replace(",", "").replace(" ", "")
    if s.endswith("."):
        s = s[:-1]
    return Fraction(s)


def parse_number(text: str, *, cleaned: bool = False, ctx: Context = NO_CONTEXT) -> Num | None:
    """The exact value of ``text`` if it is a plain number in one of the accepted spellings."""
    t = text if cleaned else clean(text)
    if not t or len(t) > 200:
        return None
    t = _CURRENCY.sub("", t).strip()
    percent = False
    factor = Fraction(1)
    unit = ""
    op = None
    m = _OPERATOR_WORD.search(t)
    if m:  # "4 squared" = 16, "3 factorial" = 6: exact, or no number
        op, t = m.group(1).lower(), t[: m.start()].strip()
    for _ in range(2 if op is None else 0):  # "24\%", "5 \text{ cm}", "\$1.2 million", "50\% \text{ off}"
        m = _PERCENT.search(t)
        if m and not percent:
            percent = True
            t = t[: m.start()].strip()
            continue
        found = _find_suffix(t)
        if found and found[0] > 0 and factor == 1 and not unit:
            suffix = read_suffix(found[1], ctx)
            if suffix is None:
                return None  # a word that is no unit, no noun of the question, no exact value word
            factor, unit = suffix.factor, suffix.unit
            t = t[: found[0]].strip()
            continue
        break
    t = _CURRENCY.sub("", t).strip()
    if t.startswith("{") and t.endswith("}") and t.count("{") == 1:
        t = t[1:-1].strip()
    sign = 1
    while t[:1] in ("-", "+"):
        if t[0] == "-":
            sign = -sign
        t = t[1:].lstrip()
        t = _CURRENCY.sub("", t).strip()
    if not t:
        return None
    value = _unsigned(t)
    if value is None:
        return None
    if op is not None:
        value = _apply_operator(value, op)
        if value is None:
            return None
    value = sign * value * factor
    if percent and ctx.mentions_percent is False:
        # the question never speaks of percent: "24\%" can only be the number 0.24, never the count 24
        return Num(value / 100, False, unit)
    return Num(value, percent, unit)


def _apply_operator(value: Fraction, op: str) -> Fraction | None:
    if op == "squared":
        return value ** 2
    if op == "cubed":
        return value ** 3
    if value.denominator == 1 and 0 <= value <= 20:  # factorial
        return Fraction(math.factorial(int(value)))
    return None


def _unsigned(t: str) -> Fraction | None:
    if _RE_DEC.match(t):
        return _dec(t)
    m = _RE_REPEAT.match(t)
    if m:  # 8.\overline{3} = 8.333...; 0.1\overline{6} = 0.1666...
        whole, fixed, rep = m.group(1) or "0", m.group(2) or "", m.group(3)
        base = Fraction(int(whole + fixed), 10 ** len(fixed))
        return base + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
    m = _RE_FRAC.match(t)
    if m:
        num, den = _dec(m.group(1)), _dec(m.group(2))
        return num / den if den else None
    m = _RE_FRAC_SHORT.match(t)
    if m:
        den = int(m.group(2))
        return Fraction(int(m.group(1)), den) if den else None
    m = _RE_SLASH.match(t)
    if m:
        num, den = _dec(m.group(1)), _dec(m.group(2))
        return num / den if den else None
    m = _RE_MIXED.match(t)
    if m:
        whole, num, den = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if 0 < num < den:
            return whole + Fraction(num, den)
        return None
    m = _RE_SCI.match(t)
    if m:
        exp = int(m.group(2) or m.group(3))
        return _dec(m.group(1)) * Fraction(10) ** exp
    m = _RE_POW10.match(t)
    if m:
        return Fraction(10) ** int(m.group(1) or m.group(2))
    m = _RE_MIXED_SLASH.match(t)
    if m:  # 1 1/2
        whole, num, den = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if 0 < num < den:
            return whole + Fraction(num, den)
        return None
    if _DIGIT_SPACE_DIGIT.search(t):
        return None  # "2 3" is no arithmetic
    return evaluate(t)
