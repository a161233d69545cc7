"""The vector-store protocol and the one registry of stores.

A store keeps an index build's dense vectors (one row per chunk and one per sentence) and its
lexical side, and searches them. A new store is one class that implements ``StoreBackend`` and one
line in ``STORES``; nothing else names a store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.config import Settings

#: Store name -> ``"module:Class"``, imported only when the store is used (``pymilvus`` is an optional extra).
STORES: dict[str, str] = {
    "faiss": "rag.index.faiss_store:FaissStore",
    "milvus": "rag.index.milvus_store:MilvusStore",
}


class VectorStore(Protocol):
    """Nearest-neighbour search over one level (chunks or sentences) of an index build."""

    kind: str

    @property
    def size(self) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids, each ``(len(queries), <= k)``; missing results have id -1.

        With ``doc_ids``, only rows of those documents are searched.
        """
        ...


#: The engine's own fusion of dense passage search and keyword search (Milvus's hybrid search with its RRF
#: ranker): ``(query_vector, query_text, k, rrf_k, doc_ids) -> [(chunk row, fused score), ...]``, best first.
HybridSearch = Callable[[np.ndarray, str, int, int, "Sequence[str] | None"], list[tuple[int, float]]]


class LexicalStore(Protocol):
    """Keyword search over the chunks (BM25 over the analyzer's terms)."""

    @property
    def size(self) -> int: ...

    def search(self, query: str, k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) pairs with a positive score, best first."""
        ...


@dataclass(frozen=True)
class Rows:
    """What a store knows about its rows: a key that survives rebuilds and the document of each row.

    Example: ``Rows(["a.txt#0"], ["a.txt"]).rows_of_docs(["a.txt"]).tolist() == [0]``
    """

    keys: list[str]
    docs: list[str]

    def rows_of_docs(self, doc_ids: Sequence[str]) -> np.ndarray:
        wanted = set(doc_ids)
        return np.array([i for i, d in enumerate(self.docs) if d in wanted], dtype=np.int64)


@dataclass
class StoreData:
    """Everything a build hands to a store.

    Attributes:
        chunk_vectors: ``(n_chunks, dim)`` L2-normalized.
        chunks: Key and document of each chunk row.
        chunk_texts: Each chunk's text (for the lexical side).
        sentence_vectors: ``(n_sentences, dim)`` L2-normalized.
        sentences: Key and document of each sentence row.
        changed_docs: Documents that are new or changed since the live build; None when everything
            is new (a first build or a rebuild).
        removed_docs: Documents of the live build that are gone.
    """

    chunk_vectors: np.ndarray
    chunks: Rows
    chunk_texts: list[str]
    sentence_vectors: np.ndarray
    sentences: Rows
    changed_docs: set[str] | None = None
    removed_docs: set[str] = field(default_factory=set)


@dataclass
class Stores:
    """The stores of one index build, and how to persist and publish them.

    Attributes:
        name: The registry name of the store (``"faiss"``, ``"milvus"``).
        chunks: Dense search over chunk vectors.
        sentences: Dense search over sentence vectors.
        lexical: Keyword search over chunk texts.
        save: Writes what loading needs into a build folder (before it goes live).
        commit: Makes the new build live in the store, called right after ``CURRENT`` moved to it.
        abort: Undoes a build that will not go live.
        info: Recorded in the manifest as ``store``.
        hybrid: Dense and keyword search fused in the engine, in one request; None when the store has no such
            search (FAISS: the retriever fuses in process).
    """

    name: str
    chunks: VectorStore
    sentences: VectorStore
    lexical: LexicalStore
    save: Callable[[Path], None]
    commit: Callable[[], None] = lambda: None
    abort: Callable[[], None] = lambda: None
    info: dict[str, Any] = field(default_factory=dict)
    hybrid: HybridSearch | None = None


class StoreBackend(Protocol):
    """What a class in ``STORES`` provides."""

    @classmethod
    def build_stores(cls, data: StoreData, settings: Settings, previous: dict[str, Any] | None) -> Stores:
        """Write the build's rows; ``previous`` is the live build's manifest when ``data`` is incremental."""
        ...

    @classmethod
    def open_stores(
        cls, build: Path, manifest: dict[str, Any], settings: Settings | None, chunks: Rows, sentences: Rows
    ) -> Stores:
        """Open the stores of a saved build."""
        ...


def store_class(name: str) -> type[StoreBackend]:
    """The class registered as ``name`` in ``STORES``, imported on first use.

    Example: ``store_class("faiss").__name__ == "FaissStore"``

    Raises:
        ConfigError: ``name`` is not registered, or its optional package is not installed.
    """
    if name not in STORES:
        raise ConfigError(f"vector store {name!r} is not one of {', '.join(STORES)}")
    module, _, attr = STORES[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise ConfigError(
            f"vector store {name!r} needs a package that is not installed ({e}); "
            f'install it with: pip install -e ".[{name}]"'
        ) from e


def make_stores(name: str, data: StoreData, settings: Settings, previous: dict[str, Any] | None = None) -> Stores:
    """Build the stores of a new index build with the store called ``name``."""
    return store_class(name).build_stores(data, settings, previous)


def load_stores(
    build: Path, manifest: dict[str, Any], settings: Settings | None, chunks: Rows, sentences: Rows
) -> Stores:
    """Open the stores of a saved build with the store its manifest names (``faiss`` for older builds)."""
    name = (manifest.get("store") or {}).get("name", "faiss")
    return store_class(name).open_stores(build, manifest, settings, chunks, sentences)
