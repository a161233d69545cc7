from __future__ import annotations

import hashlib

import pytest

from rag.answer.verify import find_quote, parse_quotes, verify_answer
from rag.text.markers import markers
from rag.types import Chunk, Document, Hit

ARTICLE = (
    "OpenAI تتعاون مع أمازون في اتفاقية حوسبة سحابية\n"
    "أعلنت شركتا OpenAI وAmazon في ٣ نوفمبر 2025 عن توقيع اتفاقية حوسبة سحابية مدتها سبع سنوات "
    "بقيمة 38 مليار دولار.\n"
    "ارتفعت أسهم أمازون بنسبة 4% بعد الإعلان عن الاتفاقية.\n"
    "وقال المتحدث: «سنبدأ التشغيل فوراً».\n"
)


def make_corpus() -> tuple[list[Hit], dict[str, Document]]:
    """Two hits over one article: the second sentence and the third-plus-fourth sentences."""
    doc = Document("000_test.txt", ARTICLE.splitlines()[0], ARTICLE, hashlib.sha256(ARTICLE.encode()).hexdigest())
    s1 = ARTICLE.index("أعلنت")
    e1 = ARTICLE.index("دولار.") + len("دولار.")
    s2 = ARTICLE.index("ارتفعت")
    e2 = ARTICLE.index("فوراً».") + len("فوراً».")
    chunks = [
        Chunk("000_test.txt#0", doc.doc_id, 0, ARTICLE[s1:e1], s1, e1, ((s1, e1),), doc.title),
        Chunk("000_test.txt#1", doc.doc_id, 1, ARTICLE[s2:e2], s2, e2, ((s2, e2),), doc.title),
    ]
    return [Hit(chunks[0], 0.03), Hit(chunks[1], 0.02)], {doc.doc_id: doc}


@pytest.mark.parametrize(
    ("quote", "text", "expected"),
    [
        # tashkeel in the text, not in the quote
        ("وقعت الشركة", "قال: وَقَّعَتْ الشَّرِكَةُ اتفاقية", "وَقَّعَتْ الشَّرِكَةُ"),
        # tashkeel in the quote, not in the text
        ("وَقَّعَتْ الشَّرِكَةُ", "قال: وقعت الشركة اتفاقية", "وقعت الشركة"),
        # tatweel in the text
        ("الشركة اتفاقية", "وقعت الشـــركة اتفاقية", "الشـــركة اتفاقية"),
        # hamza forms of alef, both directions
        ("اعلنت امازون", "وقد أعلنت أمازون أمس", "أعلنت أمازون"),
        ("أعلنت إدارة", "وقد اعلنت ادارة الشركة", "اعلنت ادارة"),
        # decomposed hamza (alef + U+0654) in the text
        ("أعلنت", "وقد ا\u0654علنت", "ا\u0654علنت"),
        # whitespace: a newline and double spaces in the text, single spaces in the quote
        ("مدتها سبع سنوات بقيمة", "اتفاقية مدتها  سبع\nسنوات   بقيمة كبيرة", "مدتها  سبع\nسنوات   بقيمة"),
        # ... and the other way round
        ("مدتها\n سبع  سنوات", "اتفاقية مدتها سبع سنوات", "مدتها سبع سنوات"),
        # Arabic-Indic digits in the text, ASCII in the quote, and vice versa
        ("بقيمة 38 مليار", "صفقة بقيمة ٣٨ مليار دولار", "بقيمة ٣٨ مليار"),
        ("في ٣ نوفمبر", "أعلنت في 3 نوفمبر 2025", "في 3 نوفمبر"),
        # guillemets and end punctuation around the quote are not part of the span
        ("«ارتفعت الأسهم.»", "ثم ارتفعت الأسهم. وبعد", "ارتفعت الأسهم"),
        ("سنبدأ التشغيل فوراً", "وقال: «سنبدأ التشغيل فوراً».", "سنبدأ التشغيل فوراً"),
        # an invisible right-to-left mark in the text
        ("أسهم أمازون", "ارتفعت أسهم\u200f أمازون", "أسهم\u200f أمازون"),
        ("Amazon shares", "The AMAZON  shares rose", "AMAZON  shares"),
    ],
)
def test_find_quote_returns_the_original_span(quote: str, text: str, expected: str) -> None:
    span = find_quote(quote, text)
    assert span is not None
    assert text[span[0] : span[1]] == expected
    assert span == (text.index(expected), text.index(expected) + len(expected))


def test_find_quote_returns_the_first_match() -> None:
    text = "ألف باء. ثم أَلِف باء."
    assert find_quote("الف باء", text) == (0, 7)


@pytest.mark.parametrize(
    ("quote", "text"),
    [
        ("وقعت الشركة عقدا", "قال: وَقَّعَتْ الشَّرِكَةُ اتفاقية"),
        ("بقيمة 39 مليار", "بقيمة ٣٨ مليار"),
        ("", "any text"),
        ("«» .", "any text"),
    ],
)
def test_find_quote_missing(quote: str, text: str) -> None:
    assert find_quote(quote, text) is None


def test_parse_quotes_marker_forms() -> None:
    text = "أولاً «النص الأول» [1]، ثم «النص الثاني» [1][2] وأخيراً «النص الثالث»[1, 2]. و«اسم» بلا رقم."
    parsed = parse_quotes(text)
    assert [(q, ns) for q, ns, _ in parsed] == [
        ("النص الأول", [1]),
        ("النص الثاني", [1, 2]),
        ("النص الثالث", [1, 2]),
    ]
    assert [text[s:e] for _, _, (s, e) in parsed] == [
        "«النص الأول» [1]",
        "«النص الثاني» [1][2]",
        "«النص الثالث»[1, 2]",
    ]


def test_parse_quotes_markers_inside_and_other_quote_marks() -> None:
    text = 'He said «النص [٢]» and “second” [3] and "third" [4].'
    assert [(q, ns) for q, ns, _ in parse_quotes(text)] == [("النص", [2]), ("second", [3]), ("third", [4])]


def test_parse_quotes_stray_double_quote_does_not_swallow_a_quote() -> None:
    text = 'A 5" screen. «النص» [1] and "x" here'
    assert [(q, ns) for q, ns, _ in parse_quotes(text)] == [("النص", [1])]


def test_markers() -> None:
    assert markers("a [1] b [2][1] c [3, 4] d [x]") == [1, 2, 1, 3, 4]


def test_verify_answer_keeps_genuine_and_drops_invented_and_unknown() -> None:
    hits, documents = make_corpus()
    answer = (
        "وقعت الشركتان اتفاقية كبيرة: «اتفاقية حوسبة سحابية مدتها سبع سنوات» [1] "
        "و«ارتفعت أسهم أمازون بنسبة 10%» [2] كما «بقيمة 38 مليار دولار» [9]."
    )
    text, citations, dropped = verify_answer(answer, hits, documents)
    assert dropped == ["ارتفعت أسهم أمازون بنسبة 10%", "بقيمة 38 مليار دولار"]
    assert text == "وقعت الشركتان اتفاقية كبيرة: «اتفاقية حوسبة سحابية مدتها سبع سنوات» [1] و كما."
    assert len(citations) == 1
    c = citations[0]
    doc = documents[c.doc_id]
    assert (c.n, c.doc_id, c.chunk_id, c.title) == (1, "000_test.txt", "000_test.txt#0", doc.title)
    assert doc.text[c.start : c.end] == c.quote == "اتفاقية حوسبة سحابية مدتها سبع سنوات"
    assert c.start == ARTICLE.index("اتفاقية حوسبة سحابية مدتها")
    assert c.score == hits[0].score


def test_verify_answer_rewrites_quotes_verbatim_with_document_offsets() -> None:
    hits, documents = make_corpus()
    # No hamza, ASCII digit, a line break: found, and shown as the article writes it.
    answer = "Amazon shares rose: «ارتفعت اسهم امازون\nبنسبة 4%» [2]. Announced «في 3 نوفمبر» [1, 2]."
    text, citations, dropped = verify_answer(answer, hits, documents)
    assert dropped == []
    assert text == "Amazon shares rose: «ارتفعت أسهم أمازون بنسبة 4%» [2]. Announced «في ٣ نوفمبر» [1]."
    assert [c.n for c in citations] == [2, 1]
    for c in citations:
        assert documents[c.doc_id].text[c.start : c.end] == c.quote
    assert citations[1].quote == "في ٣ نوفمبر"


def test_verify_answer_one_citation_per_passage() -> None:
    hits, documents = make_corpus()
    # The same sentence is in both passages when they overlap.
    overlap = Chunk("000_test.txt#2", "000_test.txt", 2, hits[0].chunk.text, hits[0].chunk.start,
                    hits[0].chunk.end, hits[0].chunk.sentences, hits[0].chunk.title)
    hits = [hits[0], Hit(overlap, 0.01)]
    text, citations, _ = verify_answer("«مدتها سبع سنوات» [1][2] «مدتها سبع سنوات» [1]", hits, documents)
    assert [(c.n, c.chunk_id) for c in citations] == [(1, "000_test.txt#0"), (2, "000_test.txt#2")]
    assert text == "«مدتها سبع سنوات» [1][2] «مدتها سبع سنوات» [1]"


def test_verify_answer_stray_markers_and_unmarked_quotes() -> None:
    hits, documents = make_corpus()
    answer = (
        "حسب «OpenAI» [3] ومصادر أخرى [1][5]، قال المتحدث «سنبدأ التشغيل فوراً في كل مكان» "
        "وأضاف «ارتفعت أسهم أمازون بنسبة 4%»."
    )
    text, citations, dropped = verify_answer(answer, hits, documents)
    # «OpenAI» [3] cites no passage; [5] is removed from the run; a long unmarked invented quote goes;
    # a long unmarked genuine one is kept and gets its passage's marker.
    assert dropped == ["OpenAI", "سنبدأ التشغيل فوراً في كل مكان"]
    assert text == "حسب ومصادر أخرى [1]، قال المتحدث وأضاف «ارتفعت أسهم أمازون بنسبة 4%» [2]."
    assert [(c.n, c.quote) for c in citations] == [(2, "ارتفعت أسهم أمازون بنسبة 4%")]


def test_verify_answer_without_quotes_is_unchanged() -> None:
    hits, documents = make_corpus()
    assert verify_answer("  لم أجد في المقالات ما يجيب.  ", hits, documents) == ("لم أجد في المقالات ما يجيب.", [], [])


def test_verify_answer_refuses_offsets_that_do_not_match_the_article() -> None:
    hits, documents = make_corpus()
    doc = documents["000_test.txt"]
    edited = Document(doc.doc_id, doc.title, "x" + doc.text, doc.sha256)  # the article changed after indexing
    _, citations, dropped = verify_answer("«مدتها سبع سنوات» [1]", hits, {doc.doc_id: edited})
    assert citations == [] and dropped == ["مدتها سبع سنوات"]
