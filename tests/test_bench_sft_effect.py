"""bench/sft_effect.py: the GSM8K rewrite into the paper's format, and the whole script on the tiny Llama."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "sft_effect.py"


def _module():
    spec = importlib.util.spec_from_file_location("sft_effect", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("answer, response, final", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72",
     "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether.\nThe answer is 72", "72"),
    ("He pays 1,000 + 500 = <<1000+500=1500>>1,500 dollars.\n#### 1,500",
     "He pays 1,000 + 500 = 1,500 dollars.\nThe answer is 1500", "1500"),
    ("So the change is -3.\n#### -3", "So the change is -3.\nThe answer is -3", "-3"),
])
def test_gsm8k_solution_in_the_paper_format(answer, response, final):
    assert _module().rewrite_solution(answer) == (response, final)


def test_a_solution_without_its_final_line_is_refused():
    with pytest.raises(ValueError, match="####"):
        _module().rewrite_solution("no final answer here")


@pytest.mark.slow
def test_script_on_the_tiny_model(shared_data: Path, tiny_llama_dir: Path, tmp_path: Path):
    from safetensors.torch import load_file

    out = tmp_path / "sft"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(tiny_llama_dir), "--data-dir", str(shared_data),
         "--output-dir", str(out), "--train-rows", "8", "--test-problems", "2", "--max-gen-toks", "4",
         "--global-batch-size", "4", "--per-device-batch-size", "2", "--learning-rate", "1e-3",
         "--eval-batch-size", "2", "--threads", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "sft_effect.json").read_text())
    # the training file: GSM8K train problems with their own final answer on the last line
    train = {}
    for line in (shared_data / "gsm8k" / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        train[row["question"].strip()] = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
    rows = [json.loads(line) for line in (out / "gsm8k_train_paper_format.jsonl").read_text().splitlines()]
    assert len(rows) == report["train_rows"] == 8
    for r in rows:
        assert r["response"].splitlines()[-1] == f"The answer is {train[r['query']]}" and "<<" not in r["response"]
    # both arms on the same two test problems, every figure printed
    assert report["base"]["doc_ids"] == report["fine_tuned"]["doc_ids"] == [0, 1] and report["same_test_problems"]
    for arm in ("base", "fine_tuned"):
        assert report[arm]["n"] == 2
        for metric in ("strict", "flexible", "no_answer_rate"):
            assert 0.0 <= report[arm][metric] <= 1.0
            assert f"| {arm} |" in proc.stdout
    # skymath-train really trained: 8 rows / global batch 4 = 2 steps, and the weights moved
    assert report["train"]["steps"] == 2
    base, tuned = load_file(str(tiny_llama_dir / "model.safetensors")), load_file(
        str(Path(report["train"]["checkpoint"]) / "model.safetensors"))
    assert any(not (base[k] == tuned[k]).all() for k in base)
