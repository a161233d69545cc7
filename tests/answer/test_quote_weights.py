"""rag.answer.quote_weights: choosing how a quote candidate's score is combined, on held-out articles."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answer.quote_weights import UNREAD, QuoteExample, choose, first_holds, fit
from rag.profile import SentenceWeights


def example(source: str, group: str, coverage_decides: bool) -> QuoteExample:
    """Two sentences: a close paraphrase without the answer (cosine 0.86, no term of the question) and the
    answer (cosine 0.80, every term). With ``coverage_decides`` False the close one holds the answer."""
    features = np.array([[0.86, 0.0, 0.0, 0.0, 0.0], [0.80, 1.0, 0.0, 1.0, 0.0]])  # no reader: its column is 0
    holds = np.array([not coverage_decides, coverage_decides])
    return QuoteExample(features, holds, source, group)


def test_first_holds_is_the_share_per_gold_file() -> None:
    examples = [example("a", "1", True), example("a", "2", False), example("b", "3", True)]
    assert first_holds(examples, SentenceWeights(coverage=0.0, cue=0.0, rank=0.0)) == {"a": 0.5, "b": 0.0}
    assert first_holds(examples, SentenceWeights(coverage=0.4, cue=0.0, rank=0.0)) == {"a": 0.5, "b": 1.0}


def test_choose_takes_the_best_grid_point_and_the_nearest_among_equals() -> None:
    examples = [example("a", str(n), True) for n in range(4)]
    start = SentenceWeights(coverage=0.0, cue=0.1, rank=0.01, second_ratio=0.9)
    # Coverage 0.1 is enough (0.80 + 0.1 - 0.01 × rank 1 > 0.86): every grid point with coverage >= 0.1 ties,
    # and the nearest to the start moves coverage alone; second_ratio is not the grid's.
    assert choose(examples, start) == SentenceWeights(coverage=0.1, cue=0.1, rank=0.01, second_ratio=0.9)
    assert choose(examples, SentenceWeights(coverage=0.4)) == SentenceWeights(coverage=0.4)  # already the best


def test_fit_uses_the_chosen_weights_only_when_they_do_better_on_held_out_articles() -> None:
    examples = [example(src, f"{src}{n}", True) for src in "ab" for n in range(6)]
    current = SentenceWeights(coverage=0.0, cue=0.0, rank=0.0)
    weights, figures = fit(examples, current, k=3)
    assert figures["used"] == "chosen" and weights.coverage > 0
    assert figures["first_quote_holds"]["current"] == {"a": 0.0, "b": 0.0}
    assert figures["first_quote_holds"]["chosen_cross_validated"] == {"a": 1.0, "b": 1.0}
    # When the weights in force already pick every answer, they stay.
    same, figures = fit(examples, SentenceWeights(coverage=0.4), k=3)
    assert same == SentenceWeights(coverage=0.4) and figures["used"] == "current"


def test_fit_needs_a_sentence_holding_an_answer() -> None:
    empty = QuoteExample(np.zeros((0, 5)), np.zeros(0, dtype=bool), "a", "1")
    with pytest.raises(ValueError, match="no answerable gold question has a retrieved sentence"):
        fit([empty], SentenceWeights())


def test_one_article_gives_no_held_out_fold_and_keeps_the_weights_in_force() -> None:
    current = SentenceWeights(coverage=0.0, cue=0.0, rank=0.0)
    weights, figures = fit([example("a", "only", True), example("a", "only", True)], current, k=3)
    assert weights == current and figures["used"] == "current"
    assert figures["first_quote_holds"]["chosen_cross_validated"] == {}


def test_the_reader_weight_is_chosen_when_reading_decides() -> None:
    # The rule features favour the first sentence whatever the grid's coverage (it covers as much); the reader
    # reads the second as the answer (logit +3 against -3): only a positive reader weight picks it.
    features = np.array([[0.90, 1.0, 0.0, 0.0, -3.0], [0.80, 1.0, 0.0, 0.0, 3.0], [0.95, 1.0, 0.0, 0.0, UNREAD]])
    examples = [QuoteExample(features, np.array([False, True, False]), "a", str(n)) for n in range(6)]
    start = SentenceWeights(reader=0.0)
    assert first_holds(examples, start) == {"a": 0.0}
    chosen = choose(examples, start)
    assert chosen.reader > 0 and first_holds(examples, chosen) == {"a": 1.0}
    weights, figures = fit(examples, start, k=3)
    assert weights.reader > 0 and figures["used"] == "chosen" and figures["chosen"]["reader"] == weights.reader
