"""The gold Q&A set: load a JSON Lines file, validate every line, check evidence against the articles.

One object per line with exactly the fields ``id, lang, question, answers, sources, evidence``
and, for a follow-up question, an optional ``follows`` naming an earlier id. An unanswerable question
(``answers`` empty) may say why with an optional ``unanswerable``: ``"article"`` when the article it asks
about is not in the corpus (``rag gold import --hold-out-articles``), ``"paragraph"`` when its article is
in the corpus but does not answer it (SQuAD 2.0's ``is_impossible``); ``rag eval`` reports refusals per
kind.

A line may instead hold a conversation, asked turn by turn as a person chats:
``{"id": "c-01", "turns": [{"lang", "question", "answers", "sources", "evidence"}, ...]}``. Each turn has a
question line's fields except ``id`` (turn n of ``c-01`` is ``c-01.n``) and ``follows`` (a turn is asked
after the turns before it); a turn the articles do not answer has empty lists, as a question line does.

Everything is validated before anything is returned; the first problem raises ``GoldFileError``
with the file name, the line number (and turn) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rag.errors import GoldFileError
from rag.types import LANGUAGES

REQUIRED_FIELDS = ("id", "lang", "question", "answers", "sources", "evidence")
OPTIONAL_FIELDS = ("follows", "unanswerable")
#: Why an unanswerable question is unanswerable: its article is not in the corpus, or its article is but
#: does not answer it.
UNANSWERABLE_KINDS = ("article", "paragraph")
_LIST_FIELDS = ("answers", "sources", "evidence")
#: A conversation line's fields, and those a turn may have (a question line's, less ``id`` and ``follows``).
CONVERSATION_FIELDS = ("id", "turns")
TURN_FIELDS = tuple(f for f in REQUIRED_FIELDS + OPTIONAL_FIELDS if f not in ("id", "follows"))


@dataclass(frozen=True)
class GoldItem:
    """One gold question.

    Attributes:
        id: Unique within the file, e.g. ``"ar-001"``.
        lang: ``"ar"`` or ``"en"``.
        question: The question as a user would ask it.
        answers: Acceptable short answers (aliases); empty when the articles do not answer it.
        sources: Document ids (file names) of every article that answers it.
        evidence: Verbatim spans of those articles that contain the answer.
        follows: The id of the question this one leans on (a follow-up), else None.
        unanswerable: For an unanswerable question, why: one of ``UNANSWERABLE_KINDS``, or None (not said).
        conversation: The id of the conversation this turn belongs to, else None (a question line).
        turn: Its position in that conversation, from 1 (0 for a question line).
        line: Its line number in the gold file (0 when not read from a file); not compared.
    """

    id: str
    lang: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    evidence: tuple[str, ...]
    follows: str | None = None
    unanswerable: str | None = None
    conversation: str | None = None
    turn: int = 0
    line: int = field(default=0, compare=False)

    @property
    def answerable(self) -> bool:
        """Whether the articles answer the question."""
        return bool(self.answers)

    @property
    def follow_up(self) -> bool:
        """Whether it is asked after earlier turns: a conversation's second turn or later, or a ``follows`` line."""
        return self.turn > 1 or self.follows is not None


def load_gold(path: Path) -> list[GoldItem]:
    """Read and validate a gold JSON Lines file; blank lines are skipped.

    Example: ``load_gold(Path("seeds/gold_qa.jsonl"))[0].id == "ar-001"``

    Args:
        path: The ``.jsonl`` file.

    Returns:
        The items in file order.

    Raises:
        GoldFileError: The file is missing, not UTF-8, holds no question, or a line is
            malformed; the message names the file, the line number and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise GoldFileError(f"{path}: gold file not found; pass the path of a .jsonl gold file") from e
    except UnicodeDecodeError as e:
        raise GoldFileError(f"{path.name}: not valid UTF-8 at byte {e.start}; save the file as UTF-8") from e
    except OSError as e:
        raise GoldFileError(f"{path}: cannot read gold file ({e.strerror})") from e

    items: list[GoldItem] = []
    seen: set[str] = set()
    conversations: set[str] = set()
    # Split on "\n" only: str.splitlines would also break on U+2028, which JSON allows inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        obj = _read_object(line, where)
        if "turns" in obj:
            parsed = _parse_conversation(obj, where, seen, conversations)
            conversations.add(parsed[0].conversation or "")
        else:
            parsed = [_parse_question(obj, where, seen)]
        for item in parsed:
            seen.add(item.id)
            items.append(replace(item, line=number))
    if not items:
        raise GoldFileError(
            f"{path}: the gold file holds no question (it is empty or only blank lines); "
            "write one JSON object per line (see seeds/gold_qa.jsonl)"
        )
    return items


def check_sources(
    items: Iterable[GoldItem], doc_ids: Iterable[str], path: Path | str, *, allow_missing: bool = False
) -> list[str]:
    """Check that every ``sources`` entry names an article of the corpus.

    Example: ``check_sources(items, ["a.txt"], "gold.jsonl", allow_missing=True) == []`` when all cite a.txt.

    Args:
        items: Gold items from ``load_gold`` (their ``line`` is named in the messages).
        doc_ids: The corpus's document ids (file names).
        path: The gold file, for the messages.
        allow_missing: Return the problems as warnings instead of raising.

    Returns:
        One line per missing article (empty when all are there); only with ``allow_missing``.

    Raises:
        GoldFileError: a source is missing and ``allow_missing`` is off; names the file, line and article.
    """
    known = set(doc_ids)
    name = Path(path).name
    problems = [
        f'{name} line {item.line}: "sources" names "{doc_id}" ({item.id}), which is not an article of the corpus'
        for item in items
        for doc_id in item.sources
        if doc_id not in known
    ]
    if problems and not allow_missing:
        more = f"\n  (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise GoldFileError(
            "\n  ".join(problems[:5]) + more
            + "\nFix the ids, index the missing articles, or pass --allow-missing-sources to score anyway"
        )
    return problems


def check_evidence(items: Iterable[GoldItem], documents: Mapping[str, str]) -> list[str]:
    """List evidence problems: unknown source ids and evidence found verbatim in none of its sources.

    Example: ``check_evidence(items, {"a.txt": text}) == []`` when every quote is in ``text``.

    Args:
        items: Gold items, e.g. from ``load_gold``.
        documents: Document id -> the article text as read (BOM removed, nothing else touched).

    Returns:
        One human-readable line per problem; empty when all is well.
    """
    problems: list[str] = []
    for item in items:
        known = [doc_id for doc_id in item.sources if doc_id in documents]
        for doc_id in item.sources:
            if doc_id not in documents:
                problems.append(f'{item.id}: unknown source "{doc_id}"')
        for quote in item.evidence:
            if not any(quote in documents[doc_id] for doc_id in known):
                where = ", ".join(item.sources) or "no source"
                problems.append(f'{item.id}: evidence "{quote}" does not occur verbatim in {where}')
    return problems


def _read_object(line: str, where: str) -> dict[str, Any]:
    """One JSON line as an object, or GoldFileError naming ``where``."""
    try:
        obj = json.loads(line, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKeyError as e:
        raise GoldFileError(f'{where}: field "{e.key}" appears twice') from e
    except json.JSONDecodeError as e:
        raise GoldFileError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(obj, dict):
        raise GoldFileError(f"{where}: expected a JSON object, got {_json_type(obj)}")
    return obj


def _parse_conversation(obj: dict[str, Any], where: str, seen: set[str], conversations: set[str]) -> list[GoldItem]:
    """A conversation line's turns as GoldItems (ids ``<id>.1``, ``<id>.2``, ...), or GoldFileError naming
    ``where``, the turn and the field."""
    for name in obj:
        if name not in CONVERSATION_FIELDS:
            raise GoldFileError(
                f'{where}: unknown field "{name}" in a conversation (allowed: {", ".join(CONVERSATION_FIELDS)}; '
                "the question fields go in each turn)"
            )
    if "id" not in obj:
        raise GoldFileError(f'{where}: missing field "id" (a conversation\'s id)')
    conversation = _non_empty_string(obj, "id", where)
    if conversation in conversations:
        raise GoldFileError(f'{where}: field "id" repeats the earlier conversation id "{conversation}"')
    turns = obj["turns"]
    if not isinstance(turns, list) or not turns:
        got = "an empty list" if turns == [] else _json_type(turns)
        raise GoldFileError(f'{where}: field "turns" must be a non-empty list of turn objects, got {got}')
    items: list[GoldItem] = []
    for number, turn in enumerate(turns, start=1):
        at = f"{where}, turn {number}"
        if not isinstance(turn, dict):
            raise GoldFileError(f"{at}: expected a JSON object, got {_json_type(turn)}")
        for name in turn:
            if name in ("id", "follows"):
                raise GoldFileError(
                    f'{at}: field "{name}" is not allowed in a turn (its id is "{conversation}.{number}", '
                    "and it follows the turns before it)"
                )
            if name not in TURN_FIELDS:
                raise GoldFileError(f'{at}: unknown field "{name}" (allowed in a turn: {", ".join(TURN_FIELDS)})')
        item = _parse_question({"id": f"{conversation}.{number}", **turn}, at, seen)
        items.append(replace(item, conversation=conversation, turn=number))
    return items


def _parse_question(obj: dict[str, Any], where: str, seen: set[str]) -> GoldItem:
    """Turn one question object into a GoldItem, or raise GoldFileError naming ``where`` and the field."""
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise GoldFileError(f'{where}: missing field "{name}"')
    for name in obj:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            allowed = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
            raise GoldFileError(f'{where}: unknown field "{name}" (allowed: {allowed})')

    item_id = _non_empty_string(obj, "id", where)
    if item_id in seen:
        raise GoldFileError(f'{where}: field "id" repeats the earlier id "{item_id}"')
    lang = obj["lang"]
    if lang not in LANGUAGES:
        got = json.dumps(lang, ensure_ascii=False)
        raise GoldFileError(f'{where}: field "lang" must be "ar" or "en", got {got}')
    question = _non_empty_string(obj, "question", where)
    answers, sources, evidence = (_string_list(obj, name, where) for name in _LIST_FIELDS)

    if bool(answers) != bool(sources):
        raise GoldFileError(
            f'{where}: field "sources" must be empty exactly when "answers" is empty '
            f"(got {len(answers)} answers, {len(sources)} sources)"
        )
    if bool(answers) != bool(evidence):
        raise GoldFileError(
            f'{where}: field "evidence" must be empty exactly when "answers" is empty '
            f"(got {len(answers)} answers, {len(evidence)} evidence strings)"
        )

    follows = obj.get("follows")
    if follows is not None:
        follows = _non_empty_string(obj, "follows", where)
        if follows not in seen:
            raise GoldFileError(f'{where}: field "follows" must name an earlier id, got "{follows}"')
    kind = obj.get("unanswerable")
    if kind is not None:
        if kind not in UNANSWERABLE_KINDS:
            got = json.dumps(kind, ensure_ascii=False)
            raise GoldFileError(f'{where}: field "unanswerable" must be "article" or "paragraph", got {got}')
        if answers:
            raise GoldFileError(f'{where}: field "unanswerable" is only for a question whose "answers" are empty')
    return GoldItem(item_id, lang, question, answers, sources, evidence, follows, kind)


def _non_empty_string(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise GoldFileError(f'{where}: field "{name}" must be a string, got {_json_type(value)}')
    if not value.strip():
        raise GoldFileError(f'{where}: field "{name}" must not be empty')
    return value


def _string_list(obj: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = obj[name]
    if not isinstance(value, list):
        raise GoldFileError(f'{where}: field "{name}" must be a list of strings, got {_json_type(value)}')
    for position, element in enumerate(value):
        if not isinstance(element, str):
            raise GoldFileError(
                f'{where}: field "{name}" item {position} must be a string, got {_json_type(element)}'
            )
        if not element.strip():
            raise GoldFileError(f'{where}: field "{name}" item {position} must not be empty')
    return tuple(value)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's default silently keeps the last of two equal keys; a gold file should not."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj
