"""Training data and configuration: prompts, bad rows, subsets/mixtures, over-long rows, presets, batch maths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import DataError
from skymath_tasks.prompts import ALPACA_PROMPT, build_prompt, completion_for
from training.config import ConfigError, parse_args, resolve_gradient_accumulation
from training.data import apply_length_policy, load_stage_data, pretokenize, to_pair

DATA = Path(__file__).parent / "data"
STAGE1 = DATA / "training_stage1.jsonl"
STAGE2 = DATA / "training_stage2.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- prompts


def test_pair_prompt_is_the_shared_eval_prompt_byte_for_byte():
    row = _rows(STAGE2)[0]  # has LaTeX braces and backslashes, the classic str.format trap
    pair = to_pair(row["query"], row["response"])
    assert pair["prompt"] == build_prompt(row["query"])
    # Independent rendering of MetaMath's template: the instruction sits verbatim between the markers.
    head, tail = ALPACA_PROMPT.split("{instruction}")
    assert pair["prompt"].encode() == (head + row["query"] + tail).encode()
    assert pair["prompt"].endswith("### Response: Let's think step by step.")
    # The completion is the response, separated from "step." by exactly one newline.
    assert pair["completion"] == "\n" + row["response"] == completion_for(row["response"])


def test_loaded_stage_data_uses_the_shared_prompt_for_every_row():
    data = load_stage_data([str(STAGE1)])
    rows = _rows(STAGE1)
    assert [p["prompt"] for p in data.pairs] == [build_prompt(r["query"]) for r in rows]
    assert [p["completion"] for p in data.pairs] == [completion_for(r["response"]) for r in rows]


def test_configurable_column_names(tmp_path: Path):
    src = tmp_path / "qa.jsonl"
    src.write_text(json.dumps({"question": "What is 2+2?", "solution": "2+2=4\nThe answer is 4"}) + "\n")
    data = load_stage_data([str(src)], query_field="question", response_field="solution")
    assert data.pairs == [to_pair("What is 2+2?", "2+2=4\nThe answer is 4")]


# ---------------------------------------------------------------- bad rows


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"query": "q", "response": "r"', "not valid JSON"),
        ('{"query": "q"}', "field 'response': missing"),
        ('{"query": "q", "response": 7}', "field 'response': expected str, got int"),
        ('{"query": "   ", "response": "r"}', "field 'query': empty text"),
        ('["query", "response"]', "expected a JSON object"),
    ],
)
def test_bad_row_names_file_line_and_field(tmp_path: Path, line: str, needle: str):
    src = tmp_path / "bad.jsonl"
    good = json.dumps({"query": "What is 1+1?", "response": "The answer is 2"})
    src.write_text(f"{good}\n\n{good}\n{line}\n{good}\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_stage_data([str(src)])
    assert err.value.line == 4  # blank line 2 still counts: line numbers are the file's own
    assert str(err.value).startswith(f"{src}:4: ")
    assert needle in str(err.value)


def test_missing_file_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="no such file"):
        load_stage_data([str(tmp_path / "nope.jsonl")])


def test_cli_reports_bad_row_with_file_and_line(tmp_path: Path, capsys):
    from training.cli import main

    src = tmp_path / "bad.jsonl"
    src.write_text('{"query": "q", "response": "r"}\n{"query": "q2", "answer": "3"}\n', encoding="utf-8")
    rc = main(["--stage", "1", "--model-name-or-path", str(tmp_path), "--stage1-data", str(src),
               "--output-dir", str(tmp_path / "run"), "--use-cpu", "--bf16", "false", "--report-to", "none"])
    assert rc == 2
    assert f"{src}:2: field 'response': missing" in capsys.readouterr().err
    assert not (tmp_path / "run" / "stage1" / "config.json").exists()


def test_hub_style_source_with_other_column_names(tmp_path: Path):
    """`hub:NAME[:SPLIT]` goes through datasets.load_dataset; a local dataset folder stands in for the Hub."""
    folder = tmp_path / "gsm_like"
    folder.mkdir()
    rows = [{"question": f"What is {i}+1?", "answer": f"{i}+1={i + 1}\nThe answer is {i + 1}"} for i in range(5)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_stage_data([f"hub:{folder}:train"], query_field="question", response_field="answer")
    assert data.pairs == [to_pair(r["question"], r["answer"]) for r in rows]
    rows[3]["answer"] = ""
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match=r":4: field 'answer': empty text"):
        load_stage_data([f"hub:{folder}"], query_field="question", response_field="answer")


# ---------------------------------------------------------------- subsets and mixtures


def test_stage_filter_keeps_matching_rows(tmp_path: Path):
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(STAGE1.read_text() + STAGE2.read_text(), encoding="utf-8")
    data = load_stage_data([str(mixed)], stage_filter="stage2_hard")
    assert len(data.pairs) == 12
    assert data.sources[0].rows_read == 36 and data.sources[0].rows_filtered_out == 24
    assert all("\\cdot" in p["prompt"] for p in data.pairs)


def test_subsets_are_seeded_and_nested():
    small = load_stage_data([str(STAGE1)], rows=5, seed=3)
    again = load_stage_data([str(STAGE1)], rows=5, seed=3)
    large = load_stage_data([str(STAGE1)], rows=15, seed=3)
    other = load_stage_data([str(STAGE1)], rows=5, seed=4)
    assert small.pairs == again.pairs
    assert len(small.pairs) == 5 and len(large.pairs) == 15
    prompts = {p["prompt"] for p in large.pairs}
    assert all(p["prompt"] in prompts for p in small.pairs)  # 5-row subset inside the 15-row one
    assert small.pairs != other.pairs


def test_mixture_weights_split_the_requested_rows():
    data = load_stage_data([str(STAGE1), str(STAGE2)], rows=10, weights=[0.7, 0.3], seed=0)
    assert [s.rows_selected for s in data.sources] == [7, 3]
    assert len(data.pairs) == 10
    assert sum("\\cdot" in p["prompt"] for p in data.pairs) == 3
    natural = load_stage_data([str(STAGE1), str(STAGE2)], rows=9)
    assert [s.rows_selected for s in natural.sources] == [6, 3]  # in proportion to 24:12


def test_impossible_mixtures_are_refused():
    with pytest.raises(ValueError, match="sources hold only 36"):
        load_stage_data([str(STAGE1), str(STAGE2)], rows=37)
    with pytest.raises(ValueError, match="has 12 rows but the mixture asks for 15"):
        load_stage_data([str(STAGE1), str(STAGE2)], rows=30, weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="need a total row count"):
        load_stage_data([str(STAGE1)], weights=[1.0])


# ---------------------------------------------------------------- over-long rows


def test_overlong_rows_are_counted_and_truncated_or_dropped(tiny_llama_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    data = load_stage_data([str(STAGE1)])
    prompt_len = max(len(tok(text=p["prompt"])["input_ids"]) for p in data.pairs)
    lengths = sorted(len(tok(text=p["prompt"] + p["completion"] + tok.eos_token)["input_ids"]) for p in data.pairs)
    limit = lengths[len(lengths) // 2]  # about half the rows are longer
    assert prompt_len < limit
    n_over = sum(n > limit for n in lengths)
    assert 0 < n_over < len(lengths)

    truncated = apply_length_policy(load_stage_data([str(STAGE1)]), tok, limit, "truncate")
    assert (truncated.overlong_rows, truncated.truncated_rows, truncated.dropped_rows) == (n_over, n_over, 0)
    assert len(truncated.pairs) == 24
    cut = pretokenize(truncated, tok, limit)
    assert max(len(ids) for ids in cut["input_ids"]) == limit

    dropped = apply_length_policy(load_stage_data([str(STAGE1)]), tok, limit, "drop")
    assert (dropped.overlong_rows, dropped.truncated_rows, dropped.dropped_rows) == (n_over, 0, n_over)
    assert len(dropped.pairs) == 24 - n_over
    report = dropped.report()
    assert report["rows"] == 24 - n_over and report["dropped_rows"] == n_over and report["max_length"] == limit

    # A prompt that alone fills max_length leaves no completion token: dropped even under "truncate".
    prompt_lens = [len(tok(text=p["prompt"])["input_ids"]) for p in data.pairs]
    all_truncated = apply_length_policy(load_stage_data([str(STAGE1)]), tok, max(prompt_lens) + 1, "truncate")
    assert all_truncated.truncated_rows == 24 and all_truncated.dropped_rows == 0
    with pytest.raises(ValueError, match="nothing left to train on"):
        apply_length_policy(load_stage_data([str(STAGE1)]), tok, min(prompt_lens), "truncate")


# ---------------------------------------------------------------- config


def test_global_batch_is_kept_whatever_the_world_size():
    assert resolve_gradient_accumulation(32, 4, 1, 8) == 1
    assert resolve_gradient_accumulation(32, 4, 1, 1) == 8
    assert resolve_gradient_accumulation(32, 2, 1, 2) == 8
    assert resolve_gradient_accumulation(32, 4, 8, 1) == 8  # an explicit value that agrees is fine
    assert resolve_gradient_accumulation(None, 4, 3, 8) == 3  # check switched off
    with pytest.raises(ConfigError, match="not a multiple of per_device_train_batch_size \\(3\\)"):
        resolve_gradient_accumulation(32, 3, 1, 1)
    with pytest.raises(ConfigError, match="cannot be split over 3 processes"):
        resolve_gradient_accumulation(32, 1, 1, 3)
    with pytest.raises(ConfigError, match="gives a global batch of 64, not 32"):
        resolve_gradient_accumulation(32, 4, 16, 1)


@pytest.mark.parametrize(
    ("preset", "lr"), [("llama2-7b", 2e-5), ("mistral-7b", 2e-6), ("deepseekmath-7b", 2e-6)]
)
def test_presets_carry_the_paper_recipe(preset: str, lr: float):
    from training.config import load_yaml_mapping, preset_path

    assert load_yaml_mapping(preset_path(preset))["bf16"] is True
    # This machine has no GPU: bf16 would be refused by TrainingArguments, so run the preset on CPU.
    cpu = ["--use-cpu", "true", "--bf16", "false"]
    script, sft, model = parse_args(["--preset", preset, "--stage1-data", "a.jsonl", "--stage2-data", "b.jsonl", *cpu])
    assert sft.learning_rate == lr
    assert sft.num_train_epochs == 3
    assert sft.weight_decay == 0.0
    assert sft.optim.startswith("adamw")
    assert sft.warmup_steps == 0.03  # fractional warmup_steps = warm-up ratio under transformers 5
    assert sft.max_length == 2048
    assert script.global_batch_size == 32
    assert sft.per_device_train_batch_size * resolve_gradient_accumulation(
        script.global_batch_size, sft.per_device_train_batch_size, sft.gradient_accumulation_steps, 8) * 8 == 32
    assert model.model_name_or_path


def test_command_line_overrides_config_file_overrides_preset(tmp_path: Path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("learning_rate: 1.0e-5\nnum_train_epochs: 2\nbatching: packing\n", encoding="utf-8")
    script, sft, _ = parse_args(["--preset", "mistral-7b", "--config", str(cfg), "--num-train-epochs", "1",
                                 "--stage", "1", "--stage1-data", "a.jsonl", "--use-cpu", "true", "--bf16", "false"])
    assert sft.learning_rate == 1e-5 and sft.num_train_epochs == 1 and script.batching == "packing"
    assert sft.max_length == 2048  # untouched preset value


def test_config_errors_are_explained(tmp_path: Path):
    with pytest.raises(ConfigError, match="stage 2 needs --stage2-data"):
        parse_args(["--stage1-data", "a.jsonl", "--use-cpu", "true", "--bf16", "false"])
    with pytest.raises(ConfigError, match="unknown preset 'gpt-9'"):
        parse_args(["--preset", "gpt-9"])
    with pytest.raises(ConfigError, match="needs --stage1-rows"):
        parse_args(["--stage", "1", "--stage1-data", "a.jsonl", "b.jsonl", "--stage1-weights", "1", "2",
                    "--use-cpu", "true", "--bf16", "false"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 1.0e-5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="learning_rat"):
        parse_args(["--config", str(bad), "--stage", "1", "--stage1-data", "a.jsonl"])


@pytest.mark.parametrize("name", ["zero3", "fsdp2", "multi_gpu"])
def test_shipped_accelerate_configs_load(name: str):
    from accelerate.commands.config.config_args import ClusterConfig

    path = Path(__file__).resolve().parents[1] / "training" / "accelerate_configs" / f"{name}.yaml"
    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_processes == 8 and cfg.mixed_precision == "bf16"
    assert str(cfg.distributed_type).endswith({"zero3": "DEEPSPEED", "fsdp2": "FSDP", "multi_gpu": "MULTI_GPU"}[name])


def test_evaluation_child_does_not_inherit_launcher_ranks(monkeypatch):
    from training.evaluate import _single_process_env

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "x",
                        "ACCELERATE_MIXED_PRECISION": "bf16", "SKYMATH_DATA_DIR": "/data"}.items():
        monkeypatch.setenv(name, value)
    env = _single_process_env()
    assert not {"RANK", "WORLD_SIZE", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "ACCELERATE_MIXED_PRECISION"} & set(env)
    assert env["SKYMATH_DATA_DIR"] == "/data"
