"""rag.text.translit: consonant skeletons, transliterations, question names and where the corpus names things."""

from __future__ import annotations

import pytest

from rag.retrieve.bridge import arabic_vocabulary
from rag.text.normalize import normalize
from rag.text.translit import (
    NameIndex,
    Skeletons,
    arabic_skeleton,
    latin_skeleton,
    latin_spellings,
    question_names,
    transliterations,
)

# --- skeletons -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latin", "arabic", "skeleton"),
    [
        # n-v-d / ن-ف-د: v and ف share a class; vowels and ي ا drop out.
        ("Nvidia", "إنفيديا", "NFD"),
        # m-c-r-s-f-t / م-ك-ر-س-ف-ت: c is a K like ك; ا ي و are vowels.
        ("Microsoft", "مايكروسوفت", "MKRSFT"),
        ("Amazon", "أمازون", "MZN"),
        # "tt" is one sound; w has no class; the plural s has no Arabic counterpart (see below).
        ("gigawatts", "غيغاوات", None),
        ("SoftBank", "سوفت بنك", "SFTBNK"),  # the space has no class: a two-word spelling matches
    ],
)
def test_skeletons_agree(latin, arabic, skeleton):
    if skeleton is not None:
        assert latin_skeleton(latin) == skeleton
        assert arabic_skeleton(arabic) == skeleton
    assert latin_skeleton(latin).startswith(arabic_skeleton(arabic))


def test_gigawatts_skeletons():
    assert latin_skeleton("gigawatts") == "GGTS"  # g-g-(w)-tt-s
    assert latin_skeleton("gigawatt") == "GGT"
    assert arabic_skeleton("غيغاوات") == "GGT"  # غ-غ-ت


def test_latin_digraphs():
    assert latin_skeleton("Shah") == "SH"  # sh -> S, final h -> H
    assert latin_skeleton("Philips") == "FLBS"  # ph -> F, p -> B (Arabic has no p)
    assert latin_skeleton("Blackrock") == "BLKRK"  # ck -> K


def test_arabic_skeleton_ignores_alef_forms():
    # Alef forms carry no consonant class, so folding them does not change the skeleton.
    for word in ("إنفيديا", "أمازون", "آبل"):
        assert arabic_skeleton(normalize(word, lexical=True)) == arabic_skeleton(word)
    assert arabic_skeleton("مالطة") == latin_skeleton("Malta") == "MLT"  # ة is a vowel letter: no class


def test_names_spelled_with_ta_marbuta_are_found():
    assert NameIndex(["زار الوفد مالطة أمس"]).forms("Malta") == ["malta", "مالطه"]
    assert transliterations(["malta"], arabic_vocabulary(["زار الوفد مالطة"])) == ["مالطه"]


# --- transliterations ----------------------------------------------------------------------------


def test_transliterations_docstring_example():
    assert transliterations(["nvidia"], ["انفيديا", "شركه"]) == ["انفيديا"]


def test_transliterations_keep_vocabulary_order_and_drop_plural_s():
    vocab = ["شركه", "غيغاوات", "مايكروسوفت", "امازون", "انفيديا", "سحابه"]
    got = transliterations(["gigawatts", "nvidia", "microsoft", "amazon"], vocab)
    assert got == ["غيغاوات", "مايكروسوفت", "امازون", "انفيديا"]


def test_transliterations_ignore_short_skeletons():
    # "sam" -> SM and سام -> SM: two consonants collide too easily, so they need min_len=2.
    assert transliterations(["sam"], ["سام"]) == []
    assert transliterations(["sam"], ["سام"], min_len=2) == ["سام"]
    assert transliterations([], ["سام"]) == []


def test_skeletons_index_a_vocabulary_once_for_many_questions():
    vocab = ["شركه", "غيغاوات", "مايكروسوفت", "امازون", "انفيديا", "سحابه", "سام"]
    skeletons = Skeletons(vocab)
    assert len(skeletons) == len(vocab)

    def every_word(words: list[str], min_len: int = 3) -> list[str]:  # the oracle: a pass over the vocabulary
        wanted = {latin_skeleton(f) for w in words for f in (w, w.removesuffix("s"))}
        return [v for v in vocab if len(arabic_skeleton(v)) >= min_len and arabic_skeleton(v) in wanted]

    for words in (["gigawatts", "nvidia", "microsoft", "amazon"], ["amazon", "gigawatt"], ["sam"], ["quorvax"], []):
        assert skeletons.transliterations(words) == every_word(words)
        assert transliterations(words, vocab) == every_word(words)
    assert Skeletons(vocab, min_len=2).transliterations(["sam"]) == every_word(["sam"], 2) == ["سام"]
    assert skeletons.transliterations(["amazon", "nvidia"]) == ["امازون", "انفيديا"]  # the vocabulary's order


# --- question_names --------------------------------------------------------------------------------


def test_question_names_docstring_example():
    assert question_names("ما قيمة صفقة Broadcom؟", "ar") == ["broadcom"]


def test_question_names_arabic_question_takes_every_latin_word():
    # In an Arabic question every Latin-script word is a name, capitalized or not; AI is too short.
    assert question_names("ما علاقة nvidia بـ OpenAI في مجال AI؟", "ar") == ["nvidia", "openai"]
    assert question_names("ما قيمة الصفقة؟", "ar") == []


def test_question_names_english_question_takes_capitalized_words_after_the_first():
    assert question_names("Who is Sam Altman at OpenAI?", "en") == ["sam", "altman", "openai"]
    # The first word is capitalized by grammar, so it is skipped even when it is a name.
    assert question_names("Amazon signed what with OpenAI?", "en") == ["openai"]
    assert question_names("what did the company sign with nvidia?", "en") == []


def test_question_names_split_at_hyphens():
    assert question_names("ما صفقة Amazon-OpenAI؟", "ar") == ["amazon", "openai"]
    assert question_names("What did the Amazon-OpenAI deal include?", "en") == ["amazon", "openai"]


# --- NameIndex ---------------------------------------------------------------------------------------

TEXTS = [
    "وقعت سوفت بنك اتفاقا مع أوراكل",
    "قالت سوفت بنك إن الصفقة كبيرة",
    "أعلنت أمازون وOpenAI عن صفقة",
    "لا علاقة لهذا المقطع بالموضوع",
]


def test_name_index_docstring_example():
    assert NameIndex(["مع سوفت بنك"]).forms("SoftBank") == ["softbank", "سوفت بنك"]


def test_name_index_two_word_transliteration():
    names = NameIndex(TEXTS)
    forms = names.forms("SoftBank")
    assert forms == ["softbank", "سوفت بنك"]
    assert names.document_frequency(forms) == 2


def test_name_index_single_word_and_latin_forms():
    names = NameIndex(TEXTS)
    assert names.forms("Amazon") == ["amazon", "امازون"]
    assert names.document_frequency(names.forms("Amazon")) == 1
    assert names.forms("Oracle") == ["oracle", "اوراكل"]
    # Latin spelled as in the text (lowercased); "وOpenAI" carries a proclitic and is still found.
    assert names.document_frequency(names.forms("OpenAI")) == 1


def test_name_index_finds_a_name_written_with_the_article():
    names = NameIndex(["فاز البرونكوس بالمباراة"])
    assert names.forms("Broncos") == ["broncos", "البرونكوس"]
    assert names.document_frequency(names.forms("Broncos")) == 1


def test_name_index_unknown_name():
    names = NameIndex(TEXTS)
    assert names.forms("Quorvax") == ["quorvax"]
    assert names.document_frequency(names.forms("Quorvax")) == 0


def test_name_index_mentions():
    forms = NameIndex(TEXTS).forms("SoftBank")
    assert NameIndex.mentions("استثمرت سوفت بنك مليارات", forms)
    assert NameIndex.mentions("SOFTBANK invests", forms)  # Latin matched case-insensitively
    assert not NameIndex.mentions("أعلنت أمازون عن صفقة", forms)


def test_latin_spellings_docstring_example():
    assert latin_spellings(["قال Sam Altman"])["SMLTMN"] == "Sam Altman"


def test_the_corpus_spells_an_arabic_name_in_latin_script():
    """A name the articles write in both scripts is given its Latin spelling; one they never write in Latin
    script, or a skeleton too short to tell, is not."""
    names = NameIndex(["شراكة أمازون مع إنفيديا", "Amazon Web Services و Nvidia", "Nvidia وNvidia وNVIDIA",
                       "قال ألتمان"])
    assert names.latin_spelling("أمازون") == "Amazon"
    assert names.latin_spelling("إنفيديا") == "Nvidia"  # the most frequent spelling
    assert names.latin_spelling("ألتمان") is None
    assert names.latin_spelling("أمازون 38") is None
