"""End to end on a tiny Llama: stage 1 then stage 2, stage 2 from stage-1 weights, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.cli import SUMMARY_NAME, last_complete_checkpoint, main

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
STAGE1 = DATA / "training_stage1.jsonl"  # 24 rows
STAGE2 = DATA / "training_stage2.jsonl"  # 12 rows


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The CI box has 2 cores shared with other jobs; one thread is ~5x faster for this tiny model there."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _summary(stage_dir: Path) -> dict:
    return json.loads((stage_dir / SUMMARY_NAME).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def two_stage_run(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One command, both stages; stage 2 runs with learning rate 0, so its output must equal its input."""
    out = tmp_path_factory.mktemp("two_stage")
    rc = main([
        "--preset", "cpu-smoke", "--model-name-or-path", str(tiny_llama_dir),
        "--stage1-data", str(STAGE1), "--stage2-data", str(STAGE2),
        "--stage2-learning-rate", "0", "--output-dir", str(out),
    ])
    assert rc == 0
    return out


def test_stage1_then_stage2_in_one_command(two_stage_run: Path, tiny_llama_dir: Path):
    s1, s2 = _summary(two_stage_run / "stage1"), _summary(two_stage_run / "stage2")
    assert s1["status"] == s2["status"] == "done"
    # 24 rows / global batch 4 = 6 optimizer steps; 12 rows / 4 = 3.
    assert (s1["global_step"], s2["global_step"]) == (6, 3)
    assert (s1["data"]["rows"], s2["data"]["rows"]) == (24, 12)
    assert s1["gradient_accumulation_steps"] == 2 and s1["per_device_train_batch_size"] == 2
    assert s1["init_from"] == str(tiny_llama_dir)
    assert s2["init_from"] == str(two_stage_run / "stage1")
    assert s2["learning_rate"] == 0.0


def test_stage2_really_starts_from_stage1_weights(two_stage_run: Path, tiny_llama_dir: Path):
    import torch

    base, w1, w2 = (_weights(p) for p in (tiny_llama_dir, two_stage_run / "stage1", two_stage_run / "stage2"))
    assert w1.keys() == w2.keys() == base.keys()
    assert any(not torch.equal(base[k], w1[k]) for k in base), "stage 1 did not train"
    # Stage 2 trained 3 steps at learning rate 0 (AdamW, no weight decay): nothing may move, so its
    # weights are exactly the ones it was initialised with. Equal to stage 1 => it started from stage 1.
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_stage2_alone_from_a_stage1_dir(two_stage_run: Path, tmp_path: Path):
    import torch

    out = tmp_path / "run2"
    rc = main([
        "--preset", "cpu-smoke", "--stage", "2", "--stage1-dir", str(two_stage_run / "stage1"),
        "--stage2-data", str(STAGE2), "--stage2-rows", "8", "--output-dir", str(out),
    ])
    assert rc == 0
    s2 = _summary(out / "stage2")
    assert s2["init_from"] == str(two_stage_run / "stage1") and s2["global_step"] == 2
    w1, w2 = _weights(two_stage_run / "stage1"), _weights(out / "stage2")
    assert any(not torch.equal(w1[k], w2[k]) for k in w1), "stage 2 with a real learning rate did not train"
    # A second run into the same directory without --resume would mix two runs: refused.
    assert main([
        "--preset", "cpu-smoke", "--stage", "2", "--stage1-dir", str(two_stage_run / "stage1"),
        "--stage2-data", str(STAGE2), "--stage2-rows", "8", "--output-dir", str(out),
    ]) == 2


def test_stage2_refuses_a_missing_stage1(tmp_path: Path, capsys):
    rc = main(["--preset", "cpu-smoke", "--stage", "2", "--stage2-data", str(STAGE2), "--output-dir", str(tmp_path)])
    assert rc == 2
    assert "no stage-1 model at" in capsys.readouterr().err


def test_killed_run_resumes_from_last_checkpoint_with_same_step_count(tiny_llama_dir: Path, tmp_path: Path):
    out = tmp_path / "run"
    stage_dir = out / "stage1"
    # 24 rows, global batch 4, 4 epochs: 24 optimizer steps; a checkpoint every 2 steps.
    argv = [
        "--preset", "cpu-smoke", "--stage", "1", "--model-name-or-path", str(tiny_llama_dir),
        "--stage1-data", str(STAGE1), "--num-train-epochs", "4", "--output-dir", str(out),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", *argv], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            ckpt = last_complete_checkpoint(stage_dir)
            if ckpt is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "training finished (or died) before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = last_complete_checkpoint(stage_dir)
    assert killed_at is not None and 2 <= int(killed_at.name.split("-")[1]) < 24
    assert _summary(stage_dir)["status"] == "running"
    assert not (stage_dir / "model.safetensors").exists()

    assert main(argv) == 2  # without --resume the half-finished run is not silently restarted
    assert main([*argv, "--resume"]) == 0
    summary = _summary(stage_dir)
    assert summary["status"] == "done"
    assert summary["resumed_from"] == str(killed_at)
    assert summary["global_step"] == summary["max_steps"] == 24
    state = json.loads((stage_dir / "checkpoint-24" / "trainer_state.json").read_text())
    logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert logged == list(range(1, 25)), "steps were lost or repeated across the kill"
    # A second --resume finds the stage done and does nothing.
    mtime = (stage_dir / "model.safetensors").stat().st_mtime_ns
    assert main([*argv, "--resume"]) == 0
    assert (stage_dir / "model.safetensors").stat().st_mtime_ns == mtime


# ---------------------------------------------------------------- evaluation of the checkpoints


def _training_prompt_for(question: str) -> str:
    from training.data import to_pair

    return to_pair(question, "unused")["prompt"]


def test_final_checkpoint_evaluates_with_lm_eval_cli(two_stage_run: Path, shared_data: Path, tmp_path: Path):
    """`lm_eval --model hf --tasks skymath_gsm8k --limit 3` on the stage-2 output, as a user would run it."""
    import shutil

    lm_eval = shutil.which("lm_eval")
    assert lm_eval, "lm_eval console script missing from the environment"
    env = dict(os.environ, SKYMATH_DATA_DIR=str(shared_data), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    out = tmp_path / "lm_eval_out"
    proc = subprocess.run(
        [lm_eval, "--model", "hf", "--model_args", f"pretrained={two_stage_run / 'stage2'},dtype=float32",
         "--tasks", "skymath_gsm8k", "--limit", "3", "--device", "cpu", "--batch_size", "3",
         "--gen_kwargs", "max_gen_toks=16", "--output_path", str(out), "--log_samples"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())["results"]["skymath_gsm8k"]
    assert results["sample_len"] == 3 and 0.0 <= results["strict,none"] <= 1.0
    samples = [json.loads(line) for line in sorted(out.rglob("samples_skymath_gsm8k_*.jsonl"))[-1].read_text().splitlines()]
    assert len(samples) == 3
    for sample in samples:
        rendered = sample["arguments"]["gen_args_0"]["arg_0"]
        # The prompt lm-eval sent the model is byte-identical to the one the model was trained on.
        assert rendered.encode() == _training_prompt_for(sample["doc"]["question"]).encode()


def test_training_cli_evaluates_after_the_stage(two_stage_run: Path, shared_data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    rc = main([
        "--preset", "cpu-smoke", "--stage", "2", "--stage1-dir", str(two_stage_run / "stage1"),
        "--stage2-data", str(STAGE2), "--stage2-rows", "4", "--output-dir", str(out),
        "--eval-tasks", "skymath_gsm8k", "--eval-limit", "3", "--eval-batch-size", "3",
        "--eval-gen-kwargs", "max_gen_toks=16",
    ])
    assert rc == 0
    eval_dir = out / "stage2" / "eval"
    scores = json.loads((eval_dir / "scores.json").read_text())
    assert scores["model"] == str(out / "stage2") and scores["limit"] == 3
    assert scores["results"]["skymath_gsm8k"]["sample_len"] == 3
    assert {"strict,none", "flexible,none"} <= set(scores["results"]["skymath_gsm8k"])
    # a normal lm-eval output folder (what `lm_eval --output_path eval --log_samples` writes)
    (results_file,) = eval_dir.rglob("results_*.json")
    assert scores["results_file"] == str(results_file)
    results = json.loads(results_file.read_text())
    assert results["config"]["model_args"].startswith(f"pretrained={out / 'stage2'}")
    (samples_file,) = eval_dir.rglob("samples_skymath_gsm8k_*.jsonl")
    assert samples_file.parent == results_file.parent
    assert samples_file.name == "samples_skymath_gsm8k_" + results_file.name[len("results_"):-len(".json")] + ".jsonl"
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(rows) == 3
    assert all(r["arguments"]["gen_args_0"]["arg_0"] == _training_prompt_for(r["doc"]["question"]) for r in rows)
    # ... which skymath-report reads as it is, with the stage's training size from skymath_stage.json
    from skymath_tasks.report.cli import main as report_main

    assert report_main(["tables", str(out), "--output-dir", str(tmp_path / "report")]) == 0
    table1 = (tmp_path / "report" / "table1_gsm8k_math.md").read_text()
    assert str(out / "stage2") in table1


def test_lora_stage_saves_adapter_and_a_merged_model(tiny_llama_dir: Path, tmp_path: Path):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    rc = main([
        "--preset", "cpu-smoke", "--stage", "1", "--model-name-or-path", str(tiny_llama_dir),
        "--stage1-data", str(STAGE1), "--stage1-rows", "8", "--output-dir", str(out),
        "--use-peft", "--lora-r", "4", "--lora-alpha", "8", "--lora-target-modules", "q_proj", "v_proj",
        "--learning-rate", "0.05",
    ])
    assert rc == 0
    stage = out / "stage1"
    assert (stage / "adapter" / "adapter_config.json").is_file()
    assert _summary(stage)["lora"] is True
    merged = _weights(stage)
    base = _weights(tiny_llama_dir)
    assert merged.keys() == base.keys()  # a plain model: stage 2 and lm-eval load it without peft
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)
    AutoModelForCausalLM.from_pretrained(stage)


def test_two_process_run_keeps_global_batch_and_evaluates_on_rank0(tiny_llama_dir: Path, shared_data: Path,
                                                                   tmp_path: Path):
    """torchrun with 2 CPU processes (gloo): accumulation is recomputed for world size 2, stage 2 waits for the
    stage-1 model, and the rank-0 evaluation child does not inherit the launcher's rank variables (it hung)."""
    import shutil

    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun missing from the environment"
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               SKYMATH_DATA_DIR=str(shared_data), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "training.cli", "--preset", "cpu-smoke",
         "--model-name-or-path", str(tiny_llama_dir), "--stage1-data", str(STAGE1), "--stage2-data", str(STAGE2),
         "--stage2-rows", "8", "--output-dir", str(out), "--ddp-backend", "gloo",
         "--eval-tasks", "skymath_gsm8k", "--eval-limit", "1", "--eval-gen-kwargs", "max_gen_toks=8",
         "--eval-batch-size", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    s1, s2 = _summary(out / "stage1"), _summary(out / "stage2")
    assert s1["world_size"] == 2 and s1["per_device_train_batch_size"] == 2 and s1["gradient_accumulation_steps"] == 1
    assert (s1["global_step"], s2["global_step"]) == (6, 2)  # 24/4 and 8/4: global batch 4 kept on 2 processes
    for stage in ("stage1", "stage2"):
        scores = json.loads((out / stage / "eval" / "scores.json").read_text())
        assert scores["results"]["skymath_gsm8k"]["sample_len"] == 1
