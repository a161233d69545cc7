"""Shared fixtures: the real bundled embedding model and an index over the real seed articles.

Both are session-scoped so the model is materialized/loaded once (about 15 s the first time,
a few seconds after) and the seeds are embedded once per test session.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import: nothing may be downloaded

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The real seed articles (read only: copy them to ``tmp_path`` before changing anything)."""
    return SEEDS


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Settings over the seeds with a fresh temporary index folder; keyword arguments override.

    The model cache is the default one (``$RAG_CACHE_DIR`` or ``~/.cache/rag-news``) so the
    materialized model is reused across sessions.
    """

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "corpus_dir": SEEDS,
            "index_dir": tmp_path_factory.mktemp("index"),
            "feedback_path": tmp_path_factory.mktemp("feedback") / "feedback.jsonl",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def embedder():
    """The real bundled multilingual-e5-small, loaded once per session."""
    from rag.embed.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(Settings())


@pytest.fixture(scope="session")
def seed_index(settings_factory, embedder):
    """An index built over the real seeds in a temporary folder: ``(settings, report)``.

    Treat it as read only; copy ``settings.index_dir`` to ``tmp_path`` before building over it.
    """
    from rag.index.build import build_index

    settings = settings_factory()
    report = build_index(settings, embedder)
    return settings, report


@pytest.fixture(scope="session")
def seed_pipeline(seed_index, embedder):
    """One Pipeline over the seed index and the session's model (the extractive backend by default)."""
    from rag.index.index import Index
    from rag.pipeline import Pipeline

    settings, _ = seed_index
    return Pipeline(settings, Index.load(settings.index_dir, settings), embedder)


@pytest.fixture(scope="session")
def reader_pipeline(seed_index, embedder):
    """The same Pipeline with the shipped reading model on (``RAG_READER=on``)."""
    from rag.index.index import Index
    from rag.pipeline import Pipeline

    settings, _ = seed_index
    settings = settings.with_(reader="on")
    return Pipeline(settings, Index.load(settings.index_dir, settings), embedder)
