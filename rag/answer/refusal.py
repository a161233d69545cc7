"""When to refuse: a small logistic model over the answer's evidence, fitted by ``rag calibrate``.

The answer stage measures its evidence (``rag.types.Evidence``): how close the closest retrieved sentence
is to the question, how much of the question the best sentence and its passage cover, whether the
dense and lexical retrievers agree on the passage, how clearly the best sentence beats those of other
articles, whether a typed question (how many, when…) finds a value of that type, whether a rare name
of the question is missing from the quote, and how many of the question's words the corpus never uses.
``RefusalModel.p_answerable`` turns those into the probability that the articles answer the question;
the answer abstains below ``threshold``. The model is fitted on gold questions (answerable and not)
with L2-regularized logistic regression; ``cross_validate`` reports figures on held-out folds, grouped
by article so that no article's questions are both fitted and scored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from rag.types import Evidence

#: The evidence features the model reads, in order (see ``features``).
FEATURES = (
    "strength", "best_cosine", "coverage", "passage_coverage", "agreement", "margin",
    "typed", "cue_unmet", "name_missing", "unknown_terms", "missing_idf", "english", "english_strength",
    "english_unknown", "reader", "english_reader",
)
#: The shipped models: one fitted with the reading model's score among the features, one without it (for
#: ``RAG_READER=off`` or an index made with another embedding model).
DEFAULT_MODEL = "refusal_default.json"
READER_MODEL = "refusal_reader.json"
#: L2 regularization of the logistic fit (the shipped model was fitted with it; ``rag calibrate --l2``).
DEFAULT_L2 = 10.0


def features(evidence: Evidence, language: str) -> dict[str, float]:
    """The model's inputs for one answer.

    Example: ``features(Evidence(strength=0.9), "en")["english_strength"] == 0.9``
    """
    english = float(language != "ar")
    reader = max(-8.0, min(8.0, evidence.reader)) if evidence.reader is not None else 0.0
    return {
        "strength": evidence.strength,
        "best_cosine": evidence.best_cosine,
        "coverage": evidence.coverage,
        "passage_coverage": evidence.passage_coverage,
        "agreement": float(evidence.agreement),
        "margin": evidence.margin,
        "typed": float(evidence.cue is not None),
        "cue_unmet": float(evidence.cue is not None and not evidence.cue_met),
        "name_missing": float(evidence.missing_name is not None),
        "unknown_terms": float(min(evidence.unknown_terms, 3)),
        "missing_idf": evidence.missing_idf,
        "english": english,
        "english_strength": english * evidence.strength,
        # An English question's unknown names weigh differently: transliteration misses some known ones.
        "english_unknown": english * float(min(evidence.unknown_terms, 3)),
        # The reader's answer logit for the best quote (0 without a reader), clipped: a logit of 12 says no more.
        "reader": reader,
        "english_reader": english * reader,
    }


@dataclass(frozen=True)
class RefusalModel:
    """A fitted refusal model: standardized features, logistic weights and the probability threshold.

    Attributes:
        features: Feature names, in the order of ``mean``, ``scale`` and ``coef``.
        mean: Feature means on the fitting data.
        scale: Feature standard deviations on the fitting data (1 where a feature was constant).
        coef: Logistic weights of the standardized features.
        intercept: Logistic intercept.
        threshold: Answer when ``p_answerable`` reaches this, per question language (``threshold_for``):
            cross-lingual questions meet other evidence, so each language gets its own.
        fitted_on: The gold files the model was fitted on, with their question counts.
        cross_validated: Figures on held-out folds (see ``cross_validate``), never training figures.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: dict[str, float] = field(default_factory=lambda: {"ar": 0.5, "en": 0.5})
    fitted_on: tuple[str, ...] = ()
    cross_validated: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"refusal model: {n} features but {len(self.mean)} means, {len(self.scale)} scales, "
                             f"{len(self.coef)} weights")
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown:
            raise ValueError(f"refusal model: unknown features {unknown}; known: {', '.join(FEATURES)}")
        if not self.threshold or not all(0.0 < t < 1.0 for t in self.threshold.values()):
            raise ValueError(f"refusal model: thresholds {self.threshold} must be between 0 and 1")

    def threshold_for(self, language: str) -> float:
        """The threshold for questions in ``language`` (the lowest one for a language without its own)."""
        return self.threshold.get(language, min(self.threshold.values()))

    def p_answerable(self, values: Mapping[str, float]) -> float:
        """The probability that the articles answer the question, from ``features(...)``."""
        x = np.array([values[f] for f in self.features], dtype=np.float64)
        z = float(((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("features", "mean", "scale", "coef", "fitted_on"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RefusalModel:
        values = dict(d)
        for key in ("features", "mean", "scale", "coef", "fitted_on"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def default_model(reader: bool = False) -> RefusalModel:
    """The shipped model (its card, ``fitted_on``, says on what), for the rules' answers or, with ``reader=True``,
    for answers read by the reading model."""
    name = READER_MODEL if reader else DEFAULT_MODEL
    text = resources.files("rag.answer").joinpath(name).read_text(encoding="utf-8")
    return RefusalModel.from_dict(json.loads(text))


# --- fitting ------------------------------------------------------------------------------------
def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float = DEFAULT_L2,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression by Newton's method (the intercept is not penalized).

    Example: ``fit_logistic(np.array([[0.], [1.]]), np.array([0., 1.]), np.ones(2))[0][0] > 0``

    Returns:
        ``(coef, intercept)``.
    """
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (weights * (p - y)) + penalty * w
        hess = (xb * (weights * p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


@dataclass
class Example:
    """One gold question's evidence and label, for fitting.

    Attributes:
        values: ``features(evidence, language)``.
        answerable: The label: whether the gold set answers the question.
        language: ``"ar"`` or ``"en"``.
        source: The gold file it comes from (sources are weighted equally).
        group: Questions sharing a group are never split across folds (their article).
    """

    values: dict[str, float]
    answerable: bool
    language: str
    source: str
    group: str


def sample_weights(examples: Sequence[Example]) -> np.ndarray:
    """Weights that give each gold file, and within it answerable and unanswerable questions, equal say.

    Example: ``sample_weights([ex(True, "a"), ex(False, "a"), ex(False, "a")]).tolist() == [1.5, 0.75, 0.75]``
    """
    counts: dict[tuple[str, bool], int] = {}
    for e in examples:
        counts[(e.source, e.answerable)] = counts.get((e.source, e.answerable), 0) + 1
    raw = np.array([1.0 / counts[(e.source, e.answerable)] for e in examples])
    return raw * len(examples) / raw.sum()


#: The default budget of answerable questions refused: a wrong refusal costs a reader an answer the articles
#: hold, so the threshold refuses as many unanswerable questions as it can within this share.
MAX_ANSWERABLE_REFUSED = 0.05

#: A budget for every language, or one per language (``{"ar": 0.05, "en": 0.1}``; a language left out gets
#: ``MAX_ANSWERABLE_REFUSED``); None maximizes balanced accuracy instead.
Budget = float | Mapping[str, float] | None


def parse_budget(text: str) -> float | dict[str, float]:
    """``--max-answerable-refused``: one share for every language, or ``LANG=SHARE`` pairs.

    Example: ``parse_budget("ar=0.05,en=0.1") == {"ar": 0.05, "en": 0.1}``

    Raises:
        ValueError: a share that is not a number between 0 and 1, or a pair without ``=``.
    """
    def share(value: str, what: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a number (a share between 0 and 1, e.g. 0.05)") from None
        if not 0.0 <= x < 1.0:
            raise ValueError(f"{what}: {x} is not a share between 0 and 1")
        return x

    text = text.strip()
    if "=" not in text:
        return share(text, "max answerable refused")
    out = {}
    for pair in text.split(","):
        lang, sep, value = pair.partition("=")
        if not sep or not lang.strip():
            raise ValueError(f"max answerable refused: {pair!r} is not LANG=SHARE (e.g. ar=0.05,en=0.1)")
        out[lang.strip()] = share(value.strip(), f"max answerable refused for {lang.strip()}")
    return out


def budget_for(budget: Budget, language: str) -> float | None:
    """The budget of one language.

    Example: ``budget_for({"en": 0.1}, "ar") == MAX_ANSWERABLE_REFUSED``
    """
    if budget is None or isinstance(budget, float | int):
        return budget
    return budget.get(language, MAX_ANSWERABLE_REFUSED)


def fit(examples: Sequence[Example], l2: float = DEFAULT_L2, names: Sequence[str] = FEATURES,
        budget: Budget = MAX_ANSWERABLE_REFUSED) -> RefusalModel:
    """A model fitted on ``examples``. Its weights come from the gold files holding both answerable and
    unanswerable questions; per question language, its threshold is the one that refuses most unanswerable
    questions while refusing at most that language's ``budget`` of the answerable ones of every file
    (weighted as ``sample_weights``); ``budget=None`` maximizes balanced accuracy instead.

    Raises:
        ValueError: the examples hold only one class, or no gold file holds both.
    """
    y = np.array([e.answerable for e in examples], dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("calibration needs answerable and unanswerable questions; the gold files hold only "
                         + ("answerable" if y.max() else "unanswerable") + " ones")
    # The weights are fitted on the gold files that hold both kinds of question; a file of answerable
    # questions only (a validation part with no held-out article) still sets its language's threshold.
    classes: dict[str, set[bool]] = {}
    for e in examples:
        classes.setdefault(e.source, set()).add(e.answerable)
    both = np.array([len(classes[e.source]) == 2 for e in examples])
    if not both.any():
        raise ValueError("calibration needs a gold file with both answerable and unanswerable questions "
                         "(rag gold import --hold-out-articles N makes some unanswerable)")
    x = np.array([[e.values[f] for f in names] for e in examples], dtype=np.float64)
    mean = x[both].mean(axis=0)
    scale = x[both].std(axis=0)
    scale[scale < 1e-9] = 1.0
    weights = sample_weights(examples)
    coef, intercept = fit_logistic((x[both] - mean) / scale, y[both], sample_weights(
        [e for e, b in zip(examples, both, strict=True) if b]), l2)
    model = RefusalModel(tuple(names), tuple(mean.round(6)), tuple(scale.round(6)), tuple(coef.round(6)),
                         round(intercept, 6))
    probs = np.array([model.p_answerable(e.values) for e in examples])
    chosen = {}
    for lang in sorted({e.language for e in examples}):
        pick = np.array([e.language == lang for e in examples])
        chosen[lang] = round(best_threshold(probs[pick], y[pick], weights[pick], budget_for(budget, lang)), 4)
    return RefusalModel(model.features, model.mean, model.scale, model.coef, model.intercept, chosen)


def best_threshold(probs: np.ndarray, y: np.ndarray, weights: np.ndarray, budget: float | None = None) -> float:
    """The probability threshold with the best weighted balanced accuracy, or with ``budget``, the one that
    refuses the largest share of unanswerable questions while refusing at most ``budget`` of the answerable
    ones (ties: the lowest, refusing least).

    Example: ``best_threshold(np.array([0.2, 0.8]), np.array([0., 1.]), np.ones(2)) == 0.5``
    """
    values = np.unique(probs)
    candidates = np.concatenate([[max(values[0] / 2, 1e-4)], (values[:-1] + values[1:]) / 2,
                                 [min((values[-1] + 1) / 2, 1 - 1e-4)]])
    pos, neg = y == 1, y == 0
    if not pos.any():
        return float(candidates[-1])
    best, best_score = 0.5, -1.0
    for t in candidates:
        answered_right = weights[pos & (probs >= t)].sum() / weights[pos].sum()
        refused_right = weights[neg & (probs < t)].sum() / weights[neg].sum() if neg.any() else 0.0
        if budget is not None and 1 - answered_right > budget + 1e-12:
            continue
        if not neg.any():  # nothing to refuse here: the budget alone decides
            score = float(t)
        else:
            score = refused_right if budget is not None else (answered_right + refused_right) / 2
        if score > best_score + 1e-12:
            best, best_score = float(t), score
    return best


def folds_by_group(examples: Sequence[Example], k: int) -> list[int]:
    """A fold number per example; a group's examples share a fold, groups are dealt round-robin in a
    fixed shuffled order (so fold sizes are even and the split is the same from run to run)."""
    groups = sorted({e.group for e in examples})
    rng = np.random.default_rng(0)
    order = rng.permutation(len(groups))
    fold_of = {groups[i]: n % k for n, i in enumerate(order)}
    return [fold_of[e.group] for e in examples]


def rates(examples: Sequence[Example], refused: Sequence[bool]) -> dict[str, Any]:
    """Refusal rates of answerable and unanswerable questions, overall and per language and source."""
    def block(pick: Sequence[int]) -> dict[str, Any]:
        ans = [refused[i] for i in pick if examples[i].answerable]
        unans = [refused[i] for i in pick if not examples[i].answerable]
        return {
            "n_answerable": len(ans), "n_unanswerable": len(unans),
            "answerable_refused": round(sum(ans) / len(ans), 4) if ans else None,
            "unanswerable_refused": round(sum(unans) / len(unans), 4) if unans else None,
        }

    everything = range(len(examples))
    return {
        **block(list(everything)),
        "by_language": {lang: block([i for i in everything if examples[i].language == lang])
                        for lang in sorted({e.language for e in examples})},
        "by_source": {src: block([i for i in everything if examples[i].source == src])
                      for src in sorted({e.source for e in examples})},
    }


def cross_validate(examples: Sequence[Example], k: int = 5, l2: float = DEFAULT_L2,
                   budget: Budget = MAX_ANSWERABLE_REFUSED) -> dict[str, Any]:
    """Refusal rates on held-out folds: each fold is answered by a model (weights and threshold) fitted
    on the other folds. Returns ``rates(...)`` with ``folds`` added."""
    fold = folds_by_group(examples, k)
    refused = [False] * len(examples)
    for f in range(k):
        train = [e for e, g in zip(examples, fold, strict=True) if g != f]
        if not train or len({e.answerable for e in train}) < 2:
            continue
        model = fit(train, l2, budget=budget)
        for i, g in enumerate(fold):
            if g == f:
                refused[i] = model.p_answerable(examples[i].values) < model.threshold_for(examples[i].language)
    return {**rates(examples, refused), "folds": k}
