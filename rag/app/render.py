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

from rag.ingest.title import front_matter_end
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
        "details": "تفاصيل",
        "score": "درجة المطابقة مع السؤال (الأعلى أقرب)",
        "file": "الملف",
        "none": "لا توجد مصادر لهذه الإجابة.",
        "count": "المصادر ({n})",
        "quoted": "",
        "understood": "فُهم السؤال على أنه:",
    },
    "en": {
        "sources": "Sources",
        "closest": "Closest passages",
        "details": "details",
        "score": "match with the question (higher is closer)",
        "file": "file",
        "none": "No sources for this answer.",
        "count": "Sources ({n})",
        "quoted": "quoted in Arabic",
        "understood": "understood as:",
    },
}
#: Before any answer the panel speaks both languages.
EMPTY_SOURCES = {"ar": "ستظهر هنا مصادر الإجابة.", "en": "The sources of an answer appear here."}


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


def answer_html(answer: Answer, documents: Mapping[str, Document] | None = None) -> str:
    """The final answer for the chat: escaped text, each ``[n]`` marker a small superscript badge.

    The message's direction follows its framing (the words outside «quotes», falling back to
    ``answer.language``); each line then takes its own direction and each quote is isolated in
    its own, so an English answer quoting Arabic has its English lines left to right and its
    Arabic quotes right to left. Only markers that name one of the answer's citations become
    badges; others stay plain text.

    Example: ``answer_html(a)`` for ``a.text == "بحسب المقالات: «38 مليار دولار» [1]"`` gives
    ``'<div class="msg answer" dir="rtl" lang="ar"><div class="line" dir="rtl" lang="ar">بحسب المقالات: «...'``
    With ``documents``, the answer's sources follow it folded in a ``<details>`` (shown on
    phones, where there is no side panel; each badge opens it and scrolls to its source).
    """
    lang = framing_language(answer.text, answer.language)
    abstained = " abstained" if answer.abstained else ""
    body = _body(answer.text, {c.n for c in answer.citations}, lang)
    short = "" if answer.abstained else short_answer_html(answer.short_answer, answer.language)
    short = understood_html(answer) + short
    folded = ""
    if documents is not None and answer.citations:
        labels = _LABELS.get(answer.language, _LABELS["en"])
        short_answer = None if answer.abstained else answer.short_answer
        items = "".join(_citation_item(c, answer, documents, labels, short_answer) for c in answer.citations)
        folded = (
            f'<details class="answer-sources" {lang_attrs(answer.language)}>'
            f'<summary>{labels["count"].format(n=len(answer.citations))}</summary>'
            f'<ol class="source-list">{items}</ol></details>'
        )
    return f'<div class="msg answer{abstained}" {lang_attrs(lang)}>{short}{body}{folded}</div>'


def understood_html(answer: Answer) -> str:
    """A follow-up as it was understood in the conversation, in small print above its answer; "" for a
    question taken as asked.

    Example: ``understood_html(a)`` for an Arabic question resolved as ``"كم مدة الصفقة؟"`` ->
    ``'<div class="line understood-as" dir="rtl" lang="ar"><small>فُهم السؤال على أنه: <span …>كم مدة الصفقة؟</span>…'``
    """
    if not answer.resolved_question:
        return ""
    label = _LABELS.get(answer.language, _LABELS["en"])["understood"]
    resolved = answer.resolved_question
    return (f'<div class="line understood-as" {lang_attrs(answer.language)}><small>{html.escape(label)} '
            f'<span class="resolved" {dir_attrs(resolved)}>{html.escape(resolved)}</span></small></div>')


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
    """The sources panel: for each citation its ``[n]``, title, outlet and date when known, file name
    (small), the passage with the quote marked, and its score folded under "details".

    When the answer abstained the heading says "closest passages" (in the answer's language)
    and, if there are no citations, the retrieved passages are listed unmarked.

    Example: ``sources_html(answer, pipeline.documents)`` -> ``'<div class="sources" dir="rtl" ...'``
    """
    labels = _LABELS.get(answer.language, _LABELS["en"])
    heading = labels["closest"] if answer.abstained else labels["sources"]
    short = None if answer.abstained else answer.short_answer
    items = [_citation_item(c, answer, documents, labels, short) for c in answer.citations]
    if not items and answer.abstained:
        items = [_passage_item(h.chunk, h.score, labels, documents.get(h.chunk.doc_id)) for h in answer.passages]
    body = "".join(items) if items else f'<p class="no-sources">{labels["none"]}</p>'
    return (
        f'<div class="sources{" abstained" if answer.abstained else ""}" {lang_attrs(answer.language)}>'
        f'<h3 class="sources-heading">{heading}</h3><ol class="source-list">{body}</ol></div>'
    )


def empty_sources_html(language: str | None = None) -> str:
    """The sources panel before any answer: in both languages, or in ``language`` alone.

    Example: ``empty_sources_html()`` -> ``'<div class="sources empty"><h3 ...>المصادر · Sources</h3>...'``
    """
    langs = [language] if language in _LABELS else ["ar", "en"]
    heading = " · ".join(f'<span {lang_attrs(lg)}>{_LABELS[lg]["sources"]}</span>' for lg in langs)
    notes = "".join(f'<p class="no-sources" {lang_attrs(lg)}>{EMPTY_SOURCES[lg]}</p>' for lg in langs)
    return f'<div class="sources empty"><h3 class="sources-heading">{heading}</h3>{notes}</div>'


def article_html(document: Document, start: int, end: int) -> str:
    """The whole article with ``text[start:end]`` marked in place as ``<mark id="quote">``, line breaks kept.

    Front matter (``rag.ingest.title``) is left out; the title, outlet and date head the article.

    Example: ``article_html(doc, 10, 42)`` -> ``'<article class="article" dir="rtl" lang="ar" ...'``
    """
    body = front_matter_end(document.text)
    text = document.text[body:]
    return (
        f'<article class="article" {dir_attrs(text)}>'
        f'<header class="article-head"><strong class="article-title" {dir_attrs(document.title)}>'
        f"{html.escape(document.title)}</strong>{_meta_html(document)}</header>"
        f'<div class="article-body">{highlight(text, start - body, end - body, mark_id="quote")}</div>'
        "</article>"
    )


def source_meta(document: Document | None) -> str:
    """Outlet and date of an article when known, joined by " · " ("" when neither is).

    Example: ``source_meta(Document("a.txt", "T", "x", "0", source="AP", date="2025-11-03")) == "AP · 2025-11-03"``
    """
    if document is None:
        return ""
    return " · ".join(p for p in (document.source, document.date) if p)


def citation_label(citation: Citation, *, suffix: str = "") -> str:
    """The label of a citation in the article picker: plain text (the UI escapes it).

    It starts with a mark of the title's direction (RLM or LRM), so a label shown with
    ``unicode-bidi: plaintext`` takes its title's direction, and the title is bidi-isolated
    (RLI/LRI ... PDI) so an Arabic title that starts with a Latin word does not reorder the
    number around it. ``suffix`` tells apart labels that would otherwise be identical.

    Example: ``citation_label(c) == "\u200f[1] \u2067OpenAI تتعاون مع أمازون…\u2069"``
    """
    title = citation.title if len(citation.title) <= 60 else citation.title[:59] + "…"
    arabic = detect_language(title) == "ar"
    mark, isolate = ("\u200f", "\u2067") if arabic else ("\u200e", "\u2066")
    return f"{mark}[{citation.n}] {isolate}{title}\u2069{suffix}"


def citation_labels(citations: list[Citation]) -> list[str]:
    """Picker labels for an answer's citations; labels that would repeat get the quote's opening words.

    Example: ``citation_labels([c1, c2])`` -> ``["\u200f[1] …", "\u200f[2] … — «بلغت قيمة…»"]``
    """
    plain = [citation_label(c) for c in citations]
    seen_titles: dict[str, int] = {}
    for c in citations:
        seen_titles[c.title] = seen_titles.get(c.title, 0) + 1
    out = []
    for label, c in zip(plain, citations, strict=True):
        if seen_titles[c.title] > 1:
            opening = " ".join(c.quote.split()[:5])
            label = citation_label(c, suffix=f" — «{opening}…»")
        out.append(label)
    return out


def _citation_item(
    citation: Citation, answer: Answer, documents: Mapping[str, Document], labels: dict[str, str],
    short: ShortAnswer | None = None,
) -> str:
    document = documents.get(citation.doc_id)
    passage = _passage_for(citation, answer, documents)
    quote = escape_text(citation.quote)
    if short and short.doc_id == citation.doc_id and citation.start <= short.start < short.end <= citation.end:
        quote = _strong_span(citation.quote, short.start - citation.start, short.end - citation.start)
    if passage is None:
        body = f"<mark>{quote}</mark>"
        lang_source = citation.quote
    else:
        text, offset = _without_title(*passage, citation.title, citation.start)
        start, end = citation.start - offset, citation.end - offset
        if 0 <= start < end <= len(text):
            body = f"{escape_text(text[:start])}<mark>{quote}</mark>{escape_text(text[end:])}"
        else:
            body = highlight(text, start, end)
        lang_source = text
    return (
        f'<li class="source" id="source-{citation.n}" value="{citation.n}">'
        + _head_html(citation.title, document, citation.doc_id, f'<span class="cite">[{citation.n}]</span> ')
        + f'<blockquote class="passage" {dir_attrs(lang_source)}>{body}</blockquote>'
        + _details_html(citation.score, labels)
        + "</li>"
    )


def _strong_span(text: str, start: int, end: int) -> str:
    """Escaped ``text`` with ``text[start:end]`` as the highlighted short answer."""
    return (escape_text(text[:start]) + f'<strong class="short-answer">{escape_text(text[start:end])}</strong>'
            + escape_text(text[end:]))


def _passage_item(chunk: Chunk, score: float, labels: dict[str, str], document: Document | None = None) -> str:
    text, _ = _without_title(chunk.text, chunk.start, chunk.title, chunk.end)
    return (
        '<li class="source">'
        + _head_html(chunk.title, document, chunk.doc_id)
        + f'<blockquote class="passage" {dir_attrs(text)}>{escape_text(text)}</blockquote>'
        + _details_html(score, labels)
        + "</li>"
    )


def _head_html(title: str, document: Document | None, doc_id: str, badge: str = "") -> str:
    meta = source_meta(document)
    meta_html = f' <span class="source-meta" {dir_attrs(meta)}>{html.escape(meta)}</span>' if meta else ""
    return (
        f'<div class="source-head">{badge}'
        f'<strong class="source-title" {dir_attrs(title)}>{html.escape(title)}</strong>{meta_html}'
        f'<small class="source-id" dir="ltr">{html.escape(doc_id)}</small></div>'
    )


def _details_html(score: float, labels: dict[str, str]) -> str:
    return (
        f'<details class="source-details"><summary>{labels["details"]}</summary>'
        f'<span class="source-score">{labels["score"]}: {score:.2f}</span></details>'
    )


def _meta_html(document: Document) -> str:
    meta = source_meta(document)
    out = f' <span class="source-meta" {dir_attrs(meta)}>{html.escape(meta)}</span>' if meta else ""
    return out + f' <small class="source-id" dir="ltr">{html.escape(document.doc_id)}</small>'


def _without_title(text: str, offset: int, title: str, keep_from: int) -> tuple[str, int]:
    """The passage without its first line when that line is the title (shown above it already),
    unless the quote starting at ``keep_from`` is inside that line."""
    first, sep, rest = text.partition("\n")
    if sep and first.strip() == title.strip() and title and keep_from >= offset + len(first) + 1:
        skipped = len(text) - len(rest.lstrip())
        return text[skipped:], offset + skipped
    return text, offset


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
        return "".join(f'<a class="cite" href="#source-{n}">[{n}]</a>' for n in cited)

    return MARKER_RE.sub(badge, escape_text(text))


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)
