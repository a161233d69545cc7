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
