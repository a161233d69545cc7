"""A warm ask against embedding the question alone (``ask_over_embed``)."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
from rag.bench.common import GOALS, meets, ratio, sig

log = logging.getLogger(__name__)


def bench_ask(pipeline: Pipeline, questions: Sequence[str], warmup: int = 2) -> dict[str, Any]:
    """Warm extractive ask p50 over the p50 of embedding the question alone.

    The pipeline caches query embeddings per text, so the cache is cleared before each timed ask and every
    question is distinct: each ask pays for one real embedding, as a new user question does.

    Example: ``bench_ask(pipeline, questions)["value"]`` is about 1.1 when retrieval and answering are cheap.

    Args:
        pipeline: A loaded pipeline.
        questions: Distinct questions; the first ``warmup`` only warm up.
        warmup: Questions asked before timing.
    """
    if len(questions) <= warmup:
        raise ValueError(f"need more than {warmup} questions, got {len(questions)}")
    for q in questions[:warmup]:
        pipeline.ask(q, backend="extractive")
        pipeline.embedder.embed_query(q)
    ask_ms, embed_ms = [], []
    stages: dict[str, list[float]] = {}
    by_language: dict[str, list[float]] = {}
    for q in questions[warmup:]:
        pipeline.embed.clear()
        t = time.perf_counter()
        answer = pipeline.ask(q, backend="extractive")
        ask_ms.append((time.perf_counter() - t) * 1000)
        by_language.setdefault(answer.language, []).append(ask_ms[-1])
        t = time.perf_counter()
        pipeline.embedder.embed_query(q)
        embed_ms.append((time.perf_counter() - t) * 1000)
        for name, value in answer.timings.items():
            stages.setdefault(name, []).append(value)
    ask_p50, embed_p50 = statistics.median(ask_ms), statistics.median(embed_ms)
    stage_p50 = {name: round(statistics.median(v), 3) for name, v in stages.items()}
    # The query stage includes the question's forward pass; bridging an English question adds one more.
    others = {name: v for name, v in stage_p50.items() if name in ("query_ms", "retrieve_ms", "answer_ms")}
    value = ratio(ask_p50, embed_p50)
    return {
        "value": sig(value),
        "goal": GOALS["ask_over_embed"],
        "meets_goal": meets(value, GOALS["ask_over_embed"]),
        "ask_p50_ms": round(ask_p50, 3),
        "embed_p50_ms": round(embed_p50, 3),
        "stages_p50_ms": stage_p50,
        "ask_p50_ms_by_language": {lang: round(statistics.median(v), 3) for lang, v in sorted(by_language.items())},
        "slowest_part": max(others, key=lambda name: others[name]) if others else None,
        "n_questions": len(ask_ms),
    }


def bench_reader(pipeline: Pipeline, questions: Sequence[str], warmup: int = 2) -> dict[str, Any] | None:
    """The reading model's time per question, p50, over embedding the question alone, p50 (None without shipped
    weights or with another embedding model).

    The reader reads the best-scored sentences of the retrieved passages (``Profile.reader_candidates``); it is
    timed here on as many sentences of each answer's passages, in the order retrieval gave them, which costs what
    the answer stage's own read costs (the same count of sentences of the same passages).
    """
    from rag.answer.reader import reader_for

    # The reader is off by default: the bench loads the shipped one on the pipeline's encoder to time it.
    reader = pipeline.reader or reader_for(pipeline.settings.with_(reader="on"), pipeline.embedder)
    if reader is None:
        return None
    n = pipeline.profile.reader_candidates
    read_ms, embed_ms = [], []
    for i, q in enumerate(questions):
        answer = pipeline.ask(q, backend="extractive")
        texts = [pipeline.documents[h.chunk.doc_id].text[s:e] for h in answer.passages for s, e in h.chunk.sentences]
        t = time.perf_counter()
        reader.read(answer.resolved_question or q, texts[:n])
        elapsed = (time.perf_counter() - t) * 1000
        pipeline.embed.clear()
        t = time.perf_counter()
        pipeline.embedder.embed_query(q)
        if i >= warmup:
            read_ms.append(elapsed)
            embed_ms.append((time.perf_counter() - t) * 1000)
    value = ratio(statistics.median(read_ms), statistics.median(embed_ms))
    return {
        "value": sig(value),
        "goal": GOALS["reader_over_embed"],
        "meets_goal": meets(value, GOALS["reader_over_embed"]),
        "read_p50_ms": round(statistics.median(read_ms), 3),
        "embed_p50_ms": round(statistics.median(embed_ms), 3),
        "sentences": n,
        "reader": reader.name,
        "n_questions": len(read_ms),
    }


def bench_questions(gold_path: Path, n: int) -> list[str]:
    """``n`` distinct gold questions that are not follow-ups, alternating Arabic and English while both last.

    Example: ``len(bench_questions(Path("seeds/gold_qa.jsonl"), 22)) == 22``
    """
    from rag.eval.gold import load_gold

    items = [i for i in load_gold(gold_path) if i.follows is None]
    by_lang = {lang: [i.question for i in items if i.lang == lang] for lang in ("ar", "en")}
    out: list[str] = []
    while len(out) < n and any(by_lang.values()):
        for lang in ("ar", "en"):
            if by_lang[lang] and len(out) < n:
                q = by_lang[lang].pop(0)
                if q not in out:
                    out.append(q)
    return out
