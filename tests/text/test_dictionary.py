"""rag.text.dictionary: the dictd reader on a file made here, and Debian's FreeDict English-Arabic one."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from rag.text.dictionary import DEFAULT_DICTIONARY, Dictionary, english_arabic, translations

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if not n:
            return out


def write_dictd(prefix: Path, entries: dict[str, list[str]]) -> None:
    body, index = b"", []
    for word, renderings in entries.items():
        entry = (word + "\n" + "\n".join(renderings) + "\n").encode("utf-8")
        index.append(f"{word}\t{b64(len(body))}\t{b64(len(entry))}")
        body += entry
    prefix.with_name(prefix.name + ".dict.dz").write_bytes(gzip.compress(body))
    prefix.with_name(prefix.name + ".index").write_text("\n".join(index) + "\n", encoding="utf-8")


def test_reads_a_dictd_dictionary_and_translates_content_words(tmp_path: Path):
    prefix = tmp_path / "tiny"
    write_dictd(prefix, {"deal": ["صفقة", "اتفاق"], "year": ["سنة"], "cloud": ["/klaʊd/", "سحابة"]})
    d = Dictionary.load(prefix)
    assert d.lookup("Deal") == ["صفقة", "اتفاق"] and d.lookup("years") == ["سنة"]
    assert d.lookup("cloud") == ["سحابة"]  # pronunciation lines are not renderings
    assert d.translate("How many years does the deal last?", per_word=1) == ["سنة", "صفقة"]
    assert translations("the deal", None) == ()


def test_numbered_senses_lose_their_numbers(tmp_path: Path):
    # FreeDict numbers an entry's senses ("1. المسرع"): a bare "1" in the BM25 query matches every figure.
    prefix = tmp_path / "senses"
    write_dictd(prefix, {"accelerator": ["1. دوّاسة البنزين", "2. المسرع", "10) مُعجِّل"]})
    assert Dictionary.load(prefix).lookup("accelerator") == ["دوّاسة البنزين", "المسرع", "مُعجِّل"]


def test_a_missing_or_broken_dictionary_means_none(tmp_path: Path):
    assert english_arabic(str(tmp_path / "absent")) is None
    assert english_arabic("") is None
    (tmp_path / "bad.index").write_text("no tabs here\n", encoding="utf-8")
    (tmp_path / "bad.dict").write_bytes(b"")
    assert english_arabic(str(tmp_path / "bad")) is None


def test_debians_freedict_english_arabic():
    if not DEFAULT_DICTIONARY.with_name(DEFAULT_DICTIONARY.name + ".index").is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("dict-freedict-eng-ara is missing in CI (make setup-test installs it)")
        pytest.skip("apt-get install dict-freedict-eng-ara to run this test")
    d = english_arabic()
    assert d is not None and len(d.entries) > 50_000
    assert any("صفق" in r for r in d.lookup("deal"))
    assert not any(re.match(r"\d+\s*[.)]", r) for renderings in d.entries.values() for r in renderings)
