"""The default, offline backend: quote the one or two sentences that best answer the question.

A sentence's score mixes its embedding similarity to the question, the share of the
question's content words it contains (IDF-weighted), whether it satisfies the question-type
cue (a number for "how much", a date for "when"...), and the rank of its passage. The
answer abstains when the combined evidence is weak (see ``evidence_strength``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer import ABSTAIN_TEXT, AnswerRequest
from rag.chunk import is_heading
from rag.lexical import analyze
from rag.normalize import normalize, tokenize
from rag.types import Answer, Citation, Document, Hit

# --- question-type cues ------------------------------------------------------------------
_NUMBER_WORDS = frozenset(normalize(w) for w in (
    "واحد واحدة اثنان اثنين اثنتان ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثمانية تسع تسعة عشر عشرة "
    "عشرون عشرين ثلاثون ثلاثين أربعون أربعين خمسون خمسين مئة مائة مئات ألف آلاف مليون ملايين مليار مليارات تريليون "
    "نصف ربع ثلث ضعف أضعاف one two three four five six seven eight nine ten hundred thousand million billion trillion "
    "half percent"
).split())
_MONTHS = (
    "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد "
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
).split()
_DATE = re.compile(r"\b(?:19|20)\d\d\b|" + "|".join(normalize(m) for m in _MONTHS) + r"|عام|سنه|يوم|أمس|امس|غدا")
_NAME = re.compile(r"\b[A-Z][A-Za-z]+")

CUES: dict[str, tuple[str, ...]] = {
    # Matched against the normalized question (hamza folded, lowercase).
    "number": ("كم", "how much", "how many", "what percentage", "what share", "ما قيمه", "ما قيمة", "ما نسبه",
               "ما نسبة", "ما حجم", "ما عدد", "ما مده", "ما مدة", "how long", "how big", "how large", "ما مقدار",
               "what is the value", "what was the value", "بكم", "وكم", "مدتها", "مدته", "what value"),
    "date": ("متي", "when", "what date", "what day", "what year", "في اي يوم", "في اي عام", "في اي سنه", "ومتي"),
    "name": ("من هو", "من هي", "من هم", "who", "which company", "اي شركه", "ما اسم", "ما الشركه", "ومن"),
}


def question_cue(question: str) -> str | None:
    """The answer type the question asks for: ``"number"``, ``"date"``, ``"name"`` or None.

    Example: ``question_cue("كم بلغت قيمة الصفقة؟") == "number"``
    """
    q = " " + normalize(question).replace("؟", " ").replace("?", " ") + " "
    for cue, keys in CUES.items():
        for key in keys:
            if re.search(r"(?:^|\s|و)" + re.escape(normalize(key)) + r"(?:\s|$)", q):
                return cue
    return None


def satisfies_cue(sentence: str, cue: str | None) -> bool:
    """Whether a sentence holds what the cue asks for (any sentence satisfies no cue).

    Example: ``satisfies_cue("بقيمة 38 مليار دولار", "number") is True``
    """
    if cue is None:
        return True
    if cue == "number":
        return any(t[0].isdigit() or t in _NUMBER_WORDS or t[1:] in _NUMBER_WORDS or t.removeprefix("ال") in
                   _NUMBER_WORDS for t in tokenize(normalize(sentence)))
    if cue == "date":
        return bool(_DATE.search(normalize(sentence)))
    return bool(_NAME.search(sentence)) or len(sentence) > 0


def weighted_coverage(question_terms: Sequence[str], text_terms: set[str], idf: Mapping[str, float]) -> float:
    """IDF-weighted share of the question's terms found in the text.

    Example: ``weighted_coverage(["a", "b"], {"a"}, {"a": 3.0, "b": 1.0}) == 0.75``
    """
    terms = set(question_terms)
    total = sum(idf.get(t, 1.0) for t in terms)
    if not total:
        return 0.0
    return sum(idf.get(t, 1.0) for t in terms if t in text_terms) / total


@dataclass
class Candidate:
    """A sentence of a retrieved passage, scored as a possible quote."""

    hit_rank: int  # 0-based rank of the passage it belongs to
    hit: Hit
    start: int
    end: int
    text: str
    cosine: float
    coverage: float
    cue: bool
    score: float = 0.0


@dataclass(frozen=True)
class Weights:
    """How the sentence score and the evidence strength are combined (calibrated on the gold set)."""

    cosine: float = 1.0  # per unit of cosine above the best passage's baseline
    coverage: float = 0.35
    cue: float = 0.08
    rank: float = 0.03  # penalty per passage rank
    second_ratio: float = 0.9  # quote a second sentence when it scores this close to the best
    # evidence strength = a*cosine + b*coverage + c*agreement + d*cue; abstain below `threshold`.
    ev_cosine: float = 1.0
    ev_coverage: float = 0.25
    ev_agreement: float = 0.02
    ev_cue: float = 0.03


#: Abstention threshold on ``evidence_strength``, calibrated with ``rag eval`` on the gold set.
DEFAULT_THRESHOLD = 0.93


def evidence_strength(best: Candidate, hits: Sequence[Hit], coverage: float, w: Weights) -> float:
    """One number for "the passages answer this": higher is stronger.

    Combines the best sentence's cosine to the question, how much of the question's content
    the best passage covers, whether dense and BM25 agree on the top passage, and the cue.

    Example: ``evidence_strength(c, hits, 0.5, Weights())`` (see tests for worked values)
    """
    top = hits[0]
    agree = 1.0 if (top.dense_rank is not None and top.bm25_rank is not None
                    and top.dense_rank <= 3 and top.bm25_rank <= 3) else 0.0
    return w.ev_cosine * best.cosine + w.ev_coverage * coverage + w.ev_agreement * agree + w.ev_cue * best.cue


class ExtractiveAnswerer:
    """Quote the best sentences verbatim, with framing in the question's language; no LLM.

    Args:
        sentence_vector: Maps ``(chunk_id, sentence_index)`` to the sentence's embedding.
        query_vector: Returns the question's embedding (cached by the pipeline).
        idf: Inverse document frequency of analyzed terms over the chunks.
        threshold: Evidence strength below which the answer abstains.
        max_quotes: At most this many sentences are quoted.
    """

    name = "extractive"

    def __init__(self, sentence_vector, query_vector, idf: Mapping[str, float],
                 threshold: float = DEFAULT_THRESHOLD, max_quotes: int = 2, weights: Weights | None = None) -> None:
        self.sentence_vector = sentence_vector
        self.query_vector = query_vector
        self.idf = idf
        self.threshold = threshold
        self.max_quotes = max_quotes
        self.weights = weights or Weights()

    def candidates(self, request: AnswerRequest, query_terms: list[str], q: np.ndarray) -> list[Candidate]:
        """Every sentence of the retrieved passages (headings and fragments left out), scored."""
        cue = question_cue(request.question)
        out = []
        seen: set[tuple[str, int]] = set()
        for rank, hit in enumerate(request.hits):
            doc = request.documents[hit.chunk.doc_id]
            for i, (start, end) in enumerate(hit.chunk.sentences):
                text = doc.text[start:end]
                if (hit.chunk.doc_id, start) in seen or is_heading(doc.text, (start, end)) or len(text) < 25:
                    continue
                seen.add((hit.chunk.doc_id, start))
                cos = float(self.sentence_vector(hit.chunk.chunk_id, i) @ q)
                cov = weighted_coverage(query_terms, set(analyze(text)), self.idf)
                out.append(Candidate(rank, hit, start, end, text, cos, cov, satisfies_cue(text, cue)))
        w = self.weights
        for c in out:
            c.score = w.cosine * c.cosine + w.coverage * c.coverage + w.cue * c.cue - w.rank * c.hit_rank
        out.sort(key=lambda c: -c.score)
        return out

    def decide(self, request: AnswerRequest) -> tuple[list[Candidate], float, bool]:
        """The chosen sentences, the evidence strength, and whether to abstain."""
        if not request.hits:
            return [], 0.0, True
        q = self.query_vector(request.question)
        query_terms = analyze(request.lexical_query or request.question)
        ranked = self.candidates(request, query_terms, q)
        if not ranked:
            return [], 0.0, True
        best = ranked[0]
        passage_coverage = weighted_coverage(query_terms, set(analyze(best.hit.chunk.text)), self.idf)
        strength = evidence_strength(best, request.hits, passage_coverage, self.weights)
        chosen = [best]
        for c in ranked[1 : self.max_quotes + 2]:
            if len(chosen) >= self.max_quotes:
                break
            if c.score >= self.weights.second_ratio * best.score and not _overlaps(c, chosen):
                chosen.append(c)
        return chosen, strength, strength < self.threshold

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        chosen, strength, abstain = self.decide(request)
        lang = request.language
        if abstain:
            closest = chosen[:1] if chosen else []
            citations = _citations(closest, request.documents)
            text = ABSTAIN_TEXT[lang]
            if citations:
                text += "\n\n" + ("أقرب ما وجدته:" if lang == "ar" else "The closest passage I found:")
                text += "".join(f"\n«{c.quote}» [{c.n}]" for c in citations)
        else:
            chosen.sort(key=lambda c: (c.hit_rank, c.start))
            citations = _citations(chosen, request.documents)
            support = _corroborating(chosen, citations, request, self.sentence_vector)
            lead = "بحسب المقالات:" if lang == "ar" else "According to the articles (quoted in Arabic):"
            lines = [lead]
            for c in citations:
                also = "".join(f"[{s.n}]" for parent, s in support if parent == c.n)
                lines.append(f"«{c.quote}» [{c.n}]{also}")
            citations += [s for _, s in support]
            text = "\n".join(lines)
        yield text
        yield Answer(
            question=request.question, language=lang, text=text, abstained=abstain,
            citations=citations, backend=self.name,
        )


def _overlaps(c: Candidate, chosen: list[Candidate]) -> bool:
    return any(c.hit.chunk.doc_id == o.hit.chunk.doc_id and c.start < o.end and o.start < c.end for o in chosen)


def _citations(chosen: Sequence[Candidate], documents: Mapping[str, Document]) -> list[Citation]:
    out = []
    for n, c in enumerate(chosen, start=1):
        doc = documents[c.hit.chunk.doc_id]
        out.append(Citation(n, doc.doc_id, doc.title, doc.text[c.start:c.end], c.start, c.end,
                            round(c.score, 4), c.hit.chunk.chunk_id))
    return out


def _corroborating(
    chosen: Sequence[Candidate], citations: Sequence[Citation], request: AnswerRequest, sentence_vector
) -> list[tuple[int, Citation]]:
    """For each quote, the closest sentence of each near-duplicate passage from another article.

    Returns ``(n of the quote it supports, citation)`` pairs, numbered after ``citations``.
    """
    extra: list[tuple[int, Citation]] = []
    cited_docs = {c.doc_id for c in citations}
    n = len(citations)
    for cand, cit in zip(chosen, citations, strict=True):
        base = sentence_vector(cand.hit.chunk.chunk_id, cand.hit.chunk.sentences.index((cand.start, cand.end)))
        for dup in cand.hit.duplicates:
            if dup.doc_id in cited_docs:
                continue
            sims = [float(sentence_vector(dup.chunk_id, i) @ base) for i in range(len(dup.sentences))]
            if not sims or max(sims) < 0.9:
                continue
            i = int(np.argmax(sims))
            start, end = dup.sentences[i]
            doc = request.documents[dup.doc_id]
            n += 1
            cited_docs.add(dup.doc_id)
            extra.append((cit.n, Citation(n, doc.doc_id, doc.title, doc.text[start:end], start, end,
                                          round(max(sims), 4), dup.chunk_id)))
    return extra


def idf_table(term_sets: Sequence[set[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency of each term over a list of term sets.

    Example: ``round(idf_table([{"a"}, {"a", "b"}])["b"], 3) == round(math.log(1 + 2 / 1.5), 3)``
    """
    n = len(term_sets)
    df: dict[str, int] = {}
    for terms in term_sets:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + n / (d + 0.5)) for t, d in df.items()}
