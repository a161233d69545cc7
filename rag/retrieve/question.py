"""The first step of every question: clean it, check it, and refuse what the chat does not answer.

The chat answers questions in Arabic or English about the articles. Anything else (only emoji or
punctuation, Chinese, French, Persian...) would still find *some* closest sentences, and quoting
them would look like an answer; so such a question is refused up front with one short bilingual
notice (``NOT_ANSWERED``) and no quotes. The CLI and the app both show ``str(error)``.

Control characters are removed (a NUL is refused: it never comes from typing), bidi controls and
zero-width characters are dropped, and line/paragraph separators become line breaks, so what is
matched is what the user sees.
"""

from __future__ import annotations

import html
import re
import unicodedata

from rag.errors import QuestionError, UnsupportedQuestionError

#: The notice for a question the chat does not answer: what it answers, with an example, in both languages.
NOT_ANSWERED = (
    "أجيب عن الأسئلة المكتوبة بالعربية أو بالإنجليزية عن المقالات الإخبارية، مثلًا: ما الذي أعلنته الشركة؟\n"
    "I answer questions in Arabic or English about the news articles, for example: What did the company announce?"
)

# C0 controls except tab/newline/carriage return, DEL, and C1 controls.
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi embeddings/overrides/isolates/marks and zero-width characters: invisible, and they change
# how the question is displayed (or hide words) without changing what it asks.
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})

_ARABIC_SCRIPT = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u0750-\u077f]")
# Letters of Persian and Urdu that Arabic does not use.
_PERSIAN_URDU = re.compile("[\u067e\u0686\u0698\u06af\u06a9\u06cc\u06c1\u06d2\u06ba\u0679\u0688\u0691\u06be]")
_PERSIAN_WORDS = frozenset("است این چه چرا چقدر چگونه کدام را برای هست نیست شد".split())
_LATIN_WORD = re.compile(r"[a-zà-öø-ÿ]+")
_ENGLISH_WORDS = frozenset(
    """the a an of in on at to for from by with about is are was were be been has have had do does did
    what who whom whose when where which why how much many and or not it its this that these those there
    will would can could should say said""".split()
)
# Function words of the other Latin-script languages a user is likely to try; words that are also
# English (a, as, in, on, die, was, son...) are left out so an English question never counts as foreign.
_FOREIGN_WORDS = frozenset(
    """le la les des du de un une est sont et ou qui que quoi quel quelle quels quelles combien comment
    pourquoi où dans pour avec sur par au aux ce cette ces il elle ils elles été pas ne se sa ses leur
    el los las del una unos unas es y qué quién quiénes cuándo dónde cuánto cuánta cuántos cómo para
    con su sus fue está están
    der das den dem ein eine einen ist sind und oder wer wann wo wie warum welche welcher wieviel mit
    für von zu auf nicht hat haben wurde
    il lo gli della di che è sono quanto quale perché
    os um uma não com qual quem quando onde porque foi""".split()
)
_ELISION = re.compile(r"\b(?:l|d|qu|j|n|s|c)['’][a-zà-ÿ]")
# Markup: script and style elements with their content (code, not words), comments, and tags (a "<" right
# before a letter, "/" or "!", so "3 < 5 > 2" is not a tag). Only what is left is read for the language.
_CODE_ELEMENT = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")


def clean_question(question: str) -> str:
    """``question`` without control, bidi or zero-width characters, separators as line breaks, stripped.

    Example: ``clean_question(" ما\\u202e قيمة\\x07 الصفقة؟ ") == "ما قيمة الصفقة؟"``
    """
    question = question.translate(_SEPARATORS)
    question = _CONTROL.sub("", question)
    return _INVISIBLE.sub("", question).strip()


def strip_markup(text: str) -> str:
    """``text`` without HTML markup: tags, comments, and script and style elements with their content.

    Character references are decoded first, so an escaped tag is markup too.

    Example: ``strip_markup("<b>Who</b> won? <script>alert(1)</script>") == "Who won? "``
    """
    text = html.unescape(text)
    return _TAG.sub("", _COMMENT.sub("", _CODE_ELEMENT.sub("", text)))


def question_language(text: str) -> str | None:
    """``"ar"`` or ``"en"`` for a question the chat answers; None for anything else.

    None when the text has no Arabic or Latin letters (emoji, punctuation, digits), when letters
    of other scripts outnumber them (Chinese, Russian...), when its Arabic script is Persian or
    Urdu, or when its Latin words are another language's function words (French, Spanish...).

    Example: ``question_language("Combien vaut l'accord ?") is None``
    """
    letters = [ch for ch in text if ch.isalpha()]
    arabic = sum(1 for ch in letters if _ARABIC_SCRIPT.match(ch))
    lowered = unicodedata.normalize("NFC", text.lower())
    words = _LATIN_WORD.findall(lowered)
    latin = sum(1 for ch in letters if _is_latin(ch))
    other = len(letters) - arabic - latin
    if arabic + latin == 0 or other > arabic + latin:
        return None
    if arabic * 2 >= latin:
        persian_letters = len(_PERSIAN_URDU.findall(text))
        persian_words = sum(1 for w in re.findall(r"\w+", text) if w in _PERSIAN_WORDS)
        if persian_words >= 2 or (persian_letters >= 2 and persian_letters * 20 >= arabic):
            return None
        return "ar"
    english = sum(1 for w in words if w in _ENGLISH_WORDS)
    foreign = sum(1 for w in words if w in _FOREIGN_WORDS) + len(_ELISION.findall(lowered))
    if (english == 0 and foreign >= 1) or (foreign >= 2 and foreign > english):
        return None
    return "en"


def validate_question(question: str, max_chars: int = 2000) -> str:
    """The question cleaned (see ``clean_question``), or a QuestionError saying what is wrong with it.

    Example: ``validate_question("  متى؟ ") == "متى؟"``

    Raises:
        QuestionError: not text, empty, longer than ``max_chars`` or holding a NUL character.
        UnsupportedQuestionError: not in Arabic or English once markup is set aside (``strip_markup``); its
            message is ``NOT_ANSWERED``.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    if "\x00" in question:
        raise QuestionError("the question contains a NUL character (\\x00); type the question as plain text")
    stripped = clean_question(question)
    if not stripped:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(stripped) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(stripped):,} characters; the limit is {max_chars:,})"
        )
    # Read without its markup: "<script>alert(1)</script>" has letters, but none that ask anything.
    if question_language(strip_markup(stripped)) is None:
        raise UnsupportedQuestionError(NOT_ANSWERED)
    return stripped


def _is_latin(ch: str) -> bool:
    return ch.isascii() or "LATIN" in unicodedata.name(ch, "")
