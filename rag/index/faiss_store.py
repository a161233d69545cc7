"""The dense side of retrieval: FAISS over L2-normalized vectors (inner product = cosine)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from rag.errors import ConfigError
from rag.index.bm25 import BM25Index
from rag.index.vector_store import Rows, StoreData, Stores

if TYPE_CHECKING:
    from rag.config import Settings

log = logging.getLogger(__name__)

#: The build folder's files for each level.
FILES = {"chunks": "faiss.index", "sentences": "sentences.faiss.index"}


def ivf_list_count(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest 2·√n, with at least 39 training vectors a list.

    A power of two near 2·√n keeps k-means training within minutes at 1M vectors on 2 cores
    (2048 lists), and FAISS wants 39 training points per list.

    Example: ``ivf_list_count(1_000_000) == 2048``
    """
    if n < 1:
        return 1
    return max(1, min(n // 39, 2 ** round(math.log2(2 * math.sqrt(n)))))


class FaissStore:
    """A FAISS index: exact (``flat``), graph (``hnsw``) or inverted lists (``ivf``).

    Args:
        index: The FAISS index (inner-product metric).
        kind: ``"flat"``, ``"hnsw"`` or ``"ivf"``.
        rows: Key and document of each row, for ``search(..., doc_ids=...)``.
    """

    def __init__(self, index: faiss.Index, kind: str, rows: Rows | None = None) -> None:
        self.index: Any = index  # faiss's SWIG types do not know the subclasses' attributes
        self.kind = kind
        self.rows = rows

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
            nlist = ivf_nlist or ivf_list_count(n)
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

    def search(
        self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids, each ``(len(queries), <= k)``; with ``doc_ids``, only those documents' rows."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        params = None
        if doc_ids is not None:
            if self.rows is None:
                raise ConfigError("this FAISS store was opened without its rows' documents; cannot filter by document")
            allowed = self.rows.rows_of_docs(doc_ids)
            if not len(allowed):
                return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
            params = _search_params(self.index, faiss.IDSelectorBatch(allowed))
        k = max(1, min(k, self.size)) if self.size else 1
        if not self.size:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if params is None:
            return self.index.search(queries, k)
        return self.index.search(queries, k, params=params)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, rows: Rows | None = None) -> FaissStore:
        return cls(faiss.read_index(str(path)), kind, rows)

    # --- the StoreBackend side (see rag.index.vector_store) --------------------------------
    @classmethod
    def build_stores(cls, data: StoreData, settings: Settings, previous: dict[str, Any] | None = None) -> Stores:
        """FAISS over both levels and a local BM25, built whole (FAISS has no cheap per-document delete)."""
        ann: dict[str, Any] = dict(hnsw_m=settings.hnsw_m, hnsw_ef_search=settings.hnsw_ef_search,
                                   ivf_nlist=settings.ivf_nlist, ivf_nprobe=settings.ivf_nprobe)
        chunks = cls.build(data.chunk_vectors, settings.ann, **ann)
        chunks.rows = data.chunks
        sentences = cls.build(data.sentence_vectors, settings.ann, **ann)
        sentences.rows = data.sentences
        lexical = LocalBM25(BM25Index.build(data.chunk_texts), data.chunks)
        return cls._stores(chunks, sentences, lexical)

    @classmethod
    def open_stores(
        cls, build: Path, manifest: dict[str, Any], settings: Settings | None, chunks: Rows, sentences: Rows
    ) -> Stores:
        kind = manifest["ann"]["kind"]
        return cls._stores(
            cls.load(build / FILES["chunks"], kind, chunks),
            cls.load(build / FILES["sentences"], kind, sentences),
            LocalBM25(BM25Index.load(build / "bm25"), chunks),
        )

    @classmethod
    def _stores(cls, chunks: FaissStore, sentences: FaissStore, lexical: LocalBM25) -> Stores:
        def save(folder: Path) -> None:
            chunks.save(folder / FILES["chunks"])
            sentences.save(folder / FILES["sentences"])
            (folder / "bm25").mkdir()
            lexical.bm25.save(folder / "bm25")

        return Stores("faiss", chunks, sentences, lexical, save, info={"name": "faiss"})


class LocalBM25:
    """The in-process BM25 (``rag.index.bm25``) as a ``LexicalStore`` that can filter by document."""

    def __init__(self, bm25: BM25Index, rows: Rows) -> None:
        self.bm25 = bm25
        self.rows = rows

    @property
    def size(self) -> int:
        return self.bm25.size

    @property
    def vocabulary(self) -> dict[str, int]:
        return self.bm25.vocabulary

    def search(self, query: str, k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) pairs with a positive score, best first."""
        rows = None if doc_ids is None else self.rows.rows_of_docs(doc_ids)
        return self.bm25.search(query, k, rows)


def _search_params(index: faiss.Index, selector: faiss.IDSelector) -> Any:
    # faiss's SWIG types list neither these classes nor their keyword arguments.
    params: Any = faiss
    if isinstance(index, faiss.IndexHNSW):
        return params.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    if isinstance(index, faiss.IndexIVF):
        return params.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    return params.SearchParameters(sel=selector)
