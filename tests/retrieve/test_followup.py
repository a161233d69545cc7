"""rag.retrieve.followup: spotting follow-up questions and expanding them with the earlier turn."""

from __future__ import annotations

import pytest

from rag.retrieve.followup import expand_follow_up, is_follow_up


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
