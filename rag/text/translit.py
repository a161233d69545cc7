"""Transliteration between Latin and Arabic script by consonant skeleton, and where the corpus names things.

"Nvidia" and إنفيديا share the skeleton NFD: names written in one script are found in the other
without a dictionary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text.analyze import stopwords
from rag.text.normalize import normalize, tokenize

#: An Arabic word of three letters or more (after normalization).
ARABIC_WORD = re.compile("^[\u0621-\u064a\u0671-\u06d3]{3,}$")

# Consonant classes shared by Latin spellings and their Arabic transliterations. Vowels,
# and the letters Arabic uses as vowels (ا و ي ى ء ع ة), are dropped.
_LATIN_DIGRAPHS = (("sh", "S"), ("ch", "S"), ("th", "T"), ("ph", "F"), ("kh", "K"), ("gh", "G"), ("ck", "K"),
                   ("qu", "K"))
_LATIN_CLASS = {"b": "B", "p": "B", "f": "F", "v": "F", "t": "T", "d": "D", "s": "S", "c": "K", "k": "K",
                "q": "K", "g": "G", "j": "G", "z": "Z", "x": "KS", "l": "L", "m": "M", "n": "N", "r": "R",
                "h": "H"}
_ARABIC_CLASS = {"ب": "B", "پ": "B", "ف": "F", "ڤ": "F", "ت": "T", "ط": "T", "ث": "T", "د": "D", "ض": "D",
                 "ذ": "Z", "ز": "Z", "ظ": "Z", "س": "S", "ص": "S", "ش": "S", "ك": "K", "ق": "K", "خ": "K",
                 "غ": "G", "ج": "G", "گ": "G", "ل": "L", "م": "M", "ن": "N", "ر": "R", "ه": "H", "ح": "H"}


def latin_skeleton(word: str) -> str:
    """Consonant skeleton of a Latin word, in the classes shared with Arabic script.

    Example: ``latin_skeleton("gigawatts") == "GGTS"``
    """
    w = re.sub(r"(.)\1+", r"\1", word.lower())  # "tt" is one sound
    for digraph, cls in _LATIN_DIGRAPHS:
        w = w.replace(digraph, cls)
    return "".join(ch if ch.isupper() else _LATIN_CLASS.get(ch, "") for ch in w)


def arabic_skeleton(word: str) -> str:
    """Consonant skeleton of an Arabic word, in the classes shared with Latin script.

    A final ه is dropped: after lexical normalization it is usually a ta marbuta (مالطة -> مالطه),
    a vowel in transliteration.

    Example: ``arabic_skeleton("إنفيديا") == "NFD"``
    """
    if word.endswith("ه") and len(word) > 2:
        word = word[:-1]
    return "".join(_ARABIC_CLASS.get(ch, "") for ch in word)


class Skeletons:
    """A vocabulary's words by consonant skeleton, indexed once, so that finding the transliterations of a
    question's Latin words is a lookup per word rather than a pass over the corpus's vocabulary.

    Only skeletons of at least ``min_len`` consonants count, so short common words don't collide.

    Example: ``Skeletons(["انفيديا", "شركه"]).transliterations(["nvidia"]) == ["انفيديا"]``
    """

    def __init__(self, vocab: Sequence[str], min_len: int = 3) -> None:
        self.vocab = list(vocab)
        self.min_len = min_len
        self.rows: dict[str, list[int]] = {}
        for row, word in enumerate(self.vocab):
            sk = arabic_skeleton(word)
            if len(sk) >= min_len:
                self.rows.setdefault(sk, []).append(row)

    def __len__(self) -> int:
        return len(self.vocab)

    def transliterations(self, words: Sequence[str]) -> list[str]:
        """Vocabulary words that could be Arabic spellings of the Latin ``words``, in vocabulary order."""
        found: set[int] = set()
        for w in words:
            for form in {w, w[:-1] if w.endswith("s") else w}:  # "gigawatts" is spelled غيغاوات
                sk = latin_skeleton(form)
                if len(sk) >= self.min_len:
                    found.update(self.rows.get(sk, ()))
        return [self.vocab[row] for row in sorted(found)]


def transliterations(words: Sequence[str], vocab: Sequence[str], min_len: int = 3) -> list[str]:
    """Vocabulary words that could be Arabic spellings of the Latin ``words`` (same skeleton; see ``Skeletons``,
    which indexes a vocabulary once for many questions).

    Example: ``transliterations(["nvidia"], ["انفيديا", "شركه"]) == ["انفيديا"]``
    """
    return Skeletons(vocab, min_len).transliterations(words)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]+")


def question_names(question: str, language: str) -> list[str]:
    """Names a question asks about: Latin-script words of an Arabic question; capitalized words
    (after the first) of an English one. Lowercased, 3+ characters, no stopwords.

    Example: ``question_names("ما قيمة صفقة Broadcom؟", "ar") == ["broadcom"]``
    """
    stop = stopwords()
    words = _NAME.findall(question)
    if language == "en":
        words = [w for w in words[1:] if w[0].isupper()]
    return [w.lower() for w in words if len(w) >= 3 and w.lower() not in stop]


_LATIN_RUN = re.compile(r"[A-Z][A-Za-z0-9]+(?:[ -][A-Z][A-Za-z0-9]+)*")


def latin_spellings(texts: Sequence[str], min_consonants: int = 3) -> dict[str, str]:
    """The corpus's Latin-script names by consonant skeleton: each run of capitalized words, and each run of
    up to three of its words, the most frequent spelling per skeleton ("Sam Altman" -> SMLTMN).

    Example: ``latin_spellings(["قال Sam Altman"])["SMLTMN"] == "Sam Altman"``
    """
    counts: dict[str, dict[str, int]] = {}
    for text in texts:
        for m in _LATIN_RUN.finditer(text):
            words = m.group().replace("-", " ").split()
            for i in range(len(words)):
                for j in range(i + 1, min(len(words), i + 3) + 1):
                    sk = "".join(latin_skeleton(w) for w in words[i:j])
                    if len(sk) >= min_consonants:
                        spelled = counts.setdefault(sk, {})
                        spelled[" ".join(words[i:j])] = spelled.get(" ".join(words[i:j]), 0) + 1
            if len(words) > 3:
                sk = "".join(latin_skeleton(w) for w in words)
                counts.setdefault(sk, {}).setdefault(" ".join(words), 1)
    return {sk: max(spelled, key=lambda w: (spelled[w], -len(w))) for sk, spelled in counts.items()}


class NameIndex:
    """Where the corpus mentions a name, in Latin script or an Arabic transliteration.

    Transliterations are looked up among the corpus's Arabic words and pairs of adjacent
    words ("SoftBank" is written سوفت بنك) by consonant skeleton.

    Args:
        texts: The chunk texts.
        min_consonants: Skeletons shorter than this are not matched (short ones collide).
    """

    def __init__(self, texts: Sequence[str], min_consonants: int = 3) -> None:
        self.min_consonants = min_consonants
        self.latin = latin_spellings(texts, min_consonants)
        self.texts = [normalize(t, lexical=True) for t in texts]
        self.by_skeleton: dict[str, set[str]] = {}
        for text in self.texts:
            words = [w for w in tokenize(text) if ARABIC_WORD.match(w)]
            for form in [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]:
                # A name may carry the article ("البرونكوس" for the Broncos): its skeleton is looked up without it.
                for sk in {arabic_skeleton(form), arabic_skeleton(form[2:]) if form.startswith("ال") else ""}:
                    if len(sk) >= min_consonants:
                        self.by_skeleton.setdefault(sk, set()).add(form)

    def forms(self, name: str) -> list[str]:
        """The name and its transliterations found in the corpus.

        Example: ``NameIndex(["مع سوفت بنك"]).forms("SoftBank") == ["softbank", "سوفت بنك"]``
        """
        name = name.lower()
        found: set[str] = set()
        for form in {name, name[:-1] if name.endswith("s") else name}:
            sk = latin_skeleton(form)
            if len(sk) >= self.min_consonants:
                found |= self.by_skeleton.get(sk, set())
        return [name, *sorted(found)]

    def latin_spelling(self, name: str) -> str | None:
        """How the corpus itself writes an Arabic name in Latin script, or None (see ``latin_spellings``).

        Example: ``NameIndex(["شراكة أمازون", "Amazon Web Services"]).latin_spelling("أمازون") == "Amazon"``
        """
        words = [normalize(w, lexical=True) for w in name.split()]
        if not words or not all(re.fullmatch("[\u0621-\u064a\u0671-\u06d3]{2,}", w) for w in words):
            return None
        for form in (words, [w[2:] if w.startswith("ال") and len(w) > 4 else w for w in words]):
            sk = "".join(arabic_skeleton(w) for w in form)
            if len(sk) >= self.min_consonants and sk in self.latin:
                return self.latin[sk]
        return None

    def checkable(self, name: str) -> bool:
        """Whether an Arabic spelling of ``name`` could be found: its consonant skeleton is long enough."""
        return len(name) >= 3 and len(latin_skeleton(name)) >= self.min_consonants

    def document_frequency(self, forms: Sequence[str]) -> int:
        """How many chunks mention any of the forms."""
        return sum(1 for t in self.texts if any(f in t for f in forms))

    @staticmethod
    def mentions(text: str, forms: Sequence[str]) -> bool:
        """Whether ``text`` mentions any of the forms."""
        t = normalize(text, lexical=True)
        return any(f in t for f in forms)
