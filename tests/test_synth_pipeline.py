"""The two-stage pipeline end to end through the CLI and the local server: rows, hook, resume, faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.cli import main as synth_main
from synth.pipeline import Pipeline, RunConfig
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

ROW_KEYS = {"id", "stage", "method", "seed_id", "query", "response", "answer", "model", "prompt_version", "usage"}
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


def test_generate_cli_two_stages_then_resume_sends_nothing(tmp_path, capsys):
    wrong = [f"{i} + {i + 10}" for i in (3, 4, 5, 6)]  # the solver is wrong on seeds toy/3..6
    with FakeOpenAIServer(ScriptedModel(wrong_for=wrong)) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        SELECTED.clear()
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress"]) == 0
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        first = srv.request_count()
        assert synth_main(["generate", "--config", str(cfg_path), "--no-progress"]) == 0
        assert srv.request_count() == first  # everything came from the response cache
    s1 = summary["stages"]["stage1"]
    assert s1["seed_synthetic"] == 3 and SELECTED and SELECTED[0] == s1["round1"]["rows"]
    stage1 = read_output_rows(tmp_path / "out" / "stage1.jsonl")
    stage2 = read_output_rows(tmp_path / "out" / "stage2.jsonl")
    assert len(stage1) == s1["rows"] == s1["round2"]["rows"] > 0 and len(stage2) > 0
    for row in stage1 + stage2:
        assert set(row) == ROW_KEYS and row["response"].endswith(f"\nThe answer is {row['answer']}")
    assert {r["stage"] for r in stage1} == {"stage1"} and {r["stage"] for r in stage2} == {"stage2"}
    assert all(r["seed_id"].startswith("syn/") for r in stage1)  # round 2 grows from seed synthetic problems
    # ground-truth filtering: answer-augmentation / rephrase draws on toy/3..6 (where the solver is wrong)
    # are rejected, none of them becomes a row, while other seeds' draws pass
    assert s1["round1"]["rejected_by_reason"].get("wrong_answer", 0) >= 1
    round1 = read_output_rows(tmp_path / "out" / "stage1" / "round1" / "rows.jsonl")
    filtered = ("metamath_ansaug", "metamath_rephrase")
    assert not [r for r in round1 if r["method"] in filtered and r["seed_id"] in {"toy/3", "toy/4", "toy/5", "toy/6"}]
    assert [r for r in round1 if r["method"] in filtered]
    # stage 2 uses the same seeds here but draws new samples: no row is shared with stage 1
    assert not {r["id"] for r in stage2} & {r["id"] for r in round1}
    rejected = read_output_rows(tmp_path / "out" / "stage1" / "round1" / "rejected.jsonl")
    assert all(r["rejected"] for r in rejected)


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
