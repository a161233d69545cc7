"""rag.retrieve.hybrid: fusion and near-duplicate folding by hand, then hybrid retrieval on the real seed index."""

from __future__ import annotations

import numpy as np
import pytest

from rag.index.index import Index
from rag.retrieve.hybrid import Retriever, collapse_near_duplicates, reciprocal_rank_fusion, term_overlap
from rag.retrieve.query import prepare_query
from rag.text.analyze import analyze
from rag.types import Chunk, Hit, Query

# --- reciprocal_rank_fusion ----------------------------------------------------------------------


def test_rrf_docstring_example():
    assert reciprocal_rank_fusion([[7, 3], [3]], k=1) == [(3, 1 / 3 + 1 / 2), (7, 1 / 2)]


def test_rrf_hand_computed_with_k_60():
    dense = [10, 20, 30]
    bm25 = [30, 40, 10]
    # 10: 1/61 + 1/63; 30: 1/63 + 1/61; 20: 1/62; 40: 1/62.
    fused = reciprocal_rank_fusion([dense, bm25])
    assert [i for i, _ in fused] == [10, 30, 20, 40]  # ties keep first-seen order
    got = dict(fused)
    assert got[10] == pytest.approx(1 / 61 + 1 / 63)
    assert got[30] == pytest.approx(1 / 63 + 1 / 61)
    assert got[20] == pytest.approx(1 / 62)
    assert got[40] == pytest.approx(1 / 62)


def test_rrf_an_item_in_both_lists_beats_a_single_first_place():
    # 5 is 1st in one list only: 1/61 = 0.016393; 9 is 2nd in both: 2/62 = 0.032258.
    fused = reciprocal_rank_fusion([[5, 9], [1, 9]])
    assert fused[0] == (9, pytest.approx(2 / 62))


def test_rrf_empty_inputs():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([[], [4]], k=0) == [(4, 1.0)]


# --- term_overlap --------------------------------------------------------------------------------


def test_term_overlap():
    assert term_overlap({"a", "b"}, {"b", "c", "d"}) == 0.5
    assert term_overlap({"a"}, {"a", "b", "c"}) == 1.0
    assert term_overlap({"a", "b"}, {"c"}) == 0.0
    assert term_overlap(set(), {"a"}) == 0.0
    assert term_overlap(set(), set()) == 0.0


# --- collapse_near_duplicates with hand-made vectors --------------------------------------------------------


def _chunk(i: int, text: str) -> Chunk:
    return Chunk(f"d{i}.txt#0", f"d{i}.txt", 0, text, 0, len(text), ((0, len(text)),))


def test_collapse_folds_a_duplicate_and_keeps_a_related_but_distinct_passage():
    texts = [
        "وقعت OpenAI صفقة مع أمازون بقيمة 38 مليار دولار",  # 0: the best hit
        "وقعت OpenAI صفقة بقيمة 38 مليار دولار مع أمازون",  # 1: same fact, another outlet
        "سرحت أمازون 14,000 موظف الأسبوع الماضي",  # 2: close in embedding space, other facts
        "خبر لا علاقة له",  # 3: far away
    ]
    vectors = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.99, np.sqrt(1 - 0.99**2), 0.0],  # cos(0, 1) = 0.99
            [0.95, 0.0, np.sqrt(1 - 0.95**2)],  # cos(0, 2) = 0.95, cos(1, 2) = 0.9405
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float32,
    )
    terms = [set(analyze(t)) for t in texts]
    assert term_overlap(terms[0], terms[1]) == 1.0
    assert term_overlap(terms[0], terms[2]) < 0.6
    hits = [Hit(chunk=_chunk(i, t), score=1.0 / (i + 1)) for i, t in enumerate(texts)]
    # Rows deliberately permuted: hit i's vector is row rows[i].
    order = [2, 0, 3, 1]
    permuted = vectors[np.argsort(order)]
    kept = collapse_near_duplicates(hits, permuted, order, terms, threshold=0.9, min_overlap=0.6)
    assert [h.chunk.doc_id for h in kept] == ["d0.txt", "d2.txt", "d3.txt"]
    assert kept[0].duplicates == [hits[1].chunk]
    assert kept[1].duplicates == [] and kept[2].duplicates == []


def test_collapse_needs_the_cosine_threshold_too():
    texts = ["صفقة أمازون 38 مليار", "صفقة أمازون 38 مليار"]
    vectors = np.array([[1.0, 0.0], [0.8, 0.6]], dtype=np.float32)  # cosine 0.8
    terms = [set(analyze(t)) for t in texts]
    hits = [Hit(chunk=_chunk(i, t), score=1.0) for i, t in enumerate(texts)]
    assert len(collapse_near_duplicates(hits, vectors, [0, 1], terms, threshold=0.9)) == 2
    assert len(collapse_near_duplicates(hits, vectors, [0, 1], terms, threshold=0.8)) == 1


def test_collapse_folds_into_the_earliest_match_only():
    vectors = np.ones((3, 2), dtype=np.float32) / np.sqrt(2)
    terms = [{"a", "b"}] * 3
    hits = [Hit(chunk=_chunk(i, "x"), score=1.0) for i in range(3)]
    kept = collapse_near_duplicates(hits, vectors, [0, 1, 2], terms)
    assert len(kept) == 1
    assert kept[0].duplicates == [hits[1].chunk, hits[2].chunk]


def test_collapse_empty():
    assert collapse_near_duplicates([], np.zeros((0, 4), np.float32), [], []) == []


# --- Retriever on the real seed index ------------------------------------------------------------------


@pytest.fixture(scope="module")
def retriever(seed_index):
    settings, _ = seed_index
    return Retriever(Index.load(settings.index_dir, settings), settings)


@pytest.fixture(scope="module")
def query_for(retriever, embedder):
    """The query stage over the seed index, as the pipeline runs it."""
    index = retriever.index

    def make(question: str) -> Query:
        return prepare_query(question, embed=embedder.embed_queries, vocab=index.vocab,
                             vocab_vectors=index.vocab_vectors, profile=index.profile)

    return make


def _passages(hits: list[Hit]) -> list[str]:
    return [t for h in hits for t in (h.chunk.text, *(c.text for c in h.duplicates))]


@pytest.mark.slow
def test_arabic_question_about_the_deal_value_finds_38_billion(retriever, query_for):
    hits = retriever.retrieve(query_for("ما قيمة صفقة OpenAI مع أمازون؟"), k=5)
    assert len(hits) == 5
    assert any("38 مليار" in h.chunk.text for h in hits)


@pytest.mark.slow
def test_english_question_finds_the_arabic_passage(retriever, query_for):
    hits = retriever.retrieve(query_for("How much is the OpenAI Amazon cloud deal worth?"), k=5)
    assert any("38" in h.chunk.text for h in hits)
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in h.chunk.text) for h in hits)


@pytest.mark.slow
def test_hits_carry_consistent_scores_and_ranks(retriever, query_for):
    settings = retriever.settings
    question = "كم عدد الموظفين الذين سرحتهم أمازون؟"
    query = query_for(question)
    hits = retriever.retrieve(query, k=5)
    assert 1 <= len(hits) <= 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)
    q = query.vector
    for h in hits:
        ranks = [r for r in (h.dense_rank, h.bm25_rank) if r is not None]
        assert ranks, "a fused hit came from at least one retriever"
        assert all(isinstance(r, int) and 1 <= r <= settings.candidates for r in ranks)
        # The fused score is the RRF of the recorded ranks.
        assert h.score == pytest.approx(sum(1 / (settings.rrf_k + r) for r in ranks))
        assert (h.bm25_score is None) == (h.bm25_rank is None)
        assert h.bm25_score is None or h.bm25_score > 0
        # The dense score is the cosine of one of the passage's sentences with the question
        # (its best one when the dense list did not return the passage).
        row = retriever.index.chunks.index(h.chunk)
        cosines = retriever.index.sentence_vectors[retriever.index.sentence_rows[row]] @ q
        assert min(abs(cosines - h.dense_score)) < 1e-4
        if h.dense_rank is None:
            assert h.dense_score == pytest.approx(float(cosines.max()), abs=1e-4)
    # Ranks agree with each retriever run on its own.
    dense_order = [retriever.index.chunks[i].chunk_id for i, _ in retriever.dense(q, settings.candidates)]
    lexical = retriever.index.bm25.search(query.lexical, settings.candidates)
    bm25_order = [retriever.index.chunks[i].chunk_id for i, _ in lexical]
    for h in hits:
        if h.dense_rank is not None:
            assert dense_order[h.dense_rank - 1] == h.chunk.chunk_id
        if h.bm25_rank is not None:
            assert bm25_order[h.bm25_rank - 1] == h.chunk.chunk_id
    assert any("14,000" in t for t in _passages(hits))


@pytest.mark.slow
def test_dense_scores_passages_by_their_best_sentence(retriever, query_for):
    index = retriever.index
    q = query_for("ما قيمة صفقة OpenAI مع أمازون؟").vector
    dense = retriever.dense(q, 10)
    assert len(dense) == 10 and len({row for row, _ in dense}) == 10
    scores = [s for _, s in dense]
    assert scores == sorted(scores, reverse=True)
    # Brute force: each sentence's cosine, credited to the first chunk holding it.
    sims = index.sentence_vectors @ q
    best: dict[int, float] = {}
    for i in np.argsort(-sims, kind="stable"):
        best.setdefault(min(r for r, rows in enumerate(index.sentence_rows) if i in rows), float(sims[i]))
    want = list(best.items())[:10]
    assert [row for row, _ in dense] == [row for row, _ in want]
    np.testing.assert_allclose(scores, [s for _, s in want], atol=1e-5)


@pytest.mark.slow
def test_k_defaults_to_settings(retriever, query_for):
    hits = retriever.retrieve(query_for("متى أعلنت OpenAI عن الاتفاقية مع أمازون؟"))
    assert len(hits) == retriever.settings.k


@pytest.mark.slow
def test_a_question_with_no_known_term_still_gets_dense_hits(retriever, query_for):
    hits = retriever.retrieve(query_for("zzqx"), k=3)
    assert len(hits) == 3
    assert all(h.bm25_rank is None and h.dense_rank is not None for h in hits)


def test_weighted_fusion_by_hand():
    # 7: 2/(1+1) = 1; 3: 2/(1+2) + 1/(1+1) = 1.1667.
    assert reciprocal_rank_fusion([[7, 3], [3]], k=1, weights=[2.0, 1.0]) == [(3, 2 / 3 + 1 / 2), (7, 1.0)]
    with pytest.raises(ValueError, match="2 weights for 1 rankings"):
        reciprocal_rank_fusion([[1]], weights=[1.0, 1.0])


@pytest.mark.slow
def test_the_profile_chooses_the_rankings_per_language(retriever, query_for):
    from rag.profile import Profile

    index, settings = retriever.index, retriever.settings
    passages_only = Retriever(index, settings, Profile(rankings={"ar": {"passage": 1.0}, "en": {"passage": 1.0}}))
    query = query_for("ما قيمة صفقة OpenAI مع أمازون؟")
    hits = passages_only.retrieve(query, k=10)
    # Whole-passage vectors alone: the order of exact search over chunk vectors, before near-duplicates fold.
    exact = list(np.argsort(-(index.vectors @ query.vector), kind="stable"))
    kept = [index.chunks.index(h.chunk) for h in hits]
    assert kept == [r for r in exact if r in kept]
    assert all(h.bm25_rank is None for h in hits)
