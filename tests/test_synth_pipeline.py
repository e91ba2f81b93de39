"""The two-stage pipeline end to end through the CLI and the local server: rows, hook, resume, faults."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.cli import main as synth_main
from synth.client import HTTP_LOGGERS
from synth.pipeline import Pipeline, RunConfig
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

ROW_KEYS = {"id", "stage", "round", "method", "seed_id", "seed_source", "level", "subject", "query", "response",
            "answer", "model", "prompt_version", "usage", "request_id"}
SELECTED: list[int] = []


def pick_first_three(rows, max_seeds):
    """Selection hook used by the config below (stands in for the core-set step)."""
    SELECTED.append(len(rows))
    return rows[:3]


def _config(tmp_path: Path, base_url: str, **over) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(seeds, toy_seeds(12))
    cfg = {
        "client": {"base_url": base_url, "model": "scripted", "max_concurrency": 8, "timeout_s": 2,
                   "max_retries": 8, "backoff_base_s": 0.02, "backoff_max_s": 0.1},
        "output_dir": str(tmp_path / "out"),
        "answer_aug_samples": 2,
        "evol_max_steps": 2,
        "stages": {
            "stage1": {"seeds": [{"name": "jsonl", "path": str(seeds)}], "samples_per_seed": 2,
                       "mix": {"metamath": 2, "evol": 1, "xwin": 1},
                       "second_round": {"enabled": True, "select": "tests.test_synth_pipeline:pick_first_three",
                                        "samples_per_seed": 2}},
            "stage2": {"seeds": [{"name": "jsonl", "path": str(seeds)}], "samples_per_seed": 1},
        },
        **over,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _expected_id(row: dict) -> str:
    """Row id as docs/synth.md defines it: sha256 of [stage, seed_id, method, query, response], 24 hex digits."""
    blob = json.dumps([row["stage"], row["seed_id"], row["method"], row["query"], row["response"]],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def test_generate_cli_two_stages_then_resume_sends_nothing(tmp_path, capsys):
    wrong = [f"{i} + {i + 10}" for i in (3, 4, 5, 6)]  # the solver is wrong on seeds toy/3..6
    out = tmp_path / "out"
    with FakeOpenAIServer(ScriptedModel(wrong_for=wrong)) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        SELECTED.clear()
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        first = srv.request_count()
        sent_per_id = srv.count_by_request_id()
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress"]) == 0
        assert srv.request_count() == first  # a second identical run sends 0 requests
    assert first > 0 and max(sent_per_id.values()) == 1  # no request reached the server twice
    s1 = summary["stages"]["stage1"]
    assert s1["seed_synthetic"] == 3 and SELECTED and SELECTED[0] == s1["round1"]["rows"]
    stage1 = read_output_rows(out / "stage1.jsonl")
    stage2 = read_output_rows(out / "stage2.jsonl")
    round1 = read_output_rows(out / "stage1" / "round1" / "rows.jsonl")
    round2 = read_output_rows(out / "stage1" / "round2" / "rows.jsonl")
    # the stage file holds the accepted rows of both rounds, nothing else
    assert round1 and round2 and len(stage1) == len(round1) + len(round2) == s1["rows"]
    assert sorted(r["id"] for r in stage1) == sorted(r["id"] for r in round1 + round2)
    assert {r["round"] for r in round1} == {1} and {r["round"] for r in round2} == {2}
    for rows in (stage1, stage2):
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids))
        assert all(r["id"] == _expected_id(r) for r in rows)  # deterministic: seed + method + content
    for row in stage1 + stage2:
        assert set(row) == ROW_KEYS and row["response"].endswith(f"\nThe answer is {row['answer']}")
        # what select-hard needs is in the row: the seed's source, level and subject (round 2 inherits them)
        assert (row["seed_source"], row["level"], row["subject"]) == ("toy", 4, "toy")
    assert {r["stage"] for r in stage1} == {"stage1"} and {r["stage"] for r in stage2} == {"stage2"}
    assert all(r["seed_id"].startswith("syn/") for r in round2)  # round 2 grows from seed synthetic problems
    assert {r["method"] for r in round2} <= {"evol", "xwin"}  # the paper's round 2: Evol-Instruct and Xwin
    # ground-truth filtering: answer-augmentation / rephrase draws on toy/3..6 (where the solver is wrong)
    # are rejected, none of them becomes a row, while other seeds' draws pass
    assert s1["round1"]["rejected_by_reason"].get("wrong_answer", 0) >= 1
    filtered = ("metamath_ansaug", "metamath_rephrase")
    assert not [r for r in round1 if r["method"] in filtered and r["seed_id"] in {"toy/3", "toy/4", "toy/5", "toy/6"}]
    assert [r for r in round1 if r["method"] in filtered]
    # stage 2 uses the same seeds here but draws new samples: no row is shared with stage 1
    assert not {r["id"] for r in stage2} & {r["id"] for r in round1}
    rejected = read_output_rows(out / "stage1" / "round1" / "rejected.jsonl")
    assert all(r["rejected"] for r in rejected)
    # one cache for the whole run, one log line per run (two runs here), per-stage summaries
    assert (out / "responses.jsonl").is_file() and not list(out.glob("*/round*/responses.jsonl"))
    runs = read_output_rows(out / "responses.jsonl.runs.jsonl")
    assert len(runs) == 2 and runs[0]["ok"] == first and runs[1]["ok"] == 0 and runs[1]["skipped_done"] == first
    assert json.loads((out / "stage1" / "summary.json").read_text())["rows"] == len(stage1)


def test_identical_request_in_both_rounds_is_sent_once(tmp_path):
    """Round 2 seeded with answer-augmentation rows asks exactly round 1's requests: all come from the one
    cache (a cache per round paid for them twice)."""
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg = RunConfig.from_yaml(_config(tmp_path, srv.base_url))
        stage = cfg.stages[0]
        stage.mix = {"metamath": 1.0}
        stage.metamath_mix = {"answer_aug": 1.0}
        stage.samples_per_seed = 1
        stage.second_round.select = None  # all round-1 rows
        stage.second_round.mix = {"metamath": 1.0}
        stage.second_round.metamath_mix = {"answer_aug": 1.0}
        stage.second_round.samples_per_seed = 1
        cfg.stages = [stage]
        summary = Pipeline(cfg, progress=False).run()
        per_id = srv.count_by_request_id()
    s = summary["stages"]["stage1"]
    assert s["round2"]["requests"] > 0 and s["round2"]["requests_sent"] == 0
    assert s["round2"]["requests_from_cache"] == s["round2"]["requests"]
    assert max(per_id.values()) == 1 and len(per_id) == s["round1"]["requests_sent"]
    # same content, other seed (syn/...): still two rows with two ids
    assert s["rows"] == s["round1"]["rows"] + s["round2"]["rows"]


def test_stage_with_no_rows_is_an_error_with_the_rejection_counts(tmp_path, caplog):
    everything = [f"{i} + {i + 10}" for i in range(1, 13)]
    with FakeOpenAIServer(ScriptedModel(wrong_for=everything)) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["stages"]["stage2"]["mix"] = {"metamath": 1}
        cfg["stages"]["stage2"]["metamath_mix"] = {"answer_aug": 1, "rephrase": 1}
        cfg_path.write_text(yaml.safe_dump(cfg))
        rc = synth_main(["generate", "--config", str(cfg_path), "--no-progress", "--stage", "stage2"])
    assert rc == 3
    message = " ".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    out = tmp_path / "out"
    rejected = read_output_rows(out / "stage2" / "round1" / "rejected.jsonl")
    assert len(rejected) >= 12 and {r["rejected"] for r in rejected} == {"wrong_answer"}
    assert "stage stage2: 0 accepted rows from 12 seeds" in message and f"wrong_answer {len(rejected)}" in message
    assert not (out / "stage2.jsonl").exists()
    assert json.loads((out / "stage2" / "summary.json").read_text())["rows"] == 0


def test_summary_keeps_the_stages_of_earlier_invocations(tmp_path):
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress", "--stage", "stage1"]) == 0
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress", "--stage", "stage2"]) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["stages"]) == {"stage1", "stage2"} and summary["stages_this_run"] == ["stage2"]
    for stage in ("stage1", "stage2"):
        assert summary["stages"][stage]["rows"] == len(read_output_rows(out / f"{stage}.jsonl")) > 0
        assert json.loads((out / stage / "summary.json").read_text())["stage"] == stage
    assert len(read_output_rows(out / "responses.jsonl.runs.jsonl")) == 2


def test_http_client_logs_only_with_verbose(tmp_path, caplog):
    """httpx logs one INFO line per request; without -v none of them reaches the log."""
    caplog.set_level(logging.INFO)
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["client"]["http_backend"] = "httpx"
        cfg_path.write_text(yaml.safe_dump(cfg))
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress", "--stage", "stage2"]) == 0
        assert srv.request_count() > 0
        assert not [r for r in caplog.records if r.name.split(".")[0] in HTTP_LOGGERS]
        caplog.clear()
        (tmp_path / "out" / "responses.jsonl").unlink()
        assert synth_main(["-v", "generate", "--config", str(cfg_path), "--no-progress", "--stage", "stage2"]) == 0
        assert [r for r in caplog.records if r.name in ("httpx", "httpx2") and "HTTP Request" in r.getMessage()]
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_legacy_per_round_cache_is_read(tmp_path):
    """An output folder of the old layout (a cache per round) resumes without paying again."""
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg = RunConfig.from_yaml(_config(tmp_path, srv.base_url))
        cfg.stages = [s for s in cfg.stages if s.name == "stage2"]
        Pipeline(cfg, progress=False).run()
        out = tmp_path / "out"
        legacy = out / "stage2" / "round1" / "responses.jsonl"
        (out / "responses.jsonl").rename(legacy)
        n = srv.request_count()
        Pipeline(cfg, progress=False).run()
        assert srv.request_count() == n
    assert not (out / "responses.jsonl").exists() or not read_output_rows(out / "responses.jsonl")


def test_pipeline_with_faults_completes_and_matches_fault_free_run(tmp_path):
    faults = iter(["429", "500", "malformed", "drop", "truncated"] * 4)

    def fault_fn(req, n):
        return next(faults, None) if n % 7 == 0 else None

    with FakeOpenAIServer(ScriptedModel(), fault_fn=fault_fn) as srv:
        cfg = RunConfig.from_yaml(_config(tmp_path / "a", srv.base_url))
        s_faulty = Pipeline(cfg, progress=False).run()
        assert any(r.fault for r in srv.log)
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg2 = RunConfig.from_yaml(_config(tmp_path / "b", srv.base_url))
        Pipeline(cfg2, progress=False).run()
    a = read_output_rows(tmp_path / "a" / "out" / "stage2.jsonl")
    b = read_output_rows(tmp_path / "b" / "out" / "stage2.jsonl")
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in b) and len(a) == len({r["id"] for r in a})
    assert s_faulty["stages"]["stage2"]["round1"]["unfinished_request_failed"] == 0


def test_dry_run_sends_nothing(tmp_path, capsys):
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        assert synth_main(["generate", "--config", str(cfg_path), "--dry-run", "--limit", "5"]) == 0
        assert srv.request_count() == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stage1"]["seeds"] == 5 and report["stage1"]["first_step_requests"] > 0


def test_config_errors_are_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"client": {}, "output_dir": "x", "stages": {"s": {"seeds": ["math_train"],
                                                                                  "mix": {"metamath": 1, "wizard": 1}}}}))
    with pytest.raises(ValueError, match="wizard"):
        RunConfig.from_yaml(bad)
    assert synth_main(["generate", "--config", str(bad)]) == 2


@pytest.mark.parametrize("name", ["gpt4.yaml", "vllm_local.yaml", "gpt4_batch.yaml"])
def test_example_configs_parse(name):
    cfg = RunConfig.from_yaml(Path(__file__).resolve().parents[1] / "configs" / "synth" / name)
    assert [s.name for s in cfg.stages] == ["stage1_normal", "stage2_hard"]


def test_batch_mode_pipeline_gives_the_same_rows_as_online(tmp_path):
    with FakeOpenAIServer(ScriptedModel(), batch_delay_s=0.01) as srv:
        online = RunConfig.from_yaml(_config(tmp_path / "online", srv.base_url))
        batch = RunConfig.from_yaml(_config(tmp_path / "batch", srv.base_url, mode="batch",
                                            batch={"poll_interval_s": 0.02}))
        for cfg in (online, batch):
            cfg.stages = [s for s in cfg.stages if s.name == "stage2"]
            Pipeline(cfg, progress=False).run()
        assert srv.batches  # the second run really went through /v1/batches
    a = read_output_rows(tmp_path / "online" / "out" / "stage2.jsonl")
    b = read_output_rows(tmp_path / "batch" / "out" / "stage2.jsonl")
    assert a and sorted((r["id"], r["response"]) for r in a) == sorted((r["id"], r["response"]) for r in b)


def test_select_hard_reads_the_seed_level_from_synth_rows(tmp_path):
    """No seed file needed: rows carry their seed's level; a seed without a MATH level gives `level: null`,
    which is never selected (unknown_level), not an error."""
    seeds = [{**s, "level": lvl} for s, lvl in zip(toy_seeds(4), (None, 3, 4, 5))]
    write_jsonl(tmp_path / "seeds.jsonl", seeds)
    cfg = {"client": {"base_url": None, "model": "scripted", "max_concurrency": 4, "timeout_s": 5},
           "output_dir": str(tmp_path / "out"), "evol_max_steps": 1,
           "stages": {"s": {"seeds": [{"name": "jsonl", "path": str(tmp_path / "seeds.jsonl")}], "samples_per_seed": 2}}}
    with FakeOpenAIServer(ScriptedModel()) as srv:
        cfg["client"]["base_url"] = srv.base_url
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
        assert synth_main(["generate", "--config", str(tmp_path / "run.yaml"), "--no-progress"]) == 0
    rows = read_output_rows(tmp_path / "out" / "s.jsonl")
    level_of = {s["id"]: s["level"] for s in seeds}
    assert all(r["level"] == level_of[r["seed_id"]] for r in rows) and {r["level"] for r in rows} == {None, 3, 4, 5}
    hard = tmp_path / "hard.jsonl"
    assert synth_main(["select-hard", str(tmp_path / "out" / "s.jsonl"), "-o", str(hard), "--no-progress"]) == 0
    kept = read_output_rows(hard)
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in rows if r["level"] is not None and r["level"] >= 4)
    verdicts = read_output_rows(tmp_path / "hard.jsonl.verdicts.jsonl")
    assert sum(v["verdict"] == "unknown_level" for v in verdicts) == sum(r["level"] is None for r in rows) > 0
