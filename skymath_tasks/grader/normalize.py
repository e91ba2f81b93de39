"""Surface normalisation of LaTeX answers: pure string rewriting, linear time, never interprets text.

Everything here maps two spellings of the same answer to one string (``\\dfrac`` and ``\\frac``,
``\\left(`` and ``(``, ``^{\\circ}`` and nothing, ``\\!`` and nothing). Anything that could change the
value of an answer (units that carry meaning, percent signs) is left for the typed tiers to decide.
"""

from __future__ import annotations

import re

_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad\b|~|\\displaystyle\b|\\limits\b|\\nolimits\b")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree\b|\\circ\s*$")
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_CHOOSE = re.compile(r"^\{?\s*(\w+)\s*\\choose\s*(\w+)\s*\}?$")
_TEXT_CMDS = re.compile(r"\\(?:mbox|mathrm|textrm|textbf|mathbf|textit|mathit|texttt|textnormal|operatorname\*?|emph|textsf|mathsf)\s*\{")
_FRAC_CMDS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_DOUBLED_BACKSLASH = re.compile(  # not the row break "\\\\" before a command ("\\\\\\frac")
    r"(?<!\\)\\\\(?=(?:frac|dfrac|tfrac|sqrt|le|leq|ge|geq|ne|neq|pi|infty|boxed|text|left|right|cdot|times|in|cup|cap|pm|mp|"
    r"begin|end|circ|mathrm|mathbf|emptyset|varnothing|sin|cos|tan|log|ln|theta|alpha|beta|\\{|\\})(?![a-zA-Z]))")
_THIN_THOUSANDS = re.compile(r"(?<=\d),\\!\s*(?=\d{3}(?!\d))")
_EMPTYSET = re.compile(r"\\varnothing(?![a-zA-Z])|∅|\\emptyset(?![a-zA-Z])")
_PAREN_MATH = re.compile(r"^\\[(\[](.*)\\[)\]]$", re.S)
_UNICODE = {
    "−": "-", "–": "-", "—": "-", "×": "\\times ", "·": "\\cdot ", "÷": "\\div ", "≤": "\\le ",
    "≥": "\\ge ", "≠": "\\ne ", "∞": "\\infty ", "π": "\\pi ", "√": "\\sqrt", "∪": "\\cup ",
    "，": ",", "：": ":", "（": "(", "）": ")", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}
_RELATIONS = [
    (re.compile(r"\\leq?slant(?![a-zA-Z])|\\leqq?(?![a-zA-Z])|<="), "\\le "),
    (re.compile(r"\\geq?slant(?![a-zA-Z])|\\geqq?(?![a-zA-Z])|>="), "\\ge "),
    (re.compile(r"\\neq(?![a-zA-Z])|!="), "\\ne "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"\\lbrace(?![a-zA-Z])"), "\\{"),
    (re.compile(r"\\rbrace(?![a-zA-Z])"), "\\}"),
]


def clean(s: str) -> str:
    """Canonical surface form: math delimiters, spacing, sizing and font commands removed."""
    s = s.strip()
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    for _ in range(3):  # peel $...$, \(...\), \[...\], \boxed{...}, trailing period, in any order
        before = s
        s = _strip_math_dollars(s)
        m = _PAREN_MATH.match(s)
        if m:
            s = m.group(1).strip()
        inner = unwrap_command(s, ("\\boxed", "\\fbox"))
        if inner is not None:
            s = inner.strip()
        s = s.rstrip()
        if s.endswith("\\."):
            s = s[:-2].rstrip()
        elif s.endswith("."):
            s = s[:-1].rstrip()
        if s == before:
            break
    s = _DOUBLED_BACKSLASH.sub(r"\\", s)  # "\\\\frac" from an escaped string: the command meant
    s = _THIN_THOUSANDS.sub(",", s)  # "11,\\! 111,\\! 100": the separator, then a stray space
    s = s.replace("\\!", "")  # negative thin space, as in 15,\\!000
    s = _EMPTYSET.sub("\\\\emptyset", s)
    s = _SPACING.sub(" ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _FRAC_CMDS.sub("\\\\frac", s)
    s = _TEXT_CMDS.sub("\\\\text{", s)
    for rx, rep in _RELATIONS:
        s = rx.sub(rep.replace("\\", "\\\\"), s)
    if not _TRIG.search(s):  # inside trig functions degrees carry meaning (sin 60° = sqrt(3)/2)
        s = _DEGREES.sub("", s)
    m = _CHOOSE.match(s)
    if m:
        s = f"\\binom{{{m.group(1)}}}{{{m.group(2)}}}"
    s = s.replace("\\dots", "\\ldots").replace("\\cdots", "\\ldots")
    s = re.sub(r"\s+", " ", s).strip()
    return s


def _strip_math_dollars(s: str) -> str:
    """``$x$`` / ``$$x$$`` -> ``x``; an escaped ``\\$`` (currency) is content, not a delimiter."""
    if not (s.startswith("$") and s.endswith("$")) or s.endswith("\\$") or len(s) < 2:
        return s
    inner = s.lstrip("$")
    k = len(inner)
    while k > 0 and inner[k - 1] == "$" and not (k >= 2 and inner[k - 2] == "\\"):
        k -= 1
    inner = inner[:k]
    if re.search(r"(?<!\\)\$", inner):  # "$a$ and $b$": two math spans, not one wrapped answer
        return s
    return inner.strip()


def unwrap_command(s: str, names: tuple[str, ...]) -> str | None:
    """``X`` when ``s`` is exactly ``\\name{X}`` (brace-matched) for one of ``names``, else ``None``."""
    for name in names:
        if s.startswith(name):
            rest = s[len(name):].lstrip()
            if not rest.startswith("{"):
                continue
            end = matching_close(rest, 0)
            if end == len(rest) - 1:
                return rest[1:end]
    return None


_PAIRS = {"{": "}", "(": ")", "[": "]"}


def matching_close(s: str, i: int) -> int:
    """Index of the bracket closing the one at ``s[i]`` (any of {}()[] closes; -1 if unbalanced).

    Brackets are counted without regard to type because intervals like ``[1,2)`` mix them.
    """
    depth = 0
    j = i
    while j < len(s):
        ch = s[j]
        if ch == "\\" and j + 1 < len(s) and s[j + 1] in "{}":
            j += 2
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def matching_brace(s: str, i: int, stop: int | None = None) -> int:
    """Index of the ``}`` closing the ``{`` at ``s[i]``, braces only (escaped ``\\{``/``\\}`` skipped),
    or -1 when it is not closed before ``stop`` (default: the end of ``s``)."""
    depth = 0
    j = i
    end = len(s) if stop is None else min(stop, len(s))
    while j < end:
        ch = s[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def nesting_depth(s: str) -> int:
    """Deepest bracket nesting (all of {}()[] counted together)."""
    depth = best = 0
    for ch in s:
        if ch in "{([":
            depth += 1
            best = max(best, depth)
        elif ch in "})]":
            depth = max(0, depth - 1)
    return best


def split_top(s: str, seps: tuple[str, ...]) -> list[str]:
    """Split at separators that are outside every bracket and ``\\begin..\\end`` block.

    ``\\{`` and ``\\}`` count as brackets (sets); ``\\left``/``\\right`` were removed by :func:`clean`.
    """
    parts: list[str] = []
    depth = 0
    env = 0
    start = 0
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            if s.startswith("\\begin", i):
                env += 1
            elif s.startswith("\\end", i):
                env = max(0, env - 1)
            elif i + 1 < n and s[i + 1] in "{}":
                depth += 1 if s[i + 1] == "{" else -1
                i += 2
                continue
            if depth == 0 and env == 0:
                hit = next((sep for sep in seps if sep.startswith("\\") and s.startswith(sep, i)), None)
                if hit is not None and not (i + len(hit) < n and s[i + len(hit)].isalpha() and hit[-1].isalpha()):
                    parts.append(s[start:i])
                    i += len(hit)
                    start = i
                    continue
            i += 1
            while i < n and s[i].isalpha():
                i += 1
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif depth == 0 and env == 0:
            hit = next((sep for sep in seps if not sep.startswith("\\") and s.startswith(sep, i)), None)
            if hit is not None:
                parts.append(s[start:i])
                i += len(hit)
                start = i
                continue
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def leaf_key(s: str) -> str:
    """Key under which two expression spellings are the same string (no spaces, Hendrycks-style fixes).

    ``\\frac12`` -> ``\\frac{1}{2}``, ``\\sqrt3`` -> ``\\sqrt{3}``, ``{,}`` and spaces removed.
    """
    s = s.replace(" ", "").replace("{,}", ",")
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\^\{(\w)\}", r"^\1", s)
    s = re.sub(r"_\{(\w)\}", r"_\1", s)
    s = s.replace("\\text{", "{")
    s = s.replace("\\cdot", "*").replace("\\times", "*")
    s = re.sub(r"^\{([^{}]*)\}$", r"\1", s)
    return s
