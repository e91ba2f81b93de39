"""What may follow a number: a closed vocabulary, so that a word can only lose credit, never invent it.

A number in an answer may be followed by words. Earlier versions dropped any word that was not on a
blocklist, which credited ``4 fifths`` for 4 and ``5 invalid`` for 5. Here the rule is the other way
round: the words after a number are read as one of

* a **unit** from :data:`UNITS` (SI, imperial, currency, time, angle, counts like ``times``), with
  ``square``/``cubic``/``sq``, powers ``^2``/``^3`` and per-forms (``km/h``, ``miles per hour``);
* a **noun of the problem**: a word the question itself uses (``12 apples`` when the question is about
  apples), passed in as :class:`Context`; never one of :data:`NEVER_UNITS`;
* a **value word** that changes the number exactly: a multiplier (``2 dozen`` = 24, ``1.2 million``)
  or a fraction denominator (``4 fifths`` = 4/5, ``7 tenths`` = 7/10);

and anything else (hedges, negations, comparatives, operators, unknown words) makes the text "not a
number", which the later tiers grade wrong. Where two readings of a word disagree the stricter wins:
value words are never units, even when the question uses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# canonical unit -> dimension. Spellings map to a canonical name in _SPELLINGS.
_DIMENSION = {
    "meter": "length", "centimeter": "length", "millimeter": "length", "kilometer": "length",
    "micrometer": "length", "nanometer": "length", "inch": "length", "foot": "length", "yard": "length",
    "mile": "length",
    "acre": "area", "hectare": "area",
    "liter": "volume", "milliliter": "volume", "gallon": "volume", "quart": "volume", "pint": "volume",
    "cup": "volume", "tablespoon": "volume", "teaspoon": "volume", "fluidounce": "volume",
    "gram": "mass", "kilogram": "mass", "milligram": "mass", "pound": "mass", "ounce": "mass", "ton": "mass",
    "second": "time", "minute": "time", "hour": "time", "day": "time", "week": "time", "month": "time",
    "year": "time", "decade": "time", "century": "time",
    "dollar": "money", "cent": "money", "euro": "money", "yen": "money", "yuan": "money", "rupee": "money",
    "degree": "angle", "radian": "angle",
    "mph": "speed", "kph": "speed",
    "time": "count", "unit": "count",
    "celsius": "temperature", "fahrenheit": "temperature", "kelvin": "temperature",
    "watt": "power", "kilowatt": "power", "joule": "energy", "calorie": "energy", "newton": "force",
    "byte": "data", "kilobyte": "data", "megabyte": "data", "gigabyte": "data",
}

_SPELLINGS = {
    # length
    "m": "meter", "meter": "meter", "meters": "meter", "metre": "meter", "metres": "meter",
    "cm": "centimeter", "centimeter": "centimeter", "centimeters": "centimeter", "centimetre": "centimeter",
    "centimetres": "centimeter", "mm": "millimeter", "millimeter": "millimeter", "millimeters": "millimeter",
    "km": "kilometer", "kilometer": "kilometer", "kilometers": "kilometer", "kilometre": "kilometer",
    "kilometres": "kilometer", "nm": "nanometer", "nanometer": "nanometer", "nanometers": "nanometer",
    "micrometer": "micrometer", "micrometers": "micrometer",
    "in": "inch", "inch": "inch", "inches": "inch", "ft": "foot", "foot": "foot", "feet": "foot",
    "yd": "yard", "yds": "yard", "yard": "yard", "yards": "yard", "mi": "mile", "mile": "mile", "miles": "mile",
    # area
    "acre": "acre", "acres": "acre", "hectare": "hectare", "hectares": "hectare", "ha": "hectare",
    # volume
    "l": "liter", "liter": "liter", "liters": "liter", "litre": "liter", "litres": "liter",
    "ml": "milliliter", "milliliter": "milliliter", "milliliters": "milliliter", "millilitre": "milliliter",
    "millilitres": "milliliter", "gallon": "gallon", "gallons": "gallon", "gal": "gallon",
    "quart": "quart", "quarts": "quart", "qt": "quart", "pint": "pint", "pints": "pint", "pt": "pint",
    "cup": "cup", "cups": "cup", "tablespoon": "tablespoon", "tablespoons": "tablespoon", "tbsp": "tablespoon",
    "teaspoon": "teaspoon", "teaspoons": "teaspoon", "tsp": "teaspoon",
    # mass
    "g": "gram", "gram": "gram", "grams": "gram", "kg": "kilogram", "kilogram": "kilogram",
    "kilograms": "kilogram", "mg": "milligram", "milligram": "milligram", "milligrams": "milligram",
    "lb": "pound", "lbs": "pound", "pound": "pound", "pounds": "pound", "oz": "ounce", "ounce": "ounce",
    "ounces": "ounce", "ton": "ton", "tons": "ton", "tonne": "ton", "tonnes": "ton",
    # time
    "s": "second", "sec": "second", "secs": "second", "second": "second", "seconds": "second",
    "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "wk": "week", "wks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year", "yr": "year", "yrs": "year",
    "decade": "decade", "decades": "decade", "century": "century", "centuries": "century",
    # money
    "dollar": "dollar", "dollars": "dollar", "usd": "dollar", "cent": "cent", "cents": "cent",
    "euro": "euro", "euros": "euro", "eur": "euro", "yen": "yen", "yuan": "yuan", "rmb": "yuan",
    "rupee": "rupee", "rupees": "rupee",
    # angle
    "degree": "degree", "degrees": "degree", "deg": "degree", "radian": "radian", "radians": "radian",
    "rad": "radian",
    # speed
    "mph": "mph", "kph": "kph",
    # counts
    "time": "time", "times": "time", "unit": "unit", "units": "unit",
    # temperature, power, energy, data
    "celsius": "celsius", "fahrenheit": "fahrenheit", "kelvin": "kelvin",
    "watt": "watt", "watts": "watt", "w": "watt", "kilowatt": "kilowatt", "kilowatts": "kilowatt", "kw": "kilowatt",
    "joule": "joule", "joules": "joule", "j": "joule", "calorie": "calorie", "calories": "calorie",
    "cal": "calorie", "newton": "newton", "newtons": "newton", "n": "newton",
    "byte": "byte", "bytes": "byte", "kb": "kilobyte", "kilobyte": "kilobyte", "kilobytes": "kilobyte",
    "mb": "megabyte", "megabyte": "megabyte", "megabytes": "megabyte", "gb": "gigabyte",
    "gigabyte": "gigabyte", "gigabytes": "gigabyte",
}

#: Spellings of one or two letters are units only inside ``\\text{...}``/``\\mathrm{...}`` (or glued to a
#: per-slash like ``m/s``): a bare ``5 m`` may as well be 5 times the variable m.
_SHORT = {k for k in _SPELLINGS if len(k) <= 2}

#: Two- and three-letter abbreviations read as units even outside ``\\text{}`` (``10 cm^2``, ``5kg``):
#: no answer means "5 times c times m" with them.
ABBREVIATIONS = frozenset({"cm", "mm", "km", "kg", "mg", "ml", "mL", "ft", "yd", "mi", "hr", "lb", "oz", "lbs",
                           "hrs", "min", "sec", "mph", "kph", "cm.", "ft."})

#: Words that change the value of the number before them, exactly.
MULTIPLIERS = {
    "dozen": 12, "dozens": 12, "hundred": 100, "hundreds": 100, "thousand": 1000, "thousands": 1000,
    "million": 10**6, "millions": 10**6, "billion": 10**9, "billions": 10**9, "trillion": 10**12,
    "trillions": 10**12,
}
#: Fraction denominators: ``4 fifths`` is 4/5.
DENOMINATORS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "fourth": 4, "fourths": 4, "quarter": 4, "quarters": 4,
    "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8,
    "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10, "twelfth": 12, "twelfths": 12,
    "hundredth": 100, "hundredths": 100, "thousandth": 1000, "thousandths": 1000,
    "millionth": 10**6, "millionths": 10**6,
}

#: Never read as a unit or noun, even when the question uses the word: they qualify, negate, compare,
#: operate on or multiply the number (reading them as a unit could only invent credit).
NEVER_UNITS = frozenset("""
not no nor never none neither either or and but if unless except only also than then else
invalid impossible undefined unknown unsure uncertain nope wrong incorrect false true maybe possibly
probably perhaps approximately approximate approx roughly nearly almost about around circa some
more less fewer least most many much few several over under above below beyond within up down
plus minus times multiplied divided by over into per each every exactly precisely just total overall
squared cubed square cube cubic root roots sqrt factorial inverse reciprocal power powers exponent
log ln sin cos tan mod modulo remainder percent percentage cent
grand lakh lakhs crore crores score scores googol gross k m b bn mn
half quarter whole double triple twice thrice single
is are was were be been being equals equal equalling same
to from at of for with without in on as the a an this that these those it its
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
left remaining extra additional another other others
positive negative odd even prime real imaginary complex integer integers rational irrational
estimate estimated estimation guess guessed likely unlikely expected average mean median rounded round
nearest close closest near minimum maximum initially originally before after now later earlier first last
final answer result sum difference product quotient value number amount net gross ratio rate
""".split()) | frozenset(MULTIPLIERS) | frozenset(DENOMINATORS)

_QUESTION_WORD = re.compile(r"[A-Za-z]{3,}")
_ASKED = re.compile(r"\bhow\s+many\s+([a-z]+(?:\s+[a-z]+){0,2})|\bin\s+([a-z]+(?:\s+[a-z]+){0,2})\s*[?.]?\s*$",
                    re.I | re.M)


@dataclass(frozen=True)
class Context:
    """What the problem tells the grader (all empty when no question is given).

    * ``nouns``: words it uses, which may follow a number as its unit ("12 apples");
    * ``asked_units``: units it asks in ("how many hours", "in meters"): an answer in another unit is
      wrong, even when the number matches;
    * ``mentions_percent``: whether it speaks of percent at all; None without a question. When it does
      not, ``24\\%`` can only be the number 0.24 (never the count 24);
    * ``asked_labels``: the quantities it asks for by name ("Find $k$", "What is $AB$?", "Find $a$ and
      $b$"), as label cores (:func:`label_core`). An answer ``y = 5`` names its quantity: when the
      question names the ones it asks for, the answer's must be one of them.
    """

    nouns: frozenset[str] = frozenset()
    asked_units: tuple[str, ...] = ()
    mentions_percent: bool | None = None
    asked_labels: frozenset[str] = frozenset()

    def to_job(self) -> dict:
        return {"nouns": sorted(self.nouns), "asked_units": list(self.asked_units),
                "mentions_percent": self.mentions_percent, "asked_labels": sorted(self.asked_labels)}

    @classmethod
    def from_job(cls, job: dict | None) -> "Context":
        if not job:
            return NO_CONTEXT
        return cls(frozenset(job.get("nouns", ())), tuple(job.get("asked_units", ())), job.get("mentions_percent"),
                   frozenset(job.get("asked_labels", ())))


def label_core(label: str) -> str:
    """``|AB|``, ``\\overline{AB}`` and ``AB`` name one segment; spaces and braces do not matter."""
    return re.sub(r"\\overline|\\left|\\right|[|{}\s]", "", label)


NO_CONTEXT = Context()


def _singular_forms(word: str) -> set[str]:
    w = word.lower()
    forms = {w}
    if w.endswith("ies") and len(w) > 4:
        forms.add(w[:-3] + "y")
    if w.endswith("es") and len(w) > 3:
        forms.add(w[:-2])
    if w.endswith("s") and len(w) > 3:
        forms.add(w[:-1])
    return forms


_ASKED_LABELS = re.compile(r"(?:value of|values of|what is|what are|what's|find|compute|determine|solve for|solve)"
                           r"\s+((?:\$[^$]{1,16}\$(?:\s*,\s*|\s*,?\s+and\s+)?)+)", re.I)
_SOLVE_FOR = re.compile(r"\bsolve for ([A-Za-z])\b", re.I)
_PERCENT_WORD = re.compile(r"%|％|per ?cent|百分", re.I)


def _is_label(text: str) -> bool:
    from skymath_tasks.grader.parser import is_label  # the parser owns what a label is

    return is_label(text)


def context_from_question(question: str | None) -> Context:
    """Nouns a unit may be taken from, the units and the named quantities it asks for."""
    if not question:
        return NO_CONTEXT
    text = question[:20_000]
    nouns: set[str] = set()
    for w in _QUESTION_WORD.findall(text):
        for f in _singular_forms(w):
            if f not in NEVER_UNITS:
                nouns.add(f)
    asked: list[str] = []
    for m in _ASKED.finditer(text):
        words = next(g for g in m.groups() if g).split()
        for k in range(len(words), 0, -1):  # "square feet", "miles per hour", "hours"
            unit = read_unit(" ".join(words[:k]), NO_CONTEXT, in_text=False)
            if unit is not None:
                if unit not in asked:
                    asked.append(unit)
                break
    labels: set[str] = set()
    for m in _ASKED_LABELS.finditer(text):
        for item in re.findall(r"\$([^$]{1,16})\$", m.group(1)):
            if _is_label(item):
                labels.add(label_core(item))
    for m in _SOLVE_FOR.finditer(text):
        labels.add(m.group(1))
    return Context(frozenset(nouns), tuple(asked), bool(_PERCENT_WORD.search(text)), frozenset(labels))


def canonical(word: str, *, in_text: bool = True) -> str | None:
    """Canonical unit name of one spelling (``"inches"`` -> ``"inch"``), or None if not a unit."""
    w = word.strip().rstrip(".")
    lw = w.lower()
    if lw in _SPELLINGS and (in_text or lw not in _SHORT):
        # case matters for short forms: "M" is not meters, "Kg" is fine, "mL"/"L" are liters
        if lw in _SHORT and w not in (lw, lw.upper(), lw.capitalize()) and w not in ("mL",):
            return None
        if lw in _SHORT and w.isupper() and len(w) == 1 and lw not in ("l", "j", "n", "w"):
            return None
        return _SPELLINGS[lw]
    return None


def dimension(unit: str) -> str | None:
    """``"meter"`` -> length, ``"meter^2"``/``"squaremeter"`` -> area, ``"kilometer/hour"`` -> speed."""
    if "/" in unit:
        return "rate"
    base, _, power = unit.partition("^")
    if power == "2":
        return "area"
    if power == "3":
        return "volume"
    return _DIMENSION.get(base)


_UNIT_TOKEN = re.compile(r"[A-Za-z]+\.?|/|\^\s*\{?\s*[23]\s*\}?|\d")


def read_unit(text: str, ctx: Context, *, in_text: bool) -> str | None:
    """The canonical form of a unit phrase (``"sq. ft"`` -> ``"square foot"``, ``"km/h"`` ->
    ``"kilometer/hour"``, ``"apples"`` -> ``"apple"``), or None if ``text`` is not entirely a unit."""
    tokens = _UNIT_TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text):
        return None  # characters that are no part of a unit phrase
    parts: list[str] = []
    i = 0
    prefix = ""
    expect_unit = True
    while i < len(tokens):
        t = tokens[i]
        low = t.lower().rstrip(".")
        if t == "/" or low == "per":
            if expect_unit or not parts:
                return None
            parts.append("/")
            expect_unit = True
        elif t.startswith("^"):
            if expect_unit or not parts:
                return None
            parts[-1] += "^" + re.sub(r"\D", "", t)
        elif low in ("square", "sq", "cubic", "cu"):
            if prefix or not expect_unit:
                return None
            prefix = "square" if low in ("square", "sq") else "cubic"
        elif t.isdigit():
            return None
        else:
            short_ok = (in_text or t in ABBREVIATIONS or (i > 0 and tokens[i - 1] == "/")
                        or (i + 1 < len(tokens) and tokens[i + 1] == "/"))
            unit = canonical(t, in_text=short_ok)
            if unit is None:
                unit = _noun(low, ctx)
            if unit is None:
                return None
            if not expect_unit:  # "red apples": a second noun of the question qualifies the first
                if unit in _DIMENSION or parts[-1] in _DIMENSION:
                    return None  # two real units in a row ("5 cm m") is not a unit
                parts[-1] = unit
            else:
                parts.append(prefix + unit if prefix else unit)
            prefix = ""
            expect_unit = False
        i += 1
    if expect_unit or not parts:
        return None
    return "".join(_power_form(p) for p in parts)


def _power_form(unit: str) -> str:
    """One spelling for areas and volumes: "squarecentimeter" and "centimeter^2" are one unit."""
    if unit.startswith("square") and unit[6:] in _DIMENSION:
        return unit[6:] + "^2"
    if unit.startswith("cubic") and unit[5:] in _DIMENSION:
        return unit[5:] + "^3"
    return unit


def _noun(word: str, ctx: Context) -> str | None:
    if word in NEVER_UNITS or len(word) < 3:
        return None
    forms = _singular_forms(word)
    if forms & ctx.nouns:
        return min(forms, key=len)
    return None


def value_word(word: str) -> Fraction | None:
    """Exact factor of a value word (``dozen`` -> 12, ``fifths`` -> 1/5), or None."""
    w = word.lower()
    if w in MULTIPLIERS:
        return Fraction(MULTIPLIERS[w])
    if w in DENOMINATORS:
        return Fraction(1, DENOMINATORS[w])
    return None


def conflicts_with_question(unit: str, ctx: Context) -> bool:
    """A real unit other than the one(s) the question asks for ("5 minutes" when it asks "how many
    hours", "20 m^2" when it asks for meters, "20 liters" when it asks for dollars)."""
    if not unit or not ctx.asked_units or unit in ctx.asked_units:
        return False
    dim = dimension(unit)
    if dim is None or dim == "count":
        return False  # a noun of the question, or "times"
    return any(dimension(a) is not None for a in ctx.asked_units)
