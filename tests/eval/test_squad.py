"""The SQuAD importer: articles, verbatim answers and evidence, held-out articles, parallel questions, quirks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.errors import GoldFileError
from rag.eval.gold import GoldItem, check_evidence, check_sources, load_gold
from rag.eval.squad import (
    article_range,
    article_text,
    choose_held_out,
    clean_question,
    evidence_span,
    gold_line,
    import_squad,
    locate_answer,
    merge_articles,
    parse_squad,
    write_import,
)
from rag.ingest.load import load_corpus

P1 = "تأسست الشركة عام 1998 في كاليفورنيا. يعمل فيها نحو 180 ألف موظف."
P2 = "  أسسها لاري بيج وسيرجي برين.  "  # surrounding spaces: offsets must move with the strip
P3 = "The river is 6,650 km long. It flows north into the  Mediterranean Sea."


def _squad() -> dict:
    def qa(qid: str, question: str, context: str, answer: str, start: int | None = None) -> dict:
        return {"id": qid, "question": question,
                "answers": [{"text": answer, "answer_start": context.find(answer) if start is None else start}]}

    return {"version": "1.1", "data": [
        {"title": "غوغل", "paragraphs": [
            {"context": P1, "qas": [qa("q1", " - متى تأسست الشركة؟ ال", P1, "1998"),
                                    qa("q2", "كم عدد موظفي الشركة؟", P1, "180 ألف موظف")]},
            {"context": P2, "qas": [qa("q3", "\u200fمن أسس الشركة؟", P2, "لاري بيج وسيرجي برين")]},
        ]},
        # The answer has one space where the paragraph has two (an ARCD quirk).
        {"title": "النيل", "paragraphs": [
            {"context": P3, "qas": [qa("q4", "أين يصب النهر؟", P3, "Mediterranean Sea", P3.find("Medi") - 1),
                                    qa("q5", "ما طول النهر؟", P3, "6,650 km"),
                                    qa("q6", "إلى أين يتجه؟", P3, "into the Mediterranean", 40)]},
        ]},
        {"title": "لغز", "paragraphs": [
            {"context": "نص قصير.", "qas": [qa("q7", "ما الجواب؟", "نص قصير.", "غير موجود", 0)]},
        ]},
    ]}


def test_clean_question_removes_arcd_and_xquad_quirks():
    assert clean_question(" - متى ولد  خاشقجي؟ ال") == "متى ولد خاشقجي؟"
    assert clean_question("حسب المعاجم ماذا تعني كلمة عربي؟ما") == "حسب المعاجم ماذا تعني كلمة عربي؟"
    assert clean_question("\u200fما هو؟") == "ما هو؟"
    assert clean_question("What is it?") == "What is it?"
    assert clean_question(" - ") == ""


def test_article_text_places_paragraphs_after_the_title():
    text, starts = article_text("عنوان\nطويل", ["أ ب.", " ج د. "])
    assert text == "عنوان طويل\n\nأ ب.\n\nج د.\n"
    assert [text[s : s + 4] for s in starts] == ["أ ب.", "ج د."]


def test_locate_answer_tolerates_whitespace_and_wrong_offsets():
    assert locate_answer("a  b c", "a b", 0) == (0, 4)
    assert locate_answer("x y x y", "x y", 3) == (4, 7)  # the occurrence nearest the given start
    assert locate_answer("abc", " b ", 1) == (1, 2)
    assert locate_answer("abc", "z", 0) is None
    assert locate_answer("abc", "  ", 0) is None


def test_evidence_span_is_the_sentences_around_the_answer():
    text = "One. Two three. Four."
    assert evidence_span(text, (9, 14)) == (5, 15)
    assert evidence_span(text, (2, 7)) == (0, 15)  # crosses a boundary: both sentences


def test_import_makes_verbatim_answers_and_evidence_that_check_out(tmp_path: Path):
    result = import_squad(parse_squad(_squad(), "t.json"))
    assert result.skipped == {"q7": 'answer "غير موجود" not found in its paragraph'}
    assert len(result.articles) == 3
    items = {item.id: item for item in result.items}
    assert set(items) == {"ar-q1", "ar-q2", "ar-q3", "ar-q4", "ar-q5", "ar-q6"}
    assert items["ar-q1"].question == "متى تأسست الشركة؟"
    assert items["ar-q1"].answers == ("1998",)
    assert items["ar-q1"].evidence == ("تأسست الشركة عام 1998 في كاليفورنيا.",)
    assert items["ar-q2"].evidence == ("يعمل فيها نحو 180 ألف موظف.",)
    assert items["ar-q3"].answers == ("لاري بيج وسيرجي برين",)
    assert items["ar-q4"].answers == ("Mediterranean Sea",)
    assert items["ar-q6"].answers == ("into the  Mediterranean",)  # the paragraph's own spacing
    docs = {doc_id: text for doc_id, text in result.articles.items()}
    assert check_evidence(result.items, docs) == []
    for item in result.items:
        (doc_id,) = item.sources
        assert all(answer in docs[doc_id] for answer in item.answers)

    write_import(result, tmp_path / "corpus", tmp_path / "gold.jsonl")
    documents, skipped = load_corpus(tmp_path / "corpus")
    assert skipped == []
    assert [d.title for d in documents] == ["غوغل", "النيل", "لغز"]
    gold = load_gold(tmp_path / "gold.jsonl")
    assert gold == result.items
    assert check_evidence(gold, {d.doc_id: d.text for d in documents}) == []


def test_held_out_articles_leave_the_corpus_and_their_questions_become_unanswerable():
    data = parse_squad(_squad(), "t.json")
    result = import_squad(data, hold_out=1, seed=3)
    again = import_squad(data, hold_out=1, seed=3)
    assert result.items == again.items and result.held_out == again.held_out
    assert len(result.held_out) == 1 and len(result.articles) == 2
    (held,) = choose_held_out(3, 1, 3)
    held_title = data[held]["title"]
    assert result.held_out == [held_title]
    titles_kept = {text.split("\n", 1)[0] for text in result.articles.values()}
    assert held_title not in titles_kept
    unanswerable = [item for item in result.items if not item.answerable]
    assert unanswerable and all(not item.sources and not item.evidence for item in unanswerable)
    counts = result.counts()
    assert counts["unanswerable"] == len(unanswerable)
    assert counts["answerable"] + counts["unanswerable"] == counts["questions"]
    with pytest.raises(ValueError, match="hold-out-articles"):
        import_squad(data, hold_out=3)


def test_parallel_questions_share_the_arabic_answers():
    data = parse_squad(_squad(), "t.json")
    english = {"q1": "When was the company founded?", "q4": " - Where does the river flow?"}
    result = import_squad(data, parallel=english, parallel_lang="en")
    items = {item.id: item for item in result.items}
    assert items["en-q1"].lang == "en"
    assert items["en-q1"].question == "When was the company founded?"
    assert items["en-q1"].answers == items["ar-q1"].answers == ("1998",)
    assert items["en-q4"].question == "Where does the river flow?"
    assert "en-q2" not in items
    assert [i.id for i in result.items][:2] == ["ar-q1", "en-q1"]


def _squad2() -> dict:
    """``_squad()`` as a SQuAD 2.0 file: two more questions, ``is_impossible``, over paragraphs of غوغل and النيل."""
    data = _squad()
    data["version"] = "v2.0"
    for a, qid, question in ((0, "u1", "كم سعر سهم الشركة؟"), (1, "u2", "من اكتشف منبع النهر؟")):
        data["data"][a]["paragraphs"][0]["qas"].append({
            "id": qid, "question": question, "answers": [], "is_impossible": True,
            "plausible_answers": [{"text": "1998", "answer_start": 17}]})
    return data


def _one_entry_per_question(data: dict) -> dict:
    """The same questions as some benchmarks ship them: one entry per question, title and paragraph repeated."""
    entries = [{"title": article["title"], "paragraphs": [{"context": paragraph["context"], "qas": [qa]}]}
               for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    return {"version": data["version"], "data": entries}


def test_squad2_impossible_questions_are_unanswerable_over_their_paragraph(tmp_path: Path):
    result = import_squad(parse_squad(_squad2(), "t.json"))
    items = {item.id: item for item in result.items}
    assert items["ar-u1"] == GoldItem("ar-u1", "ar", "كم سعر سهم الشركة؟", (), (), (), unanswerable="paragraph")
    assert items["ar-u2"].unanswerable == "paragraph"
    assert items["ar-q1"].answerable and items["ar-q1"].unanswerable is None
    assert len(result.articles) == 3 and not result.held_out  # their articles stay in the corpus
    counts = result.counts()
    assert (counts["questions"], counts["answerable"], counts["unanswerable"]) == (8, 6, 2)
    assert counts["unanswerable_by_kind"] == {"article": 0, "paragraph": 2}
    assert json.loads(gold_line(items["ar-u1"]))["unanswerable"] == "paragraph"
    assert "unanswerable" not in json.loads(gold_line(items["ar-q1"]))
    write_import(result, tmp_path / "corpus", tmp_path / "gold.jsonl")
    assert load_gold(tmp_path / "gold.jsonl") == result.items


def test_questions_of_a_held_out_article_are_of_the_article_kind_even_when_impossible():
    seed = next(s for s in range(20) if choose_held_out(3, 1, s) == {0})  # hold out غوغل
    result = import_squad(parse_squad(_squad2(), "t.json"), hold_out=1, seed=seed)
    kinds = {item.id: item.unanswerable for item in result.items}
    assert kinds == {"ar-q1": "article", "ar-q2": "article", "ar-u1": "article", "ar-q3": "article",
                     "ar-q4": None, "ar-q5": None, "ar-q6": None, "ar-u2": "paragraph"}
    assert result.counts()["unanswerable_by_kind"] == {"article": 4, "paragraph": 1}


def test_a_question_without_an_answer_that_is_not_impossible_is_skipped():
    data = _squad()
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    result = import_squad(parse_squad(data, "t.json"))
    assert result.skipped["q1"] == 'no answer, and not marked "is_impossible"'
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": " ", "answer_start": 0}]  # as AAQAD has two
    result = import_squad(parse_squad(data, "t.json"))
    assert result.skipped["q1"] == 'an empty answer, and not marked "is_impossible"'


def test_merge_articles_folds_repeated_titles_and_identical_paragraphs():
    def qa(qid: str, start: int) -> dict:
        return {"id": qid, "question": "q?", "answers": [{"text": "b", "answer_start": start}]}

    entries = [
        {"title": "T", "paragraphs": [{"context": "a b", "qas": [qa("1", 2)]}]},
        {"title": "U", "paragraphs": [{"context": "a b", "qas": [qa("2", 2)]}]},  # same paragraph, other article
        {"title": " T ", "paragraphs": [{"context": "  a b", "qas": [qa("3", 4)]},
                                        {"context": "d b", "qas": [qa("4", 2)]}]},
        {"title": "", "paragraphs": [{"context": "e", "qas": []}]},  # untitled entries are never merged
        {"title": "", "paragraphs": [{"context": "e", "qas": []}]},
    ]
    before = copy.deepcopy(entries)
    merged = merge_articles(entries)
    assert entries == before  # the input is left as it was
    assert [a["title"] for a in merged] == ["T", "U", "", ""]
    first = merged[0]["paragraphs"]
    assert [p["context"] for p in first] == ["a b", "d b"]
    assert [[q["id"] for q in p["qas"]] for p in first] == [["1", "3"], ["4"]]
    # The folded copy had two more leading spaces: its answer offset moves to the kept paragraph's text.
    assert first[0]["qas"][1]["answers"][0]["answer_start"] == 2
    assert [q["id"] for q in merged[1]["paragraphs"][0]["qas"]] == ["2"]
    assert merge_articles(merged) == merged


def test_a_file_with_one_entry_per_question_imports_like_the_file_it_repeats(tmp_path: Path, capsys):
    flat = _one_entry_per_question(_squad2())
    assert len(flat["data"]) == 9
    merged = import_squad(parse_squad(flat, "flat.json"))
    direct = import_squad(parse_squad(_squad2(), "t.json"))
    assert (merged.articles, merged.items, merged.skipped) == (direct.articles, direct.items, direct.skipped)
    assert (merged.merged_articles, merged.merged_paragraphs) == (6, 5)  # 9 entries -> 3 articles, 4 paragraphs

    path = tmp_path / "flat.json"
    path.write_text(json.dumps(flat, ensure_ascii=False), encoding="utf-8")
    corpus, gold = tmp_path / "corpus", tmp_path / "gold.jsonl"
    assert main(["gold", "import", str(path), "--corpus-out", str(corpus), "--gold-out", str(gold)]) == 0
    out = capsys.readouterr().out
    assert "3 articles" in out and "2 unanswerable: 0 of held-out articles, 2 over their paragraph" in out
    assert "6 repeated entries and 5 repeated paragraphs merged" in out
    # The indexer's loader skips nothing, and every source the gold file names is an article of the corpus.
    documents, skipped = load_corpus(corpus)
    assert skipped == [] and len(documents) == 3
    items = load_gold(gold)
    assert check_sources(items, [d.doc_id for d in documents], gold) == []
    assert check_evidence(items, {d.doc_id: d.text for d in documents}) == []
    # --articles counts merged articles: the first one is غوغل with its four questions.
    assert main(["gold", "import", str(path), "--corpus-out", str(tmp_path / "part"), "--gold-out",
                 str(tmp_path / "part.jsonl"), "--articles", ":1", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["articles"] == 1 and counts["questions"] == 4
    assert counts["unanswerable_by_kind"] == {"article": 0, "paragraph": 1}


@pytest.mark.parametrize("bad, message", [
    ([], "not a SQuAD file"),
    ({"data": [{"title": "t"}]}, 'data\\[0\\]: expected an object with a "paragraphs" list'),
    ({"data": [{"paragraphs": [{"qas": []}]}]}, 'paragraphs\\[0\\]: expected an object with a "context"'),
    ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "answers": []}]}]}]}, 'field "question"'),
    ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": [{"text": "c"}]}]}]}]},
     "answers\\[0\\]"),
    ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": [],
                                                        "is_impossible": "yes"}]}]}]}, '"is_impossible"'),
])
def test_malformed_files_are_named(bad, message):
    with pytest.raises(GoldFileError, match=message):
        parse_squad(bad, "bad.json")


def test_cli_imports_with_held_out_articles_and_parallel_questions(tmp_path: Path, capsys):
    ar = tmp_path / "ar.json"
    ar.write_text(json.dumps(_squad(), ensure_ascii=False), encoding="utf-8")
    en = tmp_path / "en.json"
    en_data = _squad()
    en_data["data"][0]["paragraphs"][0]["qas"][0]["question"] = "When was the company founded?"
    en.write_text(json.dumps(en_data), encoding="utf-8")
    args = [str(ar), "--corpus-out", str(tmp_path / "c"), "--gold-out", str(tmp_path / "g.jsonl")]
    assert main(["gold", "import", *args, "--hold-out-articles", "1", "--seed", "1",
                 "--questions-from", str(en), "--lang", "en", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["articles"] == 2 and counts["held_out_articles"] == 1 and counts["skipped"] == 1
    assert counts["by_language"] == {"ar": 6, "en": 6}
    gold = load_gold(tmp_path / "g.jsonl")
    assert {i.question for i in gold if i.lang == "en"} >= {"When was the company founded?"}
    # A second import into the same folder is refused rather than mixing two corpora.
    assert main(["gold", "import", *args]) == 2
    assert "already holds articles" in capsys.readouterr().err
    assert main(["gold", "import", str(tmp_path / "missing.json"), "--corpus-out", str(tmp_path / "d"),
                 "--gold-out", str(tmp_path / "h.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize("spec, expected", [(":2", slice(0, 2)), ("2:", slice(2, 3)), ("1:2", slice(1, 2)),
                                            ("-1:", slice(2, 3)), ("0:99", slice(0, 3))])
def test_article_range_is_a_checked_slice(spec, expected):
    assert article_range(spec, 3) == expected


@pytest.mark.parametrize("spec", ["2", "a:b", "2:1", "5:", ""])
def test_article_range_that_names_nothing_is_refused(spec):
    with pytest.raises(ValueError, match="--articles"):
        article_range(spec, 3)


def test_cli_splits_a_benchmark_by_article(tmp_path: Path, capsys):
    """``--articles :1`` and ``--articles 1:`` import disjoint parts that together hold every question."""
    ar = tmp_path / "ar.json"
    ar.write_text(json.dumps(_squad(), ensure_ascii=False), encoding="utf-8")
    questions = []
    for part, spec in (("dev", ":1"), ("rep", "1:")):
        assert main(["gold", "import", str(ar), "--corpus-out", str(tmp_path / part), "--gold-out",
                     str(tmp_path / f"{part}.jsonl"), "--articles", spec, "--json"]) == 0
        capsys.readouterr()
        questions.append({i.question for i in load_gold(tmp_path / f"{part}.jsonl")})
    assert questions[0] == {"متى تأسست الشركة؟", "كم عدد موظفي الشركة؟", "من أسس الشركة؟"}
    assert questions[1] and not questions[0] & questions[1]
    assert main(["gold", "import", str(ar), "--corpus-out", str(tmp_path / "x"), "--gold-out",
                 str(tmp_path / "x.jsonl"), "--articles", "7:9"]) == 2
    assert "names no article" in capsys.readouterr().err
