"""Machine translation of GSM8K / MATH test problems (table 6 of the paper: English vs Chinese).

Why a checker and not just a prompt: a translation that drops a number, rounds "1,250" or rewrites
``\\frac{3}{4}`` as "四分之三" changes the problem, and then the (carried-over, never translated) gold
answer is wrong for it. :func:`check_translation` compares what must survive unchanged: every protected
segment (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``, ``\\begin{env}...\\end{env}``, ``[asy]`` blocks),
every ``\\frac`` with its arguments, every LaTeX command, and the numbers of the prose. A translation
that fails is sent back once or twice with the list of problems (at temperature 0 the same prompt would
return the same text); one that still fails is kept and *flagged* in its row, never silently trusted.

Calls go through :mod:`synth.client` (any OpenAI-compatible endpoint; GPT-4 at temperature 0 by
default). Raw replies are appended to ``<out>.raw.jsonl`` keyed by a deterministic request id, so an
interrupted run resumes where it stopped and a finished one is rebuilt without a single request.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synth.client import ChatClient

log = logging.getLogger(__name__)

TRANSLATOR_VERSION = "skymath-translate-v1"
DEFAULT_MAX_ATTEMPTS = 3
LANGUAGES = {"zh": "Simplified Chinese"}

SYSTEM_PROMPT = "You are a professional translator of school and competition mathematics problems."
USER_TEMPLATE = """Translate the following math problem from English into {language}.
Rules:
- Keep every LaTeX expression exactly as it is, character for character: $...$, $$...$$, \\(...\\), \\[...\\], \\begin{{...}}...\\end{{...}}, \\frac{{..}}{{..}} and any other command.
- Keep every [asy]...[/asy] block unchanged.
- Keep every number in the prose as digits, exactly as written (do not convert to {language} numerals).
- Keep units and quantities; translate words only.
- Do not solve the problem and do not add anything.
Reply with the translation only.

Problem:
{text}"""
RETRY_TEMPLATE = """Your translation changed parts that must stay identical:
{problems}
Translate the problem again, keeping every LaTeX expression, [asy] block and number exactly as in the original. Reply with the translation only."""


def prompt_hash(lang: str = "zh") -> str:
    """Identifies the prompt wording (recorded in every row's provenance)."""
    blob = "\x1e".join([TRANSLATOR_VERSION, SYSTEM_PROMPT, USER_TEMPLATE, RETRY_TEMPLATE, LANGUAGES[lang]])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------------

_ASY = re.compile(r"\[asy\].*?\[/asy\]", re.S)
_MATH = re.compile(
    r"\$\$.+?\$\$"
    r"|(?<!\\)\$(?:\\.|[^$\\])+?(?<!\\)\$"
    r"|\\\(.+?\\\)"
    r"|\\\[.+?\\\]"
    r"|\\begin\{([a-zA-Z*]+)\}.+?\\end\{\1\}",
    re.S,
)
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
# ASCII look-behinds: in Python's Unicode regexes a CJK character is \w, and "有15卷" must yield 15.
_PROSE_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:,\d{3})*(?:\.\d+)?|(?<![A-Za-z0-9_])\.\d+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_EN_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12, "half": 2, "twice": 2, "double": 2, "triple": 3, "quarter": 4, "third": 3,
    "first": 1, "second": 2, "fourth": 4, "fifth": 5, "million": 1_000_000, "once": 1, "pair": 2,
}


def uses_latex(text: str) -> bool:
    """True for LaTeX problems (MATH); False where ``$`` is money (GSM8K: "$70", "$.40")."""
    if "\\" in text or "[asy]" in text:
        return True
    dollars = [m.start() for m in re.finditer(r"\$", text)]
    return any(not re.match(r"\$\s*[\d.]", text[i:]) and not re.search(r"\d\s*$", text[:i]) for i in dollars)


def protected_segments(text: str, latex: bool | None = None) -> tuple[list[str], str]:
    """``(segments, prose)``: the parts that must survive verbatim, and the text with them removed."""
    if latex is None:
        latex = uses_latex(text)
    segments: list[str] = []

    def take(m: re.Match[str]) -> str:
        segments.append(m.group(0))
        return " \x00 "

    prose = _ASY.sub(take, text)
    if latex:
        prose = _MATH.sub(take, prose)
    return segments, prose


def _norm(segment: str) -> str:
    return re.sub(r"\s+", "", segment)


def _fracs(text: str) -> list[str]:
    """Each ``\\frac``/``\\dfrac``/``\\tfrac`` with its two arguments, whitespace removed."""
    out = []
    for m in re.finditer(r"\\[dt]?frac", text):
        i = m.end()
        args = []
        for _ in range(2):
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] == "{":
                depth, j = 0, i
                while j < len(text):
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                args.append(text[i : j + 1])
                i = j + 1
            elif i < len(text) and text[i] == "\\":
                cmd = re.match(r"\\[a-zA-Z]+", text[i:])
                token = cmd.group(0) if cmd else text[i : i + 2]
                args.append(token)
                i += len(token)
            elif i < len(text):
                args.append(text[i])
                i += 1
        out.append(_norm(m.group(0) + "".join(args)))
    return out


def _prose_numbers(prose: str) -> Counter[float]:
    out: Counter[float] = Counter()
    for m in _PROSE_NUMBER.finditer(prose):
        value = float(m.group().replace(",", ""))
        scale = {"万": 10_000, "亿": 100_000_000}.get(prose[m.end() : m.end() + 1], 1)  # "10万" = 100000
        out[value * scale] += 1
    return out


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")


def chinese_numeral(run: str) -> int | None:
    """Value of a Chinese numeral ("二十五" -> 25, "两千零五" -> 2005, "二〇二三" -> 2023)."""
    if not run or run[0] in _CN_BIG:
        return None
    if len(run) > 1 and all(ch in _CN_DIGITS for ch in run):
        return int("".join(str(_CN_DIGITS[ch]) for ch in run))
    total = section = number = 0
    for ch in run:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (number or (1 if ch == "十" else 0)) * _CN_UNITS[ch]
            number = 0
        else:
            total += (section + number) * _CN_BIG[ch]
            section = number = 0
    return total + section + number


def _chinese_numbers(prose: str) -> Counter[float]:
    out: Counter[float] = Counter()
    for m in _CN_RUN.finditer(prose):
        value = chinese_numeral(m.group())
        if value is not None:
            out[float(value)] += 1
    out.update({0.5: prose.count("半")})
    return +out


_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_COMPOUND = re.compile(rf"\b({_TENS})-(one|two|three|four|five|six|seven|eight|nine)\b")
# Words a translator may rightly write as digits: coins in cents, months as 1-12 ("March" -> "3月").
_IMPLIED_NUMBERS = {
    "quarter": 25, "quarters": 25, "dime": 10, "dimes": 10, "nickel": 5, "nickels": 5, "penny": 1, "pennies": 1,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "week": 7, "weeks": 7, "hour": 60,
    "hours": 60, "minute": 60, "minutes": 60, "year": 12, "years": 12, "k": 1000, "percent": 100,
}


def _word_numbers(prose: str) -> Counter[float]:
    """Numbers that English words in ``prose`` may legitimately turn into in a translation."""
    low = prose.lower()
    out: Counter[float] = Counter()
    for w in re.findall(r"[a-z]+", low):
        if w in _EN_NUMBER_WORDS:
            out[float(_EN_NUMBER_WORDS[w])] += 1
        if w in _IMPLIED_NUMBERS:
            out[float(_IMPLIED_NUMBERS[w])] += 1
    for m in _COMPOUND.finditer(low):
        out[float(_EN_NUMBER_WORDS[m.group(1)] + _EN_NUMBER_WORDS[m.group(2)])] += 1
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*k\b", low):  # "25k" -> 25000
        out[float(m.group(1)) * 1000] += 1
    for ch in prose:  # "¾" may become "3/4"
        if ch in "¼½¾⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞":
            num, den = _vulgar(ch)
            out.update([float(num), float(den)])
    return out


def _vulgar(ch: str) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(unicodedata.numeric(ch)).limit_denominator(10)
    return f.numerator, f.denominator


def _fmt(values: Counter[float]) -> str:
    return ", ".join(f"{v:g}" + (f" (x{n})" if n > 1 else "") for v, n in sorted(values.items()))


def check_translation(src: str, dst: str, *, lang: str = "zh", latex: bool | None = None) -> list[str]:
    """What the translation ``dst`` of ``src`` lost or changed; an empty list means it passes.

    ``latex`` (auto-detected from ``src`` when None) says whether ``$`` delimits mathematics (MATH) or
    is a currency sign (GSM8K, where "$70" may rightly become "70美元").
    """
    problems: list[str] = []
    if not dst or not dst.strip():
        return ["empty translation"]
    if latex is None:
        latex = uses_latex(src)
    if lang == "zh" and _CJK.search(src) is None and _CJK.search(dst) is None:
        problems.append("no Chinese characters: not translated")
    src_segs, src_prose = protected_segments(src, latex)
    dst_segs, dst_prose = protected_segments(dst, latex)
    missing = Counter(_norm(s) for s in src_segs) - Counter(_norm(s) for s in dst_segs)
    if missing:
        shown = "; ".join(s[:80] for s in sorted(missing.elements()))
        problems.append(f"math/LaTeX segment(s) missing or changed: {shown}")
    added = Counter(_norm(s) for s in dst_segs) - Counter(_norm(s) for s in src_segs)
    if added and not missing:
        problems.append(f"math/LaTeX segment(s) added: {'; '.join(s[:80] for s in sorted(added.elements()))}")
    lost_fracs = Counter(_fracs(src)) - Counter(_fracs(dst))
    if lost_fracs:
        problems.append(f"\\frac changed or lost: {', '.join(sorted(lost_fracs.elements()))}")
    lost_cmds = Counter(_COMMAND.findall(src)) - Counter(_COMMAND.findall(dst))
    if lost_cmds:
        names = ", ".join("\\" + c for c in sorted(lost_cmds.elements()))
        problems.append(f"LaTeX command(s) lost: {names}")
    if latex and len(re.findall(r"(?<!\\)\$", dst)) % 2:
        problems.append("unbalanced $ in the translation")
    if src.count("{") - src.count("}") != dst.count("{") - dst.count("}"):
        problems.append("unbalanced braces in the translation")
    src_nums, dst_nums = _prose_numbers(src_prose), _prose_numbers(dst_prose)
    # "5 years" may fairly become "五年": Chinese numerals can account for a source number, but are
    # not counted as added numbers ("一个", "一起" hold 一 without being quantities of the problem).
    lost = src_nums - dst_nums - (_chinese_numbers(dst_prose) if lang == "zh" else Counter())
    if lost:
        problems.append(f"number(s) dropped or changed: {_fmt(lost)}")
    # Only new values count as added: a translator may repeat "20 minutes" for clarity or write "an
    # hour" as "1小时"; a value the source never had is what changes a problem.
    extra = set(dst_nums) - set(src_nums) - set(_word_numbers(src_prose)) - {1.0}
    if extra:
        problems.append(f"number(s) added: {_fmt(Counter(extra))}")
    return problems


def clean_reply(text: str) -> str:
    """The translation out of a reply: code fences and a leading "Translation:" label removed."""
    t = text.strip()
    fence = re.fullmatch(r"```[a-zA-Z]*\n(.*?)\n?```", t, re.S)
    if fence:
        t = fence.group(1).strip()
    t = re.sub(r"^(?:translation|翻译|译文|中文翻译)\s*[:：]\s*", "", t, flags=re.I)
    return t.strip()


# --------------------------------------------------------------------------------------------------
# Translation runs
# --------------------------------------------------------------------------------------------------


@dataclass
class TranslationItem:
    key: str  # stable id of the source row (unique_id, GSM8K index)
    text: str


@dataclass
class TranslationResult:
    key: str
    source: str
    text: str
    problems: list[str]
    attempts: int
    model: str | None
    date: str | None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _messages(item: TranslationItem, lang: str, history: Sequence[tuple[str, list[str]]]) -> list[dict[str, str]]:
    msgs = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_TEMPLATE.format(language=LANGUAGES[lang], text=item.text)},
    ]
    for reply, problems in history:
        msgs.append({"role": "assistant", "content": reply})
        msgs.append({"role": "user", "content": RETRY_TEMPLATE.format(problems="\n".join(f"- {p}" for p in problems))})
    return msgs


def translate_items(
    items: Sequence[TranslationItem],
    client: "ChatClient",
    *,
    raw_path: str | os.PathLike,
    lang: str = "zh",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    progress: bool = True,
) -> list[TranslationResult]:
    """Translate and check every item, retrying failed checks with feedback, resumable via ``raw_path``.

    Round ``r`` sends the items still failing after round ``r-1`` with their earlier replies and the
    problems found; ids are content hashes, so a rerun finds every answered round in ``raw_path``.
    Items whose request failed for good (see ``<raw_path>.errors.jsonl``) come back with the problem
    "no reply from the model"; rerunning the command asks for them again.
    """
    from synth.client import ChatRequest, load_responses, request_id, run_requests

    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; supported: {sorted(LANGUAGES)}")
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k, n in Counter(keys).items() if n > 1)
        raise ValueError(f"duplicate item key {dup!r}")
    model = client.config.model
    today = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    history: dict[str, list[tuple[str, list[str]]]] = {it.key: [] for it in items}
    results: dict[str, TranslationResult] = {}
    pending = list(items)
    for round_no in range(max_attempts):
        if not pending:
            break
        reqs: dict[str, Any] = {}
        for it in pending:
            msgs = _messages(it, lang, history[it.key])
            rid = request_id(TRANSLATOR_VERSION, model, lang, msgs)
            reqs[it.key] = ChatRequest(rid, msgs, {}, {"key": it.key, "round": round_no, "date": today})
        run_requests(client, list(reqs.values()), raw_path, progress=progress, desc=f"translate round {round_no + 1}")
        answered = load_responses(raw_path)
        still: list[TranslationItem] = []
        for it in pending:
            row = answered.get(reqs[it.key].id)
            if row is None:
                prev = results.get(it.key)
                if prev is None:
                    results[it.key] = TranslationResult(it.key, it.text, "", ["no reply from the model"],
                                                        round_no, model, None)
                continue  # request failed for good in this run; keep the best earlier attempt
            text = clean_reply(str(row.get("text", "")))
            problems = check_translation(it.text, text, lang=lang)
            results[it.key] = TranslationResult(
                it.key, it.text, text, problems, round_no + 1, row.get("model") or model,
                (row.get("meta") or {}).get("date"),
                history=[{"reply": r, "problems": p} for r, p in history[it.key]],
            )
            if problems:
                history[it.key].append((text, problems))
                still.append(it)
        pending = still
    flagged = [r for r in results.values() if r.problems]
    if flagged:
        log.warning("%d of %d translation(s) still fail the check after %d attempt(s); they are flagged in "
                    "their rows (field 'translation_check')", len(flagged), len(items), max_attempts)
    return [results[it.key] for it in items]


def provenance(res: TranslationResult, lang: str, temperature: float | None) -> dict[str, Any]:
    return {
        "translator": TRANSLATOR_VERSION,
        "model": res.model,
        "temperature": temperature,
        "lang": lang,
        "prompt_hash": prompt_hash(lang),
        "date": res.date,
        "attempts": res.attempts,
    }


def translate_math_rows(rows: Sequence[dict[str, Any]], client: "ChatClient", *, raw_path: str | os.PathLike,
                        lang: str = "zh", max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                        progress: bool = True) -> list[dict[str, Any]]:
    """MATH rows -> ``{problem (translated), problem_en, solution (English, unchanged), level, type,
    unique_id, provenance, translation_check}``. The gold answer stays the solution's last ``\\boxed{}``."""
    items = [TranslationItem(str(r.get("unique_id") or f"row-{i}"), r["problem"]) for i, r in enumerate(rows)]
    results = translate_items(items, client, raw_path=raw_path, lang=lang, max_attempts=max_attempts, progress=progress)
    out = []
    for src, res in zip(rows, results):
        out.append({
            "problem": res.text,
            "problem_en": src["problem"],
            "solution": src["solution"],
            "level": src.get("level"),
            "type": src.get("type"),
            "unique_id": src.get("unique_id"),
            "provenance": provenance(res, lang, client.config.temperature),
            "translation_check": res.problems,
        })
    return out


def translate_gsm8k_rows(rows: Sequence[dict[str, Any]], client: "ChatClient", *, raw_path: str | os.PathLike,
                         lang: str = "zh", max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                         progress: bool = True) -> list[dict[str, Any]]:
    """GSM8K rows -> the layout of ``chinese/gsm8k_test_zh.jsonl`` (``idx, openai_test_index,
    question_zh, question_en, answer, answer_openai``) plus ``answer_full`` (GSM8K's worked solution,
    untranslated), ``provenance`` and ``translation_check``. ``idx`` = ``openai_test_index`` = row index."""
    items = [TranslationItem(str(i), r["question"]) for i, r in enumerate(rows)]
    results = translate_items(items, client, raw_path=raw_path, lang=lang, max_attempts=max_attempts, progress=progress)
    out = []
    for i, (src, res) in enumerate(zip(rows, results)):
        gold = src["answer"].rsplit("####", 1)[-1].strip()
        out.append({
            "idx": i,
            "openai_test_index": i,
            "question_zh": res.text,
            "question_en": src["question"],
            "answer": gold,
            "answer_openai": gold,
            "answer_full": src["answer"],
            "provenance": provenance(res, lang, client.config.temperature),
            "translation_check": res.problems,
        })
    return out


def default_raw_path(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.name + ".raw.jsonl")
