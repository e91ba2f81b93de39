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
from dataclasses import dataclass
from typing import Literal

from skymath_tasks.grader.config import MAX_ANSWER_CHARS
from skymath_tasks.grader.normalize import matching_brace

Task = Literal["gsm8k", "math"]
Mode = Literal["strict", "flexible"]

_MARKER_RE = re.compile(r"The answer is\s*:?", re.IGNORECASE)
#: "Answer: 9" / "Answer \\[ 9 \\]" at the start of a line (flexible only).
_ANSWER_LINE_RE = re.compile(r"(?m)^[ \t*#]*Answer[ \t*]*:?")
#: The start of a new chat turn: nothing after it is the response's.
_NEXT_TURN = re.compile(r"<\|im_start\|>|<\|start_header_id\|>|<\|user\|>|<start_of_turn>")
_FINAL_RE = re.compile(r"(?:final answer|the correct answer)\s*(?:is|:)\s*:?", re.IGNORECASE)
_ZH_RE = re.compile(r"(?:最终)?答案(?:是|为|：|:)\s*[:：]?")
_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
#: What may stand between two boxes of one answer (after removing whitespace and "$").
_BOX_SEP = re.compile(r"(?:,|;|and|\\text\{(?:,|and)\}|\\quad|\\qquad|\\\\|\\[\[\]()])*")
#: Minerva's closing sentence ("The final answer is $5$. I hope it is correct."): no part of the answer.
_CLOSING = re.compile(r"(?<=\S)\s*I hope it is correct\.?$")
#: Closing sentences that say nothing about the answer; any other text after the answer line withdraws it.
_CLOSINGS = re.compile(r"(?im)^[ \t]*(?:thanks?(?: you)?|i hope (?:it is|this is) correct|i hope (?:this|that|it) helps|"
                       r"hope (?:this|that|it) helps|q\.?e\.?d|done|\\blacksquare|\\square|∎)[ \t]*[.!]?[ \t]*$")
_QUOTES_OPEN = "\"'`“‘«"
#: End-of-sequence tokens some backends leave in the text; they say nothing after the answer.
_END_TOKENS = re.compile(r"</s>|<\|endoftext\|>|<\|im_end\|>|<\|eot_id\|>|<eos>|<\|end\|>|<\|end_of_text\|>")
_NUMBER_RE = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _cut_answer(text: str, max_chars: int) -> tuple[str, int]:
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
    ans = _CLOSING.sub("", text[:min(end, limit)].strip())
    if ans.endswith((".", "。")) and len(ans) <= max_chars:  # the sentence's period, not part of the answer
        ans = ans[:-1].rstrip()
    return ans, end


@dataclass(frozen=True)
class Extraction:
    """The answer a response commits to (None if none) and, when None, why."""

    answer: str | None
    reason: str = ""


def _quoted(text: str, start: int) -> bool:
    """Is the marker at ``start`` opened by a quotation mark (``'The answer is: 6'``)?"""
    j = start - 1
    while j >= 0 and j >= start - 8 and text[j].isspace():
        j -= 1
    return j >= 0 and text[j] in _QUOTES_OPEN


def _last_marker_answer(regex: re.Pattern[str], response: str, max_chars: int) -> Extraction | None:
    """The answer after the last unquoted marker, or None if there is no marker.

    A marker inside a quotation (``Not 'The answer is: 6'``) is not the response's own. The answer
    must be the last thing the response says: words or numbers after its line ("Wait, that is wrong:
    5", "(approximately)") withdraw or qualify it, so the response commits to no answer.
    """
    markers = [m for m in regex.finditer(response) if not _quoted(response, m.start())]
    if not markers:
        return None
    last = markers[-1]
    rest = response[last.end():]
    stripped = rest.lstrip()
    ans, end = _cut_answer(stripped, max_chars)  # "The answer is:\n\\[ 5 \\]": the next line counts
    if not ans:
        return Extraction(None, "nothing after the marker")
    if len(ans) > max_chars:
        return Extraction(ans)  # a runaway answer: graded wrong as too long, whatever follows
    after = _CLOSINGS.sub(" ", _END_TOKENS.sub(" ", stripped[end:]))
    if any(ch.isalnum() for ch in after):
        return Extraction(None, "text after the final answer (it may withdraw or qualify it)")
    return Extraction(ans)


def _last_marker_end(regex: re.Pattern[str], response: str) -> int:
    ends = [m.end() for m in regex.finditer(response) if not _quoted(response, m.start())]
    return ends[-1] if ends else 0


def extract_marker(response: str, max_chars: int = MAX_ANSWER_CHARS) -> str | None:
    """Text after the last "The answer is" (colon optional); ``None`` when there is no committed answer."""
    found = _last_marker_answer(_MARKER_RE, response, max_chars)
    return found.answer if found else None


def _box(text: str, m: re.Match[str], stop: int) -> tuple[int, int, str] | None:
    """The box whose command ``m`` matched, if it closes before ``stop``: (start, end, content).
    ``\boxed 2`` (no braces) is the token up to whitespace or '$'."""
    i = m.end()
    if i < len(text) and text[i] == "{":
        close = matching_brace(text, i, stop)
        return (m.start(), close + 1, text[i + 1:close]) if close >= 0 else None
    t = re.match(r"\s+([^\s$]+)", text[i:min(stop, i + 200)])
    return (m.start(), i + t.end(), t.group(1)) if t else None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\boxed{...}`` / ``\fbox{...}`` (brace-matched), or of ``\boxed 2``;
    None when the last one is not closed."""
    found = None
    for found in _BOX_RE.finditer(text):
        pass
    if found is None:
        return None
    box = _box(text, found, len(text))
    return box[2] if box else None


def last_boxed_run(text: str) -> str | None:
    """The last box, or the last run of boxes separated only by commas/"and" (``\boxed{1}, \boxed{2}``),
    joined as a list: a model that boxes each of several answers gives them all.

    Each earlier box is matched only up to the start of the next one, so this stays linear in the text.
    """
    starts = list(_BOX_RE.finditer(text))
    if not starts:
        return None
    last = _box(text, starts[-1], len(text))
    if last is None:
        return None
    run = [last]
    for m in reversed(starts[:-1]):
        prev = _box(text, m, run[0][0])
        if prev is None:
            break
        gap = text[prev[1]:run[0][0]]
        if len(gap) > 60 or not _BOX_SEP.fullmatch(re.sub(r"[\s$.]", "", gap)):
            break
        run.insert(0, prev)
    return ", ".join(b[2] for b in run)


def _after(regex: re.Pattern[str], response: str, max_chars: int) -> str | None:
    found = _last_marker_answer(regex, response, max_chars)
    return found.answer if found else None


def last_number(response: str) -> str | None:
    nums = _NUMBER_RE.findall(response)
    return nums[-1].replace("$", "") if nums else None


def extract(response: str, task: Task = "math", mode: Mode = "strict",
            max_chars: int = MAX_ANSWER_CHARS) -> Extraction:
    """The final answer a response commits to under ``mode`` (see :func:`extract_answer`), with the
    reason when it commits to none."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    if task not in ("gsm8k", "math"):
        raise ValueError(f"task must be 'gsm8k' or 'math', got {task!r}")
    turn = _NEXT_TURN.search(response)
    if turn:
        response = response[:turn.start()]
    found = _last_marker_answer(_MARKER_RE, response, max_chars)
    if found is not None and (found.answer is not None or mode == "strict"):
        return found
    if mode == "strict":
        return Extraction(None, "no 'The answer is'")
    if found is not None:
        # the marker's answer was withdrawn: only a boxed or "final answer" that comes after it counts
        tail = response[_last_marker_end(_MARKER_RE, response):]
        boxed = last_boxed_run(tail)
        if boxed:
            return Extraction(boxed.strip()[:max_chars + 1])
        later = _last_marker_answer(_FINAL_RE, tail, max_chars)
        return later if later is not None and later.answer else found
    boxed = last_boxed_run(response)
    if boxed is not None and len(boxed) > max_chars:
        boxed = boxed[:max_chars + 1]
    if boxed:
        return Extraction(boxed.strip())
    for regex in (_FINAL_RE, _ANSWER_LINE_RE, _ZH_RE):
        found = _last_marker_answer(regex, response, max_chars)
        if found is not None:
            return found
    if task == "gsm8k":
        num = last_number(response)
        if num is not None:
            return Extraction(num)
    return Extraction(None, "no final answer found")


def extract_answer(response: str, task: Task = "math", mode: Mode = "strict",
                   max_chars: int = MAX_ANSWER_CHARS) -> str | None:
    """The final answer a response commits to under ``mode``, or ``None`` if it commits to none.

    Answers are cut at ``max_chars + 1`` characters (the grader's ``max_answer_chars``): anything
    longer is graded wrong as a runaway generation, and no answer is ever graded on a cut prefix.
    """
    return extract(response, task, mode, max_chars).answer
