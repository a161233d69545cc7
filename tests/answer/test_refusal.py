"""rag.answer.refusal: the refusal model's features, fit, threshold and cross-validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.refusal import (
    FEATURES,
    MAX_ANSWERABLE_REFUSED,
    Example,
    RefusalModel,
    best_threshold,
    budget_for,
    cross_validate,
    default_model,
    features,
    fit,
    fit_logistic,
    folds_by_group,
    parse_budget,
    sample_weights,
)
from rag.types import Evidence


def example(strength: float, answerable: bool, source: str = "a", group: str | None = None,
            lang: str = "ar") -> Example:
    values = features(Evidence(strength=strength, best_cosine=strength), lang)
    return Example(values, answerable, lang, source, group or f"{source}:{strength}")


def test_features_cover_every_name_and_read_the_evidence():
    ev = Evidence(strength=0.9, best_cosine=0.8, coverage=0.5, passage_coverage=0.7, agreement=True, margin=0.1,
                  cue="number", cue_met=False, missing_name="x", unknown_terms=7)
    values = features(ev, "en")
    assert set(values) == set(FEATURES)
    assert values["cue_unmet"] == 1.0 and values["typed"] == 1.0 and values["name_missing"] == 1.0
    assert values["unknown_terms"] == 3.0  # capped: a long unknown phrase is not more unknown than three words
    assert values["english"] == 1.0 and values["english_strength"] == 0.9
    assert features(Evidence(strength=0.9), "ar")["english_strength"] == 0.0
    # English questions' unknown names are weighed apart too (transliteration misses some known ones).
    assert values["english_unknown"] == 3.0 and features(ev, "ar")["english_unknown"] == 0.0


def test_logistic_fit_separates_a_separable_set():
    x = np.array([[0.0], [0.1], [0.9], [1.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    coef, intercept = fit_logistic(x, y, np.ones(4), l2=0.1)
    p = 1 / (1 + np.exp(-(x[:, 0] * coef[0] + intercept)))
    assert coef[0] > 0 and (p[:2] < 0.5).all() and (p[2:] > 0.5).all()


def test_sample_weights_give_each_file_and_class_equal_say():
    exs = [example(0.9, True, "a"), example(0.8, False, "a"), example(0.7, False, "a"), example(0.9, True, "b")]
    w = sample_weights(exs)
    assert w.sum() == pytest.approx(4)
    assert w[1] == pytest.approx(w[2]) and w[0] == pytest.approx(2 * w[1]) and w[3] == pytest.approx(w[0])


def test_best_threshold_hand_worked():
    probs = np.array([0.2, 0.4, 0.6, 0.8])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    # Midpoints 0.3, 0.5, 0.7 (and the ends): 0.3 and 0.7 both score 0.75; the lower refuses less.
    assert best_threshold(probs, y, np.ones(4)) == pytest.approx(0.3)


def test_fit_learns_the_direction_and_round_trips():
    exs = [example(s, s > 0.8) for s in np.linspace(0.6, 1.0, 21)]
    model = fit(exs)
    t = model.threshold_for("ar")
    assert model.p_answerable(features(Evidence(strength=0.95, best_cosine=0.95), "ar")) > t
    assert model.p_answerable(features(Evidence(strength=0.65, best_cosine=0.65), "ar")) < t
    assert model.threshold_for("fr") == min(model.threshold.values())
    assert RefusalModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model


def test_a_file_of_answerable_questions_only_sets_its_language_threshold_not_the_weights():
    both = [example(s, s > 0.8, "a") for s in np.linspace(0.6, 1.0, 21)]
    english = [example(s, True, "b", lang="en") for s in np.linspace(0.5, 0.7, 20)]
    alone, mixed = fit(both), fit(both + english)
    assert alone.coef == mixed.coef and alone.intercept == mixed.intercept
    # At most 5 % of the English answerable questions are refused: the threshold sits below nearly all of them.
    refused = [mixed.p_answerable(e.values) < mixed.threshold_for("en") for e in english]
    assert sum(refused) <= 1
    assert RefusalModel.from_dict(json.loads(json.dumps(mixed.to_dict()))) == mixed


def test_budget_parses_one_share_or_one_per_language_and_names_a_bad_value():
    assert parse_budget("0.1") == 0.1
    assert parse_budget(" ar=0.05, en=0.1 ") == {"ar": 0.05, "en": 0.1}
    assert budget_for({"en": 0.1}, "en") == 0.1 and budget_for({"en": 0.1}, "ar") == MAX_ANSWERABLE_REFUSED
    assert budget_for(0.2, "en") == 0.2 and budget_for(None, "en") is None
    for bad, message in [("lots", "'lots' is not a number"), ("1.5", "not a share"), ("en=x", "for en"),
                         ("en:0.1", "not a number"), ("=0.1", "not LANG=SHARE"), ("ar=0.05,en", "not LANG=SHARE")]:
        with pytest.raises(ValueError, match=message):
            parse_budget(bad)


def test_a_larger_budget_for_one_language_raises_only_its_threshold():
    exs = [example(s, s > 0.8, "a", lang=lang) for lang in ("ar", "en") for s in np.linspace(0.6, 1.0, 41)]
    exs += [example(s, True, "b", lang=lang) for lang in ("ar", "en") for s in np.linspace(0.7, 0.9, 20)]
    even, wider = fit(exs), fit(exs, budget={"en": 0.3})
    assert wider.threshold_for("ar") == even.threshold_for("ar")
    assert wider.threshold_for("en") > even.threshold_for("en")
    english = [e for e in exs if e.language == "en"]
    refused = [wider.p_answerable(e.values) < wider.threshold_for("en") for e in english if not e.answerable]
    assert sum(refused) > sum(even.p_answerable(e.values) < even.threshold_for("en")
                              for e in english if not e.answerable)


def test_fit_needs_both_classes_in_one_file():
    with pytest.raises(ValueError, match="only answerable"):
        fit([example(0.9, True), example(0.8, True)])
    with pytest.raises(ValueError, match="a gold file with both answerable and unanswerable"):
        fit([example(0.9, True, "a"), example(0.5, False, "b")])


def test_folds_keep_an_article_together_and_are_stable():
    exs = [example(0.5 + i / 100, i % 2 == 0, group=f"doc{i // 3}") for i in range(30)]
    folds = folds_by_group(exs, 5)
    assert folds == folds_by_group(exs, 5)
    for g in {e.group for e in exs}:
        assert len({f for e, f in zip(exs, folds, strict=True) if e.group == g}) == 1
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]


def test_cross_validation_reports_held_out_rates_per_language_and_source():
    rng = np.random.default_rng(1)
    exs = [example(float(rng.uniform(0.85, 1.0)), True, src, lang=lang) for src in "ab" for lang in ("ar", "en")
           for _ in range(10)]
    exs += [example(float(rng.uniform(0.5, 0.7)), False, src, lang=lang) for src in "ab" for lang in ("ar", "en")
            for _ in range(5)]
    cv = cross_validate(exs, k=5)
    assert cv["folds"] == 5 and cv["n_answerable"] == 40 and cv["n_unanswerable"] == 20
    assert cv["unanswerable_refused"] == 1.0 and cv["answerable_refused"] == 0.0  # separable, so even held out
    assert set(cv["by_language"]) == {"ar", "en"} and set(cv["by_source"]) == {"a", "b"}


def test_model_rejects_inconsistent_shapes_and_thresholds():
    with pytest.raises(ValueError, match="1 features but 2 means"):
        RefusalModel(("strength",), (0.0, 1.0), (1.0,), (1.0,), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        RefusalModel(("strength",), (0.0,), (1.0,), (1.0,), 0.0, threshold={"ar": 0.0})


def test_the_shipped_model_was_fitted_and_cross_validated():
    model = default_model()
    assert model.fitted_on and all("questions" in f for f in model.fitted_on)
    cv = model.cross_validated
    assert cv["folds"] >= 2 and cv["n_unanswerable"] > 0 and cv["n_answerable"] > 0
    assert 0 <= cv["unanswerable_refused"] <= 1 and 0 <= cv["answerable_refused"] <= 1
