"""Import a SQuAD file (v1.1 or 2.0: SQuAD, ARCD, MLQA, XQuAD, TyDi-GoldP, AAQAD) as a corpus folder and a gold file.

Each SQuAD article becomes one article file: its title on the first line, then its paragraphs, separated
by blank lines. Entries with the same title are one article and identical paragraphs of an article one
paragraph (``merge_articles``): some benchmarks ship one entry per question, repeating its title and
paragraph. Each question becomes one gold item whose answers are verbatim spans of the article and
whose evidence is the sentence(s) that contain the answer span.

Unanswerable questions have answers, sources and evidence empty, and say why (the gold file's
``unanswerable``): SQuAD 2.0's ``is_impossible`` questions are ``"paragraph"`` (their article stays in the
corpus; its paragraph does not answer them), and every question of a held-out article is ``"article"``
(holding out articles keeps them out of the corpus, which is how a reading-comprehension set, where every
question is answerable, tests refusals).

A parallel file with the same question ids (``questions_from``, as MLQA and XQuAD ship one per language)
adds the same questions in another language, answered by the main file's spans: English questions over
Arabic articles.

Everything here is a pure function over parsed JSON except ``read_squad`` and ``write_import``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import GoldFileError
from rag.eval.gold import REQUIRED_FIELDS, UNANSWERABLE_KINDS, GoldItem, check_evidence, load_gold
from rag.ingest.chunk import split_sentences
from rag.text.normalize import detect_language

log = logging.getLogger(__name__)

#: Between paragraphs of an article file (and between the title and the first paragraph).
PARAGRAPH_SEPARATOR = "\n\n"
# Bidi controls some files carry at the start of a question (XQuAD's Arabic file has U+200F).
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# ARCD: " - من هو ...؟ " — a list dash before the question.
_LEADING_DASH = re.compile(r"^\s*[-–—]\s*")
# ARCD: "...؟ ال" or "...؟ما" — a few stray letters after the question mark.
_TRAILING_JUNK = re.compile(r"([؟?])\s*[\u0621-\u064a]{1,3}\s*$")


@dataclass(frozen=True)
class SquadQuestion:
    """One question of a SQuAD file with its answer spans located in its article.

    Attributes:
        id: The file's question id.
        question: The question as written in the file (before ``clean_question``).
        article: 0-based index of its article in the file.
        spans: ``(start, end)`` offsets of each distinct answer in the article file's text.
    """

    id: str
    question: str
    article: int
    spans: tuple[tuple[int, int], ...]


@dataclass
class ImportResult:
    """What ``import_squad`` makes.

    Attributes:
        articles: File name -> article text, for the articles kept in the corpus.
        items: The gold items, in file order (parallel-language items after their original).
        held_out: Titles of the articles kept out of the corpus.
        skipped: Question id -> why it was left out (an answer not found in its paragraph, an empty question).
        merged_articles: Entries of the file folded into an earlier entry with the same title.
        merged_paragraphs: Paragraphs folded into an identical earlier paragraph of the same article.
    """

    articles: dict[str, str]
    items: list[GoldItem]
    held_out: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    merged_articles: int = 0
    merged_paragraphs: int = 0

    def counts(self) -> dict[str, Any]:
        """Counts for a summary line: articles, held out, questions per language, answerable/unanswerable
        (and unanswerable per kind), skipped, merged.

        Example: ``ImportResult({}, []).counts()["questions"] == 0``
        """
        by_lang = Counter(item.lang for item in self.items)
        by_kind = Counter(item.unanswerable for item in self.items if not item.answerable)
        return {
            "articles": len(self.articles),
            "held_out_articles": len(self.held_out),
            "questions": len(self.items),
            "answerable": sum(item.answerable for item in self.items),
            "unanswerable": sum(not item.answerable for item in self.items),
            "unanswerable_by_kind": {kind: by_kind[kind] for kind in UNANSWERABLE_KINDS},
            "by_language": dict(sorted(by_lang.items())),
            "skipped": len(self.skipped),
            "merged_articles": self.merged_articles,
            "merged_paragraphs": self.merged_paragraphs,
        }


def clean_question(question: str) -> str:
    """The question without the quirks of crowd-written files: bidi marks, a leading list dash,
    stray letters after the question mark, runs of spaces.

    Example: ``clean_question(" - متى ولد  خاشقجي؟ ال") == "متى ولد خاشقجي؟"``
    """
    q = _BIDI.sub("", question)
    q = _LEADING_DASH.sub("", q)
    q = " ".join(q.split())
    q = _TRAILING_JUNK.sub(r"\1", q)
    return q.strip()


def article_text(title: str, paragraphs: Sequence[str]) -> tuple[str, list[int]]:
    """An article file's text, and where each paragraph starts in it.

    Paragraphs are stripped of surrounding whitespace (offsets are shifted by the caller with
    ``paragraph_shift``); the title is collapsed to one line so that it stays the file's first line.

    Example: ``article_text("T", ["a", "b"]) == ("T\\n\\na\\n\\nb\\n", [3, 6])``
    """
    parts = [" ".join(title.split()) or "untitled"]
    starts = []
    position = len(parts[0])
    for paragraph in paragraphs:
        position += len(PARAGRAPH_SEPARATOR)
        starts.append(position)
        parts.append(paragraph.strip())
        position += len(parts[-1])
    return PARAGRAPH_SEPARATOR.join(parts) + "\n", starts


def paragraph_shift(paragraph: str) -> int:
    """How many leading characters ``str.strip`` removes from a paragraph (its offsets move by this much).

    Example: ``paragraph_shift("  ab ") == 2``
    """
    return len(paragraph) - len(paragraph.lstrip())


def locate_answer(context: str, text: str, start: int) -> tuple[int, int] | None:
    """The answer's ``(start, end)`` in ``context``: at ``start`` when it is there verbatim, else the
    occurrence nearest to ``start`` with whitespace allowed to differ (ARCD's answers sometimes have one
    space where the paragraph has two, or a plain space for a no-break space). None when it is nowhere.

    Surrounding whitespace of the answer is not part of the span.

    Example: ``locate_answer("a  b c", "a b", 0) == (0, 4)``
    """
    text = text.strip()
    if not text:
        return None
    if context[start : start + len(text)] == text:
        return start, start + len(text)
    pattern = r"\s+".join(re.escape(word) for word in text.split())
    matches = [(m.start(), m.end()) for m in re.finditer(pattern, context)]
    if not matches:
        return None
    return min(matches, key=lambda span: abs(span[0] - start))


def evidence_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The sentence(s) of ``text`` that contain ``span``: from the start of the sentence where the span
    starts to the end of the sentence where it ends (``rag.ingest.chunk.split_sentences``).

    Example: ``evidence_span("One. Two three. Four.", (9, 14)) == (5, 15)``
    """
    start, end = span
    sentences = [s for s in split_sentences(text) if s[0] < end and start < s[1]]
    if not sentences:
        return span
    return min(sentences[0][0], start), max(sentences[-1][1], end)


def parse_squad(data: Any, where: str) -> list[dict[str, Any]]:
    """Check a parsed SQuAD (v1.1 or 2.0) object and return its articles (``data["data"]``).

    Example: ``parse_squad({"data": []}, "x.json") == []``

    Raises:
        GoldFileError: naming ``where`` and the first field that is missing or has the wrong type.
    """
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise GoldFileError(f'{where}: not a SQuAD file (expected an object with a "data" list)')
    for a, article in enumerate(data["data"]):
        at = f"{where}: data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise GoldFileError(f'{at}: expected an object with a "paragraphs" list')
        if not isinstance(article.get("title", ""), str):
            raise GoldFileError(f'{at}: field "title" must be a string')
        for p, paragraph in enumerate(article["paragraphs"]):
            pt = f"{at}.paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise GoldFileError(f'{pt}: expected an object with a "context" string')
            if not isinstance(paragraph.get("qas", []), list):
                raise GoldFileError(f'{pt}: field "qas" must be a list')
            for q, qa in enumerate(paragraph.get("qas", [])):
                qt = f"{pt}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise GoldFileError(f"{qt}: expected an object")
                for name, kind in (("id", (str, int)), ("question", str), ("answers", list)):
                    if not isinstance(qa.get(name), kind):
                        raise GoldFileError(f'{qt}: field "{name}" is missing or has the wrong type')
                if not isinstance(qa.get("is_impossible", False), bool):
                    raise GoldFileError(f'{qt}: field "is_impossible" must be true or false')
                for n, answer in enumerate(qa["answers"]):
                    if not (isinstance(answer, dict) and isinstance(answer.get("text"), str)
                            and isinstance(answer.get("answer_start"), int)):
                        raise GoldFileError(f'{qt}.answers[{n}]: expected {{"text": str, "answer_start": int}}')
    return data["data"]


def read_squad(path: Path) -> list[dict[str, Any]]:
    """Read and check a SQuAD (v1.1 or 2.0) JSON file; returns its articles.

    Raises:
        GoldFileError: The file is missing, not JSON, or not in the SQuAD format.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as e:
        raise GoldFileError(f"{path}: file not found; pass a SQuAD (v1.1 or 2.0) .json file") from e
    except UnicodeDecodeError as e:
        raise GoldFileError(f"{path.name}: not valid UTF-8 at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise GoldFileError(f"{path.name}: not valid JSON ({e.msg} at line {e.lineno})") from e
    return parse_squad(data, path.name)


def doc_id_for(index: int, title: str) -> str:
    """The article file's name: its position and a hash of its title, like the seed articles' names.

    Example: ``doc_id_for(3, "T")[:4] == "003_"``
    """
    return f"{index:03d}_{hashlib.sha256(title.encode('utf-8')).hexdigest()[:16]}.txt"


def article_range(spec: str, n_articles: int) -> slice:
    """The articles ``START:END`` names (Python slice rules, either end may be left out), checked.

    Splitting a benchmark by article into a development part and a report part is then one flag on each
    import: ``--articles :9`` and ``--articles 9:``.

    Example: ``article_range("9:", 21) == slice(9, 21)``

    Raises:
        ValueError: ``spec`` is not ``START:END`` of integers, or names no article.
    """
    start_s, colon, end_s = spec.partition(":")
    try:
        if not colon:
            raise ValueError
        start = int(start_s) if start_s.strip() else 0
        end = int(end_s) if end_s.strip() else n_articles
    except ValueError:
        raise ValueError(f"--articles {spec!r} is not START:END (article positions, e.g. 0:9 or 9:)") from None
    first, stop, _ = slice(start, end).indices(n_articles)
    chosen = slice(first, stop)
    if chosen.start >= chosen.stop:
        raise ValueError(f"--articles {spec!r} names no article of the file's {n_articles}")
    return chosen


def choose_held_out(n_articles: int, hold_out: int, seed: int) -> set[int]:
    """Which article indices to hold out: ``hold_out`` of them, drawn with ``random.Random(seed)``.

    Example: ``choose_held_out(10, 2, 0) == choose_held_out(10, 2, 0)``

    Raises:
        ValueError: ``hold_out`` is negative or leaves no article in the corpus.
    """
    if not 0 <= hold_out < max(n_articles, 1):
        raise ValueError(f"--hold-out-articles must be between 0 and {max(n_articles - 1, 0)}, got {hold_out}")
    return set(random.Random(seed).sample(range(n_articles), hold_out))


def merge_articles(articles: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The articles with entries of the same title made one article, and identical paragraphs of an article
    made one paragraph holding all their questions; first appearances keep their order.

    Some benchmarks ship one entry per question, repeating its title and paragraph: imported as they are,
    they would make article files that are exact duplicates (which the indexer skips). Titles compare as
    the article file's first line (whitespace collapsed) and untitled entries are never merged; paragraphs
    compare without surrounding whitespace, and a folded question's answer offsets move with it. The input
    is not modified.

    Example: ``len(merge_articles([{"title": "T", "paragraphs": [p]}, {"title": "T", "paragraphs": [p]}])) == 1``
    """
    merged: list[dict[str, Any]] = []
    position: dict[str, int] = {}  # collapsed title -> its article's position in ``merged``
    kept: dict[tuple[int, str], dict[str, Any]] = {}  # (position, stripped context) -> the paragraph kept
    for article in articles:
        title = " ".join(article.get("title", "").split())
        a = position.get(title, len(merged)) if title else len(merged)
        if a == len(merged):
            merged.append({**article, "paragraphs": []})
            if title:
                position[title] = a
        for paragraph in article["paragraphs"]:
            key = (a, paragraph["context"].strip())
            if key not in kept:
                kept[key] = {**paragraph, "qas": list(paragraph.get("qas", []))}
                merged[a]["paragraphs"].append(kept[key])
                continue
            shift = paragraph_shift(kept[key]["context"]) - paragraph_shift(paragraph["context"])
            kept[key]["qas"].extend(_shift_answers(qa, shift) for qa in paragraph.get("qas", []))
    return merged


def _shift_answers(qa: Mapping[str, Any], shift: int) -> Mapping[str, Any]:
    if not shift:
        return qa
    return {**qa, "answers": [{**answer, "answer_start": answer["answer_start"] + shift} for answer in qa["answers"]]}


def _n_paragraphs(articles: Sequence[Mapping[str, Any]]) -> int:
    return sum(len(article["paragraphs"]) for article in articles)


def import_squad(
    articles: Sequence[Mapping[str, Any]],
    *,
    part: str | None = None,
    hold_out: int = 0,
    seed: int = 0,
    parallel: Mapping[str, str] | None = None,
    parallel_lang: str = "en",
) -> ImportResult:
    """Turn parsed SQuAD articles into article files and gold items.

    Entries are merged first (``merge_articles``), so positions (``part``) count merged articles.

    Example: ``import_squad(parse_squad(data, "x.json"), hold_out=1).counts()["held_out_articles"] == 1``

    Args:
        articles: ``data["data"]`` of a SQuAD v1.1 or 2.0 file (see ``parse_squad``).
        part: ``START:END``: import only these articles, by position (see ``article_range``); None for all.
        hold_out: How many articles to keep out of the corpus; their questions become unanswerable (``"article"``).
        seed: Seeds the choice of held-out articles.
        parallel: Question id -> the same question in ``parallel_lang``; each id found adds a second item.
        parallel_lang: ``"ar"`` or ``"en"``.

    Returns:
        The articles kept, the gold items, the held-out titles, the skipped question ids with reasons and
        how many entries and paragraphs were merged.

    Raises:
        ValueError: ``part``, ``hold_out`` or ``parallel_lang`` is out of range.
    """
    if parallel_lang not in ("ar", "en"):
        raise ValueError(f'the parallel questions\' language must be "ar" or "en", got {parallel_lang!r}')
    entries = articles
    articles = merge_articles(entries)
    merged_articles = len(entries) - len(articles)
    merged_paragraphs = _n_paragraphs(entries) - _n_paragraphs(articles)
    if merged_articles or merged_paragraphs:
        log.info("merged %d repeated entries and %d repeated paragraphs", merged_articles, merged_paragraphs)
    if part is not None:
        articles = articles[article_range(part, len(articles))]
    held = choose_held_out(len(articles), hold_out, seed)
    language = file_language(articles)
    result = ImportResult(articles={}, items=[], merged_articles=merged_articles,
                          merged_paragraphs=merged_paragraphs)
    used_ids: set[str] = set()
    names: set[str] = set()
    for a, article in enumerate(articles):
        title = article.get("title", "") or f"article {a + 1}"
        paragraphs = [p["context"] for p in article["paragraphs"]]
        text, starts = article_text(title, paragraphs)
        doc_id = doc_id_for(a, title)
        assert doc_id not in names, doc_id
        names.add(doc_id)
        if a in held:
            result.held_out.append(title)
        else:
            result.articles[doc_id] = text
        for p, paragraph in enumerate(article["paragraphs"]):
            context = paragraph["context"]
            offset = starts[p] - paragraph_shift(context)
            for qa in paragraph.get("qas", []):
                qid = str(qa["id"])
                impossible = qa.get("is_impossible", False)
                spans, problem = ([], "") if impossible else _answer_spans(context, qa["answers"])
                question = clean_question(qa["question"])
                if not question:
                    problem = "the question is empty"
                if problem:
                    result.skipped[qid] = problem
                    log.warning("skipping question %s: %s", qid, problem)
                    continue
                spans = [(s + offset, e + offset) for s, e in spans]
                kind = "article" if a in held else "paragraph" if impossible else None
                languages = [(language, question)]
                if parallel is not None and qid in parallel and clean_question(parallel[qid]):
                    languages.append((parallel_lang, clean_question(parallel[qid])))
                for lang, q in languages:
                    item_id = _unique(f"{lang}-{qid}", used_ids)
                    result.items.append(_item(item_id, lang, q, text, doc_id, spans, kind))
    return result


def _answer_spans(context: str, answers: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[int, int]], str]:
    """The distinct answer spans in the paragraph, or a reason why the question cannot be used."""
    if not answers:
        return [], 'no answer, and not marked "is_impossible"'
    spans: list[tuple[int, int]] = []
    for answer in answers:
        if not answer["text"].strip():
            return [], 'an empty answer, and not marked "is_impossible"'
        span = locate_answer(context, answer["text"], answer["answer_start"])
        if span is None:
            return [], f'answer "{answer["text"]}" not found in its paragraph'
        if context[span[0] : span[1]] not in {context[s:e] for s, e in spans}:
            spans.append(span)
    return spans, ""


def _item(item_id: str, lang: str, question: str, text: str, doc_id: str,
          spans: Sequence[tuple[int, int]], unanswerable: str | None) -> GoldItem:
    if unanswerable is not None:
        return GoldItem(item_id, lang, question, (), (), (), unanswerable=unanswerable)
    answers = tuple(text[s:e] for s, e in spans)
    evidence: list[str] = []
    for span in spans:
        s, e = evidence_span(text, span)
        if text[s:e] not in evidence:
            evidence.append(text[s:e])
    return GoldItem(item_id, lang, question, answers, (doc_id,), tuple(evidence))


def _unique(item_id: str, used: set[str]) -> str:
    candidate, n = item_id, 1
    while candidate in used:
        n += 1
        candidate = f"{item_id}-{n}"
    used.add(candidate)
    return candidate


def file_language(articles: Sequence[Mapping[str, Any]]) -> str:
    """The language most of a file's questions are written in (``detect_language`` per question): one
    Arabic question naming an English title must not become an English one.

    Example: ``file_language([]) == "ar"``
    """
    votes = Counter(detect_language(qa["question"]) for a in articles for p in a["paragraphs"]
                    for qa in p.get("qas", []))
    return "en" if votes["en"] > votes["ar"] else "ar"


def parallel_questions(articles: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Question id -> question text over all articles of a parsed SQuAD file.

    Example: ``parallel_questions([{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q?",
    "answers": []}]}]}]) == {"1": "q?"}``
    """
    return {str(qa["id"]): qa["question"] for a in articles for p in a["paragraphs"] for qa in p.get("qas", [])}


def gold_line(item: GoldItem) -> str:
    """One line of a gold JSON Lines file.

    Example: ``json.loads(gold_line(GoldItem("a", "ar", "q", (), (), ())))["answers"] == []``
    """
    obj = {name: list(v) if isinstance(v := getattr(item, name), tuple) else v for name in REQUIRED_FIELDS}
    if item.follows is not None:
        obj["follows"] = item.follows
    if item.unanswerable is not None:
        obj["unanswerable"] = item.unanswerable
    return json.dumps(obj, ensure_ascii=False)


def write_import(result: ImportResult, corpus_out: Path, gold_out: Path) -> None:
    """Write the article files and the gold file, then read both back and check every evidence span.

    Raises:
        GoldFileError: ``corpus_out`` already holds articles (choose an empty or new folder), or the
            written gold file does not check out against the written articles (a bug, reported with the
            first problems).
    """
    corpus_out, gold_out = Path(corpus_out), Path(gold_out)
    if corpus_out.exists() and any(p.suffix in (".txt", ".md") for p in corpus_out.iterdir()):
        raise GoldFileError(f"{corpus_out} already holds articles; pass an empty or new folder as --corpus-out")
    corpus_out.mkdir(parents=True, exist_ok=True)
    for doc_id, text in result.articles.items():
        (corpus_out / doc_id).write_text(text, encoding="utf-8", newline="")
    gold_out.parent.mkdir(parents=True, exist_ok=True)
    tmp = gold_out.with_name(gold_out.name + ".tmp")
    tmp.write_text("".join(gold_line(item) + "\n" for item in result.items), encoding="utf-8")
    tmp.replace(gold_out)
    documents = {p.name: p.read_text(encoding="utf-8-sig") for p in corpus_out.iterdir() if p.suffix == ".txt"}
    problems = check_evidence(load_gold(gold_out), documents)
    if problems:
        raise GoldFileError(f"{gold_out}: {len(problems)} evidence problems, first: {problems[0]}")
