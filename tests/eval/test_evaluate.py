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


# --- conversations: short answer right, refusals, first turns and follow-ups ------------------------------


def test_short_right_is_scored_on_the_rendering_or_the_span_and_refusals_counted() -> None:
    item = GoldItem("c.2", "en", "And how long?", ("سبع سنوات",), ("a.txt",), ("مدتها سبع سنوات",),
                    conversation="c", turn=2)
    rendered = Answer(item.question, "en", "«سبع سنوات» [1]", False,
                      short_answer=ShortAnswer("سبع سنوات", "a.txt", 0, 9, "seven years"),
                      resolved_question="How long is the Amazon OpenAI deal?")
    record = score_question(item, rendered, [], 1.0)
    # "seven years" holds no gold answer; the Arabic span it renders is one (F1 1.0): right.
    assert record.short_right is True
    assert record.resolved_question == "How long is the Amazon OpenAI deal?"
    assert (record.conversation, record.turn, record.follow_up) == ("c", 2, True)
    # The previous turn's amount answered again: no gold answer inside.
    stale = Answer(item.question, "en", "«38 مليار دولار» [1]", False,
                   short_answer=ShortAnswer("38 مليار دولار", "a.txt", 0, 14, "$38 billion"))
    assert score_question(item, stale, [], 1.0).short_right is False
    assert score_question(item, Answer(item.question, "en", "I couldn't find it.", True), [], 1.0).short_right is False
    unanswerable = GoldItem("u", "ar", "من اشتراها؟", (), (), ())
    assert score_question(unanswerable, stale, [], 1.0).short_right is None


def test_refusals_share_and_right_hand_worked(records: list[QuestionRecord]) -> None:
    m = aggregate(records)
    # r2 (answerable) and r4 (unanswerable) refused: 2 of 5 questions; 1 of the 2 refusals right.
    assert m["refusals"] == {"share": pytest.approx(2 / 5), "right": 0.5}
    report = build_report(records)
    assert report["by_language"]["en"]["refusals"] == {"share": 0.5, "right": 1.0}  # r4 of r3, r4
    assert report["by_language"]["ar"]["refusals"] == {"share": pytest.approx(1 / 3), "right": 0.0}  # r2
    # Hand-made records carry no short-answer verdict: undefined, not zero.
    assert math.isnan(m["answer"]["short_right"])
    records[0].short_right, records[1].short_right, records[2].short_right = True, False, False
    assert aggregate(records)["answer"]["short_right"] == pytest.approx(1 / 3)


def test_first_turns_and_follow_ups_are_reported_apart_and_per_language(records: list[QuestionRecord]) -> None:
    records[2].follow_up = records[4].follow_up = True  # r3 (en, answerable), r5 (ar, unanswerable, answered)
    report = build_report(records)
    first, follow_up = report["by_position"]["first"], report["by_position"]["follow_up"]
    assert (first["n"], follow_up["n"]) == (3, 2)
    # First turns r1, r2 answerable (hit@1 0, 0), r4 refused rightly; follow-ups r3 (hit@1 1) and r5.
    assert first["retrieval"]["hit@1"] == 0.0 and follow_up["retrieval"]["hit@1"] == 1.0
    assert first["abstention"]["unanswerable_refused"] == 1.0 and follow_up["abstention"]["unanswerable_refused"] == 0
    assert first["refusals"] == {"share": pytest.approx(2 / 3), "right": 0.5}
    assert follow_up["refusals"]["share"] == 0.0 and math.isnan(follow_up["refusals"]["right"])
    assert follow_up["by_language"]["en"]["n"] == 1 and follow_up["by_language"]["ar"]["n"] == 1
    assert first["by_language"]["ar"]["abstention"]["answerable_refused"] == 0.5  # r2 of r1, r2
    assert report["n"] == 5  # the overall figures are unchanged by positions
    assert build_report(records[:2])["by_position"]["follow_up"]["n"] == 0


class _ChatSpy:
    """A pipeline stand-in for ``evaluate``: answers each question with its number, keeps each history."""

    def __init__(self) -> None:
        from rag.config import Settings
        from rag.profile import Profile

        self.settings = Settings()
        self.profile = Profile()
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        self.reader = None  # what the report's meta reads besides the settings and profile

    def answerer(self, name: str | None = None) -> None:
        return None

    def ask(self, question: str, *, history, k, backend) -> Answer:
        self.calls.append((question, list(history)))
        abstained = question.endswith("!")
        return Answer(question, "ar", f"answer {len(self.calls)}", abstained, [])

    def retrieve(self, query, k):  # pragma: no cover - the answers above carry no query
        raise AssertionError("not called without a query")


def test_evaluate_asks_each_turn_with_every_earlier_turn_of_its_conversation() -> None:
    from rag.eval.evaluate import evaluate

    def turn(conversation: str | None, n: int, question: str, *, follows: str | None = None) -> GoldItem:
        item_id = f"{conversation}.{n}" if conversation else question
        return GoldItem(item_id, "ar", question, ("x",), ("a.txt",), ("x y",), follows, None, conversation, n)

    items = [turn("c1", 1, "q1"), turn("c1", 2, "q2!"), turn("c2", 1, "p1"), turn("c1", 3, "q3"),
             turn(None, 0, "single"), turn(None, 0, "after", follows="single"), turn("c2", 2, "p2")]
    spy = _ChatSpy()
    report = evaluate(spy, items, k=3)  # type: ignore[arg-type]
    histories = dict(spy.calls)
    assert histories["q1"] == [] and histories["p1"] == [] and histories["single"] == []
    # A refused turn stays in the history with its text, as in the chat; conversations do not mix.
    assert histories["q3"] == [("q1", "answer 1"), ("q2!", "answer 2")]
    assert histories["p2"] == [("p1", "answer 3")]
    assert histories["after"] == [("single", "answer 5")]
    positions = [(q["id"], q["follow_up"]) for q in report["questions"]]
    assert positions == [("c1.1", False), ("c1.2", True), ("c2.1", False), ("c1.3", True), ("single", False),
                         ("after", True), ("c2.2", True)]
    assert report["by_position"]["follow_up"]["n"] == 4
    assert report["by_position"]["follow_up"]["abstention"]["answerable_refused"] == 0.25


@pytest.mark.slow
def test_evaluate_passes_the_history_the_chat_passes(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """One conversation through the Gradio chat's handler and through ``evaluate``: the same questions reach
    the pipeline with the same histories (and so get the same answers)."""
    from rag.app.ui import ChatHandlers
    from rag.eval.evaluate import evaluate

    conversation = [i for i in load_gold(ROOT / "seeds" / "conversations.jsonl") if i.conversation == "ar-01"]
    assert len(conversation) >= 2
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    stream = pipeline.ask_stream

    def spy(question: str, **kwargs):
        seen.append((question, list(kwargs.get("history") or [])))
        return stream(question, **kwargs)

    monkeypatch.setattr(pipeline, "ask_stream", spy)
    chat = ChatHandlers(pipeline)
    messages: list = []
    turns: dict = {}
    for item in conversation:
        for update in chat.respond(item.question, messages, turns, 5, "extractive"):
            _, messages, turns = update[:3]
    in_chat, seen[:] = list(seen), []
    report = evaluate(pipeline, conversation, k=5, backend="extractive")
    assert seen == in_chat
    assert [q["answer"] for q in report["questions"]] == [t["answer"] for _, t in sorted(turns.items())]
