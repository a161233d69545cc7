"""rag.retrieve.followup: spotting follow-up questions, expanding them with the earlier turn, LLM rewrites."""

from __future__ import annotations

import pytest

from rag.answer.llm import OpenAIChat
from rag.profile import Profile
from rag.retrieve.followup import brief, expand_follow_up, is_follow_up, rewrite_follow_up
from tests.answer.test_llm import OpenAIServer, closed_port_url


@pytest.mark.parametrize(
    "question",
    [
        "وما مدتها؟",  # conjunction + question word, pronoun suffix
        "فكم قيمتها؟",
        "ومتى؟",  # متى normalizes to متي
        "وماذا عن مايكروسوفت؟",
        "وهل ارتفعت الأسهم؟",
        "كم مدتها؟",  # no conjunction, but a pronoun and few terms
        "And Microsoft?",
        "What about its duration?",
        "How long is it?",
        "so what happened next?",
    ],
)
def test_follow_ups(question):
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "ما قيمة صفقة أمازون مع OpenAI؟",
        "متى أعلنت OpenAI عن صفقة أمازون؟",
        "كم موظفا سرحت أمازون في الأسبوع الماضي؟",
        "How much is the OpenAI Amazon cloud deal worth?",
        "Who is Sam Altman?",
        # Opens with a conjunction but names enough on its own (more than three content terms).
        "وما قيمة صفقة OpenAI مع أمازون ومدتها ومكانها؟",
        "",
    ],
)
def test_self_contained_questions(question):
    assert not is_follow_up(question)


HISTORY = [("ما قيمة صفقة أمازون مع OpenAI؟", "38 مليار دولار [1]")]


def test_expand_prepends_the_previous_question():
    assert expand_follow_up("وما مدتها؟", HISTORY) == "ما قيمة صفقة أمازون مع OpenAI؟ وما مدتها؟"


def test_docstring_example():
    assert expand_follow_up("وما مدتها؟", [("ما قيمة الصفقة؟", "...")]) == "ما قيمة الصفقة؟ وما مدتها؟"


def test_a_self_contained_question_is_not_expanded():
    q = "كم موظفا سرحت أمازون في الأسبوع الماضي؟"
    assert expand_follow_up(q, HISTORY) == q


def test_no_history_no_expansion():
    assert expand_follow_up("وما مدتها؟", []) == "وما مدتها؟"


def test_a_chain_of_two_follow_ups_goes_back_to_the_topic_question():
    history = [*HISTORY, ("وما مدتها؟", "سبع سنوات [1]")]
    assert expand_follow_up("ومتى أعلنت؟", history) == "ما قيمة صفقة أمازون مع OpenAI؟ وما مدتها؟ ومتى أعلنت؟"


def test_the_walk_back_stops_at_the_latest_topic_question():
    history = [
        ("كم موظفا سرحت أمازون في الأسبوع الماضي؟", "14,000"),
        *HISTORY,
        ("وما مدتها؟", "سبع سنوات"),
    ]
    # The layoffs question is older than the topic question: it is not carried.
    assert expand_follow_up("ومتى أعلنت؟", history) == "ما قيمة صفقة أمازون مع OpenAI؟ وما مدتها؟ ومتى أعلنت؟"


def test_english_follow_up_chain():
    history = [("How much is the Amazon deal with OpenAI?", "$38 billion"), ("And its duration?", "seven years")]
    assert expand_follow_up("What about Microsoft?", history) == (
        "How much is the Amazon deal with OpenAI? And its duration? What about Microsoft?"
    )


def test_a_history_of_only_follow_ups_is_carried_whole():
    history = [("وما مدتها؟", "?"), ("ومتى؟", "?")]
    assert expand_follow_up("وكم قيمتها؟", history) == "وما مدتها؟ ومتى؟ وكم قيمتها؟"


def test_follow_up_limits_come_from_the_profile():
    question = "وما مدة صفقتها السحابية الكبرى؟"  # five content terms (وما is not a stopword)
    assert not is_follow_up(question)
    assert is_follow_up(question, Profile(followup_max_terms=5))


def test_brief_docstring_example():
    assert brief("قال «نص» [1] هنا", 100) == "قال «نص» هنا"
    assert brief("كلمة " * 100, 20).endswith("…") and len(brief("كلمة " * 100, 20)) == 20


def test_rewrite_follow_up() -> None:
    history = [("كم قيمة صفقة OpenAI مع أمازون؟", "«بقيمة 38 مليار دولار» [1]")]
    with OpenAIServer(reply=["Standalone question: ", "متى أُعلنت صفقة OpenAI مع أمازون؟\n"]) as server:
        chat = OpenAIChat(server.url, "m")
        assert rewrite_follow_up(chat, "ومتى أُعلنت؟", history) == "متى أُعلنت صفقة OpenAI مع أمازون؟"
        assert rewrite_follow_up(chat, "ومتى أُعلنت؟", []) == "ومتى أُعلنت؟"  # no history: no call
    assert len(server.requests) == 1
    prompt = server.requests[0]["body"]["messages"][-1]["content"]
    assert "كم قيمة صفقة OpenAI مع أمازون؟" in prompt and "ومتى أُعلنت؟" in prompt
    with OpenAIServer(reply=[" \n "]) as server:
        assert rewrite_follow_up(OpenAIChat(server.url, "m"), "ومتى؟", history) == "ومتى؟"
    assert rewrite_follow_up(OpenAIChat(closed_port_url(), "m"), "ومتى؟", history) == "ومتى؟"
