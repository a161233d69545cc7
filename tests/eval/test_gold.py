"""The shipped gold Q&A set against the real seed articles, and load_gold on malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import GoldFileError
from rag.eval.gold import REQUIRED_FIELDS, GoldItem, check_evidence, load_gold
from rag.text.normalize import collapse_whitespace, normalize, tokenize

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
GOLD = SEEDS / "gold_qa.jsonl"


def _norm(text: str) -> str:
    return collapse_whitespace(normalize(text))


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = tokenize(normalize(text, lexical=True))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def items() -> list[GoldItem]:
    return load_gold(GOLD)


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8-sig") for p in sorted(SEEDS.glob("*.txt"))}


# --- the shipped gold file ---------------------------------------------------


def test_counts(items: list[GoldItem]) -> None:
    total = len(items)
    arabic = sum(item.lang == "ar" for item in items)
    english = sum(item.lang == "en" for item in items)
    unanswerable = sum(not item.answerable for item in items)
    assert total >= 60
    assert arabic * 3 >= total * 2
    assert english * 5 >= total
    assert unanswerable >= 8
    assert {item.lang for item in items if not item.answerable} == {"ar", "en"}


def test_fields_are_in_the_documented_order() -> None:
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        keys = list(json.loads(line))
        assert keys[:6] == list(REQUIRED_FIELDS)


def test_every_article_is_covered_and_follow_ups_exist(
    items: list[GoldItem], documents: dict[str, str]
) -> None:
    assert {doc_id for item in items for doc_id in item.sources} == set(documents)
    assert sum(item.follows is not None for item in items) >= 2


def test_every_evidence_string_occurs_verbatim_in_a_source(
    items: list[GoldItem], documents: dict[str, str]
) -> None:
    assert check_evidence(items, documents) == []


def test_evidence_is_short_and_contains_an_answer(items: list[GoldItem]) -> None:
    for item in items:
        for quote in item.evidence:
            assert 5 <= len(quote.split()) <= 25, (item.id, quote)
            assert any(_norm(answer) in _norm(quote) for answer in item.answers), (item.id, quote)


def test_every_source_has_its_own_evidence(items: list[GoldItem], documents: dict[str, str]) -> None:
    for item in items:
        for doc_id in item.sources:
            assert any(quote in documents[doc_id] for quote in item.evidence), (item.id, doc_id)


def test_arabic_answers_occur_in_a_source_after_normalization(
    items: list[GoldItem], documents: dict[str, str]
) -> None:
    # Task rule: every alias of an answerable Arabic question is article wording, so each one must match.
    for item in items:
        if item.lang != "ar" or not item.answerable:
            continue
        for answer in item.answers:
            assert any(_norm(answer) in _norm(documents[d]) for d in item.sources), (item.id, answer)


def test_english_questions_carry_the_article_wording(
    items: list[GoldItem], documents: dict[str, str]
) -> None:
    for item in items:
        if item.lang == "en" and item.answerable:
            assert any(_norm(a) in _norm(documents[d]) for a in item.answers for d in item.sources), item.id


def test_no_question_copies_six_words_of_an_article(items: list[GoldItem], documents: dict[str, str]) -> None:
    runs = {doc_id: _word_runs(text, 6) for doc_id, text in documents.items()}
    for item in items:
        for doc_id in item.sources or tuple(documents):
            shared = _word_runs(item.question, 6) & runs[doc_id]
            assert not shared, (item.id, doc_id, shared)


def test_word_runs_oracle() -> None:
    assert _word_runs("أ ب ج د ه و ز", 6) == set()  # one-letter words are dropped by tokenize
    # ta marbuta folded, alef unified, Latin lowercased: near-copies count as copies
    expected = {("كم", "قيمه", "صفقه", "امازون", "مع", "openai")}
    assert _word_runs("كم قيمة صفقة أمازون مع OpenAI", 6) == expected


# --- check_evidence ----------------------------------------------------------


def test_check_evidence_reports_unknown_sources_and_missing_quotes() -> None:
    documents = {"a.txt": "بلغت قيمة الصفقة 38 مليار دولار على مدى سبع سنوات."}
    good = GoldItem("q1", "ar", "كم؟", ("38 مليار",), ("a.txt",), ("قيمة الصفقة 38 مليار دولار",))
    unknown = GoldItem("q2", "ar", "كم؟", ("38 مليار",), ("b.txt",), ("قيمة الصفقة 38 مليار دولار",))
    normalized_only = GoldItem("q3", "ar", "كم؟", ("38 مليار",), ("a.txt",), ("قيمه الصفقه 38 مليار دولار",))
    problems = check_evidence([good, unknown, normalized_only], documents)
    assert len(problems) == 3
    assert 'q2: unknown source "b.txt"' in problems
    assert any(p.startswith("q2: evidence") for p in problems)
    assert any(p.startswith("q3: evidence") for p in problems)


# --- load_gold on malformed files --------------------------------------------

GOOD = {
    "id": "ar-001",
    "lang": "ar",
    "question": "كم قيمة الصفقة؟",
    "answers": ["38 مليار"],
    "sources": ["a.txt"],
    "evidence": ["بقيمة 38 مليار دولار"],
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "gold_qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(**changes: object) -> str:
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not _DROP}, ensure_ascii=False)


_DROP = object()


def test_good_file_loads_and_skips_blank_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            _line(),
            "",
            _line(id="ar-002", question="وما مدتها؟", follows="ar-001"),
            _line(id="en-un-01", lang="en", question="Who?", answers=[], sources=[], evidence=[]),
        ],
    )
    items = load_gold(path)
    assert [item.id for item in items] == ["ar-001", "ar-002", "en-un-01"]
    expected = GoldItem(
        "ar-001", "ar", "كم قيمة الصفقة؟", ("38 مليار",), ("a.txt",), ("بقيمة 38 مليار دولار",)
    )
    assert items[0] == expected
    assert items[1].follows == "ar-001"
    assert [item.answerable for item in items] == [True, True, False]


@pytest.mark.parametrize(
    ("bad_line", "line_number", "field"),
    [
        ('{"id": "ar-002", "lang": "ar",', 2, None),  # bad JSON: no field to name
        (_line(id="ar-002", answers=_DROP), 2, '"answers"'),
        (_line(id="ar-002", lang="fr"), 2, '"lang"'),
        (_line(), 2, '"id"'),  # duplicate of line 1
        (_line(id="ar-002", answers="38 مليار"), 2, '"answers"'),
        (_line(id="ar-002", sources=[3]), 2, '"sources"'),
        (_line(id="ar-002", question="  "), 2, '"question"'),
        (_line(id="ar-002", extra="x"), 2, '"extra"'),
        (_line(id="ar-002", follows="ar-999"), 2, '"follows"'),
        (_line(id="ar-002", sources=[]), 2, '"sources"'),
        (_line(id="ar-002", answers=[], evidence=[]), 2, '"sources"'),
        ('["not", "an", "object"]', 2, None),
        ('{"id": "a", "id": "b"}', 2, '"id"'),
    ],
)
def test_malformed_line_names_line_and_field(
    tmp_path: Path, bad_line: str, line_number: int, field: str | None
) -> None:
    path = _write(tmp_path, [_line(), bad_line])
    with pytest.raises(GoldFileError) as caught:
        load_gold(path)
    message = str(caught.value)
    assert f"gold_qa.jsonl line {line_number}:" in message
    if field is not None:
        assert field in message


def test_wrong_lang_message_reads_well(tmp_path: Path) -> None:
    path = _write(tmp_path, ["", _line(lang="fr")])
    expected = '^gold_qa.jsonl line 2: field "lang" must be "ar" or "en", got "fr"$'
    with pytest.raises(GoldFileError, match=expected):
        load_gold(path)


def test_unanswerable_kind_is_article_or_paragraph_and_only_without_answers(tmp_path: Path) -> None:
    empty = {"answers": [], "sources": [], "evidence": []}
    path = _write(tmp_path, [_line(id="q1", unanswerable="paragraph", **empty),
                             _line(id="q2", unanswerable="article", **empty), _line(id="q3", **empty)])
    assert [item.unanswerable for item in load_gold(path)] == ["paragraph", "article", None]
    for bad, message in [(_line(unanswerable="passage", **empty), 'must be "article" or "paragraph", got "passage"'),
                         (_line(unanswerable="paragraph"), 'only for a question whose "answers" are empty')]:
        with pytest.raises(GoldFileError, match=f'line 1: field "unanswerable" .*{message}'):
            load_gold(_write(tmp_path, [bad]))


def test_missing_file_and_non_utf8_raise_gold_file_error(tmp_path: Path) -> None:
    with pytest.raises(GoldFileError, match="not found"):
        load_gold(tmp_path / "absent.jsonl")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(_line().encode("utf-8") + b"\n" + "caf\xe9".encode("latin-1"))
    with pytest.raises(GoldFileError, match="UTF-8"):
        load_gold(latin1)


def test_an_empty_gold_file_is_an_error_naming_it(tmp_path):
    from rag.eval.gold import load_gold

    path = tmp_path / "gold.jsonl"
    path.write_text("\n \n", encoding="utf-8")
    with pytest.raises(GoldFileError, match="gold.jsonl: the gold file holds no question"):
        load_gold(path)


def test_sources_missing_from_the_corpus_name_file_line_and_article(tmp_path):
    from rag.eval.gold import check_sources, load_gold

    line = {"id": "a", "lang": "ar", "question": "ما؟", "answers": ["x"], "sources": ["a.txt", "gone.txt"],
            "evidence": ["x"]}
    path = tmp_path / "gold.jsonl"
    path.write_text("\n" + json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    items = load_gold(path)
    assert items[0].line == 2
    with pytest.raises(GoldFileError, match=r'gold.jsonl line 2: "sources" names "gone.txt" \(a\)'):
        check_sources(items, ["a.txt"], path)
    warnings = check_sources(items, ["a.txt"], path, allow_missing=True)
    assert warnings == ['gold.jsonl line 2: "sources" names "gone.txt" (a), which is not an article of the corpus']
    assert check_sources(items, ["a.txt", "gone.txt"], path) == []


# --- conversations -----------------------------------------------------------

TURN = {k: v for k, v in GOOD.items() if k != "id"}
UNANSWERED_TURN = {**TURN, "question": "ومن اشتراها؟", "answers": [], "sources": [], "evidence": []}


def _conversation(**changes: object) -> str:
    obj = {"id": "c-01", "turns": [TURN, {**TURN, "question": "وكم مدتها؟"}], **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not _DROP}, ensure_ascii=False)


def test_a_conversation_line_becomes_its_turns_in_order(tmp_path: Path) -> None:
    turns = [TURN, UNANSWERED_TURN, {**TURN, "lang": "en", "question": "And how long?"}]
    path = _write(tmp_path, [_line(id="q1"), json.dumps({"id": "c-01", "turns": turns}, ensure_ascii=False)])
    items = load_gold(path)
    assert [(i.id, i.conversation, i.turn, i.line) for i in items] == [
        ("q1", None, 0, 1), ("c-01.1", "c-01", 1, 2), ("c-01.2", "c-01", 2, 2), ("c-01.3", "c-01", 3, 2)
    ]
    assert [i.follow_up for i in items] == [False, False, True, True]
    assert [i.answerable for i in items] == [True, True, False, True]
    assert items[3].lang == "en" and items[3].answers == ("38 مليار",)


def test_a_follows_line_is_a_follow_up_too(tmp_path: Path) -> None:
    items = load_gold(_write(tmp_path, [_line(), _line(id="ar-002", follows="ar-001")]))
    assert [i.follow_up for i in items] == [False, True]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (_conversation(id=_DROP), 'line 2: missing field "id"'),
        (_conversation(id=""), 'line 2: field "id" must not be empty'),
        (_conversation(turns=[]), 'line 2: field "turns" must be a non-empty list of turn objects, got an empty list'),
        (_conversation(turns={"question": "x"}), 'line 2: field "turns" must be a non-empty list'),
        (_conversation(lang="ar"), 'line 2: unknown field "lang" in a conversation'),
        (_conversation(turns=[TURN, "وكم مدتها؟"]), "line 2, turn 2: expected a JSON object, got a string"),
        (_conversation(turns=[TURN, {**TURN, "follows": "c-01.1"}]), 'line 2, turn 2: field "follows" is not allowed'),
        (_conversation(turns=[{**TURN, "id": "x"}]), 'line 2, turn 1: field "id" is not allowed'),
        (_conversation(turns=[TURN, {**TURN, "note": "x"}]), 'line 2, turn 2: unknown field "note"'),
        (_conversation(turns=[TURN, {k: v for k, v in TURN.items() if k != "answers"}]),
         'line 2, turn 2: missing field "answers"'),
        (_conversation(turns=[TURN, {**TURN, "lang": "fr"}]), 'line 2, turn 2: field "lang" must be "ar" or "en"'),
        (_conversation(turns=[TURN, {**TURN, "sources": []}]), 'line 2, turn 2: field "sources" must be empty'),
        (_conversation(turns=[TURN, {**UNANSWERED_TURN, "evidence": ["x y"]}]),
         'line 2, turn 2: field "evidence" must be empty'),
    ],
)
def test_a_malformed_conversation_names_file_line_turn_and_field(tmp_path: Path, bad_line: str, message: str) -> None:
    with pytest.raises(GoldFileError, match="^gold_qa.jsonl " + message.replace("(", r"\(").replace(")", r"\)")):
        load_gold(_write(tmp_path, [_line(), bad_line]))


def test_a_repeated_conversation_id_or_a_taken_turn_id_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GoldFileError, match='line 2: field "id" repeats the earlier conversation id "c-01"'):
        load_gold(_write(tmp_path, [_conversation(), _conversation()]))
    with pytest.raises(GoldFileError, match='line 2, turn 1: field "id" repeats the earlier id "c-01.1"'):
        load_gold(_write(tmp_path, [_line(id="c-01.1"), _conversation()]))
