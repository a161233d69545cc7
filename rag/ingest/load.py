"""Load a corpus folder into Documents, skipping (with a named reason) what is not an article."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.title import article_meta
from rag.types import Document, Skipped

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
#: Larger files are not news articles; refusing them keeps a stray dump from stalling indexing.
MAX_DOC_BYTES = 5_000_000


def content_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text.

    Example: ``content_hash("")[:8] == "e3b0c442"``
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def title_of(text: str) -> str:
    """The article's title (see ``rag.ingest.title``): front matter, headline or lead sentence.

    Example: ``title_of("\\n  Headline \\nBody") == "Headline"``
    """
    return article_meta(text).title


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


def load_corpus(corpus_dir: Path) -> tuple[list[Document], list[Skipped]]:
    """Read every ``.txt`` and ``.md`` file directly inside ``corpus_dir``, sorted by name.

    Empty files, files that are not UTF-8 text, oversized files and exact duplicates are
    skipped with a warning naming the file and the reason.

    Args:
        corpus_dir: The folder of articles.

    Returns:
        The documents and the skipped files.

    Raises:
        CorpusError: if the folder does not exist or is not a folder.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {str(corpus_dir)!r} does not exist or is not a folder")
    documents: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for path in sorted(p for p in corpus_dir.iterdir() if p.suffix.lower() in SUFFIXES):
        reason = None
        if not path.is_file():
            reason = "not a regular file"
        elif path.stat().st_size > MAX_DOC_BYTES:
            reason = f"too large ({path.stat().st_size:,} bytes; the limit is {MAX_DOC_BYTES:,})"
        else:
            try:
                text = decode_article(path.read_bytes())
            except (OSError, ValueError) as e:
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
