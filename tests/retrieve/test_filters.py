"""rag.retrieve.filters: articles chosen by id and by front-matter date."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.errors import QuestionError
from rag.retrieve.filters import article_filter, parse_date
from rag.types import Document


def doc(doc_id: str, date: str) -> Document:
    return Document(doc_id, doc_id, "نص", "0", date=date)


DOCS = {d.doc_id: d for d in (doc("a.txt", "2025-11-03"), doc("b.txt", "2025-12-20"), doc("c.txt", ""),
                               doc("d.txt", "2024/02/29"), doc("e.txt", "yesterday"))}


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [("2025-11-03", False, dt.date(2025, 11, 3)), ("2025-11", False, dt.date(2025, 11, 1)),
     ("2025-11", True, dt.date(2025, 11, 30)), ("2024-02", True, dt.date(2024, 2, 29)),
     ("2025-12", True, dt.date(2025, 12, 31)), ("2025", True, dt.date(2025, 12, 31)),
     ("2024/02/29", False, dt.date(2024, 2, 29)), ("2025-11-03T10:00:00Z", False, dt.date(2025, 11, 3)),
     ("2025-02-30", False, None), ("yesterday", False, None), ("", False, None)],
)
def test_parse_date(text, end, expected):
    assert parse_date(text, end=end) == expected


def test_no_filter_means_every_article():
    assert article_filter(DOCS) is None
    assert article_filter(DOCS, ["b.txt"]) == ["b.txt"]


def test_date_range_keeps_dated_articles_inside_it():
    assert article_filter(DOCS, since="2025-11-01") == ["a.txt", "b.txt"]
    assert article_filter(DOCS, until="2025-11") == ["a.txt", "d.txt"]
    assert article_filter(DOCS, since="2025-12", until="2025-12") == ["b.txt"]
    assert article_filter(DOCS, ["a.txt", "d.txt"], since="2025") == ["a.txt"]  # with --doc: both apply


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"doc_ids": ["zzz.txt"]}, "no article zzz.txt"),
     ({"since": "next week"}, "--since 'next week' is not a date"),
     ({"since": "2026-01-01", "until": "2025-01-01"}, "is after --until"),
     ({"since": "2030"}, "no article dated between 2030 and the last (3 of 5 articles carry a date")],
)
def test_bad_filters_are_clear_errors(kwargs, needle):
    with pytest.raises(QuestionError, match=needle.replace("(", r"\(")):
        article_filter(DOCS, **kwargs)
