"""Fit the refusal model (``rag.answer.refusal``) to gold questions: ``rag calibrate``.

Every gold question is asked through the same code path as ``rag eval`` over the index of its own corpus;
the evidence of each answer, labelled answerable or not by the gold file, is what the model is fitted on.
The figures reported are cross-validated (folds grouped by article), never the fit's own.
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


def examples_from(gold: GoldSet, *, progress: bool = False) -> list[Example]:
    """Ask every question of ``gold`` and turn each answer's evidence into a labelled example.

    Questions answered without evidence (a generative backend that did not fall back) are left out.
    """
    report = evaluate(gold.pipeline, gold.items, progress=progress)
    out = []
    for q in report["questions"]:
        if q.get("evidence") is None:
            continue
        evidence = Evidence(**q["evidence"])
        group = q["sources"][0] if q["sources"] else f"unanswerable:{q['id']}"
        out.append(Example(features(evidence, q["lang"]), q["answerable"], q["lang"], str(gold.path),
                           f"{gold.path}:{group}"))
    return out


def calibrate(
    golds: Sequence[GoldSet], *, folds: int = 5, l2: float = DEFAULT_L2, budget: Budget = MAX_ANSWERABLE_REFUSED,
    progress: bool = False,
) -> tuple[RefusalModel, dict[str, Any]]:
    """The refusal model fitted on all of ``golds``, and its cross-validated figures.

    Raises:
        ValueError: the gold files hold no unanswerable (or no answerable) question.
    """
    examples: list[Example] = []
    for gold in golds:
        found = examples_from(gold, progress=progress)
        log.info("%s: %d questions", gold.path, len(found))
        examples += found
    cv = cross_validate(examples, k=folds, l2=l2, budget=budget)
    model = fit(examples, l2, budget=budget)
    counts = [f"{g.path} ({sum(1 for e in examples if e.source == str(g.path))} questions)" for g in golds]
    model = RefusalModel(model.features, model.mean, model.scale, model.coef, model.intercept, model.threshold,
                         tuple(counts), cv)
    return model, cv
