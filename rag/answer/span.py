"""Choosing the short answer's span with a model fitted on gold answers (``rag calibrate``).

Every span of up to ``MAX_SPAN_TOKENS`` words of the quoted sentence is a candidate; each is described
by a few dozen features that carry no word of any corpus: its length, where it sits against the words the
sentence shares with the question, whether it runs from clause edge to clause edge, whether it opens or
closes on a connective, whether it holds a number, a date, a Latin-script name or opens with a place word
(each also crossed with the question type and the question word), and how it agrees with the rule-based
span (``rag.answer.short``). A log-linear model scores the candidates; the best one is the short answer.
A typed question (how many, how much, when…) whose sentence holds a value of its type keeps that value,
as the rule finds it: the model only decides the others (what, who, where, why…), where the rule's
"words after the last shared word" guesses most.
It is fitted by maximizing the expected token F1 of the chosen span against the gold answers, over
the quotes the pipeline itself chose, so it learns the extent of answers as the gold set's writers
mark them (ARCD's answers run longer than "the words after the last shared word").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from rag.answer.short import (
    _EDGE_WORDS,
    PLACE_WORDS,
    _date_spans,
    _in,
    _is_number,
    _shared,
    _Token,
    _tokens,
    question_type,
    short_answer,
    typed_answer,
)

#: The longest candidate span, in tokens (ARCD train's 693 gold answers, edge punctuation left out: 98 % are
#: at most 15 tokens, median 4).
MAX_SPAN_TOKENS = 15
DEFAULT_MODEL = "span_default.json"
#: L2 regularization of the fit, per example (the shipped model was fitted with it). Cross-validated on the
#: shipped model's 1,001 quotes, with the model then also choosing typed values, 0.03 / 0.1 / 0.3 / 1 / 3
#: gave token F1 0.276 / 0.268 / 0.275 / 0.269 / 0.269 (the rule 0.256): flat, so a middle value.
DEFAULT_L2 = 0.3
_LENGTHS = (1, 2, 3, 4, 5, 7, 10, 16)  # bucket edges of a span's length
_DISTANCES = (0, 1, 2, 3, 5, 9, 100)  # bucket edges of a span's distance to a shared word
#: The question words a question is keyed by (its first one found), Arabic and English: the grammar of
#: questions, not of any corpus. "ما" and "what" ask for anything; "لماذا" and "why" for a reason.
_ASKING = {
    **dict.fromkeys(("ما", "ماذا", "ماهو", "ماهي", "بماذا", "what"), "what"),
    **dict.fromkeys(("من", "ممن", "لمن", "who", "whom", "whose"), "who"),
    **dict.fromkeys(("متى", "متي", "when"), "when"), **dict.fromkeys(("اين", "where"), "where"),
    **dict.fromkeys(("كم", "بكم", "how"), "how"), **dict.fromkeys(("كيف",), "how-manner"),
    **dict.fromkeys(("لماذا", "لمادا", "why"), "why"), **dict.fromkeys(("هل",), "yes-no"),
    **dict.fromkeys(("اي", "باي", "which"), "which"),
}


def asking(question: str) -> str:
    """The question's first question word, by meaning (``_ASKING``), or ``"none"``.

    Example: ``asking("لماذا ارتفع السهم؟") == "why"``
    """
    for t in _tokens(question):
        key = _ASKING.get(t.norm) or _ASKING.get(t.bare) or (_ASKING.get(t.norm[1:]) if t.norm[:1] in "وف" else None)
        if key is not None:
            return key
    return "none"


def _bucket(value: int, edges: Sequence[int]) -> int:
    """Index of the bucket ``value`` falls in (``_bucket(4, (1, 2, 3, 4, 5)) == 3``)."""
    for k, edge in enumerate(edges[1:]):
        if value < edge:
            return k
    return len(edges) - 1


@dataclass(frozen=True)
class Candidates:
    """The candidate spans of one sentence and their features.

    Attributes:
        tokens: The sentence's tokens.
        spans: Token ranges ``(i, j)``.
        features: One feature dict per span (names to values; absent means 0).
    """

    tokens: list[_Token]
    spans: list[tuple[int, int]]
    features: list[dict[str, float]]

    def offsets(self, k: int) -> tuple[int, int]:
        """Character offsets in the sentence of candidate ``k``."""
        i, j = self.spans[k]
        return self.tokens[i].start, self.tokens[j - 1].end


def candidates(question: str, sentence: str, match_text: str | None = None) -> Candidates:
    """Every candidate span of ``sentence`` with its features.

    Example: ``candidates("متى؟", "وقعت يوم الاثنين").spans[0] == (0, 1)``

    Args:
        question: The question, Arabic or English.
        sentence: The quoted sentence, verbatim.
        match_text: The words the sentence may share with the question when they differ from the
            question's own (an English question's bridged Arabic words); None means the question.
    """
    tokens = _tokens(sentence)
    if not tokens:
        return Candidates(tokens, [], [])
    n = len(tokens)
    shared = _shared(tokens, match_text or question)
    qtype = question_type(question)
    word = asking(question)
    rule = short_answer(question, sentence, match_text=match_text)
    rule_span = None
    if rule is not None:
        i = next(k for k, t in enumerate(tokens) if t.start >= rule[0])
        j = next(k for k, t in enumerate(tokens) if t.end >= rule[1]) + 1
        rule_span = (i, j)
    at = _Positions(tokens, shared)
    keys = _Keys(qtype, word)
    spans, feats = [], []
    for i in range(n):
        if at.boundary[i]:
            continue
        for j in range(i + 1, min(n, i + MAX_SPAN_TOKENS) + 1):
            if at.boundary[j - 1]:
                continue
            spans.append((i, j))
            feats.append(_features(at, keys, rule_span, i, j))
    return Candidates(tokens, spans, feats)


def _prefix(flags: Sequence[bool]) -> list[int]:
    """Running counts: ``out[k]`` flags among the first ``k`` (``_prefix([True, False, True]) == [0, 1, 1, 2]``)."""
    out = [0]
    for flag in flags:
        out.append(out[-1] + int(flag))
    return out


class _Positions:
    """What every candidate of one sentence looks up, computed once per sentence: per-token flags, running
    counts, and the nearest shared word and clause edge on either side of each position."""

    def __init__(self, tokens: list[_Token], shared: list[bool]) -> None:
        n = self.n = len(tokens)
        self.boundary = [t.is_boundary for t in tokens]
        self.shared = shared
        in_date = [False] * n
        for a, b in _date_spans(tokens):
            for k in range(a, b):
                in_date[k] = True
        self.count = {
            "shared": _prefix(shared),
            "boundary": _prefix(self.boundary),
            "number": _prefix([_is_number(t) for t in tokens]),
            "date": _prefix(in_date),
            "latin": _prefix([t.text[:1].isascii() and t.text[:1].isalpha() for t in tokens]),
        }
        self.edge = [_in(t, _EDGE_WORDS) for t in tokens]
        self.opens = [(_in(t, PLACE_WORDS), t.norm.startswith("ال"), t.text.startswith("و")) for t in tokens]
        self.marks = [k for k, s in enumerate(shared) if s]
        # The nearest shared word before position k, and at or after it (None when there is none).
        self.before: list[int | None] = [None] * (n + 1)
        for k in range(1, n + 1):
            self.before[k] = k - 1 if shared[k - 1] else self.before[k - 1]
        self.after: list[int | None] = [None] * (n + 1)
        for k in range(n - 1, -1, -1):
            self.after[k] = k if shared[k] else self.after[k + 1]
        # The clause around a span: from after the last boundary before it to the first boundary after it.
        self.clause_start = [0] * (n + 1)
        for k in range(1, n + 1):
            self.clause_start[k] = k if self.boundary[k - 1] else self.clause_start[k - 1]
        self.clause_end = [n] * (n + 1)
        for k in range(n - 1, -1, -1):
            self.clause_end[k] = k if self.boundary[k] else self.clause_end[k + 1]

    def inside(self, what: str, i: int, j: int) -> int:
        """How many tokens of ``[i, j)`` are ``what`` (a key of ``count``)."""
        return self.count[what][j] - self.count[what][i]


class _Keys:
    """Feature names crossed with the question's type and question word, made once per question."""

    def __init__(self, qtype: str, word: str) -> None:
        lengths = range(len(_LENGTHS))
        self.length = [(f"len{b}", f"{qtype}:len{b}", f"{word}:len{b}") for b in lengths]
        self.distance = [f"distance{b}" for b in range(len(_DISTANCES))]
        self.left = [f"left{b}" for b in range(len(_DISTANCES))]
        self.right = [f"right{b}" for b in range(len(_DISTANCES))]
        self.word = (f"{word}:after_shared", f"{word}:closes_clause", f"{word}:opens_clause")
        self.kinds = {kind: f"{qtype}:{kind}" for kind in _KINDS}


_KINDS = ("number", "date", "latin", "place_word", "definite", "conjunction")


def _features(at: _Positions, keys: _Keys, rule_span: tuple[int, int] | None, i: int, j: int) -> dict[str, float]:
    n, length = at.n, j - i
    f: dict[str, float] = {}
    for key in keys.length[_bucket(length, _LENGTHS)]:
        f[key] = 1.0
    f["boundaries_inside"] = float(min(at.inside("boundary", i, j), 3))
    inside = at.inside("shared", i, j)
    f["shared_share"] = inside / length
    f["any_shared"] = float(inside > 0)
    after_shared = float(i > 0 and at.shared[i - 1])
    opens_clause = float(i == 0 or at.boundary[i - 1])
    closes_clause = float(j == n or at.boundary[j])
    f["after_shared"] = after_shared
    f["before_shared"] = float(j < n and at.shared[j])
    f["opens_clause"] = opens_clause
    f["closes_clause"] = closes_clause
    f["ends_sentence"] = float(j == n or (j == n - 1 and at.boundary[j]))
    f["first_edge_word"] = float(at.edge[i])
    f["last_edge_word"] = float(at.edge[j - 1])
    before, after = at.before[i], at.after[j]
    # As ``rag.answer.short._distance``: 0 when a shared word is inside, 50 when there is none.
    sides = [i - before] if before is not None else []
    sides += [after - j + 1] if after is not None else []
    distance = 0 if inside else min(sides, default=50)
    f[keys.distance[_bucket(distance, _DISTANCES)]] = 1.0
    f[keys.left[_bucket(i - before - 1, _DISTANCES)] if before is not None else "leftnone"] = 1.0
    f[keys.right[_bucket(after - j, _DISTANCES)] if after is not None else "rightnone"] = 1.0
    f["clause_shared"] = float(min(at.inside("shared", at.clause_start[i], at.clause_end[j]) - inside, 4))
    f[keys.word[0]], f[keys.word[1]], f[keys.word[2]] = after_shared, closes_clause, opens_clause
    if at.marks:
        f["after_last_shared"] = float(i > at.marks[-1])
        f["before_first_shared"] = float(j <= at.marks[0])
        f["between_shared"] = float(at.marks[0] < i and j <= at.marks[-1])
    else:
        f["nothing_shared"] = 1.0
    if rule_span is None:
        f["no_rule_span"] = 1.0
    else:
        a, b = rule_span
        overlap = max(0, min(j, b) - max(i, a))
        f["rule_same"] = float((i, j) == rule_span)
        f["rule_f1"] = 2 * overlap / (length + b - a)
        f["rule_start"] = float(i == a)
        f["rule_end"] = float(j == b)
        f["rule_inside"] = float(i <= a and j >= b)
    place, definite, conjunction = at.opens[i]
    present = (at.inside("number", i, j) > 0, at.inside("date", i, j) > 0, at.inside("latin", i, j) > 0,
               place, definite, conjunction)
    for kind, yes in zip(_KINDS, present, strict=True):
        if yes:
            f[kind] = 1.0
            f[keys.kinds[kind]] = 1.0
    f["position"] = i / n
    return f


@dataclass(frozen=True)
class SpanModel:
    """A fitted span chooser: one weight per feature name (features it has no weight for count 0).

    Attributes:
        weights: Feature name to weight.
        fitted_on: The gold files it was fitted on, with their example counts.
        cross_validated: Held-out figures (``cross_validate``): the model's and the rule's token F1.
    """

    weights: dict[str, float]
    fitted_on: tuple[str, ...] = ()
    cross_validated: dict[str, Any] = field(default_factory=dict)

    def choose(self, question: str, sentence: str, match_text: str | None = None) -> tuple[int, int] | None:
        """Offsets in ``sentence`` of the typed value a typed question asks for, else of the best-scoring
        candidate span; None for an empty sentence.

        Example: ``model.choose("كم سنة؟", "تستمر سبع سنوات") == (6, 15)`` (a typed value, whatever the weights).
        """
        typed = typed_answer(question, sentence, match_text)
        if typed is not None:
            return typed
        found = candidates(question, sentence, match_text)
        if not found.spans:
            return None
        scores = [sum(self.weights.get(k, 0.0) * v for k, v in f.items()) for f in found.features]
        return found.offsets(int(np.argmax(scores)))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "fitted_on": list(self.fitted_on),
                "cross_validated": dict(self.cross_validated)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpanModel:
        return cls(dict(d["weights"]), tuple(d.get("fitted_on", ())), dict(d.get("cross_validated", {})))


@lru_cache(maxsize=1)
def default_model() -> SpanModel:
    """The shipped span model, fitted by ``rag calibrate`` on ARCD's training split and XQuAD-dev's
    development part (Arabic and English questions)."""
    text = resources.files("rag.answer").joinpath(DEFAULT_MODEL).read_text(encoding="utf-8")
    return SpanModel.from_dict(json.loads(text))


# --- fitting ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanExample:
    """A quote the pipeline chose for an answerable gold question, with the gold answers.

    Attributes:
        question: The question as asked.
        sentence: The quote the short answer is taken from.
        answers: The gold answers.
        match_text: The words the sentence may share with the question (see ``candidates``).
        group: Folds never split a group (the article), so no article is both fitted and scored.
    """

    question: str
    sentence: str
    answers: tuple[str, ...]
    match_text: str | None = None
    group: str = ""


@dataclass(frozen=True)
class _Matrix:
    x: np.ndarray  # candidates × features
    f1: np.ndarray  # each candidate's token F1 against the gold answers
    rule_f1: float  # the rule-based span's token F1
    typed_f1: float | None  # the typed value's token F1, when the question is typed and the sentence has one


def _matrices(examples: Sequence[SpanExample]) -> tuple[list[_Matrix | None], list[str]]:
    """Feature matrices of the examples (None where a sentence has no candidate), and the feature names."""
    from rag.eval.metrics import token_f1

    rows: list[tuple[list[dict[str, float]], np.ndarray, float, float | None] | None] = []
    for e in examples:
        found = candidates(e.question, e.sentence, e.match_text)
        if not found.spans:
            rows.append(None)
            continue
        f1 = np.array([token_f1(e.sentence[slice(*found.offsets(k))], e.answers) for k in range(len(found.spans))])
        rule = short_answer(e.question, e.sentence, match_text=e.match_text)
        rule_f1 = token_f1(e.sentence[rule[0]:rule[1]], e.answers) if rule is not None else 0.0
        typed = typed_answer(e.question, e.sentence, e.match_text)
        typed_f1 = token_f1(e.sentence[typed[0]:typed[1]], e.answers) if typed is not None else None
        rows.append((found.features, f1, rule_f1, typed_f1))
    names = sorted({k for r in rows if r is not None for f in r[0] for k in f})
    index = {k: c for c, k in enumerate(names)}
    out: list[_Matrix | None] = []
    for r in rows:
        if r is None:
            out.append(None)
            continue
        x = np.zeros((len(r[0]), len(names)))
        for a, f in enumerate(r[0]):
            for k, v in f.items():
                x[a, index[k]] = v
        out.append(_Matrix(x, r[1], r[2], r[3]))
    return out, names


def _fit_weights(matrices: Sequence[_Matrix], dim: int, l2: float) -> np.ndarray:
    """Weights maximizing the mean expected F1 of the softmax choice, minus an L2 penalty (L-BFGS, from zero)."""
    from scipy.optimize import minimize

    useful = [m for m in matrices if m.f1.max() > 0 and m.typed_f1 is None]  # typed values are not its to choose
    if not useful:
        raise ValueError("no quote of a question without a typed value holds a word of its gold answer: "
                         "nothing to fit the span model on")

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        # The penalty is per example, as the F1 term is a mean: l2 weighs the same at any data size.
        total, grad = 0.5 * l2 * float(w @ w) / len(useful), l2 * w / len(useful)
        for m in useful:
            s = m.x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            expected = float(p @ m.f1)
            total -= expected / len(useful)
            grad = grad - m.x.T @ (p * (m.f1 - expected)) / len(useful)
        return total, grad

    result = minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return np.asarray(result.x)


def _chosen_f1(m: _Matrix | None, w: np.ndarray) -> float:
    if m is None:
        return 0.0
    return m.typed_f1 if m.typed_f1 is not None else float(m.f1[int(np.argmax(m.x @ w))])


def fit(examples: Sequence[SpanExample], l2: float = DEFAULT_L2) -> SpanModel:
    """The span model fitted on ``examples``.

    Raises:
        ValueError: no example the model decides (a question without a typed value in its quote) holds a
            word of its gold answers.
    """
    matrices, names = _matrices(examples)
    return _fit(matrices, names, l2)


def cross_validate(examples: Sequence[SpanExample], k: int = 5, l2: float = DEFAULT_L2) -> dict[str, Any]:
    """Token F1 of the model's spans on held-out folds (grouped by ``group``), beside the rule's.

    Returns:
        ``{"examples", "folds", "f1", "rule_f1", "upper_bound"}``: the upper bound is the best candidate's
        F1 (a quote may not hold the whole answer).
    """
    matrices, names = _matrices(examples)
    return _cross_validate(matrices, names, [e.group for e in examples], k, l2)


def fit_and_cross_validate(examples: Sequence[SpanExample], k: int = 5, l2: float = DEFAULT_L2) -> SpanModel:
    """``fit`` with ``cross_validate``'s figures in ``cross_validated``, the candidates built once for both.

    Raises:
        ValueError: as ``fit``.
    """
    matrices, names = _matrices(examples)
    cv = _cross_validate(matrices, names, [e.group for e in examples], k, l2)
    return SpanModel(_fit(matrices, names, l2).weights, cross_validated=cv)


def _fit(matrices: Sequence[_Matrix | None], names: Sequence[str], l2: float) -> SpanModel:
    w = _fit_weights([m for m in matrices if m is not None], len(names), l2)
    return SpanModel({k: round(float(v), 6) for k, v in zip(names, w, strict=True) if abs(v) > 1e-9})


def _cross_validate(
    matrices: Sequence[_Matrix | None], names: Sequence[str], groups: Sequence[str], k: int, l2: float
) -> dict[str, Any]:
    fold_of = {g: n % k for n, g in enumerate(sorted(set(groups)))}
    chosen = np.zeros(len(matrices))
    for fold in range(k):
        train = [m for m, g in zip(matrices, groups, strict=True) if m is not None and fold_of[g] != fold]
        if not train:
            continue
        w = _fit_weights(train, len(names), l2)
        for n, (m, g) in enumerate(zip(matrices, groups, strict=True)):
            if fold_of[g] == fold:
                chosen[n] = _chosen_f1(m, w)
    return {
        "examples": len(matrices),
        "folds": k,
        "f1": round(float(chosen.mean()), 4),
        "rule_f1": round(float(np.mean([m.rule_f1 if m else 0.0 for m in matrices])), 4),
        "upper_bound": round(float(np.mean([m.f1.max() if m else 0.0 for m in matrices])), 4),
    }
