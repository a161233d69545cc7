"""The evaluation stage: run gold questions through the pipeline and score retrieval, answers, citations, abstention.

Every question goes through ``Pipeline.ask``, the code path the chat uses, with the user's ``k``. Retrieval is
scored on a separate, untimed ``retrieve(answer.query, max(10, k))`` (the very query the answer was
built from) so the @10 metrics see ten passages; fusion and near-duplicate folding are deterministic,
so its first ``k`` passages are the ones the answer was built from. The evidence strength is read from
the answer. Scoring is split in two pure steps:
``score_question`` turns one answer into a ``QuestionRecord`` and ``aggregate`` turns records into the
report's metric groups.

Conventions (so that numbers are comparable from run to run):

- Retrieval, answer and citation metrics are over answerable questions only.
- An abstained answer counts as giving no answer: ``contains`` is false, ``f1`` is 0 and it cites nothing,
  even though its text shows the closest passage it found (that quote is not offered as an answer).
- A retrieved passage is relevant when it, or a near-duplicate folded into it, contains an evidence span.
- Undefined values (no question in a group) are ``nan`` and become ``null`` in JSON.
- A conversation's turns are asked in order, each with the history the chat passes: ``(question, answer
  text)`` of every earlier turn of the conversation (``rag.app.ui.ChatHandlers.respond``). Every figure is
  reported for all questions, per language, and for first turns and follow-ups apart (a follow-up: a
  conversation's second turn or later, or a ``follows`` line).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rag.answer.short import question_type
from rag.eval.gold import UNANSWERABLE_KINDS, GoldItem
from rag.eval.metrics import (
    citation_hit,
    citation_precision,
    contains_answer,
    exact_match,
    hit_at_k,
    is_relevant,
    mean,
    ndcg_at_k,
    percentile,
    reciprocal_rank,
    short_answer_right,
    token_f1,
)
from rag.types import LANGUAGES, Answer, Hit

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)

#: Question types whose answer is a typed value (the ones an English question gets rendered in English).
TYPED_VALUES = frozenset({"amount", "count", "percentage", "duration", "date"})
#: Passages retrieved for scoring: the @10 metrics need ten.
RETRIEVAL_DEPTH = 10
#: The hit@k cut-off named in a question's failed checks ("retrieval@5").
FAILED_RETRIEVAL_K = 5
#: The report's groups by position in a conversation: ``GoldItem.follow_up`` false, then true.
POSITIONS = ("first", "follow_up")


@dataclass
class QuestionRecord:
    """Everything scored about one gold question.

    Attributes:
        id: The gold id.
        lang: ``"ar"`` or ``"en"``.
        question: The question as asked.
        answerable: Whether the gold set has an answer for it.
        answers: The gold answers.
        sources: The gold source document ids.
        answer: The answer text shown to the user.
        abstained: Whether the pipeline declined to answer.
        relevant: Relevance of each passage of the scoring retrieval, best first (answerable only).
        retrieved_chunks: Chunk ids of the scoring retrieval, best first.
        retrieved_docs: Their document ids.
        cited_docs: The document id of each citation (empty for an abstained answer, see module docstring).
        contains: Whether the answer contains a gold answer (None for an unanswerable question).
        f1: Best token F1 against the gold answers (None for an unanswerable question).
        latency_ms: Wall time of ``Pipeline.ask``.
        strength: The evidence strength the answer reports (extractive answers, and generative ones that fell back).
        p_answerable: The refusal model's probability that the articles answer it (same answers).
        evidence: The answer's whole ``Evidence`` (what ``rag calibrate`` fits on), or None.
        follows: The id this follow-up leans on, if any.
        unanswerable: For an unanswerable question, why (the gold file's ``unanswerable``: ``"article"``,
            ``"paragraph"``), or None.
        short_answer: The short answer shown first (its English rendering when there is one; "" when abstained).
        short_quote: The quote the short answer was taken from ("" when there is none); with ``match_text``,
            what ``rag calibrate`` fits the span model on.
        match_text: The question's words for lexical matching (an English question's bridged Arabic words).
        short_em: SQuAD exact match of the short answer, the better of its English rendering and its Arabic
            span (None for an unanswerable question).
        short_f1: SQuAD token F1 of the short answer, likewise (None for an unanswerable question).
        short_right: Whether the short answer is right (``short_answer_right``), its English rendering or its
            Arabic span; False when refused (None for an unanswerable question).
        typed: Whether the question asks for a typed value (amount, count, percentage, duration, date).
        short_in_english: For an English typed-value question that was answered, whether the short answer
            came in English (None otherwise).
        failed: The checks this question fails (see ``failed_checks``).
        conversation: The conversation it is a turn of, else None.
        turn: Its turn in that conversation, from 1 (0 for a question line).
        follow_up: Whether it was asked after earlier turns (``GoldItem.follow_up``).
        resolved_question: How a follow-up was understood in its conversation (``Answer.resolved_question``;
            "" when taken as asked).
    """

    id: str
    lang: str
    question: str
    answerable: bool
    answers: list[str]
    sources: list[str]
    answer: str
    abstained: bool
    relevant: list[bool]
    retrieved_chunks: list[str]
    retrieved_docs: list[str]
    cited_docs: list[str]
    contains: bool | None
    f1: float | None
    latency_ms: float
    strength: float | None = None
    p_answerable: float | None = None
    evidence: dict[str, Any] | None = None
    follows: str | None = None
    unanswerable: str | None = None
    short_answer: str = ""
    short_quote: str = ""
    match_text: str = ""
    short_em: float | None = None
    short_f1: float | None = None
    short_right: bool | None = None
    typed: bool = False
    short_in_english: bool | None = None
    failed: list[str] = field(default_factory=list)
    conversation: str | None = None
    turn: int = 0
    follow_up: bool = False
    resolved_question: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passage_relevance(hits: Sequence[Hit], evidence: Sequence[str]) -> list[bool]:
    """Whether each passage, or one of the near-duplicates folded into it, contains an evidence span.

    Example: ``passage_relevance([hit_with_text("a b c")], ["b  c"]) == [True]``

    Args:
        hits: Retrieved passages, best first.
        evidence: Verbatim spans that support the gold answer.

    Returns:
        One boolean per hit.
    """
    return [
        is_relevant(h.chunk.text, evidence) or any(is_relevant(d.text, evidence) for d in h.duplicates)
        for h in hits
    ]


def failed_checks(record: QuestionRecord) -> list[str]:
    """The checks a scored question fails, most telling first.

    Answerable: ``refused``, ``retrieval@5`` (no relevant passage in the first five), ``contains``,
    ``citation`` (no citation of a source article). Unanswerable: ``not_refused``.

    Example: ``failed_checks(unanswerable_record_that_answered) == ["not_refused"]``
    """
    if not record.answerable:
        return [] if record.abstained else ["not_refused"]
    out = []
    if record.abstained:
        out.append("refused")
    if not hit_at_k(record.relevant, FAILED_RETRIEVAL_K):
        out.append(f"retrieval@{FAILED_RETRIEVAL_K}")
    if not record.contains:
        out.append("contains")
    if not citation_hit(record.cited_docs, record.sources):
        out.append("citation")
    return out


def score_question(item: GoldItem, answer: Answer, passages: Sequence[Hit], latency_ms: float) -> QuestionRecord:
    """Score one answered gold question.

    Example: ``score_question(item, pipeline.ask(item.question), hits, 42.0).failed == []`` for a good answer.

    Args:
        item: The gold question.
        answer: What ``Pipeline.ask`` returned.
        passages: The scoring retrieval (``RETRIEVAL_DEPTH`` passages for the same retrieval query).
        latency_ms: Wall time of the ask.

    Returns:
        The record, with ``failed`` filled in.
    """
    answered = not answer.abstained
    cited = [c.doc_id for c in answer.citations] if answered else []
    record = QuestionRecord(
        id=item.id,
        lang=item.lang,
        question=item.question,
        answerable=item.answerable,
        answers=list(item.answers),
        sources=list(item.sources),
        answer=answer.text,
        abstained=answer.abstained,
        relevant=passage_relevance(passages, item.evidence) if item.answerable else [],
        retrieved_chunks=[h.chunk.chunk_id for h in passages],
        retrieved_docs=[h.chunk.doc_id for h in passages],
        cited_docs=cited,
        contains=(answered and contains_answer(answer.text, item.answers)) if item.answerable else None,
        f1=(token_f1(answer.text, item.answers) if answered else 0.0) if item.answerable else None,
        latency_ms=round(latency_ms, 2),
        strength=None if answer.evidence is None else round(answer.evidence.strength, 4),
        p_answerable=None if answer.evidence is None else answer.evidence.p_answerable,
        evidence=None if answer.evidence is None else answer.evidence.to_dict(),
        follows=item.follows,
        conversation=item.conversation,
        turn=item.turn,
        follow_up=item.follow_up,
        resolved_question=answer.resolved_question,
        unanswerable=item.unanswerable,
    )
    short = answer.short_answer if answered else None
    shown = (short.english or short.text) if short is not None else ""
    record.short_answer = shown
    if short is not None:
        record.short_quote = next((c.quote for c in answer.citations
                                   if c.doc_id == short.doc_id and c.start <= short.start < c.end), "")
    if answer.query is not None:
        record.match_text = answer.query.lexical
    if item.answerable:
        # An English answer shows the rendering first and the Arabic span in its quote: a gold file may hold
        # either ("seven years", or XQuAD's Arabic spans for its English questions), so the better one counts.
        forms = [f for f in (shown, short.text if short is not None else "") if f]
        record.short_em = max((exact_match(f, item.answers) for f in forms), default=0.0)
        record.short_f1 = max((token_f1(f, item.answers) for f in forms), default=0.0)
        record.short_right = any(short_answer_right(f, item.answers) for f in forms)
    record.typed = question_type(item.question) in TYPED_VALUES
    if record.typed and item.lang == "en" and answered and item.answerable:
        record.short_in_english = bool(short is not None and short.english)
    record.failed = failed_checks(record)
    return record


def _share(flags: Iterable[bool]) -> float:
    """Share of true values; ``nan`` for none (``_share([True, False]) == 0.5``)."""
    return mean(float(f) for f in flags)


def aggregate(records: Sequence[QuestionRecord]) -> dict[str, Any]:
    """The metric groups of a report, from scored questions.

    ``answer.short_right`` is the share of answerable questions whose short answer is right (a refusal is not);
    ``refusals.share`` is the share of all questions refused and ``refusals.right`` the share of the refusals
    that were right (of unanswerable questions).

    Example: ``aggregate([r_hit_at_2, r_unanswerable_refused])["retrieval"]["mrr@10"] == 0.5``

    Args:
        records: Scored questions (any mix of languages, answerable and not).

    Returns:
        ``{"n", "retrieval": {hit@1, hit@3, hit@5, mrr@10, ndcg@10}, "answer": {contains, f1, median_chars},
        "citation": {precision, recall}, "abstention": {unanswerable_refused, answerable_refused},
        "latency_ms": {p50, p95}}``; a metric with no question to average over is ``nan``. The abstention
        group adds ``unanswerable_refused_article`` and ``unanswerable_refused_paragraph`` for each kind of
        unanswerable question the records hold (gold ``unanswerable``), so the two kinds read apart.
    """
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    answered = [r for r in answerable if not r.abstained]
    refused_by_kind = {
        f"unanswerable_refused_{kind}": _share(r.abstained for r in unanswerable if r.unanswerable == kind)
        for kind in UNANSWERABLE_KINDS
        if any(r.unanswerable == kind for r in unanswerable)
    }
    return {
        "n": len(records),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "retrieval": {
            "hit@1": mean(hit_at_k(r.relevant, 1) for r in answerable),
            "hit@3": mean(hit_at_k(r.relevant, 3) for r in answerable),
            "hit@5": mean(hit_at_k(r.relevant, 5) for r in answerable),
            "mrr@10": mean(reciprocal_rank(r.relevant, 10) for r in answerable),
            "ndcg@10": mean(ndcg_at_k(r.relevant, 10) for r in answerable),
        },
        "answer": {
            "contains": _share(bool(r.contains) for r in answerable),
            "f1": mean(r.f1 for r in answerable),
            "median_chars": percentile([len(r.answer) for r in answerable], 50),
            "short_em": mean(r.short_em for r in answerable),
            "short_f1": mean(r.short_f1 for r in answerable),
            "short_right": mean(r.short_right for r in answerable),
            "short_in_english": _share(bool(r.short_in_english) for r in records if r.short_in_english is not None),
        },
        "citation": {
            "precision": mean(citation_precision(r.cited_docs, r.sources) for r in answered),
            "recall": _share(citation_hit(r.cited_docs, r.sources) for r in answerable),
        },
        "abstention": {
            "unanswerable_refused": _share(r.abstained for r in unanswerable),
            **refused_by_kind,
            "answerable_refused": _share(r.abstained for r in answerable),
        },
        "refusals": {
            "share": _share(r.abstained for r in records),
            "right": _share(not r.answerable for r in records if r.abstained),
        },
        "latency_ms": {
            "p50": percentile([r.latency_ms for r in records], 50),
            "p95": percentile([r.latency_ms for r in records], 95),
        },
    }


def abstention_sweep(records: Sequence[QuestionRecord], thresholds: Iterable[float]) -> list[dict[str, float]]:
    """Refusal rates if the answer abstained below each threshold of the refusal model's probability.

    Records without one are left out. A question abstains at threshold t when ``p_answerable < t``,
    as in ``ExtractiveAnswerer.decide`` (its hard rules aside).

    Example: ``abstention_sweep([r(p_answerable=0.9, answerable=False)], [1.0])[0]["unanswerable_refused"] == 1.0``

    Args:
        records: Scored questions.
        thresholds: Candidate thresholds.

    Returns:
        One ``{"threshold", "unanswerable_refused", "answerable_refused", "balanced"}`` per threshold, where
        ``balanced`` is the mean of ``unanswerable_refused`` and ``1 - answerable_refused``.
    """
    scored = [(r.p_answerable, r.answerable) for r in records if r.p_answerable is not None]
    out = []
    for t in thresholds:
        unans = _share(s < t for s, answerable in scored if not answerable)
        ans = _share(s < t for s, answerable in scored if answerable)
        out.append({
            "threshold": round(float(t), 4),
            "unanswerable_refused": unans,
            "answerable_refused": ans,
            "balanced": (unans + 1 - ans) / 2,
        })
    return out


def calibrate_abstention(records: Sequence[QuestionRecord], current: float | None = None) -> dict[str, Any]:
    """The threshold on the refusal model's probability that best separates answerable from unanswerable
    questions on this set.

    Only the probability is swept: the answerer's hard rules (an unknown Latin name, "what did X say"
    with nothing quoted) are not modelled, so the rates are those of the threshold alone. Candidates are the
    midpoints between consecutive observed strengths (and one step beyond each end); the best maximizes
    ``balanced`` (ties: the lowest threshold, which refuses least). Tuned on the gold set, so it is
    optimistic for unseen questions: treat it as a direction, not a value to copy blindly.

    Example: ``calibrate_abstention([ans(0.95), unans(0.85)])["best"]["threshold"] == 0.9``

    Args:
        records: Scored questions with ``p_answerable`` (others are ignored).
        current: The threshold in use, to report its rates alongside.

    Returns:
        ``{"n", "current": {...} | None, "best": {...} | None}`` with rates as in ``abstention_sweep``.
    """
    strengths = sorted({r.p_answerable for r in records if r.p_answerable is not None})
    if not strengths:
        return {"n": 0, "current": None, "best": None}
    candidates = [strengths[0] - 0.01] + [(a + b) / 2 for a, b in zip(strengths[:-1], strengths[1:], strict=True)]
    candidates.append(strengths[-1] + 0.01)
    sweep = abstention_sweep(records, candidates)
    best = max(sweep, key=lambda s: (-1.0 if math.isnan(s["balanced"]) else s["balanced"], -s["threshold"]))
    return {
        "n": sum(r.p_answerable is not None for r in records),
        "current": abstention_sweep(records, [current])[0] if current is not None else None,
        "best": best,
    }


def build_report(records: Sequence[QuestionRecord], *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full evaluation report: overall metrics, per language, per position in a conversation (first turns
    and follow-ups, each also per language), calibration and per-question records.

    ``meta`` is kept as given; its ``refusal_threshold`` (language -> the refusal model's threshold) feeds the
    per-language ``calibration``.

    Example: ``build_report(records)["by_language"]["ar"]["n"] == sum(r.lang == "ar" for r in records)``
    """
    report = aggregate(records)
    report["by_language"] = {lang: aggregate([r for r in records if r.lang == lang]) for lang in LANGUAGES}
    report["by_position"] = {}
    for position in POSITIONS:
        group = [r for r in records if r.follow_up == (position == "follow_up")]
        report["by_position"][position] = aggregate(group)
        report["by_position"][position]["by_language"] = {
            lang: aggregate([r for r in group if r.lang == lang]) for lang in LANGUAGES
        }
    meta = dict(meta or {})
    current = meta.get("refusal_threshold") or {}
    # Per language, as the refusal model's thresholds are: cross-lingual questions meet other evidence.
    report["calibration"] = {
        lang: calibrate_abstention([r for r in records if r.lang == lang], current.get(lang)) for lang in LANGUAGES
    }
    report["meta"] = meta
    report["questions"] = [r.to_dict() for r in records]
    return report


def evaluate(
    pipeline: Pipeline,
    items: Sequence[GoldItem],
    *,
    k: int | None = None,
    backend: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Ask every gold question through ``pipeline`` and build the report.

    A conversation's turn is asked with the history the chat passes: ``[(question, answer text)]`` of every
    earlier turn of its conversation, in order. A ``follows`` line is asked with the history
    ``[(earlier question, earlier answer text)]`` of the question it follows.

    Args:
        pipeline: A loaded pipeline.
        items: Validated gold items, in file order (a follow-up comes after what it follows, a conversation's
            turns in order).
        k: Passages handed to the answer stage; defaults to the configured ``k``.
        backend: Answer backend; defaults to the configured one.
        progress: Show a progress bar.

    Returns:
        The report (see ``build_report``), with ``meta`` naming k, backend and the model.
    """
    from tqdm import tqdm

    k = k or pipeline.settings.k
    backend = backend or pipeline.settings.backend
    depth = max(RETRIEVAL_DEPTH, k)
    answers: dict[str, Answer] = {}
    chats: dict[str, list[tuple[str, str]]] = {}
    records: list[QuestionRecord] = []
    for item in tqdm(items, desc="eval", unit="q", disable=not progress):
        history: list[tuple[str, str]] = []
        if item.conversation is not None:
            history = list(chats.setdefault(item.conversation, []))
        elif item.follows is not None:
            previous = answers[item.follows]
            history = [(previous.question, previous.text)]
        t0 = time.perf_counter()
        answer = pipeline.ask(item.question, history=history, k=k, backend=backend)
        latency_ms = (time.perf_counter() - t0) * 1000
        answers[item.id] = answer
        if item.conversation is not None:
            # As the chat keeps a turn: the question as typed and the answer's whole text.
            chats[item.conversation].append((item.question, answer.text))
        # The same prepared query, retrieved deeper for the @10 metrics (untimed).
        passages = pipeline.retrieve(answer.query, depth) if answer.query is not None else answer.passages
        records.append(score_question(item, answer, passages, latency_ms))
        log.debug("%s: %s", item.id, records[-1].failed or "ok")
    refusal = getattr(pipeline.answerer("extractive"), "refusal", pipeline.profile.refusal_model)
    meta = {"k": k, "backend": backend, "model": pipeline.settings.model,
            "reader": pipeline.reader.name if pipeline.reader is not None else None,
            "refusal_threshold": dict(refusal.threshold),
            "profile": list(pipeline.profile.calibrated_on)}
    return build_report(records, meta=meta)
