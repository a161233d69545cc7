"""The fitted span chooser: candidates, fitting on hand-made quotes, held-out figures, the shipped model."""

from __future__ import annotations

import pytest

from rag.answer.short import _tokens, question_type, short_answer, short_answer_for
from rag.answer.span import (
    MAX_SPAN_TOKENS,
    SpanExample,
    SpanModel,
    candidates,
    cross_validate,
    default_model,
    fit,
    fit_and_cross_validate,
)
from rag.types import Citation

SENTENCE = "وقعت الشركة اتفاقا مدته سبع سنوات بقيمة 38 مليار دولار، بحسب البيان."


def test_candidates_never_open_or_close_on_punctuation_and_stay_short() -> None:
    found = candidates("كم سنة مدة الاتفاق؟", SENTENCE)
    tokens = _tokens(SENTENCE)
    assert found.spans and len(found.spans) == len(found.features)
    for i, j in found.spans:
        assert 1 <= j - i <= MAX_SPAN_TOKENS
        assert not tokens[i].is_boundary and not tokens[j - 1].is_boundary
    # Exactly one candidate is the rule's span, and it says so.
    rule = short_answer("كم سنة مدة الاتفاق؟", SENTENCE)
    same = [k for k, f in enumerate(found.features) if f.get("rule_same")]
    assert len(same) == 1 and found.offsets(same[0]) == rule
    assert SENTENCE[slice(*rule)] == "سبع سنوات"


def test_a_model_that_only_trusts_the_rule_gives_the_rules_span() -> None:
    model = SpanModel({"rule_same": 1.0})
    for question in ("كم سنة مدة الاتفاق؟", "ما قيمة الاتفاق؟", "بحسب ماذا؟"):
        assert model.choose(question, SENTENCE) == short_answer(question, SENTENCE)
    assert model.choose("سؤال؟", "") is None


def _opening_phrase_examples() -> list[SpanExample]:
    # Gold answers that are always the sentence's opening two words (the subject, before what the
    # question shares), where the rule takes the words after the last shared word.
    subjects = ["المدير العام", "الوزير الجديد", "رئيس الوزراء", "المتحدث الرسمي", "قائد الفريق", "مدير الشركة",
                "رئيس البلدية", "وزير المالية", "مدرب المنتخب", "سفير البلاد", "محافظ المصرف", "نائب الرئيس"]
    verbs = ["افتتح المعرض في المدينة", "زار المصنع الكبير أمس", "أعلن الخطة الجديدة للمشروع",
             "وقع الاتفاق مع الشركاء", "استقبل الوفد في المطار", "ترأس الاجتماع الأسبوعي للمجلس"]
    out = []
    for n, subject in enumerate(subjects):
        verb = verbs[n % len(verbs)]
        first = verb.split()[0]
        out.append(SpanExample(f"من {first} {verb.split()[1]}؟", f"{subject} {verb} وسط حضور كبير.", (subject,),
                               group=f"article-{n}"))
    return out


def test_fitting_learns_where_the_gold_answers_sit() -> None:
    examples = _opening_phrase_examples()
    model = fit(examples[:-2])
    for e in examples[-2:]:
        chosen = model.choose(e.question, e.sentence)
        assert chosen is not None and e.sentence[slice(*chosen)] == e.answers[0]
        rule = short_answer(e.question, e.sentence)
        assert rule is None or e.sentence[slice(*rule)] != e.answers[0]  # the rule alone gets it wrong
    again = SpanModel.from_dict(model.to_dict())
    assert again == model


def test_cross_validation_scores_held_out_folds_beside_the_rule() -> None:
    cv = cross_validate(_opening_phrase_examples(), k=3)
    assert cv["examples"] == 12 and cv["folds"] == 3
    assert cv["f1"] == 1.0 and cv["rule_f1"] < 0.5 and cv["upper_bound"] == 1.0
    # Fitted and cross-validated at once (what rag calibrate does): the same weights and figures.
    both = fit_and_cross_validate(_opening_phrase_examples(), k=3)
    assert both.weights == fit(_opening_phrase_examples()).weights and both.cross_validated == cv


def test_fitting_needs_a_quote_holding_an_answer_that_is_the_models_to_choose() -> None:
    with pytest.raises(ValueError, match="nothing to fit"):
        fit([SpanExample("من افتتح المعرض؟", "افتتح المعرض أمس.", ("الوزير",))])
    with pytest.raises(ValueError, match="nothing to fit"):  # typed values are the rule's
        fit([SpanExample("كم سنة مدة الاتفاق؟", SENTENCE, ("سبع سنوات",))])


def test_the_shipped_model_is_fitted_and_chooses_spans() -> None:
    model = default_model()
    assert model.fitted_on and not model.fitted_on[0].startswith("bootstrap")
    assert model.cross_validated["f1"] > model.cross_validated["rule_f1"]  # why it ships
    # Typed questions keep their typed value.
    chosen = model.choose("كم سنة مدة الاتفاق؟", SENTENCE)
    assert chosen is not None and "سبع" in SENTENCE[slice(*chosen)]
    chosen = model.choose("ما قيمة الاتفاق؟", SENTENCE)
    assert chosen is not None and "38" in SENTENCE[slice(*chosen)]


def test_short_answer_for_takes_the_models_span_with_article_offsets() -> None:
    citation = Citation(1, "a.txt", "A", SENTENCE, 100, 100 + len(SENTENCE), 0.9)
    model = SpanModel({"ends_sentence": 1.0, "len0": 2.0})  # the sentence's last word
    short = short_answer_for("ما هذا؟", "ar", citation, model=model)
    assert short is not None and short.text == "البيان" and short.start == 100 + SENTENCE.index("البيان")


def test_a_typed_value_is_kept_whatever_the_weights() -> None:
    citation = Citation(1, "a.txt", "A", SENTENCE, 0, len(SENTENCE), 0.9)
    wide = SpanModel({"len5": 3.0, "rule_inside": 2.0})  # 7-9 words around the rule's span
    arabic = short_answer_for("كم سنة مدة الاتفاق؟", "ar", citation, model=wide)
    assert arabic is not None and arabic.text == "سبع سنوات"
    english = short_answer_for("How many years does the deal last?", "en", citation,
                               match_text="سنة سنوات مدة الاتفاق", model=wide)
    assert english is not None and english.text == "سبع سنوات" and english.english == "seven years"
    # An untyped question is the model's to decide.
    chosen = wide.choose("بحسب ماذا وقعت الشركة الاتفاق؟", SENTENCE)
    assert chosen is not None and 7 <= len(SENTENCE[slice(*chosen)].split()) <= 9


def test_an_english_question_keeps_the_rules_span_when_only_it_reads_in_english() -> None:
    sentence = "قال المتحدث باسم Microsoft إن الصفقة ستكتمل قريبا بعد موافقة الجهات التنظيمية."
    citation = Citation(1, "a.txt", "A", sentence, 0, len(sentence), 0.9)
    wide = SpanModel({"len5": 3.0})
    question = "Which company's spokesman spoke about the deal?"
    assert short_answer(question, sentence) == (sentence.index("Microsoft"), sentence.index("Microsoft") + 9)
    english = short_answer_for(question, "en", citation, match_text="المتحدث الصفقة", model=wide)
    assert english is not None and english.text == "Microsoft" and english.english == "Microsoft"
    arabic = short_answer_for("ما الشركة التي تحدث المتحدث باسمها؟", "ar", citation, model=wide)
    assert arabic is not None and len(arabic.text.split()) >= 7  # an Arabic reader gets the model's span


def test_an_english_question_other_than_a_name_keeps_the_models_span() -> None:
    from rag.answer.english import english_rendering

    sentence = "طرحت الشركة رقائقها الجديدة للعملاء في 3 نوفمبر 2025."
    citation = Citation(1, "a.txt", "A", sentence, 0, len(sentence), 0.9)
    first = SpanModel({"position": -5.0, "len2": 3.0})  # the opening three words
    question = "What are the company's new chips called?"
    match = "الشركة رقائقها الجديدة للعملاء"
    rule = short_answer(question, sentence, match_text=match)
    assert rule is not None and english_rendering(question, sentence[slice(*rule)]) == "3 November 2025"
    english = short_answer_for(question, "en", citation, match_text=match, model=first)
    # The rule's span reads as a date, but a date does not answer "what are they called": the model's stays.
    assert english is not None and english.text == "طرحت الشركة رقائقها" and english.english is None


def test_a_name_question_does_not_take_the_rules_date_for_a_name() -> None:
    from rag.answer.english import english_rendering, name_rendering

    sentence = "ستنشر الشركة مسرعات جديدة في 3 نوفمبر 2025."
    citation = Citation(1, "a.txt", "A", sentence, 0, len(sentence), 0.9)
    first = SpanModel({"position": -5.0, "len2": 3.0})  # the opening three words
    question = "Which company will deploy the new accelerators?"
    assert question_type(question) == "name"
    rule = short_answer(question, sentence, match_text="مسرعات جديدة")
    assert rule is not None and english_rendering(question, sentence[slice(*rule)]) == "3 November 2025"
    assert name_rendering(question, sentence[slice(*rule)]) is None
    english = short_answer_for(question, "en", citation, match_text="مسرعات جديدة", model=first)
    # The model's span stays, in Arabic: the rule's date is no company.
    assert english is not None and english.english is None and english.text == "ستنشر الشركة مسرعات"
