"""The index in Milvus: Milvus Lite in one process, or a Milvus server or cluster by URI.

One collection per index build holds every chunk row and every sentence row: a string key
(chunk id, or ``doc_id:start-end`` for a sentence), the level (0 chunk, 1 sentence), the document
id, the dense vector and a sparse vector of BM25 weights (chunks only), so keyword search runs in
the engine as well and a cluster needs no local BM25 postings. The live build is the collection
that the alias ``settings.milvus_collection`` names; a new build fills a new collection and moves
the alias only once it is complete (as ``CURRENT`` does for files), so a crash mid-build leaves
the previous build serving. An incremental update deletes and inserts only the changed documents'
rows in the live collection; repeating an interrupted one repairs it (deletes go by document id).

BM25 in sparse vectors: a chunk's weight for term t is ``tf / (tf + k1·(1 − b + b·dl/avgdl))``
and the query's weight is ``idf(t)`` (Lucene's, as bm25s computes it), so the inner product is the
Lucene BM25 score. ``avgdl`` is fixed when a collection is created; incremental updates keep it,
so chunk weights already written stay valid. The term table (term -> sparse dimension, document
frequency) is small and sits in the build folder's ``milvus.json``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import RagError, StoreError
from rag.index.faiss_store import ivf_list_count
from rag.index.vector_store import Rows, StoreData, Stores
from rag.text.analyze import analyze, analyze_query

if TYPE_CHECKING:
    from rag.config import Settings

log = logging.getLogger(__name__)

LITE_FILE = "milvus.db"  # the default Milvus Lite file, in the index folder (shared by its builds)
POINTER = "milvus.json"  # in each build folder: where its rows are and the BM25 term table
CHUNK, SENTENCE = 0, 1
BM25_K1, BM25_B = 1.5, 0.75  # bm25s's defaults, so both stores score alike
_NO_TERMS = {0: 1.0}  # Milvus refuses an empty sparse vector; dimension 0 is never queried
_INSERT_BATCH = 2000
_KEY_CHARS = 1024


def bm25_idf(df: int, n: int) -> float:
    """Lucene's BM25 inverse document frequency (as bm25s computes it).

    Example: ``round(bm25_idf(1, 3), 4) == 1.0986``
    """
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def bm25_weights(terms: Sequence[str], term_ids: dict[str, int], avgdl: float) -> dict[int, float]:
    """A chunk's sparse BM25 vector: term dimension -> ``tf / (tf + k1·(1 − b + b·dl/avgdl))``.

    Example: ``bm25_weights(["a", "a"], {"a": 1}, 2.0) == {1: 2 / 3.5}``
    """
    counts = Counter(terms)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / avgdl) if avgdl else BM25_K1
    return {term_ids[t]: tf / (tf + norm) for t, tf in counts.items()} or dict(_NO_TERMS)


def doc_filter(doc_ids: Sequence[str]) -> str:
    """A Milvus boolean expression matching rows of these documents (string literals JSON-quoted).

    Example: ``doc_filter(["a.txt"]) == 'doc_id in ["a.txt"]'``
    """
    return f"doc_id in {json.dumps(list(doc_ids), ensure_ascii=False)}"


class Lexicon:
    """The BM25 term table of a collection: term -> (sparse dimension, document frequency).

    Args:
        terms: term -> ``[dimension, document frequency]``; dimensions start at 1.
        n_docs: Chunks in the build.
        avgdl: Mean analyzed chunk length when the collection was created.
    """

    def __init__(self, terms: dict[str, list[int]], n_docs: int, avgdl: float) -> None:
        self.terms = terms
        self.n_docs = n_docs
        self.avgdl = avgdl

    @classmethod
    def build(cls, analyzed: Sequence[Sequence[str]], previous: Lexicon | None = None) -> Lexicon:
        """Document frequencies over ``analyzed``; dimensions and ``avgdl`` kept from ``previous``."""
        df = Counter(t for terms in analyzed for t in set(terms))
        ids = {t: v[0] for t, v in previous.terms.items()} if previous else {}
        next_id = max(ids.values(), default=0) + 1
        terms: dict[str, list[int]] = {}
        for t in sorted(df):
            if t not in ids:
                ids[t], next_id = next_id, next_id + 1
            terms[t] = [ids[t], df[t]]
        if previous is not None:
            avgdl = previous.avgdl
        else:
            avgdl = sum(len(t) for t in analyzed) / len(analyzed) if analyzed else 0.0
        return cls(terms, len(analyzed), avgdl)

    @property
    def ids(self) -> dict[str, int]:
        return {t: v[0] for t, v in self.terms.items()}

    def query(self, text: str) -> dict[int, float]:
        """The query's sparse vector: dimension -> idf × times the term occurs (bm25s counts repeats)."""
        terms = [t for t in analyze_query(text, self.terms) if t in self.terms]
        out: dict[int, float] = {}
        for t in terms:
            dim, df = self.terms[t]
            out[dim] = out.get(dim, 0.0) + bm25_idf(df, self.n_docs)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"n_docs": self.n_docs, "avgdl": self.avgdl, "terms": self.terms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lexicon:
        return cls(d["terms"], d["n_docs"], d["avgdl"])


_CLIENTS: dict[tuple[str, str | None], Any] = {}


def connect(uri: str, token: str | None = None) -> Any:
    """A ``MilvusClient`` for ``uri`` (one per URI and token in this process).

    Raises:
        StoreError: the URI is malformed, the server does not answer, or the token is refused;
            the message names the URI.
    """
    key = (uri, token)
    if key in _CLIENTS:
        return _CLIENTS[key]
    from pymilvus import MilvusClient, MilvusException

    log.info("connecting to Milvus at %s", uri)
    if uri.endswith(".db"):
        # Milvus Lite answers the client's AllocTimestamp call with "not implemented" and grpc logs each
        # one as an error with a traceback; the client carries on without it.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        client = MilvusClient(uri=uri, token=token or "", timeout=10)
    except MilvusException as e:
        raise StoreError(
            f"cannot reach Milvus at {uri}: {getattr(e, 'message', e)} "
            "(check RAG_MILVUS_URI / --milvus-uri and, for a server, that it is running and RAG_MILVUS_TOKEN)"
        ) from e
    _CLIENTS[key] = client
    return client


def disconnect(uri: str | None = None) -> None:
    """Close this process's clients (of ``uri``, or all): a Milvus Lite file opens in one process at a time,
    so a process must let go of it before another one (a child it starts) can open it."""
    for key in [k for k in _CLIENTS if uri is None or k[0] == uri]:
        client = _CLIENTS.pop(key)
        try:
            client.close()
            if key[0].endswith(".db"):  # Milvus Lite's engine runs in this process until it is released
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(key[0])
        except Exception as e:  # closing is best effort: the client is forgotten either way
            log.debug("closing the Milvus client of %s: %s", key[0], e)


def _uri(settings: Settings | None, index_dir: Path, saved: dict[str, Any] | None = None) -> str:
    if settings is not None and settings.milvus_uri:
        return settings.milvus_uri
    if saved and saved.get("uri"):
        return saved["uri"]
    return str((Path(index_dir) / LITE_FILE).resolve())


def _index_params(settings: Settings, n: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Milvus index type, build params and search params from the ANN settings."""
    if settings.ann == "hnsw":
        return "HNSW", {"M": settings.hnsw_m, "efConstruction": 80}, {"ef": settings.hnsw_ef_search}
    if settings.ann == "ivf":
        nlist = settings.ivf_nlist or ivf_list_count(n)
        return "IVF_FLAT", {"nlist": nlist}, {"nprobe": min(settings.ivf_nprobe, nlist)}
    return "FLAT", {}, {}


class MilvusCollection:
    """One build's collection, reached through the live alias.

    Args:
        client: A ``MilvusClient``.
        uri: Where it is (named in errors).
        name: The alias (or collection) to search.
        search_params: Index search parameters (``ef`` or ``nprobe``).
        lexicon: The BM25 term table.
    """

    def __init__(self, client: Any, uri: str, name: str, search_params: dict[str, Any], lexicon: Lexicon) -> None:
        self.client = client
        self.uri = uri
        self.name = name
        self.search_params = search_params
        self.lexicon = lexicon

    def call(self, what: str, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``; a Milvus failure becomes a StoreError naming the URI and the collection."""
        from pymilvus import MilvusException

        try:
            return fn(*args, **kwargs)
        except MilvusException as e:
            raise StoreError(f"Milvus at {self.uri}: {what} {self.name!r} failed: {getattr(e, 'message', e)}") from e

    def count(self, level: int) -> int:
        res = self.call("counting rows of", self.client.query, self.name, filter=f"level == {level}",
                         output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def _filter(self, level: int, doc_ids: Sequence[str] | None) -> str:
        if doc_ids is None:
            return f"level == {level}"
        return f"level == {level} and {doc_filter(doc_ids)}"

    def search(
        self, field: str, data: list, level: int, k: int, doc_ids: Sequence[str] | None, params: dict[str, Any]
    ) -> list[list[tuple[str, float]]]:
        """(key, score) lists, best first, one per query."""
        res = self.call(
            "searching", self.client.search, self.name, data=data, anns_field=field, limit=k,
            filter=self._filter(level, doc_ids), output_fields=["key"],
            search_params={"metric_type": "IP", "params": params},
        )
        return [[(hit["entity"]["key"], float(hit["distance"])) for hit in hits] for hits in res]

    def hybrid(
        self, query_vector: np.ndarray, text: str, k: int, rrf_k: int = 60, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Chunk keys by Milvus's own hybrid search: dense and BM25 sparse, fused by its RRF ranker."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = self._filter(CHUNK, doc_ids)
        requests = [AnnSearchRequest([query_vector.astype(np.float32).tolist()], "vector",
                                     {"metric_type": "IP", "params": self.search_params}, k, expr=expr)]
        sparse = self.lexicon.query(text)
        if sparse:
            requests.append(AnnSearchRequest([sparse], "sparse", {"metric_type": "IP"}, k, expr=expr))
        res = self.call("hybrid search of", self.client.hybrid_search, self.name, requests, RRFRanker(rrf_k),
                         limit=k, output_fields=["key"])
        return [(hit["entity"]["key"], float(hit["distance"])) for hit in res[0]]


class MilvusStore:
    """Dense search over one level (chunks or sentences) of a build's Milvus collection.

    Args:
        collection: The build's collection.
        level: ``CHUNK`` or ``SENTENCE``.
        rows: Key and document of each row of the loaded build; results are mapped back to rows by key.
        kind: The ANN kind (``flat``, ``hnsw``, ``ivf``).
    """

    def __init__(self, collection: MilvusCollection, level: int, rows: Rows, kind: str) -> None:
        self.collection = collection
        self.level = level
        self.rows = rows
        self.kind = kind
        self._row_of = {key: i for i, key in enumerate(rows.keys)}

    @property
    def size(self) -> int:
        return self.collection.count(self.level)

    def search(
        self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids, each ``(len(queries), k)``; missing results have id -1."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = max(1, min(k, 16384))
        results = self.collection.search(
            "vector", [q.tolist() for q in queries], self.level, k, doc_ids, self.collection.search_params
        )
        return _to_arrays(results, self._row_of)

    # --- the StoreBackend side (see rag.index.vector_store) --------------------------------
    @classmethod
    def build_stores(cls, data: StoreData, settings: Settings, previous: dict[str, Any] | None = None) -> Stores:
        """Write the build to Milvus: in place for an incremental update of a live collection, else a new one."""
        uri = _uri(settings, settings.index_dir, None)
        if not settings.milvus_uri:
            Path(settings.index_dir).mkdir(parents=True, exist_ok=True)  # the Lite file lives there
        client = connect(uri, settings.milvus_token)
        alias = settings.milvus_collection
        analyzed = [analyze(t) for t in data.chunk_texts]
        saved = _live_pointer(settings.index_dir) if previous is not None else {}
        live = _alias_target(client, alias, uri)
        in_place = (
            data.changed_docs is not None and saved.get("name") == "milvus" and saved.get("uri") == _saved_uri(settings)
            and live is not None and live == saved.get("collection") and "lexicon" in saved
        )
        index_type, build_params, search_params = _index_params(settings, len(data.sentence_vectors))
        if in_place:
            assert live is not None  # in_place requires it
            lexicon = Lexicon.build(analyzed, Lexicon.from_dict(saved["lexicon"]))
            name = live
            collection = MilvusCollection(client, uri, name, search_params, lexicon)
            touched = sorted((data.changed_docs or set()) | data.removed_docs)
            log.info("Milvus: updating %d document(s) in %s", len(touched), name)
            for batch in _batches(touched, 500):
                collection.call("deleting from", client.delete, name, filter=doc_filter(batch))
            wanted = data.changed_docs or set()
            rows = _rows(data, analyzed, lexicon, wanted)
        else:
            lexicon = Lexicon.build(analyzed)
            name = f"{alias}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
            collection = MilvusCollection(client, uri, name, search_params, lexicon)
            _create(collection, data.chunk_vectors.shape[1] if data.chunk_vectors.ndim == 2 else 0,
                    index_type, build_params)
            rows = _rows(data, analyzed, lexicon, None)
        try:
            inserted = 0
            for batch in _batches(list(rows), _INSERT_BATCH):
                collection.call("inserting into", client.insert, name, batch)
                inserted += len(batch)
            log.info("Milvus: %d row(s) written to %s", inserted, name)
        except BaseException:
            if not in_place:
                _drop(client, name)
            raise
        info = {
            "name": "milvus", "uri": _saved_uri(settings), "alias": alias, "collection": name,
            "index": {"type": index_type, "params": build_params, "search": search_params},
            "lexicon": lexicon.to_dict(),
        }
        collection.name = name  # searched directly until the alias moves
        chunks = cls(collection, CHUNK, data.chunks, settings.ann)
        sentences = cls(collection, SENTENCE, data.sentences, settings.ann)

        def save(folder: Path) -> None:
            (folder / POINTER).write_text(json.dumps(info, ensure_ascii=False))

        def commit() -> None:
            if not in_place:
                _switch_alias(collection, alias, name)
            collection.name = alias

        def abort() -> None:
            if not in_place:
                _drop(client, name)

        manifest_info = {k: v for k, v in info.items() if k != "lexicon"}
        lexical = MilvusLexical(collection, data.chunks)
        return Stores("milvus", chunks, sentences, lexical, save, commit, abort, manifest_info, lexical.hybrid)

    @classmethod
    def open_stores(
        cls, build: Path, manifest: dict[str, Any], settings: Settings | None, chunks: Rows, sentences: Rows
    ) -> Stores:
        """Open a saved build's rows through the live alias."""
        info = json.loads((build / POINTER).read_text(encoding="utf-8"))
        uri = _uri(settings, build.parent, info)
        client = connect(uri, settings.milvus_token if settings else None)
        alias = info["alias"]
        target = _alias_target(client, alias, uri)
        if target is None:
            raise StoreError(
                f"Milvus at {uri} has no collection under the alias {alias!r} that the index in {build.parent} "
                f"names; rebuild it with: rag index --rebuild --store milvus --index-dir {build.parent}"
            )
        if target != info["collection"]:
            log.warning("Milvus alias %s points at %s, the loaded build wrote %s: another process re-indexed; "
                        "reload to see its documents", alias, target, info["collection"])
        collection = MilvusCollection(client, uri, alias, info["index"]["search"], Lexicon.from_dict(info["lexicon"]))
        collection.call("loading", client.load_collection, alias)  # a restarted Milvus Lite starts released
        kind = manifest["ann"]["kind"]

        def save(folder: Path) -> None:
            (folder / POINTER).write_text(json.dumps(info, ensure_ascii=False))

        lexical = MilvusLexical(collection, chunks)
        return Stores("milvus", cls(collection, CHUNK, chunks, kind), cls(collection, SENTENCE, sentences, kind),
                      lexical, save, info={k: v for k, v in info.items() if k != "lexicon"}, hybrid=lexical.hybrid)


class MilvusLexical:
    """BM25 over the chunks' sparse vectors in Milvus, as a ``LexicalStore``."""

    def __init__(self, collection: MilvusCollection, rows: Rows) -> None:
        self.collection = collection
        self.rows = rows
        self._row_of = {key: i for i, key in enumerate(rows.keys)}

    @property
    def size(self) -> int:
        return self.collection.count(CHUNK)

    @property
    def vocabulary(self) -> dict[str, list[int]]:
        return self.collection.lexicon.terms

    def search(self, query: str, k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) pairs with a positive score, best first."""
        sparse = self.collection.lexicon.query(query)
        if not sparse:
            return []
        [hits] = self.collection.search("sparse", [sparse], CHUNK, max(1, min(k, 16384)), doc_ids, {})
        return [(self._row_of[key], score) for key, score in hits if key in self._row_of and score > 0]

    def hybrid(
        self, query_vector: np.ndarray, text: str, k: int, rrf_k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[int, float]]:
        """Chunk rows by one Milvus hybrid search (passage vectors and BM25, its RRF ranker), best first."""
        hits = self.collection.hybrid(query_vector, text, max(1, min(k, 16384)), rrf_k, doc_ids)
        return [(self._row_of[key], score) for key, score in hits if key in self._row_of]


def _to_arrays(results: list[list[tuple[str, float]]], row_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    n = max((len(r) for r in results), default=0)
    scores = np.full((len(results), n), -np.inf, np.float32)
    ids = np.full((len(results), n), -1, np.int64)
    for q, hits in enumerate(results):
        j = 0
        for key, score in hits:
            row = row_of.get(key)
            if row is None:  # written by a newer build than the one loaded
                continue
            scores[q, j], ids[q, j] = score, row
            j += 1
    return scores, ids


def _live_pointer(index_dir: Path) -> dict[str, Any]:
    """The live build's ``milvus.json``, or ``{}`` when it has none (a FAISS build)."""
    from rag.index.manifest import live_build

    try:
        return json.loads((live_build(index_dir) / POINTER).read_text(encoding="utf-8"))
    except (OSError, ValueError, RagError):
        return {}


def _saved_uri(settings: Settings) -> str | None:
    """The URI as the manifest records it: None for the default Lite file (found again next to the build)."""
    return settings.milvus_uri or None


def _rows(data: StoreData, analyzed: list[list[str]], lexicon: Lexicon, docs: set[str] | None) -> Iterator[dict]:
    ids = lexicon.ids
    for i, (key, doc) in enumerate(zip(data.chunks.keys, data.chunks.docs, strict=True)):
        if docs is None or doc in docs:
            yield {"key": key[:_KEY_CHARS], "level": CHUNK, "doc_id": doc, "vector": data.chunk_vectors[i].tolist(),
                   "sparse": bm25_weights(analyzed[i], ids, lexicon.avgdl)}
    for i, (key, doc) in enumerate(zip(data.sentences.keys, data.sentences.docs, strict=True)):
        if docs is None or doc in docs:
            yield {"key": key[:_KEY_CHARS], "level": SENTENCE, "doc_id": doc,
                   "vector": data.sentence_vectors[i].tolist(), "sparse": dict(_NO_TERMS)}


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create(collection: MilvusCollection, dim: int, index_type: str, build_params: dict[str, Any]) -> None:
    from pymilvus import DataType

    client = collection.client
    schema = client.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=_KEY_CHARS)
    schema.add_field("level", DataType.INT8)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=_KEY_CHARS)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="IP", params=build_params)
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    index.add_index("doc_id", index_type="INVERTED")
    collection.call("creating", client.create_collection, collection.name, schema=schema, index_params=index,
                     consistency_level="Strong")


def _alias_target(client: Any, alias: str, uri: str) -> str | None:
    """The collection that ``alias`` names, or None."""
    from pymilvus import MilvusException

    try:
        if alias not in client.list_aliases().get("aliases", []):
            return None
        return client.describe_alias(alias).get("collection_name")
    except MilvusException as e:
        raise StoreError(f"Milvus at {uri}: looking up the alias {alias!r} failed: {getattr(e, 'message', e)}") from e


def _switch_alias(collection: MilvusCollection, alias: str, name: str) -> None:
    """Point ``alias`` at ``name`` in one step, then drop the builds it pointed at before."""
    client = collection.client
    old = _alias_target(client, alias, collection.uri)
    if old is None:
        collection.call("aliasing", client.create_alias, name, alias)
    else:
        collection.call("aliasing", client.alter_alias, name, alias)
    prefix = re.compile(rf"^{re.escape(alias)}_\d{{8}}_\d{{6}}_[0-9a-f]{{6}}$")
    for other in client.list_collections():
        if other != name and prefix.match(other):
            _drop(client, other)


def _drop(client: Any, name: str) -> None:
    from pymilvus import MilvusException

    try:
        client.drop_collection(name)
        log.info("Milvus: dropped %s", name)
    except MilvusException as e:  # cleaning up is best effort: the next build drops it
        log.warning("Milvus: could not drop %s: %s", name, e)
