"""rag.ingest.title: front matter, headline vs caption vs lead sentence, shortening."""

from __future__ import annotations

import pytest

from rag.ingest.chunk import chunk_document
from rag.ingest.load import content_hash, load_corpus
from rag.ingest.title import (
    LEAD_TITLE_CHARS,
    article_meta,
    front_matter_end,
    headline_of,
    is_caption,
    parse_front_matter,
    shorten,
)
from rag.types import Document


def test_front_matter_fields_and_body_offset():
    text = "---\ntitle: 'Deal signed'\nsource: Reuters\ndate: 2025-11-03\nauthor: X\n---\nBody line.\n"
    fields, end = parse_front_matter(text)
    assert fields == {"title": "Deal signed", "source": "Reuters", "date": "2025-11-03", "author": "X"}
    assert text[end:] == "Body line.\n"


@pytest.mark.parametrize(
    "text",
    [
        "---\nJust a horizontal rule then text\n---\nBody",  # not key: value lines
        "---\ntitle: never closed\nBody text.",  # no closing fence
        "Body first\n---\ntitle: x\n---\n",  # not at the start
        "---\n---\nBody",  # empty block
    ],
)
def test_what_is_not_front_matter_is_left_whole(text):
    assert parse_front_matter(text) == ({}, 0)
    assert front_matter_end(text) == 0


def test_front_matter_with_crlf():
    text = "---\r\ntitle: T\r\nsource: AP\r\n---\r\nBody."
    fields, end = parse_front_matter(text)
    assert fields == {"title": "T", "source": "AP"} and text[end:] == "Body."


def test_short_first_line_is_the_headline():
    assert headline_of("Central bank holds rates\nThe bank kept rates at 4%. More.") == "Central bank holds rates"
    assert headline_of("# Markdown headline here\n\nBody.") == "Markdown headline here"


def test_first_line_that_is_a_sentence_gives_the_shortened_lead():
    lead = "The central bank kept its main rate unchanged on Thursday, citing inflation that remains above target."
    title = headline_of(lead + " Second sentence.\nMore.")
    assert title.endswith("…") and len(title) <= LEAD_TITLE_CHARS + 1
    assert lead.startswith(title[:-1])  # cut at a word boundary of the lead sentence
    assert lead[len(title) - 1] == " "


def test_long_lead_paragraph_is_cut_at_a_word_boundary():
    para = "تتجه أنظار قطاع التكنولوجيا العالمي نحو خطوة ضخمة " * 8
    title = headline_of(para)
    assert title.endswith("…") and len(title) <= LEAD_TITLE_CHARS + 1
    assert para.startswith(title[:-1]) and para[len(title) - 1] == " "


@pytest.mark.parametrize(
    "line",
    [
        "Sam Altman, OpenAI's chief executive, at the White House in September 2025",
        "سام ألتمان، الرئيس التنفيذي للشركة، في البيت الأبيض في سبتمبر 2025",
        "Protesters gather outside parliament (Photo: AFP)",
        "صورة أرشيفية لمقر الشركة",
    ],
)
def test_captions(line):
    assert is_caption(line)


@pytest.mark.parametrize(
    "line",
    ["OpenAI signs a $38bn cloud deal with Amazon", "إعلان بعد أقل من أسبوع على تسريح أمازون 14,000 موظف"],
)
def test_headlines_are_not_captions(line):
    assert not is_caption(line)


def test_caption_first_line_is_skipped_for_the_lead():
    body = "Jane Doe, the minister, in Cairo in May 2024\nThe minister announced a new budget on Monday. It grows."
    assert headline_of(body) == "The minister announced a new budget on Monday."


def test_shorten():
    assert shorten("one two three four", 10) == "one two…"
    assert shorten("short", 10) == "short"
    assert shorten("  many   spaces  ") == "many spaces"


def test_article_meta_prefers_front_matter_title():
    meta = article_meta("---\ntitle: Given title\nsource: AP\n---\nHeadline line\nBody.")
    assert (meta.title, meta.source, meta.date) == ("Given title", "AP", "")
    meta = article_meta("---\nsource: AP\ndate: 3 Nov 2025\n---\nHeadline line\nBody.")
    assert (meta.title, meta.source, meta.date) == ("Headline line", "AP", "3 Nov 2025")


def test_front_matter_is_neither_chunked_nor_quoted_and_offsets_stay_exact(tmp_path):
    body = "Deal announced\nThe two firms signed a seven-year deal. It is worth 38 billion dollars.\n"
    text = "---\ntitle: The deal\nsource: Reuters\ndate: 2025-11-03\n---\n" + body
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    [doc], _ = load_corpus(tmp_path)
    assert doc.text == text  # verbatim, front matter included
    assert (doc.title, doc.source, doc.date) == ("The deal", "Reuters", "2025-11-03")
    chunks = chunk_document(doc, lambda ts: [len(t.split()) for t in ts], budget=8, overlap=0)
    start = text.index("Deal announced")
    assert chunks[0].start == start
    for c in chunks:
        assert c.start >= start and doc.text[c.start : c.end] == c.text
        assert "Reuters" not in c.text and "---" not in c.text


def test_seed_titles_are_headlines_or_short_leads():
    docs, _ = load_corpus("seeds")
    for doc in docs:
        assert 0 < len(doc.title) <= max(LEAD_TITLE_CHARS + 1, 150)
        assert "\n" not in doc.title
        first = doc.text.strip().splitlines()[0].strip()
        # Either the first line is the headline, or the title is a cut of a lead sentence.
        assert doc.title == first or doc.title.endswith("…") or not first.endswith(".")


def test_document_defaults_keep_old_constructor():
    doc = Document("a.txt", "T", "text", content_hash("text"))
    assert doc.source == "" and doc.date == ""


def test_closing_source_line_names_the_outlet():
    assert article_meta("Headline here\nBody.\nالمصدر: نيويورك تايمز\n\n").source == "نيويورك تايمز"
    assert article_meta("Headline here\nBody.\nSource: Reuters").source == "Reuters"
    assert article_meta("Headline here\nThe source: of it all is unclear.\nMore text.\nEnd.").source == ""
