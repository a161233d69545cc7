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

    UTF-16 is recognized and named (with how to convert it), not read: articles are UTF-8.

    Raises:
        ValueError: naming why the bytes are not a text article.

    Example: ``decode_article(b"\\xef\\xbb\\xbfnews\\r\\n") == "news\\r\\n"``
    """
    encoding = utf16_encoding(data)
    if encoding is not None:
        raise ValueError(f"UTF-16 text, not UTF-8: convert it (e.g. iconv -f {encoding} -t UTF-8 FILE > NEW.txt) "
                         "and remove the UTF-16 file")
    if b"\x00" in data:
        raise ValueError("binary file (contains NUL bytes), not UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from e


def utf16_encoding(data: bytes) -> str | None:
    """The ``iconv`` name of the UTF-16 encoding ``data`` is in, or None when it does not look like UTF-16.

    A byte-order mark says so (``"UTF-16"``: iconv reads the order from it). Without one, text in UTF-16 has
    a NUL byte in every other position wherever it is ASCII (spaces, digits, Latin letters) and in no other.

    Example: ``utf16_encoding("news".encode("utf-16-le")) == "UTF-16LE"``
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00"):  # not UTF-32
        return "UTF-16"
    if len(data) < 2 or len(data) % 2:
        return None
    for name, text_bytes, zero_bytes in (("UTF-16LE", data[0::2], data[1::2]), ("UTF-16BE", data[1::2], data[0::2])):
        if b"\x00" not in text_bytes and zero_bytes.count(0) * 2 >= len(zero_bytes):
            try:
                data.decode(name.lower())
            except UnicodeDecodeError:
                return None
            return name
    return None


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
