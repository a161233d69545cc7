"""Cross-lingual term bridging: English question words -> Arabic words of the corpus.

BM25 cannot match "loss" to "خسارة". The embedding model can: each Arabic word of the
corpus vocabulary is embedded once at index time, and an English question's content words
are mapped to their nearest Arabic words, which join the BM25 query. Nothing here is
specific to a topic: the vocabulary is whatever the indexed articles contain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from rag.text.analyze import stopwords
from rag.text.normalize import normalize, tokenize
from rag.text.translit import ARABIC_WORD

_LATIN_WORD = re.compile("^[a-z]{3,}$")


def arabic_vocabulary(texts: Iterable[str]) -> list[str]:
    """Sorted distinct Arabic words (normalized, 3+ letters, no stopwords) of ``texts``.

    Example: ``arabic_vocabulary(["خسارة الشركة في عام"]) == ["الشركه", "خساره"]``
    """
    stop = stopwords()
    words = set()
    for text in texts:
        for tok in tokenize(normalize(text, lexical=True)):
            if ARABIC_WORD.match(tok) and tok not in stop and normalize(tok) not in stop:
                words.add(tok)
    return sorted(words)


def bridging_vocabulary(passages: Sequence[str], titles: Iterable[str] = (), min_passages: int = 2) -> list[str]:
    """The Arabic words worth embedding for bridging: in at least ``min_passages`` passages, or in a title.

    A word seen in one passage only is mostly a name, a typo or a rare inflection; its passage is
    found by the dense retriever anyway, and transliteration still sees the whole vocabulary. Bounding
    the embedded words this way keeps the build's cost following the text rather than the vocabulary.

    Example: ``bridging_vocabulary(["خسارة كبيرة", "خسارة الشركة"], ["كبيرة"]) == ["خساره", "كبيره"]``
    """
    counts: dict[str, int] = {}
    for text in passages:
        for word in arabic_vocabulary([text]):
            counts[word] = counts.get(word, 0) + 1
    keep = {w for w, n in counts.items() if n >= min_passages} | set(arabic_vocabulary(titles))
    return sorted(keep)


def english_content_words(question: str) -> list[str]:
    """The question's Latin content words (lowercase, 3+ letters, no stopwords), in order.

    Example: ``english_content_words("What loss did OpenAI record?") == ["loss", "openai", "record"]``
    """
    stop = stopwords()
    out: list[str] = []
    for tok in tokenize(normalize(question)):
        if _LATIN_WORD.match(tok) and tok not in stop and tok not in out:
            out.append(tok)
    return out


def bridge_terms(
    word_vectors: np.ndarray, vocab: Sequence[str], vocab_vectors: np.ndarray,
    per_word: int = 2, min_cosine: float = 0.9,
) -> list[str]:
    """Nearest vocabulary words for each query word vector, kept above ``min_cosine``.

    Example: ``bridge_terms(np.eye(2)[:1], ["a", "b"], np.eye(2), 1, 0.5) == ["a"]``
    """
    if not len(vocab) or not len(word_vectors):
        return []
    sims = word_vectors @ vocab_vectors.T
    out: list[str] = []
    for row in sims:
        for i in np.argsort(-row)[:per_word]:
            if row[i] >= min_cosine and vocab[i] not in out:
                out.append(vocab[i])
    return out
