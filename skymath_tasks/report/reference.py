"""The paper's published figures (``paper_reference.yaml``), shown as reference rows in our tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REFERENCE_FILE = Path(__file__).with_name("paper_reference.yaml")


@dataclass(frozen=True)
class ReferenceTable:
    key: str
    source: str  # "Table 7"
    what: str
    rows: tuple[dict[str, Any], ...]


@lru_cache(maxsize=None)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def reference_table(key: str, path: str | Path = REFERENCE_FILE) -> ReferenceTable:
    data = _load(str(path))
    if key not in data:
        raise KeyError(f"{path}: no reference table {key!r}")
    t = data[key]
    return ReferenceTable(key, t["source"], t.get("what", ""), tuple(t["rows"]))
