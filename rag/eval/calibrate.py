"""Fit the refusal model (``rag.answer.refusal``) and the short answer's span model (``rag.answer.span``)
to gold questions: ``rag calibrate``.

Every gold question is asked through the same code path as ``rag eval`` over the index of its own corpus.
The evidence of each answer, labelled answerable or not by the gold file, is what the refusal model is
fitted on; the quote each answerable question's short answer was taken from, with the gold answers, is
what the span model is fitted on. The figures reported are cross-validated (folds grouped by article),
never the fit's own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    the gold files give it nothing to fit on; ``span_cv`` then says why)."""

    refusal: RefusalModel
    refusal_cv: dict[str, Any]
    span: SpanModel | None
    span_cv: dict[str, Any]


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
    """The refusal and span models fitted on all of ``golds``, and their cross-validated figures.

    Raises:
        ValueError: the gold files hold no unanswerable (or no answerable) question. (A span model with
            nothing to fit on is no error: ``span`` is None and the shipped one stays in force.)
    """
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
        return Calibration(model, cv, None, {"examples": len(spans), "error": str(e)})
    span_counts = [f"{g.path} ({sum(1 for e in spans if e.group.startswith(f'{g.path}:'))} quotes)" for g in golds]
    span = SpanModel(fitted.weights, tuple(span_counts), fitted.cross_validated)
    return Calibration(model, cv, span, fitted.cross_validated)
