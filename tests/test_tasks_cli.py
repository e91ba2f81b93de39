"""The installed package as users meet it: plain `lm_eval` finds our tasks from any directory.

These run the real `lm_eval` console script in a subprocess (the interpreter hook installed by the
package is what registers the tasks; nothing here passes --include_path unless the test says so).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LM_EVAL = shutil.which("lm_eval") or shutil.which("lm-eval")
pytestmark = pytest.mark.skipif(LM_EVAL is None, reason="lm_eval console script not on PATH")

ALL_TASKS = "skymath_gsm8k,skymath_math,skymath_math500,skymath_demo"


def _run(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None, timeout: int = 600):
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update(env_extra or {})
    return subprocess.run([LM_EVAL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_ls_tasks_lists_ours_without_include_path(tmp_path: Path) -> None:
    proc = _run(["ls", "tasks"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    robustness = ["skymath", "skymath_zh", "skymath_gsm8k_zh", "skymath_mgsm_zh", "skymath_math_zh",
                  "skymath_math_zh_geometry", "skymath_gsm8k_distractors"] + [f"skymath_gsm8k_distractor_{k}" for k in range(1, 6)]
    for name in ALL_TASKS.split(",") + ["skymath_math_algebra", "skymath_math_precalculus"] + robustness:
        assert name in proc.stdout, name


def test_include_path_still_works_and_yamls_validate(tmp_path: Path) -> None:
    proc = _run(["validate", "--tasks", ALL_TASKS, "--include_path", str(REPO_ROOT / "task_configs")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All tasks found and valid" in proc.stdout + proc.stderr


def test_end_to_end_run_on_a_tiny_model_writes_every_metric(tmp_path: Path, tiny_llama_dir: Path, shared_data: Path) -> None:
    out = tmp_path / "out"
    proc = _run(
        [
            "run",
            "--model", "hf",
            "--model_args", f"pretrained={tiny_llama_dir},dtype=float32,max_length=4096",
            "--tasks", "skymath_gsm8k,skymath_math",
            "--limit", "2",
            "--gen_kwargs", "max_gen_toks=24",
            "--batch_size", "4",
            "--device", "cpu",
            "--output_path", str(out),
            "--log_samples",
        ],
        cwd=tmp_path,
        env_extra={"SKYMATH_DATA_DIR": str(shared_data)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results_files = sorted(out.rglob("results_*.json"))
    assert results_files, f"no results JSON under {out}"
    results = json.loads(results_files[-1].read_text())["results"]
    base = {"strict,none", "flexible,none", "metamath,none", "no_answer_rate,none"}
    assert base <= set(results["skymath_gsm8k"])
    assert results["skymath_gsm8k"]["sample_len"] == 2
    levels = {f"acc_level_{k},none" for k in range(1, 6)} | {f"n_level_{k},none" for k in range(1, 6)}
    assert base | levels <= set(results["skymath_math"])
    assert results["skymath_math"]["sample_len"] == 14  # 2 per subject x 7 subjects
    for value in (results["skymath_gsm8k"][m] for m in base):
        assert 0.0 <= value <= 1.0
    samples = sorted(out.rglob("samples_skymath_gsm8k_*.jsonl"))
    assert samples
    first = json.loads(samples[0].read_text().splitlines()[0])
    assert first["arguments"]["gen_args_0"]["arg_0"].startswith("Below is an instruction")
    assert "strict" in first["doc"]["skymath"]


def test_missing_data_gives_one_actionable_error(tmp_path: Path, monkeypatch) -> None:
    from skymath_tasks.data import DataUnavailable, load_gsm8k

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(tmp_path))  # exists but lacks gsm8k/test.jsonl
    with pytest.raises(DataUnavailable, match="gsm8k/test.jsonl"):
        load_gsm8k()
    monkeypatch.delenv("SKYMATH_DATA_DIR")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="SKYMATH_DATA_DIR"):
        load_gsm8k()


def test_bad_local_row_names_file_line_and_field(tmp_path: Path, monkeypatch) -> None:
    from skymath_tasks.jsonl_io import DataError
    from skymath_tasks.data import load_gsm8k

    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        json.dumps({"question": "q", "answer": "a\n#### 3"}) + "\n" + json.dumps({"question": "q2", "answer": "no final"}) + "\n"
    )
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"test\.jsonl:2: field 'answer'"):
        load_gsm8k()


def test_hook_costs_nothing_for_processes_that_never_import_lm_eval() -> None:
    code = (
        "import sys; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('lm_eval', 'skymath_tasks', 'datasets', 'transformers', 'torch')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_local_completions_backend_sends_the_papers_request_to_an_openai_server(tmp_path: Path) -> None:
    """`--model local-completions` against a real HTTP server: the prompt arrives byte-identical, greedy,
    with 2048 new tokens, and gold answers written by the "model" score 100%."""
    from skymath_tasks.data import load_sample_problems
    from skymath_tasks.prompts import build_prompt
    from tests.helpers.openai_server import FakeOpenAIServer

    gold = {build_prompt(r["question"]): r["gold"] for r in load_sample_problems()}

    def respond(req: dict) -> str:
        return f"Some steps.\nThe answer is {gold[req['prompt']]}"

    with FakeOpenAIServer(respond) as srv:
        out = tmp_path / "out"
        proc = _run(
            ["run", "--model", "local-completions",
             "--model_args", f"model=served-model,base_url={srv.base_url}/completions,tokenizer_backend=none,"
                             "tokenized_requests=False,num_concurrent=2,max_length=4096",
             "--tasks", "skymath_demo", "--output_path", str(out), "--log_samples"],
            cwd=tmp_path, env_extra={"OPENAI_API_KEY": "test"},
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        bodies = [r.body for r in srv.log if r.path == "/v1/completions"]
    assert len(bodies) == len(gold)
    for body in bodies:
        req = json.loads(body) if isinstance(body, (str, bytes)) else body
        assert req["prompt"] in gold
        assert req["max_tokens"] == 2048
        assert req.get("temperature", 0) == 0
        assert set(req["stop"]) == {"Question:", "Question", "USER:", "USER", "ASSISTANT:", "ASSISTANT",
                                    "Instruction:", "Instruction", "Response:", "Response"}
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())["results"]["skymath_demo"]
    assert results["strict,none"] == 1.0 and results["metamath,none"] == 0.0  # no colon after the marker
