"""Verifier selection: keep rows a verifier judges correct, recording every verdict.

Why record everything: the paper's table 4 shows that keeping only verified-correct rows *hurt* (the
verifier mostly keeps easy problems) and table 5 that picking hard problems helped. Reproducing those
ablations needs the verdict of every row, the kept subset, and a random subset of the same size
(:func:`synth.selection.random_control.write_random_control`), not just a filtered file.

Two verifiers, both filters of the selection step protocol (:mod:`synth.selection.step`):

* ``answer``: the row's final answer agrees with a ground truth (``skymath_tasks.score``, our strict
  MetaMath-format grader). Ground truth comes from a row field or from the seed file joined on the
  row's seed id; rows without one are "no_gold" (kept by default, as most synthetic rows have none).
* ``judge``: an LLM judge through ``synth.client`` (any OpenAI-compatible endpoint) reads problem and
  solution, reasons step by step and ends with ``Verdict: correct`` or ``Verdict: incorrect``.

Resumability: both write through :func:`synth.selection.verdicts.select_rows`, so an interrupted run continues where it stopped
and a finished one is not redone (``overwrite=True`` regrades, e.g. after a grader change). The judge's
replies are cached in ``<output>.judge.jsonl`` keyed by a deterministic request id, so a rerun re-sends
only unanswered rows and pays for nothing twice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from synth.selection.judge import run_judge
from synth.selection.reader import Row
from synth.selection.step import Decision, PerRowFilter, settings_digest
from synth.selection.verdicts import load_seed_map, select_rows

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


# --------------------------------------------------------------------------------------------------
# Ground-truth answer agreement
# --------------------------------------------------------------------------------------------------


@dataclass
class AnswerFilter(PerRowFilter):
    """Keeps a row whose response's final answer equals the ground truth under the strict grader."""

    gold: dict[str, Any]  # seed id -> gold answer (empty: only the row's own gold field)
    gold_field: str | None = None
    seed_id_field: str = "seed_id"
    response_field: str = "response"
    task: str = "math"
    mode: str = "strict"
    keep_ungraded: bool = True
    name: str = "answer"

    def settings(self) -> dict[str, Any]:
        return {"gold": settings_digest(self.gold), "gold_field": self.gold_field, "seed_id_field": self.seed_id_field,
                "response_field": self.response_field, "task": self.task, "mode": self.mode,
                "keep_ungraded": self.keep_ungraded}

    def decide(self, row: Row) -> Decision:
        from skymath_tasks import score

        response = row.text(self.response_field)
        gold = row.data.get(self.gold_field) if self.gold_field else None
        if gold is None and self.gold:
            gold = self.gold.get(str(row.data.get(self.seed_id_field)))
        if gold is None or str(gold).strip() == "":
            return Decision(self.keep_ungraded, "no_gold")
        ok = score(response, str(gold), task=self.task, mode=self.mode)
        return Decision(ok, "correct" if ok else "incorrect", {"gold": str(gold)})


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
    overwrite: bool = False,
    progress: bool = True,
    on_bad_row: str = "fail",
) -> dict[str, Any]:
    if gold_field is None and seeds_path is None:
        raise ValueError("the answer verifier needs --gold-field or --seeds (with the seeds' 'answer')")
    gold = load_seed_map(seeds_path, "answer") if seeds_path else {}
    filt = AnswerFilter(gold, gold_field, seed_id_field, response_field, task, mode, keep_ungraded)
    return select_rows(input_path, output_path, filt, overwrite=overwrite, progress=progress, on_bad_row=on_bad_row)


# --------------------------------------------------------------------------------------------------
# LLM judge
# --------------------------------------------------------------------------------------------------


def parse_verify_verdict(text: str) -> Decision:
    found = _VERDICT_RE.findall(text)
    if not found:
        return Decision(False, "unparsed")
    ok = found[-1].lower() in ("correct", "right")
    return Decision(ok, "correct" if ok else "incorrect")


def verify_by_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    query_field: str = "query",
    response_field: str = "response",
    overwrite: bool = False,
    progress: bool = True,
    on_bad_row: str = "fail",
) -> dict[str, Any]:
    def build(row: Row) -> list[dict[str, str]]:
        q, r = row.text(query_field), row.text(response_field)
        return [{"role": "system", "content": VERIFY_SYSTEM},
                {"role": "user", "content": VERIFY_USER.format(query=q, response=r)}]

    return run_judge(input_path, output_path, client_cfg, build_messages=build, parse=parse_verify_verdict,
                     name="verify-judge", prompt_version=JUDGE_PROMPT_VERSION, overwrite=overwrite, progress=progress,
                     on_bad_row=on_bad_row)
