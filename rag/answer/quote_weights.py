"""Fit how a quote candidate's score is combined (``rag.profile.SentenceWeights``) to gold questions.

The extractive answerer scores every sentence of the retrieved passages as cosine + coverage × its share of
the question's terms + cue × whether it holds what the question type asks for − rank × its passage's rank,
and quotes the best (``rag.answer.extractive``). ``rag calibrate`` chooses those three weights on a grid:
the ones under which the first quote holds a gold answer most often, each gold file weighing the same.
Chosen on data this small, a grid point can win by noise, so the weights in force are kept unless the
chosen ones do better on held-out articles (``fit``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rag.profile import SentenceWeights

#: The grid searched: coverage, cue, rank, reader (cosine stays 1: only the weights' ratios matter).
RULE_GRID = tuple(itertools.product((0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.05, 0.1, 0.2, 0.3),
                                    (0.0, 0.01, 0.02, 0.05)))
GRID = tuple((*p, r) for p in RULE_GRID for r in (0.0, 0.05, 0.1, 0.2, 0.5))
#: The reader column of a candidate the reading model did not read: below every read one, as the answerer
#: ranks them (``rag.answer.extractive.ExtractiveAnswerer.candidates``).
UNREAD = -1000.0


@dataclass(frozen=True)
class QuoteExample:
    """The quote candidates of one answerable gold question.

    Attributes:
        features: One row per candidate sentence: cosine, coverage, cue met (0/1), passage rank (0-based), and
            the reading model's logit (``UNREAD`` when it did not read the sentence, 0 for every sentence without a
            reader).
        holds: Per candidate, whether it holds a gold answer.
        source: The gold file it comes from (each file weighs the same).
        group: Its article, so that cross-validation folds never split an article.
    """

    features: np.ndarray
    holds: np.ndarray
    source: str
    group: str


def _vector(weights: SentenceWeights) -> np.ndarray:
    return np.array([weights.cosine, weights.coverage, weights.cue, -weights.rank, weights.reader])


def first_holds(examples: Sequence[QuoteExample], weights: SentenceWeights) -> dict[str, float]:
    """Per gold file, the share of questions whose best-scored candidate holds a gold answer.

    Example: ``first_holds([QuoteExample(np.array([[0.9, 0, 0, 0], [0.8, 1, 0, 0]]), np.array([False, True]),
    "g", "a")], SentenceWeights(coverage=0.4)) == {"g": 1.0}``
    """
    hits: dict[str, list[bool]] = {}
    v = _vector(weights)
    for e in examples:
        hits.setdefault(e.source, []).append(bool(e.holds[int(np.argmax(e.features @ v))]))
    return {source: float(np.mean(h)) for source, h in hits.items()}


def _objective(examples: Sequence[QuoteExample], weights: SentenceWeights) -> float:
    shares = first_holds(examples, weights)
    return float(np.mean(list(shares.values()))) if shares else 0.0


def choose(examples: Sequence[QuoteExample], start: SentenceWeights) -> SentenceWeights:
    """The grid point with the best mean over gold files of ``first_holds``; among equals, the nearest to
    ``start`` (so that a tie changes nothing). ``start``'s other fields are kept."""
    read = any((e.features[:, 4] != 0).any() for e in examples if len(e.features))
    # Nothing read (no reader): the reader weight stays as it is.
    grid = GRID if read else tuple((*p, start.reader) for p in RULE_GRID)

    def key(point: tuple[float, float, float, float]) -> tuple[float, float]:
        w = replace(start, coverage=point[0], cue=point[1], rank=point[2], reader=point[3])
        distance = (abs(point[0] - start.coverage) + abs(point[1] - start.cue) + abs(point[2] - start.rank)
                    + abs(point[3] - start.reader))
        return round(_objective(examples, w), 9), -distance

    best = max(grid, key=key)
    return replace(start, coverage=best[0], cue=best[1], rank=best[2], reader=best[3])


def fit(
    examples: Sequence[QuoteExample], current: SentenceWeights, k: int = 5,
) -> tuple[SentenceWeights, dict[str, Any]]:
    """The weights to use, and the figures behind the choice.

    The grid is searched on all examples; its choice is used only when choosing on ``k - 1`` folds of the
    articles beats ``current`` on the held-out fold (the mean over gold files of the share of first quotes
    holding an answer). Otherwise ``current`` stays.

    Raises:
        ValueError: no example has a candidate that holds an answer (nothing to fit on).
    """
    if not any(e.holds.any() for e in examples):
        raise ValueError("no answerable gold question has a retrieved sentence holding its answer")
    groups = sorted({e.group for e in examples})
    fold_of = {g: n % k for n, g in enumerate(groups)}
    held_out: list[tuple[QuoteExample, SentenceWeights]] = []
    for fold in range(k):
        train = [e for e in examples if fold_of[e.group] != fold]
        test = [e for e in examples if fold_of[e.group] == fold]
        if not train or not test:
            continue
        chosen = choose(train, current)
        held_out += [(e, chosen) for e in test]
    cv_fitted: dict[str, list[bool]] = {}
    for e, w in held_out:
        cv_fitted.setdefault(e.source, []).append(bool(e.holds[int(np.argmax(e.features @ _vector(w)))]))
    fitted_shares = {s: float(np.mean(h)) for s, h in cv_fitted.items()}
    current_shares = first_holds([e for e, _ in held_out], current)
    chosen = choose(examples, current)
    # With a single article there is no held-out fold, and nothing shows the chosen weights do better.
    better = bool(held_out) and np.mean(list(fitted_shares.values())) > np.mean(list(current_shares.values()))
    figures = {
        "questions": len(examples), "folds": k,
        "current": {"coverage": current.coverage, "cue": current.cue, "rank": current.rank, "reader": current.reader},
        "chosen": {"coverage": chosen.coverage, "cue": chosen.cue, "rank": chosen.rank, "reader": chosen.reader},
        "used": "chosen" if better else "current",
        "first_quote_holds": {"current": current_shares, "chosen_cross_validated": fitted_shares},
    }
    return (chosen if better else current), figures
