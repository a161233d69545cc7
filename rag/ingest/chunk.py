"""Sentence-aware chunking with exact character offsets into the original article.

Sentences end at ``. ! ? ؟ ؛`` and at line breaks, never inside a number (``4.7``,
``14,000``, ``11:15``, ``٤٫٧``). Short heading lines travel with the sentence after them.
Chunks pack whole sentences up to a token budget counted with the embedding model's own
tokenizer, repeating ``overlap`` sentences from the previous chunk. A front-matter block
(``rag.ingest.title``) is skipped.

Limits that keep build time and index size proportional to the text, whatever the article:

- a sentence longer than the budget (e.g. a 2 MB line without punctuation) is cut at spaces,
  or anywhere when it has none, into pieces of at most the budget (``split_long``);
- every sentence is embedded on its own, so an article with more than one sentence per
  ``MIN_SENTENCE_CHARS`` characters on average (e.g. 100,000 one-word sentences) has its tiny
  sentences merged with their neighbours until each is at least that long
  (``merge_tiny_sentences``): at most ``len(text) / MIN_SENTENCE_CHARS + TINY_SENTENCES_ALLOWED``
  sentences per article. Ordinary articles (about 100 characters per sentence) are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.ingest.title import front_matter_end
from rag.types import Chunk, Document

Span = tuple[int, int]
TokenCounter = Callable[[Sequence[str]], list[int]]

# A terminator run (plus closing quotes/brackets) followed by whitespace or the end; ؟ and ؛
# end a sentence even when a word follows without a space. "." between digits never matches
# because it is followed by a digit, not whitespace.
_BOUNDARY = re.compile(r"""[.!?؟؛…]+["'»”’)\]]*(?=\s|$)|[؟؛]+|\r?\n""")
_TERMINAL = ".!?؟؛…:\"'»”’)"

#: An article averaging fewer characters per sentence than this has its tiny sentences merged.
MIN_SENTENCE_CHARS = 32
#: Sentences an article may have beyond one per MIN_SENTENCE_CHARS before merging starts.
TINY_SENTENCES_ALLOWED = 64


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of ``text``, whitespace trimmed, as ``(start, end)`` offsets.

    Example: ``split_sentences("Rose 4.7%. Done!") == [(0, 10), (11, 16)]``
    """
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start() if m.group().endswith("\n") else m.end()
        spans.append((start, end))
        start = m.end()
    spans.append((start, len(text)))
    return trim_spans(text, spans)


def trim_spans(text: str, spans: list[Span]) -> list[Span]:
    """The spans with surrounding whitespace removed; spans left empty are dropped.

    Example: ``trim_spans(" ab  ", [(0, 5), (3, 5)]) == [(1, 3)]``
    """
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def is_heading(text: str, span: Span, max_chars: int = 80) -> bool:
    """A whole short line without closing punctuation is a heading.

    Example: ``is_heading("Summary\\nBody text.", (0, 7)) is True``
    """
    s, e = span
    line = text[s:e]
    whole_line = (s == 0 or text[s - 1] == "\n") and (e == len(text) or text[e] in "\r\n")
    return whole_line and len(line) <= max_chars and not line.endswith(tuple(_TERMINAL))


def split_long(text: str, span: Span, n_tokens: int, budget: int) -> list[Span]:
    """Cut one over-long sentence at spaces into pieces of about ``budget`` tokens.

    The cut points are estimated from the sentence's chars-per-token ratio.

    Example: ``split_long("aa bb cc dd", (0, 11), 4, 2) == [(0, 5), (6, 11)]``
    """
    s, e = span
    if n_tokens <= budget or e - s < 2:
        return [span]
    pieces = -(-n_tokens // budget)
    step = (e - s) / pieces
    out: list[Span] = []
    cur = s
    for i in range(1, pieces):
        target = int(s + i * step)
        cut = text.rfind(" ", cur + 1, target + 1)
        if cut <= cur:
            cut = target
        out.append((cur, cut))
        cur = cut
    out.append((cur, e))
    return trim_spans(text, out)


def merge_tiny_sentences(
    spans: list[Span], tokens: list[int], budget: int, min_chars: int = MIN_SENTENCE_CHARS
) -> tuple[list[Span], list[int]]:
    """Merge each run of consecutive sentences until it spans ``min_chars`` characters (or would pass ``budget``).

    A merged sentence's token count is the sum of its parts'.

    Example: ``merge_tiny_sentences([(0, 2), (3, 5), (6, 40)], [1, 1, 9], 256, 5) == ([(0, 5), (6, 40)], [2, 9])``
    """
    out_spans: list[Span] = []
    out_tokens: list[int] = []
    for span, n in zip(spans, tokens, strict=True):
        if out_spans:
            s, e = out_spans[-1]
            if e - s < min_chars and out_tokens[-1] + n <= budget:
                out_spans[-1] = (s, span[1])
                out_tokens[-1] += n
                continue
        out_spans.append(span)
        out_tokens.append(n)
    return out_spans, out_tokens


def chunk_document(
    doc: Document,
    count_tokens: TokenCounter,
    budget: int = 256,
    overlap: int = 1,
    heading_max_chars: int = 80,
) -> list[Chunk]:
    """Pack a document's sentences into chunks of at most ``budget`` tokens.

    Args:
        doc: The article.
        count_tokens: Token counts (without special tokens) for a batch of texts,
            from the embedding model's tokenizer.
        budget: Token budget per chunk.
        overlap: Sentences repeated at the start of the next chunk.
        heading_max_chars: Longest line treated as a heading.

    Returns:
        Chunks in document order; ``doc.text[c.start:c.end] == c.text`` for each.
    """
    text = doc.text
    # Front matter (title/source/date) is metadata, not article text: it is never chunked or
    # quoted, and the offsets stay those of the whole text.
    body = front_matter_end(text)
    spans = [(s + body, e + body) for s, e in split_sentences(text[body:])]
    counts = count_tokens([text[s:e] for s, e in spans]) if spans else []
    sentences: list[Span] = []
    tokens: list[int] = []

    def fit(span: Span, n: int) -> None:
        # Cut an over-long sentence, recounting the pieces: the cut points are estimates.
        pieces = split_long(text, span, n, budget)
        if len(pieces) == 1:
            sentences.append(span)
            tokens.append(n)
            return
        for piece, m in zip(pieces, count_tokens([text[a:b] for a, b in pieces]), strict=True):
            fit(piece, m)

    for span, n in zip(spans, counts, strict=True):
        fit(span, n)
    if len(sentences) > len(text) // MIN_SENTENCE_CHARS + TINY_SENTENCES_ALLOWED:
        sentences, tokens = merge_tiny_sentences(sentences, tokens, budget)

    # A heading is glued to what follows so it never ends a chunk on its own, unless the two
    # together would not fit in one chunk.
    units: list[list[int]] = []
    pending: list[int] = []
    for i, span in enumerate(sentences):
        pending.append(i)
        glue = (is_heading(text, span, heading_max_chars) and i + 1 < len(sentences)
                and sum(tokens[j] for j in pending) + tokens[i + 1] <= budget)
        if not glue:
            units.append(pending)
            pending = []
    if pending:
        units.append(pending)

    groups: list[list[int]] = []
    current: list[int] = []
    carried = 0  # leading sentences of `current` repeated from the previous chunk
    for unit in units:
        if len(current) > carried and sum(tokens[i] for i in current + unit) > budget:
            groups.append(current)
            keep = current[-overlap:] if overlap else []
            while keep and sum(tokens[i] for i in keep + unit) > budget:
                keep = keep[1:]
            current, carried = keep, len(keep)
        current = current + unit
    if len(current) > carried:
        groups.append(current)

    chunks = []
    for ordinal, group in enumerate(groups):
        start, end = sentences[group[0]][0], sentences[group[-1]][1]
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}#{ordinal}",
                doc_id=doc.doc_id,
                ordinal=ordinal,
                text=text[start:end],
                start=start,
                end=end,
                sentences=tuple(sentences[i] for i in group),
                title=doc.title,
            )
        )
    return chunks
