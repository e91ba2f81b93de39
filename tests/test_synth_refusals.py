"""Refusals (content filter, refusal message, empty reply) over real HTTP: classified, counted, retried,
never cached as answers; in the pipeline they end as `refusal` rejections and a rerun asks again."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.client import ChatClient, ChatRequest, ClientConfig, errors_path_for, request_id, run_requests
from synth.pipeline import Pipeline, RunConfig
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

REFUSALS = {
    "finish_content_filter": {"text": None, "finish_reason": "content_filter"},
    "refusal_field": {"text": None, "refusal": "I can't help with that."},
    "empty_text": {"text": "   "},
    "http_400_content_filter": {"status": 400, "error": "The response was filtered", "code": "content_filter"},
}


def _cfg(srv: FakeOpenAIServer, **kw) -> ClientConfig:
    return ClientConfig(base_url=srv.base_url, model="m", max_concurrency=4, timeout_s=5, backoff_base_s=0.01,
                        backoff_max_s=0.02, **kw)


def _reqs(n: int) -> list[ChatRequest]:
    return [ChatRequest(request_id("refusal-test", i), [{"role": "user", "content": f"q{i}"}]) for i in range(n)]


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refusal_is_retried_then_counted_and_not_cached(kind, tmp_path):
    with FakeOpenAIServer(lambda req: REFUSALS[kind]) as srv:
        out = tmp_path / "out.jsonl"
        stats = run_requests(ChatClient(_cfg(srv, refusal_retries=2)), _reqs(3), out, progress=False)
        per_id = srv.count_by_request_id()
    assert (stats.ok, stats.failed, stats.refused) == (0, 0, 3)
    assert set(per_id.values()) == {3}  # first try + refusal_retries
    assert read_output_rows(out) == []  # a refusal is never an answer in the cache
    errors = read_output_rows(errors_path_for(out))
    assert len(errors) == 3 and {e["error"] for e in errors} == {"refusal"}
    assert set(stats.failures.values()) == {"refusal"}


def test_a_refusal_that_passes_on_retry_is_an_ordinary_answer(tmp_path):
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def first_filtered(req):
        key = req["messages"][-1]["content"]
        with lock:
            seen[key] += 1
            n = seen[key]
        return {"text": None, "finish_reason": "content_filter"} if n == 1 else f"fine\nThe answer is {key}"

    with FakeOpenAIServer(first_filtered) as srv:
        out = tmp_path / "out.jsonl"
        stats = run_requests(ChatClient(_cfg(srv)), _reqs(4), out, progress=False)
    assert (stats.ok, stats.refused) == (4, 0) and stats.retries == 4
    assert stats.errors.get("refusal_content_filter") == 4
    assert len(read_output_rows(out)) == 4 and not errors_path_for(out).exists()


def test_pipeline_counts_refusals_as_rejections_and_a_rerun_asks_again(tmp_path):
    """The solver refuses toy/2's problem; everything else is answered. Refused draws are `refusal`
    rejections, the summary counts them, the cache has none of them, and a rerun re-sends exactly those."""
    solver = ScriptedModel()

    def model(req):
        solving = "expert mathematics teacher" in req["messages"][0]["content"]
        if solving and "2 + 12" in req["messages"][-1]["content"]:
            return {"text": None, "finish_reason": "content_filter"}
        return solver(req)

    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(seeds, toy_seeds(3))
    cfg = {"client": {"base_url": None, "model": "scripted", "max_concurrency": 4, "timeout_s": 5,
                      "backoff_base_s": 0.01, "refusal_retries": 1},
           "output_dir": str(tmp_path / "out"),
           "stages": {"s": {"seeds": [{"name": "jsonl", "path": str(seeds)}], "samples_per_seed": 1,
                            "mix": {"metamath": 1}, "metamath_mix": {"answer_aug": 1}}}}
    with FakeOpenAIServer(model) as srv:
        cfg["client"]["base_url"] = srv.base_url
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(cfg))
        summary = Pipeline(RunConfig.from_yaml(path), progress=False).run()
        first = srv.count_by_request_id()
        srv.reset_log()
        Pipeline(RunConfig.from_yaml(path), progress=False).run()
        again = srv.count_by_request_id()
    r1 = summary["stages"]["s"]["round1"]
    assert r1["rows"] == 2 and r1["rejected_by_reason"] == {"refusal": 1} and r1["refused"] == 1
    assert summary["requests_this_run"]["refused"] == 1
    refused_id = next(r for r in read_output_rows(tmp_path / "out" / "s" / "round1" / "rejected.jsonl"))["request_id"]
    assert first[refused_id] == 2  # asked, then asked again once (refusal_retries: 1)
    cached = {r["id"] for r in read_output_rows(tmp_path / "out" / "responses.jsonl")}
    assert refused_id not in cached and len(cached) == 2
    assert dict(again) == {refused_id: 2}  # the rerun sends only the refused request
    runs = read_output_rows(tmp_path / "out" / "responses.jsonl.runs.jsonl")
    assert [r["refused"] for r in runs] == [1, 1]


def test_batch_mode_records_a_filtered_line_as_refusal(tmp_path):
    from synth.batch import BatchConfig, run_batch

    def model(req):
        content = req["messages"][-1]["content"]
        return {"text": None, "finish_reason": "content_filter"} if content == "q1" else "ok\nThe answer is 1"

    with FakeOpenAIServer(model, batch_delay_s=0.01) as srv:
        out = tmp_path / "out.jsonl"
        stats = run_batch(_cfg(srv), _reqs(3), out, batch=BatchConfig(poll_interval_s=0.02), progress=False)
    assert (stats.ok, stats.failed, stats.refused) == (2, 0, 1)
    assert len(read_output_rows(out)) == 2
    errors = read_output_rows(errors_path_for(out))
    assert [e["error"] for e in errors] == ["refusal"]
    assert json.loads(json.dumps(stats.to_dict()))["refused"] == 1 and "failures" not in stats.to_dict()
