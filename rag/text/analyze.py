"""The lexical analyzer shared by the BM25 index and the query: normalize, drop stopwords, stem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import Stemmer

from rag.text.normalize import normalize, tokenize

_ARABIC = re.compile("[\u0600-\u06ff]")

# Function words and question words; normalized at import with the same normalizer.
_ARABIC_STOPWORDS = """
في من على إلى الى عن مع أن إن ان أو او ثم بل لكن لكنّ و ف ب ل ك هذا هذه ذلك تلك هؤلاء هنا هناك
الذي التي الذين اللذين اللتين اللواتي اللاتي ما ماذا متى كم كيف لماذا لما أين اين أي اي هل من
كان كانت يكون تكون كانوا قد لقد لم لن لا ليس ليست سوف إذا اذا إذ حتى حيث عند عندما بين بعد قبل
خلال ضمن دون غير كل بعض أيضا ايضا كما وفق وفقا نحو عبر لدى لدي منذ هو هي هم هن أنا نحن أنت
له لها لهم به بها بهم فيه فيها فيهم منه منها منهم عليه عليها عليهم إليه اليه إليها اليها وهو وهي
التى الى فى قال وقال قالت وقالت يتم تم أكثر اكثر أقل اقل جدا حول أمام امام ضد مثل إلى وفي ومن وعلى
أنه انه أنها انها إنه انه إنها بأن وأن وان فإن فان لأن لان عام
"""
_ENGLISH_STOPWORDS = """
a an the and or but if of to in on at by for with from as is are was were be been being it its this
that these those what which who whom whose when where why how much many did do does done has have
had will would can could should may might shall about into than then there their they them he she
his her we our you your i me my not no so such also
"""


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The Arabic and English stopwords, normalized.

    Example: ``"الى" in stopwords()``
    """
    words = _ARABIC_STOPWORDS.split() + _ENGLISH_STOPWORDS.split()
    return frozenset(normalize(w) for w in words)


# Arabic proclitics, the one definition: a conjunction (و ف), then a preposition (ب ل ك), then the
# article (ال); ل before the article is written لل.
CONJUNCTIONS = "وف"
PREPOSITIONS = "بلك"
ARTICLE = "ال"
_PROCLITICS = ("وال", "فال", "بال", "كال", "لل", ARTICLE, *CONJUNCTIONS, *PREPOSITIONS)


def strip_proclitics(word: str, min_len: int = 3) -> str:
    """Repeatedly strip leading Arabic proclitics (conjunctions, prepositions, article).

    Deterministic and applied to index and query alike, so "وأمازون" and "أمازون" meet at
    the same term even where the Snowball stemmer would treat them differently.

    Example: ``strip_proclitics("والشركات") == "شركات"``
    """
    changed = True
    while changed:
        changed = False
        for p in _PROCLITICS:
            if word.startswith(p) and len(word) - len(p) >= min_len:
                word = word[len(p):]
                changed = True
                break
    return word


def proclitic_pattern(word: str) -> str:
    """A regex for ``word`` with the proclitics Arabic may attach to it (the inverse of ``strip_proclitics``).

    Example: ``re.fullmatch(proclitic_pattern("الإمارات"), "وللإمارات") is not None``
    """
    c, p, w = f"[{CONJUNCTIONS}]?", f"[{PREPOSITIONS.replace('ل', '')}]?", re.escape(word)
    if word.startswith(ARTICLE):
        return rf"{c}{p}{w}|{c}لل{re.escape(word[len(ARTICLE):])}"
    return rf"{c}[{PREPOSITIONS}]?(?:{ARTICLE})?{w}|{c}لل{w}"


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("arabic"), Stemmer.Stemmer("english")


def _term(token: str, strip: bool = False) -> str:
    if token[0].isdigit():
        return token
    arabic, english = _stemmers()
    if _ARABIC.search(token):
        return arabic.stemWord(strip_proclitics(token) if strip else token).replace("ة", "ه")
    return english.stemWord(token)


def analyze(text: str) -> list[str]:
    """Index terms of ``text``: normalize, tokenize, drop stopwords, stem, fold ة into ه.

    Arabic tokens get the Snowball Arabic stemmer, Latin ones the English stemmer, numbers
    stay as they are. ة is folded after stemming because the stemmer recognizes it as a suffix.

    Example: ``analyze("وقّعت الشركة على الاتفاقية بقيمة ٣٨ مليار") == ["وقع", "شرك", "اتفاق", "قيم", "38", "مليار"]``
    """
    stop = stopwords()
    return [t for t in (_term(tok) for tok in tokenize(normalize(text)) if tok not in stop) if t]


def analyze_query(text: str, vocabulary: Mapping[str, object] | set[str]) -> list[str]:
    """Query terms: ``analyze``, but a term the index doesn't know is retried without its
    proclitics ("وأمازون" -> "أمازون"), which the Snowball stemmer does not always remove.

    Example: ``analyze_query("وأمازون", {"اماز"}) == ["اماز"]``
    """
    stop = stopwords()
    terms = []
    for tok in tokenize(normalize(text)):
        if tok in stop:
            continue
        term = _term(tok)
        if term not in vocabulary:
            term = _term(tok, strip=True)
        if term:
            terms.append(term)
    return terms
