"""`skymath-synth distractors | translate | build-eval-data`: files, manifest hashes, LLM mode over HTTP."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import pytest

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_jsonl, write_jsonl
from synth import eval_data_cli
from synth.distractors import check_distractor, split_question_sentence


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="skymath-synth")
    sub = parser.add_subparsers(dest="command", required=True)
    eval_data_cli.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def small_data(shared_data: Path, tmp_path: Path) -> Path:
    """A data folder in the shared layout with a few real problems (fast, and never the shared folder)."""
    root = tmp_path / "data"
    write_jsonl(root / "gsm8k" / "test.jsonl", read_jsonl(shared_data / "gsm8k" / "test.jsonl")[:12])
    write_jsonl(root / "math" / "test.jsonl", read_jsonl(shared_data / "math" / "test.jsonl")[:3])
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_distractors_command_writes_five_levels_and_a_manifest(small_data: Path, tmp_path: Path) -> None:
    assert run_cli("distractors", "--data-dir", str(small_data), "--output-dir", str(tmp_path / "a")) == 0
    assert run_cli("distractors", "--data-dir", str(small_data), "--output-dir", str(tmp_path / "b")) == 0
    manifest = json.loads((tmp_path / "a" / "distractors" / "MANIFEST.json").read_text())
    assert manifest["seed"] == 20240711 and manifest["mode"] == "offline"
    assert manifest["source"]["sha256"] == _sha(small_data / "gsm8k" / "test.jsonl")
    assert sorted(manifest["files"]) == [f"gsm8k_test_distractor_{k}.jsonl" for k in range(1, 6)]
    for name, info in manifest["files"].items():
        a, b = tmp_path / "a" / "distractors" / name, tmp_path / "b" / "distractors" / name
        assert info["sha256"] == _sha(a)
        assert a.read_bytes() == b.read_bytes()  # same seed, identical bytes
        rows = read_jsonl(a)
        assert len(rows) == info["rows"] == 12 and all(len(r["distractors"]) == info["k"] for r in rows)
    assert (tmp_path / "a" / "distractors" / "MANIFEST.json").read_bytes() == (tmp_path / "b" / "distractors" / "MANIFEST.json").read_bytes()
    # another seed gives other files
    assert run_cli("distractors", "--data-dir", str(small_data), "--output-dir", str(tmp_path / "c"), "--seed", "7") == 0
    c = json.loads((tmp_path / "c" / "distractors" / "MANIFEST.json").read_text())
    assert c["seed"] == 7 and c["files"]["gsm8k_test_distractor_1.jsonl"]["sha256"] != manifest["files"]["gsm8k_test_distractor_1.jsonl"]["sha256"]


def test_missing_input_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("SKYMATH_DATA_DIR", raising=False)
    assert run_cli("distractors", "--output-dir", str(tmp_path)) == 2
    assert "SKYMATH_DATA_DIR" in capsys.readouterr().err
    bad = tmp_path / "bad" / "gsm8k"
    bad.mkdir(parents=True)
    (bad / "test.jsonl").write_text('{"question": "Q?", "answer": "#### 1"}\n{"question": 5, "answer": "#### 2"}\n')
    assert run_cli("distractors", "--data-dir", str(tmp_path / "bad"), "--output-dir", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "test.jsonl:2" in err and "question" in err


def _distractor_responder(req: dict) -> str:
    prompt = req["messages"][-1]["content"]
    problem = prompt.split("Problem:\n", 1)[1].split("\n\nWrite", 1)[0]
    name = re.findall(r"\b([A-Z][a-z]+)\b", problem)[0]
    # one good sentence, one that restates the question, one that reuses a number of the problem,
    # one with a question mark, then more good ones with numbers no GSM8K problem here uses
    first_number = re.findall(r"\d+", problem)[0]
    return json.dumps([
        f"{name}'s uncle owns 9871 stamps.",
        split_question_sentence(problem)[1],
        f"{name} has {first_number} cousins.",
        f"Is {name} 8123 years old?",
        f"The street where {name} lives has 7919 lamps.",
    ])


def test_distractors_llm_mode_checks_the_models_sentences(small_data: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(_distractor_responder) as srv:
        rc = run_cli("distractors", "--mode", "llm", "--data-dir", str(small_data), "--output-dir", str(tmp_path),
                     "--base-url", srv.base_url, "--model", "m", "--no-progress")
        assert rc == 0
        assert srv.request_count() == 12
        rc = run_cli("distractors", "--mode", "llm", "--data-dir", str(small_data), "--output-dir", str(tmp_path),
                     "--base-url", srv.base_url, "--model", "m", "--no-progress")
        assert srv.request_count() == 12  # resumed: replies are cached by request id
    manifest = json.loads((tmp_path / "distractors" / "MANIFEST.json").read_text())
    assert manifest["mode"] == "llm" and manifest["generator"].endswith(":m")
    src = read_jsonl(small_data / "gsm8k" / "test.jsonl")
    rows5 = read_jsonl(tmp_path / "distractors" / "gsm8k_test_distractor_5.jsonl")
    rows4 = read_jsonl(tmp_path / "distractors" / "gsm8k_test_distractor_4.jsonl")
    for s, r, r4 in zip(src, rows5, rows4):
        assert r["answer"] == s["answer"] and r["original_question"] == s["question"]
        assert len(r["distractors"]) == 5 and r4["distractors"] == r["distractors"][:4]
        assert r["distractor_templates"][:2] == ["llm", "llm"]  # the two good model sentences, in order
        assert "9871 stamps" in r["distractors"][0] and "7919 lamps" in r["distractors"][1]
        assert all(t != "llm" for t in r["distractor_templates"][2:])  # topped up with templates
        assert len(r["rejected_distractors"]) == 3
        final = split_question_sentence(s["question"])[1]
        assert r["question"].endswith(final) and r["question"].count(final) == 1
        for d in r["distractors"]:
            assert check_distractor(d, s["question"], s["answer"]) == []


def _translation_responder(req: dict) -> str:
    src = req["messages"][1]["content"].split("Problem:\n", 1)[1]
    return "题目：" + src


def test_translate_command_writes_the_math_zh_layout(small_data: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(_translation_responder) as srv:
        rc = run_cli("translate", "--dataset", "math", "--lang", "zh", "--data-dir", str(small_data),
                     "--output-dir", str(tmp_path), "--base-url", srv.base_url, "--no-progress")
    assert rc == 0
    rows = read_jsonl(tmp_path / "math" / "test_zh.jsonl")
    src = read_jsonl(small_data / "math" / "test.jsonl")
    assert len(rows) == 3
    for s, r in zip(src, rows):
        assert {"problem", "problem_en", "solution", "level", "type", "unique_id", "provenance"} <= set(r)
        assert r["problem_en"] == s["problem"] and r["solution"] == s["solution"]
        assert r["provenance"]["temperature"] == 0.0 and r["provenance"]["model"]
    assert (tmp_path / "math" / "test_zh.jsonl.raw.jsonl").exists()


def test_build_eval_data_builds_the_layout_and_translates_only_with_an_endpoint(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("build-eval-data", "--data-dir", str(small_data), "--output-dir", str(out)) == 0
    assert (out / "gsm8k" / "test.jsonl").read_bytes() == (small_data / "gsm8k" / "test.jsonl").read_bytes()
    assert (out / "math" / "test.jsonl").exists()
    for k in range(1, 6):
        assert len(read_jsonl(out / "distractors" / f"gsm8k_test_distractor_{k}.jsonl")) == 12
    assert not (out / "math" / "test_zh.jsonl").exists()  # no endpoint configured: no translation
    with FakeOpenAIServer(_translation_responder) as srv:
        assert run_cli("build-eval-data", "--data-dir", str(small_data), "--output-dir", str(out),
                       "--base-url", srv.base_url, "--no-progress") == 0
        assert srv.request_count() == 3 + 12  # MATH and, with no GPT-4 file present, GSM8K
    assert len(read_jsonl(out / "math" / "test_zh.jsonl")) == 3
    zh = read_jsonl(out / "chinese" / "gsm8k_test_zh.jsonl")
    assert [r["answer"] for r in zh] == [s["answer"].rsplit("####", 1)[1].strip() for s in read_jsonl(small_data / "gsm8k" / "test.jsonl")]


def test_distractors_llm_mode_reports_failed_requests_and_fills_them_on_rerun(small_data: Path, tmp_path: Path) -> None:
    argv = ("distractors", "--mode", "llm", "--data-dir", str(small_data), "--output-dir", str(tmp_path),
            "--no-progress", "--model", "m")
    with FakeOpenAIServer(_distractor_responder) as srv:
        srv.inject("500", times=3)
        cfg = tmp_path / "client.yaml"
        cfg.write_text(f"base_url: {srv.base_url}\nmax_retries: 0\nmax_concurrency: 1\n")
        assert run_cli(*argv, "--client-config", str(cfg)) == 1
        manifest = json.loads((tmp_path / "distractors" / "MANIFEST.json").read_text())
        assert manifest["llm_missing"] == 3
        assert run_cli(*argv, "--client-config", str(cfg)) == 0
        assert srv.request_count() == 12 + 3 + 0  # 12 first tries (3 failed), then only the 3 missing
    rows = read_jsonl(tmp_path / "distractors" / "gsm8k_test_distractor_1.jsonl")
    assert all(r["llm_reply"] and r["distractor_templates"] == ["llm"] for r in rows)
