"""An LLM judge as a selection filter (shared by ``verify --verifier judge`` and ``select-hard --by judge``).

Why two phases: asking the judge is the expensive, failure-prone part (rate limits, retries, millions of
requests), and ``synth.client.run_requests`` already makes it resumable with a response cache keyed by
deterministic request ids. So the judge first asks about every row (a rerun sends only unanswered
requests), then a plain filter decides each row from the cached replies and the step protocol writes
the selection. A row whose request failed for good is ``failed`` and not kept; rerun to retry it: the
new answers change the filter's settings, so the selection is redone with them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.selection.reader import Row, RowReader
from synth.selection.step import Decision, InputScan, PerRowFilter
from synth.selection.verdicts import select_rows

#: Characters of the judge's reply kept in the verdicts file (its conclusion, for a person to check).
REPLY_TAIL = 400


@dataclass
class JudgeFilter(PerRowFilter):
    """Decides each row from the judge's cached reply to that row's request."""

    name: str
    prompt_version: str
    model: str
    input_digest: str
    request_ids: dict[int, str]  # input line -> request id
    answers: dict[str, dict[str, Any]]  # request id -> cached response
    parse: Callable[[str], Decision]
    criteria: dict[str, Any]  # what ``parse`` decides with (e.g. the minimum difficulty)
    scan: InputScan | None = None  # rows skipped while building requests (skip mode) are rejected again

    def settings(self) -> dict[str, Any]:
        h = hashlib.blake2b(digest_size=16)
        for rid in self.request_ids.values():
            text = (self.answers.get(rid) or {}).get("text")
            h.update(f"{rid}\t{'-' if text is None else hashlib.sha256(text.encode('utf-8')).hexdigest()}\n".encode())
        return {"prompt_version": self.prompt_version, "model": self.model, "input": self.input_digest,
                "answers": h.hexdigest(), "criteria": self.criteria}

    def decide(self, row: Row) -> Decision:
        if self.scan is not None:
            self.scan.reraise(row)
        rid = self.request_ids[row.lineno]
        ans = self.answers.get(rid)
        if ans is None:
            return Decision(False, "failed", {"request_id": rid})
        text = ans.get("text") or ""
        v = self.parse(text)
        return Decision(v.keep, v.reason, {**v.detail, "request_id": rid, "judge": text[-REPLY_TAIL:]})


def run_judge(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    client_cfg: Any,
    *,
    build_messages: Callable[[Row], list[dict[str, str]]],
    parse: Callable[[str], Decision],
    name: str,
    prompt_version: str,
    criteria: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_bad_row: str = "fail",
) -> dict[str, Any]:
    """Ask the judge about every row (resumable, through ``synth.client.run_requests``), then select."""
    from synth.client import ChatClient, ChatRequest, load_responses, request_id, run_requests

    output_path = Path(output_path)
    cache = output_path.with_name(output_path.name + ".judge.jsonl")
    if overwrite:
        cache.unlink(missing_ok=True)
    scan = InputScan(RowReader(input_path, allow_empty=False), on_bad_row)
    ids: dict[int, str] = {}
    reqs: list[ChatRequest] = []
    for row, messages in scan.each(lambda row: (row, build_messages(row))):
        rid = request_id(name, prompt_version, client_cfg.model, messages)
        ids[row.lineno] = rid
        reqs.append(ChatRequest(id=rid, messages=messages, params={"temperature": 0.0}, meta={"line": row.lineno}))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    run_stats = run_requests(ChatClient(client_cfg), reqs, cache, progress=progress, desc=name)
    filt = JudgeFilter(name, prompt_version, client_cfg.model, scan.digest, ids, load_responses(cache), parse,
                      criteria or {}, scan)
    stats = select_rows(input_path, output_path, filt, overwrite=overwrite, progress=progress, on_bad_row=on_bad_row)
    stats["judge_run"] = run_stats.to_dict()
    stats["judge_cache"] = str(cache)
    return stats
