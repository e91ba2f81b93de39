"""The sha256 pins of the official test sets (skymath_tasks.benchmarks) are what they claim to be.

Oracles, none of them the code that uses the pins: ``hashlib`` over the shared data files, the sha256
prefixes printed in the shared data's own README, and the files ``skymath-synth distractors`` writes
(its command line, default seed). The document pins are recomputed through lm-eval's task loader.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_official_file_pin_is_the_shared_data_file(shared_data) -> None:
    from skymath_tasks.benchmarks import FILE_PINS, PACKAGE_ROOT

    checked = 0
    for rel, pin in FILE_PINS.items():
        path = PACKAGE_ROOT / rel[len("package:"):] if rel.startswith("package:") else shared_data / rel
        if path.is_file():
            assert _sha(path) == pin, rel
            checked += 1
    assert checked >= 9  # every test set of the shared folder, plus the packaged demo set


def test_file_pins_agree_with_the_shared_data_readme(shared_data) -> None:
    """The README of the shared folder lists the first 16 hex digits of the main files' sha256."""
    from skymath_tasks.benchmarks import FILE_PINS

    readme = (shared_data / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"([a-z0-9_/]+) ([0-9a-f]{16})\b", readme.split("sha256 (first 16 hex)", 1)[1]))
    by_stem = {Path(rel).with_suffix("").as_posix(): pin for rel, pin in FILE_PINS.items()}
    by_name = {Path(rel).stem: pin for rel, pin in FILE_PINS.items()}
    assert len(listed) >= 8, listed
    for name, prefix in listed.items():
        pin = by_stem.get(name) or by_name.get(name)
        assert pin is not None and pin.startswith(prefix), (name, prefix)


def test_distractor_pins_are_the_bytes_skymath_synth_distractors_writes(shared_data, tmp_path) -> None:
    from skymath_tasks.benchmarks import DISTRACTOR_FILE, DISTRACTOR_LEVELS, FILE_PINS
    from synth.cli import main

    assert main(["distractors", "--data-dir", str(shared_data), "--output-dir", str(tmp_path), "--no-progress"]) == 0
    for k in DISTRACTOR_LEVELS:
        rel = DISTRACTOR_FILE.format(k=k)
        assert _sha(tmp_path / rel) == FILE_PINS[rel], rel


def test_every_task_is_pinned_except_the_ones_without_an_official_set() -> None:
    from skymath_tasks.benchmarks import TASKS, benchmark

    unpinned = sorted(t for t, td in TASKS.items() if benchmark(td.benchmark).sha256 is None)
    assert unpinned == sorted(t for t in TASKS if t.startswith("skymath_math_zh")), unpinned
    for t, td in TASKS.items():
        assert (td.documents_sha256 is None) == (benchmark(td.benchmark).sha256 is None), t


@pytest.mark.slow
def test_document_pins_are_the_documents_lm_eval_loads_from_the_official_files(shared_data) -> None:
    from skymath_tasks.benchmarks import DOCUMENT_PINS, documents_sha256
    from skymath_tasks.report.verify import TaskDocuments

    docs = TaskDocuments(shared_data)
    for task, pin in DOCUMENT_PINS.items():
        assert documents_sha256(docs.load(task)[1]) == pin, task


def test_document_pin_sees_gold_level_and_order_but_not_other_fields() -> None:
    from skymath_tasks.benchmarks import documents_sha256

    docs = [{"problem": "1+1?", "gold": "2", "level": 1, "subject": "algebra", "unique_id": "a"},
            {"problem": "2+2?", "gold": "4", "level": 2, "subject": "algebra", "unique_id": "b"}]
    base = documents_sha256(docs)
    assert documents_sha256([dict(docs[0], unique_id="z"), docs[1]]) == base  # a Hub copy without unique_id
    assert documents_sha256([dict(docs[0], gold="3"), docs[1]]) != base
    assert documents_sha256([dict(docs[0], level=5), docs[1]]) != base
    assert documents_sha256(docs[::-1]) != base
