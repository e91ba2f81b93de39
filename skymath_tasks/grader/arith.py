"""Exact arithmetic on rational LaTeX (``2+2``, ``\\frac{10}{2}``, ``3\\cdot 2^{4}``), in-process and bounded.

Why: an equation chain in an answer (``x = 2\\cdot 3 = 6``) is credited only when every side equals the
final value, and a prediction like ``2^{10}`` should meet the gold ``1024`` without a worker round
trip. This is a small recursive-descent evaluator over a regex tokenizer: it knows numbers, ``+ - * /``,
``\\cdot \\times \\div``, ``^`` with an integer exponent, parentheses/braces and ``\\frac``. Anything
else (a letter, another command) means "not plain arithmetic" and returns ``None``; it never evaluates
text as code. Sizes are capped so no input costs more than microseconds.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_CHARS = 200
MAX_EXPONENT = 1000
MAX_BITS = 4096

_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\frac|\\cdot|\\times|\\div|[-+*/^(){}])")


class _NotArithmetic(Exception):
    pass


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _NotArithmetic
        out.append(m.group(1))
        pos = m.end()
    return out


def evaluate(text: str) -> Fraction | None:
    """The exact value of ``text`` if it is plain rational arithmetic, else ``None``."""
    if not text or len(text) > MAX_CHARS or not any(c.isdigit() for c in text):
        return None
    try:
        toks = _tokens(text)
        p = _Parser(toks)
        value = p.expr()
        if p.i != len(toks):
            return None
        return value
    except (_NotArithmetic, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _check(v: Fraction) -> Fraction:
    if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
        raise _NotArithmetic
    return v


class _Parser:
    def __init__(self, toks: list[str]) -> None:
        self.t = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, tok: str | None = None) -> str:
        cur = self.peek()
        if cur is None or (tok is not None and cur != tok):
            raise _NotArithmetic
        self.i += 1
        return cur

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > 30:
            raise _NotArithmetic
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term()
            v = _check(v + w if op == "+" else v - w)
        self.depth -= 1
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                v = _check(v * self.unary())
            elif tok in ("/", "\\div"):
                self.take()
                d = self.unary()
                v = _check(v / d)
            elif tok in ("(",):  # 2(3+4): implicit product with a parenthesis only
                v = _check(v * self.unary())
            else:
                return v

    def unary(self) -> Fraction:
        tok = self.peek()
        if tok == "-":
            self.take()
            return -self.unary()
        if tok == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            if self.peek() == "-":  # 2^-1
                self.take()
                exp = -self.exponent()
            else:
                exp = self.exponent()
            if exp.denominator != 1 or abs(exp) > MAX_EXPONENT:
                raise _NotArithmetic
            if self.peek() == "^":
                raise _NotArithmetic  # power towers are never plain arithmetic here
            e = int(exp)
            if base == 0 and e < 0:
                raise ZeroDivisionError
            size = max(abs(base.numerator), base.denominator).bit_length()
            if size * abs(e) > MAX_BITS:
                raise _NotArithmetic
            return _check(base ** e)
        return base

    def exponent(self) -> Fraction:
        tok = self.peek()
        if tok is not None and tok[0].isdigit() and "." not in tok:
            self.take()
            # LaTeX reads 2^12 as 2^1 2: only the first digit is the exponent
            if len(tok) > 1:
                raise _NotArithmetic
            return Fraction(int(tok))
        if tok in ("{", "("):
            return self.atom()
        raise _NotArithmetic

    def atom(self) -> Fraction:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return Fraction(tok.rstrip(".") or "0")
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v
        if tok == "\\frac":
            if self.peek() == "{":
                num = self.atom()
                if self.peek() != "{":
                    raise _NotArithmetic
                den = self.atom()
                return _check(num / den)
            # \frac12: one digit each
            a = self.take()
            if not (a.isdigit() and len(a) in (1, 2)):
                raise _NotArithmetic
            if len(a) == 2:
                return _check(Fraction(int(a[0]), int(a[1])))
            b = self.take()
            if not (b.isdigit() and len(b) == 1):
                raise _NotArithmetic
            return _check(Fraction(int(a), int(b)))
        raise _NotArithmetic
