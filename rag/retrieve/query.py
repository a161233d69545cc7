"""The query stage: a question (and the conversation so far) becomes a ``Query`` ready for retrieval.

It resolves a follow-up against earlier turns (an LLM rewrite where a chat model is given, else by
grammar: ``rag.retrieve.followup``), embeds the text, and for a Latin-script question bridges its
words to Arabic words of the corpus (by embedding for an English question, by transliteration for any).
Everything downstream reads the ``Query``; nothing recomputes it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from rag.profile import Profile
from rag.retrieve.bridge import bridge_terms, english_content_words
from rag.retrieve.followup import is_follow_up, own_words, resolve_follow_up
from rag.text.normalize import detect_language
from rag.text.translit import Skeletons
from rag.types import Query

log = logging.getLogger(__name__)

#: ``rewrite(question, history) -> standalone question``, e.g. an LLM rewrite of a follow-up.
Rewriter = Callable[[str, list[tuple[str, str]]], str]
#: ``embed(texts) -> one L2-normalized query vector per text``.
EmbedQueries = Callable[[list[str]], np.ndarray]


def retrieval_text(question: str, history: Sequence[tuple[str, str]], profile: Profile,
                   rewrite: Rewriter | None = None, translate: Callable[[str], Sequence[str]] | None = None) -> str:
    """The text to retrieve and answer with: the question, or a follow-up resolved against the conversation
    (by ``rewrite`` where given, by grammar where it is not or gives the question back unchanged;
    ``translate`` renders an English subject carried into an Arabic turn).

    Example: ``retrieval_text("وما مدتها؟", [("ما قيمة الصفقة؟", "...")], Profile()) == "ما مدة الصفقة؟"``
    """
    history = list(history)
    if history and rewrite is not None and is_follow_up(question, profile):
        rewritten = rewrite(question, history)
        if rewritten != question:
            return rewritten
    return resolve_follow_up(question, history, profile, translate)


def lexical_terms(words: Sequence[str], word_vectors: np.ndarray | None, vocab: Sequence[str],
                  vocab_vectors: np.ndarray, profile: Profile,
                  corpus_words: Sequence[str] | Skeletons | None = None) -> list[str]:
    """Arabic words of the corpus for a question's Latin-script words.

    Two bridges: the words whose embedding is nearest (only when ``word_vectors`` is given, i.e. for an
    English question: "loss" -> خساره), and the words that could be transliterations ("Nvidia" -> انفيديا).
    ``vocab`` is the embedded (bounded) vocabulary; transliteration looks in ``corpus_words`` (every Arabic
    word of the corpus, best indexed once as ``Skeletons`` for many questions) when given.

    Example: ``lexical_terms(["nvidia"], None, ["انفيديا"], np.zeros((1, 2)), Profile()) == ["انفيديا"]``
    """
    corpus_words = vocab if corpus_words is None else corpus_words
    if not words or not (len(vocab) or len(corpus_words)):
        return []
    terms: list[str] = []
    if word_vectors is not None and len(vocab):
        terms = bridge_terms(word_vectors, vocab, vocab_vectors, profile.bridge_per_word, profile.bridge_min_cosine)
    skeletons = corpus_words if isinstance(corpus_words, Skeletons) else Skeletons(
        corpus_words, profile.translit_min_consonants)
    terms += [t for t in skeletons.transliterations(words) if t not in terms]
    return terms


def prepare_query(
    question: str,
    history: Sequence[tuple[str, str]] = (),
    *,
    embed: EmbedQueries,
    vocab: Sequence[str],
    vocab_vectors: np.ndarray,
    profile: Profile,
    rewrite: Rewriter | None = None,
    corpus_words: Sequence[str] | Skeletons | None = None,
    translate: Callable[[str], Sequence[str]] | None = None,
) -> Query:
    """Make a validated question into a ``Query``.

    The question's embedding and, for an English question, its content words' embeddings (for bridging)
    come from one forward pass; the bridged Arabic words joined are embedded as a rough translation for a
    third dense ranking.

    Example: ``prepare_query("متى؟", embed=model.embed_queries, vocab=[], vocab_vectors=v, profile=p).language == "ar"``

    Args:
        question: The question, already validated.
        history: Earlier turns ``(question, answer_text)``, oldest first.
        embed: Embeds query texts.
        vocab: The corpus's Arabic words (see ``rag.retrieve.bridge.arabic_vocabulary``).
        vocab_vectors: Their embeddings, row-aligned.
        profile: The corpus profile (follow-up and bridging limits).
        rewrite: Rewrites a follow-up into a standalone question (an LLM); None carries terms over.
        corpus_words: Every Arabic word of the corpus, for transliteration (default: ``vocab``), or its
            ``Skeletons`` (indexed with the profile's ``translit_min_consonants``).
        translate: Arabic renderings of an English text's words (``rag.text.dictionary``), added to an English
            question's BM25 query and given to an English subject carried into an Arabic follow-up; None adds none.
    """
    history = [(str(q), str(a)) for q, a in history]
    text = retrieval_text(question, history, profile, rewrite, translate)
    english = detect_language(text) == "en"
    words = english_content_words(text)
    vectors = embed([text, *words] if english else [text])
    bridged = lexical_terms(words, vectors[1:] if english else None, vocab, vocab_vectors, profile, corpus_words)
    wants_bridged = "bridged" in profile.rankings_for(detect_language(question))
    bridged_vector = embed([" ".join(bridged)])[0] if bridged and english and wants_bridged else None
    return Query(
        text=question,
        language=detect_language(question),
        retrieval_text=text,
        lexical=" ".join([text, *(own_words(question, text) if text != question else ()), *bridged,
                          *(translate(text) if english and translate is not None else ())]),
        vector=vectors[0],
        bridged=tuple(bridged),
        bridged_vector=bridged_vector,
        history=tuple(history),
    )


class CachedEmbedder:
    """Query embeddings cached per text (a question asked again, or re-scored by the evaluation, costs nothing).

    Args:
        embed: Embeds query texts.
        size: Texts kept, least recently used dropped first.
    """

    def __init__(self, embed: EmbedQueries, size: int = 256) -> None:
        self._embed = embed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            fresh = self._embed(missing)
            with self._lock:
                for t, v in zip(missing, fresh, strict=True):
                    self._cache[t] = v
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        with self._lock:
            for t in texts:
                if t in self._cache:
                    self._cache.move_to_end(t)
            out = [self._cache.get(t) for t in texts]
        if any(v is None for v in out):  # evicted by another thread meanwhile: embed again
            return self._embed(list(texts))
        return np.stack(out)  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
