"""rag.retrieve.query: the query stage with a counting fake embedder, then on the real seed index."""

from __future__ import annotations

import numpy as np
import pytest

from rag.profile import Profile
from rag.retrieve.query import CachedEmbedder, lexical_terms, prepare_query, retrieval_text

VOCAB = ["خساره", "انفيديا", "شركه"]
VOCAB_VECTORS = np.eye(3, dtype=np.float32)


class CountingEmbedder:
    """Maps "loss" near خساره and everything else to a fixed vector; counts forward passes and texts."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.tile(np.array([0.0, 0.0, 0.5], np.float32), (len(texts), 1))
        for i, t in enumerate(texts):
            if t == "loss":
                out[i] = [0.95, 0.0, 0.0]
        return out


def test_retrieval_text_docstring_example():
    assert retrieval_text("وما مدتها؟", [("ما قيمة الصفقة؟", "...")], Profile()) == "ما مدة الصفقة؟"


def test_retrieval_text_uses_the_rewriter_only_for_follow_ups():
    calls = []

    def rewrite(question, history):
        calls.append(question)
        return "REWRITTEN"

    history = [("ما قيمة الصفقة؟", "...")]
    assert retrieval_text("وما مدتها؟", history, Profile(), rewrite) == "REWRITTEN"
    standalone = "ما عاصمة كندا الاقتصادية الكبرى؟"
    assert retrieval_text(standalone, history, Profile(), rewrite) == standalone
    assert retrieval_text("وما مدتها؟", [], Profile(), rewrite) == "وما مدتها؟"
    assert calls == ["وما مدتها؟"]


def test_a_rewrite_that_gives_the_question_back_falls_back_to_the_grammar():
    """A chat model that failed (``rewrite_follow_up`` returns the question as asked) still gets the follow-up
    resolved."""
    history = [("ما قيمة الصفقة؟", "...")]
    assert retrieval_text("وما مدتها؟", history, Profile(), lambda q, h: q) == "ما مدة الصفقة؟"


def test_lexical_terms_docstring_example():
    assert lexical_terms(["nvidia"], None, ["انفيديا"], np.zeros((1, 2)), Profile()) == ["انفيديا"]


def test_lexical_terms_bridge_by_vector_then_transliteration_without_repeats():
    words = ["loss", "nvidia"]
    vectors = np.array([[0.95, 0, 0], [0, 0.95, 0]], np.float32)
    assert lexical_terms(words, vectors, VOCAB, VOCAB_VECTORS, Profile()) == ["خساره", "انفيديا"]
    # Above the profile's minimum cosine only.
    assert lexical_terms(words, vectors, VOCAB, VOCAB_VECTORS, Profile(bridge_min_cosine=0.99)) == ["انفيديا"]
    assert lexical_terms([], vectors, VOCAB, VOCAB_VECTORS, Profile()) == []
    assert lexical_terms(words, vectors, [], np.zeros((0, 3)), Profile()) == []
    # Bridging by vector looks in the embedded vocabulary; transliteration in every word of the corpus.
    assert lexical_terms(words, vectors, [], np.zeros((0, 3)), Profile(), corpus_words=VOCAB) == ["انفيديا"]


def test_english_question_costs_one_forward_pass_and_bridges_with_the_dictionary():
    embed = CountingEmbedder()
    q = prepare_query("What loss did Nvidia record?", embed=embed, vocab=VOCAB, vocab_vectors=VOCAB_VECTORS,
                      profile=Profile(), translate=lambda text: ["سجل"] if "record" in text else [])
    assert q.language == "en" and q.text == q.retrieval_text == "What loss did Nvidia record?"
    # The default rankings fuse no bridged dense ranking for English (it did not pay on XQuAD-dev), so one
    # forward pass embeds the question and its content words, as for an Arabic question.
    assert embed.calls == [["What loss did Nvidia record?", "loss", "nvidia", "record"]]
    assert q.bridged == ("خساره", "انفيديا") and q.bridged_vector is None
    assert q.lexical == "What loss did Nvidia record? خساره انفيديا سجل"  # bridged, then dictionary words
    assert q.vector.shape == (3,)


def test_a_bridged_ranking_costs_a_second_forward_pass():
    embed = CountingEmbedder()
    profile = Profile(rankings={"ar": {"sentence": 1}, "en": {"sentence": 1, "bridged": 1}})
    q = prepare_query("What loss did Nvidia record?", embed=embed, vocab=VOCAB, vocab_vectors=VOCAB_VECTORS,
                      profile=profile)
    assert embed.calls[1] == ["خساره انفيديا"] and len(embed.calls) == 2
    assert q.bridged_vector is not None and q.lexical == "What loss did Nvidia record? خساره انفيديا"


def test_arabic_question_costs_one_forward_pass_and_bridges_only_transliterations():
    embed = CountingEmbedder()
    q = prepare_query("ما خسارة Nvidia؟", embed=embed, vocab=VOCAB, vocab_vectors=VOCAB_VECTORS, profile=Profile())
    assert q.language == "ar"
    assert embed.calls == [["ما خسارة Nvidia؟"]]
    assert q.bridged == ("انفيديا",) and q.bridged_vector is None
    assert q.lexical == "ما خسارة Nvidia؟ انفيديا"


def test_follow_up_is_resolved_before_embedding():
    embed = CountingEmbedder()
    q = prepare_query("وما مدتها؟", [("ما قيمة الصفقة؟", "بحسب المقالات")], embed=embed, vocab=[],
                      vocab_vectors=np.zeros((0, 3)), profile=Profile())
    assert q.text == "وما مدتها؟" and q.retrieval_text == "ما مدة الصفقة؟"
    assert embed.calls == [["ما مدة الصفقة؟"]]
    assert q.lexical == "ما مدة الصفقة؟ مدتها"  # the turn's own word as asked: "مدتها" and "مدة" stem apart
    assert q.history == (("ما قيمة الصفقة؟", "بحسب المقالات"),)
    assert q.to_dict()["retrieval_text"] == q.retrieval_text and "vector" not in q.to_dict()


def test_cached_embedder_embeds_each_text_once_and_evicts_the_oldest():
    embed = CountingEmbedder()
    cached = CachedEmbedder(embed, size=2)
    first = cached(["a", "b"])
    again = cached(["b", "a"])
    np.testing.assert_array_equal(first[::-1], again)
    assert embed.calls == [["a", "b"]]
    cached(["c"])  # evicts "b" (the least recently used after "b", "a" were read)
    cached(["a"])
    assert embed.calls == [["a", "b"], ["c"]]
    cached(["b"])
    assert embed.calls[-1] == ["b"]
    cached.clear()
    cached(["a"])
    assert embed.calls[-1] == ["a"]


@pytest.mark.slow
def test_on_the_seed_index_an_english_question_gets_arabic_terms(seed_pipeline):
    q = seed_pipeline.prepare("How much is the OpenAI Amazon cloud deal worth?")
    assert q.lexical.startswith("How much is the OpenAI Amazon cloud deal worth?")
    assert q.bridged and all(w in seed_pipeline.index.vocab for w in q.bridged)
    np.testing.assert_allclose(q.vector, seed_pipeline.embedder.embed_query(q.retrieval_text), atol=1e-5)
    assert seed_pipeline.prepare("ما قيمة الصفقة؟").lexical == "ما قيمة الصفقة؟"
