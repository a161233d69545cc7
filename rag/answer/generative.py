"""The generative answer backend: a chat model writes the answer, every quote in it is verified.

The model sees the numbered passages and is told to quote them verbatim as ``«...» [n]``. Whatever it
streams is shown as it arrives; the final answer keeps only the quotes found in the passages they cite
(``rag.answer.verify``). With no verified quote left, or when the model fails, the extractive answer
is returned instead, so a wrong or silent model never reaches the user as an unsupported answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from rag.answer import ABSTAIN_TEXT, Answerer, AnswerRequest, BackendContext
from rag.answer.llm import THINK, ChatModel, OpenAIChat, TransformersChat
from rag.answer.verify import verify_answer
from rag.errors import BackendError
from rag.retrieve.followup import brief
from rag.types import Answer, Hit

log = logging.getLogger(__name__)

_SYSTEM = """You answer questions about news articles using ONLY the numbered passages below.

Rules:
- {language_rule}
- Be short: one sentence that answers the question, then one or two quotes copied word for word \
from the passages, each in «» and followed by the number of its passage, like this: «exact words» [1]
- Copy quotes exactly as written in the passage (same words, same spelling). Never translate, \
summarize or change a quote, and never quote anything that is not in the passages.
- Use nothing you know from elsewhere.
- If the passages do not answer the question, reply exactly: {abstain}"""

_LANGUAGE_RULE = {
    "ar": "The question is in Arabic: write your answer in Arabic.",
    "en": "The question is in English: write your answer in English, but keep the quotes in Arabic "
    "exactly as they are written in the passages.",
}



def _passage(n: int, hit: Hit) -> str:
    """One numbered passage as the model sees it.

    Example: ``[1] (عنوان المقال) نص المقطع``
    """
    title = f"({hit.chunk.title}) " if hit.chunk.title else ""
    return f"[{n}] {title}{hit.chunk.text.strip()}"


def build_messages(
    question: str, language: str, hits: list[Hit], history: list[tuple[str, str]]
) -> list[dict[str, str]]:
    """The chat messages asking for a short, quoted answer from the numbered passages.

    Example: ``build_messages("متى؟", "ar", hits, [])[1]["content"].startswith("Passages:\\n\\n[1]")``

    Args:
        question: The question as asked.
        language: ``"ar"`` or ``"en"``: the language of the answer's framing.
        hits: The passages, best first; ``[n]`` refers to ``hits[n - 1]``.
        history: Earlier turns ``(question, answer)``, oldest first; the last two are included.

    Returns:
        ``[{"role": ..., "content": ...}, ...]``: system prompt, earlier turns, then passages and question.
    """
    lang = language if language in _LANGUAGE_RULE else "en"
    system = _SYSTEM.format(language_rule=_LANGUAGE_RULE[lang], abstain=ABSTAIN_TEXT[lang])
    messages = [{"role": "system", "content": system}]
    for past_question, past_answer in history[-2:]:
        messages.append({"role": "user", "content": brief(past_question)})
        messages.append({"role": "assistant", "content": brief(past_answer)})
    passages = "\n\n".join(_passage(n, hit) for n, hit in enumerate(hits, start=1))
    messages.append({"role": "user", "content": f"Passages:\n\n{passages}\n\nQuestion: {question}"})
    return messages


class GenerativeAnswerer:
    """Answers with a chat model, keeping only quotes verified in their passages.

    Args:
        chat: The model that writes the answer.
        fallback: The answerer whose final answer is returned when the model fails or cites nothing
            verifiable (the extractive backend).
        name: This backend's name, recorded on its answers.
    """

    def __init__(self, chat: ChatModel, fallback: Answerer, name: str) -> None:
        self.chat = chat
        self.fallback = fallback
        self.name = name

    def _fallback(self, request: AnswerRequest, dropped: list[str]) -> Answer:
        final = None
        for item in self.fallback.stream(request):
            final = item
        if not isinstance(final, Answer):
            raise BackendError(f"the fallback backend {self.fallback.name!r} returned no answer")
        final.dropped_quotes = [*dropped, *final.dropped_quotes]
        return final

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        """Yield the model's text deltas as they arrive, then the verified ``Answer`` (or the fallback's)."""
        if not request.hits:
            yield self._fallback(request, [])
            return
        messages = build_messages(request.question, request.language, request.hits, request.history)
        parts: list[str] = []
        try:
            for delta in self.chat.stream_chat(messages):
                parts.append(delta)
                yield delta
        except BackendError as e:
            log.warning("%s failed (%s); answering with %s", self.chat.name, e, self.fallback.name)
            yield self._fallback(request, [])
            return
        text = THINK.sub("", "".join(parts))
        cleaned, citations, dropped = verify_answer(text, request.hits, request.documents)
        if not citations:
            log.info("%s gave no verifiable quote; answering with %s", self.chat.name, self.fallback.name)
            yield self._fallback(request, dropped)
            return
        yield Answer(
            question=request.question,
            language=request.language,
            text=cleaned,
            abstained=False,
            citations=citations,
            backend=self.name,
            dropped_quotes=dropped,
        )


class OpenAIAnswerer(GenerativeAnswerer):
    """The generative backend over an OpenAI-compatible chat endpoint (``openai_base_url``, ``openai_model``)."""

    @classmethod
    def create(cls, context: BackendContext) -> OpenAIAnswerer:
        return cls(OpenAIChat.from_settings(context.settings), context.answerer("extractive"), "openai")


class TransformersAnswerer(GenerativeAnswerer):
    """The generative backend over a local causal LM (``transformers_model``)."""

    @classmethod
    def create(cls, context: BackendContext) -> TransformersAnswerer:
        return cls(TransformersChat.from_settings(context.settings), context.answerer("extractive"), "transformers")
