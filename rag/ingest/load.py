"""Load a corpus folder into Documents, skipping (with a named reason) what is not an article."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.title import article_meta
from rag.types import Document, Skipped

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
#: Larger files are not news articles; refusing them keeps a stray dump from stalling indexing.
MAX_DOC_BYTES = 5_000_000
#: A title is cut to this many characters (an article of one long line would otherwise be its own title).
MAX_TITLE_CHARS = 200


def content_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text.

    Example: ``content_hash("")[:8] == "e3b0c442"``
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def title_of(text: str) -> str:
    """The article's title (see ``rag.ingest.title``): front matter, headline or lead sentence.

    Example: ``title_of("\\n  Headline \\nBody") == "Headline"``
    """
    return article_meta(text).title[:MAX_TITLE_CHARS]


def decode_article(data: bytes) -> str:
    """Decode an article's bytes: UTF-8 with or without BOM; line endings kept as they are.

    Raises:
        ValueError: naming why the bytes are not a text article.

    Example: ``decode_article(b"\\xef\\xbb\\xbfnews\\r\\n") == "news\\r\\n"``
    """
    if b"\x00" in data:
        raise ValueError("binary file (contains NUL bytes), not UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from e


def load_corpus(corpus_dir: Path, *, follow_symlinks: bool = False) -> tuple[list[Document], list[Skipped]]:
    """Read every ``.txt`` and ``.md`` file directly inside ``corpus_dir``, sorted by name.

    Skipped, each with a warning naming the file and the reason: empty files, files that are not
    UTF-8 text, oversized files, exact duplicates, unreadable files, subfolders (not read: the
    corpus is one flat folder) and symbolic links (unless ``follow_symlinks``), and anything that
    resolves outside the corpus folder (even with ``follow_symlinks``, unless it is a link).
    Other files (``.jsonl``, images...) are ignored without a word; so are hidden entries.

    Args:
        corpus_dir: The folder of articles.
        follow_symlinks: Read the files that symbolic links point to (an explicit choice: a
            link can point anywhere, e.g. ``/etc/passwd``).

    Returns:
        The documents and the skipped files.

    Raises:
        CorpusError: if the folder does not exist, is not a folder or cannot be read.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {str(corpus_dir)!r} does not exist or is not a folder")
    try:
        entries = sorted(corpus_dir.iterdir())
    except OSError as e:
        raise CorpusError(
            f"cannot read the corpus folder {str(corpus_dir)!r} ({e.strerror or e}); "
            f"give your user read access to it (e.g. chmod u+rx {corpus_dir}) or pass another --corpus"
        ) from e
    root = corpus_dir.resolve()
    documents: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for path in entries:
        if path.name.startswith("."):
            continue
        reason = _refusal(path, root, follow_symlinks)
        if reason is None and path.suffix.lower() not in SUFFIXES:
            continue  # not an article by its name: ignored, as before
        if reason is None:
            try:
                text = decode_article(_read_capped(path))
            except OSError as e:
                reason = f"unreadable ({e.strerror or e}): give your user read access to it"
            except ValueError as e:
                reason = str(e)
            else:
                digest = content_hash(text)
                if not text.strip():
                    reason = "empty file"
                elif digest in seen:
                    reason = f"exact duplicate of {seen[digest]}"
        if reason:
            log.warning("skipping %s: %s", path, reason)
            skipped.append(Skipped(str(path), reason))
            continue
        seen[digest] = path.name
        meta = article_meta(text)
        documents.append(Document(path.name, meta.title, text, digest, source=meta.source, date=meta.date))
    return documents, skipped


def _refusal(path: Path, root: Path, follow_symlinks: bool) -> str | None:
    """Why ``path`` is not read, or None when it may be (its suffix is checked by the caller)."""
    try:
        if path.is_symlink():
            target = os.readlink(path)
            if not follow_symlinks:
                return f"symbolic link to {target}: not followed (rag index --follow-symlinks reads links)"
            if not path.exists():
                return f"broken symbolic link to {target}"
        elif not path.resolve().is_relative_to(root):
            return f"resolves outside the corpus folder ({path.resolve()})"
        if path.is_dir():
            return "subfolder: not read (the corpus is one flat folder; move its articles up to read them)"
        if path.suffix.lower() not in SUFFIXES:
            return None
        if not path.is_file():
            return "not a regular file"
        size = path.stat().st_size
    except OSError as e:
        return f"unreadable ({e.strerror or e}): give your user read access to it"
    if size > MAX_DOC_BYTES:
        return f"too large ({size:,} bytes; the limit is {MAX_DOC_BYTES:,})"
    return None


def _read_capped(path: Path) -> bytes:
    """The file's bytes; raises ValueError if it grew past the size limit since it was checked."""
    with open(path, "rb") as f:
        data = f.read(MAX_DOC_BYTES + 1)
    if len(data) > MAX_DOC_BYTES:
        raise ValueError(f"too large (more than {MAX_DOC_BYTES:,} bytes; the limit is {MAX_DOC_BYTES:,})")
    return data
