"""The shipped conversation gold files against their articles: every answer and evidence verbatim, the mix asked for.

``seeds/conversations.jsonl`` is checked against the seed articles. ``docs/gold/xquad-dev-conversations.jsonl``
is checked against XQuAD-dev's development part, imported here as ``rag gold import`` imports it (skipped when
``../shared/data/xquad-dev`` is not there).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rag.eval.gold import GoldItem, check_evidence, check_sources, load_gold
from rag.text.normalize import detect_language, normalize, tokenize

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SEED_CONVERSATIONS = SEEDS / "conversations.jsonl"
XQUAD_CONVERSATIONS = ROOT / "docs" / "gold" / "xquad-dev-conversations.jsonl"
XQUAD = ROOT.parent / "shared" / "data" / "xquad-dev"
#: XQuAD-dev's development part: its first nine articles (README, "Issue 9's acceptance sets").
XQUAD_DEVELOPMENT_PART = ":9"


def _conversations(items: list[GoldItem]) -> dict[str, list[GoldItem]]:
    out: dict[str, list[GoldItem]] = {}
    for item in items:
        assert item.conversation is not None, f"{item.id} is a question line, not a conversation turn"
        out.setdefault(item.conversation, []).append(item)
    return out


def _word_runs(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = tokenize(normalize(text, lexical=True))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _check_verbatim(items: list[GoldItem], documents: dict[str, str], path: Path) -> None:
    """Every source an article, every evidence in a named source, every answer inside an evidence of its
    turn (so verbatim in the article), every evidence holding an answer and every source its own evidence."""
    assert check_sources(items, documents, path) == []
    assert check_evidence(items, documents) == []
    for item in items:
        for answer in item.answers:
            assert any(answer in quote for quote in item.evidence), (item.id, answer)
        for quote in item.evidence:
            assert any(answer in quote for answer in item.answers), (item.id, quote)
        for doc_id in item.sources:
            assert any(quote in documents[doc_id] for quote in item.evidence), (item.id, doc_id)


def _check_written_as_people_chat(items: list[GoldItem], documents: dict[str, str]) -> None:
    """Each turn is in the language it says, and no question copies six words running of an article."""
    runs = {doc_id: _word_runs(text) for doc_id, text in documents.items()}
    for item in items:
        assert detect_language(item.question) == item.lang, (item.id, item.question)
        for doc_id, article in runs.items():
            assert not _word_runs(item.question) & article, (item.id, doc_id)


def _mix(conversations: dict[str, list[GoldItem]]) -> Counter[str]:
    """How many conversations are Arabic, English and mixed, and how many turns of each kind."""
    counts: Counter[str] = Counter()
    for turns in conversations.values():
        langs = {t.lang for t in turns}
        counts["mixed" if len(langs) > 1 else f"only_{langs.pop()}"] += 1
        counts["turns"] += len(turns)
        counts["unanswerable_turns"] += sum(not t.answerable for t in turns)
        pairs = zip(turns[:-1], turns[1:], strict=True)
        counts["after_a_refusal"] += any(not a.answerable and b.answerable for a, b in pairs)
    return counts


# --- the seed articles -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_documents() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8-sig") for p in sorted(SEEDS.glob("*.txt"))}


@pytest.fixture(scope="module")
def seed_items() -> list[GoldItem]:
    return load_gold(SEED_CONVERSATIONS)


def test_seed_conversations_are_verbatim_in_the_seed_articles(
    seed_items: list[GoldItem], seed_documents: dict[str, str]
) -> None:
    _check_verbatim(seed_items, seed_documents, SEED_CONVERSATIONS)
    assert {doc_id for item in seed_items for doc_id in item.sources} == set(seed_documents)


def test_seed_conversations_are_written_as_people_chat(
    seed_items: list[GoldItem], seed_documents: dict[str, str]
) -> None:
    _check_written_as_people_chat(seed_items, seed_documents)


def test_seed_conversations_hold_the_mix_asked_for(seed_items: list[GoldItem]) -> None:
    conversations = _conversations(seed_items)
    assert len(conversations) >= 40
    assert all(2 <= len(turns) <= 4 for turns in conversations.values())
    counts = _mix(conversations)
    assert counts["only_ar"] >= 15 and counts["only_en"] >= 10 and counts["mixed"] >= 8, counts
    assert counts["after_a_refusal"] >= 5 and counts["unanswerable_turns"] >= 10, counts
    assert {t.lang for t in seed_items if not t.answerable} == {"ar", "en"}


# --- XQuAD-dev's development part ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def xquad_documents() -> dict[str, str]:
    if not (XQUAD / "xquad-dev.ar.json").exists():
        pytest.skip(f"XQuAD-dev is not at {XQUAD}")
    from rag.eval.squad import import_squad, parallel_questions, read_squad

    english = parallel_questions(read_squad(XQUAD / "xquad-dev.en.json"))
    result = import_squad(read_squad(XQUAD / "xquad-dev.ar.json"), part=XQUAD_DEVELOPMENT_PART, parallel=english)
    return dict(result.articles)


@pytest.fixture(scope="module")
def xquad_items() -> list[GoldItem]:
    return load_gold(XQUAD_CONVERSATIONS)


def test_xquad_conversations_are_verbatim_in_the_development_part(
    xquad_items: list[GoldItem], xquad_documents: dict[str, str]
) -> None:
    assert len(xquad_documents) == 9
    _check_verbatim(xquad_items, xquad_documents, XQUAD_CONVERSATIONS)


def test_xquad_conversations_are_written_as_people_chat(
    xquad_items: list[GoldItem], xquad_documents: dict[str, str]
) -> None:
    _check_written_as_people_chat(xquad_items, xquad_documents)


def test_xquad_conversations_hold_the_mix_asked_for(xquad_items: list[GoldItem]) -> None:
    conversations = _conversations(xquad_items)
    assert len(conversations) >= 20
    assert all(2 <= len(turns) <= 4 for turns in conversations.values())
    counts = _mix(conversations)
    assert counts["only_ar"] >= 5 and counts["only_en"] >= 5 and counts["mixed"] >= 3, counts
    assert counts["after_a_refusal"] >= 2 and counts["unanswerable_turns"] >= 4, counts
