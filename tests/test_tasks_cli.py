"""The installed package as users meet it: plain `lm_eval` finds our tasks from any directory.

The wheel installs the task YAMLs where lm-eval looks for its own (``lm_eval/tasks/skymath``); there is
no start-up hook and nothing of lm-eval is wrapped. These run the real `lm_eval` console script in a
subprocess (nothing here passes --include_path unless the test says so) and check that lm-eval's own
signatures and entry points are untouched and that the installed copy and --include_path give the
same numbers.
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
SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus")


def _strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what browsers and most parsers do)."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant} in a results file")

    return json.loads(text, parse_constant=refuse)


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
    """Every task, group and tag validates (lm-eval skips a YAML it cannot parse without a word)."""
    from skymath_tasks.benchmarks import TASKS
    from skymath_tasks.leakage_probes import PROBE_TASKS

    names = sorted(TASKS) + sorted(PROBE_TASKS) + ["skymath", "skymath_zh", "skymath_gsm8k_distractors", "skymath_math_subjects",
                             "skymath_math_zh_subjects", "skymath_gsm8k_distractor_levels"]
    proc = _run(["validate", "--tasks", ",".join(names), "--include_path", str(REPO_ROOT / "task_configs")],
                cwd=tmp_path)
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
    levels = {f"acc_level_{k},none" for k in range(1, 6)}
    subjects = {f"acc_{s},none" for s in SUBJECTS}
    assert base | levels | subjects <= set(results["skymath_math"])
    assert not any(k.startswith("n_level") for k in results["skymath_math"])
    assert results["skymath_math"]["sample_len"] == 2  # one task over all of MATH: --limit 2 = 2 problems
    _strict_json(results_files[-1].read_text())
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
    from skymath_tasks.data import load_gsm8k
    from skymath_tasks.jsonl_io import DataError

    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        json.dumps({"question": "q", "answer": "a\n#### 3"}) + "\n" + json.dumps({"question": "q2", "answer": "no final"}) + "\n"
    )
    monkeypatch.setenv("SKYMATH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"test\.jsonl:2: field 'answer'"):
        load_gsm8k()


def test_the_package_adds_nothing_to_interpreter_start_up() -> None:
    """No .pth hook of ours: a process that never imports lm-eval imports none of it, nor of us.
    (The start-up cost in milliseconds is measured by bench/startup.py, not asserted here.)"""
    from importlib.metadata import files

    ours = [str(f) for f in files("skymath") or [] if f.suffix == ".pth"]
    assert all(f.startswith("_editable_impl_") for f in ours), ours  # only pip's editable-install path file
    code = (
        "import sys; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('lm_eval', 'skymath_tasks', 'datasets', 'transformers', 'torch')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_lm_evals_own_signatures_and_entry_points_still_work(tmp_path: Path) -> None:
    """`TaskManager("ERROR", path)` (positional verbosity and include_path), `python -m
    lm_eval.tasks.manager` and a reload of lm-eval's task manager, with our package installed."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "my_task.yaml").write_text(
        "task: my_task\ndataset_path: json\noutput_type: generate_until\ndoc_to_text: q\ndoc_to_target: a\n")
    code = f"""
import importlib, warnings
warnings.simplefilter("ignore")
from lm_eval.api.group import Group
import lm_eval.tasks.manager as m
tm = m.TaskManager("ERROR", {str(tmp_path / "mine")!r})
assert "my_task" in tm.all_tasks and "skymath_math" in tm.all_tasks and "skymath" in tm.all_groups
importlib.reload(m)
assert "skymath_math" in m.TaskManager(include_defaults=True).all_tasks
assert Group.aggregate.__module__ == "lm_eval.api.group" and not hasattr(Group.aggregate, "__wrapped__")
assert not hasattr(m.TaskManager.__init__, "__wrapped__")
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "lm_eval.tasks.manager"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_installed_task_yamls_are_the_checkouts(tmp_path: Path) -> None:
    """The copy lm-eval indexes by default equals task_configs/ (an editable install copies them once:
    after editing a YAML, reinstall)."""
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    installed = Path(spec.origin).parent / "tasks" / "skymath"
    if not installed.is_dir():
        pytest.skip(f"no installed copy at {installed} (package not installed as a wheel/editable)")
    checkout = REPO_ROOT / "task_configs"
    names = {p.name for p in checkout.iterdir() if p.is_file()}
    assert names == {p.name for p in installed.iterdir() if p.is_file()}, "reinstall: pip install -e ."
    for name in names:
        assert (installed / name).read_bytes() == (checkout / name).read_bytes(), f"{name} differs: reinstall"


def test_installed_tasks_and_include_path_give_the_same_numbers(shared_data: Path) -> None:
    """Per-level and per-subject figures of a skymath_math run are lm-eval's own task aggregations: the
    same whether lm-eval finds the installed copy by default or our folder through include_path."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from skymath_tasks.data import load_math
    from tests.helpers.replay_model import ReplayLM

    rows = load_math(data_dir=shared_data)
    picks = {s: [i for i, r in enumerate(rows) if r["subject"] == s][:4] for s in SUBJECTS}
    gold = {r["problem"]: r["gold"] for r in rows}

    def respond(prompt: str) -> str:
        problem = prompt.split("### Instruction:\n", 1)[1].split("\n\n### Response:", 1)[0]
        return f"The answer is {gold[problem]}" if len(problem) % 3 else "The answer is 0"

    figures = []
    for tm in (TaskManager(metadata={"data_dir": str(shared_data)}),
               TaskManager(include_path=str(REPO_ROOT / "task_configs"), include_defaults=False,
                           metadata={"data_dir": str(shared_data)})):
        res = simple_evaluate(model=ReplayLM(respond), tasks=["skymath_math"], task_manager=tm,
                              samples={"skymath_math": sorted(i for ids in picks.values() for i in ids)},
                              bootstrap_iters=0)
        r = res["results"]["skymath_math"]
        figures.append({k: v for k, v in r.items() if k.startswith(("acc_", "strict"))})
    assert figures[0] == figures[1]
    assert {f"acc_{s},none" for s in SUBJECTS} <= set(figures[0])


def test_local_completions_backend_sends_the_papers_request_to_an_openai_server(tmp_path: Path) -> None:
    """`--model local-completions` against a real HTTP server: the prompt arrives byte-identical, greedy,
    with 2048 new tokens, and gold answers written by the "model" score 100%."""
    from skymath_tasks.data import load_sample_problems
    from skymath_tasks.devtools.openai_server import FakeOpenAIServer
    from skymath_tasks.prompts import build_prompt

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
