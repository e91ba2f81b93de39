"""``skymath-train`` documents kebab-case options; TRL's underscore spellings still work, with a warning."""

from __future__ import annotations

import re

from training.config import make_parser, parse_args

CPU = ["--use-cpu", "true", "--bf16", "false"]


def test_help_lists_only_kebab_case_options():
    usage = make_parser().format_usage()  # every option once, by its documented spelling (help prose is TRL's)
    flags = set(re.findall(r"(?<![\w<$-])--[A-Za-z][\w-]*", usage))
    assert {"--output-dir", "--stage1-data", "--stage2-data", "--model-name-or-path", "--stage1-dir"} <= flags
    assert len(flags) > 150 and not sorted(f for f in flags if "_" in f)


def test_new_and_old_spellings_parse_to_the_same_run(capsys):
    new_script, new_sft, new_model = parse_args([
        "--stage", "1", "--stage1-data", "a.jsonl", "b.jsonl", "--stage1-rows", "4", "--output-dir", "runs/x",
        "--model-name-or-path", "m", "--no-remove-unused-columns", *CPU])
    assert "deprecated" not in capsys.readouterr().err
    old_script, old_sft, old_model = parse_args([
        "--stage", "1", "--stage1_data", "a.jsonl", "b.jsonl", "--stage1_rows=4", "--output_dir", "runs/x",
        "--model_name_or_path", "m", "--no_remove_unused_columns", "--use_cpu", "true", "--bf16", "false"])
    err = capsys.readouterr().err
    for old, new in (("--stage1_data", "--stage1-data"), ("--stage1_rows", "--stage1-rows"),
                     ("--output_dir", "--output-dir"), ("--no_remove_unused_columns", "--no-remove-unused-columns")):
        assert f"{old} is deprecated" in err and f"use {new}" in err
    assert new_script.stage1_data == old_script.stage1_data == ["a.jsonl", "b.jsonl"]
    assert new_script.stage1_rows == old_script.stage1_rows == 4
    assert new_sft.output_dir == old_sft.output_dir == "runs/x"
    assert new_sft.remove_unused_columns is old_sft.remove_unused_columns is False
    assert new_model.model_name_or_path == old_model.model_name_or_path == "m"
