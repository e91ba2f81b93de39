"""N-gram decontamination: what it catches, what it must keep, and that long runs resume and refuse bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from skymath_tasks.jsonl_io import DataError
from synth.selection.decontam import (
    BaselineSetMatcher,
    BenchmarkSpec,
    DecontamConfig,
    Matcher,
    NgramIndex,
    builtin_benchmark,
    decontaminate_file,
    tokenize,
)

FIG9_PHRASE = "Let $x$ and $y$ be nonzero real numbers such that"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture(scope="module")
def real_index_30(shared_data: Path) -> NgramIndex:
    return NgramIndex([builtin_benchmark("gsm8k", shared_data), builtin_benchmark("math", shared_data)], n=30)


def _math_test(shared_data: Path) -> list[dict]:
    return [json.loads(line) for line in (shared_data / "math" / "test.jsonl").open()]


def test_planted_test_problem_is_caught_at_30_with_its_benchmark_id(shared_data: Path, real_index_30, tmp_path):
    test = _math_test(shared_data)
    target = next(r for r in test if len(r["problem"].split()) >= 45)
    planted = (
        "We can reason about this in a familiar way. Consider the following. "
        + target["problem"]
        + " Multiply both sides by three and simplify.\nThe answer is 7"
    )
    rows = [
        {"id": "clean", "query": "What is 17 times 23?", "response": "17 * 23 = 391.\nThe answer is 391"},
        {"id": "planted", "query": "Solve a new problem about apples.", "response": planted},
    ]
    inp = _write(tmp_path / "in.jsonl", rows)
    stats = decontaminate_file(inp, real_index_30, tmp_path / "kept.jsonl", tmp_path / "removed.jsonl",
                               DecontamConfig(id_field="id"), progress=False)
    assert (stats.rows, stats.kept, stats.removed) == (2, 1, 1)
    assert json.loads(_lines(tmp_path / "kept.jsonl")[0])["id"] == "clean"
    removed = json.loads(_lines(tmp_path / "removed.jsonl")[0])
    assert removed["id"] == "planted" and removed["line"] == 2
    assert removed["reason"] == "ngram" and removed["benchmark"] == "math"
    assert removed["benchmark_id"] == target["unique_id"]
    assert removed["row_field"] == "response"
    assert len(removed["text"].split()) == 30 and removed["text"] in " ".join(tokenize(target["problem"]))
    assert stats.by_benchmark == {"math": 1} and stats.items_hit == {"math": 1}


def test_figure9_common_phrase_kept_at_30_caught_at_10(shared_data: Path, real_index_30):
    """The paper's figure 9: a shared 10-word condition is no evidence of contamination."""
    assert FIG9_PHRASE in (shared_data / "math" / "test.jsonl").read_text()
    row = [("query", FIG9_PHRASE + " $x + y = 7$ and the quantity $x^3 y^3$ equals zebra-count. "
            "Compute the zebra-count when every orchard sells marmalade.")]
    assert Matcher(real_index_30).match_batch([row]) == [None]
    index_10 = NgramIndex([builtin_benchmark("math", shared_data)], n=10)
    (m,) = Matcher(index_10).match_batch([row])
    assert m is not None and m.reason == "ngram"
    assert m.text == " ".join(tokenize(FIG9_PHRASE))  # exactly the 10-word condition


def test_short_problem_exact_match_after_normalisation(tmp_path):
    bench = _write(tmp_path / "bench.jsonl", [
        {"problem": "Compute $\\dbinom{8}{4}$.", "uid": "short-1"},
        {"problem": "What is the sum of the first five primes?", "uid": "short-2"},
    ])
    spec = BenchmarkSpec.parse(f"tiny={bench}:problem@uid")
    index = NgramIndex([spec], n=30)
    assert len(index.hashes) == 0  # no problem has 30 tokens: the n-gram filter alone would catch nothing
    rows = [
        [("query", "  COMPUTE   $\\dbinom{8}{4}$.\n")],  # same problem, other case and spacing
        [("query", "Compute $\\dbinom{8}{5}$.")],  # a different problem
        [("query", "What is the sum of the first five primes? Then double it.")],  # longer: not the same problem
    ]
    res = Matcher(index).match_batch(rows)
    assert res[0] is not None and res[0].reason == "exact" and res[0].benchmark_id == "short-1"
    assert res[1] is None and res[2] is None
    assert Matcher(index, exact_match=False).match_batch(rows[:1]) == [None]


def test_lmeval_normalisation_ignores_punctuation(tmp_path):
    words = " ".join(f"word{i}" for i in range(40))
    bench = _write(tmp_path / "b.jsonl", [{"q": words}])
    punctuated = " ".join(f"Word{i}," if i % 3 == 0 else f"word{i}" for i in range(40))
    spec = BenchmarkSpec.parse(f"b={bench}:q")
    assert Matcher(NgramIndex([spec], n=30, normalization="llemma")).match_batch([[("r", punctuated)]]) == [None]
    (m,) = Matcher(NgramIndex([spec], n=30, normalization="lmeval")).match_batch([[("r", punctuated)]])
    assert m is not None and m.benchmark_id == "1" and m.benchmark_ids == ["b:1"]  # no id field: the line


def test_fast_matcher_agrees_with_plain_set_baseline(shared_data: Path, real_index_30):
    """Same verdict as the obvious set-of-strings implementation on real MATH train text (many true hits)."""
    train = [json.loads(line) for line in (shared_data / "math" / "train.jsonl").open()]
    rows = [[("query", r["problem"]), ("response", r["solution"])] for r in random.Random(1).sample(train, 1500)]
    fast = [m is not None for m in Matcher(real_index_30).match_batch(rows)]
    base = BaselineSetMatcher(real_index_30)
    slow = [base.is_contaminated(r) for r in rows]
    assert fast == slow
    assert 5 < sum(fast) < 200  # MATH train shares boilerplate (Asymptote axes, unit-circle text) with test


def _resume_fixture(tmp_path: Path) -> tuple[Path, NgramIndex]:
    long_problem = " ".join(f"tok{i}" for i in range(60))
    bench = _write(tmp_path / "bench.jsonl", [{"problem": long_problem}, {"problem": "Tiny problem here."}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:problem")], n=30)
    rows = []
    for i in range(200):
        if i % 17 == 0:
            text = "intro " + long_problem
        elif i % 29 == 0:
            text = "tiny problem HERE."
        else:
            text = f"a clean row number {i} with some words"
        rows.append({"id": i, "query": text, "response": "ok"})
    return _write(tmp_path / "in.jsonl", rows), index


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    inp, index = _resume_fixture(tmp_path)
    cfg = DecontamConfig(batch_rows=16, id_field="id")
    full = decontaminate_file(inp, index, tmp_path / "full.jsonl", tmp_path / "full.removed.jsonl", cfg, progress=False)
    part = decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False, max_batches=3)
    assert part.rows == 48
    with open(tmp_path / "k.jsonl", "a") as fh:  # a torn write after the last checkpoint
        fh.write('{"id": 999, "query": "half a li')
    resumed = decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False)
    assert (tmp_path / "k.jsonl").read_bytes() == (tmp_path / "full.jsonl").read_bytes()
    assert (tmp_path / "r.jsonl").read_bytes() == (tmp_path / "full.removed.jsonl").read_bytes()
    assert (resumed.rows, resumed.removed) == (full.rows, full.removed) == (200, 12 + 6)
    assert resumed.by_reason == {"ngram": 12, "exact": 6}
    # a finished run is not redone; a run with other settings refuses to mix into these files
    again = decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False)
    assert again.rows == 200
    other = NgramIndex(index.specs, n=20)
    with pytest.raises(ValueError, match="different input"):
        decontaminate_file(inp, other, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False)


def test_two_workers_give_identical_output(tmp_path):
    inp, index = _resume_fixture(tmp_path)
    cfg1 = DecontamConfig(batch_rows=8)
    cfg2 = DecontamConfig(batch_rows=8, workers=2)
    decontaminate_file(inp, index, tmp_path / "a.jsonl", tmp_path / "a.rem.jsonl", cfg1, progress=False)
    decontaminate_file(inp, index, tmp_path / "b.jsonl", tmp_path / "b.rem.jsonl", cfg2, progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.rem.jsonl").read_bytes() == (tmp_path / "b.rem.jsonl").read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_input_names_file_and_line(tmp_path, workers):
    _, index = _resume_fixture(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "fine"}\n\n{"query": "also fine"}\n{"query": broken}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:4: not valid JSON"):
        decontaminate_file(bad, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl",
                           DecontamConfig(workers=workers), progress=False)
    wrong_type = _write(tmp_path / "wt.jsonl", [{"query": "x"}, {"query": 5}])
    with pytest.raises(DataError, match=r"wt\.jsonl:2: field 'query': expected str"):
        decontaminate_file(wrong_type, index, tmp_path / "k2.jsonl", tmp_path / "r2.jsonl",
                           DecontamConfig(text_fields=("query",), workers=workers), progress=False)
    bad_bench = tmp_path / "bb.jsonl"
    bad_bench.write_text('{"problem": "ok"}\n{"solution": "no problem field"}\n')
    with pytest.raises(DataError, match=r"bb\.jsonl:2: field 'problem': missing"):
        NgramIndex([BenchmarkSpec.parse(f"x={bad_bench}:problem")])


def test_existing_output_without_state_is_not_clobbered(tmp_path):
    inp, index = _resume_fixture(tmp_path)
    (tmp_path / "k.jsonl").write_text("precious\n")
    with pytest.raises(FileExistsError):
        decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", progress=False)
    assert (tmp_path / "k.jsonl").read_text() == "precious\n"


def test_unicode_whitespace_and_bad_utf8(tmp_path):
    """The vectorised byte tokenizer splits exactly like str.split(), non-ASCII whitespace included."""
    words = [f"w{i}" for i in range(35)]
    bench = _write(tmp_path / "b.jsonl", [{"q": " ".join(words)}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:q")], n=30)
    spaced = "\u00a0".join(words[:10]) + "\u3000" + "\u2009".join(words[10:]) + "\x1c end"
    assert tokenize(spaced) == [w.lower() for w in spaced.split()]
    (m,) = Matcher(index).match_batch([[("r", "Ünïcode intro " + spaced)]])
    assert m is not None and m.text == " ".join(words[:30])
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"q": "fine"}\n{"q": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid UTF-8"):
        decontaminate_file(bad, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", progress=False)
