"""skymath-report tables and plots from real lm-eval output directories.

The fixture runs the SkyMath tasks inside lm-eval's harness with the replay model (two "models" with
different, known mixes of right / wrong / unanswered / differently formatted answers) and saves them
exactly as ``lm_eval --output_path ... --log_samples`` does. Every figure in the tables is then checked
against counts taken straight from the per-sample logs, not against numbers written in the test.

The distractor and Chinese tasks of tables 6 and 7 are stand-ins built on GSM8K (questions marked
``[d=k]`` / ``[zh]``), run by lm-eval under temporary names and saved under the real task names:
the report reads them exactly as it would read the real tasks' output.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import struct
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

LIMIT = 6  # documents per task (per MATH subject)
N_STANDIN = 12  # documents of each stand-in task
STANDIN = {
    **{f"skyrep_distractor_{k}": f"skymath_gsm8k_distractor_{k}" for k in range(1, 6)},
    "skyrep_gsm8k_zh": "skymath_gsm8k_zh",
}

_UTILS = f'''
from datasets import Dataset, DatasetDict
from skymath_tasks.data import load_gsm8k

def _dd(rows):
    return DatasetDict({{"test": Dataset.from_list(rows)}})

def _variant(tag):
    def load(**_):
        return _dd([{{**r, "question": r["question"] + " " + tag}} for r in load_gsm8k()[:{N_STANDIN}]])
    return load

zh = _variant("[zh]")
''' + "\n".join(f'distractor_{k} = _variant("[d={k}]")' for k in range(1, 6))


def _standin_yaml(name: str, loader: str, metrics_yaml: Path) -> str:
    return (f"include: {metrics_yaml.as_posix()}\ntask: {name}\n"
            f"custom_dataset: !function skyrep_utils.{loader}\nfewshot_split: null\nfewshot_config: null\n"
            "metadata:\n  version: 1.0\n")


def _task_dir(tmp: Path) -> Path:
    import skymath_tasks

    d = tmp / "standin_tasks"
    d.mkdir(parents=True, exist_ok=True)
    (d / "skyrep_utils.py").write_text(_UTILS, encoding="utf-8")
    metrics = Path(skymath_tasks.task_dir()) / "_gsm8k_template_yaml"
    for k in range(1, 6):
        (d / f"skyrep_distractor_{k}.yaml").write_text(_standin_yaml(f"skyrep_distractor_{k}", f"distractor_{k}", metrics))
    (d / "skyrep_gsm8k_zh.yaml").write_text(_standin_yaml("skyrep_gsm8k_zh", "zh", metrics))
    return d


def _h(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest(), 16)


def make_responder(seed: str, gold_by_question: dict[str, str]):
    """Deterministic mix per (model seed, prompt): strict+metamath right, strict-only right (no colon),
    flexible-only right (boxed, no marker), wrong, or no answer. Distractor prompts get worse with k."""

    def respond(prompt: str) -> str:
        body = prompt.split("### Instruction:\n", 1)[1].split("\n\n### Response:", 1)[0]
        m = re.search(r" \[(d=(\d)|zh)\]$", body)
        question = body[: m.start()] if m else body
        gold = gold_by_question[question]
        h = _h(seed, prompt) % 10
        if m and m.group(2):
            h -= int(m.group(2))  # more distractors, fewer right answers
        if h >= 6:
            return f"Step by step.\nThe answer is: {gold}"
        if h == 5:
            return f"Step by step.\nThe answer is {gold}"
        if h == 4:
            return f"So the result is $\\boxed{{{gold}}}$."
        if h >= 2:
            return "Step by step.\nThe answer is: 987654321"
        return "I cannot finish this."

    return respond


def _gold_index() -> dict[str, str]:
    from skymath_tasks.data import load_gsm8k, load_math, load_math500, load_sample_problems

    gold = {r["problem"]: r["gold"] for r in load_math()}
    gold |= {r["problem"]: r["gold"] for r in load_math500()}
    gold |= {r["question"]: r["gold"] for r in load_gsm8k()}
    gold |= {r["question"]: r["gold"] for r in load_sample_problems()}
    return gold


def make_run(out_dir: Path, *, seed: str, model_args: str, tasks: list[str], data_dir: Path,
             include_path: Path | None = None, limit: int | None = LIMIT, rename: dict[str, str] | None = None,
             samples: dict[str, list[int]] | None = None) -> Path:
    """One lm-eval run with the replay model, saved like ``lm_eval --output_path out_dir --log_samples``.

    The data folder reaches the tasks as lm-eval metadata (``--metadata '{"data_dir": ...}'``); the
    stand-in tasks' own loaders read it from SKYMATH_DATA_DIR, the default."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKYMATH_DATA_DIR", str(data_dir))
        return _make_run(out_dir, seed=seed, model_args=model_args, tasks=tasks, include_path=include_path,
                         limit=None if samples else limit, rename=rename, samples=samples, data_dir=data_dir)


def _make_run(out_dir: Path, *, seed: str, model_args: str, tasks: list[str], include_path: Path | None,
              limit: int | None, rename: dict[str, str] | None, samples: dict[str, list[int]] | None,
              data_dir: Path) -> Path:
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    import skymath_tasks
    from tests.helpers.replay_model import ReplayLM

    gold = _gold_index()
    paths = [skymath_tasks.task_dir()] + ([str(include_path)] if include_path else [])
    tm = TaskManager(include_defaults=False, include_path=paths, metadata={"data_dir": str(data_dir)})
    tracker = EvaluationTracker(output_path=str(out_dir))
    res = simple_evaluate(model=ReplayLM(make_responder(seed, gold)), tasks=tasks, task_manager=tm, limit=limit,
                          samples=samples, log_samples=True, bootstrap_iters=0, evaluation_tracker=tracker)
    model_name = model_args.split(",")[0].split("=", 1)[1]
    res["config"]["model_args"] = model_args
    res["config"]["model"] = "hf"
    tracker.general_config_tracker.model_name = model_name
    tracker.general_config_tracker.model_name_sanitized = model_name.replace("/", "__")
    samples = res.pop("samples")
    for old, new in (rename or {}).items():  # stand-in tasks saved under the real task names
        for section in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
            if old in res.get(section, {}):
                res[section][new] = res[section].pop(old)
        if old in samples:
            samples[new] = samples.pop(old)
    tracker.save_results_aggregated(results=res, samples=samples)
    for task_name in res["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    return out_dir / tracker.general_config_tracker.model_name_sanitized


MODELS = {
    "org/model-a": "pretrained=org/model-a,revision=abc123,dtype=bfloat16",
    "org/model-b": "pretrained=org/model-b,dtype=float16",
}


def math_picks(per_subject: int = LIMIT) -> list[int]:
    """Document ids of skymath_math: the first ``per_subject`` problems of every subject."""
    from skymath_tasks.data import load_math

    rows = load_math()
    return sorted(i for s in SUBJECTS for i in [j for j, r in enumerate(rows) if r["subject"] == s][:per_subject])


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory) -> Path:
    """Two models; model A in two runs (GSM8K+MATH, then robustness/Chinese) into the same folder."""
    out = tmp_path_factory.mktemp("lm_eval_out")
    standin = _task_dir(out.parent / (out.name + "_tasks"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKYMATH_DATA_DIR", str(shared_data))
        picks = {"skymath_gsm8k": list(range(LIMIT)), "skymath_math500": list(range(LIMIT)),
                 "skymath_math": math_picks()}
    make_run(out, seed="A", model_args=MODELS["org/model-a"], data_dir=shared_data,
             tasks=["skymath_gsm8k", "skymath_math", "skymath_math500"], samples=picks)
    make_run(out, seed="A", model_args=MODELS["org/model-a"], data_dir=shared_data, include_path=standin,
             tasks=list(STANDIN), limit=N_STANDIN, rename=STANDIN)
    make_run(out, seed="B", model_args=MODELS["org/model-b"], data_dir=shared_data,
             tasks=["skymath_gsm8k", "skymath_math"], samples=picks)
    return out


# ------------------------------------------------------------------------------------ from samples
def _samples(run_root: Path, model: str, task: str) -> list[dict]:
    files = [f for f in (run_root / model.replace("/", "__")).glob(f"samples_{task}_*.jsonl")
             if re.fullmatch(rf"samples_{task}_\d{{4}}-.*\.jsonl", f.name)]
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines() if line.strip()]


def _pct(rows: list[dict], key: str = "strict") -> float:
    return 100.0 * sum(r["doc"]["skymath"][key]["correct"] if key != "no_answer" else r["doc"]["skymath"]["strict"]["extracted"] is None
                       for r in rows) / len(rows)


SUBJECTS = ["algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus"]


def _math_rows(run_root: Path, model: str, subject: str | None = None) -> list[dict]:
    return [r for r in _samples(run_root, model, "skymath_math") if subject is None or r["doc"]["subject"] == subject]


@pytest.fixture(scope="module")
def tables(runs):
    from skymath_tasks.report.loader import load_models
    from skymath_tasks.report.tables import all_tables

    models = load_models([runs])
    return models, {t.key: t for t in all_tables(models)}


def test_runs_of_one_model_are_merged_and_identified(tables) -> None:
    models, _ = tables
    by_label = {m.label: m for m in models}
    assert set(by_label) == {"org/model-a", "org/model-b"}
    a = by_label["org/model-a"]
    assert (a.revision, a.dtype, a.backend, len(a.runs)) == ("abc123", "bfloat16", "hf", 2)
    assert {"skymath_gsm8k", "skymath_math", "skymath_gsm8k_distractor_3", "skymath_gsm8k_zh"} <= set(a.tasks)
    assert by_label["org/model-b"].revision is None


def test_table1_matches_counts_from_the_samples(runs, tables) -> None:
    _, t = tables
    t1 = t["table1_gsm8k_math"]
    for model in MODELS:
        gsm, math_rows = _samples(runs, model, "skymath_gsm8k"), _math_rows(runs, model)
        assert len(gsm) == LIMIT and len(math_rows) == LIMIT * 7
        assert t1.cell(model, "GSM8K (%)") == pytest.approx(_pct(gsm), abs=1e-9)
        assert t1.cell(model, "MATH (%)") == pytest.approx(_pct(math_rows), abs=1e-9)
        assert (t1.cell(model, "n GSM8K"), t1.cell(model, "n MATH")) == (LIMIT, LIMIT * 7)
    # model B has no MATH-500 run: empty cell, not zero
    assert t1.cell("org/model-b", "MATH-500 (%)") is None
    assert t1.cell("org/model-a", "MATH-500 (%)") == pytest.approx(_pct(_samples(runs, "org/model-a", "skymath_math500")))
    # the paper's rows follow ours, with their source
    assert [r[0] for r in t1.reference_rows] == ["Skywork-Math-LLaMA2-7B", "Skywork-Math-Mistral-7B", "Skywork-Math-DeepSeekMath-7B"]
    assert t1.reference_rows[1][1:3] == [83.9, 51.2] and t1.reference_source == "Table 1"


def test_table2_levels_and_counts_match_the_samples(runs, tables) -> None:
    _, t = tables
    t2 = t["table2_math_levels"]
    for model in MODELS:
        rows = _math_rows(runs, model)
        for k in range(1, 6):
            at = [r for r in rows if r["doc"]["level"] == k]
            assert t2.cell(model, f"n L{k}") == len(at)
            expected = _pct(at) if at else None
            got = t2.cell(model, f"Level-{k} (%)")
            assert got == (pytest.approx(expected, abs=1e-9) if at else None), (model, k)
    assert sum(t2.cell("org/model-a", f"n L{k}") for k in range(1, 6)) == LIMIT * 7


def test_table12_subjects_match_the_samples(runs, tables) -> None:
    _, t = tables
    t12 = t["table12_math_subjects"]
    names = dict(zip(SUBJECTS, ["Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
                                "Number Theory", "Prealgebra", "Precalculus"]))
    for model in MODELS:
        for s, col in names.items():
            rows = _math_rows(runs, model, s)
            assert len(rows) == LIMIT
            assert t12.cell(model, col) == pytest.approx(_pct(rows), abs=1e-9)
    assert len(t12.reference_rows) == 12


def test_table7_and_table6_from_robustness_and_chinese_runs(runs, tables) -> None:
    _, t = tables
    t7, t6 = t["table7_distractors"], t["table6_english_chinese"]
    assert [r[0] for r in t7.rows] == ["org/model-a"]  # model B has no distractor run: no row
    assert t7.cell("org/model-a", "0 distractors (%)") == pytest.approx(_pct(_samples(runs, "org/model-a", "skymath_gsm8k")))
    for k in range(1, 6):
        rows = _samples(runs, "org/model-a", f"skymath_gsm8k_distractor_{k}")
        assert len(rows) == N_STANDIN and all(f"[d={k}]" in r["doc"]["question"] for r in rows)
        assert t7.cell("org/model-a", f"{k} distractors (%)") == pytest.approx(_pct(rows), abs=1e-9)
    assert t6.cell("org/model-a", "GSM8K Chinese (%)") == pytest.approx(_pct(_samples(runs, "org/model-a", "skymath_gsm8k_zh")))
    assert t6.cell("org/model-a", "MATH Chinese (%)") is None
    assert len(t7.reference_rows) == 11 and len(t6.reference_rows) == 6


def test_criteria_gap_matches_each_criterion_in_the_samples(runs, tables) -> None:
    _, t = tables
    gap = t["criteria_gap"]
    rows = {(r[0], r[1]): dict(zip(gap.columns, r)) for r in gap.rows}
    assert ("org/model-a", "skymath_math") in rows
    for model in MODELS:
        for task, samples in (("skymath_gsm8k", _samples(runs, model, "skymath_gsm8k")), ("skymath_math", _math_rows(runs, model))):
            r = rows[(model, task)]
            assert r["n"] == len(samples)
            for crit in ("strict", "metamath", "flexible"):
                assert r[f"{crit} (%)"] == pytest.approx(_pct(samples, crit), abs=1e-9)
            assert r["metamath - strict (pts)"] == pytest.approx(_pct(samples, "metamath") - _pct(samples, "strict"), abs=1e-9)
            assert r["no answer (%)"] == pytest.approx(_pct(samples, "no_answer"), abs=1e-9)
    # the mix really separates the criteria somewhere (otherwise this test proves little)
    assert any(r["metamath - strict (pts)"] != 0 for r in rows.values())
    assert any(r["flexible - strict (pts)"] != 0 for r in rows.values())


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_cli_report_writes_tables_csv_and_pngs(runs, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main
    from skymath_tasks.report.plots import DPI, FIGSIZE

    out = tmp_path / "report"
    rc = main(["report", str(runs), "--output-dir", str(out), "--size", "org/model-a=7500", "--size", "org/model-b=2100000",
               "--label", f"{runs / 'org__model-b'}=org/model-b", "--series", f"{runs}=Mistral-7B"])
    assert rc == 0, capsys.readouterr()
    for name in ("math_levels.png", "distractors.png", "scaling.png"):
        assert _png_size(out / name) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)), name
    with open(out / "table1_gsm8k_math.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ours = {r["Model"]: r for r in rows if r["source"] == "ours"}
    assert float(ours["org/model-b"]["GSM8K (%)"]) == pytest.approx(_pct(_samples(runs, "org/model-b", "skymath_gsm8k")), abs=1e-4)
    assert [r["Model"] for r in rows if r["source"] == "paper Table 1"][0] == "Skywork-Math-LLaMA2-7B"
    t2 = (out / "table2_math_levels.csv").read_text(encoding="utf-8")
    assert "7.5K" in t2 and "2.1M" in t2  # sizes given on the command line appear as the SFT data column
    report = (out / "report.md").read_text(encoding="utf-8")
    for title in ("Table 1", "Table 2", "Table 6", "Table 7", "Table 12", "strict vs metamath vs flexible"):
        assert title in report


def test_scaling_plot_with_series_and_equal_sizes(tables, tmp_path) -> None:
    from skymath_tasks.report.plots import plot_scaling

    models, _ = tables
    sizes = {m.label: 7500 for m in models}
    series = {"org/model-a": "LLaMA2-7B", "org/model-b": "Mistral-7B"}
    path = plot_scaling(models, sizes, tmp_path / "s.png", series)
    assert path is not None and _png_size(path) == (800, 500)
    assert plot_scaling(models, {}, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_cli_plots_without_any_usable_run_say_so(tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    rc = main(["plots", str(tmp_path), "--output-dir", str(tmp_path / "o")])
    assert rc == 2
    assert "no lm-eval results_*.json" in capsys.readouterr().err


def test_scaling_size_read_from_the_training_summary(runs, tmp_path) -> None:
    """A checkpoint made by skymath-train: stage 2 rows + the stage-1 rows it started from."""
    from skymath_tasks.report.loader import ModelResults
    from skymath_tasks.report.sizes import resolve_sizes

    s1, s2 = tmp_path / "stage1", tmp_path / "stage2"
    s1.mkdir(), s2.mkdir()
    (s1 / "skymath_stage.json").write_text(json.dumps({"stage": 1, "init_from": "base", "data": {"rows": 7500}}))
    (s2 / "skymath_stage.json").write_text(json.dumps({"stage": 2, "init_from": str(s1), "data": {"rows": 400}}))
    models = [ModelResults("ckpt", str(s2), None, None, "hf"), ModelResults("other", "org/x", None, None, "hf")]
    assert resolve_sizes(models) == {"ckpt": 7900}
    assert resolve_sizes(models, ["other=1e6"]) == {"ckpt": 7900, "other": 1_000_000}


def test_contamination_column_counts_test_problems_found_in_training_data(runs, shared_data, tmp_path) -> None:
    """Training rows: a verbatim GSM8K test question (too short for a 30-gram: exact match), a MATH test
    solution quoted inside other text (30-gram), a MATH *train* problem and plain text (clean)."""
    from skymath_tasks.report.cli import main

    gsm = [json.loads(x) for x in (shared_data / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    math_test = [json.loads(x) for x in (shared_data / "math" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:200]]
    long_sol = next(r for r in math_test if len(r["solution"].split()) > 60)
    train_problem = json.loads((shared_data / "math" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    train = tmp_path / "train.jsonl"
    rows = [
        {"query": gsm[1]["question"], "response": "The answer is: 3"},
        {"query": "Explain this.", "response": "Here is a worked example. " + long_sol["solution"] + " Done."},
        {"query": train_problem["problem"], "response": train_problem["solution"]},
        {"query": "What is 2+2?", "response": "The answer is: 4"},
    ]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    # the decontamination step reports the training file (what the data filter finds) ...
    from synth.cli import main as synth_main

    assert synth_main(["decontaminate", str(train), "--report-only", "--data-dir", str(shared_data)]) == 0
    found = Path(f"{train}.contamination-30gram.jsonl")
    # ... and the report reads that report; the test sets' sizes come from the data folder
    out = tmp_path / "rep"
    assert main(["tables", str(runs), "--output-dir", str(out), "--contamination", f"org/model-a={found}",
                 "--data-dir", str(shared_data)]) == 0
    with open(out / "contamination.csv", encoding="utf-8") as fh:
        got = {r["Task"]: r for r in csv.DictReader(fh) if r["Model"] == "org/model-a"}
    assert (got["skymath_gsm8k"]["with 30-gram overlap"], got["skymath_gsm8k"]["test problems"]) == ("1", "1319")
    assert got["skymath_math"]["with 30-gram overlap"] == "1" and got["skymath_math"]["training rows hit"] == "1"
    assert float(got["skymath_gsm8k"]["overlap (%)"]) == pytest.approx(100 / 1319, abs=1e-4)
    with open(out / "criteria_gap.csv", encoding="utf-8") as fh:
        gap = {(r["Model"], r["Task"]): r["30-gram overlap (%)"] for r in csv.DictReader(fh)}
    assert float(gap[("org/model-a", "skymath_math")]) == pytest.approx(100 / 5000, abs=1e-4)
    assert gap[("org/model-b", "skymath_math")] == ""  # no training data given for model B


def test_train_data_option_points_to_the_decontamination_report(runs, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    assert main(["tables", str(runs), "--output-dir", str(tmp_path), "--train-data", "org/model-a=x.jsonl"]) == 2
    assert "--contamination" in capsys.readouterr().err


def test_old_output_spellings_still_work_with_a_warning(runs, tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    assert main(["tables", str(runs), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "report.md").is_file()
    err = capsys.readouterr().err
    assert "--out is deprecated" in err and "use --output-dir" in err
