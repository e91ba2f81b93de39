"""The one JSONL/JSON reader: file:line errors for every kind of bad row, a byte limit that never holds the
row, skip-and-record with a rejects file, cut messages, the output-file reader and its repair."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import (
    DEFAULT_MAX_ROW_BYTES,
    ENV_MAX_ROW_BYTES,
    CorruptOutputError,
    DataError,
    JsonlReader,
    excerpt,
    iter_jsonl,
    iter_raw_rows,
    max_row_bytes,
    parse_size,
    read_json,
    read_jsonl,
    read_output_rows,
    repair_output_file,
    row_byte_limit,
)

GOOD = b'{"q": "a", "n": 1}\n'

# kind -> (bad line, reason, words the message must contain)
BAD_ROWS = {
    "bad_json": (b'{"q": "a", "n": \n', "bad_json", "not valid JSON"),
    "not_object": (b'["q", 1]\n', "not_object", "expected a JSON object, got list"),
    "missing_field": (b'{"n": 1}\n', "missing", "field 'q': missing"),
    "null_field": (b'{"q": null, "n": 1}\n', "missing", "field 'q': missing"),
    "wrong_type": (b'{"q": 7, "n": 1}\n', "wrong_type", "field 'q': expected str, got int"),
    "bool_is_not_int": (b'{"q": "a", "n": true}\n', "wrong_type", "field 'n': expected int, got bool"),
    "not_utf8": (b'{"q": "caf\xe9", "n": 1}\n', "not_utf8", "not valid UTF-8 (byte 0xe9)"),
    "too_long": (b'{"q": "' + b"x" * 300 + b'", "n": 1}\n', "too_long", "over the limit of 100 bytes"),
}


def _read(path: Path, **kw):
    return list(iter_jsonl(path, required=("q",), types={"q": str, "n": int}, max_row_bytes=100, **kw))


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_each_kind_of_bad_row_names_file_line_and_reason(tmp_path: Path, kind: str) -> None:
    line, reason, words = BAD_ROWS[kind]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(GOOD + b"\n" + GOOD + line + GOOD)  # the bad row is on line 4 (line 2 is blank)
    with pytest.raises(DataError) as info:
        _read(path)
    err = info.value
    assert str(err).startswith(f"{path}:4: ") and words in str(err)
    assert (err.path, err.line, err.reason) == (str(path), 4, reason)


def test_skip_mode_keeps_good_rows_and_records_every_bad_one(tmp_path: Path) -> None:
    kinds = sorted(BAD_ROWS)
    lines = [GOOD.replace(b'"n": 1', f'"n": {i}'.encode()) if i % 2 == 0 else BAD_ROWS[kinds[i // 2]][0]
             for i in range(2 * len(kinds))]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"".join(lines))
    rejects = tmp_path / "rejects.jsonl"
    reader = JsonlReader(path, ("q",), {"q": str, "n": int}, max_row_bytes=100, on_error="skip", rejects=rejects)
    got = list(reader)
    assert [(n, r["n"]) for n, r in got] == [(i + 1, i) for i in range(0, 2 * len(kinds), 2)]
    recs = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [r["line"] for r in recs] == list(range(2, 2 * len(kinds) + 1, 2))
    assert [r["reason"] for r in recs] == [BAD_ROWS[k][1] for k in kinds]
    assert (reader.rows, reader.rejected) == (len(kinds), len(kinds))
    too_long = recs[kinds.index("too_long")]
    assert too_long["bytes"] == len(BAD_ROWS["too_long"][0]) and len(too_long["excerpt"]) < 200


def test_a_row_over_the_limit_streams_past_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.write(GOOD)
        fh.write(b'{"q": "' + b"y" * (24 << 20) + b'"}\n')
        fh.write(GOOD)
    tracemalloc.start()
    try:
        reader = JsonlReader(path, max_row_bytes=1 << 20, on_error="skip")
        rows = list(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [n for n, _ in rows] == [1, 3] and reader.rejected == 1
    assert peak < 8 << 20  # a 24 MiB line read with a 1 MiB limit: a few 1 MiB pieces at a time, never the line


def test_the_limit_is_inclusive_and_counts_bytes_before_the_newline(tmp_path: Path) -> None:
    row = b'{"q": "' + b"z" * 93 + b'"}'
    assert len(row) == 102
    path = tmp_path / "edge.jsonl"
    path.write_bytes(row + b"\n" + row)  # the second has no final newline
    assert len(list(iter_jsonl(path, max_row_bytes=102))) == 2
    with pytest.raises(DataError, match=r"edge\.jsonl:1: row of 102 bytes is over the limit of 101 bytes"):
        list(iter_jsonl(path, max_row_bytes=101))


def test_limit_precedence_explicit_then_command_then_environment_then_default(monkeypatch) -> None:
    monkeypatch.delenv(ENV_MAX_ROW_BYTES, raising=False)
    assert max_row_bytes() == DEFAULT_MAX_ROW_BYTES == 64 * 1024 * 1024
    monkeypatch.setenv(ENV_MAX_ROW_BYTES, "2MiB")
    assert max_row_bytes() == 2 * 1024 * 1024
    with row_byte_limit("3K"):
        assert max_row_bytes() == 3072 and max_row_bytes(10) == 10
    assert max_row_bytes() == 2 * 1024 * 1024
    assert [parse_size(x) for x in ("100", "1k", "1.5M", "2GiB")] == [100, 1024, 1572864, 2 << 30]
    monkeypatch.setenv(ENV_MAX_ROW_BYTES, "lots")
    with pytest.raises(ValueError, match=ENV_MAX_ROW_BYTES):
        max_row_bytes()


def test_empty_file_is_an_error_only_when_rows_are_needed(tmp_path: Path) -> None:
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_bytes(b"")
    blank.write_bytes(b"\n  \n")
    assert read_jsonl(empty) == [] and read_jsonl(blank) == []
    with pytest.raises(DataError, match=r"empty\.jsonl:1: no rows: the file is empty") as info:
        read_jsonl(empty, allow_empty=False)
    assert info.value.reason == "empty"
    with pytest.raises(DataError, match=r"blank\.jsonl:1: no rows: only 2 blank line"):
        read_jsonl(blank, allow_empty=False)


def test_json_semantics_are_the_standard_librarys(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    text = '{"a": NaN, "b": 123456789012345678901234567890, "c": "\\ud800", "d": 1.0000000000000002}\n'
    path.write_text(text)
    [(_, row)] = list(iter_jsonl(path))
    expected = json.loads(text)
    assert row["b"] == expected["b"] and row["c"] == expected["c"] and row["d"] == expected["d"]
    assert row["a"] != row["a"]  # NaN


def test_raw_rows_are_the_bytes_of_the_file(tmp_path: Path) -> None:
    lines = [b'{"q": "\xc3\xa9"}', b'  {"q":"x"}  ', b'{"q": "\\u00e9"}']
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b"\n".join(lines))  # no final newline
    got = list(iter_raw_rows(path))
    assert [raw for _, raw, _ in got] == [line + b"\n" for line in lines]
    assert [row["q"] for _, _, row in got] == ["é", "x", "é"]


def test_excerpt_and_long_messages_are_cut() -> None:
    value = "A" * 80 + "m" * 1_000_000 + "Z" * 80
    cut = excerpt(value)
    assert cut == f"{'A' * 80!r} … {'Z' * 80!r} (1000160 characters)"
    assert excerpt("short") == "'short'" and excerpt(12) == "12"
    err = DataError("f.jsonl", 9, f"bad value {value}", field="q")
    assert len(str(err)) < 800 and str(err).startswith("f.jsonl:9: field 'q': bad value AAAA")
    assert "1000170 characters" in str(err)


def test_read_json_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "doc.json"
    p.write_bytes(b'{\n  "a": 1,\n  "b": \xff\n}\n')
    with pytest.raises(DataError, match=r"doc\.json:3: not valid UTF-8 \(byte 0xff\)"):
        read_json(p)
    p.write_bytes(b'{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(DataError, match=r"doc\.json:4: not valid JSON"):
        read_json(p)
    p.write_bytes(b'{"a": "' + b"x" * 500 + b'"}')
    with pytest.raises(DataError, match=r"doc\.json:1: JSON document of 509 bytes is over the limit of 100"):
        read_json(p, max_bytes=100)
    p.write_bytes(b" \n")
    with pytest.raises(DataError, match="no rows"):
        read_json(p)
    p.write_text('{"a": [1, 2]}')
    assert read_json(p) == {"a": [1, 2]}


def test_output_files_drop_only_a_torn_tail_and_repair_moves_bad_lines_out(tmp_path: Path) -> None:
    out = tmp_path / "responses.jsonl"
    good = [json.dumps({"id": f"r{i}", "text": f"answer {i}"}) for i in range(6)]
    out.write_bytes(("\n".join(good) + "\n").encode() + b'{"id": "r6", "te')
    assert [r["id"] for r in read_output_rows(out)] == [f"r{i}" for i in range(6)]
    damaged = list(good)
    damaged[2] = '{"id": "r2", "text": "ans\xff'  # becomes U+00FF: valid UTF-8, broken JSON
    damaged[4] = "garbage"
    body = "\n".join(damaged).encode("utf-8").replace("\xff".encode(), b"\xff") + b"\n"
    out.write_bytes(body)
    with pytest.raises(CorruptOutputError, match=r"responses\.jsonl:3: output file is corrupt"):
        read_output_rows(out)
    report = repair_output_file(out)
    assert report.bad_lines == [3, 5] and report.bad_ids == ["r2"] and report.kept_lines == 4
    assert [r["id"] for r in read_output_rows(out)] == ["r0", "r1", "r3", "r5"]
    side = [json.loads(x) for x in Path(report.side_file).read_text().splitlines()]
    assert [s["line"] for s in side] == [3, 5]
    # the side file keeps the bytes: lone bytes escaped, reversible
    assert side[0]["raw"].encode("utf-8", "surrogateescape") == body.split(b"\n")[2]
    assert repair_output_file(out).bad_lines == []  # nothing left to repair
