"""rag.ingest.chunk: sentence splitting, headings, long-sentence splitting and chunk packing.

Unit tests count tokens as words (a fake counter); the real model's tokenizer is used on
every seed article to check offsets and budgets.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag.ingest.chunk import chunk_document, is_heading, split_long, split_sentences
from rag.ingest.load import content_hash, load_corpus
from rag.types import Document


def words(texts: Sequence[str]) -> list[int]:
    """A fake token counter: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def doc_of(text: str, doc_id: str = "d.txt") -> Document:
    return Document(doc_id=doc_id, title=text.strip().splitlines()[0] if text.strip() else "", text=text,
                    sha256=content_hash(text))


def check_offsets(doc: Document, chunks) -> None:
    for ordinal, c in enumerate(chunks):
        assert c.ordinal == ordinal
        assert c.chunk_id == f"{doc.doc_id}#{ordinal}"
        assert c.doc_id == doc.doc_id
        assert c.title == doc.title
        assert doc.text[c.start : c.end] == c.text
        assert c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
        for (s, e), (s2, _) in zip(c.sentences, c.sentences[1:], strict=False):
            assert c.start <= s < e <= s2
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end


# --- split_sentences -----------------------------------------------------------------------------


def test_docstring_example():
    assert split_sentences("Rose 4.7%. Done!") == [(0, 10), (11, 16)]


@pytest.mark.parametrize(
    "text",
    [
        "ارتفعت الأسهم 4.7% بعد الإعلان.",
        "سرحت أمازون 14,000 موظف الأسبوع الماضي.",
        "أعلن الخبر في الساعة 11:15 صباحا.",
        "ارتفعت الأسهم ٤٫٧ في المئة.",
        "سرحت ١٤٬٠٠٠ موظف.",
        "The economy grew 3.5 percent in 2025.",
        "Prices rose 1.2.3 points.",
    ],
)
def test_never_splits_inside_a_number(text):
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "هل وقعت؟ نعم وقعت. بقيمة ضخمة! والباقي؛ تفاصيل",
            ["هل وقعت؟", "نعم وقعت.", "بقيمة ضخمة!", "والباقي؛", "تفاصيل"],
        ),
        # ؟ and ؛ end a sentence even without a following space.
        ("الثانية؟ثالثة؛رابعة", ["الثانية؟", "ثالثة؛", "رابعة"]),
        # A line break ends a sentence, LF or CRLF, and blank lines vanish.
        ("سطر أول\nسطر ثان\r\n\r\nسطر ثالث\r\n", ["سطر أول", "سطر ثان", "سطر ثالث"]),
        # Closing quotes and brackets stay with their sentence.
        ('He said "yes." Then left.', ['He said "yes."', "Then left."]),
        ("قال «نعم.» ثم غادر.", ["قال «نعم.»", "ثم غادر."]),
        ("Wait... what?! Fine", ["Wait...", "what?!", "Fine"]),
        ("", []),
        ("  \n \r\n ", []),
    ],
)
def test_splits_on_terminators_and_newlines(text, expected):
    assert sentences(text) == expected


def test_spans_are_trimmed_offsets_into_the_text():
    text = "  أولى.   ثانية!\n\n  ثالثة  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["أولى.", "ثانية!", "ثالثة"]
    for s, e in spans:
        assert not text[s].isspace() and not text[e - 1].isspace()


# --- is_heading ----------------------------------------------------------------------------------


def test_is_heading_docstring_example():
    text = "Summary\nBody text."
    assert is_heading(text, (0, 7)) is True
    assert is_heading(text, (8, 18)) is False


def test_is_heading_requires_a_whole_short_line_without_end_punctuation():
    text = "ملخص\nجملة أولى. ذيل\nمؤشرات فقاعة محتملة\r\nنص طويل.\nسؤال؟"
    spans = split_sentences(text)
    got = {text[s:e]: is_heading(text, (s, e)) for s, e in spans}
    assert got == {
        "ملخص": True,
        "جملة أولى.": False,  # ends with a full stop
        "ذيل": False,  # short, but not a whole line
        "مؤشرات فقاعة محتملة": True,  # CRLF line end
        "نص طويل.": False,
        "سؤال؟": False,
    }


def test_is_heading_respects_max_chars():
    text = "عنوان طويل جدا\nنص."
    assert is_heading(text, (0, 14), max_chars=14) is True
    assert is_heading(text, (0, 14), max_chars=13) is False


# --- split_long ----------------------------------------------------------------------------------


def test_split_long_docstring_example():
    assert split_long("aa bb cc dd", (0, 11), 4, 2) == [(0, 5), (6, 11)]


def test_split_long_leaves_a_sentence_within_budget_alone():
    assert split_long("aa bb cc dd", (0, 11), 4, 4) == [(0, 11)]


def test_split_long_cuts_at_spaces_and_covers_the_sentence():
    text = "x " + " ".join(f"w{i:02d}" for i in range(30)) + ". y"  # equal-length words
    span = (2, len(text) - 3)
    pieces = split_long(text, span, 30, 8)
    assert len(pieces) == 4
    assert " ".join(text[a:b] for a, b in pieces) == text[span[0] : span[1]]
    for a, b in pieces:
        assert span[0] <= a < b <= span[1]
        assert text[a] != " " and text[b - 1] != " "
        assert words([text[a:b]])[0] <= 8


def test_split_long_without_spaces_cuts_mid_word():
    text = "a" * 40
    pieces = split_long(text, (0, 40), 20, 10)
    assert pieces == [(0, 20), (20, 40)]


# --- chunk_document with a fake counter -------------------------------------------------------------


def test_packs_to_budget_with_one_sentence_overlap():
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=6, overlap=1)
    check_offsets(doc, chunks)
    assert [c.text for c in chunks] == [
        "One two three. Four five six.",
        "Four five six. Seven eight nine.",
        "Seven eight nine. Ten eleven twelve.",
    ]
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.sentences[0] == prev.sentences[-1]


def test_overlap_zero_gives_disjoint_chunks():
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=6, overlap=0)
    check_offsets(doc, chunks)
    assert [c.text for c in chunks] == ["One two three. Four five six.", "Seven eight nine. Ten eleven twelve."]


def test_overlap_is_dropped_when_it_would_break_the_budget():
    text = "One two. Three four. Five six."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=3, overlap=1)
    assert [c.text for c in chunks] == ["One two.", "Three four.", "Five six."]


def test_budget_is_respected_on_a_longer_text():
    text = " ".join(f"s{i} " + " ".join(["w"] * (1 + i % 5)) + "." for i in range(40))
    doc = doc_of(text)
    for budget in (6, 10, 17):
        for overlap in (0, 1, 2):
            chunks = chunk_document(doc, words, budget=budget, overlap=overlap)
            check_offsets(doc, chunks)
            assert all(words([c.text])[0] <= budget for c in chunks)
            # Every sentence is in some chunk, in order.
            covered = sorted({s for c in chunks for s in c.sentences})
            assert covered == split_sentences(text)
            if overlap:
                for prev, nxt in zip(chunks, chunks[1:], strict=False):
                    shared = set(prev.sentences) & set(nxt.sentences)
                    assert len(shared) <= overlap
                    assert all(s in prev.sentences[-overlap:] for s in shared)


def test_a_single_over_budget_sentence_is_split():
    text = "One two three four five six seven eight nine ten eleven twelve. Short one."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=5, overlap=1)
    check_offsets(doc, chunks)
    assert all(words([c.text])[0] <= 5 for c in chunks)
    assert " ".join(c.text for c in chunks[:2]).startswith("One two three four five six")
    assert chunks[-1].text.endswith("Short one.")


def test_a_heading_travels_with_the_following_sentence():
    text = "Title line\nFirst one here. Second one.\nSubhead\nThird sentence here. Fourth."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=6, overlap=0)
    check_offsets(doc, chunks)
    for c in chunks:
        last = c.sentences[-1]
        assert not is_heading(text, last) or last == split_sentences(text)[-1]
    assert [c.text for c in chunks] == [
        "Title line\nFirst one here.",
        "Second one.\nSubhead\nThird sentence here.",
        "Fourth.",
    ]


def test_consecutive_headings_join_the_first_sentence():
    text = "Title\nSection\nBody sentence one. Body two."
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=5, overlap=0)
    assert chunks[0].text == "Title\nSection\nBody sentence one."


def test_a_heading_may_end_the_last_chunk_when_it_is_the_last_line():
    text = "Body sentence one. Body two.\nTrailing heading"
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=3, overlap=0)
    check_offsets(doc, chunks)
    assert chunks[-1].text.endswith("Trailing heading")


def test_empty_and_whitespace_documents_have_no_chunks():
    assert chunk_document(doc_of(""), words) == []
    assert chunk_document(doc_of(" \r\n "), words) == []


def test_crlf_document_offsets():
    text = "عنوان\r\nالجملة الأولى. الجملة الثانية.\r\nسطر آخر\r\n"
    doc = doc_of(text)
    chunks = chunk_document(doc, words, budget=4, overlap=1)
    check_offsets(doc, chunks)
    assert all("\r" not in text[s:e] for c in chunks for s, e in c.sentences)


def test_heading_plus_sentence_never_exceeds_the_budget():
    text = "Head\nOne two three four five six. Seven eight."
    chunks = chunk_document(doc_of(text), words, budget=6, overlap=1)
    # Got: ["Head\nOne two three four five six.", "Seven eight."], the first chunk being 7 words.
    assert all(words([c.text])[0] <= 6 for c in chunks)


def test_pieces_of_a_split_sentence_respect_the_budget():
    text = " ".join("abcdefghijklmnopqrst") + " " + "x" * 40
    # 21 words, 80 chars, budget 10 -> 3 pieces of ~27 chars; the first holds 13 one-letter words.
    chunks = chunk_document(doc_of(text), words, budget=10, overlap=0)
    assert all(words([c.text])[0] <= 10 for c in chunks), [words([c.text])[0] for c in chunks]


# --- chunk_document with the real tokenizer on every seed -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("budget", [256, 128])
def test_real_seeds_with_the_model_tokenizer(embedder, seeds_dir, budget):
    docs, skipped = load_corpus(seeds_dir)
    assert len(docs) == 5 and skipped == []
    slack = 4  # tokens a join between sentences can add when the whole chunk is re-tokenized
    for doc in docs:
        chunks = chunk_document(doc, embedder.count_tokens, budget=budget, overlap=1)
        assert chunks, doc.doc_id
        check_offsets(doc, chunks)
        counts = embedder.count_tokens([c.text for c in chunks])
        for c, n in zip(chunks, counts, strict=True):
            assert n <= budget + slack, (c.chunk_id, n)
            assert n < 512, (c.chunk_id, n)
        # No text is lost: every non-space character lies in some chunk sentence.
        covered = [False] * len(doc.text)
        for c in chunks:
            for s, e in c.sentences:
                covered[s:e] = [True] * (e - s)
        assert all(covered[i] or ch.isspace() for i, ch in enumerate(doc.text)), doc.doc_id
        # The overlap is at most the previous chunk's last sentence.
        for prev, nxt in zip(chunks, chunks[1:], strict=False):
            assert set(prev.sentences) & set(nxt.sentences) <= {prev.sentences[-1]}
        # A heading ends a chunk only as the article's last line.
        last_span = split_sentences(doc.text)[-1]
        for c in chunks:
            assert not is_heading(doc.text, c.sentences[-1]) or c.sentences[-1] == last_span, c.chunk_id
