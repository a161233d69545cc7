"""rag.text.normalize: the matching normalizer, the lexical tokenizer and language detection."""

from __future__ import annotations

import pytest

from rag.text.normalize import collapse_whitespace, detect_language, normalize, tokenize

# --- normalize -----------------------------------------------------------------------------------


def test_docstring_example():
    assert normalize("إِنَّ الشَّرِكَةَ ٣٨") == "ان الشركة 38"


@pytest.mark.parametrize(
    "mark",
    ["\u064b", "\u064c", "\u064d", "\u064e", "\u064f", "\u0650", "\u0651", "\u0652", "\u0670"],
    ids=["fathatan", "dammatan", "kasratan", "fatha", "damma", "kasra", "shadda", "sukun", "superscript-alef"],
)
def test_every_tashkeel_mark_is_removed(mark):
    assert normalize(f"كت{mark}ب") == "كتب"


def test_fully_vocalized_word_matches_bare_word():
    assert normalize("الْمُؤْتَمَرُ") == normalize("المؤتمر") == "المؤتمر"


def test_tatweel_is_removed():
    assert normalize("كـــتاب") == "كتاب"
    assert normalize("مـلـيـار") == "مليار"


@pytest.mark.parametrize("alef", ["أ", "إ", "آ", "ٱ"])
def test_hamza_and_wasla_alef_forms_fold_to_bare_alef(alef):
    assert normalize(f"{alef}مازون") == "امازون"


def test_alef_maqsura_folds_to_ya():
    assert normalize("على مستوى") == "علي مستوي"


def test_ta_marbuta_folds_only_with_lexical():
    assert normalize("الشركة") == "الشركة"
    assert normalize("الشركة", lexical=True) == "الشركه"


def test_arabic_indic_and_persian_digits_become_ascii():
    assert normalize("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize("۰۱۲۳۴۵۶۷۸۹") == "0123456789"


def test_arabic_decimal_and_thousands_separators():
    assert normalize("٤٫٧") == "4.7"
    assert normalize("١٤٬٠٠٠") == "14,000"


def test_nfkc_of_presentation_forms():
    # U+FEFB is the isolated lam-alef ligature; NFKC gives lam + alef.
    assert normalize("\ufefb") == "لا"
    # U+FEF7 is lam-alef with hamza above: NFKC gives لأ, then the hamza folds.
    assert normalize("\ufef7") == "لا"
    # Presentation-form letters of "العربية" (as copied from some PDFs).
    assert normalize("\ufe8d\ufedf\ufecc\ufeae\ufe91\ufef4\ufe94") == "العربية"


def test_fullwidth_latin_and_lowercase():
    assert normalize("OpenAI ＡＷＳ") == "openai aws"


def test_mixed_sentence():
    assert normalize("أعلنت OpenAI عن صفقةٍ بقيمة ٣٨ مليار دولار", lexical=True) == (
        "اعلنت openai عن صفقه بقيمه 38 مليار دولار"
    )


def test_idempotent():
    text = "إِنَّ الشَّرِكَةَ أعلنت ٤٫٧ مليار على مستوى ﻻ OpenAI"
    once = normalize(text, lexical=True)
    assert normalize(once, lexical=True) == once


# --- tokenize ------------------------------------------------------------------------------------


def test_tokenize_docstring_example():
    assert tokenize("بلغت 4.7 مليار في 11:15 و ب") == ["بلغت", "4.7", "مليار", "في", "11:15"]


def test_tokenize_keeps_numbers_with_inner_separators_whole():
    assert tokenize("ارتفع 4.7% وسرحت 14,000 موظف الساعة 11:15") == [
        "ارتفع", "4.7", "وسرحت", "14,000", "موظف", "الساعة", "11:15",
    ]


def test_tokenize_number_at_sentence_end_keeps_no_trailing_separator():
    assert tokenize("العدد 1.5.") == ["العدد", "1.5"]
    assert tokenize("بلغ 3, ثم") == ["بلغ", "3", "ثم"]


def test_tokenize_normalized_arabic_digits():
    assert tokenize(normalize("بلغت ٤٫٧ مليار و ١٤٬٠٠٠ موظف")) == ["بلغت", "4.7", "مليار", "14,000", "موظف"]


def test_tokenize_drops_one_letter_words_keeps_single_digits():
    assert tokenize("a x و ب 4 7 ok") == ["4", "7", "ok"]


def test_tokenize_splits_on_punctuation():
    assert tokenize("openai، amazon؛ aws؟") == ["openai", "amazon", "aws"]


# --- detect_language -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ما قيمة الصفقة بين الشركتين؟", "ar"),
        ("How much is the OpenAI Amazon cloud deal worth?", "en"),
        # Arabic questions naming Latin-script brands stay Arabic.
        ("كم قيمة صفقة OpenAI؟", "ar"),
        ("كم قيمة صفقة OpenAI مع Amazon Web Services؟", "ar"),
        ("ما دور AWS و Nvidia في صفقة OpenAI؟", "ar"),
        # An English question quoting one Arabic word stays English.
        ("What does the word صفقة mean in this article?", "en"),
        # No letters at all: English by default.
        ("", "en"),
        ("38 ٣٨ ?", "en"),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_detect_language_threshold_is_one_third_of_letters():
    # 4 Arabic letters, 8 Latin: exactly a third -> Arabic; one more Latin letter -> English.
    assert detect_language("صفقة abcdefgh") == "ar"
    assert detect_language("صفقة abcdefghi") == "en"


def test_collapse_whitespace():
    assert collapse_whitespace(" a \n\t b ") == "a b"
    assert collapse_whitespace("سطر\r\nآخر") == "سطر آخر"
