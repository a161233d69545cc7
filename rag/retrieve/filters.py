"""Which articles a question may search: by id (``--doc``) and by date (``--since``/``--until``).

A date filter becomes a list of article ids, so it works the same in every vector store and in BM25.
Dates come from the articles' front matter (``date: 2025-11-03``); an article without a readable date is
left out when a date filter is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from rag.errors import QuestionError
from rag.types import Document

_ISO = re.compile(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?")


def parse_date(text: str, *, end: bool = False) -> dt.date | None:
    """A date written ``YYYY-MM-DD`` (or ``YYYY-MM``, ``YYYY``; ``/`` and ``.`` also separate) at the start of
    ``text``; a partial date is its first day, or with ``end`` its last. None when there is none.

    Example: ``parse_date("2025-11") == dt.date(2025, 11, 1)``;
    ``parse_date("2025", end=True) == dt.date(2025, 12, 31)``
    """
    m = _ISO.match(text.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            first = dt.date(year, int(month), 1)
            if not end:
                return first
            following = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
            return following - dt.timedelta(days=1)
        return dt.date(year, int(month), int(day))
    except ValueError:
        return None


def article_filter(documents: Mapping[str, Document], doc_ids: Sequence[str] | None = None,
                   since: str | None = None, until: str | None = None) -> list[str] | None:
    """The ids of the articles to search, or None for all.

    Raises:
        QuestionError: an unknown article id, an unreadable date, or no article in the date range.
    """
    if doc_ids is not None:
        unknown = sorted(set(doc_ids) - set(documents))
        if unknown:
            raise QuestionError(f"no article {', '.join(unknown)} in the index; known ids are file names such "
                                f"as {next(iter(documents), '?')}")
    if since is None and until is None:
        return list(doc_ids) if doc_ids is not None else None
    low = _bound(since, "since", end=False)
    high = _bound(until, "until", end=True)
    if low and high and low > high:
        raise QuestionError(f"--since {since} is after --until {until}")
    pool = list(doc_ids) if doc_ids is not None else list(documents)
    kept = []
    for doc_id in pool:
        day = parse_date(documents[doc_id].date)
        if day is not None and (low is None or day >= low) and (high is None or day <= high):
            kept.append(doc_id)
    if not kept:
        dated = sum(parse_date(documents[d].date) is not None for d in pool)
        raise QuestionError(f"no article dated between {since or 'the first'} and {until or 'the last'} "
                            f"({dated} of {len(pool)} articles carry a date in their front matter)")
    return kept


def _bound(text: str | None, name: str, *, end: bool) -> dt.date | None:
    if text is None:
        return None
    day = parse_date(text, end=end)
    if day is None:
        raise QuestionError(f"--{name} {text!r} is not a date; write it as YYYY-MM-DD, YYYY-MM or YYYY")
    return day
