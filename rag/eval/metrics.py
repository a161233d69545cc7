"""Pure metric functions for the evaluation: answer matching, token F1, retrieval ranks, citations, summaries.

Answers are matched on folded text (``fold_answer_text``): the project normalizer plus number and
punctuation folding, so "٣٨ مليار" matches "38 مليار" and "14,000" matches "14000". Retrieval metrics take
a list of booleans, one per retrieved chunk in rank order, saying whether that chunk holds the evidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from rag.text.analyze import ARTICLE, proclitic_pattern
from rag.text.normalize import collapse_whitespace, normalize

# A thousands separator: a comma between a digit and exactly three digits ("14,000,000" -> "14000000").
# A comma followed by one or two digits ("1,5") is not one and becomes a space like other punctuation.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# Every punctuation mark or symbol (ASCII and Arabic ، ؛ ؟ « »), except a decimal point between digits,
# which would otherwise split "4.7" into the two tokens "4" and "7".
_PUNCT = re.compile(r"(?!(?<=\d)\.(?=\d))[^\w\s]|_")
_ENGLISH_ARTICLES = frozenset({"a", "an", "the"})


def fold_answer_text(text: str) -> str:
    """Fold text for answer matching: normalize, join thousands separators, punctuation to spaces.

    Uses ``normalize(text, lexical=True)`` (so Arabic-Indic digits, tashkeel, alef forms and ة are folded),
    then removes thousands separators inside numbers, turns punctuation and symbols into spaces (a decimal
    point between digits is kept) and collapses whitespace.

    Example: ``fold_answer_text("«بلغت ١٤٬٠٠٠ دولار»، تقريباً.") == "بلغت 14000 دولار تقريبا"``

    Args:
        text: Any text, a prediction or a gold answer.

    Returns:
        The folded text, tokens separated by single spaces.
    """
    text = normalize(text, lexical=True)
    text = _THOUSANDS.sub("", text)
    text = _PUNCT.sub(" ", text)
    return collapse_whitespace(text)


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """Whether some gold answer occurs in the prediction as a whole-token sequence, after folding.

    Token boundaries are respected, so "38" does not match inside "380". The answer's first word may
    carry an Arabic proclitic in the prediction (و ف ب ل ك, alone or before ال), as in
    "والإمارات" for "الإمارات". A gold answer that folds to nothing (e.g. only punctuation) matches nothing.

    Example: ``contains_answer("بلغت قيمتها ٣٨ مليار دولار", ["38 مليار"]) is True``

    Args:
        prediction: The answer text produced by the system.
        answers: The acceptable gold answers.

    Returns:
        True if any folded gold answer is a token subsequence of the folded prediction; False if
        ``answers`` is empty.
    """
    padded = f" {fold_answer_text(prediction)} "
    for answer in answers:
        gold = fold_answer_text(answer)
        if gold and re.search(rf" (?:{proclitic_pattern(gold)}) ", padded):
            return True
    return False


def _strip_article(word: str) -> str:
    """Drop a leading "ال" when at least two letters remain.

    Only the start of the word is touched: the MLQA script removes "ال" anywhere, which turns "خالد"
    into "خد". Prefixed forms ("وال", "بال", "لل") are deliberately left alone to keep the rule simple.

    Example: ``_strip_article("الشركه") == "شركه"``
    """
    if word.startswith(ARTICLE) and len(word) - len(ARTICLE) >= 2:
        return word[len(ARTICLE) :]
    return word


def answer_tokens(text: str) -> list[str]:
    """SQuAD-style answer tokens with Arabic normalization.

    Folds with ``fold_answer_text``, splits on whitespace, strips a leading "ال" when at least two letters
    remain (``_strip_article``), and drops the English articles a, an, the.

    Example: ``answer_tokens("الشركة التي أسسها خالد the") == ["شركه", "تي", "اسسها", "خالد"]``

    Args:
        text: A prediction or a gold answer.

    Returns:
        The tokens, in order.
    """
    return [_strip_article(t) for t in fold_answer_text(text).split() if t not in _ENGLISH_ARTICLES]


def _f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    """Token F1 of one prediction against one gold answer over token multisets.

    As in SQuAD 2.0, when either side has no tokens the score is 1.0 if both are empty, else 0.0.

    Example: ``_f1(["a", "b"], ["b", "c"]) == 0.5``
    """
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    common = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best SQuAD token F1 of the prediction over the gold answers.

    Example: ``token_f1("الشركة خسرت", ["شركة"]) == 2 / 3``

    Args:
        prediction: The answer text produced by the system.
        answers: The acceptable gold answers.

    Returns:
        The maximum F1 over ``answers`` (tokens from ``answer_tokens``); 0.0 if ``answers`` is empty.
    """
    prediction_tokens = answer_tokens(prediction)
    return max((_f1(prediction_tokens, answer_tokens(a)) for a in answers), default=0.0)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD exact match: 1.0 when the prediction's answer tokens equal some gold answer's, else 0.0.

    Tokens come from ``answer_tokens``: the ARCD/MLQA evaluation normalization (lowercase, punctuation
    removed, Arabic article removed, English articles dropped, whitespace collapsed) plus the project's
    Arabic folding (hamza forms, ة, digits), so "الشركة" matches "شركه" and "٣٨" matches "38".

    Example: ``exact_match("«الشركة»،", ["شركة"]) == 1.0``

    Args:
        prediction: The short answer produced by the system.
        answers: The acceptable gold answers.

    Returns:
        1.0 or 0.0; 0.0 if ``answers`` is empty.
    """
    prediction_tokens = answer_tokens(prediction)
    return float(any(prediction_tokens == answer_tokens(a) for a in answers))


#: A short answer holding a gold answer is right only while its token F1 against it is at least this:
#: with the whole gold answer inside, F1 >= 0.5 means at most twice as many other tokens as the answer's own.
SHORT_RIGHT_MIN_F1 = 0.5


def short_answer_right(prediction: str, answers: Sequence[str]) -> bool:
    """Whether a short answer (the bold line a reader takes as the answer) is right.

    Right when, for some gold answer, the prediction contains it (``contains_answer``: folded text, whole
    tokens, a proclitic allowed on its first word) and the token F1 between the two (``answer_tokens``, as
    ``token_f1``) is at least ``SHORT_RIGHT_MIN_F1``: the whole answer, with no more than twice as many other
    words around it. A prediction that only holds part of a gold answer is not right ("مليار" for
    "38 مليار دولار"): a shorter form that is right on its own is listed as an alias in the gold file.

    Worked example, gold ``["14,000"]``:

    - ``"14,000 موظف"``: contains "14000"; tokens ["14000", "موظف"] against ["14000"]: P = 1/2, R = 1,
      F1 = 2/3 >= 0.5, so right.
    - ``"قامت بتسريح 14,000 موظف قبل أيام"``: contains it, but P = 1/6, F1 = 2/7 < 0.5, so not right (the
      reader has to find the answer in a clause).
    - ``"140,000"``: "140000" is another token, so not right; ``"38 مليار دولار"`` neither.

    Example: ``short_answer_right("٣ نوفمبر ٢٠٢٥", ["3 نوفمبر"]) is True`` (F1 = 0.8)

    Args:
        prediction: The short answer shown (its English rendering or the Arabic span it renders).
        answers: The acceptable gold answers.

    Returns:
        True or False; False if ``answers`` is empty.
    """
    return any(contains_answer(prediction, [a]) and token_f1(prediction, [a]) >= SHORT_RIGHT_MIN_F1
               for a in answers)


def is_relevant(chunk_text: str, evidence: Sequence[str]) -> bool:
    """Whether some evidence string occurs in the chunk, after collapsing whitespace on both sides.

    Matching is otherwise exact (evidence is quoted verbatim from the article). Empty evidence strings
    are ignored, since they would match every chunk.

    Example: ``is_relevant("قال الوزير\\nإن الصفقة  تمت", ["الصفقة تمت"]) is True``

    Args:
        chunk_text: The retrieved passage, verbatim.
        evidence: Verbatim spans of the article that support the gold answer.

    Returns:
        True if any non-empty evidence span is a substring of the chunk.
    """
    text = collapse_whitespace(chunk_text)
    return any(span and span in text for span in map(collapse_whitespace, evidence))


def _check_k(k: int) -> None:
    """Raise ``ValueError`` unless ``k`` is a positive cut-off.

    Example: ``_check_k(5)`` returns None.
    """
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 if any of the first ``k`` retrieved chunks is relevant, else 0.0.

    Example: ``hit_at_k([False, False, True], 3) == 1.0``

    Args:
        relevant: Relevance of each retrieved chunk, best first.
        k: The cut-off, at least 1.

    Returns:
        1.0 or 0.0.

    Raises:
        ValueError: If ``k < 1``.
    """
    _check_k(k)
    return float(any(relevant[:k]))


def reciprocal_rank(relevant: Sequence[bool], k: int = 10) -> float:
    """1 / rank of the first relevant chunk within the first ``k``; 0.0 if none.

    Example: ``reciprocal_rank([False, False, True]) == 1 / 3``

    Args:
        relevant: Relevance of each retrieved chunk, best first.
        k: The cut-off, at least 1.

    Returns:
        The reciprocal rank, in [0, 1].

    Raises:
        ValueError: If ``k < 1``.
    """
    _check_k(k)
    for rank, is_rel in enumerate(relevant[:k], start=1):
        if is_rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(relevant: Sequence[bool], k: int = 10) -> float:
    """Normalized discounted cumulative gain at ``k`` with binary gains and a log2 discount.

    DCG = sum over the first ``k`` ranks r (1-based) of rel_r / log2(r + 1). The ideal DCG places the
    relevant items first: it counts min(R, k) items, where R is the number of relevant items in the
    *retrieved list* (all of it, not only the first ``k``). The full set of relevant chunks in the corpus
    is not enumerated, so a relevant chunk that was never retrieved does not lower the score; recall
    misses show up in ``hit_at_k`` instead.

    Example: ``ndcg_at_k([False, True]) == (1 / math.log2(3)) / 1.0``

    Args:
        relevant: Relevance of each retrieved chunk, best first.
        k: The cut-off, at least 1.

    Returns:
        nDCG in [0, 1]; 0.0 if no retrieved chunk is relevant.

    Raises:
        ValueError: If ``k < 1``.
    """
    _check_k(k)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, is_rel in enumerate(relevant[:k], start=1) if is_rel)
    n_ideal = min(sum(bool(r) for r in relevant), k)
    if n_ideal == 0:
        return 0.0
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, n_ideal + 1))
    return dcg / ideal


def citation_precision(cited_doc_ids: Sequence[str], sources: Iterable[str]) -> float | None:
    """Share of citations whose document is among the gold sources.

    Each citation counts, so two citations of the same wrong article count twice.

    Example: ``citation_precision(["a.txt", "b.txt", "a.txt"], ["a.txt"]) == 2 / 3``

    Args:
        cited_doc_ids: The doc id of each citation in the answer.
        sources: The doc ids of the articles that answer the question.

    Returns:
        The share in [0, 1], or None when there are no citations (precision is undefined, not zero).
    """
    if not cited_doc_ids:
        return None
    gold = set(sources)
    return sum(doc_id in gold for doc_id in cited_doc_ids) / len(cited_doc_ids)


def citation_hit(cited_doc_ids: Sequence[str], sources: Iterable[str]) -> bool:
    """Whether at least one citation points to a gold source article.

    Example: ``citation_hit(["b.txt", "a.txt"], ["a.txt"]) is True``

    Args:
        cited_doc_ids: The doc id of each citation in the answer.
        sources: The doc ids of the articles that answer the question.

    Returns:
        True if some cited doc id is in ``sources``; False when there are no citations.
    """
    return not set(sources).isdisjoint(cited_doc_ids)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks, as ``numpy.percentile``.

    An empty input gives ``nan``, not 0.0: a latency percentile of 0.0 would read as a real (and excellent)
    measurement.

    Example: ``percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0``

    Args:
        values: The sample.
        q: The percentile, in [0, 100].

    Returns:
        The interpolated percentile, or ``nan`` if ``values`` is empty.

    Raises:
        ValueError: If ``q`` is outside [0, 100].
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q!r}")
    if len(values) == 0:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=float), q))


def mean(values: Iterable[float | None]) -> float:
    """Arithmetic mean of the values that are not None.

    None marks "not applicable" (e.g. citation precision of an answer without citations), so it is
    skipped rather than counted as 0. No remaining values gives ``nan``, as ``percentile`` does.

    Example: ``mean([1.0, None, 0.0]) == 0.5``

    Args:
        values: Numbers, some possibly None.

    Returns:
        The mean of the non-None values, or ``nan`` if there are none.
    """
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else math.nan
