"""Smoke run of the pipeline against a real model server (vLLM, ``transformers serve``, OpenAI).

With ``SKYMATH_SYNTH_SERVER_URL`` (e.g. ``http://127.0.0.1:8000/v1``) and ``SKYMATH_SYNTH_SERVER_MODEL``
set it uses that server (see docs/synth.md for vLLM). Otherwise it starts ``transformers serve`` on the
tiny Llama of the test helpers when the server's dependencies are installed (the ``serve`` extra:
fastapi, uvicorn; they are in the ``test`` extra), and skips with the reason when they are not. A small model may not follow the answer format: the test asserts that
every draw ends as a well-formed row or as a rejection with a reason, and that a rerun sends nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.pipeline import EmptyStageError, Pipeline, RunConfig
from tests.helpers.synth_scripts import toy_seeds

URL = os.environ.get("SKYMATH_SYNTH_SERVER_URL")
MODEL = os.environ.get("SKYMATH_SYNTH_SERVER_MODEL")

pytestmark = [pytest.mark.slow]

_CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                  "{% if add_generation_prompt %}assistant: {% endif %}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base_url, model): the configured server, or `transformers serve` on the tiny Llama."""
    if URL and MODEL:
        yield URL, MODEL
        return
    cli = shutil.which("transformers")
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if cli is None or missing:
        pytest.skip(f"no real model server: set SKYMATH_SYNTH_SERVER_URL/_MODEL, or install {missing or 'transformers'} "
                    "(pip install 'skymath[serve]') so the test can start `transformers serve` itself")
    from transformers import AutoTokenizer

    from skymath_tasks.devtools.tiny_model import build_tiny_llama

    model_dir = build_tiny_llama(tmp_path_factory.mktemp("served_llama"))
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = _CHAT_TEMPLATE
    tok.save_pretrained(model_dir)
    port = _free_port()
    log = open(Path(model_dir) / "serve.log", "w")
    proc = subprocess.Popen([cli, "serve", "--port", str(port), "--device", "cpu", str(model_dir)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail("transformers serve exited: " + (Path(model_dir) / "serve.log").read_text()[-2000:])
            try:
                urllib.request.urlopen(base + "/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("transformers serve did not answer within 120 s")
                time.sleep(0.5)
        yield base, str(model_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_pipeline_smoke_against_real_server(tmp_path, server):
    url, model = server
    write_jsonl(tmp_path / "seeds.jsonl", toy_seeds(2))
    cfg = RunConfig.from_dict({
        "client": {"base_url": url, "model": model, "max_tokens": 256, "max_concurrency": 2, "timeout_s": 600,
                   "max_retries": 2},
        "output_dir": str(tmp_path / "out"),
        "evol_max_steps": 1,
        "stages": {"smoke": {"seeds": [{"name": "jsonl", "path": str(tmp_path / "seeds.jsonl")}],
                             "mix": {"metamath": 1, "evol": 1, "xwin": 1}}},
    })
    summary = _run(cfg, tmp_path / "out")
    r1 = summary["stages"]["smoke"]["round1"]
    assert r1["requests_sent"] > 0 and r1["unfinished_request_failed"] == 0
    rows = read_output_rows(tmp_path / "out" / "smoke.jsonl")
    assert len(rows) == r1["rows"]
    for row in rows:
        assert row["response"].endswith(f"\nThe answer is {row['answer']}")
    again = _run(cfg, tmp_path / "out")
    # everything answered comes from the cache; only refused requests (empty replies) are asked again
    assert again["stages"]["smoke"]["round1"]["requests_sent"] == r1["refused"]


def _run(cfg: RunConfig, out: Path) -> dict:
    """The pipeline's summary; a random model may get every draw rejected (then the stage is an error,
    which is not what this test checks: the plumbing is)."""
    try:
        return Pipeline(cfg, progress=False).run()
    except EmptyStageError:
        return json.loads((out / "summary.json").read_text())
