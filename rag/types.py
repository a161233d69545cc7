"""The small dataclasses that flow between pipeline stages.

load -> Document; chunk -> Chunk; query -> Query; retrieve -> Hit; answer -> Citation, Evidence, Answer.
Offsets are character offsets into ``Document.text``, the article exactly as read
(BOM removed, nothing else touched), so ``doc.text[c.start:c.end] == c.text``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: The languages a question may be asked in (and an answer framed in).
LANGUAGES = ("ar", "en")


@dataclass(frozen=True)
class Document:
    """One article, kept verbatim for display and quoting.

    Attributes:
        doc_id: The file name, e.g. ``"000_b9d1a76c4536362b.txt"``.
        title: The headline (see ``rag.ingest.title``): front matter ``title:``, else the first line
            when it is a short headline, else the opening words of the lead sentence.
        text: The original text (BOM removed, line endings kept), front matter included.
        sha256: Hex digest of ``text`` encoded as UTF-8; changes when the article does.
        source: The outlet, from front matter ``source:``; "" when unknown.
        date: The date, from front matter ``date:``; "" when unknown.
    """

    doc_id: str
    title: str
    text: str
    sha256: str
    source: str = ""
    date: str = ""


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences from one document.

    Attributes:
        chunk_id: ``"{doc_id}#{ordinal}"``.
        doc_id: The document it comes from.
        ordinal: 0-based position among the document's chunks.
        text: ``document.text[start:end]``, verbatim.
        start: Character offset of the first sentence in the document.
        end: Character offset just past the last sentence.
        sentences: ``(start, end)`` document offsets of each sentence in the chunk.
        title: The document's title (carried so a chunk can be shown on its own).
    """

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(**{**d, "sentences": tuple(tuple(s) for s in d["sentences"])})


@dataclass(frozen=True)
class Query:
    """A question ready for retrieval and answering: what the query stage made of it.

    Attributes:
        text: The question as asked (validated, stripped).
        language: ``"ar"`` or ``"en"``, from the question's script.
        retrieval_text: The text retrieved and answered with: the question, or a follow-up resolved against
            the conversation (``rag.retrieve.followup``, or an LLM rewrite).
        lexical: The BM25 query: ``retrieval_text`` plus the bridged Arabic terms.
        vector: The query embedding of ``retrieval_text`` (L2-normalized).
        bridged: Arabic words of the corpus bridged from a Latin-script question's words.
        bridged_vector: The query embedding of the bridged words joined, for a third dense ranking
            (None when nothing was bridged or the question is not English).
        history: Earlier turns ``(question, answer_text)``, oldest first.
    """

    text: str
    language: str
    retrieval_text: str
    lexical: str
    vector: np.ndarray = field(repr=False, compare=False)
    bridged: tuple[str, ...] = ()
    bridged_vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    history: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "language": self.language, "retrieval_text": self.retrieval_text,
                "lexical": self.lexical, "bridged": list(self.bridged)}


@dataclass
class Hit:
    """A retrieved chunk with its fused score and where each retriever ranked it.

    Attributes:
        chunk: The passage.
        score: Reciprocal-rank-fusion score (higher is better).
        dense_score: Cosine similarity of the passage's closest sentence to the question (always set by
            hybrid retrieval: computed for a passage that only BM25 found).
        bm25_score: BM25 score, or None if BM25 did not return it.
        dense_rank: 1-based rank in the dense list, or None.
        bm25_rank: 1-based rank in the BM25 list, or None.
        duplicates: Near-duplicate passages (often other outlets reporting the same fact)
            folded into this hit; kept so an answer can cite each corroborating article.
    """

    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    duplicates: list[Chunk] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk.to_dict(),
            "score": self.score,
            "dense_score": self.dense_score,
            "bm25_score": self.bm25_score,
            "dense_rank": self.dense_rank,
            "bm25_rank": self.bm25_rank,
            "duplicates": [c.chunk_id for c in self.duplicates],
        }


@dataclass(frozen=True)
class Citation:
    """An exact quote from an article: ``document.text[start:end] == quote``.

    Attributes:
        n: The 1-based marker number used in the answer text as ``[n]``.
        doc_id: The article's id.
        title: The article's title.
        quote: The verbatim quoted span.
        start: Character offset of the quote in the article.
        end: Character offset just past the quote.
        score: How strongly the quote was judged to answer the question.
        chunk_id: The passage the quote was taken from.
    """

    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    chunk_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """Why an answer was given or refused: the features the refusal model reads, and its verdict.

    Attributes:
        strength: Cosine of the retrieved sentence closest to the question.
        best_score: Combined score of the best quote candidate (see the profile's sentence weights).
        best_cosine: Cosine of the best quote candidate.
        coverage: IDF-weighted share of the question's terms in the best candidate.
        passage_coverage: The same share over the best candidate's whole passage.
        agreement: Whether the dense and the BM25 ranking both put the best candidate's passage in their top 5.
        margin: How far the best candidate's score is ahead of the best one from another article.
        cue: The answer type the question asks for (``"number"``, ``"date"``) or None.
        cue_met: Whether the best candidate holds what the cue asks for.
        missing_name: A name the question asks about that the quote (or the corpus) does not mention.
        unknown_terms: Content words of the question that occur nowhere in the corpus.
        missing_idf: The rarest question term the best candidate's passage lacks, as its IDF over the largest
            IDF of the corpus (1: a term the corpus never uses, 0: the passage has every term).
        p_answerable: The refusal model's probability that the articles answer the question.
        threshold: The probability below which the answer abstains.
        reason: Why the answer abstained (``"weak"``, ``"cue"``, ``"name"``, ``"unquoted"``, ``"no_passage"``)
            or None.
        missing: What the articles lack, in the question's words, when it can be told (a name, or whose
            words were asked for); the abstention message names it.
        reader: The reading model's answer logit for the best candidate (None: no reader).
    """

    strength: float = 0.0
    best_score: float = 0.0
    best_cosine: float = 0.0
    coverage: float = 0.0
    passage_coverage: float = 0.0
    agreement: bool = False
    margin: float = 0.0
    cue: str | None = None
    cue_met: bool = True
    missing_name: str | None = None
    unknown_terms: int = 0
    missing_idf: float = 0.0
    p_answerable: float = 0.0
    threshold: float = 0.0
    reason: str | None = None
    missing: str | None = None
    reader: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ShortAnswer:
    """The minimal span of a quote that answers the question: ``document.text[start:end] == text``.

    Attributes:
        text: The span, verbatim.
        doc_id: The article it sits in.
        start: Character offset of the span in the article.
        end: Character offset just past it.
        english: For an English question, the span's typed value written in English
            ("$38 billion", "seven years"), derived from ``text``; None when there is none.
    """

    text: str
    doc_id: str
    start: int
    end: int
    english: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What the pipeline returns for one question.

    Attributes:
        question: The question as asked.
        language: ``"ar"`` or ``"en"``, from the question's script.
        text: The answer shown to the user, with ``[n]`` markers.
        abstained: True when the articles do not answer the question.
        citations: The quotes the answer rests on (on abstention: the closest passages' best sentences).
        passages: The retrieved passages, best first.
        timings: Milliseconds per stage (``embed``, ``retrieve``, ``answer``, ``total``...).
        backend: Name of the backend that produced ``text``.
        retrieval_query: The text actually used for retrieval (differs on follow-ups).
        dropped_quotes: Quotes a generative backend produced that were not found in the cited passage.
        evidence: The extractive evidence behind the answer (set by the extractive answerer, also when a
            generative backend falls back to it).
        query: The prepared query the answer was built from (not serialized beyond its text fields).
        short_answer: The span of the best quote that answers the question (None on abstention).
        resolved_question: A follow-up as it was understood in the conversation ("وكم مدتها؟" -> "كم مدة
            صفقة أمازون مع OpenAI؟"); "" when the question was taken as asked.
    """

    question: str
    language: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = "extractive"
    retrieval_query: str = ""
    dropped_quotes: list[str] = field(default_factory=list)
    evidence: Evidence | None = None
    query: Query | None = field(default=None, repr=False)
    short_answer: ShortAnswer | None = None
    resolved_question: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question,
            "language": self.language,
            "text": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [h.to_dict() for h in self.passages],
            "timings": self.timings,
            "backend": self.backend,
            "retrieval_query": self.retrieval_query,
            "dropped_quotes": self.dropped_quotes,
            "evidence": self.evidence.to_dict() if self.evidence else None,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
        }


@dataclass(frozen=True)
class Skipped:
    """A corpus file that was not ingested, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
