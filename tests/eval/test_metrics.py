"""Metrics against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from rag.eval.metrics import (
    answer_tokens,
    citation_hit,
    citation_precision,
    contains_answer,
    exact_match,
    fold_answer_text,
    hit_at_k,
    is_relevant,
    mean,
    ndcg_at_k,
    percentile,
    reciprocal_rank,
    short_answer_right,
    token_f1,
)

# --- folding and answer matching ---------------------------------------------------------------


def test_fold_answer_text_digits_separators_punctuation_tashkeel():
    # ١٤٬٠٠٠ -> normalize -> "14,000" -> comma joined -> "14000"; « » ، . -> spaces; tanween dropped.
    assert fold_answer_text("«بلغت ١٤٬٠٠٠ دولار»، تقريباً.") == "بلغت 14000 دولار تقريبا"
    assert fold_answer_text("14,000,000") == "14000000"
    # A decimal point between digits is kept; "1,5" is not a thousands separator.
    assert fold_answer_text("4.7% و1,5؟") == "4.7 و1 5"
    # ة -> ه (lexical normalization), أ -> ا.
    assert fold_answer_text("الشركة أعلنت؛") == "الشركه اعلنت"


def test_contains_answer_arabic_indic_digits():
    assert contains_answer("بلغت قيمة الصفقة ٣٨ مليار دولار", ["38 مليار"])
    assert contains_answer("بلغت قيمة الصفقة 38 مليار دولار", ["٣٨ مليار"])


def test_contains_answer_ignores_tashkeel_and_punctuation():
    prediction = "خَسِرَتِ الشَّرِكَةُ (٣٨) مِلْيَارَ دولارٍ."
    assert contains_answer(prediction, ["الشركة"])
    assert contains_answer(prediction, ["38 مليار"])


def test_contains_answer_thousands_separator():
    assert contains_answer("وظّفت الشركة 14,000 موظف", ["14000"])
    assert contains_answer("وظّفت الشركة 14000 موظف", ["14,000"])
    assert contains_answer("وظّفت الشركة ١٤٬٠٠٠ موظف", ["14000 موظف"])


def test_contains_answer_respects_token_boundaries():
    assert not contains_answer("بلغت 380 مليار", ["38"])
    assert not contains_answer("في عام 1380", ["38"])
    assert not contains_answer("نمت 38.5 في المئة", ["38"])
    assert contains_answer("نمت 38 في المئة", ["38"])


def test_contains_answer_any_of_several_and_empty():
    assert contains_answer("وصل العدد إلى 40", ["38", "40"])
    assert not contains_answer("وصل العدد إلى 40", [])
    # A gold answer that folds to nothing must not match everything.
    assert not contains_answer("وصل العدد إلى 40", ["،"])


# --- answer tokens and token F1 ----------------------------------------------------------------


def test_answer_tokens_strips_only_a_leading_article():
    # "الشركة" -> "الشركه" -> "شركه"; "التي" -> "تي" (2 letters remain).
    assert answer_tokens("الشركة التي أسسها خالد") == ["شركه", "تي", "اسسها", "خالد"]
    # ال inside the word is kept (the MLQA script would make "خد").
    assert answer_tokens("خالد") == ["خالد"]
    # "إلى" -> "الي": only one letter would remain, so it stays.
    assert answer_tokens("إلى") == ["الي"]


def test_answer_tokens_drops_english_articles():
    assert answer_tokens("The deal, an offer and a bid.") == ["deal", "offer", "and", "bid"]


def test_token_f1_arabic_with_article_stripping():
    # prediction tokens: [ارتفعت, ارباح, شركه]; gold: [ارباح, شركه]; common = 2.
    # P = 2/3, R = 2/2 = 1, F1 = 2 * (2/3) * 1 / (2/3 + 1) = (4/3) / (5/3) = 4/5.
    # (Without stripping ال, common = 1 and F1 would be 2 * 1/3 * 1/2 / (1/3 + 1/2) = 0.4.)
    assert token_f1("ارتفعت أرباحُ الشركةِ", ["أرباح شركة"]) == pytest.approx(0.8)


def test_token_f1_khalid_unchanged():
    # prediction [قال, خالد] vs gold [خالد]: common = 1, P = 1/2, R = 1, F1 = 2 * 1/2 / (3/2) = 2/3.
    assert token_f1("قال خالد", ["خالد"]) == pytest.approx(2 / 3)
    assert token_f1("خالد", ["خالد"]) == 1.0


def test_token_f1_max_over_answers_and_multisets():
    # vs "40 مليار": common = 1 (مليار), P = 1/3, R = 1/2, F1 = (1/3) / (5/6) = 0.4.
    # vs "38 مليار": common = 2, P = 2/3, R = 1, F1 = (4/3) / (5/3) = 0.8. The max is 0.8.
    assert token_f1("٣٨ مليار دولار", ["40 مليار", "38 مليار"]) == pytest.approx(0.8)
    # [x, x, y] vs [x, y, y]: Counter intersection {x: 1, y: 1} = 2, P = R = 2/3, F1 = 2/3.
    assert token_f1("x x y", ["x y y"]) == pytest.approx(2 / 3)
    assert token_f1("The Paris agreement", ["paris agreement"]) == 1.0
    assert token_f1("anything", []) == 0.0
    assert token_f1("تماما", ["مختلف"]) == 0.0


# --- retrieval -----------------------------------------------------------------------------------


def test_is_relevant_collapses_whitespace_only():
    chunk = "قال الوزير\nإن الصفقة  تمت   أمس."
    assert is_relevant(chunk, ["الصفقة تمت\tأمس"])
    assert is_relevant(chunk, ["غير موجود", "إن الصفقة تمت"])
    assert not is_relevant(chunk, ["الصفقه تمت"])  # no Arabic folding: evidence is verbatim
    assert not is_relevant(chunk, [])
    assert not is_relevant(chunk, ["", "  "])  # empty spans would match every chunk


def test_hit_at_k():
    relevant = [False, False, True, False, False]
    assert hit_at_k(relevant, 1) == 0.0
    assert hit_at_k(relevant, 3) == 1.0
    assert hit_at_k(relevant, 5) == 1.0
    assert hit_at_k([], 5) == 0.0


def test_reciprocal_rank():
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([True, True]) == 1.0
    assert reciprocal_rank([False, False, True], k=2) == 0.0
    assert reciprocal_rank([False] * 12 + [True]) == 0.0  # rank 13 is past the default k=10


def test_ndcg_at_k():
    log2_3, log2_5 = math.log2(3), math.log2(5)
    # [F, T, F, T]: DCG = 1/log2(3) + 1/log2(5) = 0.6309 + 0.4307 = 1.0616;
    # ideal puts both relevant first: 1/log2(2) + 1/log2(3) = 1.6309; nDCG = 0.6509.
    expected = (1 / log2_3 + 1 / log2_5) / (1 + 1 / log2_3)
    assert ndcg_at_k([False, True, False, True]) == pytest.approx(expected)
    assert ndcg_at_k([False, True, False, True]) == pytest.approx(0.6509, abs=1e-4)
    # At k=2 only rank 2 counts: DCG = 1/log2(3); the ideal still counts min(2 relevant, k=2) = 2 items.
    assert ndcg_at_k([False, True, False, True], k=2) == pytest.approx((1 / log2_3) / (1 + 1 / log2_3))
    assert ndcg_at_k([True, True, False]) == 1.0
    assert ndcg_at_k([False, True, False, True], k=1) == 0.0
    assert ndcg_at_k([False, False]) == 0.0


@pytest.mark.parametrize("metric", [hit_at_k, reciprocal_rank, ndcg_at_k])
def test_rank_metrics_reject_bad_k(metric):
    with pytest.raises(ValueError, match="k must be"):
        metric([True], 0)


# --- citations -----------------------------------------------------------------------------------


def test_citation_precision_and_hit():
    # 2 of the 3 citations point to a.txt, a gold source: 2/3.
    assert citation_precision(["a.txt", "b.txt", "a.txt"], ["a.txt", "c.txt"]) == pytest.approx(2 / 3)
    assert citation_precision(["b.txt"], ["a.txt"]) == 0.0
    assert citation_precision([], ["a.txt"]) is None
    assert citation_hit(["b.txt", "a.txt"], ["a.txt"]) is True
    assert citation_hit(["b.txt"], ["a.txt"]) is False
    assert citation_hit([], ["a.txt"]) is False


# --- summaries -----------------------------------------------------------------------------------


def test_percentile_linear_interpolation():
    values = [40.0, 10.0, 30.0, 20.0]  # sorted: 10, 20, 30, 40 (n = 4)
    # position = q/100 * (n - 1): q=50 -> 1.5 -> 20 + 0.5 * 10 = 25; q=90 -> 2.7 -> 30 + 0.7 * 10 = 37.
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 90) == pytest.approx(37.0)
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="q must be"):
        percentile(values, 101)


def test_mean_ignores_none():
    # (1.0 + 0.0 + 0.5) / 3 = 0.5; the None is skipped, not counted as 0.
    assert mean([1.0, None, 0.0, 0.5]) == pytest.approx(0.5)
    assert mean(x for x in [2, 4]) == 3.0
    assert math.isnan(mean([None, None]))
    assert math.isnan(mean([]))


def test_contains_answer_accepts_an_arabic_proclitic_on_the_first_word():
    # و + الإمارات: the answer's first word carries the conjunction.
    assert contains_answer("والإمارات العربية المتحدة", ["الإمارات العربية المتحدة"])
    assert contains_answer("تعمل مع أوراكل والإمارات العربية المتحدة وغيرها", ["الإمارات العربية المتحدة"])
    # ب + الإمارات.
    assert contains_answer("بالإمارات", ["الإمارات"])
    # A gold answer without the article: the proclitic may come before ال as well ("و" + "ب" + "ال").
    assert contains_answer("وبالإمارات", ["إمارات"])
    # Only the first word may carry one, and only a proclitic: other letters still break the match.
    assert not contains_answer("الإمارات العربية والمتحدة", ["الإمارات العربية المتحدة"])
    assert not contains_answer("سالإمارات", ["الإمارات"])
    # Token boundaries still hold for numbers.
    assert not contains_answer("بلغت 380 مليار", ["38"])
    assert not contains_answer("بلغت 380 مليار", ["38 مليار"])


def test_contains_answer_proclitics_before_the_gold_article():
    assert contains_answer("وبالإمارات", ["الإمارات"])
    assert contains_answer("سافر الوفد للإمارات", ["الإمارات"])


# --- exact match of a short answer ---------------------------------------------------------------------------


def test_exact_match_docstring_example():
    assert exact_match("«الشركة»،", ["شركة"]) == 1.0


def test_exact_match_hand_worked():
    # Punctuation, the Arabic article, Arabic-Indic digits and hamza forms are normalized away...
    assert exact_match("٣٨ مليار دولار،", ["38 مليار دولار"]) == 1.0
    assert exact_match("إلى الرباط", ["الى رباط"]) == 1.0
    assert exact_match("The Amazon", ["amazon"]) == 1.0
    # ...but a missing or extra word is not an exact match (token F1 gives the partial credit).
    assert exact_match("38 مليار", ["38 مليار دولار"]) == 0.0
    assert token_f1("38 مليار", ["38 مليار دولار"]) == pytest.approx(2 * 1.0 * (2 / 3) / (1.0 + 2 / 3))
    # Any of the gold answers counts; no gold answer matches nothing.
    assert exact_match("سبع سنوات", ["السنوات السبع", "سبع سنوات"]) == 1.0
    assert exact_match("سبع سنوات", []) == 0.0


# --- short answer right ------------------------------------------------------------------------


def test_short_answer_right_worked_examples():
    # ["14000", "موظف"] against ["14000"]: contains it; P = 1/2, R = 1, F1 = 2 * 1/2 / (3/2) = 2/3 >= 0.5.
    assert short_answer_right("14,000 موظف", ["14,000"])
    # Six tokens around the one answer token: P = 1/6, R = 1, F1 = 2 * 1/6 / (7/6) = 2/7 < 0.5.
    assert not short_answer_right("قامت بتسريح 14,000 موظف قبل أيام", ["14,000"])
    # "140000" is another token; an amount where a duration was asked contains no gold answer.
    assert not short_answer_right("140,000", ["14,000"])
    assert not short_answer_right("38 مليار دولار", ["سبع سنوات", "السنوات السبع"])
    # Arabic-Indic digits fold: ["3", "نوفمبر", "2025"] against ["3", "نوفمبر"]: P = 2/3, R = 1, F1 = 4/5.
    assert short_answer_right("٣ نوفمبر ٢٠٢٥", ["3 نوفمبر"])


def test_short_answer_right_at_the_f1_bound():
    # Two answer tokens among six ("ال" stripped from التنفيذي): P = 2/6, R = 1, F1 = 2 * 1/3 / (4/3) = 1/2: right.
    assert short_answer_right("سام ألتمان، الرئيس التنفيذي لشركة OpenAI", ["سام ألتمان"])
    # One token more: P = 2/7, F1 = 2 * 2/7 / (9/7) = 4/9 < 1/2.
    assert not short_answer_right("سام ألتمان، الرئيس التنفيذي لشركة OpenAI الناشئة", ["سام ألتمان"])


def test_short_answer_right_needs_the_whole_gold_answer_of_one_alias():
    # Part of an answer is not the answer, though its F1 is 1/2 (P = 1, R = 1/3).
    assert not short_answer_right("مليار", ["38 مليار دولار"])
    # ... unless the gold file lists the shorter form as an alias.
    assert short_answer_right("38 مليار", ["38 مليار دولار", "38 مليار"])
    # Containment and F1 are met by the same alias: "سبع" is in neither whole alias.
    assert not short_answer_right("سبع", ["سبع سنوات", "السنوات السبع"])
    # contains_answer allows a proclitic, but F1 counts tokens as token_f1 and exact_match do: ["والامارات"]
    # against ["امارات"] share none (F1 0), so a short answer starting with "و" is not right.
    assert not short_answer_right("والإمارات", ["الإمارات"])
    assert short_answer_right("الإمارات", ["الإمارات"])
    assert not short_answer_right("", ["x"])
    assert not short_answer_right("14,000", [])
