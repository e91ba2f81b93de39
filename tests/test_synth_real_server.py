"""Smoke run of the pipeline against a real model server (vLLM, ``transformers serve``, OpenAI).

Needs a running server, so it runs only when ``SKYMATH_SYNTH_SERVER_URL`` (e.g.
``http://127.0.0.1:8000/v1``) and ``SKYMATH_SYNTH_SERVER_MODEL`` (the served model name) are set; see
docs/synth.md for the commands. A small model may not follow the answer format: the test asserts that
every draw ends as a well-formed row or as a rejection with a reason, and that a rerun sends nothing.
"""

from __future__ import annotations

import os

import pytest

from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.pipeline import Pipeline, RunConfig
from tests.helpers.synth_scripts import toy_seeds

URL = os.environ.get("SKYMATH_SYNTH_SERVER_URL")
MODEL = os.environ.get("SKYMATH_SYNTH_SERVER_MODEL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (URL and MODEL), reason="no real model server: set SKYMATH_SYNTH_SERVER_URL and "
                       "SKYMATH_SYNTH_SERVER_MODEL to run (see docs/synth.md)"),
]


def test_pipeline_smoke_against_real_server(tmp_path):
    write_jsonl(tmp_path / "seeds.jsonl", toy_seeds(2))
    cfg = RunConfig.from_dict({
        "client": {"base_url": URL, "model": MODEL, "max_tokens": 256, "max_concurrency": 2, "timeout_s": 600,
                   "max_retries": 2},
        "out_dir": str(tmp_path / "out"),
        "evol_max_steps": 1,
        "stages": {"smoke": {"seeds": [{"name": "jsonl", "path": str(tmp_path / "seeds.jsonl")}],
                             "mix": {"metamath": 1, "evol": 1, "xwin": 1}}},
    })
    summary = Pipeline(cfg, progress=False).run()
    r1 = summary["stages"]["smoke"]["round1"]
    assert r1["requests_sent"] > 0 and r1["unfinished_request_failed"] == 0
    for row in read_output_rows(tmp_path / "out" / "smoke.jsonl"):
        assert row["response"].endswith(f"\nThe answer is {row['answer']}")
    again = Pipeline(cfg, progress=False).run()
    assert again["stages"]["smoke"]["round1"]["requests_sent"] == 0
