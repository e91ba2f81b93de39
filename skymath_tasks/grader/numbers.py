"""Tier 2: numbers as exact rationals (``fractions.Fraction``), never floats.

Accepted spellings: thousands separators (``1,000``, ``10{,}000``, ``10\\,000``), currency (``\\$5``),
trailing zeros (``18.00``), decimals, ``\\frac{a}{b}``, ``a/b``, mixed numbers (``2\\frac{1}{2}``),
``a \\times 10^{k}``, percent (``24\\%``), degrees, and units after the number (``5 \\text{ cm}``,
``18 dollars``). Anything else is not a number for this tier (the structural or symbolic tier decides).

Percent is a flag, not a division: ``24\\%`` equals ``24`` and ``0.24``, and nothing else; numbers
without a percent sign are never compared up to a factor of 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from skymath_tasks.grader.normalize import clean

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
_RE_POW10 = re.compile(r"^10\s*\^\s*(?:\{\s*([+-]?\d{1,3})\s*\}|(\d))$")

#: Words that change a number's value: never strip them as units.
_MAGNITUDE = {
    "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions",
    "trillion", "trillions", "dozen", "dozens", "half", "halves", "quarter", "quarters", "third",
    "thirds", "times", "and", "or", "to", "pi", "i", "e", "percent", "percents", "cent",
    "sqrt", "root", "squared", "cubed", "plus", "minus", "over", "divided", "k", "m", "b", "x", "y",
    # words that qualify or negate the number: "5 or more", "5 is wrong", "about 5"
    "not", "no", "never", "except", "less", "more", "least", "most", "than", "approximately", "approx",
    "about", "roughly", "nearly", "almost", "around", "under", "above", "below", "maybe", "possibly",
    "is", "are", "was", "wrong", "incorrect", "false", "true", "if", "unless", "or", "either", "neither",
    "nor", "but", "only", "some", "many", "few", "several", "negative", "positive", "ish",
}
_UNIT_TEXT = re.compile(r"\s*\\text\s*\{\s*([A-Za-z][A-Za-z .'/-]*?)\s*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?$")
_UNIT_WORD = re.compile(r"\s+([A-Za-z]{2,}\.?)(?:\^\s*\{?\s*[23]\s*\}?)?$")
_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\s+percent|\\text\{\s*percent\s*\})$")
_CURRENCY = re.compile(r"\\\$|\$|\\text\{\s*\\?\$\s*\}|^USD\s*|\\pounds|£|€|¥")


@dataclass(frozen=True)
class Num:
    """An exact number and whether it was written with a percent sign."""

    value: Fraction
    percent: bool = False
    #: normalised unit written after the number ("cm^2"), "" if none
    unit: str = ""

    def equals(self, other: "Num") -> bool:
        if self.unit and other.unit and self.unit != other.unit:
            return False  # "440 cm^2" is not "440 cm^3"; a missing unit is tolerated
        if self.percent == other.percent:
            return self.value == other.value
        p, q = (self, other) if self.percent else (other, self)
        return q.value == p.value or q.value == p.value / 100


def strip_units(t: str) -> tuple[str, str]:
    """(text without trailing unit words/``\\text{unit}``, the normalised unit removed or "")."""
    removed = ""
    for _ in range(4):
        m = _UNIT_TEXT.search(t) or _UNIT_WORD.search(t)
        if not m or m.start() == 0:
            break
        words = re.findall(r"[A-Za-z]+", m.group(1).lower())
        if not words or any(w in _MAGNITUDE for w in words):
            break
        unit = _canonical_unit(re.sub(r"[\s{}.\\]|text", "", m.group(0)).lower())
        removed = unit + (" " + removed if removed else "")
        t = t[: m.start()].rstrip()
    return t, removed


_UNIT_SYNONYMS = {
    "in": "inch", "inches": "inch", "ft": "foot", "feet": "foot", "foots": "foot", "m": "meter",
    "meters": "meter", "metres": "meter", "metre": "meter", "cm": "centimeter", "centimeters": "centimeter",
    "mm": "millimeter", "km": "kilometer", "kilometers": "kilometer", "mi": "mile", "miles": "mile",
    "hr": "hour", "hrs": "hour", "hours": "hour", "h": "hour", "min": "minute", "mins": "minute",
    "minutes": "minute", "sec": "second", "secs": "second", "s": "second", "seconds": "second",
    "dollars": "dollar", "units": "unit", "sq": "square", "yd": "yard", "yards": "yard",
    "degrees": "degree", "deg": "degree", "cents": "cent", "days": "day", "years": "year",
}


def _canonical_unit(u: str) -> str:
    """'inches^2' -> 'inch^2', 'sq. ft' -> 'squarefoot': spelling variants of one unit compare equal."""
    base, caret, exp = u.partition("^")
    words = re.findall(r"[a-z]+", base)
    return "".join(_UNIT_SYNONYMS.get(w, w) for w in words) + (caret + exp if caret else "")


def _dec(s: str) -> Fraction:
    s = s.replace("{,}", "").replace(",", "").replace(" ", "")
    if s.endswith("."):
        s = s[:-1]
    return Fraction(s)


def parse_number(text: str, *, cleaned: bool = False) -> Num | None:
    """The exact value of ``text`` if it is a plain number in one of the accepted spellings."""
    t = text if cleaned else clean(text)
    if not t or len(t) > 200:
        return None
    t = _CURRENCY.sub("", t).strip()
    t, unit = strip_units(t)
    percent = False
    m = _PERCENT.search(t)
    if m:
        percent = True
        t = t[: m.start()].strip()
    t = _CURRENCY.sub("", t).strip()
    t, unit2 = strip_units(t)
    unit = unit or unit2
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
    return Num(sign * value, percent, unit)


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
    return None
