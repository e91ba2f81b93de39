"""skymath-train with huge and malformed rows: text is cut before tokenization (same first max_length tokens
as the whole text), malformed rows stop the load with file:line or are skipped into a rejects file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data import apply_length_policy, load_stage_data, text_cap


@pytest.fixture(scope="module")
def tok(tiny_llama_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def _src(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_a_long_row_is_cut_before_tokenizing_and_trains_on_the_same_tokens(tmp_path: Path, tok) -> None:
    long_response = " ".join(f"step {i}: add {i} and {i + 1} to get {2 * i + 1}." for i in range(12_000))
    assert len(long_response) > 300_000
    src = _src(tmp_path, [{"query": "What is 2 + 2?", "response": "2 + 2 = 4.\nThe answer is 4"},
                          {"query": "Sum them all.", "response": long_response}])
    limit = 64
    data = apply_length_policy(load_stage_data([str(src)]), tok, limit, "truncate")
    cap = text_cap(tok, limit)
    assert data.capped_rows == 1 and data.truncated_rows == 1 and data.text_cap_chars == cap
    assert cap < 20_000 and all(len(p["prompt"]) + len(p["completion"]) <= cap for p in data.pairs)
    # what TRL keeps of the row (its first max_length tokens) is the same from the cut text
    whole = load_stage_data([str(src)]).pairs[1]
    cut = data.pairs[1]
    full_ids = tok(text=whole["prompt"] + whole["completion"])["input_ids"]
    cut_ids = tok(text=cut["prompt"] + cut["completion"])["input_ids"]
    assert cut_ids[:limit] == full_ids[:limit] and len(cut_ids) > limit
    dropped = apply_length_policy(load_stage_data([str(src)]), tok, limit, "drop")
    assert dropped.dropped_rows == 1 and len(dropped.pairs) == 1


def test_skip_mode_lists_bad_rows_and_trains_on_the_rest(tmp_path: Path) -> None:
    good = {"query": "What is 1 + 1?", "response": "The answer is 2"}
    p = tmp_path / "train.jsonl"
    p.write_bytes(b"\n".join([json.dumps(good).encode(), b'{"query": "q", "response": 5}',
                              b'{"query": "q", "resp', b'{"query": "\xff", "response": "r"}',
                              json.dumps({"query": "  ", "response": "r"}).encode(), json.dumps(good).encode()]) + b"\n")
    with pytest.raises(ValueError, match=r"train\.jsonl:2: field 'response': expected str"):
        load_stage_data([str(p)])
    rejects = tmp_path / "stage1" / "rejected_rows.jsonl"
    data = load_stage_data([str(p)], on_bad_row="skip", rejects=rejects)
    assert len(data.pairs) == 2 and data.sources[0].rows_rejected == 4 and data.rejects == str(rejects)
    recs = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in recs] == [(2, "wrong_type"), (3, "bad_json"), (4, "not_utf8"),
                                                        (5, "empty_text")]
    assert data.report()["rejects"] == str(rejects)


def test_when_every_row_is_too_long_the_error_names_a_file_and_line(tmp_path: Path, tok) -> None:
    huge_query = "How many? " * 40_000  # the prompt alone fills max_length: dropped even under truncate
    src = _src(tmp_path, [{"query": huge_query, "response": "The answer is 1"}])
    with pytest.raises(ValueError, match=r"every row is longer than max_length=64 tokens \(first: .*train\.jsonl:1, "):
        apply_length_policy(load_stage_data([str(src)]), tok, 64, "truncate")
