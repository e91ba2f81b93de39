"""Client layer against our local OpenAI-compatible server: faults, retries, limits, resume after kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows
from synth.client import (
    ChatClient,
    ChatRequest,
    ClientConfig,
    TokenBucket,
    errors_path_for,
    load_responses,
    request_id,
    run_requests,
)

REPO = Path(__file__).resolve().parents[1]


def _reqs(n: int, tag: str = "q") -> list[ChatRequest]:
    return [ChatRequest(request_id(tag, i), [{"role": "user", "content": f"{tag} {i}"}], meta={"i": i})
            for i in range(n)]


def _cfg(srv: FakeOpenAIServer, **kw) -> ClientConfig:
    base = dict(base_url=srv.base_url, model="test-model", max_concurrency=8, timeout_s=1.0, max_retries=6,
                backoff_base_s=0.02, backoff_max_s=0.2)
    base.update(kw)
    return ClientConfig(**base)


def _echo(req: dict) -> str:
    return f"reply to {req['messages'][-1]['content']}\nThe answer is 1"


def test_request_id_is_deterministic_and_content_sensitive():
    assert request_id("a", [1, {"x": 2}]) == request_id("a", [1, {"x": 2}])
    assert request_id("a", 1) != request_id("a", 2)
    assert len(request_id("a")) == 24


def test_config_from_yaml_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("client:\n  model: m\n  temprature: 0.3\n")
    with pytest.raises(ValueError, match="temprature"):
        ClientConfig.from_yaml(p, key="client")
    p.write_text("client:\n  model: m\n  base_url: http://x/v1\n  max_concurrency: 3\n")
    cfg = ClientConfig.from_yaml(p, key="client")
    assert (cfg.model, cfg.max_concurrency, cfg.temperature) == ("m", 3, 0.7)


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
def test_injected_faults_every_request_answered_exactly_once(tmp_path, backend):
    with FakeOpenAIServer(_echo, latency_s=0.005) as srv:
        for kind in ("429", "500", "malformed", "truncated", "drop", "hang"):
            srv.inject(kind, times=2, hang_s=6.0, retry_after=0.05)
        reqs = _reqs(30)
        # a 3 s timeout: long enough that no healthy reply times out on a loaded 2-core machine (the exact
        # retry counts below), short against the 6 s hang that must time out
        stats = run_requests(ChatClient(_cfg(srv, http_backend=backend, timeout_s=3.0)), reqs, tmp_path / "out.jsonl",
                             progress=False)
        faulted = [r.request_id for r in srv.log if r.fault]
        per_id = srv.count_by_request_id()
    rows = read_output_rows(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in reqs)  # each id once, none missing
    by_id = {r["id"]: r for r in rows}
    for req in reqs:
        assert by_id[req.id]["text"] == f"reply to q {req.meta['i']}\nThe answer is 1"
    assert len(faulted) == 12 and stats.retries == 12 and stats.failed == 0 and stats.ok == 30
    assert sum(per_id.values()) == 30 + 12
    for rid in set(faulted):
        assert per_id[rid] == 1 + faulted.count(rid)
    assert stats.errors["rate_limit"] == 2 and stats.errors["http_500"] == 2 and stats.errors["bad_response"] == 2


def test_retry_after_is_honoured():
    with FakeOpenAIServer(_echo) as srv:
        srv.inject("429", retry_after=0.6)
        resp = ChatClient(_cfg(srv)).complete_sync(ChatRequest("r1", [{"role": "user", "content": "x"}]))
        t = [r.time for r in srv.log]
    assert resp.text.startswith("reply to x") and resp.attempts == 2
    assert t[1] - t[0] >= 0.55  # waited as told, not the 20 ms backoff


def test_non_retryable_failure_is_recorded_and_retried_by_next_run(tmp_path):
    broken = {"on": True}

    def responder(req):
        if broken["on"] and req["messages"][-1]["content"] == "q 3":
            return {"status": 400, "error": "bad request for q 3"}
        return _echo(req)

    reqs = _reqs(6)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder) as srv:
        s1 = run_requests(ChatClient(_cfg(srv)), reqs, out, progress=False)
        assert (s1.ok, s1.failed) == (5, 1)
        errs = read_output_rows(errors_path_for(out))
        assert [e["id"] for e in errs] == [reqs[3].id] and errs[0]["error"] == "http_400"
        assert reqs[3].id not in load_responses(out)
        broken["on"] = False
        srv.reset_log()
        s2 = run_requests(ChatClient(_cfg(srv)), reqs, out, progress=False)
        assert (s2.ok, s2.skipped_done, s2.failed) == (1, 5, 0)
        assert list(srv.count_by_request_id()) == [reqs[3].id]  # only the failed one was re-sent
    assert set(load_responses(out)) == {r.id for r in reqs}


def test_auth_error_stops_the_run_at_once(tmp_path):
    from synth.client import RequestFailed

    with FakeOpenAIServer(lambda req: {"status": 401, "error": "invalid api key"}) as srv:
        with pytest.raises(RequestFailed, match="http_401"):
            run_requests(ChatClient(_cfg(srv, max_concurrency=1)), _reqs(50), tmp_path / "o.jsonl", progress=False)
        assert srv.request_count() == 1  # not 50 identical failures


def test_usage_and_cost_are_totalled(tmp_path):
    def responder(req):
        return {"text": "ok\nThe answer is 2", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}

    with FakeOpenAIServer(responder) as srv:
        st = run_requests(ChatClient(_cfg(srv, price_input_per_1m=10.0, price_output_per_1m=30.0)), _reqs(4),
                          tmp_path / "o.jsonl", progress=False)
    assert (st.prompt_tokens, st.completion_tokens) == (4000, 2000)
    assert st.cost_usd == pytest.approx(0.04 + 0.06)
    runs = read_output_rows(tmp_path / "o.jsonl.runs.jsonl")
    assert runs[-1]["ok"] == 4 and runs[-1]["cost_usd"] == pytest.approx(0.1)


def test_duplicate_ids_in_input_are_sent_once(tmp_path):
    reqs = _reqs(3) + _reqs(3)
    with FakeOpenAIServer(_echo) as srv:
        st = run_requests(ChatClient(_cfg(srv)), reqs, tmp_path / "o.jsonl", progress=False)
        assert srv.request_count() == 3
    assert st.total_seen == 3 and st.ok == 3


def test_token_bucket_limits_rate():
    async def go() -> float:
        bucket = TokenBucket(rate_per_min=1200, burst_s=0.05)  # 20/s, burst of 1
        t0 = time.monotonic()
        for _ in range(6):
            await bucket.acquire(1)
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.2  # 5 waits of 50 ms after the first token


@pytest.mark.parametrize("limit", [{"requests_per_minute": 600}, {"tokens_per_minute": 60_000, "max_tokens": 95}])
def test_rpm_and_tpm_limits_space_requests(tmp_path, limit):
    # 10 requests/s either way (TPM: ~5 prompt tokens + 95 max_tokens = 100 tokens per request); burst of 1
    with FakeOpenAIServer(_echo) as srv:
        cfg = _cfg(srv, max_concurrency=16, limit_burst_s=0.1, **limit)
        run_requests(ChatClient(cfg), _reqs(7), tmp_path / "o.jsonl", progress=False)
        t = sorted(r.time for r in srv.log)
    assert t[-1] - t[0] >= 0.5  # 6 gaps of ~100 ms; unlimited, 7 requests at concurrency 16 take a few ms


def test_concurrency_limit_is_respected(tmp_path):
    import threading

    live = {"now": 0, "max": 0}
    lock = threading.Lock()

    def responder(req):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        time.sleep(0.02)
        with lock:
            live["now"] -= 1
        return _echo(req)

    with FakeOpenAIServer(responder) as srv:
        run_requests(ChatClient(_cfg(srv, max_concurrency=3)), _reqs(24), tmp_path / "o.jsonl", progress=False)
    assert live["max"] == 3


_CHILD = r"""
import sys
sys.path.insert(0, {repo!r})
from synth.client import ChatClient, ChatRequest, ClientConfig, request_id, run_requests
reqs = [ChatRequest(request_id("k", i), [{{"role": "user", "content": f"k {{i}}"}}]) for i in range({n})]
cfg = ClientConfig(base_url={url!r}, model="test-model", max_concurrency=4, timeout_s=5)
run_requests(ChatClient(cfg), reqs, {out!r}, progress=False)
"""


def test_sigkill_midway_then_resume_loses_nothing_and_resends_only_unfinished(tmp_path):
    n = 120
    reqs = [ChatRequest(request_id("k", i), [{"role": "user", "content": f"k {i}"}]) for i in range(n)]
    out = tmp_path / "killed.jsonl"
    with FakeOpenAIServer(_echo, latency_s=0.03) as srv:
        script = _CHILD.format(repo=str(REPO), n=n, url=srv.base_url, out=str(out))
        proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + 60
        while time.time() < deadline:
            if out.exists() and out.read_text().count("\n") >= 30:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        done_after_kill = set(load_responses(out))
        assert 30 <= len(done_after_kill) < n
        srv.reset_log()
        stats = run_requests(ChatClient(ClientConfig(base_url=srv.base_url, model="test-model", max_concurrency=4)),
                             reqs, out, progress=False)
        resent = srv.count_by_request_id()
        # uninterrupted reference run
        ref = tmp_path / "ref.jsonl"
        run_requests(ChatClient(ClientConfig(base_url=srv.base_url, model="test-model", max_concurrency=4)),
                     reqs, ref, progress=False)
    rows = read_output_rows(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == n  # nothing lost, nothing duplicated
    assert set(ids) == {r["id"] for r in read_output_rows(ref)}
    assert set(resent) == {r.id for r in reqs} - done_after_kill  # only the unfinished ones were sent again
    assert all(c == 1 for c in resent.values())
    assert stats.skipped_done == len(done_after_kill)
    # the file is clean JSONL after the resume (a torn tail, if any, was trimmed)
    for line in out.read_text().splitlines():
        json.loads(line)


def test_output_reader_skips_only_a_torn_last_line(tmp_path):
    from skymath_tasks.jsonl_io import DataError
    from synth.client import answered_ids

    p = tmp_path / "o.jsonl"
    p.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "c", "te')
    assert answered_ids(p) == {"a", "b"}
    assert set(load_responses(p, ids={"b", "z"})) == {"b"}
    p.write_text('{"id": "a"}\n{"id": "b", "te\n{"id": "c"}\n')
    with pytest.raises(DataError, match=r"o.jsonl:2"):
        answered_ids(p)
