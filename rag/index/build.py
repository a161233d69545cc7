"""Build the index: bring an index folder up to date with a corpus folder.

Only new or changed documents are chunked and embedded; removed ones drop out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from rag.config import Settings
from rag.embed.embedder import Embedder, model_fingerprint
from rag.errors import CorpusError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from rag.index.index import Index, chunk_rows, sentence_keys
from rag.index.manifest import (
    build_lock,
    index_settings,
    library_versions,
    live_build,
    manifest_differences,
    not_writable,
    read_manifest,
    remove_leftovers,
    repair_current,
    verify_build,
)
from rag.index.vector_store import StoreData, make_stores
from rag.ingest.chunk import chunk_document
from rag.ingest.load import load_corpus
from rag.profile import Profile, corpus_examples, load_build_profile
from rag.retrieve.bridge import arabic_vocabulary, bridging_vocabulary
from rag.types import Chunk, Document, Skipped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildProgress:
    """How far a build has got, handed to ``build_index``'s ``on_progress`` callback.

    Attributes:
        stage: ``"passages"`` (chunks and sentences of new articles) or ``"words"`` (the Arabic
            vocabulary bridged to English questions).
        documents: Articles being embedded in this build.
        done: Texts of this stage embedded so far.
        total: Texts of this stage to embed.
    """

    stage: str
    documents: int
    done: int
    total: int


ProgressCallback = Callable[[BuildProgress], None]

#: Texts embedded between two progress reports (a few model batches).
PROGRESS_STEP = 64


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
    #: Damaged files put right without re-embedding (CURRENT, profile.json), each with what was done.
    repaired: list[str] = field(default_factory=list)

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
            "rebuilt_because": self.rebuilt_because,
            "repaired": self.repaired,
        }


def build_index(
    settings: Settings,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> BuildReport:
    """Bring the index in ``settings.index_dir`` up to date with ``settings.corpus_dir``.

    Only documents that are new or changed are chunked and embedded; removed ones drop out of
    both retrievers. On an unchanged corpus nothing is loaded, embedded or written. Every file of the
    live build is checked: ``CURRENT`` and the profile files are repaired when damaged (see ``repaired``),
    the others against their checksums, a damaged one rebuilding the index.

    Args:
        settings: Corpus, index and model settings.
        embedder: An embedder, or a factory called only if something must be embedded.
        rebuild: Ignore the existing index and embed everything.
        progress: Show a progress bar (on stderr) while embedding.
        on_progress: Called before embedding starts and after every few batches, with a
            ``BuildProgress``; never called when nothing needs embedding.

    Returns:
        What was done, with counts and timing.

    Raises:
        CorpusError: the corpus folder is missing or has no usable article.
    """
    t0 = time.perf_counter()
    documents, skipped = load_corpus(settings.corpus_dir, follow_symlinks=settings.follow_symlinks)
    if not documents:
        raise CorpusError(
            f"no usable article in {settings.corpus_dir} ({len(skipped)} file(s) skipped); "
            "add UTF-8 .txt or .md files"
        )
    expected = index_settings(settings, model_fingerprint(settings))
    doc_hashes = {d.doc_id: d.sha256 for d in documents}
    repaired = _repair_current(settings.index_dir)

    previous: dict[str, Any] | None = None
    reasons: list[str] = []
    if not rebuild:
        try:
            previous = read_manifest(settings.index_dir)
            reasons = manifest_differences(previous, expected)
            if not reasons:  # the live build's files against their recorded sizes and checksums
                reasons = [f"damaged: {p}" for p in verify_build(live_build(settings.index_dir), previous)]
        except IndexNotFoundError:
            pass  # a first build
        except IndexMismatchError as e:
            reasons = [str(e)]
        if previous is not None:  # before the build is read again for its embeddings
            repaired += _repair_profile(settings, documents)
        if previous is not None and not reasons and previous.get("documents") == doc_hashes:
            _tidy(settings.index_dir)
            counts = previous["counts"]
            log.info("index is up to date (%d documents, %d chunks)", counts["documents"], counts["chunks"])
            return BuildReport(
                len(documents), counts["chunks"], 0, counts["chunks"], skipped,
                time.perf_counter() - t0, settings.model, previous["dim"], repaired=repaired,
            )

    with build_lock(settings.index_dir):
        remove_leftovers(settings.index_dir)
        report = _build(settings, embedder, documents, skipped, expected, previous, reasons, progress, on_progress,
                        t0)
    report.repaired[:0] = repaired
    return report


def _repair_current(folder: Path) -> list[str]:
    """Point a missing or damaged ``CURRENT`` at an intact build of ``folder`` (``repair_current``); what was done."""
    try:
        live_build(folder)
        return []
    except IndexNotFoundError:
        if not any(Path(folder).glob("build-*")):
            return []  # a first build
    except IndexMismatchError:
        pass
    with build_lock(folder):
        note = repair_current(folder)
    if note:
        log.warning("repaired %s: %s", folder, note)
    return [note] if note else []


def _repair_profile(settings: Settings, documents: list[Document]) -> list[str]:
    """Write the live build's profile files again where they are damaged (``load_build_profile``); what was done."""
    build = live_build(settings.index_dir)
    profile, notes = load_build_profile(build)
    if notes:
        try:
            profile.with_(examples=corpus_examples(settings.corpus_dir, documents)).save_in_build(build)
        except OSError as e:
            raise not_writable(settings.index_dir, e) from e
        for note in notes:
            log.warning("repaired %s: %s", build, note)
    return notes


def _tidy(folder) -> None:
    """Remove leftovers of earlier builds if no build is running (and the folder is writable)."""
    try:
        with build_lock(folder, wait=False) as held:
            if held:
                remove_leftovers(folder)
    except IndexWriteError as e:  # a read-only index folder still serves its (intact) index
        log.debug("not tidying %s: %s", folder, e)


def _build(settings, embedder, documents, skipped, expected, previous, reasons, progress, on_progress,
           t0) -> BuildReport:
    """The body of ``build_index`` once the folder's lock is held."""
    doc_hashes = {d.doc_id: d.sha256 for d in documents}

    # Reuse chunks and vectors of unchanged documents from a compatible previous index; a change of
    # vector store or ANN structure alone keeps every embedding (the stores are rebuilt whole).
    reuse: dict[str, _DocPart] = {}
    old_words: dict[str, np.ndarray] = {}
    store_only = bool(reasons) and all(
        r.startswith(("vector_store:", "ann:", "bridge_min_passages:")) for r in reasons
    )
    if previous is not None and (not reasons or store_only):
        if store_only:
            log.warning("rebuilding the stores, reusing the embeddings: %s", "; ".join(reasons))
        old = Index.load(settings.index_dir, open_stores=False)
        old_words = dict(zip(old.vocab, old.vocab_vectors, strict=True))
        for doc_id, part in _split_by_document(old).items():
            if doc_hashes.get(doc_id) == old.documents[doc_id].sha256:
                reuse[doc_id] = part
    elif reasons and previous is not None:
        log.warning("rebuilding the whole index: %s", "; ".join(reasons))

    model: Embedder | None = None

    def get_model() -> Embedder:  # loaded only when something must be embedded
        nonlocal model
        if model is None and embedder is not None:
            given = hasattr(embedder, "embed_passages")  # an embedder, else a factory of one
            model = cast(Embedder, embedder) if given else cast(Callable[[], Embedder], embedder)()
        if model is None:
            from rag.embed.embedder import SentenceTransformerEmbedder

            model = SentenceTransformerEmbedder(settings)
        return model

    fresh_docs = [d for d in documents if d.doc_id not in reuse]
    report = _reporter(len(fresh_docs), progress, on_progress)
    if fresh_docs:
        log.info("embedding %d new or changed article(s) from %s", len(fresh_docs), settings.corpus_dir)
        reuse.update(_embed_documents(fresh_docs, get_model(), settings, report))
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

    # Bridging embeds the vocabulary that settings.bridge_min_passages allows (see bridging_vocabulary), each
    # word once per model: word vectors are cached in the index folder across builds, rebuilds included.
    words = arabic_vocabulary(c.text for c in chunks)
    vocab = bridging_vocabulary([c.text for c in chunks], [d.title for d in documents], settings.bridge_min_passages)
    model_key = hashlib.sha256(expected["model_hash"].encode()).hexdigest()[:16]  # a file-name-safe model id
    cache = Path(settings.index_dir) / f"word_vectors-{model_key}.npz"
    old_words = {**_read_word_cache(cache), **old_words}
    new_words = [w for w in vocab if w not in old_words]
    if new_words:
        embed_words = get_model().embed_queries
        vectors_of_words = _by_length(new_words, lambda some: _in_steps(some, embed_words, "words", report))
        old_words.update(zip(new_words, vectors_of_words, strict=True))
        _write_word_cache(cache, old_words)
    vocab_vectors = _stack([old_words[w][None, :] for w in vocab], dim)

    incremental = previous is not None and not reasons
    data = StoreData(
        vectors, chunk_rows(chunks), [c.text for c in chunks],
        sentence_vectors, sentence_keys(chunks, sentence_rows, len(sentence_vectors)),
        changed_docs={d.doc_id for d in fresh_docs} if incremental else None,
        removed_docs=set(previous["documents"]) - set(doc_hashes) if incremental and previous else set(),
    )
    stores = make_stores(settings.vector_store, data, settings, previous if incremental else None)
    manifest = {
        **expected,
        "dim": dim,
        "documents": doc_hashes,
        "counts": {"documents": len(documents), "chunks": len(chunks)},
        "corpus_dir": str(Path(settings.corpus_dir).resolve()),  # what later commands default --corpus to
        "store": stores.info,
        "libraries": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # A profile fitted to this corpus (rag calibrate) survives rebuilds; the examples follow the corpus.
    profile, repaired = _previous_profile(settings.index_dir)
    profile = profile.with_(examples=corpus_examples(settings.corpus_dir, documents))
    index = Index(
        {d.doc_id: d for d in documents}, chunks, vectors, stores, manifest,
        sentence_vectors, sentence_rows, vocab, vocab_vectors, profile, words,
    )
    try:
        index.save(settings.index_dir)
    except OSError as e:
        raise not_writable(settings.index_dir, e) from e
    return BuildReport(
        len(documents), len(chunks), embedded, len(chunks) - embedded, skipped,
        time.perf_counter() - t0, settings.model, dim, reasons, repaired,
    )


def _previous_profile(index_dir: Path) -> tuple[Profile, list[str]]:
    """The live build's profile (its calibrated copy when ``profile.json`` is damaged: ``load_build_profile``) and
    what was damaged; the defaults when there is no live build."""
    try:
        return load_build_profile(live_build(index_dir))
    except (IndexNotFoundError, IndexMismatchError) as e:
        log.info("starting from the default profile (%s)", e)
        return Profile(), []


@dataclass
class _DocPart:
    """One document's share of the index; sentence rows are local to ``sentence_vectors``."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_rows: list[list[int]]


def _reporter(documents: int, bar: bool, callback: ProgressCallback | None) -> ProgressCallback:
    """One callback that feeds ``callback`` and, when ``bar``, a tqdm bar per stage on stderr."""
    bars: dict[str, Any] = {}

    def report(p: BuildProgress) -> None:
        p = BuildProgress(p.stage, documents, p.done, p.total)
        if callback is not None:
            callback(p)
        if bar:
            from tqdm.auto import tqdm

            if p.stage not in bars:
                desc = f"embedding {documents} article(s)" if p.stage == "passages" else "embedding vocabulary"
                bars[p.stage] = tqdm(total=p.total, desc=desc, unit="text", leave=True)
            bars[p.stage].update(p.done - bars[p.stage].n)
            if p.done >= p.total:
                bars.pop(p.stage).close()

    return report


def _in_steps(
    texts: list[str], embed: Callable[[list[str]], np.ndarray], stage: str, report: ProgressCallback
) -> np.ndarray:
    """``embed(texts)`` a few batches at a time, reporting progress after each step."""
    report(BuildProgress(stage, 0, 0, len(texts)))
    parts = []
    for i in range(0, len(texts), PROGRESS_STEP):
        parts.append(embed(texts[i : i + PROGRESS_STEP]))
        report(BuildProgress(stage, 0, min(i + PROGRESS_STEP, len(texts)), len(texts)))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def _by_length(texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """``embed(texts)`` with the texts sent longest first, rows back in the given order.

    A batch is padded to its longest text: in document order, chunks and their short sentences share
    batches and the padding cost the build half as much again as the encoding itself (build / encode
    1.49 on the seeds); sorted, texts of a length share a batch.
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = embed([texts[i] for i in order])
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def _read_word_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as f:
            return dict(zip(f["words"].tolist(), f["vectors"], strict=True))
    except (OSError, ValueError, KeyError) as e:
        if path.exists():
            log.warning("ignoring the unreadable word cache %s (%s)", path, e)
        return {}


def _write_word_cache(path: Path, vectors: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    words = sorted(vectors)
    np.savez(tmp, words=np.array(words), vectors=np.stack([vectors[w] for w in words]).astype(np.float32))
    os.replace(tmp, path)


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
    documents: list[Document], model: Embedder, settings: Settings, report: ProgressCallback
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
    # Each distinct text is embedded once: a chunk of one sentence is that sentence, and articles repeat lines.
    unique = list(dict.fromkeys(texts))
    unique_vectors = _by_length(unique, lambda some: _in_steps(some, model.embed_passages, "passages", report))
    row_of = {t: i for i, t in enumerate(unique)}
    vectors = unique_vectors[[row_of[t] for t in texts]] if texts else unique_vectors
    out: dict[str, _DocPart] = {}
    cursor = 0
    for doc_id, (chunks, spans, rows) in per_doc.items():
        chunk_vecs = vectors[cursor : cursor + len(chunks)]
        cursor += len(chunks)
        sent_vecs = vectors[cursor : cursor + len(spans)]
        cursor += len(spans)
        out[doc_id] = _DocPart(chunks, chunk_vecs, sent_vecs, rows)
    return out
