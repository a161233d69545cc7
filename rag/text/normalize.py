"""Arabic-aware text normalization for matching (never for display) and the lexical tokenizer.

One function, ``normalize``, serves indexing and querying, so both sides match the same way.
"""

from __future__ import annotations

import re
import unicodedata

# Tashkeel (fathatan .. sukun) and the superscript alef; tatweel is a stretching glyph.
_TASHKEEL = re.compile("[\u064b-\u0652\u0670\u0640]")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي"})
_DIGITS = str.maketrans(
    {**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)},
     "\u066b": ".", "\u066c": ","}  # Arabic decimal and thousands separators
)
_TA_MARBUTA = str.maketrans({"ة": "ه"})
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile("[A-Za-z]")
# A number keeps its inner separators (4.7, 14,000, 11:15); otherwise a run of letters/digits.
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W_]+")


def normalize(text: str, *, lexical: bool = False) -> str:
    """Normalize text for matching: NFKC, no tashkeel/tatweel, one alef, ASCII digits, lowercase.

    ``lexical=True`` also folds ة into ه, as the BM25 index does.

    Example: ``normalize("إِنَّ الشَّرِكَةَ ٣٨") == "ان الشركة 38"``
    """
    text = unicodedata.normalize("NFKC", text)
    text = strip_marks(text)
    text = text.translate(_ALEF).translate(_DIGITS)
    if lexical:
        text = text.translate(_TA_MARBUTA)
    return text.lower()


#: An Arabic comma between thousands ("22،000", as some Arabic text writes 22,000).
THOUSANDS_COMMA = re.compile(r"(?<=\d)،(?=\d{3}(?!\d))")


def strip_marks(text: str) -> str:
    """``text`` without tashkeel and tatweel, nothing else changed (Latin case kept).

    Example: ``strip_marks("مسرّعات Nvidia") == "مسرعات Nvidia"``
    """
    return _TASHKEEL.sub("", text)


def tokenize(text: str) -> list[str]:
    """Split normalized text into word and number tokens, dropping one-letter words.

    Single digits are kept (a "4%" matters); single letters are noise.

    Example: ``tokenize("بلغت 4.7 مليار في 11:15 و ب") == ["بلغت", "4.7", "مليار", "في", "11:15"]``
    """
    return [t for t in _TOKEN.findall(text) if len(t) > 1 or t.isdigit()]


def detect_language(text: str) -> str:
    """``"ar"`` when Arabic letters are at least a third of the letters, else ``"en"``.

    Example: ``detect_language("كم قيمة صفقة OpenAI؟") == "ar"``
    """
    arabic = len(_ARABIC_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    return "ar" if arabic and arabic * 2 >= latin else "en"


def collapse_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends.

    Example: ``collapse_whitespace(" a \\n\\t b ") == "a b"``
    """
    return " ".join(text.split())
