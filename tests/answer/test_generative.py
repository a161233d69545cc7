from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest

from rag.answer import ABSTAIN_TEXT, AnswerRequest
from rag.answer.generative import GenerativeAnswerer, build_messages
from rag.answer.llm import OpenAIChat
from rag.errors import BackendError
from rag.types import Answer, Chunk, Citation, Document, Hit, Query
from tests.answer.test_llm import OpenAIServer, closed_port_url

ARTICLE = (
    "OpenAI تتعاون مع أمازون في اتفاقية حوسبة سحابية\n"
    "أعلنت شركتا OpenAI وAmazon في 3 نوفمبر 2025 عن توقيع اتفاقية حوسبة سحابية مدتها سبع سنوات "
    "بقيمة 38 مليار دولار.\n"
    "ارتفعت أسهم أمازون بنسبة 4% بعد الإعلان عن الاتفاقية.\n"
)
GENUINE = "توقيع اتفاقية حوسبة سحابية مدتها سبع سنوات بقيمة 38 مليار دولار"


def corpus() -> tuple[list[Hit], dict[str, Document]]:
    doc = Document("000_test.txt", ARTICLE.splitlines()[0], ARTICLE, hashlib.sha256(ARTICLE.encode()).hexdigest())
    spans = []
    for first, last in (("أعلنت", "دولار."), ("ارتفعت", "الاتفاقية.\n")):
        start = ARTICLE.index(first)
        spans.append((start, ARTICLE.index(last, start) + len(last.strip())))
    chunks = [
        Chunk(f"000_test.txt#{i}", doc.doc_id, i, ARTICLE[s:e], s, e, ((s, e),), doc.title)
        for i, (s, e) in enumerate(spans)
    ]
    return [Hit(chunks[0], 0.03), Hit(chunks[1], 0.02)], {doc.doc_id: doc}


def query(question: str, language: str) -> Query:
    """A prepared query as the query stage would make it (the vector is not used by these backends)."""
    return Query(question, language, question, question, np.zeros(4, np.float32))


def request(question: str = "كم قيمة صفقة OpenAI مع أمازون؟", language: str = "ar") -> AnswerRequest:
    hits, documents = corpus()
    return AnswerRequest(query(question, language), hits, documents)


class FakeExtractive:
    """Stands in for the extractive backend: streams its text, then a fixed cited answer."""

    name = "extractive"

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        self.calls += 1
        hit = request.hits[0] if request.hits else None
        yield "fallback"
        citations = []
        if hit is not None:
            c = hit.chunk
            citations = [Citation(1, c.doc_id, c.title, c.text, c.start, c.end, hit.score, c.chunk_id)]
        yield Answer(request.question, request.language, "extractive answer [1]", abstained=hit is None,
                     citations=citations, backend=self.name)


def run(answerer: GenerativeAnswerer, req: AnswerRequest) -> tuple[list[str], Answer]:
    items = list(answerer.stream(req))
    *deltas, final = items
    assert isinstance(final, Answer)
    assert all(isinstance(d, str) for d in deltas)
    return deltas, final


def test_invented_quote_dropped_genuine_quote_cited() -> None:
    reply = ["بلغت قيمة الصفقة 38 مليار دولار: ", f"«{GENUINE}» [1]", " و«ارتفعت أسهم أمازون بنسبة 10%» [2]."]
    fallback = FakeExtractive()
    with OpenAIServer(reply=reply) as server:
        answerer = GenerativeAnswerer(OpenAIChat(server.url, "m"), fallback, name="openai")
        req = request()
        deltas, answer = run(answerer, req)
    assert deltas == reply  # streamed as the model wrote it
    assert fallback.calls == 0
    assert answer.backend == "openai" and not answer.abstained
    assert answer.text == f"بلغت قيمة الصفقة 38 مليار دولار: «{GENUINE}» [1] و."
    assert answer.dropped_quotes == ["ارتفعت أسهم أمازون بنسبة 10%"]
    [c] = answer.citations
    assert (c.n, c.chunk_id, c.quote, c.score) == (1, "000_test.txt#0", GENUINE, req.hits[0].score)
    assert req.documents[c.doc_id].text[c.start : c.end] == c.quote
    assert c.start == ARTICLE.index(GENUINE)
    # The model was shown the passages and the question.
    user = server.requests[0]["body"]["messages"][-1]["content"]
    assert "[1] (OpenAI تتعاون مع أمازون" in user and req.question in user


def test_only_invented_quote_falls_back() -> None:
    fallback = FakeExtractive()
    with OpenAIServer(reply=["الصفقة بقيمة ", "«خمسين مليار دولار» [1]."]) as server:
        _, answer = run(GenerativeAnswerer(OpenAIChat(server.url, "m"), fallback, name="openai"), request())
    assert fallback.calls == 1
    assert (answer.backend, answer.text) == ("extractive", "extractive answer [1]")
    assert answer.dropped_quotes == ["خمسين مليار دولار"]


def test_model_abstains_falls_back() -> None:
    fallback = FakeExtractive()
    with OpenAIServer(reply=[ABSTAIN_TEXT["ar"]]) as server:
        _, answer = run(GenerativeAnswerer(OpenAIChat(server.url, "m"), fallback, name="openai"), request())
    assert fallback.calls == 1 and answer.backend == "extractive" and answer.dropped_quotes == []


def test_server_down_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    fallback = FakeExtractive()
    answerer = GenerativeAnswerer(OpenAIChat(closed_port_url(), "m", timeout=5), fallback, name="openai")
    deltas, answer = run(answerer, request())
    assert deltas == []
    assert answer.backend == "extractive" and answer.text == "extractive answer [1]"
    assert "could not reach" in caplog.text


def test_server_error_mid_stream_falls_back() -> None:
    class Broken:
        name = "broken"

        def stream_chat(self, messages: list[dict[str, str]]) -> Iterator[str]:
            yield "بلغت "
            raise BackendError("connection reset")

        def complete(self, messages: list[dict[str, str]]) -> str:
            return "".join(self.stream_chat(messages))

    deltas, answer = run(GenerativeAnswerer(Broken(), FakeExtractive(), name="openai"), request())
    assert deltas == ["بلغت "]
    assert answer.backend == "extractive"


def test_no_passages_goes_straight_to_fallback() -> None:
    req = AnswerRequest(query("سؤال؟", "ar"), hits=[], documents={})
    with OpenAIServer() as server:
        _, answer = run(GenerativeAnswerer(OpenAIChat(server.url, "m"), FakeExtractive(), name="openai"), req)
    assert server.requests == [] and answer.abstained


def test_english_question_keeps_arabic_quotes() -> None:
    reply = ["The deal is worth $38 billion: ", "«بقيمة 38 مليار دولار» [1]"]
    with OpenAIServer(reply=reply) as server:
        answerer = GenerativeAnswerer(OpenAIChat(server.url, "m"), FakeExtractive(), name="openai")
        _, answer = run(answerer, request("How much is the OpenAI Amazon deal worth?", "en"))
    assert answer.text == "The deal is worth $38 billion: «بقيمة 38 مليار دولار» [1]"
    assert [c.quote for c in answer.citations] == ["بقيمة 38 مليار دولار"]
    system = server.requests[0]["body"]["messages"][0]["content"]
    assert "write your answer in English" in system and ABSTAIN_TEXT["en"] in system


def test_build_messages() -> None:
    hits, _ = corpus()
    history = [("q0", "a0"), ("ما قيمة الصفقة؟", "«بقيمة 38 مليار دولار» [1]"), ("ومتى؟", "في 3 نوفمبر [1]")]
    messages = build_messages("ومن وقعها؟", "ar", hits, history)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "write your answer in Arabic" in system and ABSTAIN_TEXT["ar"] in system and "«" in system
    # The last two turns, with their old markers removed.
    assert [m["content"] for m in messages[1:5]] == ["ما قيمة الصفقة؟", "«بقيمة 38 مليار دولار»", "ومتى؟",
                                                     "في 3 نوفمبر"]
    user = messages[-1]["content"]
    assert user.index("[1] (OpenAI تتعاون") < user.index("[2] (OpenAI تتعاون") < user.index("ومن وقعها؟")
    assert hits[0].chunk.text in user and hits[1].chunk.text in user
