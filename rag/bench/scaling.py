"""Build cost against corpus size: seconds per 1,000 characters at 5, 50 and 500 articles.

Corpora: the seed articles; ARCD's Arabic Wikipedia articles (SQuAD-format JSON turned into one
article file each: title line, then the paragraphs); and, past ARCD's 155 articles, ARCD again with
varied text (each copy's paragraphs reversed and joined to a paragraph of another article, so no
chunk or sentence repeats one already indexed). For each corpus: one cold build, and the same model
encoding each kind of text the build embeds (chunks, sentences, bridging vocabulary), so the table
shows what dominates and whether the build costs more than its encoding (goal: ≤ 1.2×) and whether the
cost per character stays flat (goal: the largest corpus ≤ 1.3× the smallest).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.bench.common import Progress, quiet, ratio, sig
from rag.config import Settings

if TYPE_CHECKING:
    from rag.embed.embedder import Embedder

log = logging.getLogger(__name__)

SIZES = (5, 50, 500)
GOAL_FLAT = 1.3
GOAL_OVER_ENCODE = 1.2


def squad_articles(path: Path) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each article of a SQuAD-format JSON file (ARCD's format).

    Example: ``squad_articles(Path("arcd.json"))[0][0]`` is the first article's title.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(a["title"].strip(), [p["context"].strip() for p in a["paragraphs"] if p["context"].strip()])
            for a in data["data"]]


def write_corpus(articles: Sequence[tuple[str, list[str]]], n: int, folder: Path) -> Path:
    """Write ``n`` article files into ``folder``; past ``len(articles)``, copies with varied text.

    Copy ``r`` of article ``i`` has its paragraphs in reverse order followed by the first paragraph of
    article ``(i + 7·r) mod len(articles)``, under the title "title (r)".

    Example: ``len(list(write_corpus([("t", ["p"])], 3, tmp).iterdir())) == 3``
    """
    folder.mkdir(parents=True, exist_ok=True)
    m = len(articles)
    for j in range(n):
        i, r = j % m, j // m
        title, paragraphs = articles[i]
        if r:
            paragraphs = [*reversed(paragraphs), articles[(i + 7 * r) % m][1][0]]
            title = f"{title} ({r})"
        (folder / f"{j:04d}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def bench_scaling(
    settings: Settings,
    embedder: Embedder,
    arcd: Path,
    work: Path,
    sizes: Sequence[int] = SIZES,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Cold build of each corpus size against encoding its texts; seconds per 1,000 characters.

    Example: ``bench_scaling(settings, embedder, Path("../shared/data/arcd/arcd.json"), tmp, (5, 50))["flat"]``

    Args:
        settings: Model and chunking settings (corpus and index go to ``work``).
        embedder: The loaded model (loading it is not part of a build).
        arcd: ARCD's ``arcd.json`` (SQuAD format).
        work: A scratch folder.
        sizes: Article counts; 5 is the seed corpus (``settings.corpus_dir``), larger ones ARCD.
        progress: Called with a line of progress text.
    """
    from rag.index.build import build_index
    from rag.index.index import Index

    articles = squad_articles(arcd)
    rows: list[dict[str, Any]] = []
    for n in sizes:
        corpus = settings.corpus_dir if n == 5 else write_corpus(articles, n, work / f"corpus-{n}")
        s = settings.with_(corpus_dir=corpus, index_dir=work / f"index-{n}")
        chars = sum(len(p.read_text(encoding="utf-8")) for p in sorted(Path(corpus).glob("*.txt")))
        progress(f"scaling: cold build of {n} articles ({chars:,} characters)")
        t = time.perf_counter()
        report = build_index(s, embedder, rebuild=True)
        build_s = time.perf_counter() - t
        index = Index.load(s.index_dir, open_stores=False)
        chunk_texts = [c.text for c in index.chunks]
        spans = sorted({(c.doc_id, a, b) for c in index.chunks for a, b in c.sentences})
        sentence_texts = [index.documents[d].text[a:b] for d, a, b in spans]
        words = list(index.vocab)  # the bounded vocabulary the build embeds
        progress(f"scaling: encoding {len(chunk_texts)} chunks, {len(sentence_texts)} sentences, "
                 f"{len(words)} vocabulary words")
        parts = {}
        for name, fn, texts in (("chunks", embedder.embed_passages, chunk_texts),
                                ("sentences", embedder.embed_passages, sentence_texts),
                                ("vocabulary", embedder.embed_queries, words)):
            t = time.perf_counter()
            if texts:
                fn(texts)
            parts[name] = round(time.perf_counter() - t, 2)
        encode_s = sum(parts.values())
        # What embedding every distinct Arabic word would cost (the rule before the bound), for comparison.
        t = time.perf_counter()
        if index.words:
            embedder.embed_queries(index.words)
        all_words_s = round(time.perf_counter() - t, 2)
        rows.append({
            "articles": report.documents, "characters": chars, "chunks": len(chunk_texts),
            "sentences": len(sentence_texts), "vocabulary": len(words), "all_words": len(index.words),
            "encode_all_words_s": all_words_s, "build_s": round(build_s, 2),
            "encode_s": parts, "build_over_encode": sig(ratio(build_s, encode_s)),
            "s_per_1000_chars": sig(1000 * build_s / chars), "dominant": max(parts, key=lambda part: parts[part]),
        })
        progress(f"scaling: {n} articles: {rows[-1]['s_per_1000_chars']} s per 1,000 characters, "
                 f"build / encode {rows[-1]['build_over_encode']}, encode parts {parts}")
    per_char = [r["s_per_1000_chars"] for r in rows]
    flat = sig(ratio(per_char[-1], per_char[0])) if rows else None
    return {
        "sizes": rows, "flat": flat, "goal": {"flat": GOAL_FLAT, "build_over_encode": GOAL_OVER_ENCODE},
        "meets_goal": {
            "flat": flat is not None and flat <= GOAL_FLAT,
            "build_over_encode": all(r["build_over_encode"] <= GOAL_OVER_ENCODE for r in rows),
        },
    }


def format_scaling(result: dict[str, Any]) -> list[str]:
    """Table lines of ``bench_scaling``.

    Example: ``format_scaling(result)[0].startswith("articles")``
    """
    head = ["articles", "characters", "chunks", "sentences", "vocabulary (all words)", "build s",
            "encode s (chunks/sent/vocab)", "all words s", "build/encode", "s per 1k chars"]
    rows = [head] + [[str(r["articles"]), f"{r['characters']:,}", str(r["chunks"]), str(r["sentences"]),
                      f"{r['vocabulary']} ({r['all_words']})", str(r["build_s"]),
                      "/".join(str(v) for v in r["encode_s"].values()), str(r["encode_all_words_s"]),
                      str(r["build_over_encode"]), str(r["s_per_1000_chars"])] for r in result["sizes"]]
    widths = [max(len(x) for x in col) for col in zip(*rows, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"largest / smallest seconds per 1,000 characters: {result['flat']} (goal <= {GOAL_FLAT}); "
                 f"build / encode goal <= {GOAL_OVER_ENCODE}")
    return lines
