"""rag.answer.grounding: unknown words and names, and whose words a question asks for."""

from __future__ import annotations

import pytest

from rag.answer.grounding import (
    absent_names,
    content_words,
    mentions_subject,
    quoted_anywhere,
    quotes_subject,
    speech_subject,
    subject_forms,
    unknown_words,
)
from rag.text.analyze import analyze
from rag.text.translit import NameIndex

TEXTS = [
    "وقالت مايكروسوفت في بيان إن الشراكة مستمرة.",
    "وقال ألتمان في بودكاست مع ساتيا ناديلا، الرئيس التنفيذي لشركة مايكروسوفت: الإيرادات تنمو.",
    "وقعت الشركة صفقة مع إنفيديا بقيمة مليار دولار.",
]
VOCAB = {t for text in TEXTS for t in analyze(text)}
NAMES = NameIndex(TEXTS)


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("ما رأي إيلون ماسك في الصفقة؟", "إيلون ماسك"),
        ("ماذا قالت مايكروسوفت عن الصفقة؟", "مايكروسوفت"),
        ("كيف علق البنك المركزي على القرار؟", "البنك المركزي"),
        ("What did Microsoft say about the deal?", "Microsoft"),
        ("How did the central bank react to the decision?", "central bank"),
        ("What is OpenAI's view of the deal?", "OpenAI"),
        ("كم بلغت قيمة الصفقة؟", None),
        ("What did the deal cost?", None),
    ],
)
def test_speech_subject(question, subject):
    assert speech_subject(question) == subject


def test_a_speaker_needs_a_speech_verb_next_to_it():
    forms = subject_forms("Microsoft", NAMES)  # found in Arabic script through its transliteration
    assert quotes_subject(TEXTS[0], forms)
    # Microsoft is mentioned, but it is Altman who speaks: eleven words away.
    assert not quotes_subject(TEXTS[1], forms)
    assert not quotes_subject(TEXTS[2], forms)
    # "according to four people": the attribution is to whoever follows it, not to Microsoft before it.
    assert not quotes_subject("أعاد ناديلا ومايكروسوفت النظر في الأمر، وفقًا لأربعة أشخاص مطلعين", forms)
    assert quotes_subject("وذلك بحسب مايكروسوفت", forms)
    assert mentions_subject(TEXTS[1], forms)  # named there, though not speaking
    assert quoted_anywhere("مايكروسوفت", TEXTS, NAMES)
    assert not quoted_anywhere("Nvidia", TEXTS, NAMES)  # named, never speaking


def test_unknown_words_in_either_script():
    assert unknown_words("ما رأي إيلون ماسك في الصفقة؟", "ar", VOCAB, NAMES) == ["إيلون", "ماسك"]
    assert unknown_words("ما قيمة صفقة Nvidia؟", "ar", VOCAB, NAMES) == []  # إنفيديا: the same name
    # "Elon" (skeleton LN) is too short to look up in Arabic script: it is not called unknown.
    assert unknown_words("What did Elon Musk say about the deal?", "en", VOCAB, NAMES) == ["Musk"]
    # English content words are never unknown (an Arabic corpus has none); the first word is not a name.
    assert unknown_words("Why did the partnership grow?", "en", VOCAB, NAMES) == []
    assert unknown_words("Nvidia signed what?", "en", VOCAB, NAMES) == []


def test_absent_names_of_an_english_question():
    dictionary = {"canada": ["كندا"], "championship": ["البطولة"], "statement": ["بيان"], "thomas": ["توماس"],
                  "pittsburgh": ["بيتسبيرج"]}

    def translate(word: str) -> list[str]:
        return dictionary.get(word.lower(), [])

    def absent(question: str) -> list[str]:
        return absent_names(question, unknown_words(question, "en", VOCAB, NAMES, translate), translate)

    assert absent("What is the capital of Canada?") == ["Canada"]
    assert absent("How many goals did Thomas Davis score in Pittsburgh?") == ["Thomas Davis", "Pittsburgh"]
    assert absent("Did Canada sign with Microsoft?") == []  # Microsoft (مايكروسوفت) is in the corpus
    assert absent("Who won the Championship?") == []  # البطولة: a common noun, its absence proves less
    assert absent("Who is Quorvax?") == []  # not in the dictionary: maybe a transliteration missed
    assert absent("What is the deal worth?") == []  # no name asked about
    assert absent_names("What is the capital of Canada?", ["Canada"], None) == []


def test_a_word_with_a_proclitic_or_a_shadda_is_looked_up_whole():
    # The stemmer keeps و on "وإنفيديا"; the BM25 query retries without it, and so does the unknown-word test.
    assert analyze("وإنفيديا") != analyze("إنفيديا")
    assert unknown_words("ماذا وقعت الشركة وإنفيديا؟", "ar", VOCAB, NAMES) == []
    # A shadda is not a word boundary: "الشّراكة" is one known word, not "الش" and "راكة".
    assert content_words("هل انتهت الشّراكة؟") == ["انتهت", "الشراكة"]
    assert unknown_words("هل انتهت الشّراكة؟", "ar", VOCAB, NAMES) == ["انتهت"]


def test_a_question_word_with_its_conjunction_is_no_content_word():
    """"ومتى أعلن عنها؟" asks as "متى أعلن عنها؟" does: "ومتى" is not a word the corpus lacks."""
    assert content_words("ومتى أعلن عنها؟") == content_words("متى أعلن عنها؟") == ["أعلن", "عنها"]
    assert content_words("وفاء ووزير") == ["وفاء", "ووزير"]  # a word that only starts with و stays


def test_an_english_name_the_corpus_writes_in_translation_is_known():
    dictionary = {"statement": ["بيان"], "canada": ["كندا"], "partnership": ["الشراكة المستمرة"]}.get

    def translate(word: str) -> list[str]:
        return dictionary(word.lower(), [])

    question = "Did the Statement mention Canada?"
    assert unknown_words(question, "en", VOCAB, NAMES) == ["Statement", "Canada"]
    # بيان is in the corpus, كندا is not: only Canada is unknown.
    assert unknown_words(question, "en", VOCAB, NAMES, translate) == ["Canada"]
    # A rendering of several words counts when the corpus has all of them.
    assert unknown_words("Is the Partnership over?", "en", VOCAB, NAMES) == ["Partnership"]
    assert unknown_words("Is the Partnership over?", "en", VOCAB, NAMES, translate) == []
    # A rendering is looked up as the BM25 query looks up words: the stemmer takes the ب of "بطولة" for a
    # proclitic but not that of "البطولة"; retried without the article, the rendering is found.
    vocab = VOCAB | set(analyze("فاز الفريق بطولة الدوري"))
    assert analyze("البطولة") != analyze("بطولة")
    assert unknown_words("Who won the Championship?", "en", vocab, NAMES, lambda w: ["البطولة"]) == []
    # Arabic questions' Latin names are not translated: a name stays a name.
    assert unknown_words("ما هو Statement؟", "ar", VOCAB, NAMES, translate) == ["Statement"]
