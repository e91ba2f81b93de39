"""Stage 1, round 2: which round-1 synthetic problems become the seeds of the second round.

The paper (section 3, figure 2a): "we first perform data synthesis on the initial seed problems and
then apply the core-set approach to obtain seed synthetic problems. We further perform data synthesis
on these seed synthetic problems". The core-set is a diverse subset that still covers the whole set:
k-center greedy (Sener & Savarese) on sentence embeddings of the round-1 problems, the same code as
``skymath-synth coreset`` (:func:`synth.selection.coreset.k_center_greedy`, :class:`Embedder`).

``second_round.select`` (docs/synth.md, "Round 2"):

* ``coreset``: k-center greedy, ``max_seeds`` rows (or ``fraction`` of the round-1 rows); what the
  shipped configs use;
* ``all`` (or null): every round-1 row, the first ``max_seeds`` when that is set;
* ``package.module:function``: your own ``select(rows, max_seeds) -> rows``.

The choice is recorded (``<stage>/seed_synthetic.jsonl`` and ``seed_synthetic.meta.json``: the digest of
the round-1 row ids, the settings, the coverage radius); a rerun with the same round-1 rows and settings
reads it back instead of choosing again, so round 2 asks exactly the requests already in the cache.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: ``select(rows, max_seeds) -> rows``: which round-1 rows become seeds of round 2.
SelectionHook = Callable[[list[dict[str, Any]], "int | None"], list[dict[str, Any]]]

SELECT_ALL = "all"
SELECT_CORESET = "coreset"
BUILTIN = (SELECT_ALL, SELECT_CORESET)


def load_hook(spec: str | None) -> SelectionHook | None:
    """``package.module:function`` -> the function; the built-in names and None -> None."""
    if spec is None or spec in BUILTIN:
        return None
    if ":" not in spec:
        raise ValueError(f"selection {spec!r}: expected 'coreset', 'all' or 'package.module:function'")
    mod, fn = spec.split(":", 1)
    hook = getattr(importlib.import_module(mod), fn, None)
    if not callable(hook):
        raise ValueError(f"selection hook {spec!r}: {fn} is not a callable in {mod}")
    return hook


def coreset_k(n: int, max_seeds: int | None, fraction: float | None) -> int:
    """Rows the core-set keeps: ``max_seeds``, else ``fraction`` of ``n`` (at least 1), never above ``n``."""
    if max_seeds is not None:
        return min(n, max_seeds)
    if fraction is None:
        raise ValueError("select: coreset needs max_seeds or fraction")
    return min(n, max(1, round(fraction * n)))


def coreset_select(rows: list[dict[str, Any]], k: int, *, embedding_model: str, cache_dir: str | Path | None,
                   seed: int = 0, progress: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``k`` most diverse rows by k-center greedy on embeddings of their ``query`` (input order kept),
    and what the choice covers (coverage radius: the largest distance of a row to its nearest pick)."""
    from synth.selection.coreset import k_center_greedy
    from synth.selection.embeddings import Embedder, EmbeddingConfig

    if k >= len(rows):
        return list(rows), {"k": len(rows), "radius": 0.0}
    texts = [r["query"] for r in rows]
    emb = Embedder(EmbeddingConfig(model=embedding_model, cache_dir=str(cache_dir) if cache_dir else None)).embed(
        texts, progress=progress)
    res = k_center_greedy(emb, k, seed=seed)
    chosen = sorted(int(i) for i in res.indices)
    return [rows[i] for i in chosen], {"k": k, "radius": round(float(res.radii[-1]), 6)}


def rows_digest(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(str(r["id"]).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def seed_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A round-1 row as a round-2 seed. Source, level and subject are the original seed's: a problem
    evolved from a MATH level-5 problem stays findable by ``select-hard``."""
    return {"id": f"syn/{row['id']}", "source": row.get("seed_source"), "problem": row["query"],
            "answer": row.get("answer"), "level": row.get("level"), "subject": row.get("subject"),
            "parent_method": row.get("method")}


def choose(rows: list[dict[str, Any]], *, select: str | None, max_seeds: int | None, fraction: float | None,
           embedding_model: str, cache_dir: Path | None, seed: int, hook: SelectionHook | None = None,
           progress: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Round-1 rows chosen as seeds of round 2, and a description of the choice."""
    info: dict[str, Any] = {"select": select or SELECT_ALL, "round1_rows": len(rows)}
    if hook is not None:
        chosen = list(hook(rows, max_seeds))
    elif select == SELECT_CORESET:
        k = coreset_k(len(rows), max_seeds, fraction)
        chosen, cov = coreset_select(rows, k, embedding_model=embedding_model, cache_dir=cache_dir, seed=seed,
                                     progress=progress)
        info.update(cov, embedding_model=embedding_model, seed=seed)
    else:
        chosen = rows[:max_seeds] if max_seeds is not None else list(rows)
    info["selected"] = len(chosen)
    return chosen, info


def settings_key(select: str | None, max_seeds: int | None, fraction: float | None, embedding_model: str,
                 seed: int, round1: list[dict[str, Any]]) -> dict[str, Any]:
    return {"select": select or SELECT_ALL, "max_seeds": max_seeds, "fraction": fraction,
            "embedding_model": embedding_model if select == SELECT_CORESET else None,
            "seed": seed if select == SELECT_CORESET else None, "round1_digest": rows_digest(round1)}


def load_recorded(seeds_path: Path, meta_path: Path, key: dict[str, Any]) -> tuple[list[dict[str, Any]], dict] | None:
    """The recorded choice when it was made from the same round-1 rows with the same settings."""
    from skymath_tasks.jsonl_io import read_output_rows

    if not (seeds_path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if meta.get("key") != key:
        return None
    seeds = read_output_rows(seeds_path)
    if len(seeds) != meta.get("info", {}).get("selected"):
        return None
    return seeds, meta.get("info", {})


def record(seeds_path: Path, meta_path: Path, seeds: list[dict[str, Any]], key: dict[str, Any],
           info: dict[str, Any]) -> None:
    from skymath_tasks.jsonl_io import write_jsonl

    write_jsonl(seeds_path, seeds)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "info": info}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(meta_path)


__all__ = ["SelectionHook", "SELECT_ALL", "SELECT_CORESET", "load_hook", "choose", "coreset_select", "coreset_k",
           "seed_from_row", "settings_key", "load_recorded", "record"]
