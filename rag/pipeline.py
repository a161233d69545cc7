"""The question-answering pipeline: validate -> (follow-up) -> embed -> retrieve -> answer.

``Pipeline`` is what the CLI, the app and the evaluation all call, so they share one code path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from rag.answer import Answerer, AnswerRequest
from rag.answer.extractive import ExtractiveAnswerer, idf_table
from rag.config import BACKENDS, Settings
from rag.embed.embedder import Embedder
from rag.errors import ConfigError, QuestionError
from rag.index.build import build_index
from rag.index.index import Index
from rag.retrieve.bridge import english_content_words
from rag.retrieve.followup import expand_follow_up
from rag.retrieve.hybrid import Retriever
from rag.text.analyze import analyze
from rag.text.normalize import detect_language
from rag.text.translit import NameIndex
from rag.types import Answer, Document

log = logging.getLogger(__name__)


def validate_question(question: str, max_chars: int = 2000) -> str:
    """The question stripped, or a QuestionError saying what is wrong with it.

    Example: ``validate_question("  متى؟ ") == "متى؟"``
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    stripped = question.strip()
    if not stripped:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(stripped) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(stripped):,} characters; the limit is {max_chars:,})"
        )
    if "\x00" in stripped:
        raise QuestionError("the question contains a NUL character")
    return stripped


class Pipeline:
    """A loaded index, the embedding model and the answer backends, ready for questions.

    Safe for concurrent ``ask_stream`` calls: the embedder serializes the model's forward passes.
    """

    def __init__(self, settings: Settings, index: Index, embedder: Embedder) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.retriever = Retriever(index, embedder, settings)
        self._answerers: dict[str, Answerer] = {}
        self._chat_models: dict[str, object] = {}
        self._row_of = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self._idf = idf_table([set(analyze(c.text)) for c in index.chunks])
        self._embed_cached = lru_cache(maxsize=256)(self._embed_uncached)

    @property
    def documents(self) -> dict[str, Document]:
        return self.index.documents

    @classmethod
    def load(cls, settings: Settings, *, build_if_missing: bool = False, progress: bool = False) -> Pipeline:
        """Load the index in ``settings.index_dir`` and the model.

        With ``build_if_missing``, the index is first brought up to date with the corpus
        (built if missing, rebuilt if made with other settings; a no-op when current).
        """
        from rag.embed.embedder import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(settings)
        if build_if_missing:
            report = build_index(settings, embedder, progress=progress)
            if report.embedded:
                log.info("indexed %d new chunks from %s", report.embedded, settings.corpus_dir)
        return cls(settings, Index.load(settings.index_dir, settings), embedder)

    # --- embedding ---------------------------------------------------------------------
    def _embed_uncached(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        # An English question's content words ride along in the same forward pass: they are
        # bridged to Arabic words for BM25 (see Retriever.lexical_query).
        words = english_content_words(text) if detect_language(text) == "en" else []
        vectors = self.embedder.embed_queries([text, *words])
        return vectors[0], vectors[1:]

    def embed_query(self, text: str) -> np.ndarray:
        """The query embedding, cached: a question is embedded once per pipeline."""
        return self._embed_cached(text)[0]

    def lexical_query(self, text: str) -> str:
        """The BM25 query for ``text`` (see ``Retriever.lexical_query``), from the cached embeddings."""
        return self.retriever.lexical_query(text, self._embed_cached(text)[1])

    def sentence_vector(self, chunk_id: str, i: int) -> np.ndarray:
        row = self._row_of[chunk_id]
        return self.index.sentence_vectors[self.index.sentence_rows[row][i]]

    # --- backends ----------------------------------------------------------------------
    def answerer(self, name: str | None = None) -> Answerer:
        """The answer backend called ``name`` (default: the configured one), built on first use."""
        name = name or self.settings.backend
        if name not in BACKENDS:
            raise ConfigError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
        if name not in self._answerers:
            self._answerers[name] = self._make_answerer(name)
        return self._answerers[name]

    def _make_answerer(self, name: str) -> Answerer:
        if name == "extractive":
            return ExtractiveAnswerer(
                self.sentence_vector, self.embed_query, self._idf,
                NameIndex([c.text for c in self.index.chunks]), max_quotes=self.settings.max_quotes,
            )
        from rag.answer.generative import GenerativeAnswerer

        # A generative answer that verifies nothing falls back to the extractive one.
        return GenerativeAnswerer(self.chat_model(name), self.answerer("extractive"), name)

    def chat_model(self, name: str):
        """The LLM behind a generative backend (``openai`` or ``transformers``), built once."""
        from rag.answer.llm import OpenAIChat, TransformersChat

        if name not in self._chat_models:
            chat = OpenAIChat if name == "openai" else TransformersChat
            self._chat_models[name] = chat.from_settings(self.settings)
        return self._chat_models[name]

    def retrieval_query(self, question: str, history: list[tuple[str, str]], backend: str) -> str:
        """The text to retrieve with: an LLM rewrite of a follow-up where one is configured,
        else the question with the previous question's terms carried over."""
        if history and backend != "extractive":
            from rag.answer.generative import rewrite_follow_up
            from rag.retrieve.followup import is_follow_up

            if is_follow_up(question):
                return rewrite_follow_up(self.chat_model(backend), question, history)
        return expand_follow_up(question, history)

    # --- asking ------------------------------------------------------------------------
    def ask_stream(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        k: int | None = None,
        backend: str | None = None,
    ) -> Iterator[str | Answer]:
        """Answer ``question``: yield text deltas as they come, then the final Answer.

        Raises:
            QuestionError: before anything is yielded, for an empty or over-long question.
        """
        question = validate_question(question, self.settings.max_question_chars)
        history = list(history or [])
        backend = backend or self.settings.backend
        answerer = self.answerer(backend)
        return self._run(question, history, k, backend, answerer)

    def _run(self, question, history, k, backend, answerer) -> Iterator[str | Answer]:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        language = detect_language(question)
        query = self.retrieval_query(question, history, backend)
        t = time.perf_counter()
        qvec = self.embed_query(query)
        timings["embed_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        lexical_query = self.lexical_query(query)
        hits = self.retriever.retrieve(query, k or self.settings.k, query_vector=qvec, lexical_query=lexical_query)
        timings["retrieve_ms"] = (time.perf_counter() - t) * 1000
        request = AnswerRequest(query, language, hits, self.documents, history, lexical_query)
        t = time.perf_counter()
        final: Answer | None = None
        for item in answerer.stream(request):
            if isinstance(item, Answer):
                final = item
            else:
                yield item
        assert final is not None, f"backend {backend} produced no answer"
        timings["answer_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        final.question = question
        final.passages = hits
        final.timings = {k_: round(v, 2) for k_, v in timings.items()}
        final.retrieval_query = query
        yield final

    def ask(self, question: str, **kwargs) -> Answer:
        """Answer ``question`` and return the final Answer (see ``ask_stream``)."""
        final = None
        for item in self.ask_stream(question, **kwargs):
            final = item
        assert isinstance(final, Answer)
        return final
