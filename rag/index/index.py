"""A loaded index build: documents, chunks, vectors, the vector stores and the lexical store.

A build folder holds ``manifest.json``, ``documents.jsonl``, ``chunks.jsonl``, ``vectors.npy``,
``sentence_vectors.npy``, ``sentence_rows.json``, ``vocab.json``, ``vocab_vectors.npy``, ``words.json``,
``profile.json`` (the corpus profile; once fitted, also its copy ``profile.calibrated.json``) and what its store
writes (FAISS: ``faiss.index``, ``sentences.faiss.index`` and ``bm25/``; Milvus: ``milvus.json``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embed.embedder import model_fingerprint
from rag.errors import IndexMismatchError
from rag.index.manifest import (
    file_checksums,
    index_settings,
    live_build,
    manifest_differences,
    read_manifest,
    write_atomic,
)
from rag.index.vector_store import HybridSearch, LexicalStore, Rows, Stores, VectorStore, load_stores
from rag.profile import PROFILE_FILE, Profile
from rag.types import Chunk, Document

log = logging.getLogger(__name__)


def chunk_rows(chunks: list[Chunk]) -> Rows:
    """Store keys (the chunk ids) and documents of the chunk rows.

    Example: ``chunk_rows([])`` == ``Rows([], [])``
    """
    return Rows([c.chunk_id for c in chunks], [c.doc_id for c in chunks])


def sentence_keys(chunks: list[Chunk], sentence_rows: list[list[int]], n_sentences: int) -> Rows:
    """Store keys (``doc_id:start-end``) and documents of the sentence rows.

    Example: ``sentence_keys([], [], 0)`` == ``Rows([], [])``
    """
    keys = [""] * n_sentences
    docs = [""] * n_sentences
    for chunk, rows in zip(chunks, sentence_rows, strict=True):
        for (a, b), row in zip(chunk.sentences, rows, strict=True):
            keys[row] = f"{chunk.doc_id}:{a}-{b}"
            docs[row] = chunk.doc_id
    return Rows(keys, docs)


class Index:
    """A loaded index: the documents, their chunks, the vectors and the stores that search them."""

    def __init__(
        self,
        documents: dict[str, Document],
        chunks: list[Chunk],
        vectors: np.ndarray,
        stores: Stores | None,
        manifest: dict[str, Any],
        sentence_vectors: np.ndarray,
        sentence_rows: list[list[int]],
        vocab: list[str],
        vocab_vectors: np.ndarray,
        profile: Profile | None = None,
        words: list[str] | None = None,
    ) -> None:
        self.documents = documents
        self.chunks = chunks
        self.vectors = vectors
        self.stores = stores
        self.manifest = manifest
        # Each chunk sentence's embedding (row of sentence_vectors), for picking the quote.
        self.sentence_vectors = sentence_vectors
        self.sentence_rows = sentence_rows
        # Arabic words of the corpus and their embeddings (see rag.retrieve.bridge).
        self.vocab = vocab
        self.vocab_vectors = vocab_vectors
        # The corpus's tuned numbers and example questions, saved beside the data (see rag.profile).
        self.profile = profile or Profile()
        # Every Arabic word of the corpus (transliteration looks names up here); ``vocab`` is the
        # bounded part of it that is embedded for bridging (rag.retrieve.bridge.bridging_vocabulary).
        self.words = words if words is not None else vocab
        self.sentence_chunk = np.zeros(len(sentence_vectors), dtype=np.int64)
        for row in reversed(range(len(sentence_rows))):
            self.sentence_chunk[sentence_rows[row]] = row

    @property
    def _stores(self) -> Stores:
        assert self.stores is not None, "an Index searches only once its stores are built or loaded"
        return self.stores

    @property
    def store(self) -> VectorStore:
        """Dense search over chunk vectors."""
        return self._stores.chunks

    @property
    def sentence_store(self) -> VectorStore:
        """Dense search over sentence vectors: retrieval scores a passage by its best sentence."""
        return self._stores.sentences

    @property
    def bm25(self) -> LexicalStore:
        """Keyword search over chunk texts (local BM25, or sparse vectors in the store)."""
        return self._stores.lexical

    @property
    def hybrid(self) -> HybridSearch | None:
        """Dense passage and keyword search fused by the store's engine in one request, if it can."""
        return self._stores.hybrid

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def save(self, folder: Path) -> Path:
        """Write a new build under ``folder`` and make it live atomically; returns the build folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        build = folder / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = folder / f".tmp-{build.name}"
        tmp.mkdir()
        try:
            with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
                for doc in self.documents.values():
                    f.write(json.dumps(doc.__dict__, ensure_ascii=False) + "\n")
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
                for chunk in self.chunks:
                    f.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", self.vectors)
            np.save(tmp / "sentence_vectors.npy", self.sentence_vectors)
            (tmp / "sentence_rows.json").write_text(json.dumps(self.sentence_rows))
            self._stores.save(tmp)
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
            np.save(tmp / "vocab_vectors.npy", self.vocab_vectors)
            self.profile.save_in_build(tmp)  # profile.json, and its calibrated copy when it is fitted
            (tmp / "words.json").write_text(json.dumps(self.words, ensure_ascii=False))
            # The manifest goes last: a build folder without one is incomplete by definition.
            # It records every other file's size and checksum (see manifest.verify_build).
            self.manifest = {**self.manifest, "files": file_checksums(tmp)}
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2))
            os.replace(tmp, build)
            write_atomic(folder / "CURRENT", build.name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            self._stores.abort()
            raise
        self._stores.commit()
        for old in folder.glob("build-*"):
            if old != build:
                shutil.rmtree(old, ignore_errors=True)
        for stale in folder.glob(".tmp-build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return build

    @classmethod
    def load(cls, folder: Path, settings: Settings | None = None, *, open_stores: bool = True) -> Index:
        """Load the live build; with ``settings``, check it was built with matching ones.

        With ``open_stores=False`` only the files are read (documents, chunks, vectors): enough to
        reuse a build's embeddings, not to search it (``stores`` is then None).

        Raises:
            IndexNotFoundError: there is no index in ``folder``.
            IndexMismatchError: the index was built with other settings, or is damaged.
        """
        build = live_build(folder)
        manifest = read_manifest(folder)
        if settings is not None:
            expected = index_settings(settings, model_fingerprint(settings))
            diffs = manifest_differences(manifest, expected)
            if diffs:
                raise IndexMismatchError(
                    f"the index in {folder} was built with other settings:\n  - "
                    + "\n  - ".join(diffs)
                    + f"\nRebuild it with: rag index --rebuild --index-dir {folder}"
                )
        try:
            documents = {}
            with open(build / "documents.jsonl", encoding="utf-8") as f:
                for line in f:
                    d = json.loads(line)
                    documents[d["doc_id"]] = Document(**d)
            with open(build / "chunks.jsonl", encoding="utf-8") as f:
                chunks = [Chunk.from_dict(json.loads(line)) for line in f]
            vectors = np.load(build / "vectors.npy")
            sentence_vectors = np.load(build / "sentence_vectors.npy")
            sentence_rows = json.loads((build / "sentence_rows.json").read_text())
            vocab = json.loads((build / "vocab.json").read_text(encoding="utf-8"))
            vocab_vectors = np.load(build / "vocab_vectors.npy")
            profile = Profile.load(build / PROFILE_FILE)
            words_file = build / "words.json"  # builds before the bounded vocabulary embedded every word
            words = json.loads(words_file.read_text(encoding="utf-8")) if words_file.exists() else vocab
            stores = load_stores(
                build, manifest, settings, chunk_rows(chunks),
                sentence_keys(chunks, sentence_rows, len(sentence_vectors)),
            ) if open_stores else None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise IndexMismatchError(
                f"the index in {folder} is damaged ({type(e).__name__}: {e}); "
                f"rebuild it with: rag index --rebuild --index-dir {folder}"
            ) from e
        if stores is None:
            return cls(documents, chunks, vectors, stores, manifest, sentence_vectors, sentence_rows, vocab,
                       vocab_vectors, profile, words)
        sizes = (stores.chunks.size, stores.lexical.size)
        if not (len(chunks) == len(vectors) == sizes[0] == sizes[1] == len(sentence_rows)):
            raise IndexMismatchError(
                f"the index in {folder} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors, "
                f"{sizes[0]} in the {stores.name} store, {sizes[1]} in the lexical store); "
                "rebuild it with: rag index --rebuild"
            )
        return cls(documents, chunks, vectors, stores, manifest, sentence_vectors, sentence_rows, vocab, vocab_vectors,
                   profile, words)


