"""Answer extraction from model responses.

Two policies:

* ``strict`` is the paper's criterion: the answer is the text after the LAST "The answer is"
  (colon optional, MetaMath's models write "The answer is: "); no marker means no answer.
* ``flexible`` also accepts, in this order, ``\\boxed{...}`` (last one), "final answer is", the
  Chinese "答案是", and for GSM8K the last number in the response.

Extraction never interprets the text: it only cuts substrings, so it is safe on any input.
"""

from __future__ import annotations

import re
from typing import Literal

from skymath_tasks.grader.config import MAX_ANSWER_CHARS
from skymath_tasks.grader.normalize import matching_brace

Task = Literal["gsm8k", "math"]
Mode = Literal["strict", "flexible"]

_MARKER_RE = re.compile(r"The answer is\s*:?", re.IGNORECASE)
_FINAL_RE = re.compile(r"(?:final answer|the correct answer)\s*(?:is|:)\s*:?", re.IGNORECASE)
_ZH_RE = re.compile(r"(?:最终)?答案(?:是|为|：|:)\s*[:：]?")
_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BOX_SEP = re.compile(r"\s*\$?\s*(?:,|;|and|\\text\{\s*(?:,|and)\s*\}|\\quad|\\qquad)?\s*\$?\s*")
_NUMBER_RE = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _cut_answer(text: str, max_chars: int) -> str:
    r"""The final answer that starts at ``text``: up to the end of its line (or block), trimmed.

    A line break inside an open brace, a ``\begin{...}`` environment or display math (``\[...\]``,
    ``\(...\)``, ``$$...$$``) does not end the answer: matrices and displayed answers span lines
    ("The answer is:\n\[\n\boxed{9}\n\]"). One trailing sentence period is dropped ("The answer
    is 18."). At most ``max_chars + 1`` characters are kept, so a runaway answer stays detectable as
    too long without holding it whole.
    """
    depth = env = 0
    display = False
    end = len(text)
    i = 0
    limit = max_chars + 1
    while i < len(text):
        if i > limit:
            end = i
            break
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == "\\":
            nxt = text[i + 1:i + 2]
            if text.startswith("\\begin", i):
                env += 1
            elif text.startswith("\\end", i):
                env = max(0, env - 1)
            elif nxt in ("[", "("):
                env += 1
            elif nxt in ("]", ")"):
                env = max(0, env - 1)
            i += 2
            continue
        elif ch == "$" and text.startswith("$$", i):
            display = not display
            i += 2
            continue
        elif ch == "\n" and depth == 0 and env == 0 and not display:
            end = i
            break
        i += 1
    ans = text[:min(end, limit)].strip()
    if ans.endswith((".", "。")) and len(ans) <= max_chars:  # the sentence's period, not part of the answer
        ans = ans[:-1].rstrip()
    return ans


def extract_marker(response: str, max_chars: int = MAX_ANSWER_CHARS) -> str | None:
    """Text after the last "The answer is" (colon optional); ``None`` when there is no marker."""
    last = None
    for last in _MARKER_RE.finditer(response):
        pass
    if last is None:
        return None
    # "The answer is:\n\\[ 5 \\]": an answer on the line after the marker still counts
    ans = _cut_answer(response[last.end():].lstrip(), max_chars)
    return ans if ans else None


def _boxes(text: str) -> list[tuple[int, int, str | None]]:
    """Every ``\boxed{...}`` / ``\fbox{...}`` (brace-matched) or ``\boxed 2``: (start, end, content);
    content is None for a box that is not closed or has no argument."""
    out: list[tuple[int, int, str | None]] = []
    for m in _BOX_RE.finditer(text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            close = matching_brace(text, i)
            out.append((m.start(), close + 1, text[i + 1:close]) if close >= 0 else (m.start(), len(text), None))
        else:  # \boxed 2  (no braces): the token up to whitespace or '$'
            t = re.match(r"\s+([^\s$]+)", text[i:])
            out.append((m.start(), i + t.end(), t.group(1)) if t else (m.start(), i, None))
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last ``\boxed{...}`` / ``\fbox{...}`` (brace-matched), or of ``\boxed 2``."""
    boxes = _boxes(text)
    return boxes[-1][2] if boxes else None


def last_boxed_run(text: str) -> str | None:
    """The last box, or the last run of boxes separated only by commas/"and" (``\boxed{1}, \boxed{2}``),
    joined as a list: a model that boxes each of several answers gives them all."""
    boxes = _boxes(text)
    if not boxes or boxes[-1][2] is None:
        return None
    run = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        if prev[2] is None or not _BOX_SEP.fullmatch(text[prev[1]:run[0][0]]):
            break
        run.insert(0, prev)
    return ", ".join(b[2] for b in run)


def _after(regex: re.Pattern[str], response: str, max_chars: int) -> str | None:
    last = None
    for last in regex.finditer(response):
        pass
    if last is None:
        return None
    ans = _cut_answer(response[last.end():].lstrip(), max_chars)
    return ans or None


def last_number(response: str) -> str | None:
    nums = _NUMBER_RE.findall(response)
    return nums[-1].replace("$", "") if nums else None


def extract_answer(response: str, task: Task = "math", mode: Mode = "strict",
                   max_chars: int = MAX_ANSWER_CHARS) -> str | None:
    """The final answer a response commits to under ``mode``, or ``None`` if it commits to none.

    Answers are cut at ``max_chars + 1`` characters (the grader's ``max_answer_chars``): anything
    longer is graded wrong as a runaway generation, and no answer is ever graded on a cut prefix.
    """
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    if task not in ("gsm8k", "math"):
        raise ValueError(f"task must be 'gsm8k' or 'math', got {task!r}")
    ans = extract_marker(response, max_chars)
    if ans is not None or mode == "strict":
        return ans
    boxed = last_boxed_run(response)
    if boxed is not None and len(boxed) > max_chars:
        boxed = boxed[:max_chars + 1]
    for candidate in (boxed, _after(_FINAL_RE, response, max_chars), _after(_ZH_RE, response, max_chars)):
        if candidate:
            return candidate.strip()
    if task == "gsm8k":
        return last_number(response)
    return None
