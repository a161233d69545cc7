"""A loaded index build: documents, chunks, vectors, the vector stores and BM25.

A build folder holds ``manifest.json``, ``documents.jsonl``, ``chunks.jsonl``, ``vectors.npy``,
``faiss.index``, ``sentences.faiss.index``, ``sentence_vectors.npy``, ``sentence_rows.json``,
``vocab.json``, ``vocab_vectors.npy``, ``bm25/`` and ``profile.json`` (the corpus profile).
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
from rag.index.bm25 import BM25Index
from rag.index.faiss_store import FaissStore
from rag.index.manifest import (
    file_checksums,
    index_settings,
    live_build,
    manifest_differences,
    read_manifest,
    write_atomic,
)
from rag.profile import PROFILE_FILE, Profile
from rag.types import Chunk, Document

log = logging.getLogger(__name__)


class Index:
    """A loaded index: the documents, their chunks, the vectors and both retrievers."""

    def __init__(
        self,
        documents: dict[str, Document],
        chunks: list[Chunk],
        vectors: np.ndarray,
        store: FaissStore,
        bm25: BM25Index,
        manifest: dict[str, Any],
        sentence_vectors: np.ndarray,
        sentence_rows: list[list[int]],
        sentence_store: FaissStore,
        vocab: list[str],
        vocab_vectors: np.ndarray,
        profile: Profile | None = None,
    ) -> None:
        self.documents = documents
        self.chunks = chunks
        self.vectors = vectors
        self.store = store
        self.bm25 = bm25
        self.manifest = manifest
        # Each chunk sentence's embedding (row of sentence_vectors), for picking the quote.
        self.sentence_vectors = sentence_vectors
        self.sentence_rows = sentence_rows
        # Dense retrieval searches sentences and scores a passage by its best sentence.
        self.sentence_store = sentence_store
        # Arabic words of the corpus and their embeddings (see rag.retrieve.bridge).
        self.vocab = vocab
        self.vocab_vectors = vocab_vectors
        # The corpus's tuned numbers and example questions, saved beside the data (see rag.profile).
        self.profile = profile or Profile()
        self.sentence_chunk = np.zeros(len(sentence_vectors), dtype=np.int64)
        for row in reversed(range(len(sentence_rows))):
            self.sentence_chunk[sentence_rows[row]] = row

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
            self.store.save(tmp / "faiss.index")
            self.sentence_store.save(tmp / "sentences.faiss.index")
            (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
            np.save(tmp / "vocab_vectors.npy", self.vocab_vectors)
            (tmp / "bm25").mkdir()
            self.bm25.save(tmp / "bm25")
            self.profile.save(tmp / PROFILE_FILE)
            # The manifest goes last: a build folder without one is incomplete by definition.
            # It records every other file's size and checksum (see manifest.verify_build).
            self.manifest = {**self.manifest, "files": file_checksums(tmp)}
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2))
            os.replace(tmp, build)
            write_atomic(folder / "CURRENT", build.name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in folder.glob("build-*"):
            if old != build:
                shutil.rmtree(old, ignore_errors=True)
        for stale in folder.glob(".tmp-build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return build

    @classmethod
    def load(cls, folder: Path, settings: Settings | None = None) -> Index:
        """Load the live build; with ``settings``, check it was built with matching ones.

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
            store = FaissStore.load(build / "faiss.index", manifest["ann"]["kind"])
            sentence_store = FaissStore.load(build / "sentences.faiss.index", manifest["ann"]["kind"])
            vocab = json.loads((build / "vocab.json").read_text(encoding="utf-8"))
            vocab_vectors = np.load(build / "vocab_vectors.npy")
            bm25 = BM25Index.load(build / "bm25")
            profile = Profile.load(build / PROFILE_FILE)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise IndexMismatchError(
                f"the index in {folder} is damaged ({type(e).__name__}: {e}); "
                f"rebuild it with: rag index --rebuild --index-dir {folder}"
            ) from e
        if not (len(chunks) == len(vectors) == store.size == bm25.size == len(sentence_rows)):
            raise IndexMismatchError(
                f"the index in {folder} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors, "
                f"{store.size} in FAISS, {bm25.size} in BM25); rebuild it with: rag index --rebuild"
            )
        return cls(documents, chunks, vectors, store, bm25, manifest, sentence_vectors, sentence_rows, sentence_store,
                   vocab, vocab_vectors, profile)


