"""An article's title, outlet and date: from its front matter, else from its headline or lead sentence.

An article may start with a front-matter block, which names what the text cannot::

    ---
    title: OpenAI signs a $38bn deal with Amazon
    source: Reuters
    date: 2025-11-03
    ---

The block stays in ``Document.text`` (offsets are into the article exactly as read), but the
chunker and the article view start at ``body_start``, so it is never retrieved or quoted.

Without a ``title:``, the title is the headline: the first line of the body when it is short,
is not a sentence (no closing full stop) and is not a photo caption. Otherwise it is the
opening words of the lead sentence, cut at a word boundary with "…".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A headline longer than this is a lead paragraph.
HEADLINE_MAX_CHARS = 150
#: A title made from the lead sentence is cut to about this many characters.
LEAD_TITLE_CHARS = 80
#: Front-matter keys that are honoured (others are kept out of the text but ignored).
FRONT_MATTER_KEYS = ("title", "source", "date")
#: A front-matter block longer than this many lines is not front matter.
_FRONT_MATTER_MAX_LINES = 30

_FENCE = re.compile(r"---[ \t]*(?:\r?\n|$)")
_FIELD = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
# Photo credits and the words that introduce a picture, in Arabic and English.
_CAPTION_WORDS = re.compile(
    r"(?:\b(?:photo|photograph|image|picture|pictured|credit|caption|getty|afp|reuters|ap photo)\b"
    r"|(?:^|\s)(?:صورة|الصورة|صور|أرشيفية|ارشيفية|تصوير|رويترز|غيتي|أ\.ف\.ب|فرانس برس)(?:\s|$|[،,.)]))",
    re.IGNORECASE,
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "يناير|فبراير|مارس|أبريل|ابريل|مايو|يونيو|يوليو|أغسطس|اغسطس|سبتمبر|أكتوبر|اكتوبر|نوفمبر|ديسمبر|"
    "كانون الثاني|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين الأول|تشرين الثاني|كانون الأول"
)
# A line that ends on a month and year ("... at the White House in September 2025") reads as a
# photo caption: headlines name events, captions name when and where the picture was taken.
_ENDS_WITH_DATE = re.compile(rf"(?:{_MONTHS})\s*،?\s*(?:19|20)\d\d\s*\)?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?؟…]+[\"'»”’)\]]*(?=\s|$)")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")
# A closing credit line naming the outlet: "Source: The New York Times", "المصدر: نيويورك تايمز".
_SOURCE_LINE = re.compile(r"^\s*(?:source|المصدر|مصدر)\s*[:：]\s*(\S.{0,60}?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ArticleMeta:
    """What ``article_meta`` found.

    Attributes:
        title: The title to show.
        source: The outlet (front matter, else a closing "Source: ..." line), or "" when unknown.
        date: The date as written in the front matter, or "" when unknown.
        body_start: Offset in the text where the article proper starts (after any front matter).
    """

    title: str
    source: str = ""
    date: str = ""
    body_start: int = 0


def parse_front_matter(text: str) -> tuple[dict[str, str], int]:
    """The ``key: value`` fields of a leading ``---`` block and the offset just past it.

    A text without such a block (or with a malformed one) gives ``({}, 0)``, so an article that
    merely starts with a horizontal rule is left whole.

    Example: ``parse_front_matter("---\\ntitle: T\\n---\\nBody") == ({"title": "T"}, 17)``
    """
    opening = _FENCE.match(text)
    if not opening:
        return {}, 0
    fields: dict[str, str] = {}
    pos = opening.end()
    for _ in range(_FRONT_MATTER_MAX_LINES):
        closing = _FENCE.match(text, pos)
        if closing:
            return (fields, closing.end()) if fields else ({}, 0)
        end = text.find("\n", pos)
        if end == -1:
            return {}, 0
        line = text[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        m = _FIELD.match(line)
        if not m:
            return {}, 0
        fields[m.group(1).lower()] = _unquote(m.group(2))
    return {}, 0


def front_matter_end(text: str) -> int:
    """Offset where the article body starts: past a front-matter block, else 0.

    Example: ``front_matter_end("---\\nsource: AP\\n---\\nText") == 19``
    """
    return parse_front_matter(text)[1]


def is_caption(line: str) -> bool:
    """Whether a short line reads as a photo caption rather than a headline.

    Example: ``is_caption("Sam Altman, OpenAI's chief executive, at the White House in September 2025") is True``
    """
    line = line.strip()
    if _CAPTION_WORDS.search(line):
        return True
    # "Name, role, where, when": an appositive comma and a closing month-and-year.
    return bool(_ENDS_WITH_DATE.search(line)) and ("،" in line or "," in line)


def shorten(text: str, max_chars: int = LEAD_TITLE_CHARS) -> str:
    """``text`` whole if it fits, else its opening words up to ``max_chars`` with "…".

    Example: ``shorten("one two three four", 10) == "one two…"``
    """
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    head = text[:cut] if cut > max_chars // 3 else text[:max_chars]
    return head.rstrip(" ،,;؛:-–—(«\"'") + "…"


def headline_of(body: str) -> str:
    """The title of an article body: its headline, else the opening words of its lead sentence.

    Example: ``headline_of("Rates held\\nThe bank kept rates at 4%. More.") == "Rates held"``
    """
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if not lines:
        return ""
    first = _MARKDOWN_HEADING.sub("", lines[0])
    if (
        len(first) <= HEADLINE_MAX_CHARS
        and not first.endswith((".", "…", ":", "؛"))
        and not is_caption(first)
    ):
        return first
    lead = next((ln for ln in lines if not is_caption(ln) and len(ln.split()) >= 2), lines[0])
    lead = _MARKDOWN_HEADING.sub("", lead)
    m = _SENTENCE_END.search(lead)
    sentence = lead[: m.end()] if m else lead
    return shorten(sentence)


def credited_source(body: str, last_lines: int = 3) -> str:
    """The outlet named by a "Source: ..." line among the body's last lines, else "".

    Example: ``credited_source("Body.\\nSource: AP\\n") == "AP"``
    """
    lines = [line for line in body.splitlines() if line.strip()][-last_lines:]
    for line in reversed(lines):
        m = _SOURCE_LINE.match(line)
        if m:
            return m.group(1)
    return ""


def article_meta(text: str) -> ArticleMeta:
    """Title, outlet, date and body offset of an article as read.

    Example: ``article_meta("---\\nsource: AP\\n---\\nRates held\\nBody.").title == "Rates held"``
    """
    fields, body_start = parse_front_matter(text)
    title = fields.get("title") or headline_of(text[body_start:])
    return ArticleMeta(
        title=" ".join(title.split()),
        source=fields.get("source") or credited_source(text[body_start:]),
        date=fields.get("date", ""),
        body_start=body_start,
    )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
