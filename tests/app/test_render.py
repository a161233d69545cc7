"""rag.app.render: escaping, highlight offsets and per-message direction.

The oracle for escaping and offsets is the standard library's HTML parser: the text it reads
back from the rendered HTML must be the original text, character for character, and the only
elements in it are the ones ``present`` writes.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from rag.app.render import (
    answer_html,
    article_html,
    citation_label,
    citation_labels,
    dir_attrs,
    empty_sources_html,
    escape_text,
    framing_language,
    highlight,
    message_html,
    sources_html,
)
from rag.ingest.load import load_corpus
from rag.types import Answer, Chunk, Citation, Document, Hit, ShortAnswer

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
INJECTION = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
ALLOWED_TAGS = {"div", "span", "sup", "mark", "br", "article", "header", "strong", "code", "h3", "ol", "li",
                "blockquote", "p", "small", "details", "summary", "a"}


class _Reader(HTMLParser):
    """Collects text (``<br>`` as a newline), the tags seen, and the text inside each ``<mark>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.marks: list[str] = []
        self._in_mark = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "br":
            self.text.append("\n")
            if self._in_mark:
                self.marks[-1] += "\n"
        if tag == "mark":
            self._in_mark += 1
            self.marks.append("")

    def handle_endtag(self, tag):
        if tag == "mark":
            self._in_mark -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_mark:
            self.marks[-1] += data


def read(html_text: str) -> _Reader:
    reader = _Reader()
    reader.feed(html_text)
    reader.close()
    return reader


def body_of(rendered: str, cls: str) -> str:
    """The text inside the first element with class ``cls``."""
    start = rendered.index(f'class="{cls}"')
    start = rendered.index(">", start) + 1
    end = rendered.index("</div>", start)
    return "".join(read(rendered[start:end]).text)


def doc(text: str, doc_id: str = "a.txt") -> Document:
    return Document(doc_id=doc_id, title=text.strip().splitlines()[0], text=text, sha256="0")


def answer(text: str, language: str, citations: list[Citation], hits: list[Hit] | None = None, **kw) -> Answer:
    return Answer(question="q", language=language, text=text, abstained=False, citations=citations,
                  passages=hits or [], **kw)


@pytest.fixture(scope="module")
def seed() -> Document:
    documents, _ = load_corpus(SEEDS)
    return next(d for d in documents if d.doc_id.startswith("000_"))


# --- escaping -------------------------------------------------------------------------------------------------


def test_question_with_markup_is_shown_as_text():
    question = f"ما قيمة الصفقة؟ {INJECTION}"
    rendered = message_html(question)
    reader = read(rendered)
    assert {tag for tag, _ in reader.tags} <= {"div"}
    assert "".join(reader.text) == question
    assert "<script" not in rendered and "<img" not in rendered


def test_article_with_markup_in_title_and_text_is_escaped():
    text = f"Title {INJECTION}\nBody {INJECTION} and more.\n"
    document = doc(text, doc_id='evil"<b>.txt')
    rendered = article_html(document, 0, 5)
    reader = read(rendered)
    assert {tag for tag, _ in reader.tags} <= ALLOWED_TAGS
    assert "<script" not in rendered and "<img" not in rendered
    assert body_of(rendered, "article-body") == text
    assert "".join(reader.text).count(INJECTION) == 3  # title heading + the two in the body


def test_sources_escape_title_quote_and_passage():
    text = f"Evil {INJECTION}\nThe deal is worth 38 billion dollars {INJECTION}.\n"
    document = doc(text, doc_id="evil.txt")
    start = text.index("The deal")
    end = len(text) - 1
    chunk = Chunk("evil.txt#0", "evil.txt", 0, text[start:end], start, end, ((start, end),), document.title)
    cit = Citation(1, "evil.txt", document.title, text[start:end], start, end, 0.9, "evil.txt#0")
    rendered = sources_html(answer("x [1]", "en", [cit], [Hit(chunk, 0.5)]), {"evil.txt": document})
    reader = read(rendered)
    assert {tag for tag, _ in reader.tags} <= ALLOWED_TAGS
    assert "<script" not in rendered and "<img" not in rendered
    assert reader.marks == [text[start:end]]


def test_answer_text_with_markup_is_escaped_and_markers_become_badges():
    a = answer(f"Worth {INJECTION} [1] and [7].", "en", [Citation(1, "a.txt", "t", "q", 0, 1, 1.0)])
    rendered = answer_html(a)
    reader = read(rendered)
    assert "<script" not in rendered and "<img" not in rendered
    assert "".join(reader.text) == a.text
    assert rendered.count('class="cite"') == 1  # [7] names no citation: plain text
    assert '<a class="cite" href="#source-1">[1]</a>' in rendered


# --- highlight offsets ----------------------------------------------------------------------------------------


def test_highlight_splits_at_offsets_then_escapes_each_part():
    assert highlight("a <b> c", 2, 5) == "a <mark>&lt;b&gt;</mark> c"
    assert highlight("a & b", 2, 3, mark_id="quote") == 'a <mark id="quote">&amp;</mark> b'


@pytest.mark.parametrize("start,end", [(-1, 2), (3, 3), (5, 2), (0, 99)])
def test_highlight_out_of_range_marks_nothing(start, end):
    assert "<mark" not in highlight("abcdef", start, end)
    assert "".join(read(highlight("abcdef", start, end)).text) == "abcdef"


def test_article_marks_the_quote_in_place_on_a_real_seed(seed):
    start = seed.text.index("أعلنت شركتا")
    end = seed.text.index("(AWS).", start) + len("(AWS).")
    rendered = article_html(seed, start, end)
    reader = read(rendered)
    assert reader.marks == [seed.text[start:end]]
    assert ("mark", {"id": "quote"}) in reader.tags
    body = body_of(rendered, "article-body")
    assert body == seed.text  # the whole article, verbatim, newlines kept
    assert rendered.count("<br>") >= seed.text.count("\n")
    prefix = rendered[: rendered.index('<mark id="quote">')]
    assert "".join(read(prefix.split('class="article-body">', 1)[1]).text) == seed.text[:start]
    assert 'dir="rtl" lang="ar"' in rendered.split(">", 1)[0]


def test_sources_mark_the_quote_inside_its_passage(seed):
    start = seed.text.index("أعلنت شركتا")
    end = seed.text.index("(AWS).", start) + len("(AWS).")
    c_start, c_end = 0, seed.text.index("\n", end)
    chunk = Chunk(f"{seed.doc_id}#0", seed.doc_id, 0, seed.text[c_start:c_end], c_start, c_end, (), seed.title)
    cit = Citation(1, seed.doc_id, seed.title, seed.text[start:end], start, end, 1.25, chunk.chunk_id)
    rendered = sources_html(answer("بحسب المقالات: «…» [1]", "ar", [cit], [Hit(chunk, 0.03)]),
                            {seed.doc_id: seed})
    reader = read(rendered)
    assert reader.marks == [seed.text[start:end]]
    text = "".join(reader.text)
    assert seed.title in text and seed.doc_id in text and "1.25" in text and "[1]" in text
    assert text.index("[1]") < text.index(seed.title)
    assert "المصادر" in text


def test_sources_fall_back_to_the_paragraph_when_the_chunk_is_not_among_the_passages(seed):
    start = seed.text.index("ارتفعت أسهم")
    end = seed.text.index("الاتفاقية.", start) + len("الاتفاقية.")
    cit = Citation(2, seed.doc_id, seed.title, seed.text[start:end], start, end, 0.5, "elsewhere#9")
    reader = read(sources_html(answer("«…» [2]", "ar", [cit]), {seed.doc_id: seed}))
    assert reader.marks == [seed.text[start:end]]
    paragraph_start = seed.text.rfind("\n", 0, start) + 1
    assert seed.text[paragraph_start:start] in "".join(reader.text)


def test_abstained_sources_say_closest_passages_in_the_answers_language(seed):
    chunk = Chunk(f"{seed.doc_id}#0", seed.doc_id, 0, seed.text[:200], 0, 200, (), seed.title)
    for language, heading in (("ar", "أقرب المقاطع"), ("en", "Closest passages")):
        a = Answer("q", language, "…", abstained=True, citations=[], passages=[Hit(chunk, 0.1)])
        text = "".join(read(sources_html(a, {seed.doc_id: seed})).text)
        assert heading in text
        assert seed.title in text  # the heading; the passage under it does not repeat it
        assert seed.text[len(seed.title) + 1 : 200] in text


# --- direction ------------------------------------------------------------------------------------------------


def test_direction_follows_each_messages_own_script():
    assert 'dir="rtl" lang="ar"' in message_html("ما قيمة الاتفاقية بين OpenAI وأمازون؟")
    assert 'dir="ltr" lang="en"' in message_html("How long does the OpenAI Amazon agreement last?")
    assert 'dir="ltr" lang="en"' in message_html("…", language="en")
    assert 'dir="rtl" lang="ar"' in message_html("…", language="ar")
    assert dir_attrs("") == 'dir="ltr" lang="en"'


def test_english_answer_quoting_arabic_is_ltr_with_rtl_quote_lines():
    text = "According to the articles (quoted in Arabic):\n«مدتها سبع سنوات بقيمة 38 مليار دولار» [1]"
    a = answer(text, "en", [Citation(1, "a.txt", "t", "مدتها سبع سنوات", 0, 1, 1.0)])
    rendered = answer_html(a)
    assert rendered.startswith('<div class="msg answer" dir="ltr" lang="en">')
    lines = [attrs for tag, attrs in read(rendered).tags if tag == "div" and attrs.get("class") == "line"]
    assert [line["dir"] for line in lines] == ["ltr", "rtl"]
    quotes = [attrs for tag, attrs in read(rendered).tags if tag == "span"]
    assert quotes == [{"class": "quote", "dir": "rtl", "lang": "ar"}]


def test_arabic_answer_is_rtl():
    a = answer("بحسب المقالات:\n«بقيمة 38 مليار دولار» [1]", "ar", [Citation(1, "a.txt", "t", "x", 0, 1, 1.0)])
    assert answer_html(a).startswith('<div class="msg answer" dir="rtl" lang="ar">')


def test_framing_language_ignores_quotes_even_while_one_is_still_streaming():
    assert framing_language("According to the articles: «بقيمة 38 مليار دولار» [1]") == "en"
    assert framing_language("According to the articles:\n«بقيمة 38 مليار دولار، مما سيمكن") == "en"
    assert framing_language("«بقيمة 38 مليار دولار» [1]", "ar") == "ar"


def test_escape_text_keeps_line_breaks():
    assert escape_text("a<b>\nc\r\nd") == "a&lt;b&gt;<br>c<br>d"


def test_citation_label_isolates_the_title_in_its_own_direction():
    label = citation_label(Citation(3, "x.txt", "OpenAI " + "عنوان " * 20, "q", 0, 1, 1.0))
    # RLM first (an Arabic title: the label reads right to left), then RLI ... PDI around the title.
    assert label.startswith("\u200f[3] \u2067OpenAI") and label.endswith("…\u2069")
    assert len(label) < 90
    assert citation_label(Citation(1, "e.txt", "Zebra news", "q", 0, 1, 1.0)) == "\u200e[1] \u2066Zebra news\u2069"


def test_identical_picker_labels_are_told_apart_by_their_quotes():
    a = Citation(1, "x.txt", "عنوان الخبر", "بلغت قيمة الصفقة 38 مليار دولار", 0, 1, 1.0)
    b = Citation(2, "x.txt", "عنوان الخبر", "وتمتد الصفقة سبع سنوات", 5, 9, 0.8)
    c = Citation(3, "y.txt", "Other title", "q", 0, 1, 0.5)
    labels = citation_labels([a, b, c])
    assert len(set(labels)) == 3
    assert "بلغت قيمة الصفقة 38 مليار" in labels[0] and "وتمتد الصفقة سبع سنوات" in labels[1]
    assert labels[2] == citation_label(c)


# --- titles, outlets, details ---------------------------------------------------------------------------------


def test_passage_does_not_repeat_the_title_shown_above_it(seed):
    start = seed.text.index("أعلنت شركتا")
    end = seed.text.index("(AWS).", start) + len("(AWS).")
    c_end = seed.text.index("\n", end)
    chunk = Chunk(f"{seed.doc_id}#0", seed.doc_id, 0, seed.text[:c_end], 0, c_end, (), seed.title)
    assert seed.text.startswith(seed.title)  # this seed's first line is its headline
    cit = Citation(1, seed.doc_id, seed.title, seed.text[start:end], start, end, 1.25, chunk.chunk_id)
    rendered = sources_html(answer("«…» [1]", "ar", [cit], [Hit(chunk, 0.03)]), {seed.doc_id: seed})
    assert "".join(read(rendered).text).count(seed.title) == 1  # the heading only
    passage = rendered[rendered.index('<blockquote class="passage"'):]
    assert seed.title not in "".join(read(passage).text)
    assert read(rendered).marks == [seed.text[start:end]]
    # A quote of the title line itself keeps the line in the passage.
    title_cit = Citation(1, seed.doc_id, seed.title, seed.title, 0, len(seed.title), 1.0, chunk.chunk_id)
    rendered = sources_html(answer("«…» [1]", "ar", [title_cit], [Hit(chunk, 0.03)]), {seed.doc_id: seed})
    assert read(rendered).marks == [seed.title]


def test_sources_show_outlet_and_date_and_file_name_small_and_score_behind_details():
    text = "---\ntitle: The deal\nsource: Reuters\ndate: 2025-11-03\n---\nThe deal is worth 38 billion dollars.\n"
    d = Document("007_abc.md", "The deal", text, "0", source="Reuters", date="2025-11-03")
    start = text.index("The deal is")
    end = len(text) - 1
    cit = Citation(1, d.doc_id, d.title, text[start:end], start, end, 1.75, "007_abc.md#0")
    rendered = sources_html(answer("«…» [1]", "en", [cit]), {d.doc_id: d})
    assert '<span class="source-meta" dir="ltr" lang="en">Reuters · 2025-11-03</span>' in rendered
    assert '<small class="source-id" dir="ltr">007_abc.md</small>' in rendered
    details = rendered[rendered.index('<details class="source-details">'):]
    assert "1.75" in details and "match with the question" in details and "1.75" not in rendered.split("<details")[0]
    article = article_html(d, start, end)
    assert "Reuters · 2025-11-03" in article
    assert "title:" not in article and "---" not in article  # front matter is not shown as text
    assert read(article).marks == [text[start:end]]


def test_answer_carries_its_sources_folded_for_phones(seed):
    start = seed.text.index("أعلنت شركتا")
    end = seed.text.index("(AWS).", start) + len("(AWS).")
    cit = Citation(1, seed.doc_id, seed.title, seed.text[start:end], start, end, 1.0, "x")
    rendered = answer_html(answer("بحسب المقالات: «…» [1]", "ar", [cit]), {seed.doc_id: seed})
    folded = rendered[rendered.index('<details class="answer-sources"'):]
    assert "<summary>المصادر (1)</summary>" in folded and 'id="source-1"' in folded
    assert read(folded).marks == [seed.text[start:end]]
    assert '<details class="answer-sources"' not in answer_html(answer("«…» [1]", "ar", [cit]))


def test_empty_sources_panel_speaks_both_languages():
    text = "".join(read(empty_sources_html()).text)
    assert "المصادر" in text and "Sources" in text and "appear here" in text and "ستظهر" in text
    assert "Sources" not in "".join(read(empty_sources_html("ar")).text)


# --- the short answer -----------------------------------------------------------------------------------------


def test_short_answer_comes_first_in_bold_in_english_when_rendered(seed):
    start = seed.text.index("سبع سنوات")
    sentence_start = seed.text.rfind("\n", 0, start) + 1
    sentence_end = seed.text.index("\n", start)
    cit = Citation(1, seed.doc_id, seed.title, seed.text[sentence_start:sentence_end], sentence_start,
                   sentence_end, 1.0)
    short = ShortAnswer("سبع سنوات", seed.doc_id, start, start + len("سبع سنوات"), "seven years")
    ans = answer("According to the articles (quoted in Arabic):\n«…» [1]", "en", [cit], short_answer=short)
    rendered = answer_html(ans)
    assert rendered.index("<strong>seven years</strong>") < rendered.index("According to the articles")
    # Without an English rendering the Arabic span is shown, marked as quoted in Arabic.
    rendered = answer_html(answer("According to the articles:\n«…» [1]", "en", [cit],
                                  short_answer=ShortAnswer("سبع سنوات", seed.doc_id, start, start + 9)))
    assert "سبع سنوات</span></strong>»" in rendered and "(quoted in Arabic)" in rendered
    # An Arabic answer shows the span without the note; an abstained one shows no short answer.
    rendered = answer_html(answer("بحسب المقالات:\n«…» [1]", "ar", [cit], short_answer=short))
    assert "<strong>" in rendered and "quoted in Arabic" not in rendered and "seven years" not in rendered
    abstained = Answer("q", "en", "I couldn't find this in the articles.", True, [cit], short_answer=short)
    assert "<strong>" not in answer_html(abstained)


def test_a_resolved_follow_up_is_shown_in_small_print_above_its_answer():
    """"understood as: …" in the answer's language, the resolved question isolated in its own direction
    and escaped; nothing for a question taken as asked."""
    ans = answer("بحسب المقالات:\n«تستمر سبع سنوات» [1]", "ar", [], resolved_question="كم مدة صفقة <b>OpenAI</b>؟",
                 short_answer=ShortAnswer("سبع سنوات", "a.txt", 0, 9))
    rendered = answer_html(ans)
    assert '<div class="line understood-as" dir="rtl" lang="ar"><small>فُهم السؤال على أنه: ' in rendered
    assert body_of(rendered, "line understood-as") == "فُهم السؤال على أنه: كم مدة صفقة <b>OpenAI</b>؟"
    assert rendered.index("understood-as") < rendered.index("short-answer") < rendered.index("بحسب المقالات")
    assert {tag for tag, _ in read(rendered).tags} <= ALLOWED_TAGS
    english = answer("According to the articles:", "en", [], resolved_question="When is Nvidia investing in OpenAI?")
    assert "<small>understood as: " in answer_html(english)
    assert "understood" not in answer_html(answer("According to the articles:", "en", []))


def test_sources_highlight_the_short_answer_inside_its_quote(seed):
    start = seed.text.index("سبع سنوات")
    sentence_start = seed.text.rfind("\n", 0, start) + 1
    sentence_end = seed.text.index("\n", start)
    cit = Citation(1, seed.doc_id, seed.title, seed.text[sentence_start:sentence_end], sentence_start,
                   sentence_end, 1.0)
    short = ShortAnswer("سبع سنوات", seed.doc_id, start, start + len("سبع سنوات"), "seven years")
    rendered = sources_html(answer("«…» [1]", "en", [cit], short_answer=short), {seed.doc_id: seed})
    reader = read(rendered)
    assert reader.marks == [cit.quote]  # the quote is still marked whole, verbatim
    assert '<strong class="short-answer">سبع سنوات</strong>' in rendered
    # A short answer from another article highlights nothing here.
    other = ShortAnswer("سبع سنوات", "other.txt", start, start + 9)
    assert "short-answer" not in sources_html(answer("«…» [1]", "en", [cit], short_answer=other),
                                              {seed.doc_id: seed})
