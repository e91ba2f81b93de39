"""OpenAI Batch API mode: the same requests and output file as :func:`synth.client.run_requests`, at
half the price and with a 24 h turnaround.

Requests are written as Batch API input lines (``custom_id`` = our deterministic request id) and
submitted in waves that respect the per-file limits (50,000 requests, 200 MB). Results come back in
any order and are joined on ``custom_id``; answered requests are appended to the same JSONL output as
online mode, so the pipeline does not care which mode produced a response, and a run can switch modes.

Resume: every submitted batch is recorded in ``<out>.batches.jsonl`` right after creation. A rerun
first collects batches that were still in flight (nothing is submitted twice), then submits only the
requests that are neither answered nor in flight. Failed lines go to ``<out>.errors.jsonl`` and are
resubmitted by the next run; an expired or failed batch's unanswered requests are resubmitted too.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import JsonlAppender, read_output_rows
from synth.client import (
    CONTENT_FILTER_CODES,
    BadResponse,
    ChatRequest,
    ClientConfig,
    Refusal,
    RunStats,
    answered_ids,
    chat_body,
    errors_path_for,
    parse_chat_completion,
    write_run_line,
)

log = logging.getLogger(__name__)

#: OpenAI's per-file limits; the byte limit keeps a margin for multipart overhead.
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024 - 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass
class BatchConfig:
    max_requests_per_file: int = MAX_REQUESTS_PER_FILE
    max_bytes_per_file: int = MAX_BYTES_PER_FILE
    max_in_flight: int = 4  # batches submitted and not yet collected
    poll_interval_s: float = 60.0
    completion_window: str = "24h"
    discount: float = 0.5  # Batch API price relative to online
    endpoint: str = "/v1/chat/completions"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "batch config") -> "BatchConfig":
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}")
        cfg = cls(**data)
        if not (0 < cfg.max_requests_per_file <= MAX_REQUESTS_PER_FILE):
            raise ValueError(f"{where}: max_requests_per_file must be in 1..{MAX_REQUESTS_PER_FILE}")
        if not (0 < cfg.max_bytes_per_file <= 200 * 1024 * 1024):
            raise ValueError(f"{where}: max_bytes_per_file must be in 1..200 MB")
        return cfg


def batch_line(config: ClientConfig, req: ChatRequest, endpoint: str = "/v1/chat/completions") -> bytes:
    return (json.dumps({"custom_id": req.id, "method": "POST", "url": endpoint, "body": chat_body(config, req)},
                       ensure_ascii=False) + "\n").encode("utf-8")


def split_waves(lines: Iterable[tuple[str, bytes]], max_requests: int, max_bytes: int) -> Iterator[list[tuple[str, bytes]]]:
    """Group ``(id, line)`` into files under both limits (a single line over the byte limit is an error)."""
    wave: list[tuple[str, bytes]] = []
    size = 0
    for rid, line in lines:
        if len(line) > max_bytes:
            raise ValueError(f"request {rid}: one batch line is {len(line)} bytes, over the {max_bytes}-byte file limit")
        if wave and (len(wave) >= max_requests or size + len(line) > max_bytes):
            yield wave
            wave, size = [], 0
        wave.append((rid, line))
        size += len(line)
    if wave:
        yield wave


def batches_path_for(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.name + ".batches.jsonl")


def _batch_state(out_path: Path) -> dict[str, dict[str, Any]]:
    """Latest record per batch id from the batch log."""
    state: dict[str, dict[str, Any]] = {}
    for row in read_output_rows(batches_path_for(out_path)):
        state.setdefault(row["batch_id"], {}).update(row)
    return state


def run_batch(
    config: ClientConfig,
    requests: Iterable[ChatRequest],
    out_path: str | os.PathLike,
    *,
    batch: BatchConfig | None = None,
    progress: bool = True,
    openai_client: Any = None,
    answered: Container[str] | None = None,
    runs_log: bool = True,
    desc: str = "batch requests",
) -> RunStats:
    """Answer every request not yet answered in ``out_path`` through the Batch API; blocks until done.

    ``answered`` and ``runs_log`` as in :func:`synth.client.run_requests`. A refused line (content
    filter, refusal, empty reply) is recorded in the errors file as ``refusal`` and not cached; the next
    run submits it again."""
    import openai
    from tqdm.auto import tqdm

    bcfg = batch or BatchConfig()
    out_path = Path(out_path)
    client = openai_client or openai.OpenAI(base_url=config.base_url, api_key=config.api_key(),
                                            max_retries=config.max_retries, timeout=config.timeout_s)
    stats = RunStats()
    t0 = time.monotonic()
    done = set(answered_ids(out_path)) if answered is None else None
    by_id: dict[str, ChatRequest] = {}
    for req in requests:
        if req.id in by_id:
            continue
        by_id[req.id] = req
    if done is None:
        done = {rid for rid in by_id if rid in answered}  # type: ignore[operator]
    stats.total_seen = len(by_id)
    stats.skipped_done = sum(1 for rid in by_id if rid in done)

    blog = JsonlAppender(batches_path_for(out_path))
    out = JsonlAppender(out_path)
    err = JsonlAppender(errors_path_for(out_path))
    bar = tqdm(total=len(by_id), initial=stats.skipped_done, desc=desc, unit="req", disable=not progress)
    try:
        in_flight = {bid: rec for bid, rec in _batch_state(out_path).items() if not rec.get("collected")}
        in_flight_ids: set[str] = set()
        for rec in in_flight.values():
            in_flight_ids.update(rec.get("ids", []))
        if in_flight:
            log.info("resuming: %d batch(es) still in flight from an earlier run", len(in_flight))
        todo = [rid for rid in by_id if rid not in done and rid not in in_flight_ids]
        waves = split_waves(((rid, batch_line(config, by_id[rid], bcfg.endpoint)) for rid in todo),
                            bcfg.max_requests_per_file, bcfg.max_bytes_per_file)
        waves_left = True
        n_wave = len(_batch_state(out_path))
        while True:
            while waves_left and len(in_flight) < bcfg.max_in_flight:
                wave = next(waves, None)
                if wave is None:
                    waves_left = False
                    break
                n_wave += 1
                content = b"".join(line for _, line in wave)
                f = client.files.create(file=(f"{out_path.stem}.wave{n_wave}.jsonl", io.BytesIO(content)),
                                        purpose="batch")
                b = client.batches.create(input_file_id=f.id, endpoint=bcfg.endpoint,
                                          completion_window=bcfg.completion_window,
                                          metadata={"skymath_out": out_path.name, "wave": str(n_wave)})
                rec = {"batch_id": b.id, "input_file_id": f.id, "wave": n_wave, "n": len(wave), "bytes": len(content),
                       "ids": [rid for rid, _ in wave], "submitted_at": time.time()}
                blog.write(rec)
                in_flight[b.id] = rec
                stats.attempts += len(wave)
                log.info("submitted batch %s: wave %d, %d requests, %.1f MB", b.id, n_wave, len(wave),
                         len(content) / 1e6)
            if not in_flight:
                break
            finished = []
            for bid in list(in_flight):
                b = client.batches.retrieve(bid)
                if b.status in TERMINAL:
                    finished.append(b)
            for b in finished:
                ok, failed, refused, tokens = _collect(client, b, by_id, done, out, err, stats.failures)
                stats.ok += ok
                stats.failed += failed
                stats.refused += refused
                stats.prompt_tokens += tokens[0]
                stats.completion_tokens += tokens[1]
                bar.update(ok + failed + refused)
                blog.write({"batch_id": b.id, "collected": True, "status": b.status, "ok": ok, "failed": failed,
                            "collected_at": time.time()})
                rec = in_flight.pop(b.id)
                missing = [rid for rid in rec.get("ids", []) if rid in by_id and rid not in done]
                if missing and b.status != "completed":
                    log.warning("batch %s ended %s with %d unanswered requests; they will be resubmitted", b.id,
                                b.status, len(missing))
            if in_flight and not finished:
                time.sleep(bcfg.poll_interval_s)
    finally:
        bar.close()
        for w in (blog, out, err):
            w.close()
    stats.cost_usd = config.cost_usd(stats.prompt_tokens, stats.completion_tokens, discount=bcfg.discount)
    stats.elapsed_s = time.monotonic() - t0
    if runs_log:
        write_run_line(out_path, stats, mode="batch", model=config.model, base_url=config.base_url)
    log.info("%s (batch): %s", out_path if runs_log else desc, stats.summary())
    return stats


def _collect(client: Any, b: Any, by_id: dict[str, ChatRequest], done: set[str], out: JsonlAppender,
             err: JsonlAppender, failures: dict[str, str]) -> tuple[int, int, int, tuple[int, int]]:
    """Join a finished batch's output/error files on ``custom_id`` and append the answers; ``failures``
    gets ``id -> kind`` of every line that got no answer."""
    ok = failed = refused = pt = ct = 0
    for file_id, is_error in ((b.output_file_id, False), (b.error_file_id, True)):
        if not file_id:
            continue
        text = client.files.content(file_id).text
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                rid = item["custom_id"]
            except (ValueError, KeyError, TypeError):
                log.warning("batch %s file %s line %d: unreadable result line, skipped", b.id, file_id, lineno)
                continue
            if rid in done or rid not in by_id:
                continue  # a duplicate, or a request this run does not know: never written twice
            req = by_id[rid]
            resp = item.get("response") or {}
            body = resp.get("body") if isinstance(resp, dict) else None
            if not is_error and isinstance(resp, dict) and resp.get("status_code") == 200:
                try:
                    parsed = parse_chat_completion(rid, body)
                except (BadResponse, Refusal) as exc:
                    kind = "refusal" if isinstance(exc, Refusal) else "bad_response"
                    err.write({"id": rid, "error": kind, "message": str(exc)[:300], "batch_id": b.id,
                               "time": time.time(), "meta": req.meta})
                    failures[rid] = kind
                    if kind == "refusal":
                        refused += 1
                    else:
                        failed += 1
                    continue
                out.write({"id": rid, "text": parsed.text, "finish_reason": parsed.finish_reason,
                           "model": parsed.model, "usage": parsed.usage, "attempts": 1, "meta": req.meta,
                           "batch_id": b.id})
                done.add(rid)
                ok += 1
                pt += parsed.usage.get("prompt_tokens", 0)
                ct += parsed.usage.get("completion_tokens", 0)
            else:
                e = item.get("error") or {}
                if not e and isinstance(body, dict) and isinstance(body.get("error"), dict):
                    e = body["error"]  # a non-200 line: the error is inside the response body
                code = (e.get("code") if isinstance(e, dict) else None) or \
                    f"http_{resp.get('status_code') if isinstance(resp, dict) else '?'}"
                kind = "refusal" if code in CONTENT_FILTER_CODES else str(code)
                err.write({"id": rid, "error": kind, "message": str(e.get("message") if isinstance(e, dict) else e)[:300],
                           "batch_id": b.id, "time": time.time(), "meta": req.meta})
                failures[rid] = kind
                if kind == "refusal":
                    refused += 1
                else:
                    failed += 1
    return ok, failed, refused, (pt, ct)


__all__ = ["BatchConfig", "run_batch", "split_waves", "batch_line", "batches_path_for",
           "MAX_REQUESTS_PER_FILE", "MAX_BYTES_PER_FILE"]
