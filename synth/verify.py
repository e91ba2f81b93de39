"""Verifier selection: keep rows a verifier judges correct, recording every verdict.

Why record everything: the paper's table 4 shows that keeping only verified-correct rows *hurt* (the
verifier mostly keeps easy problems) and table 5 that picking hard problems helped. Reproducing those
ablations needs the verdict of every row, the kept subset, and a random subset of the same size
(``write_random_control``), not just a filtered file.

Two verifiers, both pluggable through :func:`select_rows`:

* ``answer``: the row's final answer agrees with a ground truth (``skymath_tasks.score``, our strict
  MetaMath-format grader). Ground truth comes from a row field or from the seed file joined on the
  row's seed id; rows without one are "no_gold" (kept by default, as most synthetic rows have none).
* ``judge``: an LLM judge through ``synth.client`` (any OpenAI-compatible endpoint) reads problem and
  solution, reasons step by step and ends with ``Verdict: correct`` or ``Verdict: incorrect``.

Resumability: the answer verifier is deterministic and fast (no model), so a rerun simply redoes it;
outputs are written atomically. The judge's replies are cached in ``<output>.judge.jsonl`` keyed by a
deterministic request id, so a rerun re-sends only unanswered rows and pays for nothing twice.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, iter_raw_rows, write_jsonl

log = logging.getLogger(__name__)

JUDGE_PROMPT_VERSION = "verify-judge-v1"

VERIFY_SYSTEM = (
    "You are a meticulous mathematics teacher who checks worked solutions. Check every step of the "
    "solution: the reading of the problem, each calculation, each logical step, and the final answer."
)
VERIFY_USER = """Problem:
{query}

Proposed solution:
{response}

Check the solution step by step. Then, on the last line, write exactly "Verdict: correct" if the whole
reasoning and the final answer are right, or "Verdict: incorrect" otherwise."""

_VERDICT_RE = re.compile(r"verdict\s*[:：]\s*\**\s*(correct|incorrect|wrong|right)\b", re.IGNORECASE)


@dataclass
class Verdict:
    keep: bool
    verdict: str  # correct / incorrect / no_gold / unparsed / failed / hard / easy ...
    detail: dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


def require_str(row: dict[str, Any], fld: str, path: str | os.PathLike, lineno: int) -> str:
    v = row.get(fld)
    if v is None:
        raise DataError(path, lineno, "missing", field=fld)
    if not isinstance(v, str):
        raise DataError(path, lineno, f"expected str, got {type(v).__name__}", field=fld)
    return v


def load_seed_map(path: str | os.PathLike, value_field: str, key_field: str = "id") -> dict[str, Any]:
    """``seed id -> value`` from a seed JSONL (rows without the value are left out)."""
    out: dict[str, Any] = {}
    for lineno, _, row in iter_raw_rows(path):
        if key_field not in row:
            raise DataError(path, lineno, "missing", field=key_field)
        if row.get(value_field) is not None:
            out[str(row[key_field])] = row[value_field]
    return out


def select_rows(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    decide: Callable[[int, dict[str, Any]], Verdict],
    verifier: str,
) -> dict[str, Any]:
    """Apply ``decide`` to every row; write kept rows (unchanged) and ``<output>.verdicts.jsonl``."""
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    verdicts_path = output_path.with_name(output_path.name + ".verdicts.jsonl")
    counts: Counter[str] = Counter()
    verdict_rows = []
    tmp = output_path.with_name(output_path.name + ".tmp")
    kept = total = 0
    with open(tmp, "wb") as out:
        for lineno, raw, row in iter_raw_rows(input_path):
            v = decide(lineno, row)
            total += 1
            counts[v.verdict] += 1
            if v.keep:
                kept += 1
                out.write(raw)
            verdict_rows.append({"line": lineno, "id": row.get("id"), "verifier": verifier, "verdict": v.verdict,
                                 "kept": v.keep, **v.detail})
    os.replace(tmp, output_path)
    write_jsonl(verdicts_path, verdict_rows)
    stats = {"rows": total, "kept": kept, "removed": total - kept, "verdicts": dict(counts),
             "output": str(output_path), "verdicts_file": str(verdicts_path)}
    log.info("%s: kept %d of %d rows (%s)", verifier, kept, total, dict(counts))
    return stats


def write_random_control(input_path: str | os.PathLike, size: int, output_path: str | os.PathLike,
                         seed: int = 0) -> int:
    """A seeded random subset of ``size`` rows (input order): the paper's "random selection" arm."""
    rows = [raw for _, raw, _ in iter_raw_rows(input_path)]
    pick = sorted(random.Random(seed).sample(range(len(rows)), min(size, len(rows))))
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "wb") as fh:
        for i in pick:
            fh.write(rows[i])
    return len(pick)


# --------------------------------------------------------------------------------------------------
# Ground-truth answer agreement
# --------------------------------------------------------------------------------------------------


def verify_by_answer(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    gold_field: str | None = None,
    seeds_path: str | os.PathLike | None = None,
    seed_id_field: str = "seed_id",
    response_field: str = "response",
    task: str = "math",
    mode: str = "strict",
    keep_ungraded: bool = True,
    overwrite: bool = False,  # deterministic and fast: every run recomputes (accepted for CLI symmetry)
) -> dict[str, Any]:
    from skymath_tasks import score

    if gold_field is None and seeds_path is None:
        raise ValueError("the answer verifier needs --gold-field or --seeds (with the seeds' 'answer')")
    seed_gold = load_seed_map(seeds_path, "answer") if seeds_path else {}

    def decide(lineno: int, row: dict[str, Any]) -> Verdict:
        response = require_str(row, response_field, input_path, lineno)
        gold = row.get(gold_field) if gold_field else None
        if gold is None and seed_gold:
            gold = seed_gold.get(str(row.get(seed_id_field)))
        if gold is None or str(gold).strip() == "":
            return Verdict(keep_ungraded, "no_gold", {})
        ok = score(response, str(gold), task=task, mode=mode)
        return Verdict(ok, "correct" if ok else "incorrect", {"gold": str(gold)})

    return select_rows(input_path, output_path, decide, "answer")


# --------------------------------------------------------------------------------------------------
# LLM judge (shared with synth.hard)
# --------------------------------------------------------------------------------------------------


def run_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    build_messages: Callable[[int, dict[str, Any]], list[dict[str, str]]],
    parse: Callable[[str], Verdict],
    name: str,
    prompt_version: str,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Ask the judge about every row (resumable, through ``synth.client.run_requests``), then select.

    A row whose request failed for good is recorded as ``failed`` and not kept; rerun to retry it.
    """
    from synth.client import ChatClient, ChatRequest, load_responses, request_id, run_requests

    output_path = Path(output_path)
    cache = output_path.with_name(output_path.name + ".judge.jsonl")
    if overwrite:
        cache.unlink(missing_ok=True)
    ids: dict[int, str] = {}

    def requests() -> Iterator[ChatRequest]:
        for lineno, _, row in iter_raw_rows(input_path):
            messages = build_messages(lineno, row)
            rid = request_id(name, prompt_version, client_cfg.model, messages)
            ids[lineno] = rid
            yield ChatRequest(id=rid, messages=messages, params={"temperature": 0.0}, meta={"line": lineno})

    reqs = list(requests())
    output_path.parent.mkdir(parents=True, exist_ok=True)
    run_stats = run_requests(ChatClient(client_cfg), reqs, cache, progress=progress, desc=name)
    answers = load_responses(cache)

    def decide(lineno: int, row: dict[str, Any]) -> Verdict:
        ans = answers.get(ids[lineno])
        if ans is None:
            return Verdict(False, "failed", {"request_id": ids[lineno]})
        v = parse(ans.get("text") or "")
        v.detail = {**v.detail, "request_id": ids[lineno], "judge": (ans.get("text") or "")[-400:]}
        return v

    stats = select_rows(input_path, output_path, decide, name)
    stats["judge_run"] = run_stats.to_dict()
    stats["judge_cache"] = str(cache)
    return stats


def parse_verify_verdict(text: str) -> Verdict:
    found = _VERDICT_RE.findall(text)
    if not found:
        return Verdict(False, "unparsed", {})
    word = found[-1].lower()
    ok = word in ("correct", "right")
    return Verdict(ok, "correct" if ok else "incorrect", {})


def verify_by_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    query_field: str = "query",
    response_field: str = "response",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    def build(lineno: int, row: dict[str, Any]) -> list[dict[str, str]]:
        q = require_str(row, query_field, input_path, lineno)
        r = require_str(row, response_field, input_path, lineno)
        return [{"role": "system", "content": VERIFY_SYSTEM},
                {"role": "user", "content": VERIFY_USER.format(query=q, response=r)}]

    return run_judge(input_path, output_path, client_cfg, build_messages=build, parse=parse_verify_verdict,
                     name="verify-judge", prompt_version=JUDGE_PROMPT_VERSION, overwrite=overwrite, progress=progress)
