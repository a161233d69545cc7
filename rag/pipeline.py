"""The question-answering pipeline: validate -> query -> retrieve -> answer.

``Pipeline`` is what the CLI, the app and the evaluation all call, so they share one code path. It only
wires the stages: the query stage (``rag.retrieve.query``) makes the question a ``Query``, hybrid
retrieval (``rag.retrieve.hybrid``) turns it into hits, and an answer backend (``rag.answer``) turns
both into an ``Answer`` that carries its own evidence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from functools import partial

from rag.answer import Answerer, AnswerRequest, BackendContext, make_answerer
from rag.answer.reader import reader_for
from rag.config import Settings
from rag.embed.embedder import Embedder
from rag.index.build import build_index
from rag.index.index import Index
from rag.profile import Profile
from rag.retrieve.filters import article_filter
from rag.retrieve.followup import rewrite_follow_up
from rag.retrieve.hybrid import Retriever
from rag.retrieve.query import CachedEmbedder, prepare_query
from rag.retrieve.question import validate_question
from rag.text.dictionary import english_arabic, translations
from rag.text.translit import Skeletons
from rag.types import Answer, Document, Hit, Query

log = logging.getLogger(__name__)


class Pipeline:
    """A loaded index, the embedding model and the answer backends, ready for questions.

    Safe for concurrent ``ask_stream`` calls: the embedder serializes the model's forward passes.
    """

    def __init__(self, settings: Settings, index: Index, embedder: Embedder) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.profile = index.profile
        self.embed = CachedEmbedder(embedder.embed_queries)
        self.retriever = Retriever(index, settings, self.profile)
        self._answerers: dict[str, Answerer] = {}
        self.reader = reader_for(settings, embedder)
        self._context = BackendContext(settings, index, self.profile, self.answerer, self.reader)
        self._skeletons: Skeletons | None = None

    def use_profile(self, profile: Profile) -> None:
        """Retrieve and answer with ``profile`` from now on (``rag calibrate`` answers with the quote weights it
        chose); the answer backends are built anew."""
        self.profile = profile
        self.retriever = Retriever(self.index, self.settings, profile)
        self._answerers.clear()
        self._context = BackendContext(self.settings, self.index, profile, self.answerer, self.reader)

    @property
    def documents(self) -> dict[str, Document]:
        return self.index.documents

    @classmethod
    def load(
        cls, settings: Settings, *, build_if_missing: bool = False, progress: bool = False, on_progress=None
    ) -> Pipeline:
        """Load the index in ``settings.index_dir`` and the model.

        With ``build_if_missing``, the index is first brought up to date with the corpus
        (built if missing, rebuilt if made with other settings; a no-op when current);
        ``on_progress`` follows that build (see ``rag.index.build.build_index``).
        """
        from rag.embed.embedder import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(settings)
        if build_if_missing:
            report = build_index(settings, embedder, progress=progress, on_progress=on_progress)
            if report.embedded:
                log.info("indexed %d new chunks from %s", report.embedded, settings.corpus_dir)
        return cls(settings, Index.load(settings.index_dir, settings), embedder)

    def answerer(self, name: str | None = None) -> Answerer:
        """The answer backend called ``name`` (default: the configured one), built on first use."""
        name = name or self.settings.backend
        if name not in self._answerers:
            self._answerers[name] = make_answerer(name, self._context)
        return self._answerers[name]

    def prepare(self, question: str, history: Sequence[tuple[str, str]] = (), backend: str | None = None) -> Query:
        """The query stage for ``question``: a follow-up is rewritten by the backend's chat model if it has one."""
        chat = getattr(self.answerer(backend), "chat", None)
        return prepare_query(
            question, history, embed=self.embed, vocab=self.index.vocab, vocab_vectors=self.index.vocab_vectors,
            profile=self.profile, rewrite=partial(rewrite_follow_up, chat) if chat is not None else None,
            corpus_words=self.skeletons, translate=self._translate,
        )

    @property
    def skeletons(self) -> Skeletons:
        """The corpus's Arabic words by consonant skeleton, for transliterating a question's Latin words
        (indexed on first use, and again when the profile's ``translit_min_consonants`` changes)."""
        min_len = self.profile.translit_min_consonants
        if self._skeletons is None or self._skeletons.min_len != min_len:
            self._skeletons = Skeletons(self.index.words, min_len)
        return self._skeletons

    def _translate(self, text: str) -> Sequence[str]:
        """Arabic renderings of an English question's words, from the dictionary (loaded on first use)."""
        return translations(text, english_arabic(self.settings.dictionary))

    def retrieve(self, query: Query, k: int | None = None) -> list[Hit]:
        """The ``k`` best passages for a prepared query (see ``Retriever.retrieve``)."""
        return self.retriever.retrieve(query, k)

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] | None = None,
        k: int | None = None,
        backend: str | None = None,
        doc_ids: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[str | Answer]:
        """Answer ``question``: yield text deltas as they come, then the final Answer.

        With ``doc_ids``, only those articles are searched; with ``since``/``until`` (``YYYY-MM-DD``), only
        articles dated in that range (``rag.retrieve.filters``).

        Raises:
            QuestionError: before anything is yielded, for an empty or over-long question, an unknown article
                id, an unreadable date or a date range without articles.
        """
        question = validate_question(question, self.settings.max_question_chars)
        answerer = self.answerer(backend)
        doc_ids = article_filter(self.documents, doc_ids, since, until)
        return self._run(question, list(history or []), k, backend, answerer, doc_ids)

    def _run(self, question: str, history: list[tuple[str, str]], k: int | None, backend: str | None,
             answerer: Answerer, doc_ids: list[str] | None = None) -> Iterator[str | Answer]:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        query = self.prepare(question, history, backend)
        timings["query_ms"] = (time.perf_counter() - t0) * 1000
        t = time.perf_counter()
        hits = self.retriever.retrieve(query, k or self.settings.k, doc_ids)
        timings["retrieve_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        final: Answer | None = None
        for item in answerer.stream(AnswerRequest(query, hits, self.documents)):
            if isinstance(item, Answer):
                final = item
            else:
                yield item
        if final is None:
            raise RuntimeError(f"backend {answerer.name} produced no answer")
        timings["answer_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        final.question = question
        final.passages = hits
        final.timings = {k_: round(v, 2) for k_, v in timings.items()}
        final.retrieval_query = query.retrieval_text
        final.resolved_question = query.retrieval_text if query.retrieval_text != question else ""
        final.query = query
        yield final

    def ask(self, question: str, **kwargs) -> Answer:
        """Answer ``question`` and return the final Answer (see ``ask_stream``)."""
        final = None
        for item in self.ask_stream(question, **kwargs):
            final = item
        if not isinstance(final, Answer):
            raise RuntimeError("the pipeline produced no answer")
        return final
