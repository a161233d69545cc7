"""The BM25 store: bm25s (Lucene scoring) over the Arabic-aware analyzer's terms."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from rag.text.analyze import analyze, analyze_query

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG on its own handler


class BM25Index:
    """BM25 over analyzed chunk texts (bm25s, Lucene scoring)."""

    def __init__(self, retriever: bm25s.BM25 | None, size: int) -> None:
        self.retriever = retriever  # None when no text has a single index term
        self.size = size

    @property
    def vocabulary(self) -> dict[str, int]:
        return self.retriever.vocab_dict if self.retriever is not None else {}

    @classmethod
    def build(cls, texts: Sequence[str]) -> BM25Index:
        corpus = [analyze(t) for t in texts]
        if not any(corpus):  # bm25s cannot index an empty vocabulary
            return cls(None, len(texts))
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        return cls(retriever, len(texts))

    def search(self, query: str, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) pairs with a positive score, best first; with ``rows``, only those rows."""
        vocab = self.vocabulary
        terms = [t for t in analyze_query(query, vocab) if t in vocab]
        if not terms or self.retriever is None:
            return []
        scores = np.asarray(self.retriever.get_scores(terms))
        if rows is not None:
            kept = np.zeros_like(scores)
            kept[rows] = scores[rows]
            scores = kept
        k = min(k, int((scores > 0).sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]

    def save(self, folder: Path) -> None:
        if self.retriever is not None:
            self.retriever.save(str(folder), show_progress=False)
        (folder / "size.json").write_text(json.dumps({"size": self.size, "empty": self.retriever is None}))

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        meta = json.loads((folder / "size.json").read_text())
        retriever = None if meta.get("empty") else bm25s.BM25.load(str(folder), show_progress=False)
        return cls(retriever, meta["size"])
