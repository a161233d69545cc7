"""rag.lexical: the Arabic/English analyzer and BM25 against scores worked out by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from rag.lexical import BM25Index, analyze, analyze_query, stopwords

# --- analyze -------------------------------------------------------------------------------------


def test_docstring_example():
    assert analyze("وقّعت الشركة على الاتفاقية بقيمة ٣٨ مليار") == ["وقع", "شرك", "اتفاق", "قيم", "38", "مليار"]


def test_docstring_example_without_a_root_initial_waw():
    assert analyze("أبرمت الشركة على الاتفاقية بقيمة ٣٨ مليار") == ["ابرم", "شرك", "اتفاق", "قيم", "38", "مليار"]


def test_stopwords_are_removed_in_both_languages():
    assert analyze("في من على إلى هذا الذي كان") == []
    assert analyze("What is the value of the deal?") == ["valu", "deal"]


def test_stopwords_are_normalized():
    # "إلى" and "الى" are both listed; stored normalized as "الي".
    assert "الي" in stopwords() and "إلى" not in stopwords()
    assert analyze("إلى الى") == []


def test_arabic_words_are_stemmed():
    assert analyze("الشركة") == analyze("شركة") == analyze("بالشركة") == analyze("للشركة") == ["شرك"]
    assert analyze("الاتفاقية") == analyze("اتفاقية") == ["اتفاق"]


def test_query_terms_unknown_to_the_index_are_retried_without_proclitics():
    # Snowball leaves the conjunction on "وأمازون"; the query side falls back to the bare word.
    assert analyze("أمازون") == ["اماز"]
    assert analyze_query("وأمازون", {"اماز"}) == ["اماز"]
    assert analyze_query("لأمازون", {"اماز"}) == ["اماز"]
    # A term the index knows is kept as it is, so root letters are never stripped needlessly.
    assert analyze_query("وقعت", {"وقع"}) == ["وقع"]


def test_forms_of_one_word_share_a_term():
    assert analyze("وقعت") == analyze("وقع")  # got ['قعت'] vs ['وقع']
    assert analyze("الشركات") == analyze("الشركة")  # got ['شركا'] vs ['شرك']
    assert analyze("الاتفاقيات") == analyze("الاتفاقية")  # got ['اتفاقيا'] vs ['اتفاق']


def test_english_words_are_stemmed_and_lowercased():
    terms = analyze("The Companies SIGNED agreements worth billions")
    assert terms == ["compani", "sign", "agreement", "worth", "billion"]


def test_numbers_are_kept_whole_and_digits_folded():
    assert analyze("4.7% 14,000 11:15 2025") == ["4.7", "14,000", "11:15", "2025"]
    assert analyze("٤٫٧ ١٤٬٠٠٠ ۳۸") == ["4.7", "14,000", "38"]


def test_ta_marbuta_is_folded_after_stemming():
    # The stemmer leaves a short word's ة in place; the analyzer then folds it.
    assert analyze("مرة") == ["مره"]
    assert analyze("لغة") == analyze("لغه") == ["لغه"]
    words = "مرة سنة قمة ثقة لغة دقة كرة الشركة الصفقة القيمة"
    assert not any("ة" in t for t in analyze(words))


def test_tashkeel_and_tatweel_do_not_change_terms():
    plain = "أعلنت الشركة عن صفقة بقيمة ثمانية وثلاثين مليار دولار مع أمازون"
    vocalized = "أَعْلَنَتِ الشَّرِكَةُ عَنْ صَفْقَةٍ بِقِيمَةِ ثَمَانِيَةٍ وَثَلَاثِينَ مِلْيَارَ دُولَارٍ مَعَ أَمَـــازُون"
    assert analyze(vocalized) == analyze(plain)
    assert analyze(plain)  # not trivially empty


def test_hamza_forms_give_the_same_terms():
    assert analyze("أمازون") == analyze("امازون") == analyze("إمازون")


def test_mixed_script_text():
    assert analyze("OpenAI أبرمت مع AWS") == ["openai", "ابرم", "aw"]


def test_empty_and_punctuation_only():
    assert analyze("") == []
    assert analyze("؟!.،") == []


# --- BM25 against a hand-computed score ----------------------------------------------------------------

TOY = [
    "أبرمت الشركة اتفاقية سحابية مع أمازون بقيمة 38 مليار دولار",
    "أمازون تسرح موظفين في أمازون ويب وتعيد الهيكلة",
    "The cloud deal is worth 38 billion dollars",
]


def hand_bm25(corpus: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """BM25 as bm25s's default "lucene" method computes it, written out from the formula.

    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5));
    tfc(t, d) = tf / (tf + k1 * (1 - b + b * |d| / avgdl)).
    (bm25s's Lucene variant leaves out the constant (k1 + 1) factor of the textbook numerator;
    it scales every score alike and changes no ranking.)
    """
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    df = Counter(t for d in corpus for t in set(d))
    scores = []
    for d in corpus:
        tf = Counter(d)
        s = 0.0
        for t in query:
            if tf[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(s)
    return scores


def test_toy_corpus_terms_are_what_the_hand_computation_assumes():
    corpus = [analyze(t) for t in TOY]
    assert corpus[0] == ["ابرم", "شرك", "اتفاق", "سحاب", "اماز", "قيم", "38", "مليار", "دولار"]
    assert corpus[1] == ["اماز", "تسرح", "موظف", "اماز", "ويب", "تعيد", "هيكل"]
    assert corpus[2] == ["cloud", "deal", "worth", "38", "billion", "dollar"]


def test_bm25_matches_the_hand_computed_score():
    corpus = [analyze(t) for t in TOY]
    index = BM25Index.build(TOY)
    for query in ["أمازون", "38", "أمازون 38 مليار", "cloud deal", "الهيكلة أمازون"]:
        expected = hand_bm25(corpus, analyze(query))
        got = dict(index.search(query, k=10))
        for row, score in enumerate(expected):
            if score > 0:
                assert got[row] == pytest.approx(score, rel=1e-5), (query, row)
            else:
                assert row not in got, (query, row)


def test_bm25_worked_example():
    # "أمازون" -> "اماز": N=3, df=2 -> idf = ln(1 + 1.5/2.5) = ln(1.6).
    # |d0|=9, |d1|=7 ("في" is a stopword, "وتعيد" stems to "تعيد"), |d2|=6, avgdl = 22/3.
    # d1 has tf=2: 2 / (2 + 1.5 * (0.25 + 0.75 * 7 / (22/3))) = 2 / 3.448864 = 0.579901
    # d0 has tf=1: 1 / (1 + 1.5 * (0.25 + 0.75 * 9 / (22/3))) = 1 / 2.755682 = 0.362887
    index = BM25Index.build(TOY)
    results = index.search("أمازون", k=10)
    assert [row for row, _ in results] == [1, 0]
    assert results[0][1] == pytest.approx(math.log(1.6) * 0.579901, rel=1e-5)
    assert results[1][1] == pytest.approx(math.log(1.6) * 0.362887, rel=1e-5)


def test_search_returns_positive_scores_best_first_and_respects_k():
    index = BM25Index.build(TOY)
    results = index.search("أمازون 38 مليار cloud", k=10)
    assert len(results) == 3
    scores = [s for _, s in results]
    assert all(s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert index.search("أمازون 38 مليار cloud", k=2) == results[:2]


def test_query_with_no_known_term_returns_nothing():
    index = BM25Index.build(TOY)
    assert index.search("مايكروسوفت", k=5) == []
    assert index.search("في من على the of", k=5) == []
    assert index.search("", k=5) == []


def test_query_is_normalized_like_the_corpus():
    index = BM25Index.build(TOY)
    assert index.search("أَمَازُون ٣٨", k=5) == index.search("امازون 38", k=5)


def test_save_load_round_trip(tmp_path):
    index = BM25Index.build(TOY)
    folder = tmp_path / "bm25"
    folder.mkdir()
    index.save(folder)
    loaded = BM25Index.load(folder)
    assert loaded.size == index.size == 3
    for query in ["أمازون", "38 مليار", "cloud deal worth", "الهيكلة", "nothing-here"]:
        assert loaded.search(query, k=5) == index.search(query, k=5)


def test_texts_without_any_term_build_an_index_that_finds_nothing():
    index = BM25Index.build(["في من على", "..."])
    assert index.size == 2
    assert index.search("في", k=5) == []


def test_a_text_without_terms_among_others_is_harmless():
    index = BM25Index.build(["في من على", "أمازون"])
    assert [row for row, _ in index.search("أمازون", k=5)] == [1]
