"""rag.retrieve.question: cleaning and checking a question, and refusing what the chat does not answer."""

from __future__ import annotations

import pytest

from rag.errors import QuestionError, UnsupportedQuestionError
from rag.retrieve.question import (
    NOT_ANSWERED,
    clean_question,
    question_language,
    strip_markup,
    validate_question,
)


def test_clean_question_drops_controls_bidi_and_zero_width_and_keeps_line_breaks():
    assert clean_question(" ما\u202e قيمة\x07 الصفقة؟ ") == "ما قيمة الصفقة؟"
    assert clean_question("How\u200b much\x1b[31m?") == "How much[31m?"
    assert clean_question("a\u2028b\u2029c") == "a\nb\nc"
    assert clean_question("\u2067\u2069") == ""


@pytest.mark.parametrize(
    "question,language",
    [
        ("ما قيمة الاتفاقية بين OpenAI وأمازون؟", "ar"),
        ("ومتى؟", "ar"),
        ("How much is the deal worth?", "en"),
        ("OpenAI?", "en"),
        ("What is the deal with Nestlé de la Rue?", "en"),  # foreign names in an English question
        ("Who is Jean-Paul de la Fontaine?", "en"),
        ("😀😀😀", None),
        ("?!... ---", None),
        ("2024", None),
        ("Quelle est la valeur de l'accord entre OpenAI et Amazon ?", None),
        ("Combien vaut l'accord ?", None),
        ("¿Cuánto vale el acuerdo entre OpenAI y Amazon?", None),
        ("Wie viel ist der Deal zwischen OpenAI und Amazon wert?", None),
        ("亚马逊和OpenAI的交易价值多少？", None),
        ("Сколько стоит сделка?", None),
        ("ارزش قرارداد آمازون و اوپن‌ای‌آی چقدر است؟", None),  # Persian
    ],
)
def test_question_language(question, language):
    assert question_language(question) == language


def test_every_gold_question_is_one_the_chat_answers(seeds_dir):
    from rag.eval.gold import load_gold

    assert [i.question for i in load_gold(seeds_dir / "gold_qa.jsonl") if question_language(i.question) is None] == []


def test_validate_question_refuses_other_languages_with_the_bilingual_notice():
    with pytest.raises(UnsupportedQuestionError) as err:
        validate_question("Combien vaut l'accord ?")
    assert str(err.value) == NOT_ANSWERED
    assert isinstance(err.value, QuestionError)
    ar, en = NOT_ANSWERED.split("\n")
    assert "بالعربية أو بالإنجليزية" in ar and "مثلًا" in ar and "Arabic or English" in en and "for example" in en
    assert "«" not in NOT_ANSWERED  # no quotes


def test_validate_question_cleans_then_checks():
    assert validate_question("\u202bما قيمة الصفقة؟\u202c\x07") == "ما قيمة الصفقة؟"
    with pytest.raises(QuestionError, match="NUL"):
        validate_question("ما\x00")
    with pytest.raises(QuestionError, match="empty"):
        validate_question("\u200b\u2067 \x07")
    with pytest.raises(QuestionError, match="2,001 characters"):
        validate_question("a " * 1000 + "b")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<script>alert(1)</script>", ""),
        ("<SCRIPT src=x>alert(1)", ""),  # unclosed: the rest is script
        ("<style>p { color: red }</style><p></p>", ""),
        ("<img src=x onerror=alert(1)><!-- who? -->", ""),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", ""),  # escaped markup is markup
        ("<b>Who</b> won? <script>x()</script>", "Who won? "),
        ("<b>ما قيمة الصفقة؟</b>", "ما قيمة الصفقة؟"),
        ("Is 3 < 5 and 7 > 2?", "Is 3 < 5 and 7 > 2?"),  # comparisons are not tags
        ("AT&T", "AT&T"),
    ],
)
def test_strip_markup(text, expected):
    assert strip_markup(text) == expected


def test_a_question_of_markup_only_gets_the_notice_and_markup_around_a_question_does_not():
    for question in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b></b><i></i>"):
        with pytest.raises(UnsupportedQuestionError):
            validate_question(question)
    question = "<script>alert(1)</script> How much is the deal worth?"
    assert validate_question(question) == question  # kept whole: the markup is only set aside to read it
