"""Seed loaders: real files normalise correctly, test sets are refused, malformed files name file and line."""

from __future__ import annotations

import json

import pytest

from skymath_tasks.jsonl_io import DataError
from synth.seeds import ContaminatedSeedError, load_seeds

KEYS = {"id", "source", "problem", "answer", "level", "subject"}


def test_all_paper_sources_load_from_shared_data(shared_data):
    seeds = load_seeds(["math_train", "olympiadbench", "agieval", "scibench", "jeebench"], root=shared_data)
    by_src: dict[str, int] = {}
    for s in seeds:
        assert set(s) == KEYS and s["problem"] and (s["answer"] is None or s["answer"].strip())
        by_src[s["source"].split("/")[0]] = by_src.get(s["source"].split("/")[0], 0) + 1
    assert by_src["math_train"] == 7500
    assert by_src["agieval"] == 351 + 118 + 220  # never math.jsonl
    assert by_src["jeebench"] == 204  # maths questions only
    assert by_src["scibench"] == 42 + 50 + 72  # calculus, diff, stat
    assert by_src["olympiadbench"] == 675
    assert len({s["id"] for s in seeds}) == len(seeds)
    # MATH train has two solutions with an empty \boxed{}: kept as seeds, without a gold answer
    assert sum(s["answer"] is None for s in seeds) == 2
    first = next(s for s in seeds if s["source"] == "math_train")
    assert first["answer"] == "0" and first["level"] == 5 and first["subject"] == "Algebra"


def test_math_levels_filter_for_stage2(shared_data):
    hard = load_seeds([{"name": "math_train", "levels": [4, 5]}], root=shared_data)
    assert hard and {s["level"] for s in hard} == {4, 5}


def test_agieval_math_is_refused(shared_data):
    with pytest.raises(ContaminatedSeedError, match="MATH test"):
        load_seeds([{"name": "agieval", "files": ["gaokao-mathqa", "math"]}], root=shared_data)
    with pytest.raises(ContaminatedSeedError, match="MATH test"):
        load_seeds([{"name": "jsonl", "path": str(shared_data / "seeds" / "agieval" / "math.jsonl")}])


def test_agieval_math_refused_without_data(tmp_path):
    (tmp_path / "agieval").mkdir()
    (tmp_path / "agieval" / "math.jsonl").write_text('{"question": "q", "answer": "1"}\n')
    with pytest.raises(ContaminatedSeedError):
        load_seeds([{"name": "agieval", "path": str(tmp_path / "agieval" / "math.jsonl")}])


def test_malformed_jsonl_seed_names_file_and_line(tmp_path):
    p = tmp_path / "train.jsonl"
    good = json.dumps({"problem": "What is 1+1?", "solution": "It is $\\boxed{2}$.", "level": "Level 1"})
    p.write_text(good + "\n" + good + "\n" + '{"problem": "broken", "solution": \n')
    with pytest.raises(DataError) as err:
        load_seeds([{"name": "math_train", "path": str(p)}])
    assert f"{p}:3:" in str(err.value) and "not valid JSON" in str(err.value)


def test_missing_field_and_missing_boxed_answer(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"problem": "x", "solution": "no box here"}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:1: field 'solution'"):
        load_seeds([{"name": "math_train", "path": str(p)}])
    p.write_text(json.dumps({"problem": "x", "solution": "\\boxed{1}"}) + "\n" + json.dumps({"solution": "a"}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:2: field 'problem'"):
        load_seeds([{"name": "math_train", "path": str(p)}])


def test_malformed_json_array_seed_names_element(tmp_path):
    d = tmp_path / "scibench"
    d.mkdir()
    (d / "calculus.json").write_text(json.dumps([{"problem_text": "p", "answer_latex": "1"}, {"answer_latex": "2"}]))
    with pytest.raises(DataError, match=r"calculus.json:2: field 'problem_text'"):
        load_seeds([{"name": "scibench", "path": str(d), "files": ["calculus"]}])
    (d / "calculus.json").write_text('[{"problem_text": "p",\n "answer_latex": }]')
    with pytest.raises(DataError, match=r"calculus.json:2: not valid JSON"):
        load_seeds([{"name": "scibench", "path": str(d), "files": ["calculus"]}])


def test_unknown_source_and_keys_are_config_errors():
    with pytest.raises(ValueError, match="unknown seed source"):
        load_seeds(["gsm8k_train"])
    with pytest.raises(ValueError, match="unknown seed key"):
        load_seeds([{"name": "math_train", "level": [4]}])


def test_hub_failures_are_explained_but_bugs_are_not_hidden(monkeypatch):
    import datasets

    from synth import seeds as S

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="could not load seeds 'olympiadbench' from the Hub.*Pass a local 'path'"):
        S._load_hub("olympiadbench")

    def bug(*args, **kwargs):
        raise TypeError("a bug in a loader")

    monkeypatch.setattr(datasets, "load_dataset", bug)
    with pytest.raises(TypeError, match="a bug in a loader"):  # not turned into "data unavailable"
        S._load_hub("olympiadbench")
