"""The answer stage: turn retrieved passages into a short answer that quotes them verbatim.

Every backend implements ``Answerer``; the pipeline picks one by name with ``make_answerer``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from rag.types import Answer, Document, Hit


@dataclass
class AnswerRequest:
    """Everything a backend may use to answer one question.

    Attributes:
        question: The question as the user asked it.
        language: ``"ar"`` or ``"en"``; the answer's framing is written in it.
        hits: Retrieved passages, best first; citation numbers refer to this order.
        documents: The articles by id, for exact offsets and titles.
        history: Earlier turns as ``(question, answer_text)``, oldest first.
        lexical_query: The question's words for lexical matching, with Arabic terms bridged
            in for an English question (see ``rag.retrieve.bridge``); None means the question.
    """

    question: str
    language: str
    hits: list[Hit]
    documents: Mapping[str, Document]
    history: list[tuple[str, str]] = field(default_factory=list)
    lexical_query: str | None = None


class Answerer(Protocol):
    """An answer backend."""

    name: str

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        """Yield text deltas as they are produced, then the final ``Answer`` as the last item.

        The final Answer's ``text`` is authoritative: a backend may replace what it streamed
        (e.g. after removing an unverifiable quote). ``passages``, ``timings`` and
        ``retrieval_query`` are filled in by the pipeline.
        """
        ...


ABSTAIN_TEXT = {
    "ar": "لم أجد في المقالات ما يجيب عن هذا السؤال.",
    "en": "I couldn't find this in the articles.",
}
