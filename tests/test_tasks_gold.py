"""Every gold answer of GSM8K test and MATH test grades correct in the task format, and a changed one wrong."""

from __future__ import annotations

import pytest

from skymath_tasks import score
from skymath_tasks.data import load_gsm8k, load_math
from skymath_tasks.gold import gsm8k_gold, math_gold


@pytest.fixture(scope="module")
def local_data(shared_data, monkeypatch_module):
    monkeypatch_module.setenv("SKYMATH_DATA_DIR", str(shared_data))
    return shared_data


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_gsm8k_all_1319_golds(local_data) -> None:
    rows = load_gsm8k()
    assert len(rows) == 1319
    bad_right = [r["index"] for r in rows if not score(f"Reasoning...\nThe answer is {r['gold']}", r["gold"], task="gsm8k")]
    assert bad_right == []
    bad_wrong = [
        r["index"]
        for r in rows
        if score(f"Reasoning...\nThe answer is {int(r['gold']) + 1}", r["gold"], task="gsm8k")
    ]
    assert bad_wrong == []


def test_math_all_5000_golds(local_data) -> None:
    rows = load_math()
    assert len(rows) == 5000
    assert {r["level"] for r in rows} == {1, 2, 3, 4, 5}
    bad_right = [r["unique_id"] for r in rows if not score(f"Work.\nThe answer is {r['gold']}", r["gold"], task="math")]
    assert bad_right == []
    # a changed answer: the gold plus one more term can never equal the gold
    bad_wrong = [r["unique_id"] for r in rows if score(f"Work.\nThe answer is {r['gold']}+1", r["gold"], task="math")]
    assert bad_wrong == []


def test_gold_extraction_edge_cases() -> None:
    assert gsm8k_gold("so 1,200 total\n#### 1,200") == "1200"
    assert math_gold("we get $\\boxed{\\frac{1}{2}}$ and not \\boxed{3}? no: \\boxed{\\{1,2\\}}") == "\\{1,2\\}"
    assert math_gold("Thus the answer is $\\boxed 2$.") == "2"
    with pytest.raises(ValueError):
        math_gold("no box")
