"""Hybrid retrieval: FAISS and BM25 candidates fused by reciprocal rank, near-duplicates folded."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from rag.config import Settings
from rag.errors import ConfigError
from rag.index.index import Index
from rag.profile import Profile
from rag.text.analyze import analyze
from rag.types import Hit, Query

log = logging.getLogger(__name__)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of weight / (k + rank), rank from 1.

    Ties keep the order in which ids were first seen. Weights default to 1 (plain RRF).

    Example: ``reciprocal_rank_fusion([[7, 3], [3]], k=1) == [(3, 1/3 + 1/2), (7, 1/2)]``
    """
    weights = [1.0] * len(rankings) if weights is None else weights
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def term_overlap(a: set[str], b: set[str]) -> float:
    """Overlap coefficient of two term sets: shared terms / size of the smaller set.

    Example: ``term_overlap({"a", "b"}, {"b", "c", "d"}) == 0.5``
    """
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def collapse_near_duplicates(
    hits: list[Hit], vectors: np.ndarray, rows: Sequence[int], terms: Sequence[set[str]],
    threshold: float = 0.9, min_overlap: float = 0.6,
) -> list[Hit]:
    """Fold each hit into an earlier (better) one that says the same thing.

    Two passages are near-duplicates when their embeddings' cosine reaches ``threshold``
    and they share at least ``min_overlap`` of their terms (e5 gives related but distinct
    passages high cosines, so the lexical check keeps them apart). Folded passages are kept
    on the surviving hit's ``duplicates`` so the answer can cite every corroborating article.

    Args:
        hits: Best first.
        vectors: The embedding of each hit, row-aligned with ``hits`` via ``rows``.
        rows: Row of ``vectors`` for each hit.
        terms: Analyzed term set for each hit.
        threshold: Cosine at or above which passages may be duplicates.
        min_overlap: Term overlap coefficient needed as well.
    """
    kept: list[int] = []
    for i, hit in enumerate(hits):
        for j in kept:
            cos = float(vectors[rows[i]] @ vectors[rows[j]])
            if cos >= threshold and term_overlap(terms[i], terms[j]) >= min_overlap:
                hits[j].duplicates.append(hit.chunk)
                break
        else:
            kept.append(i)
    return [hits[i] for i in kept]


class Retriever:
    """Dense + BM25 retrieval over a loaded ``Index``, for prepared queries.

    Args:
        index: The loaded index.
        settings: ``k``, ``candidates``, ``rrf_k`` and ``dedup_threshold``.
        profile: The corpus profile (the near-duplicate term overlap).
    """

    def __init__(self, index: Index, settings: Settings, profile: Profile | None = None) -> None:
        self.index = index
        self.settings = settings
        self.profile = profile or index.profile
        self._terms: dict[int, set[str]] = {}

    def _chunk_terms(self, row: int) -> set[str]:
        if row not in self._terms:
            self._terms[row] = set(analyze(self.index.chunks[row].text))
        return self._terms[row]

    def _best_sentence(self, row: int, query_vector: np.ndarray) -> float:
        return float((self.index.sentence_vectors[self.index.sentence_rows[row]] @ query_vector).max())

    def dense(
        self, query_vector: np.ndarray, n: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[int, float]]:
        """The ``n`` passages whose best sentence is closest to the query: (row, cosine), best first.

        Scoring a passage by its best sentence (max-sim) beat whole-passage vectors on the gold
        set: fused hit@5 0.84 against 0.76 with multilingual-e5-small.
        """
        scores, ids = self.index.sentence_store.search(query_vector[None, :], n * 4, doc_ids)
        best: dict[int, float] = {}
        for i, s in zip(ids[0], scores[0], strict=True):
            if i >= 0:
                row = int(self.index.sentence_chunk[i])
                best.setdefault(row, float(s))
        return list(best.items())[:n]

    def retrieve(self, query: Query, k: int | None = None, doc_ids: Sequence[str] | None = None) -> list[Hit]:
        """The ``k`` best distinct passages for ``query``, best first.

        Rankings fused, with weights, as the profile says for the question's language: ``sentence`` (dense,
        a passage by its best sentence), ``passage`` (dense, whole-passage vectors), ``bm25`` (over
        ``query.lexical``) and ``bridged`` (dense over the bridged Arabic words of an English question).
        With ``settings.fusion == "engine"`` the store fuses instead, in one request: passage vectors and
        BM25 by its RRF ranker, whatever the language (the engine knows neither weights nor best sentences).

        Args:
            query: The prepared query (see ``rag.retrieve.query.prepare_query``).
            k: Passages to return; defaults to ``settings.k``.
            doc_ids: Search only these documents.
        """
        k = k or self.settings.k
        n = self.settings.candidates
        if self.settings.fusion == "engine":
            return self._engine(query, k, doc_ids)
        use = self.profile.rankings_for(query.language)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        rankings: list[list[int]] = []
        weights: list[float] = []

        def add(name: str, ranked: list[tuple[int, float]]) -> None:
            rankings.append([i for i, _ in ranked])
            weights.append(use[name])

        if "sentence" in use:
            dense = self.dense(query.vector, n, doc_ids)
            add("sentence", dense)
        if "passage" in use:
            scores, ids = self.index.store.search(query.vector[None, :], n, doc_ids)
            passage = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
            dense = dense or passage  # the dense score and rank recorded on hits
            add("passage", passage)
        if "bm25" in use:
            lexical = self.index.bm25.search(query.lexical, n, doc_ids)
            add("bm25", lexical)
        if "bridged" in use and query.bridged_vector is not None:
            # The bridged Arabic words as a rough translation of an English question.
            add("bridged", self.dense(query.bridged_vector, n, doc_ids))
        fused = reciprocal_rank_fusion(rankings, self.settings.rrf_k, weights)

        return self._hits(query, fused, dense, lexical, k)

    def _engine(self, query: Query, k: int, doc_ids: Sequence[str] | None) -> list[Hit]:
        """One hybrid-search request to the store; the hits carry no per-ranking ranks (the engine returns none)."""
        if self.index.hybrid is None:
            raise ConfigError(f"fusion 'engine' needs a store with hybrid search; the index's store is "
                              f"{self.index.manifest.get('vector_store')!r}: rebuild it with --store milvus")
        fused = self.index.hybrid(query.vector, query.lexical, self.settings.candidates, self.settings.rrf_k, doc_ids)
        return self._hits(query, fused, [], [], k)

    def _hits(
        self, query: Query, fused: list[tuple[int, float]], dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]], k: int,
    ) -> list[Hit]:
        """Hits of the fused rows, near-duplicates folded, the ``k`` best."""
        dense_rank = {i: (r, s) for r, (i, s) in enumerate(dense, start=1)}
        bm25_rank = {i: (r, s) for r, (i, s) in enumerate(lexical, start=1)}
        rows = [row for row, _ in fused]
        hits = []
        for row, score in fused:
            d, b = dense_rank.get(row), bm25_rank.get(row)
            dense_score = d[1] if d else self._best_sentence(row, query.vector)
            hits.append(Hit(
                chunk=self.index.chunks[row], score=score,
                dense_score=dense_score, bm25_score=b[1] if b else None,
                dense_rank=d[0] if d else None, bm25_rank=b[0] if b else None,
            ))
        hits = collapse_near_duplicates(
            hits, self.index.vectors, rows, [self._chunk_terms(r) for r in rows],
            self.settings.dedup_threshold, self.profile.dedup_min_overlap,
        )
        return hits[:k]
