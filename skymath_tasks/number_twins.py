"""Reference items for the contamination probes: test problems with their numbers changed.

Why: a probe score (how well a model continues a test item) means little on its own; a strong model
continues any grade-school word problem well. What memorisation adds is the gap between an item and
a *twin* that is as easy to predict for a model that has not seen either, but that no one can have
memorised: the same problem with other numbers. Xu et al. (2024) build their reference by having an
LLM paraphrase the benchmark; changing numbers is offline, deterministic, keeps the text (and its word
count) aligned with the original, and hits exactly what a memorising model recalls best.

How (GSM8K, :func:`gsm8k_twin`):

* every integer >= 2 written with digits in the question gets a nearby value of the same shape (same
  digit count and trailing zeros, half to one and a half times its significant part, a multiple of 5
  stays one: ``48 -> 36``, ``600 -> 400``, ``1,200 -> 1,400``, ``$2 -> $4``), never one of the item's own
  numbers; 0, 1, decimals, clock times, ordinals, number words, and 100 in percent problems stay.
  Nearby matters: a clean model finds "$9 per egg" less likely than the author's "$2", and that alone
  would open a gap;
* the worked solution is recomputed exactly: each ``<<expr=result>>`` calculator annotation (or, in
  answers without them, each visible ``a op b = c`` equation) is re-evaluated with fractions after
  substituting the new values of the question's numbers and of earlier results; a draw is kept only
  when every new result is as "nice" as the original (an integer where it was one, positive where it
  was positive, at most two decimals) and every number of the solution text is accounted for;
* up to :data:`MAX_DRAWS` seeded draws per item; when none recomputes the solution exactly, the twin
  changes the question only and :attr:`Twin.solution_exact` is False (the probes then score the
  question part only, of both the item and its twin, so the pair stays comparable).

MATH (:func:`math_twin`): numbers of the problem statement only (exponents and subscripts stay); a
changed competition problem has no recomputable solution, so only problems are probed.

Arithmetic is parsed by a small grammar (numbers, ``+ - * /``, parentheses) over fractions: benchmark
text is data, never code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from skymath_tasks.distractors import _Rng as StableRng, numbers_in  # _Rng: counter-mode SHA-256 draws, same everywhere

#: seeded draws tried per item before falling back to a question-only twin
MAX_DRAWS = 60
#: values that are never changed (0 and 1 read as words: "1 hour", "0 left")
KEPT_VALUES = frozenset({0, 1})
TWIN_VERSION = "skymath-number-twins-v1"

# A number as GSM8K writes it: "1,200", "18", "2.50", ".5"; not part of a word ("5th", "A4"), not a
# clock time ("7:30"), not glued to another number.
_NUMBER = re.compile(r"(?<![\w.,:])(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?![\w:]|[.,]\d)")
_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_VISIBLE_EQUATION = re.compile(r"((?:[\d.,$()]+\s*[-+*/x×]\s*)+[\d.,$()]+)\s*=\s*\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)")


@dataclass(frozen=True)
class NumberToken:
    start: int
    end: int
    text: str
    value: Fraction

    @property
    def decimals(self) -> int:
        return len(self.text.split(".", 1)[1]) if "." in self.text else 0

    @property
    def is_integer(self) -> bool:
        return "." not in self.text


def number_tokens(text: str) -> list[NumberToken]:
    """The numbers written with digits in ``text``, with their positions."""
    out = []
    for m in _NUMBER.finditer(text):
        out.append(NumberToken(m.start(), m.end(), m.group(), Fraction(m.group().replace(",", ""))))
    return out


# ------------------------------------------------------------------------------------ arithmetic
class ExpressionError(ValueError):
    """An expression outside the grammar ``number | expr (+|-|*|/) expr | (expr) | -expr``."""


def evaluate(expr: str, substitute: dict[Fraction, Fraction] | None = None) -> Fraction:
    """Value of an arithmetic expression (``48/2``, ``(3+4)*2``, ``60/100*5``) over fractions.

    ``substitute`` maps number values to the values used instead (the twin's numbers). Raises
    :class:`ExpressionError` for anything else (letters, ``**``, division by zero, trailing text).
    """
    tokens = re.findall(r"\d+(?:\.\d+)?|\.\d+|[-+*/()x×]|\S", expr.replace(",", "").replace("$", ""))
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ExpressionError(f"unexpected end of {expr!r}")
        pos += 1
        return tokens[pos - 1]

    def atom() -> Fraction:
        tok = take()
        if tok == "(":
            value = additive()
            if take() != ")":
                raise ExpressionError(f"unbalanced parentheses in {expr!r}")
            return value
        if tok == "-":
            return -atom()
        if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", tok):
            value = Fraction(tok)
            return substitute.get(value, value) if substitute else value
        raise ExpressionError(f"unexpected {tok!r} in {expr!r}")

    def multiplicative() -> Fraction:
        value = atom()
        while peek() in ("*", "/", "x", "×"):
            op = take()
            rhs = atom()
            if op == "/":
                if rhs == 0:
                    raise ExpressionError(f"division by zero in {expr!r}")
                value /= rhs
            else:
                value *= rhs
        return value

    def additive() -> Fraction:
        value = multiplicative()
        while peek() in ("+", "-"):
            op = take()
            rhs = multiplicative()
            value = value + rhs if op == "+" else value - rhs
        return value

    if not tokens:
        raise ExpressionError("empty expression")
    result = additive()
    if pos != len(tokens):
        raise ExpressionError(f"trailing {tokens[pos]!r} in {expr!r}")
    return result


def expression_numbers(expr: str) -> list[Fraction]:
    return [Fraction(t) for t in re.findall(r"\d+(?:\.\d+)?|\.\d+", expr.replace(",", ""))]


# ------------------------------------------------------------------------------------ new values
def _digits_of(value: int) -> tuple[int, int]:
    """``(mantissa, trailing zeros)``: 4500 -> (45, 2)."""
    zeros = 0
    while value and value % 10 == 0:
        value //= 10
        zeros += 1
    return value, zeros


def new_value(value: int, rng: StableRng, forbidden: set[Fraction]) -> int | None:
    """A nearby integer of the same shape, so the twin stays as plausible as the original to a model
    that knows neither: same digit count and trailing zeros, within half to one and a half times the
    significant part (single digits: within 3), a multiple of 5 when the original's significant part is
    one (else the last kept digit is non-zero). ("$2 per egg" becomes "$4", not "$9"; "16 eggs" 11..24,
    not 97.) None when every such value is forbidden (the item's own numbers)."""
    mantissa, zeros = _digits_of(value)
    width = len(str(mantissa))
    if width == 1:
        lo, hi = max(2, mantissa - 3), min(9, mantissa + 3)
    else:
        lo, hi = max(10 ** (width - 1), (mantissa + 1) // 2), min(10 ** width - 1, mantissa * 3 // 2)
    step = 5 if mantissa % 5 == 0 and width > 1 else 1
    first = lo + (-lo) % step

    def ok(m: int) -> bool:
        return bool(m % 10 or step == 5) and m != mantissa and Fraction(m * 10 ** zeros) not in forbidden

    count = (hi - first) // step + 1 if hi >= first else 0
    if count > 256:  # a long number (MATH has some): draw instead of listing the range
        for _ in range(64):
            m = first + step * rng.below(count)
            if ok(m):
                return m * 10 ** zeros
        return None
    candidates = [m for m in range(first, hi + 1, step) if ok(m)]
    if not candidates:
        return None
    return candidates[rng.below(len(candidates))] * 10 ** zeros


def format_like(token: NumberToken, value: Fraction) -> str | None:
    """``value`` written the way ``token`` is (thousands separators, decimals); None if it cannot be exactly."""
    scaled = value * 10 ** token.decimals
    if scaled.denominator != 1:
        return None
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled.numerator))
    if token.decimals:
        digits = digits.rjust(token.decimals + 1, "0")
        whole, frac = digits[: -token.decimals], digits[-token.decimals:]
    else:
        whole, frac = digits, ""
    if "," in token.text and len(whole) > 3:
        whole = f"{int(whole):,}"
    return sign + whole + (f".{frac}" if frac else "")


def _nice(original: Fraction, new: Fraction) -> bool:
    """Is a recomputed result as plain as the original one?"""
    if (original > 0) != (new > 0) or (original == 0) != (new == 0):
        return False
    if original.denominator == 1:
        return new.denominator == 1
    return (new * 100).denominator == 1


# ------------------------------------------------------------------------------------ twins
@dataclass
class Twin:
    """A number-changed copy of one item."""

    question: str
    answer: str | None  # the recomputed solution (None: question-only twin)
    changes: dict[str, str] = field(default_factory=dict)  # original value -> new value, as text
    draw: int = 0

    @property
    def solution_exact(self) -> bool:
        return self.answer is not None


def _rewrite(text: str, mapping: dict[Fraction, Fraction], *, strict: bool,
             allowed: set[Fraction] = frozenset()) -> str | None:  # type: ignore[assignment]
    """Replace every number of ``text`` whose value is mapped. ``strict``: every other number must be
    kept on purpose (0/1, a constant of the arithmetic in ``allowed``), else None."""
    out, last = [], 0
    for tok in number_tokens(text):
        if tok.value in mapping:
            new = format_like(tok, mapping[tok.value])
            if new is None:
                return None
            out.append(text[last:tok.start])
            out.append(new)
            last = tok.end
        elif strict and tok.value not in KEPT_VALUES and tok.value not in allowed:
            return None
    out.append(text[last:])
    return "".join(out)


def fixed_values(*texts: str) -> set[Fraction]:
    """Values an item also uses in words or as a conversion constant, so a digit with that value may
    not mean the question's quantity: number words ("two-thirds" -> 3, "half" -> 2, "dozen" -> 12)
    and 100 in an item that talks in percent."""
    out = {Fraction(v).limit_denominator(1000) for t in texts for v in numbers_in(re.sub(r"\d", " ", t))}
    if any("%" in t or "percent" in t.lower() for t in texts):
        out.add(Fraction(100))
    return out


def _question_mapping(question: str, rng: StableRng, forbidden: set[Fraction], fixed: set[Fraction],
                      partial: bool = False) -> dict[Fraction, Fraction] | None:
    """New values for the question's integers; ``partial``: each changed with probability 1/2 (the
    later draws, for problems whose divisions few full draws keep exact)."""
    mapping: dict[Fraction, Fraction] = {}
    taken = set(forbidden)
    for tok in number_tokens(question):
        v = tok.value
        if v in mapping or not tok.is_integer or v.denominator != 1 or int(v) in KEPT_VALUES or v in fixed:
            continue
        if partial and rng.below(2):
            continue
        new = new_value(int(v), rng, taken)
        if new is None:
            continue  # no nearby value left that the item does not already use: this number stays
        mapping[v] = Fraction(new)
        taken.add(Fraction(new))
    return mapping


def _steps(answer: str) -> list[tuple[str, str]]:
    """``(expression, result)`` of each computation, in the order written: the calculator annotations
    and the visible ``a op b = c`` equations outside them (some solutions compute without annotation)."""
    found = []
    for m in _ANNOTATION.finditer(answer):
        expr, sep, result = m.group(1).rpartition("=")
        found.append((m.start(), expr, result) if sep else (m.start(), "", ""))
    blanked = _ANNOTATION.sub(lambda m: "<" * len(m.group()), answer)  # positions kept, annotations unmatched
    found += [(m.start(), m.group(1), m.group(2)) for m in _VISIBLE_EQUATION.finditer(blanked)]
    return [(expr, result) for _, expr, result in sorted(found)]


def _recompute(answer: str, question_values: set[Fraction], mapping: dict[Fraction, Fraction],
               fixed: set[Fraction] = frozenset()) -> tuple[str, dict[Fraction, Fraction]] | None:  # type: ignore[assignment]
    """The answer with the new numbers and recomputed results, or None when that is not exact."""
    mapping = dict(mapping)
    explained = set(question_values)  # numbers the solution text may show: the question's, results, constants
    steps = _steps(answer)
    if not steps:
        return None
    for expr, result in steps:
        try:
            original = evaluate(expr)
            claimed = Fraction(result.replace(",", "").replace("$", "").strip())
            if original != claimed:
                return None  # the reference's own arithmetic is off: nothing exact to recompute
            new = evaluate(expr, mapping)
        except (ExpressionError, ValueError, ZeroDivisionError):
            return None
        if original < 0 or not _nice(original, new):
            return None  # (a negative result is written "-50": its sign is not part of the number token)
        if original in mapping:
            if mapping[original] != new:
                return None  # the same value plays two parts with different new values
        elif new != original:
            if original in KEPT_VALUES or original in fixed or original in explained or original in expression_numbers(expr):
                # a result of 1 would turn every "1 hour" into another number; a value already used
                # unchanged (a constant such as the 2 of "half") would be rewritten where it was used
                return None
            mapping[original] = new
        explained.update(expression_numbers(expr))
        explained.add(original)
    parts, last = [], 0
    for m in _ANNOTATION.finditer(answer):
        parts.append(answer[last:m.start()])
        expr, _, result = m.group(1).rpartition("=")
        new_expr = _rewrite(expr, mapping, strict=False)
        res_tok = number_tokens(result)
        if len(res_tok) == 1 and result.strip() == res_tok[0].text:
            new_res = format_like(res_tok[0], mapping.get(res_tok[0].value, res_tok[0].value))
        else:  # a result written as a fraction ("3/4"): kept only when its value does not change
            new_res = result if evaluate(new_expr or "0") == evaluate(expr) else None
        if new_expr is None or new_res is None:
            return None
        parts.append(f"<<{new_expr}={new_res}>>")
        last = m.end()
    parts.append(answer[last:])
    skeleton = "".join(parts)
    # the text outside the annotations: a number that no step explains (worked out in the head) cannot
    # be recomputed, so the draw fails rather than leave a stale number in the twin's solution
    pieces, last = [], 0
    for m in _ANNOTATION.finditer(skeleton):
        text = _rewrite(skeleton[last:m.start()], mapping, strict=True, allowed=explained)
        if text is None:
            return None
        pieces.append(text)
        pieces.append(m.group())
        last = m.end()
    tail = _rewrite(skeleton[last:], mapping, strict=True, allowed=explained)
    if tail is None:
        return None
    pieces.append(tail)
    return "".join(pieces), mapping


def _item_numbers(*texts: str) -> set[Fraction]:
    return {t.value for text in texts for t in number_tokens(text)}


def gsm8k_twin(question: str, answer: str, *, key: str, seed: int | str = 0, draws: int = MAX_DRAWS) -> Twin | None:
    """The twin of a GSM8K item (``answer`` in GSM8K's format, ``#### n`` last); None when the
    question has no number to change.

    ``key`` identifies the item (its index): the draws depend on it and on ``seed`` only, so a twin
    is the same on every machine and run.
    """
    originals = _item_numbers(question, answer)
    fixed = fixed_values(question, answer)
    question_values = {t.value for t in number_tokens(question)}
    try:  # a solution that cannot be recomputed unchanged (unexplained numbers, wrong arithmetic) never will be
        solvable = _recompute(answer, question_values, {}, fixed) is not None
    except ExpressionError:
        solvable = False
    fallback: Twin | None = None
    for draw in range(draws):
        rng = StableRng(TWIN_VERSION, seed, key, draw)
        mapping = _question_mapping(question, rng, originals, fixed, partial=draw >= draws // 2)
        if mapping is None or (not mapping and draw < draws // 2):
            return fallback  # nothing in the question can change
        if not mapping:
            continue
        new_question = _rewrite(question, mapping, strict=False)
        if new_question is None or new_question == question:
            continue
        changes = {_fmt(k): _fmt(v) for k, v in mapping.items()}
        if fallback is None:
            fallback = Twin(new_question, None, changes, draw)
            if not solvable:
                return fallback
        try:
            done = _recompute(answer, question_values, mapping, fixed)
        except ExpressionError:
            done = None
        if done is not None:
            new_answer, full = done
            if new_answer == answer:
                continue
            return Twin(new_question, new_answer, {_fmt(k): _fmt(v) for k, v in full.items()}, draw)
    return fallback


# MATH: digits outside exponents, subscripts and command arguments like \sqrt[3]{...} stay as they are.
_MATH_NUMBER = re.compile(r"(?<![\w.^_\\])(?<!\^\{)(?<!_\{)(\d+)(?!\.?\d)")


def math_twin(problem: str, *, key: str, seed: int | str = 0) -> Twin | None:
    """A MATH problem with its integers >= 2 changed (same shape as in :func:`new_value`); None if none."""
    originals = {Fraction(m.group(1)) for m in _MATH_NUMBER.finditer(problem)}
    rng = StableRng(TWIN_VERSION, "math", seed, key)
    mapping: dict[Fraction, Fraction] = {}
    taken = set(originals)
    for v in sorted(originals):
        if int(v) in KEPT_VALUES:
            continue
        new = new_value(int(v), rng, taken)
        if new is None:
            continue
        mapping[v] = Fraction(new)
        taken.add(Fraction(new))
    if not mapping:
        return None
    out = _MATH_NUMBER.sub(lambda m: str(mapping.get(Fraction(m.group(1)), m.group(1))), problem)
    return Twin(out, None, {_fmt(k): _fmt(v) for k, v in mapping.items()}) if out != problem else None


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


__all__ = ["Twin", "NumberToken", "ExpressionError", "number_tokens", "evaluate", "fixed_values", "new_value", "format_like", "gsm8k_twin", "math_twin",
           "MAX_DRAWS", "KEPT_VALUES", "TWIN_VERSION"]
