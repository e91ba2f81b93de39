"""Dedup gives the same bytes in every process: no Python ``hash()`` (PYTHONHASHSEED) in what it keeps.

The input is built so that many pairs sit near the similarity threshold: with the old per-process
token hash, ``skymath-synth dedup`` kept 270 / 271 / 269 of these 300 rows under PYTHONHASHSEED 1 / 2 / 3.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from synth.selection.dedup import shingle_hashes

REPO = Path(__file__).resolve().parents[1]


def _near_duplicates(path: Path, rows: int = 300) -> Path:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(60)]
    bases = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(30)]
    with open(path, "w") as fh:
        for i in range(rows):
            toks = rng.choice(bases).split()
            for _ in range(rng.randint(0, 6)):  # a few substitutions: similarities scattered around 0.8
                toks[rng.randrange(len(toks))] = rng.choice(words)
            fh.write(json.dumps({"id": i, "query": " ".join(toks)}) + "\n")
    return path


def test_dedup_output_is_byte_identical_under_any_hash_seed(tmp_path):
    inp = _near_duplicates(tmp_path / "in.jsonl")
    outputs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"dedup{seed}.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "synth.cli", "dedup", str(inp), "-o", str(out), "--no-progress"],
            cwd=REPO, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append((out.read_bytes(), Path(f"{out}.removed.jsonl").read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    kept = outputs[0][0].count(b"\n")
    assert 200 < kept < 300  # the file really has near-duplicates, and not everything is one


def test_shingle_hashes_do_not_depend_on_the_process(tmp_path):
    text = "Find all real x such that x^2 - 5x + 6 = 0, then add the roots."
    code = ("import sys; sys.path.insert(0, %r); from synth.selection.dedup import shingle_hashes; "
            "print(shingle_hashes(%r, 3).tolist())") % (str(REPO), text)
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": s},
                           capture_output=True, text=True, check=True).stdout for s in ("1", "7")}
    assert seen == {f"{shingle_hashes(text, 3).tolist()}\n"}
    # case and spacing are normalised away, a changed word is not
    assert shingle_hashes(text.upper().replace(" ", "  "), 3).tolist() == shingle_hashes(text, 3).tolist()
    assert shingle_hashes(text.replace("roots", "squares"), 3).tolist() != shingle_hashes(text, 3).tolist()
