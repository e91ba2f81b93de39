"""The paper's figures in paper_reference.yaml are the published ones, row by row.

Checked against the paper's text (../shared/seeds/skywork-math-paper.md) when it is present: every
reference row, written the way the paper prints it, must occur in the text of the table it cites.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skymath_tasks.report.reference import reference_table

TABLE_FIELDS = {
    "table1": ["gsm8k", "math"],
    "table2": [f"level_{k}" for k in range(1, 6)],
    "table6": ["gsm8k_en", "gsm8k_zh", "math_en", "math_zh"],
    "table7": [f"d{k}" for k in range(6)],
    "table12": ["algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                "prealgebra", "precalculus"],
}
EXPECTED_ROWS = {"table1": 3, "table2": 13, "table6": 6, "table7": 11, "table12": 12}


@pytest.fixture(scope="module")
def paper(shared_data: Path) -> str:
    path = shared_data.parent / "seeds" / "skywork-math-paper.md"
    if not path.is_file():
        pytest.skip(f"paper text not found at {path}")
    return path.read_text(encoding="utf-8")


def _caption_block(paper: str, source: str) -> str:
    """The table body: the text between the previous heading/caption and ``Table N:``."""
    end = paper.index(f"\n{source}:")
    start = max(paper.rfind("\nTable ", 0, end), paper.rfind("\n#", 0, end))
    return paper[start:end]


def _num(v: float, printed: str) -> bool:
    return abs(float(printed) - v) < 1e-9


@pytest.mark.parametrize("key", sorted(TABLE_FIELDS))
def test_reference_rows_occur_in_the_paper_table(paper: str, key: str) -> None:
    ref = reference_table(key)
    assert len(ref.rows) == EXPECTED_ROWS[key]
    block = _caption_block(paper, ref.source)
    for row in ref.rows:
        values = [row[f] for f in TABLE_FIELDS[key]]
        # the values, in order, as the paper prints them (any number of decimals), separated by spaces
        pattern = r"\s+".join(r"(\d+\.\d+)" for _ in values)
        found = [m for m in re.finditer(pattern, block) if all(_num(v, p) for v, p in zip(values, m.groups()))]
        assert found, f"{ref.source}: {row} not found in the paper's table"
        # and the run of numbers directly follows the row's own label (model and SFT data), not another row's
        name = _squash(row["model"].replace("Skywork-Math-", "").removesuffix("-7B"))
        sft = _squash(row.get("sft_data", "-")) if key != "table1" else "-"
        labels = [_squash(_label_before(block, m.start())) for m in found]
        assert any(name in lab and (sft == "-" or sft in lab) for lab in labels), f"{ref.source}: {row} vs {labels}"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _label_before(block: str, pos: int) -> str:
    """Text between the previous row's last figure and ``pos`` (figures are followed by whitespace)."""
    ends = [m.end() for m in re.finditer(r"\d+\.\d+(?=\s)", block[:pos])]
    return block[ends[-1] if ends else 0 : pos]


def test_every_reference_value_is_a_percentage() -> None:
    for key, fields in TABLE_FIELDS.items():
        for row in reference_table(key).rows:
            assert all(0 <= row[f] <= 100 for f in fields), (key, row)
