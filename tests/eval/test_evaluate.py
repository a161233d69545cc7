"""Evaluation scoring against hand-worked values, and ``evaluate`` on the real pipeline over the seed articles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.eval.evaluate import (
    QuestionRecord,
    abstention_sweep,
    aggregate,
    build_report,
    calibrate_abstention,
    failed_checks,
    passage_relevance,
    score_question,
)
from rag.eval.gold import GoldItem, load_gold
from rag.types import Answer, Chunk, Citation, Evidence, Hit, ShortAnswer

ROOT = Path(__file__).resolve().parents[2]
GOLD = ROOT / "seeds" / "gold_qa.jsonl"


def _record(
    id: str, lang: str, *, answerable: bool = True, relevant: list[bool] | None = None, abstained: bool = False,
    contains: bool | None = None, f1: float | None = None, cited: list[str] | None = None,
    sources: list[str] | None = None, latency: float = 0.0, answer: str = "", p: float | None = None,
) -> QuestionRecord:
    return QuestionRecord(
        id=id, lang=lang, question=f"question {id}", answerable=answerable,
        answers=["x"] if answerable else [], sources=(sources or ["a"]) if answerable else [],
        answer=answer, abstained=abstained, relevant=relevant or [], retrieved_chunks=[], retrieved_docs=[],
        cited_docs=cited or [], contains=contains if answerable else None, f1=f1 if answerable else None,
        latency_ms=latency, p_answerable=p,
    )


@pytest.fixture()
def records() -> list[QuestionRecord]:
    """Five questions whose metrics are worked out by hand in the tests below."""
    return [
        # Arabic, answerable: first relevant passage at rank 2; cites a source and a non-source.
        _record("r1", "ar", relevant=[False, True, False], contains=True, f1=0.5, cited=["a", "b"],
                latency=10, answer="x" * 10),
        # Arabic, answerable, refused, nothing relevant retrieved.
        _record("r2", "ar", relevant=[False] * 10, abstained=True, contains=False, f1=0.0, latency=30,
                answer="y" * 30),
        # English, answerable: relevant at ranks 1 and 2; answer misses the gold text but cites the source.
        _record("r3", "en", relevant=[True, True], contains=False, f1=0.25, cited=["c"], sources=["c"],
                latency=20, answer="z" * 20),
        # English, unanswerable, refused.
        _record("r4", "en", answerable=False, abstained=True, latency=40),
        # Arabic, unanswerable, answered anyway.
        _record("r5", "ar", answerable=False, abstained=False, latency=50),
    ]


def test_aggregate_overall_hand_worked(records: list[QuestionRecord]) -> None:
    m = aggregate(records)
    assert (m["n"], m["n_answerable"], m["n_unanswerable"]) == (5, 3, 2)
    r = m["retrieval"]
    assert r["hit@1"] == pytest.approx(1 / 3)  # only r3
    assert r["hit@3"] == pytest.approx(2 / 3)  # r1 and r3
    assert r["hit@5"] == pytest.approx(2 / 3)
    assert r["mrr@10"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    # r1: DCG 1/log2(3), ideal 1; r2: 0; r3: both relevant in the ideal order -> 1.
    assert r["ndcg@10"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    assert {k: m["answer"][k] for k in ("contains", "f1", "median_chars")} == {
        "contains": pytest.approx(1 / 3), "f1": pytest.approx(0.25), "median_chars": 20.0}
    # Records made by hand carry no short-answer score: undefined, not zero.
    assert all(math.isnan(m["answer"][k]) for k in ("short_em", "short_f1", "short_in_english"))
    # Precision over answered answerable questions: r1 1/2, r3 1 -> 0.75; recall: r1 and r3 of three.
    assert m["citation"] == {"precision": pytest.approx(0.75), "recall": pytest.approx(2 / 3)}
    assert m["abstention"] == {"unanswerable_refused": 0.5, "answerable_refused": pytest.approx(1 / 3)}
    # numpy's linear percentile over [10, 20, 30, 40, 50]: p95 sits at index 3.8 -> 40 + 0.8 * 10.
    assert m["latency_ms"] == {"p50": 30.0, "p95": pytest.approx(48.0)}


def test_aggregate_per_language_hand_worked(records: list[QuestionRecord]) -> None:
    report = build_report(records)
    ar, en = report["by_language"]["ar"], report["by_language"]["en"]
    assert ar["n"] == 3 and en["n"] == 2
    assert ar["retrieval"]["hit@1"] == 0.0 and ar["retrieval"]["hit@3"] == 0.5
    assert ar["retrieval"]["mrr@10"] == pytest.approx(0.25)
    assert ar["abstention"] == {"unanswerable_refused": 0.0, "answerable_refused": 0.5}
    assert ar["citation"]["precision"] == 0.5 and ar["citation"]["recall"] == 0.5
    assert ar["latency_ms"]["p50"] == 30.0
    assert en["retrieval"]["hit@1"] == 1.0 and en["answer"]["contains"] == 0.0
    assert en["abstention"] == {"unanswerable_refused": 1.0, "answerable_refused": 0.0}
    assert en["citation"]["precision"] == 1.0
    assert [q["id"] for q in report["questions"]] == ["r1", "r2", "r3", "r4", "r5"]


def test_aggregate_empty_groups_are_nan_not_zero() -> None:
    m = aggregate([_record("u", "en", answerable=False, abstained=True, latency=5)])
    assert math.isnan(m["retrieval"]["hit@1"]) and math.isnan(m["answer"]["contains"])
    assert math.isnan(m["citation"]["precision"]) and math.isnan(m["abstention"]["answerable_refused"])
    assert m["abstention"]["unanswerable_refused"] == 1.0
    empty = aggregate([])
    assert empty["n"] == 0 and math.isnan(empty["latency_ms"]["p50"])


def test_refusals_are_reported_per_kind_of_unanswerable_question() -> None:
    item = GoldItem("ar-u", "ar", "كم سعر السهم؟", (), (), (), unanswerable="paragraph")
    refused = Answer(item.question, "ar", "لم أجد", True, [])
    assert score_question(item, refused, [], 1.0).unanswerable == "paragraph"
    recs = [_record("a1", "ar", answerable=False, abstained=True), _record("a2", "ar", answerable=False),
            _record("p1", "en", answerable=False, abstained=True), _record("s1", "ar", answerable=False)]
    for record, kind in zip(recs, ["article", "article", "paragraph", None], strict=True):
        record.unanswerable = kind
    report = build_report(recs)
    # 2 of 4 refused; held-out articles 1 of 2, paragraphs 1 of 1; the unmarked one counts only overall.
    abstention = report["abstention"]
    assert list(abstention) == ["unanswerable_refused", "unanswerable_refused_article",
                                "unanswerable_refused_paragraph", "answerable_refused"]
    assert (abstention["unanswerable_refused"], abstention["unanswerable_refused_article"],
            abstention["unanswerable_refused_paragraph"]) == (0.5, 0.5, 1.0)
    assert report["by_language"]["ar"]["abstention"]["unanswerable_refused_article"] == 0.5
    assert "unanswerable_refused_paragraph" not in report["by_language"]["ar"]["abstention"]
    assert report["by_language"]["en"]["abstention"]["unanswerable_refused_paragraph"] == 1.0
    # Records of hand-written gold files, which do not say why, add nothing.
    assert set(aggregate(recs[3:])["abstention"]) == {"unanswerable_refused", "answerable_refused"}


def test_failed_checks() -> None:
    ok = _record("ok", "ar", relevant=[True], contains=True, cited=["a"])
    assert failed_checks(ok) == []
    bad = _record("bad", "ar", relevant=[False] * 5 + [True], abstained=True, contains=False)
    assert failed_checks(bad) == ["refused", "retrieval@5", "contains", "citation"]
    assert failed_checks(_record("u", "en", answerable=False, abstained=False)) == ["not_refused"]
    assert failed_checks(_record("u", "en", answerable=False, abstained=True)) == []


def _chunk(doc_id: str, ordinal: int, text: str) -> Chunk:
    return Chunk(f"{doc_id}#{ordinal}", doc_id, ordinal, text, 0, len(text), ((0, len(text)),))


def test_passage_relevance_counts_folded_duplicates_and_collapses_whitespace() -> None:
    plain = Hit(_chunk("a.txt", 0, "قال الوزير\nإن الصفقة  تمت"), 0.1)
    folded = Hit(_chunk("b.txt", 0, "لا شيء هنا"), 0.1, duplicates=[_chunk("c.txt", 0, "بلغت 38 مليار دولار")])
    other = Hit(_chunk("d.txt", 0, "نص آخر"), 0.1)
    assert passage_relevance([plain, folded, other], ["الصفقة تمت", "38 مليار دولار"]) == [True, True, False]


def test_score_question_abstained_answer_gets_no_credit() -> None:
    item = GoldItem("ar-9", "ar", "كم قيمة الصفقة؟", ("38 مليار",), ("a.txt",), ("38 مليار دولار",))
    hits = [Hit(_chunk("b.txt", 0, "لا شيء"), 0.2), Hit(_chunk("a.txt", 0, "بلغت 38 مليار دولار"), 0.1)]
    citation = Citation(1, "a.txt", "t", "بلغت 38 مليار دولار", 0, 19, 0.5, "a.txt#0")
    # The abstention text shows the closest passage, which happens to hold the answer.
    refused = Answer("كم قيمة الصفقة؟", "ar", "لم أجد ... «بلغت 38 مليار دولار» [1]", True, [citation],
                     evidence=Evidence(strength=0.91234, p_answerable=0.2, reason="weak"))
    rec = score_question(item, refused, hits, 12.345)
    assert rec.contains is False and rec.f1 == 0.0 and rec.cited_docs == []
    assert rec.relevant == [False, True] and rec.retrieved_docs == ["b.txt", "a.txt"]
    assert rec.failed == ["refused", "contains", "citation"]
    assert rec.latency_ms == 12.35 and rec.strength == 0.9123 and rec.p_answerable == 0.2
    assert rec.evidence is not None and rec.evidence["reason"] == "weak"  # what rag calibrate fits on

    answered = Answer("كم قيمة الصفقة؟", "ar", "بحسب المقالات:\n«بلغت 38 مليار دولار» [1]", False, [citation])
    rec = score_question(item, answered, hits, 5.0)
    assert rec.contains is True and 0 < rec.f1 < 1 and rec.cited_docs == ["a.txt"] and rec.failed == []
    assert rec.short_quote == "" and rec.short_f1 == 0.0  # no short answer

    # The quote a short answer came from is recorded: rag calibrate fits the span model on it.
    other = Citation(2, "b.txt", "t", "لا شيء", 0, 6, 0.1, "b.txt#0")
    short = ShortAnswer("38 مليار دولار", "a.txt", 5, 19)
    with_short = Answer("كم قيمة الصفقة؟", "ar", "بحسب المقالات:\n«بلغت 38 مليار دولار» [1]", False,
                        [other, citation], short_answer=short)
    rec = score_question(item, with_short, hits, 5.0)
    assert rec.short_quote == "بلغت 38 مليار دولار" and rec.short_answer == "38 مليار دولار"
    assert rec.short_em == 0.0 and rec.short_f1 == pytest.approx(0.8)  # 2 of 3 words, all of the gold
    assert rec.match_text == ""  # no prepared query in this hand-made answer


def test_abstention_sweep_and_calibration_hand_worked() -> None:
    recs = [
        _record("a1", "ar", p=0.95), _record("a2", "ar", p=0.97),
        _record("u1", "ar", answerable=False, p=0.85), _record("u2", "en", answerable=False, p=0.96),
        _record("nostrength", "en"),
    ]
    (row,) = abstention_sweep(recs, [0.955])
    assert row == {"threshold": 0.955, "unanswerable_refused": 0.5, "answerable_refused": 0.5, "balanced": 0.5}
    cal = calibrate_abstention(recs, current=0.93)
    assert cal["n"] == 4
    assert cal["current"]["unanswerable_refused"] == 0.5 and cal["current"]["answerable_refused"] == 0.0
    # Candidates 0.84, 0.90, 0.955, 0.965, 0.98: 0.90 and 0.965 both balance 0.75; the lower refuses less.
    assert cal["best"]["threshold"] == 0.9 and cal["best"]["balanced"] == 0.75
    assert calibrate_abstention([_record("x", "ar")]) == {"n": 0, "current": None, "best": None}


# --- the real pipeline on the seed articles ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    from rag.config import Settings
    from rag.pipeline import Pipeline

    settings = Settings(corpus_dir=ROOT / "seeds", index_dir=tmp_path_factory.mktemp("index"))
    return Pipeline.load(settings, build_if_missing=True)


@pytest.mark.slow
def test_evaluate_on_seed_subset(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.eval.evaluate import evaluate
    from rag.eval.report import to_json

    calls: list[tuple[str, dict]] = []
    ask = pipeline.ask

    def spy(question: str, **kwargs):
        calls.append((question, kwargs))
        return ask(question, **kwargs)

    monkeypatch.setattr(pipeline, "ask", spy)
    by_id = {i.id: i for i in load_gold(GOLD)}
    picked = [by_id[i] for i in ("ar-001", "ar-fu-01a", "ar-fu-01b", "en-fu-01a", "en-fu-01b", "ar-un-01")]
    report = evaluate(pipeline, picked, k=3)
    assert report["n"] == 6 and report["meta"]["k"] == 3
    assert set(report["by_language"]) == {"ar", "en"} and report["by_language"]["en"]["n"] == 2
    questions = {q["id"]: q for q in report["questions"]}
    # Same path as the chat, with the user's k; a follow-up carries the previous turn as history.
    assert [c[1]["k"] for c in calls] == [3] * 6
    assert calls[4][1]["history"] == [(by_id["en-fu-01a"].question, questions["en-fu-01a"]["answer"])]
    assert calls[0][1]["history"] == []
    # Retrieval is scored on ten passages (or as many as there are) although the answer saw three.
    assert all(len(q["retrieved_chunks"]) > 3 for q in questions.values())
    assert True in questions["ar-001"]["relevant"][:5]
    assert questions["ar-un-01"]["relevant"] == [] and questions["ar-un-01"]["contains"] is None
    assert all(q["strength"] is not None and 0 <= q["p_answerable"] <= 1 for q in questions.values())
    assert all(q["latency_ms"] > 0 for q in questions.values())
    json.loads(to_json(report))  # strict JSON: NaN became null


def test_the_short_answer_is_scored_by_exact_match_and_f1_and_english_typed_values_counted():
    from rag.types import Answer, ShortAnswer

    item = GoldItem(id="en-1", lang="en", question="How many years does the deal last?", answers=("seven years", "7"),
                    sources=("a.txt",), evidence=("سبع سنوات",))
    short = ShortAnswer("سبع سنوات", "a.txt", 0, 9, "seven years")
    answer = Answer(item.question, "en", "According to the articles: «سبع سنوات» [1]", False, short_answer=short)
    record = score_question(item, answer, [], 10.0)
    assert (record.short_answer, record.short_em, record.short_f1) == ("seven years", 1.0, 1.0)
    assert record.typed and record.short_in_english is True
    arabic_only = Answer(item.question, "en", "«سبع سنوات» [1]", False,
                         short_answer=ShortAnswer("سبع سنوات", "a.txt", 0, 9, None))
    record = score_question(item, arabic_only, [], 10.0)
    assert record.short_em == 0.0 and record.short_in_english is False
    # A gold file of Arabic spans (XQuAD's English questions): the rendering misses, the span it renders counts.
    arabic_gold = GoldItem(id="en-2", lang="en", question=item.question, answers=("سبع سنوات",),
                           sources=("a.txt",), evidence=("سبع سنوات",))
    both = score_question(arabic_gold, answer, [], 10.0)
    assert (both.short_answer, both.short_em, both.short_f1) == ("seven years", 1.0, 1.0)
    refused = score_question(item, Answer(item.question, "en", "I couldn't find this.", True), [], 10.0)
    assert refused.short_em == 0.0 and refused.short_in_english is None
    report = aggregate([record, refused])
    assert report["answer"]["short_em"] == 0.0 and report["answer"]["short_in_english"] == 0.0
