"""One flag style for ``skymath-synth``: kebab-case options built from dataclasses, old spellings as
hidden aliases that still work and warn."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from synth.cli import build_parser, main
from synth.pipeline import RunConfig

KEBAB = re.compile(r"^(-[a-zA-Z]|--[a-z0-9]+(-[a-z0-9]+)*)$")




def test_every_documented_option_is_kebab_case(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"generate", "decontaminate", "coreset", "select-hard", "verify", "dedup",
                                "distractors", "translate", "build-eval-data"}
    for name, subparser in sub.choices.items():
        text = subparser.format_help()
        flags = set(re.findall(r"(?<![\w<$-])--?[A-Za-z][\w-]*", text))
        bad = sorted(f for f in flags if not KEBAB.match(f))
        assert not bad, f"{name}: {bad}"
        for old in ("--out ", "--out-dir", "--quiet", "-q "):
            assert old not in text, f"{name} still documents {old.strip()}"
    dedup = sub.choices["dedup"].format_help()
    assert "-o FILE, --output FILE" in dedup and "--no-progress" in dedup
    assert "--output-dir DIR" in sub.choices["build-eval-data"].format_help()
    assert "--output-dir DIR" in sub.choices["generate"].format_help()


def _rows(path: Path) -> Path:
    text = "Two trains leave the station at noon and travel at constant speeds toward the same distant city"
    path.write_text("".join(json.dumps({"id": i, "query": text + (" today" if i % 2 else "")}) + "\n" for i in range(6)))
    return path


def test_old_and_new_spelling_of_an_option_give_the_same_result(tmp_path, capsys):
    rows = _rows(tmp_path / "rows.jsonl")
    assert main(["dedup", str(rows), "--output", str(tmp_path / "new.jsonl"), "--no-progress"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["dedup", str(rows), "-o", str(tmp_path / "old.jsonl"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "-q is deprecated" in err and "use --no-progress" in err
    assert (tmp_path / "new.jsonl").read_bytes() == (tmp_path / "old.jsonl").read_bytes()
    assert len((tmp_path / "new.jsonl").read_text().splitlines()) == 1  # all six rows are near-duplicates


def _gsm8k_folder(root: Path) -> Path:
    """A data folder with GSM8K-style problems we wrote (layout of the shared data)."""
    problems = [
        ("Maria has 12 apples. She buys 5 more apples at the market. How many apples does Maria have now?", "17"),
        ("A baker makes 4 trays of 9 rolls each. He sells 30 rolls. How many rolls are left?", "6"),
    ]
    (root / "gsm8k").mkdir(parents=True)
    (root / "gsm8k" / "test.jsonl").write_text("".join(
        json.dumps({"question": q, "answer": f"Work it out.\n#### {a}"}) + "\n" for q, a in problems))
    return root


def test_distractors_accepts_output_dir_and_the_old_out(tmp_path, capsys):
    data = _gsm8k_folder(tmp_path / "data")
    assert main(["distractors", "--data-dir", str(data), "--output-dir", str(tmp_path / "new")]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["distractors", "--data-dir", str(data), "--out", str(tmp_path / "old")]) == 0
    assert "--out is deprecated" in capsys.readouterr().err
    for k in range(1, 6):
        name = f"distractors/gsm8k_test_distractor_{k}.jsonl"
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()


def test_generate_output_dir_and_the_old_out_dir(capsys):
    parser = build_parser()
    new = parser.parse_args(["generate", "--config", "c.yaml", "--output-dir", "runs/a"])
    assert new.output_dir == Path("runs/a") and "deprecated" not in capsys.readouterr().err
    old = parser.parse_args(["generate", "--config", "c.yaml", "--out-dir", "runs/b"])
    assert old.output_dir == Path("runs/b") and "--out-dir is deprecated" in capsys.readouterr().err


def test_run_config_old_out_dir_key_still_reads(caplog):
    base = {"client": {}, "stages": {"s": {"seeds": ["math_train"]}}}
    assert RunConfig.from_dict({**base, "output_dir": "runs/x"}).output_dir == Path("runs/x")
    with caplog.at_level(logging.WARNING):
        assert RunConfig.from_dict({**base, "out_dir": "runs/y"}).output_dir == Path("runs/y")
    assert "'out_dir' is deprecated" in caplog.text
    with pytest.raises(ValueError, match="output_dir only"):
        RunConfig.from_dict({**base, "out_dir": "a", "output_dir": "b"})
