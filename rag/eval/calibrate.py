"""Fit the quote weights (``rag.answer.quote_weights``), the refusal model (``rag.answer.refusal``) and the
short answer's span model (``rag.answer.span``) to gold questions: ``rag calibrate``.

First the quote candidates of every answerable gold question are scored with the weights in force and the
weights are chosen (kept unless others do better on held-out articles). Then every gold question is asked
through the same code path as ``rag eval``, with those weights, over the index of its own corpus. The
evidence of each answer, labelled answerable or not by the gold file, is what the refusal model is fitted
on; the quote each answerable question's short answer was taken from, with the gold answers, is what the
span model is fitted on. The figures reported are cross-validated (folds grouped by article), never the
fit's own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer import AnswerRequest
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.quote_weights import UNREAD, QuoteExample
from rag.answer.quote_weights import fit as fit_quote_weights
from rag.answer.refusal import (
    DEFAULT_L2,
    MAX_ANSWERABLE_REFUSED,
    Budget,
    Example,
    RefusalModel,
    cross_validate,
    features,
    fit,
)
from rag.answer.span import DEFAULT_L2 as SPAN_L2
from rag.answer.span import SpanExample, SpanModel, fit_and_cross_validate
from rag.eval.evaluate import evaluate
from rag.eval.gold import GoldItem
from rag.eval.metrics import contains_answer
from rag.profile import SentenceWeights
from rag.types import Evidence

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass
class GoldSet:
    """A gold file and the pipeline over its corpus."""

    path: Path
    items: Sequence[GoldItem]
    pipeline: Pipeline


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` fitted, with the cross-validated figures of each model (``span`` is None when
    the gold files give it nothing to fit on; ``span_cv`` then says why). ``weights`` are the quote weights
    the rest was fitted with: the ones chosen, or those in force (``weights_cv["used"]`` says which)."""

    weights: SentenceWeights
    weights_cv: dict[str, Any]
    refusal: RefusalModel
    refusal_cv: dict[str, Any]
    span: SpanModel | None
    span_cv: dict[str, Any]


def quote_examples(gold: GoldSet, *, progress: bool = False) -> list[QuoteExample]:
    """The quote candidates of each answerable gold question of ``gold``, scored as the extractive answerer
    scores them; follow-ups are left out (they are asked with their turn's answer)."""
    from tqdm import tqdm

    pipeline = gold.pipeline
    answerer = pipeline.answerer("extractive")
    assert isinstance(answerer, ExtractiveAnswerer)
    out = []
    for item in tqdm(gold.items, desc="quotes", unit="q", disable=not progress):
        if not item.answers or item.follow_up:
            continue
        query = pipeline.prepare(item.question, backend="extractive")
        candidates = answerer.candidates_for(AnswerRequest(query, pipeline.retrieve(query), pipeline.documents))
        features = np.array([[c.cosine, c.coverage, float(c.cue), c.hit_rank,
                              UNREAD if c.reading is None and answerer.reader is not None
                              else (c.reading.score if c.reading is not None else 0.0)]
                             for c in candidates]).reshape(-1, 5)
        holds = np.array([contains_answer(c.text, item.answers) for c in candidates], dtype=bool)
        article = item.sources[0] if item.sources else item.id
        out.append(QuoteExample(features, holds, str(gold.path), f"{gold.path}:{article}"))
    return out


def examples_from(gold: GoldSet, *, progress: bool = False) -> tuple[list[Example], list[SpanExample]]:
    """Ask every question of ``gold``; each answer's evidence becomes a labelled refusal example, and
    each answered answerable question's short-answer quote a span example.

    Questions answered without evidence (a generative backend that did not fall back) are left out.
    """
    report = evaluate(gold.pipeline, gold.items, progress=progress)
    out, spans = [], []
    for q in report["questions"]:
        if q["answerable"] and q["short_quote"]:
            group = f"{gold.path}:{q['sources'][0] if q['sources'] else q['id']}"
            spans.append(SpanExample(q["question"], q["short_quote"], tuple(q["answers"]),
                                     q["match_text"] or None, group))
        if q.get("evidence") is None:
            continue
        evidence = Evidence(**q["evidence"])
        group = q["sources"][0] if q["sources"] else f"unanswerable:{q['id']}"
        out.append(Example(features(evidence, q["lang"]), q["answerable"], q["lang"], str(gold.path),
                           f"{gold.path}:{group}"))
    return out, spans


def calibrate(
    golds: Sequence[GoldSet], *, folds: int = 5, l2: float = DEFAULT_L2, budget: Budget = MAX_ANSWERABLE_REFUSED,
    span_l2: float = SPAN_L2, progress: bool = False,
) -> Calibration:
    """The quote weights, refusal and span models fitted on all of ``golds``, and their cross-validated figures.

    The pipelines of ``golds`` answer with the chosen quote weights afterwards.

    Raises:
        ValueError: the gold files hold no unanswerable (or no answerable) question. (A span model with
            nothing to fit on is no error: ``span`` is None and the shipped one stays in force; nor are
            quote weights with nothing to fit on: those in force stay.)
    """
    current = golds[0].pipeline.profile.weights if golds else SentenceWeights()
    quotes = [e for gold in golds for e in quote_examples(gold, progress=progress)]
    try:
        weights, weights_cv = fit_quote_weights(quotes, current, k=folds)
    except ValueError as e:
        log.warning("quote weights not fitted: %s", e)
        weights, weights_cv = current, {"questions": len(quotes), "used": "current", "error": str(e)}
    for gold in golds:
        gold.pipeline.use_profile(gold.pipeline.profile.with_(weights=weights))
    examples: list[Example] = []
    spans: list[SpanExample] = []
    for gold in golds:
        found, found_spans = examples_from(gold, progress=progress)
        log.info("%s: %d questions, %d short-answer quotes", gold.path, len(found), len(found_spans))
        examples += found
        spans += found_spans
    cv = cross_validate(examples, k=folds, l2=l2, budget=budget)
    model = fit(examples, l2, budget=budget)
    counts = [f"{g.path} ({sum(1 for e in examples if e.source == str(g.path))} questions)" for g in golds]
    model = RefusalModel(model.features, model.mean, model.scale, model.coef, model.intercept, model.threshold,
                         tuple(counts), cv)
    try:
        fitted = fit_and_cross_validate(spans, k=folds, l2=span_l2)
    except ValueError as e:  # e.g. only typed questions: the refusal model still stands
        log.warning("span model not fitted: %s", e)
        return Calibration(weights, weights_cv, model, cv, None, {"examples": len(spans), "error": str(e)})
    span_counts = [f"{g.path} ({sum(1 for e in spans if e.group.startswith(f'{g.path}:'))} quotes)" for g in golds]
    span = SpanModel(fitted.weights, tuple(span_counts), fitted.cross_validated)
    return Calibration(weights, weights_cv, model, cv, span, fitted.cross_validated)
