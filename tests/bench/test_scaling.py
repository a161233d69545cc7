"""rag.bench.scaling: SQuAD-format articles to files, and copies with varied text past the end."""

from __future__ import annotations

import json

from rag.bench.scaling import squad_articles, write_corpus
from rag.ingest.load import load_corpus


def test_squad_articles_and_corpus_files(tmp_path):
    data = {"data": [
        {"title": "حمزة", "paragraphs": [{"context": "الفقرة الأولى عن حمزة.", "qas": []},
                                         {"context": "الفقرة الثانية.", "qas": []}]},
        {"title": "بغداد", "paragraphs": [{"context": "بغداد عاصمة العراق.", "qas": []}, {"context": " ", "qas": []}]},
    ]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    articles = squad_articles(path)
    assert articles == [("حمزة", ["الفقرة الأولى عن حمزة.", "الفقرة الثانية."]), ("بغداد", ["بغداد عاصمة العراق."])]

    folder = write_corpus(articles, 5, tmp_path / "corpus")
    documents, skipped = load_corpus(folder)
    assert len(documents) == 5 and not skipped
    texts = [d.text for d in documents]
    assert len(set(texts)) == 5  # the copies are not verbatim repeats
    assert texts[0] == "حمزة\n\nالفقرة الأولى عن حمزة.\n\nالفقرة الثانية.\n"
    # Copy 1 of article 0: paragraphs reversed, then the first paragraph of article (0 + 7) % 2 = 1.
    assert texts[2] == "حمزة (1)\n\nالفقرة الثانية.\n\nالفقرة الأولى عن حمزة.\n\nبغداد عاصمة العراق.\n"
    assert [d.title for d in documents] == ["حمزة", "بغداد", "حمزة (1)", "بغداد (1)", "حمزة (2)"]
