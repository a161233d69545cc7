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
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from rag.answer import AnswerRequest, BackendContext, abstain_text
from rag.answer.grounding import (
    absent_names,
    mentions_subject,
    quoted_anywhere,
    speech_subject,
    subject_forms,
    unknown_words,
)
from rag.answer.reader import Reader, Reading
from rag.answer.refusal import RefusalModel, default_model, features
from rag.answer.short import counts_what_is_asked, question_type, short_answer_for
from rag.ingest.chunk import is_heading
from rag.profile import Profile
from rag.retrieve.hybrid import term_overlap
from rag.text.analyze import analyze, analyze_query, strip_proclitics
from rag.text.dictionary import renderings
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


#: The answer type each typed question kind needs in the quoted sentence (``rag.answer.short.question_type``).
_CUE_OF_TYPE = {"amount": "number", "count": "number", "percentage": "number", "duration": "number", "date": "date"}


def question_cue(question: str) -> str | None:
    """The answer type the question asks for, by its question words: ``"number"``, ``"date"`` or None.

    Example: ``question_cue("كم بلغت قيمة الصفقة؟") == "number"``
    """
    return _CUE_OF_TYPE.get(question_type(question))


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
    reading: Reading | None = None  # what the reading model made of it (None: not read)
    rule: float = 0.0  # the score without the reader's logit (the refusal evidence reads it)


class ExtractiveAnswerer:
    """Quote the best sentences verbatim, with framing in the question's language; no LLM.

    Args:
        sentence_vector: Maps ``(chunk_id, sentence_index)`` to the sentence's embedding.
        idf: Inverse document frequency of analyzed terms over the chunks.
        names: Where the corpus mentions names, for the unmentioned-name check (None: no check).
        profile: The corpus profile: thresholds, sentence weights, cues and limits.
        max_quotes: At most this many sentences are quoted.
        translate: Arabic renderings of an English word (the dictionary), so that a capitalized English word
            the corpus writes in translation is not counted unknown (None: transliteration only).
        reader: The reading model: it reads the best-scored sentences with the question, re-ranks them, gives
            the short answer's span and a refusal feature (None: the rules alone).
    """

    name = "extractive"

    def __init__(self, sentence_vector: Callable[[str, int], np.ndarray], idf: Mapping[str, float],
                 names: NameIndex | None = None, profile: Profile | None = None, max_quotes: int = 2,
                 translate: Callable[[str], Sequence[str]] | None = None, reader: Reader | None = None) -> None:
        self.sentence_vector = sentence_vector
        self.reader = reader
        # A corpus's own refusal model (rag calibrate), else the shipped one fitted with or without the reader.
        self.refusal: RefusalModel = (profile.refusal if profile is not None and profile.refusal is not None
                                      else default_model(reader=reader is not None))
        self.translate = translate
        self.idf = idf
        self.names = names
        self.profile = profile or Profile()
        self.max_quotes = max_quotes
        self.top_idf = max(idf.values(), default=1.0)  # the rarest term's IDF (a term the corpus never uses)

    @classmethod
    def create(cls, context: BackendContext) -> ExtractiveAnswerer:
        """The answerer over a loaded index: its sentence vectors, IDF table and name index."""
        index = context.index
        row_of = {c.chunk_id: i for i, c in enumerate(index.chunks)}

        def sentence_vector(chunk_id: str, i: int) -> np.ndarray:
            return index.sentence_vectors[index.sentence_rows[row_of[chunk_id]][i]]

        idf = idf_table([set(analyze(c.text)) for c in index.chunks])
        names = NameIndex([c.text for c in index.chunks], context.profile.translit_min_consonants)
        return cls(sentence_vector, idf, names, context.profile, max_quotes=context.settings.max_quotes,
                   translate=partial(renderings, prefix=context.settings.dictionary), reader=context.reader)

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
        if cue == "number":
            # "كم جزيرة": when some sentence counts islands, a sentence counting something else meets no cue.
            counts = [counts_what_is_asked(request.question, c.text) for c in out]
            if any(counts):
                for c, counted in zip(out, counts, strict=True):
                    c.cue = c.cue and bool(counted)
        w = self.profile.weights
        for c in out:
            c.score = c.rule = w.cosine * c.cosine + w.coverage * c.coverage + w.cue * c.cue - w.rank * c.hit_rank
        out.sort(key=lambda c: -c.score)
        if self.reader is not None and out:
            # The reader reads the best-scored sentences; they rank above the others, by score plus its logit.
            read = out[: self.profile.reader_candidates]
            for c, r in zip(read, self.reader.read(request.question, [c.text for c in read]), strict=True):
                c.reading = r
                c.score += w.reader * r.score
            read.sort(key=lambda c: -c.score)
            out = read + out[len(read) :]
        return out

    def candidates_for(self, request: AnswerRequest) -> list[Candidate]:
        """``candidates`` with the question's own terms and cue, as ``decide`` scores them (``rag calibrate``
        weighs them)."""
        return self.candidates(request, analyze_query(request.lexical_query, self.idf), question_cue(request.question))

    def decide(self, request: AnswerRequest) -> tuple[list[Candidate], Evidence, bool]:
        """The chosen sentences, the evidence behind the decision, and whether to abstain.

        Refused whatever the evidence: a Latin-script name in an Arabic question that the corpus never mentions
        in either script, an English question none of whose names the corpus mentions when the dictionary
        writes one of them as a name (``absent_names``), a rare name of an Arabic question that the best quote
        lacks (``missing_name``; in English, capitalized words are too often not names for that), and
        "what did X say" when no retrieved sentence has X speaking. Otherwise the profile's refusal model
        weighs the evidence (``rag.answer.refusal``).
        """
        model = self.refusal
        if not request.hits:
            return [], Evidence(threshold=model.threshold_for(request.language), reason="no_passage"), True
        cue = question_cue(request.question)
        query_terms = analyze_query(request.lexical_query, self.idf)
        ranked = self.candidates(request, query_terms, cue)
        if not ranked:
            return [], Evidence(cue=cue, threshold=model.threshold_for(request.language), reason="no_passage"), True
        best = ranked[0]
        chosen = [best]
        for c in ranked[1 : self.max_quotes + 2]:
            if len(chosen) >= self.max_quotes:
                break
            # A second sentence is quoted when its rule score is close to the best one's (the reader's logit is no
            # ratio: reading "answers" too often for a second quote; citation precision fell with it).
            if (c.rule >= self.profile.weights.second_ratio * best.rule and not _overlaps(c, chosen)
                    and self.adds_to(c, chosen)):
                chosen.append(c)
        chosen = with_antecedent(chosen, ranked)
        unknown = unknown_words(request.question, request.language, self.idf, self.names, self.translate)
        others = [c.rule for c in ranked if c.hit.chunk.doc_id != best.hit.chunk.doc_id]
        passage_terms = set(analyze(best.hit.chunk.text))
        evidence = Evidence(
            strength=max(c.cosine for c in ranked), best_score=best.rule, best_cosine=best.cosine,
            coverage=best.coverage,
            passage_coverage=weighted_coverage(query_terms, passage_terms, self.idf),
            agreement=(best.hit.dense_rank or 99) <= 5 and (best.hit.bm25_rank or 99) <= 5,
            margin=best.rule - max(others) if others else 0.0,
            cue=cue, cue_met=best.cue, missing_name=self.missing_name(request, chosen),
            unknown_terms=len(unknown), missing_idf=self.missing_idf(query_terms, passage_terms),
            threshold=model.threshold_for(request.language),
            reader=round(best.reading.score, 4) if best.reading is not None else None,
        )
        p = round(model.p_answerable(features(evidence, request.language)), 4)
        # A Latin name in an Arabic question stands out; in English every name is capitalized Latin, and
        # transliteration misses too many spellings to refuse on one alone (the model weighs it): an English
        # question is refused on its names only when the corpus knows none of them and the dictionary writes
        # one as a name ("Canada" -> كندا), so that the absence is not a missed transliteration.
        absent = (" ".join(w for w in unknown if re.fullmatch(r"[A-Za-z]+", w)) if request.language == "ar"
                  else ", ".join(absent_names(request.question, unknown, self.translate)))
        subject = speech_subject(request.question)
        reason, missing = None, None
        if absent:
            reason, missing = "name", absent
        elif evidence.missing_name is not None and request.language == "ar":
            reason, missing = "name", evidence.missing_name
        elif subject is not None and not quoted_anywhere(subject, [c.text for c in ranked], self.names):
            forms = subject_forms(subject, self.names)
            named = any(mentions_subject(c.text, forms) for c in ranked)
            reason, missing = ("unquoted" if named else "name"), subject
        elif p < evidence.threshold:
            reason = "cue" if cue is not None and not best.cue else "weak"
            missing = " ".join(unknown) or None
        evidence = replace(evidence, p_answerable=p, reason=reason, missing=missing)
        return chosen, evidence, evidence.reason is not None

    def missing_idf(self, query_terms: Sequence[str], passage_terms: set[str]) -> float:
        """The largest IDF among the question terms the passage lacks, over the corpus's largest IDF (a term the
        corpus never uses counts as the rarest)."""
        top = self.top_idf
        missing = [self.idf.get(t, top) for t in set(query_terms) if t not in passage_terms]
        return min(max(missing, default=0.0) / top, 1.0) if top > 0 else 0.0

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
        (A name the corpus never mentions is ``unknown_words``'s.)
        """
        if self.names is None:
            return None
        for name in question_names(request.question, request.language):
            forms = self.names.forms(name)
            df = self.names.document_frequency(forms)
            if 0 < df <= self.profile.rare_name_passages and not self.names.mentions(chosen[0].text, forms):
                return name
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        chosen, evidence, abstain = self.decide(request)
        lang = request.language
        short = None
        best_read = chosen[0] if chosen and chosen[0].reading is not None else None
        if abstain:
            citations = _citations(chosen, request.documents)
            text = abstain_text(lang, evidence)
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
            if best_read is not None and best_read.reading is not None and best_read.reading.start is not None:
                # The reader's span of the sentence it ranked first.
                cited = next(c for c in citations if c.doc_id == best_read.hit.chunk.doc_id
                             and c.start == best_read.start)
                span = (best_read.reading.start, best_read.reading.end or best_read.reading.start)
                short = short_answer_for(request.question, lang, cited, request.lexical_query, span=span)
            else:
                best = max(citations[: len(chosen)], key=lambda c: c.score)
                short = short_answer_for(request.question, lang, best, request.lexical_query,
                                         self.profile.span_model)
        if short is not None and lang == "en" and short.english is None and self.names is not None:
            short = replace(short, english=self.names.latin_spelling(short.text))  # as the corpus spells it
        yield text
        yield Answer(
            question=request.question, language=lang, text=text, abstained=abstain,
            citations=citations, backend=self.name, evidence=evidence, short_answer=short,
        )


#: Words that open a sentence leaning on the one before ("وهو كذلك الأكبر سناً…": who is "he"?).
ANAPHORS = frozenset(normalize(w, lexical=True) for w in (
    "وهو وهي هو هي فهو فهي وهم هم كما وكان وكانت وقد ولكنه لكنه لكنها ولكنها وهذا هذا وهذه هذه ذلك وذلك "
    "he she it they this these his her its their").split())


def with_antecedent(chosen: list[Candidate], ranked: Sequence[Candidate]) -> list[Candidate]:
    """The quotes, with the sentence before the best one when the best one opens with a pronoun or a
    connective that leans on it (it takes the second quote's place).

    Measured on development sets (contains the gold answer): XQuAD-dev Arabic 0.722 → 0.730, ARCD train's
    last 12 articles 0.769 → 0.778, the seeds unchanged; answers 5–10 characters longer at the median.

    Example: best ``"وهو أكبر لاعب سناً."`` (sentence 3 of its passage) gives ``[best, sentence 2]``.
    """
    best = chosen[0]
    words = best.text.split()
    if best.sentence == 0 or not words or normalize(words[0], lexical=True) not in ANAPHORS:
        return chosen
    before = next((c for c in ranked if c.hit is best.hit and c.sentence == best.sentence - 1), None)
    if before is None or before in chosen:
        return chosen
    return [best, before]


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
