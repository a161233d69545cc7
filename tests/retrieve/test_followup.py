"""rag.retrieve.followup: spotting follow-up questions, resolving them against the conversation, LLM rewrites."""

from __future__ import annotations

import pytest

from rag.answer.llm import OpenAIChat
from rag.profile import Profile
from rag.retrieve.followup import (
    brief,
    is_follow_up,
    own_words,
    parse_frame,
    resolve_follow_up,
    rewrite_follow_up,
)
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
        "Why?",  # no content terms at all
        "والمدة؟",  # a conjunction and one word
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


def test_resolve_docstring_example():
    assert resolve_follow_up("وكم مدتها؟", HISTORY) == "كم مدة صفقة أمازون مع OpenAI؟"


@pytest.mark.parametrize(
    ("earlier", "question", "resolved"),
    [
        # A pronoun is replaced by the earlier question's subject; the new turn's question words stay.
        ("ما قيمة صفقة أمازون مع OpenAI؟", "وكم مدتها؟", "كم مدة صفقة أمازون مع OpenAI؟"),
        ("كم موظفاً سرّحت أمازون؟", "ومن هو رئيسها التنفيذي؟", "من هو رئيس أمازون التنفيذي؟"),
        ("كم موظفاً سرّحت أمازون؟", "وكم ارتفعت أسهمها؟", "كم ارتفعت أسهم أمازون؟"),
        ("من هو الرئيس التنفيذي لشركة OpenAI؟", "وكم عمره؟", "كم عمر الرئيس التنفيذي لشركة OpenAI؟"),
        ("متى أعلنت OpenAI عن صفقة أمازون؟", "وما قيمتها؟", "ما قيمة صفقة أمازون؟"),  # the verb's object
        ("ما قيمة الصفقة؟", "ومتى أعلن عنها؟", "متى أعلن عن الصفقة؟"),  # a preposition's pronoun
        ("كم موظفا سرحت الشركة؟", "وما السبب وراءه؟", "ما السبب وراء الشركة؟"),
        ("كم موظفا سرحت أمازون؟", "ومتى تأسست مايكروسوفت؟", "ومتى تأسست مايكروسوفت؟"),  # names its own
        ("What is the value of the Amazon deal with OpenAI?", "How long does it last?",
         "How long does the Amazon deal with OpenAI last?"),
        ("How many employees did Amazon lay off?", "Who is its CEO?", "Who is Amazon's CEO?"),
        ("Who is OpenAI's CEO?", "And how old is he?", "How old is OpenAI's CEO?"),
        # A definite noun naming the subject again is the subject.
        ("ما قيمة صفقة أمازون مع OpenAI؟", "ومتى أعلنت الصفقة؟", "متى أعلنت صفقة أمازون مع OpenAI؟"),
        ("What is the value of the Amazon deal with OpenAI?", "And when was the deal announced?",
         "When was the Amazon deal with OpenAI announced?"),
        # A bare question asks the earlier question's clause anew, or about its subject.
        ("كم موظفاً سرّحت أمازون؟", "ولماذا؟", "لماذا سرّحت أمازون؟"),
        ("How much is Nvidia investing in OpenAI?", "And when?", "When is Nvidia investing in OpenAI?"),
        ("How many employees did Amazon lay off?", "Why?", "Why did Amazon lay off employees?"),
        ("ما قيمة صفقة أمازون مع OpenAI؟", "ومتى أعلنت؟", "متى أعلنت صفقة أمازون مع OpenAI؟"),
        ("كم موظفا سرحت الشركة؟", "وما السبب؟", "ما سبب الشركة؟"),
        # An elliptical turn is the earlier question about the new name, or a thing of its subject.
        ("How much is Nvidia investing in OpenAI?", "And AMD?", "How much is AMD investing in OpenAI?"),
        ("ما قيمة صفقة أمازون مع OpenAI؟", "وماذا عن مايكروسوفت؟", "ما قيمة صفقة مايكروسوفت مع OpenAI؟"),
        ("ماذا قالت مايكروسوفت عن الصفقة؟", "وأمازون؟", "ماذا قالت أمازون عن الصفقة؟"),
        ("What did Microsoft say about the deal?", "And Amazon?", "What did Amazon say about the deal?"),
        ("What is the value of the Amazon deal with OpenAI?", "And its duration?",
         "What is the duration of the Amazon deal with OpenAI?"),
        ("Who is OpenAI's CEO?", "What about its revenue?", "What is OpenAI's revenue?"),
        ("متى أعلنت OpenAI عن صفقة أمازون؟", "والمدة؟", "ما مدة صفقة أمازون؟"),
    ],
)
def test_a_follow_up_is_resolved(earlier, question, resolved):
    assert resolve_follow_up(question, [(earlier, "...")]) == resolved


@pytest.mark.parametrize(
    ("earlier", "question", "resolved"),
    [
        # A bare question about a value's subject does not carry what was asked of it ("قيمة").
        ("ما قيمة صفقة أمازون مع OpenAI؟", "وكم سنة؟", "كم سنة صفقة أمازون مع OpenAI؟"),
        # A conjunction and a preposition before the question word: still a follow-up.
        ("منذ متى بدأت OpenAI الشراء من مايكروسوفت؟", "وحتى متى استمر ذلك؟",
         "حتى متى استمر ذلك؟ (بدأت OpenAI الشراء من مايكروسوفت)"),
        # A word that points back at what was asked about, when nothing else resolves: that, in brackets.
        ("What is the value of the Amazon deal with OpenAI?", "And who announced that?",
         "Who announced that? (the Amazon deal with OpenAI)"),
        # The object of a who-question's verb; a possessive name in an elliptical turn.
        ("When was Amazon founded?", "Who founded it?", "Who founded Amazon?"),
        ("How many gigawatts is the AMD deal for?", "And Nvidia's?", "How many gigawatts is the Nvidia deal for?"),
        # "ماذا قالت X تعليقاً على Y": Y is the subject.
        ("ماذا قالت مايكروسوفت تعليقاً على صفقة أمازون؟", "ومتى أعلن عنها؟", "متى أعلن عن صفقة أمازون؟"),
    ],
)
def test_more_follow_ups_are_resolved(earlier, question, resolved):
    assert resolve_follow_up(question, [(earlier, "...")]) == resolved


def test_a_speech_question_lends_its_topic_not_its_speaker():
    """"What did X say about Y" then "when was it announced": it is Y; whose words were asked is not carried."""
    assert resolve_follow_up("When was it announced?", [("What did Microsoft say about the deal?", "")]) == (
        "When was the deal announced?")
    assert resolve_follow_up("ومتى وقعت؟", [("ماذا قالت مايكروسوفت عن الصفقة؟", "")]) == "متى وقعت الصفقة؟"


def test_a_turn_that_stands_on_its_own_is_not_changed():
    for question in ("كم ارتفعت أسهم أمازون؟", "وكم ارتفعت أسهم أمازون؟", "Who is Sam Altman?"):
        assert resolve_follow_up(question, HISTORY) == question


def test_no_history_no_resolution():
    assert resolve_follow_up("وما مدتها؟", []) == "وما مدتها؟"


def test_across_languages_only_names_cross_into_arabic():
    """An English subject's common words would be read as unknown names in an Arabic question: only its
    names carry; an Arabic subject goes into an English question whole."""
    english = [("What is the value of the Amazon deal with OpenAI?", "")]
    assert resolve_follow_up("وكم مدتها؟", english) == "كم مدة Amazon OpenAI؟"
    assert resolve_follow_up("ومتى أعلن عنها؟", [("What did Microsoft say about the deal?", "")]) == (
        "ومتى أعلن عنها؟")  # nothing to carry: asked as it is
    assert resolve_follow_up("وماذا عن AMD؟", english) == "ما قيمة AMD؟"
    assert resolve_follow_up("And how long is it?", HISTORY) == "How long is صفقة أمازون مع OpenAI?"


def test_an_english_subject_is_rendered_by_the_dictionary_in_an_arabic_turn():
    dictionary = {"deal": ["الصفقة"], "employees": ["الموظفين"]}.get

    def translate(text):
        return dictionary(text.lower(), [])

    earlier = [("What did Microsoft say about the deal?", "")]
    assert resolve_follow_up("ومتى أعلن عنها؟", earlier, translate=translate) == "متى أعلن عن الصفقة؟"
    earlier = [("What is the value of the Amazon deal with OpenAI?", "")]
    assert resolve_follow_up("وكم مدتها؟", earlier, translate=translate) == "كم مدة الصفقة Amazon OpenAI؟"


def test_a_chain_of_follow_ups_keeps_its_subject():
    history = [("كم موظفاً سرّحت أمازون؟", "14,000"), ("ولماذا؟", "...")]
    assert resolve_follow_up("ومن هو رئيسها التنفيذي؟", history) == "من هو رئيس أمازون التنفيذي؟"
    history = [*HISTORY, ("وكم مدتها؟", "سبع سنوات")]
    assert resolve_follow_up("ومتى أعلنت؟", history) == "متى أعلنت صفقة أمازون مع OpenAI؟"


def test_the_latest_question_that_stands_on_its_own_gives_the_subject():
    history = [*HISTORY, ("كم موظفاً سرّحت أمازون؟", "14,000")]
    assert resolve_follow_up("ولماذا؟", history) == "لماذا سرّحت أمازون؟"


def test_own_words_are_the_turns_words_its_resolution_rewrote():
    assert own_words("وكم مدتها؟", "كم مدة صفقة أمازون؟") == ["مدتها"]
    assert own_words("ومتى أعلن عنها؟", "متى أعلن عن الصفقة؟") == ["عنها"]  # not "ومتى": no such word
    assert own_words("And its duration?", "What is the duration of the deal?") == []


def test_parse_frame_docstring_example():
    frame = parse_frame("ما قيمة صفقة أمازون مع OpenAI؟")
    assert frame.subject == ("صفقة", "أمازون", "مع", "OpenAI") and frame.slot == (3, 4)
    assert parse_frame("What did Microsoft say about the deal?").subject == ("the", "deal")


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
