"""``verify --regenerate K``: the model itself catches a fully consistent forgery.

A real lm-eval run of the tiny Llama (skymath_tasks.devtools.tiny_model, hf backend, greedy) becomes a
submission. Re-running K random problems with the same model passes for the honest submission. Then
every response is rewritten into the right answer and every number and hash is recomputed to match
(tests/helpers/forge.py): the file checks cannot object, and the re-generation must.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.forge import load_json, restate, sample_rows, write_rows
from tests.helpers.lm_eval_run import run_and_save

lm_eval = pytest.importorskip("lm_eval")
pytestmark = pytest.mark.slow

GEN_KWARGS = "max_gen_toks=12"


def _args(model_dir: Path) -> str:
    return f"pretrained={model_dir},dtype=float32"


@pytest.fixture(scope="module")
def honest(tiny_llama_dir, shared_data, tmp_path_factory) -> Path:
    from skymath_tasks.report.cli import main

    root = tmp_path_factory.mktemp("regen")
    run_and_save(root / "out", model="hf", model_args=_args(tiny_llama_dir), tasks=["skymath_demo"],
                 data_dir=shared_data, limit=4, gen_kwargs=GEN_KWARGS)
    assert main(["submit", str(root / "out"), "--output-dir", str(root / "subs"), "--data-dir", str(shared_data)]) == 0
    (sub,) = (root / "subs").glob("*.submission.json")
    return sub


def test_the_submission_records_what_a_re_run_needs(honest) -> None:
    sub = load_json(honest)
    assert sub["model"]["backend"] == "hf" and sub["model"]["dtype"] == "float32"
    assert sub["model"]["local_path"] is True and not sub["model"]["id"].startswith("/")  # the folder's name only
    assert sub["generation"]["gen_kwargs_override"] == {"max_gen_toks": 12}
    assert sub["generation"]["per_task"]["skymath_demo"]["generation_kwargs"]["do_sample"] is False
    assert sub["versions"]["lm_eval"] == "0.4.13" and sub["versions"]["transformers"] and sub["versions"]["skymath"]


def test_an_honest_submission_passes_regeneration(honest, tiny_llama_dir, shared_data, capsys) -> None:
    from skymath_tasks.report.cli import main

    capsys.readouterr()
    rc = main(["verify", str(honest), "--data-dir", str(shared_data), "--regenerate", "2",
               "--model-args", _args(tiny_llama_dir), "--seed", "7"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "regenerate: 2 problem(s) drawn with seed 7" in out
    assert "regenerate: 2 of 2 give the logged answers (2 identical responses); 0 differ" in out


def test_rewritten_responses_pass_the_file_checks_but_fail_regeneration(honest, tiny_llama_dir, shared_data,
                                                                       tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main
    from skymath_tasks.report.regenerate import pick_problems

    shutil.copytree(honest.parent, tmp_path / "subs")
    sub = tmp_path / "subs" / honest.name
    f, rows = sample_rows(sub, "skymath_demo")
    for r in rows:
        answer = f"Let me compute.\nThe answer is: {r['doc']['gold']}"
        r["resps"] = [[answer]]
        r["filtered_resps"] = [answer]
    write_rows(f, rows)
    restate(sub, "skymath_demo")
    assert load_json(sub)["tasks"]["skymath_demo"]["metrics"]["strict"] == 1.0
    capsys.readouterr()
    assert main(["verify", str(sub), "--data-dir", str(shared_data)]) == 0  # consistent on paper
    assert capsys.readouterr().out.startswith("PARTIAL: ")
    rc = main(["verify", str(sub), "--data-dir", str(shared_data), "--regenerate", "2",
               "--model-args", _args(tiny_llama_dir), "--seed", "7"])
    out = capsys.readouterr().out
    assert rc == 1, out
    picked = pick_problems({"skymath_demo": rows}, 2, 7)
    for task, doc_id in picked:
        gold = rows[doc_id]["doc"]["gold"]
        assert f"ERROR: task {task} doc_id {doc_id}: the logged response answers '{gold}' (strict), the model now answers" in out


def test_a_local_model_needs_model_args(honest, shared_data, capsys) -> None:
    from skymath_tasks.report.cli import main

    capsys.readouterr()
    assert main(["verify", str(honest), "--data-dir", str(shared_data), "--regenerate", "1"]) == 1
    out = capsys.readouterr().out
    assert "the run loaded the model from a local folder" in out and "pass --model-args" in out


def test_the_draw_is_reproducible_and_covers_every_task() -> None:
    from skymath_tasks.report.regenerate import pick_problems

    samples = {"a": [{"doc_id": i} for i in range(50)], "b": [{"doc_id": i} for i in range(50)]}
    assert pick_problems(samples, 10, 1) == pick_problems(samples, 10, 1)
    assert pick_problems(samples, 10, 1) != pick_problems(samples, 10, 2)
    assert len(set(pick_problems(samples, 500, 1))) == 100
    draws = [t for s in range(40) for t, _ in pick_problems(samples, 4, s)]
    assert 0.3 < draws.count("a") / len(draws) < 0.7
