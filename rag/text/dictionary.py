"""An English→Arabic dictionary for English questions over Arabic articles (FreeDict, dictd format).

Debian's ``dict-freedict-eng-ara`` package installs ``/usr/share/dictd/freedict-eng-ara.{index,dict.dz}``:
an index of ``headword<TAB>offset<TAB>length`` lines (base-64 numbers) into a gzip-compressed file of
entries, each a headword line then its Arabic renderings. The query stage adds a question word's Arabic
renderings to the BM25 query of an English question (on XQuAD-dev's validation part this lifted English
hit@1 from 0.671 to 0.734 with hit@5 0.958 → 0.962; see docs/measurements.md). No dictionary installed:
English questions are retrieved without it.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from rag.text.analyze import stopwords

log = logging.getLogger(__name__)

#: Where Debian's package puts the English→Arabic dictionary (without the ``.index``/``.dict.dz`` suffix).
DEFAULT_DICTIONARY = Path("/usr/share/dictd/freedict-eng-ara")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ARABIC = re.compile("[\u0600-\u06ff]")
#: The number of a numbered sense ("1. المسرع"): not part of the rendering (it would put "1" in the BM25 query).
_SENSE_NUMBER = re.compile(r"^\s*\d+\s*[.)]\s*")


def _number(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 64 + _B64.index(ch)
    return n


class Dictionary:
    """English headwords (lowercase) → Arabic renderings, in the dictionary's order.

    Args:
        entries: The mapping.
    """

    def __init__(self, entries: dict[str, list[str]]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, prefix: Path) -> Dictionary:
        """Read ``prefix.index`` and ``prefix.dict.dz`` (or an uncompressed ``prefix.dict``).

        Raises:
            OSError: a file is missing or unreadable.
            ValueError: the files are not a dictd dictionary.
        """
        prefix = Path(prefix)
        body_path = prefix.with_name(prefix.name + ".dict.dz")
        if body_path.is_file():
            body = gzip.open(body_path).read()
        else:
            body = prefix.with_name(prefix.name + ".dict").read_bytes()
        entries: dict[str, list[str]] = {}
        with prefix.with_name(prefix.name + ".index").open(encoding="utf-8") as index:
            for line in index:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3:
                    raise ValueError(f"{prefix}.index: not a dictd index line: {line[:80]!r}")
                offset, length = _number(parts[1]), _number(parts[2])
                text = body[offset : offset + length].decode("utf-8", errors="replace")
                renderings = [_SENSE_NUMBER.sub("", r).strip() for r in text.split("\n")[1:] if _ARABIC.search(r)]
                if renderings:
                    entries.setdefault(parts[0].lower(), []).extend(renderings)
        return cls(entries)

    def lookup(self, word: str) -> list[str]:
        """Arabic renderings of an English word, trying it as written, then without a plural ``s``.

        Example: ``Dictionary({"deal": ["صفقة"]}).lookup("Deals") == ["صفقة"]``
        """
        w = word.lower()
        return self.entries.get(w) or (self.entries.get(w[:-1], []) if w.endswith("s") else [])

    def translate(self, text: str, per_word: int = 3) -> list[str]:
        """The first ``per_word`` renderings of each content word of ``text`` (stopwords and words under three
        letters skipped).

        Example: ``Dictionary({"deal": ["صفقة", "اتفاق"]}).translate("the deal", 1) == ["صفقة"]``
        """
        stop = stopwords()
        out: list[str] = []
        for word in re.findall(r"[A-Za-z]+", text):
            if len(word) < 3 or word.lower() in stop:
                continue
            out += [r for r in self.lookup(word)[:per_word] if r not in out]
        return out


@lru_cache(maxsize=4)
def english_arabic(prefix: str | None = None) -> Dictionary | None:
    """The English→Arabic dictionary at ``prefix`` (default ``DEFAULT_DICTIONARY``), loaded once; None when it
    is not installed (``apt-get install dict-freedict-eng-ara``) or ``prefix`` is ``""``."""
    if prefix == "":
        return None
    path = Path(prefix) if prefix else DEFAULT_DICTIONARY
    if not path.with_name(path.name + ".index").is_file():
        log.info("no English-Arabic dictionary at %s (apt-get install dict-freedict-eng-ara); English questions "
                 "are retrieved without it", path)
        return None
    try:
        return Dictionary.load(path)
    except (OSError, ValueError) as e:
        log.warning("the dictionary at %s is unreadable (%s); English questions are retrieved without it", path, e)
        return None


def translations(text: str, dictionary: Dictionary | None, per_word: int = 3) -> Sequence[str]:
    """``dictionary.translate(text)``, or nothing without a dictionary."""
    return dictionary.translate(text, per_word) if dictionary is not None else ()


def renderings(word: str, prefix: str | None = None) -> list[str]:
    """The Arabic renderings of an English word in the dictionary at ``prefix`` (``english_arabic``; loaded on
    first use), or none without a dictionary.

    Example: ``renderings("Canada")[:1] == ["كندا"]`` with Debian's dictionary installed
    """
    dictionary = english_arabic(prefix)
    return dictionary.lookup(word) if dictionary is not None else []
