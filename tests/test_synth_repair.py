"""`skymath-synth generate --repair`: a response cache damaged in the middle is repaired, and only the
requests whose answers were lost are sent again (counted by the local server)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import write_jsonl
from synth.cli import main as synth_main
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds


def _config(tmp_path: Path, base_url: str) -> Path:
    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(seeds, toy_seeds(8))
    cfg = {"client": {"base_url": base_url, "model": "scripted", "max_concurrency": 4, "timeout_s": 5},
           "output_dir": str(tmp_path / "out"),
           "stages": {"stage1": {"seeds": [{"name": "jsonl", "path": str(seeds)}], "samples_per_seed": 2}}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_repair_moves_bad_lines_aside_and_resends_only_their_requests(tmp_path: Path, caplog) -> None:
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg = _config(tmp_path, srv.base_url)
        argv = ["generate", "--config", str(cfg), "--no-progress"]
        assert synth_main(argv) == 0
        sent = srv.request_count()
        clean_rows = (tmp_path / "out" / "stage1.jsonl").read_bytes()
        cache = tmp_path / "out" / "responses.jsonl"  # the one cache of the run (all stages and rounds)
        lines = cache.read_bytes().splitlines(keepends=True)
        assert len(lines) > 6
        lost = [json.loads(lines[2])["id"], json.loads(lines[5])["id"]]
        lines[2] = b"\xff\xfe not a response\n"  # bad bytes: the id cannot be read back
        lines[5] = lines[5][:40] + b"\n"  # cut JSON: the id is still readable
        cache.write_bytes(b"".join(lines))

        caplog.clear()
        assert synth_main(argv) == 2  # a corrupt cache stops the run, names the line, sends nothing
        assert f"{cache}:3: output file is corrupt" in caplog.text and "--repair" in caplog.text
        assert srv.request_count() == sent

        assert synth_main([*argv, "--repair"]) == 0
        assert srv.request_count() == sent + 2  # exactly the two lost answers
        assert (tmp_path / "out" / "stage1.jsonl").read_bytes() == clean_rows
        side = [json.loads(x) for x in (cache.parent / "responses.jsonl.bad.jsonl").read_text().splitlines()]
        assert [s["line"] for s in side] == [3, 6] and side[1]["id"] == lost[1]
        answered = [json.loads(x)["id"] for x in cache.read_text().splitlines()]
        assert sorted(answered) == sorted({json.loads(x)["id"] for x in cache.read_text().splitlines()})
        assert set(lost) <= set(answered)

        assert synth_main(argv) == 0  # repaired for good: nothing more to send
        assert srv.request_count() == sent + 2
