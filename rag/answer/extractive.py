"""The default, offline backend: quote the one or two sentences that best answer the question.

A sentence's score mixes its embedding similarity to the question, the share of the
question's content words it contains (IDF-weighted), whether it satisfies the question-type
cue (a number for "how much", a date for "when"...), and the rank of its passage; the weights,
thresholds and limits come from the corpus profile (``rag.profile``). The answer abstains when
the evidence is weak (see ``should_abstain``), and its ``Evidence`` says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer import ABSTAIN_TEXT, AnswerRequest, BackendContext
from rag.answer.short import short_answer_for
from rag.ingest.chunk import is_heading
from rag.profile import Profile
from rag.retrieve.hybrid import term_overlap
from rag.text.analyze import analyze, analyze_query, strip_proclitics
from rag.text.normalize import normalize, tokenize
from rag.text.translit import NameIndex, question_names
from rag.types import Answer, Citation, Document, Evidence, Hit


# --- question-type cues ------------------------------------------------------------------
def _bare(token: str) -> str:
    """A token without its Arabic proclitics, as the cue word lists are kept ("وبالسبع" -> "سبع")."""
    return strip_proclitics(token, min_len=2)


_NUMBER_WORDS = frozenset(_bare(normalize(w)) for w in (
    "واحد واحدة اثنان اثنين اثنتان ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثمانية تسع تسعة عشر عشرة "
    "عشرون عشرين ثلاثون ثلاثين أربعون أربعين خمسون خمسين مئة مائة مئات ألف آلاف مليون ملايين مليار مليارات تريليون "
    "نصف ربع ثلث ضعف أضعاف one two three four five six seven eight nine ten hundred thousand million billion trillion "
    "half percent"
).split())
_MONTHS = (
    "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد "
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
).split()
_DATE_WORDS = frozenset(
    _bare(normalize(w)) for w in [*_MONTHS, "عام", "سنة", "يوم", "أمس", "غدا", "today", "yesterday"]
)
_YEAR = re.compile(r"(?:19|20)\d\d")


def question_cue(question: str, cues: Mapping[str, Sequence[str]]) -> str | None:
    """The answer type the question asks for (a key of ``cues``: ``"number"``, ``"date"``) or None.

    Example: ``question_cue("كم بلغت قيمة الصفقة؟", {"number": ["كم"]}) == "number"``
    """
    q = " " + normalize(question).replace("؟", " ").replace("?", " ") + " "
    for cue, keys in cues.items():
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
    tokens = tokenize(normalize(sentence))
    if cue == "number":
        # A quantity, not a year: "how many" is not answered by "since 2019".
        return any((t[0].isdigit() and not _YEAR.fullmatch(t)) or _bare(t) in _NUMBER_WORDS for t in tokens)
    if cue == "date":
        return any(_YEAR.fullmatch(t) or _bare(t) in _DATE_WORDS for t in tokens)
    raise ValueError(f"cue {cue!r} is not one of number, date")



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
    sentence: int = 0  # index of the sentence in its passage


class ExtractiveAnswerer:
    """Quote the best sentences verbatim, with framing in the question's language; no LLM.

    Args:
        sentence_vector: Maps ``(chunk_id, sentence_index)`` to the sentence's embedding.
        idf: Inverse document frequency of analyzed terms over the chunks.
        names: Where the corpus mentions names, for the unmentioned-name check (None: no check).
        profile: The corpus profile: thresholds, sentence weights, cues and limits.
        max_quotes: At most this many sentences are quoted.
    """

    name = "extractive"

    def __init__(self, sentence_vector: Callable[[str, int], np.ndarray], idf: Mapping[str, float],
                 names: NameIndex | None = None, profile: Profile | None = None, max_quotes: int = 2) -> None:
        self.sentence_vector = sentence_vector
        self.idf = idf
        self.names = names
        self.profile = profile or Profile()
        self.max_quotes = max_quotes

    @classmethod
    def create(cls, context: BackendContext) -> ExtractiveAnswerer:
        """The answerer over a loaded index: its sentence vectors, IDF table and name index."""
        index = context.index
        row_of = {c.chunk_id: i for i, c in enumerate(index.chunks)}

        def sentence_vector(chunk_id: str, i: int) -> np.ndarray:
            return index.sentence_vectors[index.sentence_rows[row_of[chunk_id]][i]]

        idf = idf_table([set(analyze(c.text)) for c in index.chunks])
        names = NameIndex([c.text for c in index.chunks], context.profile.translit_min_consonants)
        return cls(sentence_vector, idf, names, context.profile, max_quotes=context.settings.max_quotes)

    def candidates(self, request: AnswerRequest, query_terms: list[str], cue: str | None) -> list[Candidate]:
        """Every sentence of the retrieved passages (headings and fragments left out), scored."""
        q = request.query.vector
        out = []
        seen: set[tuple[str, int]] = set()
        for rank, hit in enumerate(request.hits):
            doc = request.documents[hit.chunk.doc_id]
            for i, (start, end) in enumerate(hit.chunk.sentences):
                text = doc.text[start:end]
                if ((hit.chunk.doc_id, start) in seen or is_heading(doc.text, (start, end))
                        or len(text) < self.profile.min_quote_chars):
                    continue
                seen.add((hit.chunk.doc_id, start))
                cos = float(self.sentence_vector(hit.chunk.chunk_id, i) @ q)
                cov = weighted_coverage(query_terms, set(analyze(text)), self.idf)
                out.append(Candidate(rank, hit, start, end, text, cos, cov, satisfies_cue(text, cue), sentence=i))
        w = self.profile.weights
        for c in out:
            c.score = w.cosine * c.cosine + w.coverage * c.coverage + w.cue * c.cue - w.rank * c.hit_rank
        out.sort(key=lambda c: -c.score)
        return out

    def decide(self, request: AnswerRequest) -> tuple[list[Candidate], Evidence, bool]:
        """The chosen sentences, the evidence behind the decision, and whether to abstain."""
        threshold = self.profile.threshold(request.language)
        if not request.hits:
            return [], Evidence(threshold=threshold, reason="no_passage"), True
        cue = question_cue(request.question, self.profile.cues)
        query_terms = analyze_query(request.lexical_query, self.idf)
        ranked = self.candidates(request, query_terms, cue)
        if not ranked:
            return [], Evidence(cue=cue, threshold=threshold, reason="no_passage"), True
        best = ranked[0]
        strength = max(c.cosine for c in ranked)
        chosen = [best]
        for c in ranked[1 : self.max_quotes + 2]:
            if len(chosen) >= self.max_quotes:
                break
            if (c.score >= self.profile.weights.second_ratio * best.score and not _overlaps(c, chosen)
                    and self.adds_to(c, chosen)):
                chosen.append(c)
        missing = self.missing_name(request, chosen)
        reason = None
        if strength < threshold:
            reason = "weak"
        elif not best.cue:
            reason = "cue"
        elif missing is not None:
            reason = "name"
        evidence = Evidence(strength=strength, best_score=best.score, coverage=best.coverage, cue=cue,
                            cue_met=best.cue, missing_name=missing, threshold=threshold, reason=reason)
        return chosen, evidence, reason is not None

    def same_fact(self, a: Candidate, b: Candidate) -> bool:
        """Whether two sentences say the same thing: embeddings corroboration-close and most terms shared
        (e5 gives related but distinct sentences high cosines, so the terms must agree too)."""
        va = self.sentence_vector(a.hit.chunk.chunk_id, a.sentence)
        vb = self.sentence_vector(b.hit.chunk.chunk_id, b.sentence)
        if float(va @ vb) < self.profile.corroborate_min_cosine:
            return False
        return term_overlap(set(analyze(a.text)), set(analyze(b.text))) >= self.profile.dedup_min_overlap

    def adds_to(self, c: Candidate, chosen: Sequence[Candidate]) -> bool:
        """Whether quoting ``c`` as well adds something: it is not the same fact as a chosen quote restated
        (a restatement in another article is a corroborating source, not a second quote)."""
        return not any(self.same_fact(c, o) for o in chosen)

    def missing_name(self, request: AnswerRequest, chosen: Sequence[Candidate]) -> str | None:
        """A name the question asks about that the quotes don't mention although they should, or None.

        A rare name (in at most ``profile.rare_name_passages`` passages) must appear in the best quoted
        sentence: quoting another deal's figure for "the value of the X deal" is the typical near miss.
        A Latin-script name in an Arabic question that the articles never mention means they
        don't cover it. (English questions capitalize ordinary words, so there an unknown
        name proves nothing.)
        """
        if self.names is None:
            return None
        for name in question_names(request.question, request.language):
            forms = self.names.forms(name)
            df = self.names.document_frequency(forms)
            if df == 0 and request.language == "ar":
                return name
            if 0 < df <= self.profile.rare_name_passages and not self.names.mentions(chosen[0].text, forms):
                return name
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        chosen, evidence, abstain = self.decide(request)
        lang = request.language
        short = None
        if abstain:
            citations = _citations(chosen, request.documents)
            text = ABSTAIN_TEXT[lang]
            if citations:
                text += "\n\n" + ("أقرب ما وجدته:" if lang == "ar" else "The closest passages I found:")
                text += "".join(f"\n«{c.quote}» [{c.n}]" for c in citations)
        else:
            chosen.sort(key=lambda c: (c.hit_rank, c.start))
            citations = _citations(chosen, request.documents)
            support = _corroborating(chosen, citations, request, self.sentence_vector,
                                     self.profile.corroborate_min_cosine)
            lead = "بحسب المقالات:" if lang == "ar" else "According to the articles (quoted in Arabic):"
            lines = [lead]
            for c in citations:
                also = "".join(f"[{s.n}]" for parent, s in support if parent == c.n)
                lines.append(f"«{c.quote}» [{c.n}]{also}")
            citations += [s for _, s in support]
            text = "\n".join(lines)
            best = max(citations[: len(chosen)], key=lambda c: c.score)
            short = short_answer_for(request.question, lang, best, request.lexical_query)
        yield text
        yield Answer(
            question=request.question, language=lang, text=text, abstained=abstain,
            citations=citations, backend=self.name, evidence=evidence, short_answer=short,
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
    chosen: Sequence[Candidate], citations: Sequence[Citation], request: AnswerRequest,
    sentence_vector: Callable[[str, int], np.ndarray], min_cosine: float,
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
            if not sims or max(sims) < min_cosine:
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
