"""The present stage: render answers, sources and articles as HTML for the chat app.

Every string that comes from a user or an article is passed through ``html.escape`` before it
is placed in markup, so a question or an article containing ``<script>`` or ``<img onerror>``
is shown as text and never runs. The only tags in the output are the ones written here.

Direction is decided per message from that message's own script (``detect_language``), so an
Arabic answer renders right to left next to an English one rendered left to right.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from rag.text.markers import MARKER_RE, marker_numbers
from rag.text.normalize import detect_language
from rag.types import Answer, Chunk, Citation, Document, ShortAnswer

_QUOTE = re.compile(r"«([^«»]*)»")
# A quote still streaming has no closing guillemet yet; it must not flip the message's direction.
_QUOTE_OR_OPEN = re.compile(r"«[^«»]*(?:»|$)")

_LABELS = {
    "ar": {
        "sources": "المصادر",
        "closest": "أقرب المقاطع",
        "score": "الدرجة",
        "none": "لا توجد مصادر لهذه الإجابة.",
        "quoted": "",
    },
    "en": {
        "sources": "Sources",
        "closest": "Closest passages",
        "score": "score",
        "none": "No sources for this answer.",
        "quoted": "quoted in Arabic",
    },
}


def dir_attrs(text: str) -> str:
    """The ``dir`` and ``lang`` attributes for a block of ``text``, from its script.

    Example: ``dir_attrs("ما قيمة الصفقة؟") == 'dir="rtl" lang="ar"'``
    """
    return lang_attrs(detect_language(text))


def lang_attrs(language: str) -> str:
    """The ``dir`` and ``lang`` attributes for a language code.

    Example: ``lang_attrs("en") == 'dir="ltr" lang="en"'``
    """
    return 'dir="rtl" lang="ar"' if language == "ar" else 'dir="ltr" lang="en"'


def escape_text(text: str) -> str:
    """Escape ``text`` for HTML and keep its line breaks as ``<br>``.

    Example: ``escape_text("a<b>\\nc") == "a&lt;b&gt;<br>c"``
    """
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def highlight(text: str, start: int, end: int, *, mark_id: str | None = None) -> str:
    """Escape ``text`` with ``text[start:end]`` wrapped in ``<mark>``; offsets out of range mark nothing.

    Each part is escaped on its own, so the offsets stay those of the raw text.

    Example: ``highlight("a <b> c", 2, 5) == "a <mark>&lt;b&gt;</mark> c"``
    """
    if not 0 <= start < end <= len(text):
        return escape_text(text)
    attr = f' id="{html.escape(mark_id)}"' if mark_id else ""
    return (
        escape_text(text[:start])
        + f"<mark{attr}>{escape_text(text[start:end])}</mark>"
        + escape_text(text[end:])
    )


def message_html(text: str, *, language: str | None = None) -> str:
    """A chat message (a question, or an answer still streaming) as escaped text in a direction wrapper.

    The direction comes from the message's own words outside «quotes»; ``language`` is used when
    there are none (e.g. while the first deltas of an answer arrive). Each line also gets its own
    direction (see ``answer_html``).

    Example: ``message_html("<i>hi</i>")`` ->
    ``'<div class="msg" dir="ltr" lang="en"><div class="line" dir="ltr" lang="en">&lt;i&gt;hi&lt;/i&gt;</div></div>'``
    """
    lang = framing_language(text, language or "en")
    return f'<div class="msg" {lang_attrs(lang)}>{_body(text, set(), lang)}</div>'


def answer_html(answer: Answer) -> str:
    """The final answer for the chat: escaped text, each ``[n]`` marker a small superscript badge.

    The message's direction follows its framing (the words outside «quotes», falling back to
    ``answer.language``); each line then takes its own direction and each quote is isolated in
    its own, so an English answer quoting Arabic has its English lines left to right and its
    Arabic quotes right to left. Only markers that name one of the answer's citations become
    badges; others stay plain text.

    Example: ``answer_html(a)`` for ``a.text == "بحسب المقالات: «38 مليار دولار» [1]"`` gives
    ``'<div class="msg answer" dir="rtl" lang="ar"><div class="line" dir="rtl" lang="ar">بحسب المقالات: «...'``
    """
    lang = framing_language(answer.text, answer.language)
    abstained = " abstained" if answer.abstained else ""
    body = _body(answer.text, {c.n for c in answer.citations}, lang)
    short = "" if answer.abstained else short_answer_html(answer.short_answer, answer.language)
    return f'<div class="msg answer{abstained}" {lang_attrs(lang)}>{short}{body}</div>'


def short_answer_html(short: ShortAnswer | None, language: str) -> str:
    """The short answer in bold, shown before the quotes: its English rendering for an English question
    when there is one, else the article's span (marked as quoted in Arabic when the question is English).

    Example: ``short_answer_html(ShortAnswer("سبع سنوات", "a.txt", 5, 14, "seven years"), "en")`` ->
    ``'<div class="line short-answer" dir="ltr" lang="en"><strong>seven years</strong></div>'``
    """
    if short is None:
        return ""
    if language == "en" and short.english:
        return f'<div class="line short-answer" dir="ltr" lang="en"><strong>{html.escape(short.english)}</strong></div>'
    quoted = f'«<strong><span class="quote" {dir_attrs(short.text)}>{html.escape(short.text)}</span></strong>»'
    note = _LABELS.get(language, _LABELS["en"])["quoted"]
    if language == "en" and detect_language(short.text) == "ar":
        quoted += f' <span class="quoted-note">({note})</span>'
    return f'<div class="line short-answer" {lang_attrs(language)}>{quoted}</div>'


def framing_language(text: str, fallback: str = "en") -> str:
    """The language of ``text``'s own words, outside «quotes»; ``fallback`` when it has none.

    Example: ``framing_language("According to the articles: «بقيمة 38 مليار دولار» [1]") == "en"``
    """
    framing = _QUOTE_OR_OPEN.sub(" ", text)
    return detect_language(framing) if _has_letters(framing) else fallback


def sources_html(answer: Answer, documents: Mapping[str, Document]) -> str:
    """The sources panel: for each citation its ``[n]``, title, id, passage with the quote marked, and score.

    When the answer abstained the heading says "closest passages" (in the answer's language)
    and, if there are no citations, the retrieved passages are listed unmarked.

    Example: ``sources_html(answer, pipeline.documents)`` -> ``'<div class="sources" dir="rtl" ...'``
    """
    labels = _LABELS.get(answer.language, _LABELS["en"])
    heading = labels["closest"] if answer.abstained else labels["sources"]
    short = None if answer.abstained else answer.short_answer
    items = [_citation_item(c, answer, documents, labels, short) for c in answer.citations]
    if not items and answer.abstained:
        items = [_passage_item(h.chunk, h.score, labels) for h in answer.passages]
    body = "".join(items) if items else f'<p class="no-sources">{labels["none"]}</p>'
    return (
        f'<div class="sources{" abstained" if answer.abstained else ""}" {lang_attrs(answer.language)}>'
        f'<h3 class="sources-heading">{heading}</h3><ol class="source-list">{body}</ol></div>'
    )


def empty_sources_html(language: str = "en") -> str:
    """The sources panel before any answer.

    Example: ``empty_sources_html("ar")`` -> ``'<div class="sources" dir="rtl" lang="ar">...'``
    """
    labels = _LABELS.get(language, _LABELS["en"])
    return (
        f'<div class="sources" {lang_attrs(language)}><h3 class="sources-heading">{labels["sources"]}</h3>'
        f'<p class="no-sources">{labels["none"]}</p></div>'
    )


def article_html(document: Document, start: int, end: int) -> str:
    """The whole article with ``text[start:end]`` marked in place as ``<mark id="quote">``, line breaks kept.

    Example: ``article_html(doc, 10, 42)`` -> ``'<article class="article" dir="rtl" lang="ar" ...'``
    """
    return (
        f'<article class="article" {dir_attrs(document.text)}>'
        f'<header class="article-head"><strong class="article-title" {dir_attrs(document.title)}>'
        f"{html.escape(document.title)}</strong> "
        f'<code class="source-id" dir="ltr">{html.escape(document.doc_id)}</code></header>'
        f'<div class="article-body">{highlight(document.text, start, end, mark_id="quote")}</div>'
        "</article>"
    )


def citation_label(citation: Citation) -> str:
    """The label of a citation in the article picker: plain text (the UI escapes it), with the title
    bidi-isolated in its own direction (RLI/LRI ... PDI) so an Arabic title that starts with a
    Latin word neither reads left to right nor reorders the number and id around it.

    Example: ``citation_label(c) == "[1] \\u2067OpenAI تتعاون مع أمازون…\\u2069 (000_b9d1a76c4536362b.txt)"``
    """
    title = citation.title if len(citation.title) <= 60 else citation.title[:59] + "…"
    isolate = "\u2067" if detect_language(title) == "ar" else "\u2066"
    return f"[{citation.n}] {isolate}{title}\u2069 ({citation.doc_id})"


def _citation_item(
    citation: Citation, answer: Answer, documents: Mapping[str, Document], labels: dict[str, str],
    short: ShortAnswer | None = None,
) -> str:
    passage = _passage_for(citation, answer, documents)
    quote = escape_text(citation.quote)
    if short and short.doc_id == citation.doc_id and citation.start <= short.start < short.end <= citation.end:
        quote = _strong_span(citation.quote, short.start - citation.start, short.end - citation.start)
    if passage is None:
        body = f"<mark>{quote}</mark>"
        lang_source = citation.quote
    else:
        text, offset = passage
        start, end = citation.start - offset, citation.end - offset
        if 0 <= start < end <= len(text):
            body = f"{escape_text(text[:start])}<mark>{quote}</mark>{escape_text(text[end:])}"
        else:
            body = escape_text(text)
        lang_source = text
    return (
        f'<li class="source" id="source-{citation.n}" value="{citation.n}">'
        f'<div class="source-head"><span class="cite">[{citation.n}]</span> '
        f'<strong class="source-title" {dir_attrs(citation.title)}>{html.escape(citation.title)}</strong> '
        f'<code class="source-id" dir="ltr">{html.escape(citation.doc_id)}</code> '
        f'<span class="source-score">{labels["score"]} {citation.score:.2f}</span></div>'
        f'<blockquote class="passage" {dir_attrs(lang_source)}>{body}</blockquote></li>'
    )


def _strong_span(text: str, start: int, end: int) -> str:
    """Escaped ``text`` with ``text[start:end]`` as the highlighted short answer."""
    return (escape_text(text[:start]) + f'<strong class="short-answer">{escape_text(text[start:end])}</strong>'
            + escape_text(text[end:]))


def _passage_item(chunk: Chunk, score: float, labels: dict[str, str]) -> str:
    return (
        f'<li class="source"><div class="source-head">'
        f'<strong class="source-title" {dir_attrs(chunk.title)}>{html.escape(chunk.title)}</strong> '
        f'<code class="source-id" dir="ltr">{html.escape(chunk.doc_id)}</code> '
        f'<span class="source-score">{labels["score"]} {score:.2f}</span></div>'
        f'<blockquote class="passage" {dir_attrs(chunk.text)}>{escape_text(chunk.text)}</blockquote></li>'
    )


def _passage_for(
    citation: Citation, answer: Answer, documents: Mapping[str, Document]
) -> tuple[str, int] | None:
    """The text around a citation and its offset in the article: its chunk, else its paragraph."""
    for hit in answer.passages:
        for chunk in (hit.chunk, *hit.duplicates):
            if chunk.chunk_id == citation.chunk_id and chunk.start <= citation.start < citation.end <= chunk.end:
                return chunk.text, chunk.start
    doc = documents.get(citation.doc_id)
    if doc is None or not 0 <= citation.start < citation.end <= len(doc.text):
        return None
    start = doc.text.rfind("\n", 0, citation.start) + 1
    end = doc.text.find("\n", citation.end)
    end = len(doc.text) if end == -1 else end
    return doc.text[start:end], start


def _body(text: str, numbers: set[int], language: str) -> str:
    """Escaped message text, one block per line, each line in its own direction.

    A line's direction comes from its own words outside «quotes», else from its quote, else
    from the message; each quote is isolated in its own direction inside the line, and ``[n]``
    for ``n`` in ``numbers`` becomes a badge. So an English answer quoting Arabic has its English
    lines left to right and its quoted Arabic lines right to left.
    """
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            out.append('<div class="line"><br></div>')
            continue
        lang = framing_language(line, detect_language(line) if _has_letters(line) else language)
        parts = []
        pos = 0
        for m in _QUOTE.finditer(line):
            parts.append(_with_markers(line[pos : m.start()], numbers))
            quote = m.group(1)
            parts.append(f'«<span class="quote" {dir_attrs(quote)}>{escape_text(quote)}</span>»')
            pos = m.end()
        parts.append(_with_markers(line[pos:], numbers))
        out.append(f'<div class="line" {lang_attrs(lang)}>{"".join(parts)}</div>')
    return "".join(out)


def _with_markers(text: str, numbers: set[int]) -> str:
    def badge(m: re.Match[str]) -> str:
        cited = marker_numbers(m.group())
        if not set(cited) <= numbers:
            return m.group()
        return "".join(f'<sup class="cite">[{n}]</sup>' for n in cited)

    return MARKER_RE.sub(badge, escape_text(text))


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)
