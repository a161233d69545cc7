"""The answer stage: turn retrieved passages into a short answer that quotes them verbatim.

Every backend implements ``Answerer`` and is found by name in ``BACKENDS``: a new backend is one
new class with a ``create(context)`` class method, and one line there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ConfigError
from rag.types import Answer, Document, Evidence, Hit, Query

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.config import Settings
    from rag.index.index import Index
    from rag.profile import Profile


@dataclass
class AnswerRequest:
    """Everything a backend may use to answer one question.

    Attributes:
        query: The prepared question (its retrieval text, language, vector, bridged terms, history).
        hits: Retrieved passages, best first; citation numbers refer to this order.
        documents: The articles by id, for exact offsets and titles.
    """

    query: Query
    hits: list[Hit]
    documents: Mapping[str, Document]

    @property
    def question(self) -> str:
        """The question as retrieved with (a follow-up made standalone)."""
        return self.query.retrieval_text

    @property
    def language(self) -> str:
        """``"ar"`` or ``"en"``: the answer's framing is written in it."""
        return self.query.language

    @property
    def history(self) -> list[tuple[str, str]]:
        """Earlier turns as ``(question, answer_text)``, oldest first."""
        return list(self.query.history)

    @property
    def lexical_query(self) -> str:
        """The question's words for lexical matching, with Arabic terms bridged in (see ``rag.retrieve.query``)."""
        return self.query.lexical


class Answerer(Protocol):
    """An answer backend."""

    name: str

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        """Yield text deltas as they are produced, then the final ``Answer`` as the last item.

        The final Answer's ``text`` is authoritative: a backend may replace what it streamed
        (e.g. after removing an unverifiable quote). ``passages``, ``timings``, ``query`` and
        ``retrieval_query`` are filled in by the pipeline.
        """
        ...


@dataclass
class BackendContext:
    """What a backend is built from.

    Attributes:
        settings: The settings (backend endpoints, ``max_quotes``...).
        index: The loaded index.
        profile: The corpus profile.
        answerer: Returns another backend by name (a generative backend's extractive fallback).
        reader: The reading model (``rag.answer.reader``), or None: the rules answer alone.
    """

    settings: Settings
    index: Index
    profile: Profile
    answerer: Callable[[str], Answerer]
    reader: Reader | None = None


@dataclass(frozen=True)
class Backend:
    """A registry entry: where the class lives (imported on first use) and the settings it needs."""

    path: str  # "module:Class"; the class has ``create(context) -> Answerer``
    requires: tuple[str, ...] = ()

    def load(self) -> Any:
        module, _, name = self.path.partition(":")
        return getattr(importlib.import_module(module), name)


#: The answer backends by name.
BACKENDS: dict[str, Backend] = {
    "extractive": Backend("rag.answer.extractive:ExtractiveAnswerer"),
    "openai": Backend("rag.answer.generative:OpenAIAnswerer", ("openai_base_url", "openai_model")),
    "transformers": Backend("rag.answer.generative:TransformersAnswerer", ("transformers_model",)),
}


def check_backend(name: str) -> str:
    """``name`` if it is a registered backend, else a ConfigError naming the valid ones.

    Example: ``check_backend("extractive") == "extractive"``
    """
    if name not in BACKENDS:
        raise ConfigError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    return name


def make_answerer(name: str, context: BackendContext) -> Answerer:
    """Build the backend called ``name`` over ``context``."""
    return BACKENDS[check_backend(name)].load().create(context)


ABSTAIN_TEXT = {
    "ar": "لم أجد في المقالات ما يجيب عن هذا السؤال.",
    "en": "I couldn't find this in the articles.",
}

_WHAT_IS_MISSING = {
    "name": {"ar": "لا تذكر المقالات «{x}».", "en": "The articles do not mention {x}."},
    "unquoted": {"ar": "لا تنقل المقالات أي تصريح على لسان «{x}».", "en": "The articles quote nothing from {x}."},
    "weak": {"ar": "لا تذكر المقالات «{x}».", "en": "The articles do not mention {x}."},
}
_NO_VALUE = {
    "number": {"ar": "لم أجد في المقالات رقمًا يجيب عن هذا السؤال.", "en": "The articles give no figure for this."},
    "date": {"ar": "لم أجد في المقالات تاريخًا يجيب عن هذا السؤال.", "en": "The articles give no date for this."},
}


def abstain_text(language: str, evidence: Evidence | None = None) -> str:
    """The refusal, naming what the articles lack when the evidence tells it.

    Example: ``abstain_text("en", Evidence(reason="name", missing="Elon Musk"))``
    ``== "I couldn't find this in the articles. The articles do not mention Elon Musk."``
    """
    lang = language if language in ABSTAIN_TEXT else "en"
    text = ABSTAIN_TEXT[lang]
    if evidence is None or evidence.reason is None:
        return text
    if evidence.missing and evidence.reason in _WHAT_IS_MISSING:
        return f"{text} {_WHAT_IS_MISSING[evidence.reason][lang].format(x=evidence.missing)}"
    if evidence.reason == "cue" and evidence.cue in _NO_VALUE:
        return f"{text} {_NO_VALUE[evidence.cue][lang]}"
    return text
