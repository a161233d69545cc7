"""The dense side of retrieval: FAISS over L2-normalized vectors (inner product = cosine)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from rag.errors import ConfigError

log = logging.getLogger(__name__)


class VectorStore(Protocol):
    """Nearest-neighbour search over a fixed matrix of vectors."""

    kind: str
    size: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids, each ``(len(queries), k)``; missing results have id -1."""
        ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """A FAISS index: exact (``flat``), graph (``hnsw``) or inverted lists (``ivf``).

    Args:
        index: The FAISS index (inner-product metric).
        kind: ``"flat"``, ``"hnsw"`` or ``"ivf"``.
    """

    def __init__(self, index: faiss.Index, kind: str) -> None:
        self.index: Any = index  # faiss's SWIG types do not know the subclasses' attributes
        self.kind = kind

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        kind: str = "flat",
        *,
        hnsw_m: int = 32,
        hnsw_ef_search: int = 128,
        hnsw_ef_construction: int = 80,
        ivf_nlist: int | None = None,
        ivf_nprobe: int = 16,
    ) -> FaissStore:
        """Index ``vectors`` (float32, rows L2-normalized) with the chosen structure."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        index: Any  # faiss's SWIG types do not know the subclasses' attributes (hnsw, nprobe)
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = hnsw_ef_construction
            index.hnsw.efSearch = hnsw_ef_search
        elif kind == "ivf":
            nlist = ivf_nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            if n:
                index.train(vectors)
            index.nprobe = min(ivf_nprobe, nlist)
        else:
            raise ConfigError(f"vector index kind {kind!r} is not one of flat, hnsw, ivf")
        if n:
            index.add(vectors)
        return cls(index, kind)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size)) if self.size else 1
        if not self.size:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(queries, k)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str) -> FaissStore:
        return cls(faiss.read_index(str(path)), kind)
