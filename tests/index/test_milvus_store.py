"""rag.index.milvus_store against the real Milvus Lite engine (no mock), with FAISS exact search as the oracle.

The seed index is built once per module in Milvus Lite, reusing the session's seed embeddings (a change
of store alone re-embeds nothing), so these tests cost Milvus time, not model time.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason='the Milvus extra is not installed: pip install -e ".[milvus]"')

from rag.config import Settings  # noqa: E402
from rag.errors import ConfigError, StoreError  # noqa: E402
from rag.eval.gold import load_gold  # noqa: E402
from rag.index.bm25 import BM25Index  # noqa: E402
from rag.index.build import build_index  # noqa: E402
from rag.index.index import Index  # noqa: E402
from rag.index.milvus_store import Lexicon, bm25_weights, connect  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.retrieve.hybrid import reciprocal_rank_fusion  # noqa: E402
from rag.text.analyze import analyze  # noqa: E402

EDITED = "003_f8e4331a40e82c09.txt"
DELETED = "004_8d108538d953f784.txt"
ADDED = "005_added.txt"


def milvus_copy(seed_index, folder, corpus=None):
    """Settings over a copy of the session's FAISS seed index moved to Milvus Lite (nothing re-embedded)."""
    settings, _ = seed_index
    index_dir = folder / "index"
    shutil.copytree(settings.index_dir, index_dir)
    msettings = settings.with_(index_dir=index_dir, vector_store="milvus", corpus_dir=corpus)
    report = build_index(msettings)  # no embedder: a change of store alone must not need the model
    assert report.embedded == 0
    return msettings


@pytest.fixture(scope="module")
def milvus_seed(seed_index, tmp_path_factory):
    """(faiss Index, milvus Index, milvus settings) over the seeds."""
    settings, _ = seed_index
    msettings = milvus_copy(seed_index, tmp_path_factory.mktemp("milvus"))
    return Index.load(settings.index_dir, settings), Index.load(msettings.index_dir, msettings), msettings


@pytest.fixture(scope="module")
def gold_questions(seeds_dir):
    return [item.question for item in load_gold(seeds_dir / "gold_qa.jsonl")]


def test_lexicon_scores_are_bm25s_scores():
    """The sparse vectors' inner product is the Lucene BM25 score that bm25s gives (the oracle)."""
    texts = ["أعلنت أمازون عن صفقة سحابية مع OpenAI بقيمة 38 مليار دولار",
             "سرحت أمازون آلاف الموظفين هذا العام", "OpenAI recorded a loss of five billion dollars",
             "صفقة أمازون وصفقة مايكروسوفت", ""]
    analyzed = [analyze(t) for t in texts]
    lexicon = Lexicon.build(analyzed)
    docs = [bm25_weights(a, lexicon.ids, lexicon.avgdl) for a in analyzed]
    bm25 = BM25Index.build(texts)
    for query in ["صفقة أمازون", "OpenAI loss", "موظفين أمازون أمازون"]:
        q = lexicon.query(query)
        ours = np.array([sum(w * d.get(t, 0.0) for t, w in q.items()) for d in docs])
        expected = np.zeros(len(texts))
        for row, score in bm25.search(query, len(texts)):
            expected[row] = score
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def assert_same_ranking(ids, scores, other_ids, other_scores, what: str, tol: float = 2e-4) -> None:
    """Same ids in the same order with the same scores, except that ids whose scores tie may swap.

    ``ids``/``scores`` may hold one result more than ``other_ids``, so a tie at the cut-off is seen.
    """
    n = len(other_ids)
    assert len(ids) in (n, n + 1), what
    if not n:
        return
    np.testing.assert_allclose(other_scores, scores[:n], atol=tol, err_msg=what)
    for i, (a, b) in enumerate(zip(ids[:n], other_ids, strict=True)):
        tied = any(abs(scores[i] - scores[j]) < tol for j in (i - 1, i + 1) if 0 <= j < len(scores))
        assert a == b or tied, f"{what}: rank {i + 1} is {b}, expected {a}"


@pytest.mark.slow
def test_seed_top_k_matches_faiss_exact(milvus_seed, gold_questions, embedder):
    """Flat index: every seed gold question gets FAISS exact's top 10 (chunks and sentences) and BM25's."""
    faiss_index, milvus_index, _ = milvus_seed
    assert milvus_index.stores.name == "milvus" and faiss_index.stores.name == "faiss"
    vectors = embedder.embed_queries(gold_questions)
    for store in ("store", "sentence_store"):
        f_scores, f_ids = getattr(faiss_index, store).search(vectors, 11)
        m_scores, m_ids = getattr(milvus_index, store).search(vectors, 10)
        for q, question in enumerate(gold_questions):
            assert_same_ranking(f_ids[q], f_scores[q], m_ids[q], m_scores[q], question)
    for question in gold_questions:
        expected = faiss_index.bm25.search(question, 11)
        got = milvus_index.bm25.search(question, 10)
        assert_same_ranking([r for r, _ in expected], [s for _, s in expected], [r for r, _ in got],
                            [s for _, s in got], question)


@pytest.mark.slow
def test_doc_filter_both_stores(milvus_seed, embedder):
    faiss_index, milvus_index, _ = milvus_seed
    v = embedder.embed_query("ما قيمة صفقة OpenAI مع أمازون؟")[None, :]
    for index in (faiss_index, milvus_index):
        _, ids = index.sentence_store.search(v, 10, doc_ids=[EDITED])
        assert len(ids[0]) and {index.chunks[index.sentence_chunk[i]].doc_id for i in ids[0] if i >= 0} == {EDITED}
        rows = index.bm25.search("مايكروسوفت", 10, doc_ids=[EDITED])
        assert rows and {index.chunks[r].doc_id for r, _ in rows} == {EDITED}
    _, f_ids = faiss_index.sentence_store.search(v, 10, doc_ids=[EDITED])
    _, m_ids = milvus_index.sentence_store.search(v, 10, doc_ids=[EDITED])
    assert sorted(f_ids[0].tolist()) == sorted(m_ids[0].tolist())


@pytest.mark.slow
def test_milvus_hybrid_rrf_is_rrf_of_dense_and_bm25(milvus_seed, embedder):
    """Milvus's own hybrid search with its RRF ranker against our reciprocal_rank_fusion of the same two lists."""
    _, index, settings = milvus_seed
    collection = index.store.collection
    for question in ["ما قيمة صفقة OpenAI مع أمازون؟", "كم موظفا سرحت أمازون؟"]:
        v = embedder.embed_query(question)
        _, dense = index.store.search(v[None, :], 10)
        lexical = [r for r, _ in index.bm25.search(question, 10)]
        expected = reciprocal_rank_fusion([dense[0].tolist(), lexical], settings.rrf_k)[:5]
        got = collection.hybrid(v, question, 10, settings.rrf_k)[:5]
        row_of = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-4)
        assert {row_of[k] for k, _ in got} == {r for r, _ in expected} or len({s for _, s in expected}) < 5


def _edit_corpus(corpus):
    (corpus / EDITED).write_text((corpus / EDITED).read_text(encoding="utf-8") + "\nوأضاف المتحدث أن شركة "
                                 "زيلوفاكس ستنضم إلى الشراكة في العام المقبل.\n", encoding="utf-8")
    (corpus / DELETED).unlink()
    (corpus / ADDED).write_text("شراكة جديدة\n\nأعلنت شركة زيلوفاكس عن شراكة جديدة مع أمازون لبناء مراكز بيانات "
                                "في الخليج بقيمة عشرة مليارات دولار.\n", encoding="utf-8")


@pytest.mark.slow
def test_incremental_update_matches_rebuild(seed_index, tmp_path, embedder):
    """Deletes and inserts only the changed documents' rows, and then searches like a fresh build."""
    corpus = tmp_path / "corpus"
    shutil.copytree(seed_index[0].corpus_dir, corpus)
    for f in corpus.iterdir():
        f.chmod(0o644)
    incremental = milvus_copy(seed_index, tmp_path, corpus)
    index_dir = incremental.index_dir
    collection_before = Index.load(index_dir, incremental).stores.info["collection"]
    _edit_corpus(corpus)
    report = build_index(incremental, embedder)
    assert 0 < report.embedded < report.chunks and report.reused > 0
    updated = Index.load(index_dir, incremental)
    assert updated.stores.info["collection"] == collection_before  # updated in place, no new collection

    # The rebuild: the same corpus written whole into a new collection (the changed documents embedded
    # through a FAISS copy of the seed index, then the store switched, which writes every row anew).
    fresh_dir = tmp_path / "fresh"
    shutil.copytree(seed_index[0].index_dir, fresh_dir)
    build_index(seed_index[0].with_(index_dir=fresh_dir, corpus_dir=corpus), embedder)
    fresh = incremental.with_(index_dir=fresh_dir)
    assert build_index(fresh, embedder).embedded == 0
    rebuilt = Index.load(fresh.index_dir, fresh)
    assert rebuilt.stores.info["collection"] != collection_before
    assert [c.chunk_id for c in updated.chunks] == [c.chunk_id for c in rebuilt.chunks]
    assert updated.store.size == rebuilt.store.size and updated.sentence_store.size == rebuilt.sentence_store.size
    questions = ["ما قيمة صفقة OpenAI مع أمازون؟", "من ستنضم إلى الشراكة؟", "How long is the AWS deal?"]
    v = embedder.embed_queries(questions)
    for store in ("store", "sentence_store"):
        u_scores, u_ids = getattr(updated, store).search(v, 10)
        r_scores, r_ids = getattr(rebuilt, store).search(v, 10)
        np.testing.assert_allclose(u_scores, r_scores, atol=1e-4)
        assert u_ids.tolist() == r_ids.tolist()
    # BM25: the same passages for a term only the edit and the new article carry.
    assert {updated.chunks[r].doc_id for r, _ in updated.bm25.search("زيلوفاكس", 10)} == {EDITED, ADDED}
    assert {rebuilt.chunks[r].doc_id for r, _ in rebuilt.bm25.search("زيلوفاكس", 10)} == {EDITED, ADDED}
    assert not [r for r, _ in updated.bm25.search("أمازون", 50) if updated.chunks[r].doc_id == DELETED]


@pytest.mark.slow
def test_crash_mid_build_keeps_previous_alias_serving(seed_index, tmp_path, embedder, monkeypatch):
    s = milvus_copy(seed_index, tmp_path)
    index_dir = s.index_dir
    before = Index.load(index_dir, s)
    v = embedder.embed_query("ما قيمة صفقة OpenAI مع أمازون؟")[None, :]
    expected = before.sentence_store.search(v, 10)[1].tolist()
    client = connect(str((index_dir / "milvus.db").resolve()))
    live = client.describe_alias(s.milvus_collection)["collection_name"]
    insert = client.insert
    calls = []

    def crash(name, rows, **kwargs):
        calls.append(name)
        if len(calls) > 1:
            raise KeyboardInterrupt("simulated crash mid-build")
        return insert(name, rows, **kwargs)

    monkeypatch.setattr(client, "insert", crash)
    monkeypatch.setattr("rag.index.milvus_store._INSERT_BATCH", 50)
    with pytest.raises(KeyboardInterrupt):  # a new ANN structure: a new collection, the embeddings reused
        build_index(s.with_(ann="hnsw"), embedder)
    monkeypatch.undo()
    assert client.describe_alias(s.milvus_collection)["collection_name"] == live
    assert calls[0] != live and calls[0] not in client.list_collections()  # the half-written build is dropped
    after = Index.load(index_dir, s)
    assert after.sentence_store.search(v, 10)[1].tolist() == expected


def test_dead_server_names_the_uri(settings_factory, tmp_path, embedder):
    """A server that is not there, and a URI that is not one: a StoreError that names the URI, at once."""
    (tmp_path / "a.txt").write_text("عنوان\n\nنص قصير عن صفقة.\n", encoding="utf-8")
    for uri in ("http://127.0.0.1:9", "ftp://milvus.invalid/x"):
        settings = settings_factory(corpus_dir=tmp_path, vector_store="milvus", milvus_uri=uri)

        with pytest.raises(StoreError, match=uri.replace(".", r"\.")):
            build_index(settings, embedder)


@pytest.mark.slow
def test_engine_fusion_is_one_hybrid_search_that_the_chat_path_uses(milvus_seed, gold_questions, embedder):
    """``--fusion engine``: the pipeline's retrieval is one Milvus hybrid search, which must equal our RRF of
    the engine's own passage and BM25 rankings (each checked against FAISS exact and bm25s above) for every
    seed gold question; the pipeline's hits come from it, and the answer quotes."""
    _, milvus_index, settings = milvus_seed
    engine = Pipeline(settings.with_(fusion="engine"), milvus_index, embedder)
    n = settings.candidates
    for question in gold_questions:
        query = engine.prepare(question)
        _, dense = milvus_index.store.search(query.vector[None, :], n)
        lexical = [r for r, _ in milvus_index.bm25.search(query.lexical, n)]
        expected = reciprocal_rank_fusion([[int(i) for i in dense[0] if i >= 0], lexical], settings.rrf_k)
        got = milvus_index.hybrid(query.vector, query.lexical, n, settings.rrf_k, None)
        assert_same_ranking([r for r, _ in expected][:11], [s for _, s in expected][:11], [r for r, _ in got][:10],
                            [s for _, s in got][:10], question, tol=1e-6)
        hits = engine.retrieve(query, 5)
        assert hits and {h.chunk.chunk_id for h in hits} <= {milvus_index.chunks[r].chunk_id for r, _ in got}
    answer = engine.ask("ما قيمة صفقة OpenAI مع أمازون؟")
    assert not answer.abstained and "38" in answer.text


def test_engine_fusion_needs_the_milvus_store():
    with pytest.raises(ConfigError, match="needs the milvus store"):
        Settings(fusion="engine")
    with pytest.raises(ConfigError, match="fusion 'nowhere' is not one of process, engine"):
        Settings(fusion="nowhere", vector_store="milvus")
    assert Settings(fusion="engine", vector_store="milvus").fusion == "engine"


@pytest.mark.slow
def test_a_child_process_opens_the_lite_file_once_this_one_lets_go(seed_index, tmp_path):
    """Milvus Lite opens a file in one process at a time: ``rag bench`` lets go of it (``disconnect``) before
    its start-up measure starts a fresh process on the same index, which must then load it and answer."""
    from rag.bench.startup import bench_startup
    from rag.errors import RagError
    from rag.index.milvus_store import LITE_FILE, disconnect

    settings = milvus_copy(seed_index, tmp_path)
    Index.load(settings.index_dir, settings)  # this process now holds the Lite file
    with pytest.raises(RagError, match="cannot reach Milvus"):
        bench_startup(settings, "ما قيمة صفقة OpenAI مع أمازون؟")
    disconnect(str((settings.index_dir / LITE_FILE).resolve()))
    result = bench_startup(settings, "ما قيمة صفقة OpenAI مع أمازون؟")
    assert result["startup_s"] > 0
