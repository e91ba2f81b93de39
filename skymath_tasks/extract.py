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

Task = Literal["gsm8k", "math"]
Mode = Literal["strict", "flexible"]

#: Longest answer we keep; anything longer is not a final answer but a runaway generation.
MAX_ANSWER_CHARS = 2000

_MARKER_RE = re.compile(r"The answer is\s*:?", re.IGNORECASE)
_FINAL_RE = re.compile(r"(?:final answer|the correct answer)\s*(?:is|:)\s*:?", re.IGNORECASE)
_ZH_RE = re.compile(r"(?:最终)?答案(?:是|为|：|:)\s*[:：]?")
_NUMBER_RE = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _cut_answer(text: str) -> str:
    """The final answer that starts at ``text``: up to the end of its line (or block), trimmed.

    A line break inside an open brace or ``\\begin{...}`` environment does not end the answer (matrices
    are written over several lines). One trailing sentence period is dropped ("The answer is 18.").
    """
    depth = 0
    env = 0
    end = len(text)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == "\\":
            if text.startswith("\\begin", i):
                env += 1
            elif text.startswith("\\end", i):
                env = max(0, env - 1)
            i += 2
            continue
        elif ch == "\n" and depth == 0 and env == 0:
            end = i
            break
        i += 1
    ans = text[:end].strip()
    if len(ans) > MAX_ANSWER_CHARS:
        ans = ans[:MAX_ANSWER_CHARS]
    ans = ans.rstrip()
    if ans.endswith((".", "。")):  # the sentence's period, not part of the answer
        ans = ans[:-1].rstrip()
    return ans


def extract_marker(response: str) -> str | None:
    """Text after the last "The answer is" (colon optional); ``None`` when there is no marker."""
    last = None
    for last in _MARKER_RE.finditer(response):
        pass
    if last is None:
        return None
    # "The answer is:\n\\[ 5 \\]": an answer on the line after the marker still counts
    ans = _cut_answer(response[last.end():].lstrip())
    return ans if ans else None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (brace-matched), or of ``\\boxed 2``."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    cmd_len = len("\\boxed") if text.startswith("\\boxed", idx) else len("\\fbox")
    i = idx + cmd_len
    # \boxed 2  (no braces): the token up to whitespace or '$'
    if i < len(text) and text[i] != "{":
        m = re.match(r"\s+([^\s$]+)", text[i:])
        return m.group(1) if m else None
    depth = 0
    start = i + 1
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def _after(regex: re.Pattern[str], response: str) -> str | None:
    last = None
    for last in regex.finditer(response):
        pass
    if last is None:
        return None
    ans = _cut_answer(response[last.end():].lstrip())
    return ans or None


def last_number(response: str) -> str | None:
    nums = _NUMBER_RE.findall(response)
    return nums[-1].replace("$", "") if nums else None


def extract_answer(response: str, task: Task = "math", mode: Mode = "strict") -> str | None:
    """The final answer a response commits to under ``mode``, or ``None`` if it commits to none."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    if task not in ("gsm8k", "math"):
        raise ValueError(f"task must be 'gsm8k' or 'math', got {task!r}")
    ans = extract_marker(response)
    if ans is not None or mode == "strict":
        return ans
    for candidate in (last_boxed(response), _after(_FINAL_RE, response), _after(_ZH_RE, response)):
        if candidate:
            return candidate.strip()
    if task == "gsm8k":
        return last_number(response)
    return None
