"""rag.ingest.load: reading a corpus folder into Documents, skipping what is not an article with a named reason."""

from __future__ import annotations

import hashlib
import logging
import shutil

import pytest

from rag.errors import CorpusError
from rag.ingest.load import content_hash, decode_article, load_corpus, title_of

ARTICLE = "عنوان الخبر\nأعلنت الشركة عن صفقة بقيمة 38 مليار دولار.\n"


def _write(folder, name, data: bytes):
    path = folder / name
    path.write_bytes(data)
    return path


def _skips(skipped):
    return {s.path: s.reason for s in skipped}


# --- helpers -------------------------------------------------------------------------------------


def test_content_hash_is_sha256_of_utf8():
    assert content_hash("") == hashlib.sha256(b"").hexdigest()
    assert content_hash("صفقة") == hashlib.sha256("صفقة".encode()).hexdigest()


def test_title_is_first_non_empty_line_stripped():
    assert title_of("\n  \r\n  Headline \r\nBody") == "Headline"
    assert title_of("") == ""
    assert title_of(" \n\t\n") == ""


def test_decode_article_strips_bom_keeps_crlf():
    assert decode_article(b"\xef\xbb\xbfnews\r\n") == "news\r\n"
    assert decode_article("خبر\r\nثان".encode()) == "خبر\r\nثان"


def test_decode_article_rejects_nul_bytes_and_invalid_utf8():
    with pytest.raises(ValueError, match="binary"):
        decode_article(b"abc\x00def")
    with pytest.raises(ValueError, match=r"not valid UTF-8 \(byte 0xe9 at offset 3\)"):
        decode_article("café".encode("latin-1"))


# --- load_corpus ---------------------------------------------------------------------------------


def test_utf8_with_bom_is_read_without_the_bom(tmp_path):
    _write(tmp_path, "a.txt", b"\xef\xbb\xbf" + ARTICLE.encode())
    docs, skipped = load_corpus(tmp_path)
    assert skipped == []
    [doc] = docs
    assert doc.text == ARTICLE
    assert doc.title == "عنوان الخبر"
    assert doc.doc_id == "a.txt"
    assert doc.sha256 == content_hash(ARTICLE)


def test_crlf_is_kept_in_text_and_not_in_title(tmp_path):
    text = "\r\n  Headline here \r\nFirst line.\r\nSecond line.\r\n"
    _write(tmp_path, "crlf.txt", text.encode())
    [doc], _ = load_corpus(tmp_path)
    assert doc.text == text
    assert "\r\n" in doc.text
    assert doc.title == "Headline here"


def test_documents_are_sorted_by_name_and_md_is_read(tmp_path):
    _write(tmp_path, "b.md", b"# B\nbody")
    _write(tmp_path, "a.txt", b"A\nbody")
    _write(tmp_path, "C.TXT", b"C\nbody")
    docs, _ = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["C.TXT", "a.txt", "b.md"]


def test_other_files_are_ignored_silently_and_subfolders_are_listed(tmp_path):
    _write(tmp_path, "a.txt", ARTICLE.encode())
    _write(tmp_path, "gold_qa.jsonl", b'{"q": 1}\n')
    _write(tmp_path, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    _write(tmp_path, "notes", b"no suffix")
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "nested.txt", ARTICLE.encode() + b"more")
    (tmp_path / ".git").mkdir()
    docs, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["a.txt"]
    assert list(_skips(skipped)) == [str(tmp_path / "sub")]
    assert "subfolder: not read" in skipped[0].reason


@pytest.mark.parametrize(
    ("name", "data", "reason_words"),
    [
        ("empty.txt", b"", ["empty"]),
        ("blank.txt", b" \r\n\t\n  ", ["empty"]),
        ("bom_only.txt", b"\xef\xbb\xbf", ["empty"]),
        ("binary.txt", b"\x00\x01\x02PK\x00data", ["binary", "NUL"]),
        # UTF-16 is named, with how to convert it: with a byte-order mark, or ASCII-range text without one.
        ("utf16_en.txt", "news".encode("utf-16"), ["UTF-16 text", "iconv -f UTF-16 -t UTF-8"]),
        ("utf16_ar.txt", "خبر".encode("utf-16"), ["UTF-16 text", "iconv -f UTF-16 -t UTF-8"]),
        ("utf16le.txt", "Deal: 38 billion".encode("utf-16-le"), ["UTF-16 text", "iconv -f UTF-16LE"]),
        ("utf16be.txt", "Deal: 38 billion".encode("utf-16-be"), ["UTF-16 text", "iconv -f UTF-16BE"]),
        ("utf32.txt", "news".encode("utf-32"), ["binary"]),
        ("latin1.txt", "Café à Paris".encode("latin-1"), ["not valid UTF-8", "0xe9"]),
    ],
)
def test_bad_file_is_skipped_with_a_named_reason(tmp_path, caplog, name, data, reason_words):
    good = _write(tmp_path, "good.txt", ARTICLE.encode())
    bad = _write(tmp_path, name, data)
    with caplog.at_level(logging.WARNING, logger="rag.ingest.load"):
        docs, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == [good.name]
    assert [s.path for s in skipped] == [str(bad)]
    for word in reason_words:
        assert word in skipped[0].reason
    # The warning names both the file and the problem.
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(bad) in record.getMessage()
    assert reason_words[0] in record.getMessage()


def test_exact_duplicate_is_skipped_naming_the_original(tmp_path):
    _write(tmp_path, "a.txt", ARTICLE.encode())
    dup = _write(tmp_path, "b.txt", ARTICLE.encode())
    # The same text with a BOM decodes to the same article: also a duplicate.
    bom_dup = _write(tmp_path, "c.txt", b"\xef\xbb\xbf" + ARTICLE.encode())
    docs, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["a.txt"]
    assert _skips(skipped) == {str(dup): "exact duplicate of a.txt", str(bom_dup): "exact duplicate of a.txt"}


def test_near_duplicate_is_kept(tmp_path):
    _write(tmp_path, "a.txt", ARTICLE.encode())
    _write(tmp_path, "b.txt", (ARTICLE + " ").encode())
    docs, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["a.txt", "b.txt"]
    assert skipped == []


def test_folder_named_like_an_article_is_skipped(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    _write(tmp_path, "a.txt", ARTICLE.encode())
    docs, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["a.txt"]
    assert _skips(skipped)[str(tmp_path / "folder.txt")].startswith("subfolder: not read")


def test_oversized_file_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.ingest.load.MAX_DOC_BYTES", 10)
    big = _write(tmp_path, "big.txt", b"x" * 11)
    docs, skipped = load_corpus(tmp_path)
    assert docs == []
    assert [s.path for s in skipped] == [str(big)]
    assert "too large" in skipped[0].reason


def test_a_corpus_of_only_bad_files_returns_no_documents_without_raising(tmp_path):
    _write(tmp_path, "empty.txt", b"")
    _write(tmp_path, "binary.txt", b"\x00\x00")
    _write(tmp_path, "latin1.md", b"\xe9t\xe9")
    docs, skipped = load_corpus(tmp_path)
    assert docs == []
    assert len(skipped) == 3


def test_empty_folder(tmp_path):
    assert load_corpus(tmp_path) == ([], [])


def test_missing_folder_raises_corpus_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(CorpusError, match="nope"):
        load_corpus(missing)


def test_a_file_instead_of_a_folder_raises_corpus_error(tmp_path):
    path = _write(tmp_path, "a.txt", ARTICLE.encode())
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(path)


def test_real_seeds_load_cleanly(tmp_path, seeds_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(seeds_dir, corpus)
    docs, skipped = load_corpus(corpus)
    assert skipped == []
    assert [d.doc_id for d in docs] == sorted(p.name for p in seeds_dir.glob("*.txt"))
    for doc in docs:
        assert doc.text == (corpus / doc.doc_id).read_bytes().decode("utf-8-sig")
        assert doc.title and doc.title == doc.title.strip()
        assert doc.title.removesuffix("…") in " ".join(doc.text.split())
