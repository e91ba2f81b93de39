"""Tier 4: LaTeX -> SymPy through ``latex2sympy2_extended`` and a proof of equality. Worker-side only.

Safety of the conversion (checked in latex2sympy2_extended 1.11.0): the ANTLR grammar tokenises the
text and the converter builds SymPy objects node by node; it never calls ``eval``/``exec``. Its only
string-to-SymPy calls are ``parse_expr`` on ``variable_values`` (we never pass any) and
``sympy.Number(token)`` on NUMBER / E_NOTATION tokens, which goes through ``sympify``. We replace that
number path with exact constructors from regex-checked digit strings (:func:`_install_guards`), so
no ``sympify`` of input text remains on the paths we use. ``sets.FiniteSet`` and ``logic.And`` sympify
their arguments, which are SymPy objects already.

Equality is proved, not guessed: exact rational comparison for numbers; otherwise a cheap numeric
disproof at fixed points, then ``simplify(a - b) == 0`` or, for constants, ``(a - b).equals(0)``.
Anything unproved is unequal (precision first).
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from skymath_tasks.grader.config import GraderConfig
from skymath_tasks.grader.normalize import nesting_depth

_NUMBER_TOKEN = re.compile(r"^\d*\.?\d*(?:[eE][+-]?\d+)?$")


def guard_reason(text: str, cfg: GraderConfig) -> str | None:
    """Why ``text`` must not reach SymPy (None if it may). Cheap, static, run in the parent."""
    if len(text) > cfg.max_symbolic_chars:
        return f"too long for symbolic tier ({len(text)} > {cfg.max_symbolic_chars} chars)"
    if nesting_depth(text) > cfg.max_depth:
        return f"nesting deeper than {cfg.max_depth}"
    for m in re.finditer(r"\d+", text):
        if len(m.group()) > cfg.max_number_digits:
            return f"integer literal longer than {cfg.max_number_digits} digits"
    for m in re.finditer(r"\^\s*(\{|\\?[a-zA-Z]+|[+-]?\d+(?:\.\d+)?)", text):
        start = m.start(1)
        if m.group(1) == "{":
            depth, j = 0, start
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            exp = text[start + 1:j]
        else:
            exp = m.group(1)
        if "^" in exp or "\\exp" in exp or "!" in exp:
            return "power tower in exponent"
        for num in re.findall(r"\d+(?:\.\d+)?", exp):
            if float(num) > cfg.max_exponent:
                return f"exponent {num} > {cfg.max_exponent}"
    if re.search(r"\d\s*_", text):
        return "base-n numeral (subscript on a number) is compared as written"
    for m in re.finditer(r"[)}]\s*\^\s*\{?\s*(\d+)", text):
        if int(m.group(1)) > 10 and "^" in _group_before(text, m.start()):
            return "large power of an expression that has powers inside"
    for m in re.finditer(r"(\d+)\s*!", text):
        if int(m.group(1)) > 1000:
            return "factorial argument > 1000"
    if re.search(r"\}\s*!|\)\s*!", text):
        return "factorial of an expression"
    if "\\int" in text or "\\lim" in text:
        return "calculus operators are not graded symbolically"
    if "\\sum" in text or "\\prod" in text:
        # a sum with numeric limits is evaluated: keep them small (exponent literals are capped above)
        for lim in re.findall(r"(?:_|\^)\s*\{?\s*[a-z]?\s*=?\s*(\d+)", text):
            if int(lim) > cfg.max_exponent:
                return f"sum/product limit {lim} > {cfg.max_exponent}"
    return None


def _group_before(text: str, close: int) -> str:
    """The bracketed group that ends at ``text[close]`` (a ')' or '}')."""
    depth = 0
    for j in range(close, -1, -1):
        if text[j] in ")}":
            depth += 1
        elif text[j] in "({":
            depth -= 1
            if depth == 0:
                return text[j:close + 1]
    return text[:close + 1]


_INSTALLED = False


def _install_guards() -> None:
    """Route latex2sympy2_extended's number tokens to exact constructors (no ``sympify`` on text)."""
    global _INSTALLED
    if _INSTALLED:
        return
    import sympy
    from latex2sympy2_extended import latex2sympy2 as l2s

    def safe_number(text: str):
        t = str(text).replace(",", "").replace(" ", "")
        if not t or not _NUMBER_TOKEN.match(t) or not any(ch.isdigit() for ch in t):
            raise ValueError(f"not a number token: {t[:30]!r}")
        mant, _, exp = t.lower().partition("e")
        value = Fraction(mant if mant not in ("", ".") else "0")
        if exp:
            e = int(exp)
            if abs(e) > 1000:
                raise ValueError("exponent too large")
            value *= Fraction(10) ** e
        return sympy.Rational(value.numerator, value.denominator)

    def parse_number(self, text):  # noqa: ARG001 - method signature of _Latex2Sympy
        return safe_number(text)

    def convert_number(number: str):
        if "," in number and number.startswith("0"):
            number = number.replace(",", ".")
        return safe_number(number)

    if not (hasattr(l2s._Latex2Sympy, "parse_number") and hasattr(l2s, "convert_number")):
        # reviewed against latex2sympy2_extended 1.11.0; a release without these hooks is not trusted
        raise RuntimeError("latex2sympy2_extended internals changed: number guard cannot be installed")
    l2s._Latex2Sympy.parse_number = parse_number
    l2s.convert_number = convert_number
    _INSTALLED = True


def to_sympy(latex: str):
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig
    from latex2sympy2_extended.math_normalization import NormalizationConfig

    _install_guards()
    cfg = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True,
                              boxed="none", equations=False)
    # case matters ("A" is not "a"); units are never dropped here (tier 2 owns them)
    conv = ConversionConfig(lowercase_symbols=False)
    expr = latex2sympy(latex, normalization_config=cfg, conversion_config=conv, convert_degrees="\\circ" in latex)
    return _imaginary_unit(expr)


def _imaginary_unit(expr):
    """``i`` in a competition answer is the imaginary unit (``1+2i``, ``i^2 = -1``)."""
    import sympy

    if not isinstance(expr, sympy.Basic):
        return expr
    i_symbols = [sym for sym in expr.free_symbols if getattr(sym, "name", None) == "i"]
    return expr.subs({sym: sympy.I for sym in i_symbols}) if i_symbols else expr


class SympyProver:
    """Proves equality of two LaTeX leaves; every failure to prove is a 'no'."""

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}
        self.last_reason = ""

    def _sym(self, latex: str):
        if latex not in self._cache:
            try:
                self._cache[latex] = to_sympy(latex)
            except Exception as exc:  # unparseable LaTeX is an answer we cannot credit
                self._cache[latex] = exc
        return self._cache[latex]

    def leaf(self, pred: str, gold: str) -> bool:
        a, b = self._sym(pred), self._sym(gold)
        if isinstance(a, Exception) or isinstance(b, Exception):
            self.last_reason = "unparseable: " + str(a if isinstance(a, Exception) else b)[:80]
            return False
        return self.equal(a, b)

    def relation(self, p_lhs: str, p_rhs: str, g_lhs: str, g_rhs: str) -> bool:
        parts = [self._sym(x) for x in (p_lhs, p_rhs, g_lhs, g_rhs)]
        if any(isinstance(x, Exception) for x in parts):
            self.last_reason = "unparseable equation side"
            return False
        pl, pr, gl, gr = parts
        try:
            dp, dg = pl - pr, gl - gr
        except Exception:
            return False
        if self.equal(dp, dg) or self.equal(dp, -dg):
            return True
        return self._proportional(dp, dg)

    def _proportional(self, dp, dg) -> bool:
        """``2x+4y-3=0`` and ``y=-x/2+3/4``: one side-difference is a nonzero constant times the other,
        so both equations have the same solutions."""
        import sympy

        if not (isinstance(dp, sympy.Expr) and isinstance(dg, sympy.Expr)) or dg == 0:
            return False
        try:
            ratio = sympy.simplify(sympy.cancel(dp / dg))
        except Exception:
            return False
        if ratio.free_symbols or not ratio.is_number or ratio == 0 or ratio.is_finite is not True:
            return False
        self.last_reason = "equations differ by a nonzero constant factor"
        return True

    def equal(self, a, b) -> bool:
        import sympy

        random.seed(0)
        if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
            try:
                same = bool(a == b)
            except Exception:
                same = False
            self.last_reason = "structural sympy equality" if same else "different sympy objects"
            return same
        try:
            a, b = a.doit(), b.doit()  # latex2sympy builds unevaluated Add/Pow; exponents were capped
            diff = a - b
        except Exception as exc:
            self.last_reason = f"cannot subtract: {exc}"[:100]
            return False
        if diff.is_Rational:
            self.last_reason = "exact rational"
            return diff == 0
        syms = sorted(diff.free_symbols, key=lambda s: s.name)
        if _numerically_nonzero(diff, a, b, syms):
            self.last_reason = "numeric disproof"
            return False
        try:
            if sympy.expand(diff) == 0:
                self.last_reason = "expand(a-b)==0"
                return True
        except Exception:
            pass
        try:
            if sympy.simplify(diff) == 0:
                self.last_reason = "simplify(a-b)==0"
                return True
        except Exception:
            pass
        if not syms:
            try:
                if diff.equals(0) is True:
                    self.last_reason = "equals(0)"
                    return True
            except Exception:
                pass
        self.last_reason = "equality not proved"
        return False


_POINTS = [(Fraction(7, 3), Fraction(5, 11)), (Fraction(-3, 7), Fraction(13, 5)), (Fraction(19, 6), Fraction(-2, 9))]


def _numerically_nonzero(diff, a, b, syms) -> bool:
    """True when ``a - b`` is clearly not 0 at a fixed point (equality is false, no simplify needed).

    "Clearly" is relative: |a - b| > 1e-12 * max(1, |a|, |b|) at 40 significant digits, so a large
    value that cancels exactly is never declared non-zero by rounding.
    """
    import sympy

    points = [{}] if not syms else [
        {s: sympy.Rational(*((p[k % 2] + k).as_integer_ratio())) for k, s in enumerate(syms)} for p in _POINTS
    ]
    for subs in points:
        try:
            vals = []
            for e in (diff, a, b):
                v = (e.subs(subs) if subs else e).evalf(40)
                re_, im_ = v.as_real_imag()
                vals.append(abs(complex(float(re_), float(im_))))
        except Exception:
            continue
        d, sa, sb = vals
        if any(x != x or x == float("inf") for x in vals):
            continue
        if d > 1e-12 * max(1.0, sa, sb):
            return True
    return False
