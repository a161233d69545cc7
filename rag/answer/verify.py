"""Check a generated answer against the passages it cites: every quote must be in its passage, verbatim.

An LLM writes quotes as ``«...» [n]``. Each quote is looked up (after whitespace collapsing and Arabic
normalization, so tashkeel, hamza forms and digit shapes do not matter) in the passage numbered ``n``;
what is found becomes a ``Citation`` holding the article's own characters and their offsets, and what
is not found is removed from the answer.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from rag.text.markers import MARKER, marker_numbers
from rag.text.normalize import collapse_whitespace, normalize
from rag.types import Citation, Document, Hit

log = logging.getLogger(__name__)

# Characters trimmed from both ends of a quote and of the span found for it.
_TRIM = " \t\r\n\u00a0«»‹›\"'“”„‘’`.,،؛;:!?؟…–—"
_MARKER_RUN = re.compile(rf"{MARKER}(?:[^\S\n]*{MARKER})*")
# Markers inside the closing guillemet («... [1]») count as if they followed it.
_INNER_MARKERS = re.compile(rf"(?:\s*{MARKER})+\s*$")
_OUTER_MARKERS = re.compile(rf"(?:[^\S\n]*{MARKER})+")
# Other quote marks may not span a «...»: a stray one would otherwise swallow a real quote.
_QUOTED = re.compile(r'«([^«»]+)»|“([^“”«»]+)”|"([^"\n«»]+)"')
_GUILLEMETS = re.compile(r"«([^«»]+)»")
# An unmarked «...» this short is a name or a term, not a quotation to verify.
_MIN_UNMARKED_WORDS = 4


@lru_cache(maxsize=8192)
def _normalize_cluster(cluster: str) -> str:
    return normalize(cluster)


def _normalized_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """Normalize ``text`` for matching and map each normalized char back to an original span.

    Text is normalized one cluster (a base character and its combining marks) at a time, so NFKC can
    still compose within the cluster (``ا`` + hamza above -> ``أ``) while every output character keeps
    the original offsets of the cluster it came from. Whitespace runs become one space; invisible
    format characters (RLM, ZWNJ...) disappear.

    Example: ``_normalized_with_offsets("أَ  ب")[0] == "ا ب"``
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        for ch in _normalize_cluster(text[i:j]):
            if ch.isspace():
                if chars and chars[-1] == " ":
                    ends[-1] = j
                    continue
                ch = " "
            elif unicodedata.category(ch) == "Cf":
                continue
            chars.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(chars), starts, ends


def find_quote(quote: str, text: str) -> tuple[int, int] | None:
    """Find ``quote`` in ``text`` ignoring whitespace, tashkeel, hamza and digit shapes; original offsets.

    Surrounding whitespace, guillemets and punctuation are trimmed from the quote and from the span.
    Returns the first match, or None.

    Example: ``find_quote("وقعت الشركة", "قال: وَقَّعَتْ الشَّرِكَةُ اتفاقية") == (5, 26)``
    """
    key = _normalized_with_offsets(quote.strip(_TRIM))[0].strip(_TRIM)
    if not key:
        return None
    haystack, starts, ends = _normalized_with_offsets(text)
    at = haystack.find(key)
    if at < 0:
        return None
    start, end = starts[at], ends[at + len(key) - 1]
    # Trim what the cluster boundaries dragged in, without emptying the span.
    while start < end - 1 and text[start] in _TRIM:
        start += 1
    while end > start + 1 and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def parse_quotes(text: str) -> list[tuple[str, list[int], tuple[int, int]]]:
    """Find each quote followed by citation markers: ``(quote, numbers, (start, end))``.

    Quotes are ``«...»`` (or ``“...”`` / ``"..."``); markers are ``[n]``, ``[n][m]`` or ``[n, m]``,
    after the closing mark or just inside it. The span covers the quote and its markers. A quote
    without a marker is not returned.

    Example: ``parse_quotes("قال «نص» [1][2].") == [("نص", [1, 2], (4, 15))]``
    """
    out: list[tuple[str, list[int], tuple[int, int]]] = []
    for m in _QUOTED.finditer(text):
        body = next(g for g in m.groups() if g is not None)
        inner = _INNER_MARKERS.search(body)
        outer = _OUTER_MARKERS.match(text, m.end())
        numbers = (marker_numbers(inner.group()) if inner else []) + (marker_numbers(outer.group()) if outer else [])
        if not numbers:
            continue
        quote = body[: inner.start()] if inner else body
        end = outer.end() if outer else m.end()
        out.append((quote.strip(), list(dict.fromkeys(numbers)), (m.start(), end)))
    return out


def _cite(quote: str, n: int, hits: list[Hit], documents: Mapping[str, Document]) -> Citation | None:
    """A citation for ``quote`` in passage ``n`` (1-based), or None if there is no such passage or quote."""
    if not 1 <= n <= len(hits):
        return None
    hit = hits[n - 1]
    chunk = hit.chunk
    found = find_quote(quote, chunk.text)
    if found is None:
        return None
    verbatim = chunk.text[found[0] : found[1]]
    start, end = chunk.start + found[0], chunk.start + found[1]
    doc = documents.get(chunk.doc_id)
    if doc is not None and doc.text[start:end] != verbatim:
        # The index no longer matches the article; an offset we cannot vouch for is no citation.
        log.warning("passage %s does not match its article at %d:%d; quote dropped", chunk.chunk_id, start, end)
        return None
    title = doc.title if doc is not None else chunk.title
    return Citation(
        n=n, doc_id=chunk.doc_id, title=title, quote=verbatim, start=start, end=end,
        score=hit.score, chunk_id=chunk.chunk_id,
    )


def _tidy(text: str) -> str:
    """Clean the whitespace and punctuation left where quotes were removed.

    Example: ``_tidy("قال:  . وأيضا  [1] ") == "قال. وأيضا [1]"``
    """
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r"[:،,]\s*([.!?؟])", r"\1", text)
    text = re.sub(r" +([.,،؛;:!?؟)])", r"\1", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def verify_answer(
    text: str, hits: list[Hit], documents: Mapping[str, Document]
) -> tuple[str, list[Citation], list[str]]:
    """Keep the quotes found verbatim in the passages they cite; remove the rest.

    A kept quote is rewritten as the article's own characters (``«verbatim» [n]``) and yields one
    ``Citation`` per cited passage that contains it, with document offsets. A quote citing no
    existing passage, or not found in any passage it cites, is removed and returned in the dropped
    list; so is an unmarked ``«...»`` of four words or more found in no passage (one that is found
    gets the marker of the first passage holding it). Markers naming no passage are removed.

    Args:
        text: The model's answer.
        hits: The passages shown to the model; ``[n]`` is ``hits[n - 1]``.
        documents: Articles by id, for titles and to check offsets.

    Returns:
        ``(cleaned_text, citations, dropped_quotes)``; citations in order of appearance.
    """
    edits: list[tuple[int, int, str]] = []
    placed: dict[tuple[int, int, int], tuple[int, Citation]] = {}
    dropped: list[str] = []

    def keep(at: int, found: list[Citation]) -> str:
        for c in found:
            key = (c.n, c.start, c.end)
            if key not in placed or at < placed[key][0]:
                placed[key] = (at, c)
        return f"«{collapse_whitespace(found[0].quote)}» " + "".join(f"[{c.n}]" for c in found)

    for quote, numbers, (start, end) in parse_quotes(text):
        found = [c for n in numbers if (c := _cite(quote, n, hits, documents)) is not None]
        if found:
            edits.append((start, end, keep(start, found)))
        else:
            log.info("dropped quote citing %s: %r", numbers, quote)
            edits.append((start, end, ""))
            dropped.append(quote)

    def covered(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e, _ in edits)

    for m in _GUILLEMETS.finditer(text):
        quote = m.group(1).strip()
        if covered(m.start(), m.end()) or len(normalize(quote).split()) < _MIN_UNMARKED_WORDS:
            continue
        first = next(
            (c for n in range(1, len(hits) + 1) if (c := _cite(quote, n, hits, documents)) is not None), None
        )
        if first is not None:
            found = [first]
            edits.append((m.start(), m.end(), keep(m.start(), found)))
        else:
            log.info("dropped unmarked quote: %r", quote)
            edits.append((m.start(), m.end(), ""))
            dropped.append(quote)

    for m in _MARKER_RUN.finditer(text):
        if covered(m.start(), m.end()):
            continue
        numbers = marker_numbers(m.group())
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(hits)]
        if valid != numbers:
            edits.append((m.start(), m.end(), "".join(f"[{n}]" for n in valid)))

    citations = [c for _, c in sorted(placed.values(), key=lambda p: p[0])]
    if not edits:
        return text.strip(), citations, dropped
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return _tidy(text), citations, dropped

