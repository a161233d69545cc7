"""rag.app.feedback: one parseable UTF-8 JSON line per vote, even with many threads voting at once."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest

from rag.app.feedback import append_feedback
from rag.types import Citation

CITATION = Citation(1, "000.txt", "OpenAI تتعاون مع أمازون", "بقيمة 38 مليار دولار", 10, 30, 1.25, "000.txt#0")


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_appends_one_line_per_vote_creating_parent_folders(tmp_path):
    path = tmp_path / "deep" / "er" / "feedback.jsonl"
    append_feedback(path, "ما قيمة الصفقة؟", "بحسب المقالات: «بقيمة 38 مليار دولار» [1]", [CITATION], "up")
    append_feedback(path, "How long?", "Seven years [1]", [CITATION.to_dict()], "down")
    first, second = read_lines(path)
    assert first == {
        "question": "ما قيمة الصفقة؟",
        "answer": "بحسب المقالات: «بقيمة 38 مليار دولار» [1]",
        "citations": [CITATION.to_dict()],
        "vote": "up",
        "time": first["time"],
    }
    assert second["vote"] == "down" and second["citations"] == [CITATION.to_dict()]
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert "ما قيمة الصفقة" in path.read_text(encoding="utf-8")  # ensure_ascii=False: Arabic kept readable


def test_rejects_an_unknown_vote(tmp_path):
    with pytest.raises(ValueError, match="'meh'"):
        append_feedback(tmp_path / "f.jsonl", "q", "a", [], "meh")
    assert not (tmp_path / "f.jsonl").exists()


def test_concurrent_appends_from_threads_give_valid_lines(tmp_path):
    path = tmp_path / "feedback.jsonl"
    threads_n, per_thread = 8, 40
    long_answer = "«" + "نص طويل جدًا " * 400 + "» [1]"  # lines longer than a write buffer
    start = threading.Barrier(threads_n)

    def vote(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            append_feedback(path, f"q{t}-{i}", long_answer, [CITATION], "up" if i % 2 else "down")

    threads = [threading.Thread(target=vote, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    records = read_lines(path)
    assert len(records) == threads_n * per_thread
    assert {r["question"] for r in records} == {f"q{t}-{i}" for t in range(threads_n) for i in range(per_thread)}
    assert all(r["answer"] == long_answer for r in records)


# --- export to draft gold lines -------------------------------------------------------------------------------


def test_thumbs_up_answers_become_gold_lines_that_load_and_whose_evidence_is_in_the_articles(tmp_path):
    from rag.app.feedback import export_gold
    from rag.eval.gold import check_evidence, load_gold
    from rag.ingest.load import load_corpus

    docs, _ = load_corpus("seeds")
    doc = docs[0]
    start = doc.text.index("أعلنت شركتا")
    end = doc.text.index("(AWS).", start) + len("(AWS).")
    cit = Citation(1, doc.doc_id, doc.title, doc.text[start:end], start, end, 1.2, doc.doc_id + "#0")
    path = tmp_path / "feedback.jsonl"
    append_feedback(path, "ما قيمة الاتفاقية؟", "بحسب المقالات: «…» [1]", [cit], "up", abstained=False)
    append_feedback(path, "ما قيمة الاتفاقية؟", "again", [cit], "up")  # the same question again
    append_feedback(path, "How long is it?", "…", [cit], "down")
    append_feedback(path, "Who won the match?", "I did not find it", [cit], "up", abstained=True)
    append_feedback(path, "What about chips?", "According to the articles: «…» [1]", [cit], "up")
    with path.open("a", encoding="utf-8") as f:
        f.write("not json\n")
    out = tmp_path / "drafts" / "gold.jsonl"
    assert export_gold(path, out) == (2, 3)
    items = load_gold(out)
    assert [(i.id, i.lang, i.question) for i in items] == [
        ("fb-0001", "ar", "ما قيمة الاتفاقية؟"), ("fb-0002", "en", "What about chips?")]
    assert items[0].sources == (doc.doc_id,) and items[0].evidence == (doc.text[start:end],)
    assert check_evidence(items, {d.doc_id: d.text for d in docs}) == []


def test_export_of_a_missing_feedback_file_says_where_votes_come_from(tmp_path):
    from rag.app.feedback import export_gold
    from rag.errors import RagError

    with pytest.raises(RagError, match="no feedback file yet"):
        export_gold(tmp_path / "none.jsonl", tmp_path / "gold.jsonl")


# --- bounds: one vote per answer per session, rate limits, capped fields, rotation, escaping ---------------------


def test_one_client_voting_200_times_on_one_answer_records_one_line(tmp_path):
    from rag.app.feedback import FeedbackLog

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    written = [log.record("session-1", "ما قيمة الصفقة؟", "38 مليار [1]", [CITATION], "up", answer_key="1")
               for _ in range(200)]
    assert sum(w is not None for w in written) == 1
    assert len(read_lines(tmp_path / "feedback.jsonl")) == 1
    # Another answer of the same session, and the same answer in another session, still count.
    assert log.record("session-1", "q2", "a2", [], "down", answer_key="3") is not None
    assert log.record("session-2", "ما قيمة الصفقة؟", "38 مليار [1]", [], "up", answer_key="1") is not None


def test_rate_limits_per_session_and_overall_with_a_clock(tmp_path):
    from rag.app.feedback import FeedbackLog

    now = [0.0]
    log = FeedbackLog(tmp_path / "f.jsonl", session_per_minute=3, total_per_minute=5, clock=lambda: now[0])
    results = [log.record("s", f"q{i}", "a", [], "up") is not None for i in range(5)]
    assert results == [True, True, True, False, False]
    assert [log.record(f"other{i}", "q", "a", [], "up") is not None for i in range(3)] == [True, True, False]
    now[0] = 61.0  # a minute later the window has moved on
    assert log.record("s", "q9", "a", [], "up") is not None
    assert len(read_lines(tmp_path / "f.jsonl")) == 6


def test_fields_are_capped_and_the_log_rotates_within_its_size(tmp_path):
    from rag.app.feedback import MAX_FIELD_CHARS, append_feedback

    path = tmp_path / "feedback.jsonl"
    record = append_feedback(path, "q" * 50_000, "a" * 50_000, [CITATION] * 100, "up")
    assert len(record["question"]) == len(record["answer"]) == MAX_FIELD_CHARS and len(record["citations"]) == 20
    for i in range(60):
        append_feedback(path, f"question {i}", "answer " * 100, [], "down", max_bytes=10_000, backups=2)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["feedback.jsonl", "feedback.jsonl.1", "feedback.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 10_000 for f in files)
    assert read_lines(path)[-1]["question"] == "question 59"  # the newest vote is in the live file


def test_control_bidi_and_separator_characters_are_stored_escaped(tmp_path):
    path = tmp_path / "feedback.jsonl"
    question = "ما\u202e قيمة\u2066 الصفقة\u2028؟\u200b\x7f\x85\x1b[2J"
    append_feedback(path, question, "answer\u2029", [], "up")
    raw = path.read_text(encoding="utf-8")
    for ch in "\u202e\u2066\u2028\u2029\u200b\x7f\x85\x1b":
        assert ch not in raw
    assert "\\u202e" in raw and "\\u2028" in raw and "ما" in raw  # Arabic still readable
    assert read_lines(path)[0]["question"] == question  # the JSON value is unchanged


def test_export_reads_the_rotated_files_too_oldest_first(tmp_path):
    from rag.app.feedback import export_gold, rotated_files

    def line(question: str) -> str:
        cite = {"n": 1, "doc_id": "a.txt", "title": "t", "quote": "اقتباس " + question, "start": 0, "end": 5}
        return json.dumps({"question": question, "vote": "up", "abstained": False, "citations": [cite]},
                          ensure_ascii=False) + "\n"

    path = tmp_path / "feedback.jsonl"
    (tmp_path / "feedback.jsonl.2").write_text(line("أقدم سؤال؟"), encoding="utf-8")
    (tmp_path / "feedback.jsonl.1").write_text(line("سؤال أحدث؟"), encoding="utf-8")
    path.write_text(line("آخر سؤال؟"), encoding="utf-8")
    assert rotated_files(path) == [tmp_path / "feedback.jsonl.2", tmp_path / "feedback.jsonl.1", path]
    written, skipped = export_gold(path, tmp_path / "gold.jsonl")
    assert (written, skipped) == (3, 0)
    gold = [json.loads(x) for x in (tmp_path / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [g["question"] for g in gold] == ["أقدم سؤال؟", "سؤال أحدث؟", "آخر سؤال؟"]
