"""The BM25 side of retrieval: an Arabic-aware analyzer and a bm25s index."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from rag.normalize import normalize, tokenize

log = logging.getLogger(__name__)

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


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("arabic"), Stemmer.Stemmer("english")


def analyze(text: str) -> list[str]:
    """Index terms of ``text``: normalize, tokenize, drop stopwords, stem, fold ة into ه.

    Arabic tokens get the Snowball Arabic stemmer, Latin ones the English stemmer, numbers
    stay as they are. ة is folded after stemming because the stemmer recognizes it as a suffix.

    Example: ``analyze("وقّعت الشركة على الاتفاقية بقيمة ٣٨ مليار") == ["وقع", "شرك", "اتفاق", "قيم", "38", "مليار"]``
    """
    arabic, english = _stemmers()
    stop = stopwords()
    terms = []
    for tok in tokenize(normalize(text)):
        if tok in stop:
            continue
        if tok[0].isdigit():
            terms.append(tok)
        elif _ARABIC.search(tok):
            terms.append(arabic.stemWord(tok).replace("ة", "ه"))
        else:
            terms.append(english.stemWord(tok))
    return [t for t in terms if t]


class BM25Index:
    """BM25 over analyzed chunk texts (bm25s, Lucene scoring)."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self.retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> BM25Index:
        retriever = bm25s.BM25()
        corpus = [analyze(t) for t in texts]
        retriever.index(corpus, show_progress=False)
        return cls(retriever, len(texts))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) pairs with a positive score, best first."""
        vocab = self.retriever.vocab_dict
        terms = [t for t in analyze(query) if t in vocab]
        if not terms or self.size == 0:
            return []
        scores = np.asarray(self.retriever.get_scores(terms))
        k = min(k, int((scores > 0).sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)
        (folder / "size.json").write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        size = json.loads((folder / "size.json").read_text())["size"]
        return cls(retriever, size)
