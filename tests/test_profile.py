"""rag.profile: the per-corpus profile, its file, and the chat's examples taken from the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.refusal import RefusalModel, default_model
from rag.answer.span import SpanModel
from rag.answer.span import default_model as default_span_model
from rag.errors import IndexMismatchError
from rag.profile import (
    CALIBRATED_FILE,
    PROFILE_FILE,
    Profile,
    SentenceWeights,
    corpus_examples,
    examples_from_gold,
    examples_from_titles,
    load_build_profile,
)
from rag.types import Document

#: A refusal model of one's own, as ``rag calibrate`` writes.
MINE = RefusalModel(("strength", "english"), (0.8, 0.2), (0.05, 0.4), (2.0, -0.5), 0.3, {"ar": 0.6, "en": 0.4},
                    ("mine.jsonl",))


def doc(title: str, doc_id: str = "a.txt") -> Document:
    return Document(doc_id, title, title + "\nنص.", "0")


def gold_line(lang: str, question: str, source: str, answers=("x",), follows=None) -> str:
    item = {"id": question, "lang": lang, "question": question, "answers": list(answers), "sources": [source]}
    if follows:
        item["follows"] = follows
    return json.dumps(item, ensure_ascii=False)


def test_defaults_are_todays_values():
    p = Profile()
    assert p.refusal is None and p.refusal_model == default_model() and p.refusal_model.fitted_on  # shipped
    assert p.span is None and p.span_model == default_span_model() and p.span_model.fitted_on
    assert p.weights == SentenceWeights(1.0, 0.4, 0.1, 0.01, 0.95)
    assert (p.rare_name_passages, p.min_quote_chars, p.followup_max_terms) == (3, 25, 3)
    assert p.calibrated_on == ("defaults",)


def test_retired_fields_of_older_profiles_are_ignored():
    # Profiles written before the refusal model had cosine thresholds and cue phrases.
    assert Profile.from_dict({"abstain_below": {"ar": 0.8, "en": 0.7}, "cues": {"number": ["كم"]}}) == Profile()


def test_round_trip_through_the_file(tmp_path: Path):
    p = Profile(refusal=MINE, span=SpanModel({"rule_same": 1.5, "len0": -0.2}, ("mine.jsonl (3 quotes)",)),
                weights=SentenceWeights(cue=0.3),
                examples={"ar": ("سؤال؟",), "en": ("Question?",)}, calibrated_on=("gold.jsonl",))
    p.save(tmp_path / PROFILE_FILE)
    assert Profile.load(tmp_path / PROFILE_FILE) == p
    assert Profile.from_dict({"rare_name_passages": 5}).rare_name_passages == 5  # docstring example


def test_a_missing_file_gives_the_defaults(tmp_path: Path):
    assert Profile.load(tmp_path / "nothing.json") == Profile()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not a valid profile"),
        ('{"thresholds": 1}', "unknown profile field"),
        ('{"refusal": {"features": ["bogus"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0}}',
         "unknown features"),
        ('{"refusal": {"features": ["strength"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0, '
         '"threshold": {"ar": 1.5}}}', "between 0 and 1"),
        ('{"version": 99}', "profile version 99"),
        ('{"examples": ["a list, not languages"]}', "not a valid profile"),
        ('{"rankings": {"en": {"bm25": 0}}}', "fuse nothing"),
        ('{"rankings": {"en": {"dense": 1}}}', "not rankings"),
        ('{"weights": {"cosine": 1, "bogus": 2}}', "bogus"),
    ],
)
def test_a_bad_file_is_a_clear_error(tmp_path: Path, content: str, needle: str):
    (tmp_path / PROFILE_FILE).write_text(content)
    with pytest.raises(IndexMismatchError, match=needle) as e:
        Profile.load(tmp_path / PROFILE_FILE)
    assert str(tmp_path / PROFILE_FILE) in str(e.value)


def test_a_fitted_profile_is_kept_twice_in_its_build_and_a_damaged_one_restored_from_the_copy(tmp_path: Path):
    fitted = Profile(refusal=MINE, examples={"en": ("Q?",)}, calibrated_on=("mine.jsonl",))
    fitted.save_in_build(tmp_path)
    assert Profile.load(tmp_path / CALIBRATED_FILE) == fitted == Profile.load(tmp_path / PROFILE_FILE)
    assert load_build_profile(tmp_path) == (fitted, [])
    (tmp_path / PROFILE_FILE).write_text("[]")
    profile, [note] = load_build_profile(tmp_path)
    assert profile == fitted
    assert note == ("profile.json was damaged (a JSON list, not an object); restored from the build's calibrated "
                    "copy (profile.calibrated.json, calibrated on mine.jsonl)")
    (tmp_path / CALIBRATED_FILE).write_text("{")
    profile, [note] = load_build_profile(tmp_path)
    assert profile == Profile() and "its calibrated copy is damaged too, so it holds the defaults again" in note
    # A damaged copy beside an intact profile.json is written again from it, or removed beside the defaults.
    fitted.save(tmp_path / PROFILE_FILE)
    assert load_build_profile(tmp_path)[1] == [
        "profile.calibrated.json was damaged (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)); written again from profile.json"]
    Profile().save_in_build(tmp_path)  # the defaults keep no copy
    assert not (tmp_path / CALIBRATED_FILE).exists() and load_build_profile(tmp_path) == (Profile(), [])


def test_examples_from_gold_take_answerable_standalone_questions_across_sources():
    lines = [
        gold_line("ar", "س1؟", "a"), gold_line("ar", "س2؟", "a"), gold_line("ar", "س3؟", "b"),
        gold_line("ar", "لا جواب؟", "c", answers=()), gold_line("ar", "وما مدتها؟", "a", follows="س1؟"),
        gold_line("en", "Q1?", "a"), "not json", "[]",
    ]
    assert examples_from_gold(lines, per_language=2) == {"ar": ("س1؟", "س3؟"), "en": ("Q1?",)}
    assert examples_from_gold(lines, per_language=5) == {"ar": ("س1؟", "س3؟", "س2؟"), "en": ("Q1?",)}


def test_examples_from_titles_in_both_languages_and_short():
    titles = examples_from_titles([doc("قمة المناخ"), doc("كلمة " * 30, "b.txt")])
    assert titles["ar"][0] == "ماذا تقول المقالات عن «قمة المناخ»؟"
    assert titles["en"][0] == "What do the articles say about “قمة المناخ”?"
    assert "…" in titles["ar"][1] and len(titles["ar"][1]) < 90
    assert examples_from_titles([]) == {}


def test_corpus_examples_prefer_a_gold_file_beside_the_articles(tmp_path: Path):
    docs = [doc("قمة المناخ")]
    assert corpus_examples(tmp_path, docs) == examples_from_titles(docs)
    (tmp_path / "gold_qa.jsonl").write_text(gold_line("ar", "ما نتيجة القمة؟", "a.txt") + "\n", encoding="utf-8")
    assert corpus_examples(tmp_path, docs) == {"ar": ("ما نتيجة القمة؟",)}


# --- on a corpus that is not the seeds, with the real model --------------------------------------------------

ARTICLES = {
    "harvest.txt": "موسم حصاد القمح في الدلتا\nتوقعت وزارة الزراعة أن يرتفع إنتاج القمح بنسبة عشرة في المئة.\n",
    "derby.txt": "فوز فريق المدينة في الديربي\nفاز فريق المدينة على منافسه بثلاثة أهداف مقابل هدف واحد.\n",
}


@pytest.mark.slow
def test_the_chat_examples_come_from_the_indexed_corpus(tmp_path: Path, settings_factory, embedder):
    from rag.app.ui import example_questions
    from rag.index.build import build_index
    from rag.index.index import Index
    from rag.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = settings_factory(corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(settings, embedder)
    index = Index.load(settings.index_dir, settings)
    assert (index.manifest and (Path(settings.index_dir) / (Path(settings.index_dir) / "CURRENT").read_text().strip()
                                / PROFILE_FILE).is_file())
    examples = example_questions(Pipeline(settings, index, embedder))
    assert sorted(examples["ar"]) == sorted(f"ماذا تقول المقالات عن «{t.splitlines()[0]}»؟" for t in ARTICLES.values())
    assert all("OpenAI" not in q and "أمازون" not in q for qs in examples.values() for q in qs)

    # A gold file beside the articles supplies the examples instead; a calibrated profile survives the rebuild.
    (corpus / "gold_qa.jsonl").write_text("\n".join([
        gold_line("ar", "بكم يرتفع إنتاج القمح؟", "harvest.txt"), gold_line("en", "Who won the derby?", "derby.txt"),
    ]) + "\n", encoding="utf-8")
    build_dir = Path(settings.index_dir) / (Path(settings.index_dir) / "CURRENT").read_text().strip()
    Profile(refusal=MINE, calibrated_on=("mine",)).save(build_dir / PROFILE_FILE)
    (corpus / "derby.txt").write_text(ARTICLES["derby.txt"] + "وسجل المهاجم هدفين.\n", encoding="utf-8")
    build_index(settings, embedder)
    pipeline = Pipeline(settings, Index.load(settings.index_dir, settings), embedder)
    assert example_questions(pipeline) == {"ar": ["بكم يرتفع إنتاج القمح؟"], "en": ["Who won the derby?"]}
    assert pipeline.profile.refusal == MINE and pipeline.profile.calibrated_on == ("mine",)


def test_a_saved_snapshot_of_the_defaults_follows_the_current_defaults(tmp_path: Path):
    # A build saves the defaults of its day; when they improve, an index never calibrated gets the new ones.
    old = Profile(rankings={"ar": {"sentence": 1.0}, "en": {"bridged": 1.0}}, examples={"ar": ("سؤال؟",)})
    old.save(tmp_path / PROFILE_FILE)
    assert Profile.load(tmp_path / PROFILE_FILE) == Profile(examples={"ar": ("سؤال؟",)})
    pinned = old.with_(calibrated_on=("edited by hand",))
    pinned.save(tmp_path / PROFILE_FILE)
    assert Profile.load(tmp_path / PROFILE_FILE) == pinned
