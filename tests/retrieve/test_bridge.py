"""rag.retrieve.bridge: English words bridged to the corpus's Arabic words, with hand-made vectors."""

from __future__ import annotations

import numpy as np

from rag.retrieve.bridge import arabic_vocabulary, bridge_terms, bridging_vocabulary, english_content_words
from rag.text.analyze import stopwords

# --- bridge_terms with hand-made vectors --------------------------------------------------------------

VOCAB = ["خساره", "ارباح", "شركه"]
VOCAB_VECTORS = np.eye(3, dtype=np.float32)  # word i is the i-th unit vector


def test_bridge_terms_docstring_example():
    assert bridge_terms(np.eye(2)[:1], ["a", "b"], np.eye(2), 1, 0.5) == ["a"]


def test_bridge_terms_threshold():
    # Cosines: word 0 -> (0.95, 0.31, 0); word 1 -> (0, 0, 1).
    words = np.array([[0.95, 0.31, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS) == ["خساره", "شركه"]  # 0.31 < 0.9 is dropped
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS, min_cosine=0.96) == ["شركه"]  # 0.95 < 0.96
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS, min_cosine=0.3) == ["خساره", "ارباح", "شركه"]


def test_bridge_terms_per_word_cap():
    # All three above 0.9, best first: ارباح 0.97, شركه 0.95, خساره 0.93.
    words = np.array([[0.93, 0.97, 0.95]], dtype=np.float32)
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS) == ["ارباح", "شركه"]  # per_word=2
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS, per_word=1) == ["ارباح"]
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS, per_word=3) == ["ارباح", "شركه", "خساره"]


def test_bridge_terms_each_word_listed_once():
    words = np.array([[1.0, 0.0, 0.0], [0.99, 0.0, 0.0]], dtype=np.float32)
    assert bridge_terms(words, VOCAB, VOCAB_VECTORS) == ["خساره"]


def test_bridge_terms_empty():
    assert bridge_terms(np.zeros((0, 3), dtype=np.float32), VOCAB, VOCAB_VECTORS) == []
    assert bridge_terms(np.ones((1, 3), dtype=np.float32), [], np.zeros((0, 3), dtype=np.float32)) == []


# --- arabic_vocabulary and english_content_words -------------------------------------------------


def test_arabic_vocabulary_docstring_example():
    assert arabic_vocabulary(["خسارة الشركة في عام"]) == ["الشركه", "خساره"]


def test_arabic_vocabulary_normalized_distinct_sorted():
    texts = [
        "الشَّرِكَةُ أعلنت خسارة",  # tashkeel removed, ة -> ه, أ -> ا
        "الشركة التي أعلنت عن OpenAI و38 مليار من إنفيديا",
    ]
    got = arabic_vocabulary(texts)
    assert got == ["اعلنت", "الشركه", "انفيديا", "خساره", "مليار"]
    stop = stopwords()
    # No stopwords (التي, عن, من), no Latin or digits, no word under 3 letters.
    assert all(w not in stop and len(w) >= 3 for w in got)


def test_arabic_vocabulary_empty():
    assert arabic_vocabulary([]) == []
    assert arabic_vocabulary(["OpenAI 2025", "في من عن"]) == []


def test_english_content_words_docstring_example():
    assert english_content_words("What loss did OpenAI record?") == ["loss", "openai", "record"]


def test_english_content_words_lowercase_distinct_in_order():
    # "and", "for", "in" are stopwords; "AI" has 2 letters; 2025 and خسارة are not Latin words.
    assert english_content_words("Loss, LOSS and revenue for OpenAI in 2025 AI خسارة") == ["loss", "revenue", "openai"]
    assert english_content_words("ما قيمة الصفقة؟") == []




def test_bridging_vocabulary_keeps_words_of_two_passages_or_a_title():
    assert bridging_vocabulary(["خسارة كبيرة", "خسارة الشركة"], ["كبيرة"]) == ["خساره", "كبيره"]
    # A word repeated inside one passage is still one passage; min_passages=1 keeps everything.
    assert bridging_vocabulary(["الشركة الشركة"]) == []
    texts = ["خسارة كبيرة", "خسارة الشركة في عام"]
    assert bridging_vocabulary(texts, min_passages=1) == arabic_vocabulary(texts)
    assert bridging_vocabulary([]) == []
