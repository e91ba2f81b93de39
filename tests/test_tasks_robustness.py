"""The robustness tasks (paper tables 6 and 7) inside lm-eval: Chinese GSM8K, MGSM-zh, MATH-zh and
GSM8K with 1..5 distractors. Driven by the replay model (exact expected scores) and, end to end through
the `lm_eval` command, by a tiny Llama.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from skymath_tasks.prompts import build_prompt
from tests.helpers.replay_model import ReplayLM

lm_eval = pytest.importorskip("lm_eval")

SUBJECT_TYPES = ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
                 "Prealgebra", "Precalculus")
SUBJECT_KEYS = {t: t.lower().replace(" & ", "_and_").replace(" ", "_") for t in SUBJECT_TYPES}


@pytest.fixture(scope="module")
def task_manager():
    """Our tasks only; the data folder comes from SKYMATH_DATA_DIR, the default (each test sets it)."""
    from lm_eval.tasks import TaskManager

    import skymath_tasks

    return TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False)


def _evaluate(lm, tasks, task_manager, **kw):
    from lm_eval import simple_evaluate

    return simple_evaluate(model=lm, tasks=tasks, task_manager=task_manager, log_samples=True, bootstrap_iters=0, **kw)


def _data_dir_with_math_zh(root: Path, shared: Path, per_subject: int = 6) -> tuple[Path, list[dict]]:
    """A data folder: the shared files linked in, plus a small MATH-zh file in the translate layout."""
    for rel in ("gsm8k/test.jsonl", "math/test.jsonl", "math/math500_test.jsonl", "chinese/gsm8k_test_zh.jsonl",
                "chinese/mgsm_zh.tsv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(shared / rel, root / rel)
    picked: list[dict] = []
    counts: dict[str, int] = {}
    with open(shared / "math" / "test.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if counts.get(r["type"], 0) < per_subject:
                counts[r["type"]] = counts.get(r["type"], 0) + 1
                picked.append({"problem": "求解：" + r["problem"], "problem_en": r["problem"],
                               "solution": r["solution"], "level": r["level"], "type": r["type"],
                               "unique_id": r.get("unique_id"), "provenance": {"model": "test"},
                               "translation_check": []})
    with open(root / "math" / "test_zh.jsonl", "w", encoding="utf-8") as fh:
        for r in picked:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return root, picked


# ------------------------------------------------------------------------------------- replay model
def test_gold_answers_score_100_on_every_zh_and_distractor_problem(shared_data, monkeypatch, task_manager) -> None:
    from skymath_tasks.data import load_gsm8k, load_gsm8k_distractors, load_gsm8k_zh, load_mgsm_zh

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    gold: dict[str, str] = {}
    for r in load_gsm8k_zh():
        gold[build_prompt(r["question"])] = r["gold"]
    mgsm_prompts = set()
    for r in load_mgsm_zh():
        gold[build_prompt(r["question"])] = r["gold"]
        mgsm_prompts.add(build_prompt(r["question"]))
    english = {build_prompt(r["question"]) for r in load_gsm8k()}
    for k in range(1, 6):
        for r in load_gsm8k_distractors(k):
            gold[build_prompt(r["question"])] = r["gold"]

    def respond(prompt: str) -> str:
        assert prompt not in english, "a distractor/zh prompt is identical to the English original"
        if prompt in mgsm_prompts:  # a Chinese-speaking answer: only `flexible` reads 答案是
            return f"一步一步算。所以答案是 {gold[prompt]}。"
        return f"Step by step.\nThe answer is {gold[prompt]}"

    lm = ReplayLM(respond)
    res = _evaluate(lm, ["skymath_gsm8k_zh", "skymath_mgsm_zh", "skymath_gsm8k_distractors"], task_manager)
    results = res["results"]
    assert results["skymath_gsm8k_zh"]["sample_len"] == 1319
    assert results["skymath_mgsm_zh"]["sample_len"] == 250
    assert results["skymath_gsm8k_zh"]["strict,none"] == 1.0
    assert results["skymath_mgsm_zh"]["strict,none"] == 0.0
    assert results["skymath_mgsm_zh"]["flexible,none"] == 1.0
    for k in range(1, 6):
        name = f"skymath_gsm8k_distractor_{k}"
        assert results[name]["sample_len"] == 1319
        assert results[name]["strict,none"] == 1.0
    assert results["skymath_gsm8k_distractors"]["strict,none"] == 1.0


def test_distractor_samples_keep_metadata_and_gold_of_the_original(shared_data, monkeypatch, task_manager) -> None:
    from skymath_tasks.data import load_gsm8k

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    english_gold = [r["gold"] for r in load_gsm8k()]
    lm = ReplayLM(lambda p: "The answer is 0")
    res = _evaluate(lm, ["skymath_gsm8k_distractor_3"], task_manager, limit=20)
    for s in res["samples"]["skymath_gsm8k_distractor_3"]:
        doc = s["doc"]
        assert len(doc["distractors"]) == 3 and doc["k"] == 3
        assert doc["gold"] == english_gold[doc["index"]]
        assert all(d in doc["question"] for d in doc["distractors"])
        assert s["target"] == doc["gold"]


def test_math_zh_levels_and_subjects_match_a_count_from_the_samples(shared_data, tmp_path, monkeypatch,
                                                                     task_manager) -> None:
    root, picked = _data_dir_with_math_zh(tmp_path / "data", shared_data)
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(root))
    from skymath_tasks.gold import math_gold

    by_prompt = {build_prompt(r["problem"]): r for r in picked}
    right = {p for i, p in enumerate(sorted(by_prompt)) if i % 3 != 0}

    def respond(prompt: str) -> str:
        assert prompt.count("求解：") == 1, "the Chinese problem text must be what the model sees"
        gold = math_gold(by_prompt[prompt]["solution"])
        return f"The answer is {gold}" if prompt in right else "The answer is \\text{nonsense}"

    res = _evaluate(ReplayLM(respond), ["skymath_math_zh"], task_manager)
    results = res["results"]
    assert results["skymath_math_zh"]["strict,none"] == pytest.approx(len(right) / len(picked))
    samples = res["samples"]["skymath_math_zh"]
    assert len(samples) == len(picked) == 42
    for k in range(1, 6):
        at = [s for s in samples if s["doc"]["level"] == k]
        expected = sum(s["strict"] for s in at) / len(at) if at else None
        assert results["skymath_math_zh"][f"acc_level_{k},none"] == pytest.approx(expected), k
    for subject_type in SUBJECT_TYPES:
        at = [s for s in samples if s["doc"]["subject"] == SUBJECT_KEYS[subject_type]]
        assert len(at) == 6
        expected = sum(s["strict"] for s in at) / len(at)
        assert results["skymath_math_zh"][f"acc_{SUBJECT_KEYS[subject_type]},none"] == pytest.approx(expected)


# ------------------------------------------------------------------------------------- data sources
def test_distractor_files_on_disk_win_and_equal_the_in_memory_default(shared_data, tmp_path, monkeypatch) -> None:
    from skymath_tasks.data import load_gsm8k_distractors
    from skymath_tasks.jsonl_io import read_jsonl
    from synth.eval_data_cli import write_distractor_files

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    generated = load_gsm8k_distractors(2)

    root = tmp_path / "data"
    (root / "gsm8k").mkdir(parents=True)
    os.symlink(shared_data / "gsm8k" / "test.jsonl", root / "gsm8k" / "test.jsonl")
    rows = read_jsonl(shared_data / "gsm8k" / "test.jsonl", required=("question", "answer"))
    write_distractor_files(rows, root, seed=20240711)
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(root))
    assert load_gsm8k_distractors(2) == generated  # the command's default file == the in-memory default

    # an edited file (e.g. LLM-mode distractors) is what the task reads
    path = root / "distractors" / "gsm8k_test_distractor_2.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["question"] = "Edited. " + first["question"]
    lines[0] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_gsm8k_distractors(2)[0]["question"].startswith("Edited. ")
    assert load_gsm8k_distractors(2)[1:] == generated[1:]


def test_gsm8k_zh_uses_openai_gold_not_the_files_corrections(shared_data, monkeypatch) -> None:
    from skymath_tasks.data import load_gsm8k, load_gsm8k_zh

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    english = load_gsm8k()
    zh = load_gsm8k_zh()
    assert len(zh) == 1319
    assert all(r["gold"] == english[r["openai_test_index"]]["gold"] for r in zh)
    assert all(r["question"] != r["question_en"] for r in zh)


def test_mgsm_bad_line_names_file_and_line(tmp_path, monkeypatch) -> None:
    from skymath_tasks.data import load_mgsm_zh
    from skymath_tasks.jsonl_io import DataError

    (tmp_path / "chinese").mkdir()
    (tmp_path / "chinese" / "mgsm_zh.tsv").write_text("一加一是多少？\t2\n二加二是多少？\t四\n", encoding="utf-8")
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"mgsm_zh\.tsv:2: field 'answer'"):
        load_mgsm_zh()


def test_math_zh_without_a_translation_says_how_to_make_one(tmp_path, monkeypatch) -> None:
    from skymath_tasks.benchmarks import DataUnavailable
    from skymath_tasks.data import load_math_zh

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailable, match="skymath-synth translate --dataset math"):
        load_math_zh()
    monkeypatch.delenv("SKYMATH_DATA_DIR")
    with pytest.raises(DataUnavailable, match="SKYMATH_DATA_DIR is not set"):
        load_math_zh("algebra")


def test_hub_path_reads_metamath_gsm8k_zh_layout(tmp_path, monkeypatch) -> None:
    """Without SKYMATH_DATA_DIR the task reads the Hub dataset; here a local file in its layout stands in."""
    import datasets

    from skymath_tasks import data
    from skymath_tasks.benchmarks import BENCHMARKS

    records = [
        {"question": "Q train", "answer": "x\n#### 5", "split": "train", "question_zh": "训练", "answer_zh": "5"},
        {"question": "Q1", "answer": "work\n#### 1,200", "split": "test", "question_zh": "问题一"},
        {"question": "Q2", "answer": "work\n#### 7", "answer_only": "7", "split": "test", "question_zh": "问题二"},
    ]
    path = tmp_path / "GSM8K_zh.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    calls = []
    real_load_dataset = datasets.load_dataset

    def fake_load_dataset(name, *args, **kwargs):
        calls.append(name)
        return real_load_dataset("json", data_files=str(path), split="train")

    monkeypatch.delenv("SKYMATH_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = data.load_gsm8k_zh()
    assert calls == [BENCHMARKS["gsm8k_zh"].hub.dataset]
    assert [(r["question"], r["gold"]) for r in rows] == [("问题一", "1200"), ("问题二", "7")]


# ------------------------------------------------------------------------------------- lm_eval CLI
LM_EVAL = shutil.which("lm_eval") or shutil.which("lm-eval")


@pytest.mark.skipif(LM_EVAL is None, reason="lm_eval console script not on PATH")
def test_every_new_task_runs_end_to_end_on_a_tiny_model(tmp_path, tiny_llama_dir, shared_data) -> None:
    root, _ = _data_dir_with_math_zh(tmp_path / "data", shared_data, per_subject=2)
    out = tmp_path / "out"
    env = dict(os.environ, SKYMATH_DATA_DIR=str(root), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [LM_EVAL, "run", "--model", "hf",
         "--model_args", f"pretrained={tiny_llama_dir},dtype=float32,max_length=4096",
         "--tasks", "skymath,skymath_math_zh", "--limit", "1",
         "--gen_kwargs", "max_gen_toks=8", "--batch_size", "8", "--device", "cpu",
         "--output_path", str(out), "--log_samples"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())["results"]
    expected = ["skymath_gsm8k", "skymath_math", "skymath_math500", "skymath_gsm8k_zh", "skymath_mgsm_zh",
                "skymath_math_zh"] + [f"skymath_gsm8k_distractor_{k}" for k in range(1, 6)]
    for name in expected:
        assert name in results, name
        assert 0.0 <= results[name]["strict,none"] <= 1.0
    assert results["skymath_math_zh"]["sample_len"] == 1
    assert {f"acc_level_{k},none" for k in range(1, 6)} <= set(results["skymath_math_zh"])


def test_submission_pins_in_memory_distractors_by_the_hash_of_the_file_they_equal(shared_data, tmp_path, monkeypatch) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from skymath_tasks.jsonl_io import file_sha256, read_jsonl
    from skymath_tasks.report.cli import main as report_main
    from skymath_tasks.report.submission import verify_submission
    from synth.eval_data_cli import write_distractor_files

    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))  # has no distractor files: built in memory
    task = "skymath_gsm8k_distractor_2"
    tracker = EvaluationTracker(output_path=str(tmp_path / "out"))
    import skymath_tasks

    res = simple_evaluate(model=ReplayLM(lambda p: "The answer is 18"), tasks=[task],
                          task_manager=TaskManager(include_path=skymath_tasks.task_dir(), include_defaults=False),
                          limit=3, log_samples=True,
                          bootstrap_iters=0, evaluation_tracker=tracker)
    res["config"]["model_args"] = "pretrained=org/m"
    tracker.general_config_tracker.model_name = tracker.general_config_tracker.model_name_sanitized = "org__m"
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    tracker.save_results_samples(task_name=task, samples=samples[task])
    assert report_main(["submit", str(tmp_path / "out"), "--output-dir", str(tmp_path / "subs"),
                        "--data-dir", str(shared_data)]) == 0
    (path,) = (tmp_path / "subs").glob("*.submission.json")
    files = {f["path"]: f for f in json.loads(path.read_text())["data"]["files"]}
    entry = files["distractors/gsm8k_test_distractor_2.jsonl"]
    assert entry["generated"] is True

    written = tmp_path / "written"
    rows = read_jsonl(shared_data / "gsm8k" / "test.jsonl", required=("question", "answer"))
    write_distractor_files(rows, written, seed=20240711)
    assert entry["sha256"] == file_sha256(written / "distractors" / "gsm8k_test_distractor_2.jsonl")
    report = verify_submission(path, data_dir=shared_data)
    assert not report.errors, report.errors


def test_skymath_group_runs_every_task_without_math_zh_data(shared_data, monkeypatch, task_manager) -> None:
    """The shared data has no MATH-zh (no public translation): the group runs everything else to the end."""
    assert not (shared_data / "math" / "test_zh.jsonl").exists()
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(shared_data))
    res = _evaluate(ReplayLM(lambda p: "The answer is 3"), ["skymath"], task_manager, limit=1)
    leaves = set(res["samples"])
    expected = {"skymath_gsm8k", "skymath_math", "skymath_math500", "skymath_gsm8k_zh", "skymath_mgsm_zh"}
    expected |= {f"skymath_gsm8k_distractor_{k}" for k in range(1, 6)}
    assert leaves == expected
    assert res["group_subtasks"]["skymath"] == ["skymath_gsm8k", "skymath_math", "skymath_math500", "skymath_zh",
                                                "skymath_gsm8k_distractors"]
