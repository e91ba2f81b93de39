"""Batch API mode round-trips through the local server's /v1/files and /v1/batches endpoints."""

from __future__ import annotations

import json

import pytest

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows
from synth.batch import BatchConfig, batch_line, batches_path_for, run_batch, split_waves
from synth.client import ChatRequest, ClientConfig, errors_path_for, load_responses, request_id


def _reqs(n: int) -> list[ChatRequest]:
    return [ChatRequest(request_id("b", i), [{"role": "user", "content": f"problem {i}"}], meta={"i": i})
            for i in range(n)]


def _answer(req: dict) -> str:
    return f"solved {req['messages'][-1]['content']}\nThe answer is 0"


def test_split_waves_respects_request_and_byte_limits():
    lines = [(str(i), b"x" * 100) for i in range(25)]
    waves = list(split_waves(lines, max_requests=10, max_bytes=10_000))
    assert [len(w) for w in waves] == [10, 10, 5]
    waves = list(split_waves(lines, max_requests=50, max_bytes=350))
    assert [len(w) for w in waves] == [3] * 8 + [1]
    assert all(sum(len(b) for _, b in w) <= 350 for w in waves)
    with pytest.raises(ValueError, match="over the"):
        list(split_waves([("big", b"x" * 500)], 10, 400))


def test_batch_line_is_a_valid_batch_api_request():
    cfg = ClientConfig(model="gpt-x", temperature=0.7, max_tokens=100)
    line = json.loads(batch_line(cfg, ChatRequest("id1", [{"role": "user", "content": "hi"}], params={"seed": 3})))
    assert line == {"custom_id": "id1", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7,
                             "max_tokens": 100, "seed": 3}}


def test_batch_round_trip_in_waves_joined_by_custom_id(tmp_path):
    reqs = _reqs(23)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(_answer, batch_delay_s=0.02) as srv:
        cfg = ClientConfig(base_url=srv.base_url, model="m", price_input_per_1m=10, price_output_per_1m=30)
        stats = run_batch(cfg, reqs, out, batch=BatchConfig(max_requests_per_file=10, max_in_flight=2,
                                                            poll_interval_s=0.02), progress=False)
        assert len(srv.batches) == 3 and sorted(b.total for b in srv.batches.values()) == [3, 10, 10]
    rows = read_output_rows(out)
    assert len(rows) == 23 and len({r["id"] for r in rows}) == 23
    for r in rows:  # results came back shuffled; each must be joined to its own request
        assert r["text"] == f"solved problem {r['meta']['i']}\nThe answer is 0"
        assert r["id"] == reqs[r["meta"]["i"]].id
    assert stats.ok == 23 and stats.failed == 0
    assert stats.cost_usd == pytest.approx(0.5 * (stats.prompt_tokens * 10 + stats.completion_tokens * 30) / 1e6)


def test_batch_failed_lines_are_resubmitted_by_next_run_only(tmp_path):
    reqs = _reqs(8)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(_answer, batch_delay_s=0.01) as srv:
        cfg = ClientConfig(base_url=srv.base_url, model="m")
        srv.inject("500", times=1, match=lambda body: body["messages"][-1]["content"] == "problem 5")
        s1 = run_batch(cfg, reqs, out, batch=BatchConfig(poll_interval_s=0.02), progress=False)
        assert (s1.ok, s1.failed) == (7, 1)
        assert [e["id"] for e in read_output_rows(errors_path_for(out))] == [reqs[5].id]
        srv.reset_log()
        s2 = run_batch(cfg, reqs, out, batch=BatchConfig(poll_interval_s=0.02), progress=False)
        assert (s2.ok, s2.skipped_done) == (1, 7)
        assert list(srv.count_by_request_id()) == [reqs[5].id]
    assert set(load_responses(out)) == {r.id for r in reqs}


def test_batch_resume_collects_in_flight_batch_without_resubmitting(tmp_path):
    """A run killed after submitting: the rerun finds the batch in the log and only collects it."""
    reqs = _reqs(5)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(_answer, batch_delay_s=0.01) as srv:
        cfg = ClientConfig(base_url=srv.base_url, model="m")
        import io

        import openai

        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
        content = b"".join(batch_line(cfg, r) for r in reqs)
        f = client.files.create(file=("w.jsonl", io.BytesIO(content)), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        batches_path_for(out).write_text(json.dumps({"batch_id": b.id, "input_file_id": f.id, "wave": 1, "n": 5,
                                                     "ids": [r.id for r in reqs]}) + "\n")
        stats = run_batch(cfg, reqs, out, batch=BatchConfig(poll_interval_s=0.02), progress=False)
        assert len(srv.batches) == 1  # nothing new submitted
    assert stats.ok == 5 and set(load_responses(out)) == {r.id for r in reqs}



def test_unusable_bodies_are_error_rows_but_a_bug_surfaces(tmp_path, monkeypatch):
    """Only an unusable body becomes a "bad_response" error row (retried by the next run); a programming
    error while reading results must stop the run, not be filed as bad data."""
    from synth import batch as B
    from synth.client import BadResponse

    real = B.parse_chat_completion

    def unusable_for_one(rid, body, *a):
        if rid == reqs[1].id:
            raise BadResponse("no choices in response")
        return real(rid, body, *a)

    reqs = _reqs(3)
    monkeypatch.setattr(B, "parse_chat_completion", unusable_for_one)
    with FakeOpenAIServer(_answer, batch_delay_s=0.01) as srv:
        cfg = ClientConfig(base_url=srv.base_url, model="m")
        stats = run_batch(cfg, reqs, tmp_path / "a.jsonl", batch=BatchConfig(poll_interval_s=0.01), progress=False)
        assert stats.ok == 2 and stats.failed == 1
        errors = read_output_rows(errors_path_for(tmp_path / "a.jsonl"))
        assert [(e["id"], e["error"]) for e in errors] == [(reqs[1].id, "bad_response")]

        monkeypatch.setattr(B, "parse_chat_completion", lambda *a: {}["a bug"])
        with pytest.raises(KeyError):
            run_batch(cfg, reqs, tmp_path / "b.jsonl", batch=BatchConfig(poll_interval_s=0.01), progress=False)
