"""``examples/mini_pipeline.sh`` as a user runs it, from stage files made elsewhere (``SYNTH_DIR``) to a
verified submission, with the tiny Llama as the student: the documented script must not rot.

Oracles: the rows we wrote (how many reach each step), the checkpoint lineage the training writes, and
the verifier's verdict on a ``--limit`` run (PARTIAL, exit 0).
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

pytest.importorskip("trl")
pytest.importorskip("lm_eval")


def _rows(shared_data: Path, levels: set[int], n: int, stage: str) -> list[dict]:
    from skymath_tasks.benchmarks import parse_level
    from skymath_tasks.gold import math_gold
    from skymath_tasks.prompts import format_response

    out = []
    with open(shared_data / "math" / "train.jsonl", encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            r = json.loads(line)
            level, gold = parse_level(r.get("level")), math_gold(r["solution"])
            if level in levels and gold and len(r["solution"]) < 600:
                out.append({"id": f"ref/{stage}/{i}", "stage": stage, "round": 1, "method": "reference_solution",
                            "seed_id": f"math/{i}", "level": level, "query": r["problem"],
                            "response": format_response(r["solution"], gold), "answer": gold})
                if len(out) == n:
                    return out
    return out


@pytest.mark.slow
def test_the_script_runs_from_stage_files_to_a_verified_submission(shared_data, tiny_llama_dir, tmp_path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run examples/mini_pipeline.sh")
    synth = tmp_path / "synth"
    synth.mkdir()
    stage1, stage2 = _rows(shared_data, {1}, 6, "stage1_normal"), _rows(shared_data, {4, 5}, 3, "stage2_hard")
    for name, rows in (("stage1_normal", stage1), ("stage2_hard", stage2)):
        (synth / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, model)
    out = tmp_path / "mini"
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, SKYMATH_DATA_DIR=str(shared_data), SYNTH_DIR=str(synth), MODEL_DIR=str(model),
               OUT=str(out), EVAL_LIMIT="3", PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(["bash", str(REPO_ROOT / "examples" / "mini_pipeline.sh")], env=env, capture_output=True,
                          text=True, timeout=1200)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, said[-4000:]
    assert "Traceback" not in said
    kept1 = (out / "data" / "stage1.jsonl").read_text(encoding="utf-8").splitlines()
    kept2 = (out / "data" / "stage2.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(kept1) == len(stage1) and len(kept2) == len(stage2)  # train problems: nothing decontaminated
    s2 = json.loads((out / "train" / "stage2" / "skymath_stage.json").read_text(encoding="utf-8"))
    assert s2["status"] == "done" and Path(s2["init_from"]) == out / "train" / "stage1"
    assert list((out / "lm_eval" / "stage2").rglob("samples_skymath_gsm8k_*.jsonl"))
    assert (out / "report" / "report.md").is_file()
    assert "PARTIAL: " in proc.stdout and "every check passed" in proc.stdout
    assert not (out / "synth").exists()  # no teacher was started, nothing synthesized here
