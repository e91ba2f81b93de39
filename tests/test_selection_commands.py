"""select-hard, verify, dedup and the CLI: decisions, recorded verdicts, LLM judge over a real local server."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import DataError
from synth.selection import cli as selection_cli
from synth.selection.dedup import DedupConfig, dedup_file
from synth.selection.hard import parse_level, select_by_judge, select_by_level
from synth.selection.verify import verify_by_answer, verify_by_judge


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    selection_cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_parse_level():
    assert [parse_level(v) for v in (5, "5", "Level 4", "level 1", "Level ?", 7, None, True)] == [
        5, 5, 4, 1, None, None, None, None]


def test_select_hard_by_level_from_rows_and_from_seeds(tmp_path):
    rows = _write(tmp_path / "rows.jsonl", [
        {"id": "a", "seed_id": "s1", "level": "Level 5"},
        {"id": "b", "seed_id": "s2", "level": 3},
        {"id": "c", "seed_id": "s3", "level": "Level ?"},
        {"id": "d", "seed_id": "s4", "level": 4},
    ])
    stats = select_by_level(rows, tmp_path / "hard.jsonl")
    assert _ids(tmp_path / "hard.jsonl") == ["a", "d"]
    assert stats["verdicts"] == {"hard": 2, "easy": 1, "unknown_level": 1}
    verdicts = [json.loads(line) for line in (tmp_path / "hard.jsonl.verdicts.jsonl").read_text().splitlines()]
    assert [v["verdict"] for v in verdicts] == ["hard", "easy", "unknown_level", "hard"]

    synth_rows = _write(tmp_path / "synth.jsonl", [{"id": i, "seed_id": f"s{i % 4}"} for i in range(8)])
    seeds = _write(tmp_path / "seeds.jsonl", [{"id": "s0", "level": "Level 5"}, {"id": "s1", "level": "Level 2"},
                                              {"id": "s2", "level": "Level 4"}, {"id": "s3", "level": "Level ?"}])
    select_by_level(synth_rows, tmp_path / "h2.jsonl", seeds_path=seeds, min_level=4)
    assert _ids(tmp_path / "h2.jsonl") == [0, 2, 4, 6]


def test_verify_by_ground_truth_answer(tmp_path):
    rows = _write(tmp_path / "rows.jsonl", [
        {"id": 1, "seed_id": "s1", "response": "2 + 2 = 4.\nThe answer is 4"},
        {"id": 2, "seed_id": "s1", "response": "2 + 2 = 5.\nThe answer is 5"},
        {"id": 3, "seed_id": "s2", "response": "Half of it.\nThe answer is \\frac{1}{2}"},
        {"id": 4, "seed_id": "s9", "response": "No gold for this seed.\nThe answer is 3"},
        {"id": 5, "seed_id": "s1", "response": "I think it is four."},
    ])
    seeds = _write(tmp_path / "seeds.jsonl", [{"id": "s1", "answer": "4"}, {"id": "s2", "answer": "0.5"}])
    stats = verify_by_answer(rows, tmp_path / "ok.jsonl", seeds_path=seeds, task="math")
    assert _ids(tmp_path / "ok.jsonl") == [1, 3, 4]
    assert stats["verdicts"] == {"correct": 2, "incorrect": 2, "no_gold": 1}
    verify_by_answer(rows, tmp_path / "strict.jsonl", seeds_path=seeds, keep_ungraded=False)
    assert _ids(tmp_path / "strict.jsonl") == [1, 3]
    bad = _write(tmp_path / "bad.jsonl", [{"id": 1, "seed_id": "s1", "response": "x"}, {"id": 2, "seed_id": "s1"}])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'response': missing"):
        verify_by_answer(bad, tmp_path / "o.jsonl", seeds_path=seeds)


def _judge(req: dict) -> str:
    user = req["messages"][-1]["content"]
    if "Difficulty: N" in user:  # the hard-problem prompt
        level = 5 if "integral" in user else (4 if "prove" in user else 2)
        return f"It needs several steps.\nDifficulty: {level}"
    m = re.search(r"The answer is (\S+)", user)
    verdict = "correct" if m and m.group(1) == "4" else "incorrect"
    if "garbled" in user:
        return "I am not sure."
    return f"Step 1 checks out.\nVerdict: {verdict}"


def test_llm_judges_through_local_server_and_resume_without_resending(tmp_path):
    from synth.client import ClientConfig

    rows = _write(tmp_path / "rows.jsonl", [
        {"id": 1, "query": "What is 2+2?", "response": "2+2=4\nThe answer is 4"},
        {"id": 2, "query": "Evaluate the integral of x from 0 to 2.", "response": "x^2/2\nThe answer is 5"},
        {"id": 3, "query": "Now prove the bound, then compute 2+2.", "response": "garbled"},
        {"id": 4, "query": "Add 1 and 3.", "response": "1+3=4\nThe answer is 4"},
    ])
    with FakeOpenAIServer(_judge) as srv:
        cfg = ClientConfig(base_url=srv.base_url, model=srv.model, max_concurrency=4, max_retries=2, timeout_s=10)
        stats = verify_by_judge(rows, tmp_path / "verified.jsonl", cfg, progress=False)
        assert _ids(tmp_path / "verified.jsonl") == [1, 4]
        assert stats["verdicts"] == {"correct": 2, "incorrect": 1, "unparsed": 1}
        verdicts = [json.loads(line) for line in (tmp_path / "verified.jsonl.verdicts.jsonl").read_text().splitlines()]
        assert verdicts[0]["judge"].endswith("Verdict: correct") and verdicts[0]["verifier"] == "verify-judge"

        hard = select_by_judge(rows, tmp_path / "hard.jsonl", cfg, min_difficulty=4, progress=False)
        assert _ids(tmp_path / "hard.jsonl") == [2, 3]
        assert hard["verdicts"] == {"easy": 2, "hard": 2}
        sent = srv.request_count()
        assert sent == 8

        # a rerun re-sends nothing: every judgement is cached by deterministic request id
        again = verify_by_judge(rows, tmp_path / "verified.jsonl", cfg, progress=False)
        assert srv.request_count() == sent and again["judge_run"]["skipped_done"] == 4
        assert _ids(tmp_path / "verified.jsonl") == [1, 4]

        # the CLI wires the same judge (here fully answered from the cache: nothing is sent)
        rc = run_cli(["verify", str(rows), "-o", str(tmp_path / "verified.jsonl"), "--verifier", "judge",
                      "--base-url", srv.base_url, "--model", srv.model, "--no-progress",
                      "--random-control", str(tmp_path / "random.jsonl")])
        assert rc == 0 and srv.request_count() == sent
        assert _ids(tmp_path / "verified.jsonl") == [1, 4] and len(_ids(tmp_path / "random.jsonl")) == 2

        # a failed request is recorded as such and retried by the next run
        srv.inject("500", times=100)
        cfg_fast = ClientConfig(base_url=srv.base_url, model="other-judge", max_retries=0, timeout_s=10)
        failed = verify_by_judge(rows, tmp_path / "v2.jsonl", cfg_fast, progress=False)
        assert failed["verdicts"] == {"failed": 4} and failed["kept"] == 0


def test_dedup_removes_near_duplicates_keeps_the_first(tmp_path):
    base = ("A farmer has 17 cows and 23 sheep in a large green field near the river. Each cow eats "
            "twice as much hay as a sheep and the farmer buys hay every week from the market in town. "
            "Last winter the price of hay rose by a fifth, and the farmer sold four cows to pay for the "
            "extra hay. How many kilograms of hay does the farmer need this week if a sheep eats 2 kg a day?")
    rows = _write(tmp_path / "rows.jsonl", [
        {"id": "orig", "query": base},
        {"id": "other", "query": "Find all real x such that x^2 - 5x + 6 = 0 and explain each step carefully."},
        {"id": "near", "query": base.replace("green", "wide")},
        {"id": "copy", "query": base.upper()},
        {"id": "different", "query": base[: len(base) // 3] + " How many legs are there in total on all animals?"},
    ])
    stats = dedup_file(rows, tmp_path / "d.jsonl", DedupConfig(threshold=0.7))
    assert _ids(tmp_path / "d.jsonl") == ["orig", "other", "different"]
    removed = [json.loads(line) for line in (tmp_path / "d.jsonl.removed.jsonl").read_text().splitlines()]
    assert [(r["line"], r["duplicate_of_line"]) for r in removed] == [(3, 1), (4, 1)]
    assert stats["removed"] == 2


def test_cli_decontaminate_and_errors(tmp_path, capsys):
    long_problem = " ".join(f"w{i}" for i in range(40))
    bench = _write(tmp_path / "bench.jsonl", [{"problem": long_problem, "uid": "B-1"}])
    rows = _write(tmp_path / "rows.jsonl", [{"id": 1, "query": "x " + long_problem}, {"id": 2, "query": "clean"}])
    rc = run_cli(["decontaminate", str(rows), "-o", str(tmp_path / "k.jsonl"), "--bench",
                  f"mine={bench}:problem@uid", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| mine | 1 | 1 | 1 | 100.00 |" in out
    assert _ids(tmp_path / "k.jsonl") == [2]
    rc = run_cli(["decontaminate", str(rows), "--report-only", "--bench", f"mine={bench}:problem@uid", "--no-progress"])
    assert rc == 0 and (tmp_path / "rows.jsonl.contamination-30gram.jsonl").exists()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "query": "ok", "level": 5}\n{"id": 2, "query": \n')
    rc = run_cli(["decontaminate", str(bad), "-o", str(tmp_path / "k2.jsonl"), "--bench",
                  f"mine={bench}:problem", "--no-progress"])
    assert rc == 2 and "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    rc = run_cli(["select-hard", str(bad), "-o", str(tmp_path / "h.jsonl")])
    assert rc == 2 and "bad.jsonl:2" in capsys.readouterr().err
    rc = run_cli(["dedup", str(bad), "-o", str(tmp_path / "d.jsonl")])
    assert rc == 2 and "bad.jsonl:2" in capsys.readouterr().err
