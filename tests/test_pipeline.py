"""rag.pipeline: question validation by hand, then the whole pipeline on the real seed index."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from rag.errors import ConfigError, QuestionError, RagError
from rag.pipeline import validate_question
from rag.text.normalize import detect_language
from rag.types import Answer, Hit

# --- validate_question ---------------------------------------------------------------------------


def test_validate_question_strips():
    assert validate_question("  متى؟ ") == "متى؟"
    assert validate_question("\n\tWhen was the deal signed?  \n") == "When was the deal signed?"


@pytest.mark.parametrize("question", ["", " ", "\n\t \u3000"])
def test_validate_question_rejects_empty(question):
    with pytest.raises(QuestionError, match="empty"):
        validate_question(question)


def test_validate_question_length_limit():
    assert validate_question("ا" * 2000) == "ا" * 2000
    assert validate_question("  " + "a" * 2000 + "  ") == "a" * 2000  # counted after stripping
    with pytest.raises(QuestionError, match=r"2,001 characters; the limit is 2,000"):
        validate_question("a" * 2001)
    with pytest.raises(QuestionError, match="the limit is 10"):
        validate_question("a" * 11, max_chars=10)


def test_validate_question_rejects_nul():
    with pytest.raises(QuestionError, match="NUL"):
        validate_question("ما قيمة\x00 الصفقة؟")


def test_validate_question_rejects_non_text():
    with pytest.raises(QuestionError, match="must be text, got bytes"):
        validate_question(b"question")  # type: ignore[arg-type]


def test_question_error_is_a_rag_value_error():
    assert issubclass(QuestionError, RagError) and issubclass(QuestionError, ValueError)


# --- the pipeline on the real seeds (slow: the real model) --------------------------------------------


def _stream(pipeline, question, **kwargs) -> tuple[list[str], Answer]:
    items = list(pipeline.ask_stream(question, **kwargs))
    *deltas, final = items
    assert all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    return deltas, final


def _passage_chunk_ids(answer: Answer) -> set[str]:
    ids = set()
    for h in answer.passages:
        ids.add(h.chunk.chunk_id)
        ids.update(d.chunk_id for d in h.duplicates)  # a corroborating quote comes from a folded duplicate
    return ids


@pytest.mark.slow
def test_ask_stream_deltas_then_final_answer(seed_pipeline):
    question = "كم عدد الموظفين الذين سرّحتهم أمازون؟"
    deltas, answer = _stream(seed_pipeline, question)
    assert deltas
    assert "".join(deltas) == answer.text  # the extractive backend never replaces what it streamed
    assert answer.backend == "extractive"
    assert answer.question == question
    assert answer.language == "ar"
    assert set(answer.timings) == {"query_ms", "retrieve_ms", "answer_ms", "total_ms"}
    # The answer carries the query it was built from and the evidence behind it.
    assert answer.query.text == question and answer.query.retrieval_text == answer.retrieval_query
    assert answer.evidence.reason is None and answer.evidence.strength >= answer.evidence.threshold
    assert all(v >= 0 for v in answer.timings.values())
    assert answer.timings["total_ms"] >= answer.timings["retrieve_ms"]
    assert answer.passages and all(isinstance(h, Hit) for h in answer.passages)
    assert len(answer.passages) <= seed_pipeline.settings.k
    assert not answer.abstained
    assert any("14,000" in c.quote for c in answer.citations)
    for c in answer.citations:
        assert c.chunk_id in _passage_chunk_ids(answer)
        assert seed_pipeline.documents[c.doc_id].text[c.start : c.end] == c.quote


@pytest.mark.slow
def test_english_question_finds_arabic_passages(seed_pipeline):
    answer = seed_pipeline.ask("How many employees did Amazon lay off?")
    assert answer.language == "en"
    assert not answer.abstained
    assert answer.text.startswith("According to the articles")
    assert all(detect_language(h.chunk.text) == "ar" for h in answer.passages)
    assert any("14,000" in c.quote for c in answer.citations)
    assert all(c.chunk_id in _passage_chunk_ids(answer) for c in answer.citations)


@pytest.mark.slow
def test_english_question_cites_the_deal_article(seed_pipeline):
    answer = seed_pipeline.ask("How much is the cloud computing deal between OpenAI and Amazon worth?")
    assert answer.language == "en"
    assert not answer.abstained
    assert any("38 مليار" in c.quote for c in answer.citations)


@pytest.mark.slow
def test_a_follow_up_is_resolved_against_the_previous_question(seed_pipeline):
    first_question = "ما قيمة صفقة OpenAI مع أمازون؟"
    first = seed_pipeline.ask(first_question)
    assert any("38 مليار" in c.quote for c in first.citations) and first.resolved_question == ""

    follow = seed_pipeline.ask("وما مدتها؟", history=[(first_question, first.text)])
    assert follow.question == "وما مدتها؟"
    assert follow.resolved_question == follow.retrieval_query == "ما مدة صفقة OpenAI مع أمازون؟"
    assert follow.to_dict()["resolved_question"] == follow.resolved_question
    assert not follow.abstained
    assert follow.short_answer is not None and follow.short_answer.text == "سبع سنوات"

    alone = seed_pipeline.ask("وما مدتها؟")
    assert alone.retrieval_query == "وما مدتها؟" and alone.resolved_question == ""
    assert "أمازون" not in alone.retrieval_query and "OpenAI" not in alone.retrieval_query


@pytest.mark.slow
def test_transliteration_index_is_built_once_and_follows_the_profile(seed_pipeline):
    first = seed_pipeline.skeletons
    assert seed_pipeline.prepare("What did Nvidia sign?").bridged  # a Latin name bridged through it
    assert seed_pipeline.skeletons is first
    profile = seed_pipeline.profile
    try:
        seed_pipeline.use_profile(replace(profile, translit_min_consonants=profile.translit_min_consonants + 1))
        assert seed_pipeline.skeletons is not first
        assert seed_pipeline.skeletons.min_len == profile.translit_min_consonants + 1
    finally:
        seed_pipeline.use_profile(profile)


@pytest.mark.slow
def test_unknown_backend_is_a_config_error(seed_pipeline):
    with pytest.raises(ConfigError, match="nonexistent"):
        seed_pipeline.answerer("nonexistent")
    with pytest.raises(ConfigError):
        seed_pipeline.ask_stream("ما قيمة الصفقة؟", backend="nonexistent")


@pytest.mark.slow
def test_bad_question_fails_before_anything_is_yielded(seed_pipeline):
    # ask_stream validates eagerly: the error comes from the call, not from the first next().
    with pytest.raises(QuestionError, match="empty"):
        seed_pipeline.ask_stream("   ")
    with pytest.raises(QuestionError, match="limit is 2,000"):
        seed_pipeline.ask_stream("a" * 2001)


@pytest.mark.slow
def test_concurrent_questions_all_get_their_answers(seed_pipeline):
    # Phrasings used nowhere else, so each thread really runs the model (the query cache is cold).
    cases = [
        ("كم موظفا سرّحت أمازون قبل أيام من الإعلان؟", "14,000"),
        ("What is the total value of the OpenAI-Amazon cloud agreement?", "38 مليار"),
        ("ما مدة اتفاقية الحوسبة السحابية بين أمازون وOpenAI؟", "سبع"),
    ]
    start = threading.Barrier(len(cases))

    def ask(question):
        start.wait(timeout=60)
        return seed_pipeline.ask(question)

    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        answers = list(pool.map(ask, [q for q, _ in cases]))
    for (question, expected), answer in zip(cases, answers, strict=True):
        assert answer.question == question
        assert not answer.abstained, answer.text
        assert any(expected in c.quote for c in answer.citations), answer.text


@pytest.mark.slow
def test_openai_backend_through_the_pipeline_keeps_verified_quotes_and_rewrites_follow_ups(seed_index, embedder):
    """The whole path with a real HTTP server speaking the chat-completions protocol."""
    from rag.index.index import Index
    from rag.pipeline import Pipeline
    from tests.answer.test_llm import OpenAIServer

    settings, _ = seed_index
    question = "ما قيمة صفقة OpenAI مع أمازون؟"
    with OpenAIServer() as server:
        llm_settings = settings.with_(openai_base_url=server.url, openai_model="test-model")
        pipeline = Pipeline(llm_settings, Index.load(settings.index_dir, llm_settings), embedder)
        assert "openai" in llm_settings.available_backends()
        # The model quotes passage [1]'s longest sentence verbatim, and invents a second quote.
        first = pipeline.retrieve(pipeline.prepare(question))[0]
        doc = pipeline.documents[first.chunk.doc_id]
        start, end = max(first.chunk.sentences, key=lambda s: s[1] - s[0])
        genuine = doc.text[start:end]
        server.reply = ["بحسب المقالات ", f"«{genuine}» [1] ", "و«صفقة لم تحدث قط» [1]"]
        items = list(pipeline.ask_stream(question, backend="openai"))
        answer = items[-1]
        assert "".join(i for i in items if isinstance(i, str))  # tokens streamed
        assert answer.backend == "openai"
        assert answer.dropped_quotes == ["صفقة لم تحدث قط"]
        [citation] = answer.citations
        # The verifier locates the quote in the article (trimming end punctuation) at its own offsets.
        assert citation.doc_id == doc.doc_id and start == citation.start and end - 1 <= citation.end <= end
        assert doc.text[citation.start : citation.end] == citation.quote
        assert "صفقة لم تحدث قط" not in answer.text

        # A follow-up is rewritten by the LLM before retrieval.
        server.reply = ["ما مدة صفقة OpenAI مع أمازون؟"]
        query = pipeline.prepare("وما مدتها؟", [("ما قيمة صفقة OpenAI مع أمازون؟", answer.text)], "openai")
        assert query.retrieval_text == "ما مدة صفقة OpenAI مع أمازون؟" and query.text == "وما مدتها؟"
        assert server.requests[-1]["body"]["model"] == "test-model"


@pytest.mark.slow
def test_a_date_range_searches_only_articles_dated_in_it(seed_pipeline, monkeypatch):
    import dataclasses

    from rag.errors import QuestionError

    ids = sorted(seed_pipeline.documents)
    dates = {ids[0]: "2025-11-03", ids[1]: "2025-10-01", ids[2]: "2024-05-05"}  # the others carry no date
    for doc_id, date in dates.items():
        monkeypatch.setitem(seed_pipeline.documents, doc_id, dataclasses.replace(seed_pipeline.documents[doc_id],
                                                                                 date=date))
    answer = seed_pipeline.ask("ما قيمة الصفقة؟", since="2025-10", until="2025-12-31")
    assert answer.passages and {h.chunk.doc_id for h in answer.passages} <= {ids[0], ids[1]}
    assert {c.doc_id for c in answer.citations} <= {ids[0], ids[1]}
    only_2024 = seed_pipeline.ask("ما قيمة الصفقة؟", until="2024")
    assert {h.chunk.doc_id for h in only_2024.passages} == {ids[2]}
    with pytest.raises(QuestionError, match="no article dated between 2026 and the last"):
        seed_pipeline.ask("ما قيمة الصفقة؟", since="2026")
