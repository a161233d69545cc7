"""The short-answer extractor: question types and the span each type takes, on hand-made sentences."""

from __future__ import annotations

import pytest

from rag.answer.short import (
    appositive_name,
    asks_why,
    counts_what_is_asked,
    question_type,
    reason_answer,
    short_answer,
    short_answer_for,
)
from rag.types import Citation


@pytest.mark.parametrize(("question", "qtype"), [
    ("كم سنة يستمر اتفاق الحوسبة؟", "duration"),
    ("How long will the agreement run?", "duration"),
    ("ما مدة الاتفاق؟", "duration"),
    ("بأي نسبة صعدت أسهم أمازون؟", "percentage"),
    ("What percentage did the shares rise?", "percentage"),
    ("متى أعلنت الشركة الصفقة؟", "date"),
    ("In what year was it founded?", "date"),
    ("ما قيمة الصفقة؟", "amount"),
    ("How much is Amazon investing?", "amount"),
    ("كم عدد الموظفين؟", "count"),
    ("How many people work there?", "count"),
    ("من هو الرئيس التنفيذي للشركة؟", "name"),
    ("Who leads the company?", "name"),
    ("How old was he when he retired?", "count"),
    ("كم كان عمره عند التقاعد؟", "count"),
    ("في أي سن تقاعد؟", "count"),
    ("في أي سنة تقاعد؟", "date"),
    ("How many seconds were left?", "duration"),
    ("كم ثانية بقيت في المباراة؟", "duration"),
    ("أين تقع الشركة؟", "place"),
    ("من أين جاءت الأموال؟", "place"),
    ("في أي مدينة ولد؟", "place"),
    ("Where is the data center?", "place"),
    ("In which country will it be built?", "place"),
    ("لماذا يقلق المستثمرون؟", "other"),
    ("Over what period does the contract run?", "duration"),
    ("What loss did the company record in 2024?", "amount"),
    ("What price per hour does it pay?", "amount"),
    ("ما الخسائر التي سجلتها الشركة؟", "amount"),
    ("كم بلغت إيرادات الشركة؟", "amount"),
    ("Which UAE minister did he call?", "name"),
    ("Which Amazon chief executive said it?", "name"),
    ("أي شركة اشترت الموقع؟", "name"),
    ("What is the capital of Canada?", "other"),
    # "when" and "who" ask only at the start; inside, they open a clause
    ("Who was the leader when the Franks entered the valley?", "name"),
    ("What does Doctor Who do when his body is damaged?", "other"),
    ("And when did it end?", "date"),
    ("How much time remained when they scored?", "duration"),
    ("To whom did he sell it?", "name"),
])
def test_question_type(question, qtype):
    assert question_type(question) == qtype


def _span(question: str, sentence: str) -> str | None:
    span = short_answer(question, sentence)
    return None if span is None else sentence[span[0] : span[1]]


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    # duration: the number word with its unit, not the amount beside it
    ("كم سنة يستمر الاتفاق؟", "وقعت الشركة اتفاقية مدتها سبع سنوات بقيمة 38 مليار دولار.", "سبع سنوات"),
    ("How long does the deal last?", "تمتد الصفقة عامين بقيمة 38 مليار دولار.", "عامين"),
    # amount: currency and scale words travel with the number; tashkeel inside a word does not split it
    ("ما قيمة الصفقة؟", "تمتد الصفقة سبع سنوات بقيمة 38 مليار دولار.", "38 مليار دولار"),
    ("How much will it cost?", "وتبلغ التكلفة ١٤٬٠٠٠ دولار تقريبًا.", "١٤٬٠٠٠ دولار"),
    # percentage: % or في المئة, not the time of day beside it
    ("بأي نسبة صعدت الأسهم؟", "زادت الأسهم بنسبة 4.7% عند الساعة 11:15 صباحاً.", "4.7%"),
    ("ما نسبة المؤيدين؟", "أيد القرار 30 في المئة من المشاركين.", "30 في المئة"),
    # count: the number with what it counts, never a year
    ("كم فيلما أنتج؟", "أنتج منذ عام 1998 نحو 21 فيلمًا، معظمها قصيرة.", "21 فيلمًا"),
    ("How many jobs were cut?", "أعلنت الشركة في 3 نوفمبر 2025 أنها ستلغي 14,000 وظيفة.", "14,000 وظيفة"),  # not a day
    # count: what the question counts decides between two counts (singular against plural: جزيرة / جزر)
    ("كم جزيرة في الجزء الكاريبي؟", "تضم الدولة اثنتي عشرة مقاطعة، وجزءًا كاريبيًا من ثلاث جزر.", "ثلاث جزر"),
    ("كم مرة تضاعف السكان في القرن 20؟", "تضاعف السكان أربع مرات تقريبًا خلال القرن 20.", "أربع مرات"),
    ("How many islands does it have?", "It has twelve provinces and three islands.", "three islands"),
    # date: day, month and year together; a weekday
    ("متى أعلنت الشركتان الاتفاق؟", "أعلنت الشركتان في 3 نوفمبر 2025 عن الاتفاق.", "3 نوفمبر 2025"),
    ("في أي يوم أعلن الاتفاق؟", "أعلنت الشركة يوم الاثنين أنها وقعت.", "الاثنين"),
    ("متى وقعت الحادثة؟", "وقعت الحادثة في 27 كانون الثاني 2014 في دمشق.", "27 كانون الثاني 2014"),
    ("متى انسحبت القوات؟", "انسحبت القوات من القطاع عام 2005 بعد احتلال طويل.", "عام 2005"),
    ("في أي عام انسحبت القوات؟", "انسحبت القوات في 15 أغسطس 2005 من القطاع.", "2005"),
    # a year before 500 with its era, a year with its era written on it, centuries and decades
    ("متى خلف الإسكندر والده؟", "خلف الإسكندر والده على العرش سنة 336 ق.م، بعد اغتياله.", "سنة 336 ق.م"),
    ("متى قتل الحسين؟", "قتل الحسين في العاشر من محرم سنة 61 للهجرة في كربلاء.", "محرم سنة 61 للهجرة"),
    ("متى بني التمثال؟", "انتهى بناؤه في العام 280 قبل الميلاد، ثم هدمه زلزال.", "العام 280 قبل الميلاد"),
    ("في أي عام فتحت المدينة؟", "فتحت المدينة في عام 1037م بعد حصار طويل.", "1037م"),
    ("متى بدأ استصلاح الأراضي؟", "وفي أواخر القرن السادس عشر الميلادي بدأ استصلاح الأراضي.",
     "أواخر القرن السادس عشر الميلادي"),
    ("متى بدأ الكتابة؟", "بدأ الكتابة منذ بداية الأربعينيات في القاهرة.", "بداية الأربعينيات"),
    ("When did the city grow?", "The city grew in the late 19th century along the river.", "late 19th century"),
    # a range of dates is one answer, with the word that opens it
    ("متى اضطربت المنطقة؟", "اضطربت المنطقة بين عامي 1908 و 1914، ثم هدأت.", "بين عامي 1908 و 1914"),
    ("متى كان رئيسا للوزراء؟", "كان رئيسا للوزراء من مارس 2003 حتى أغسطس 2014 ثم رئيسا.",
     "من مارس 2003 حتى أغسطس 2014"),
    # a Hijri month's name alone is a word: "الربيع" is spring, not ربيع الأول
    ("متى بدأت أوروبا تدفأ؟", "بدأت أوروبا تدفأ في الربيع منذ 22 ألف سنة، عام 1990 قيست.", "عام 1990"),
    # a when-question whose sentence has no date: the time told from now
    ("متى استقال الوزير؟", "استقال الوزير قبل أسبوعين بعد خلاف مع الحكومة.", "قبل أسبوعين"),
    ("When did Europe begin to warm?", "بدأت أوروبا تدفأ ببطء 22،000 سنة مضت فصاعداً.", "22،000 سنة مضت"),
    # a small number before a bare م is metres, not a year
    ("كم كان مستوى البحر أقل؟", "كان مستوى البحر أقل بنحو 120 م عن اليوم.", "120 م"),
    # name: a Latin-script name the question does not already hold
    ("من يوفر الرقائق لـ OpenAI؟", "توفر Nvidia الرقائق لشركة OpenAI منذ سنوات.", "Nvidia"),
    # age: the number, not the year beside it
    ("How old was he when he retired?", "تقاعد عام 2015 في سن 39 بعد مسيرة طويلة.", "39"),
    # place: the place word and the words after it, not a date after "في" nor what the question says
    ("أين ولد ابن خلدون؟", "ولد ابن خلدون في عام 1332 في تونس، وشب فيها.", "في تونس"),
    ("أين تقع الشركة في آسيا؟", "تقع الشركة في آسيا شرق الصين.", "شرق الصين"),
    ("في أي مدينة تقع المحطة؟", "تقع المحطة قرب الإسكندرية، وتعمل منذ عامين.", "قرب الإسكندرية"),
    # anything else: the words after what the sentence shares with the question, to the clause's end
    ("ما هي عاصمة المغرب؟", "عاصمة المغرب الرباط، وأكبر مدنها الدار البيضاء.", "الرباط"),
    ("لماذا يقلق المستثمرون؟", "يقلق المستثمرون لأن الشركة لم تحقق أرباحًا بعد، رغم نموها.",
     "لأن الشركة لم تحقق أرباحًا بعد"),
])
def test_short_answer_span(question, sentence, expected):
    assert _span(question, sentence) == expected


def test_typed_question_without_its_type_falls_back_to_the_untyped_rule():
    assert _span("متى تأسست الشركة؟", "تأسست الشركة بعد الحرب بقليل.") == "بعد الحرب بقليل"


def test_place_question_without_a_place_falls_back_to_the_untyped_rule():
    assert _span("أين تعمل الشركة؟", "تعمل الشركة بلا توقف منذ سنوات.") == "بلا توقف منذ سنوات"


def test_sentence_that_only_repeats_the_question_has_no_short_answer():
    assert short_answer("ما عاصمة المغرب؟", "عاصمة المغرب.") is None
    assert short_answer("ما عاصمة المغرب؟", "") is None


def test_short_answer_for_a_citation_has_article_offsets_and_english_for_english_questions():
    article = "عنوان\n\nتمتد الصفقة سبع سنوات بقيمة 38 مليار دولار."
    start = article.index("تمتد")
    cit = Citation(1, "a.txt", "عنوان", article[start:], start, len(article), 1.0)
    short = short_answer_for("How many years does the deal last?", "en", cit)
    assert article[short.start : short.end] == short.text == "سبع سنوات"
    assert short.english == "seven years" and short.doc_id == "a.txt"
    arabic = short_answer_for("كم سنة تمتد الصفقة؟", "ar", cit)
    assert arabic.text == "سبع سنوات" and arabic.english is None
    assert short_answer_for("What is the value of the deal?", "en", cit).english == "$38 billion"


def test_match_text_lets_an_english_question_find_its_words_in_an_arabic_sentence():
    sentence = "عاصمة المغرب الرباط، وأكبر مدنها الدار البيضاء."
    question = "What is the largest city of Morocco?"
    assert _span(question, sentence) != "الدار البيضاء"  # no word of the question is in the sentence
    span = short_answer(question, sentence, match_text=question + " أكبر مدن")
    assert sentence[span[0] : span[1]] == "الدار البيضاء"


def test_a_sentence_counts_what_the_question_counts():
    question = "كم جزيرة يضم الأرخبيل؟"
    assert counts_what_is_asked(question, "يضم الأرخبيل ثلاث جزر كبيرة") is True  # plural meets singular
    assert counts_what_is_asked(question, "يضم الأرخبيل 12 جزيرة") is True
    assert counts_what_is_asked(question, "يتبع الأرخبيل اثنتي عشرة مقاطعة") is False
    assert counts_what_is_asked(question, "لا رقم هنا") is False
    assert counts_what_is_asked("كم عدد الثواني المتبقية؟", "تبقى 17 ثانية على النهاية") is True
    # Nothing to tell: not a count question, or no counted word.
    assert counts_what_is_asked("ما عاصمة مصر؟", "القاهرة عاصمة مصر منذ 969") is None
    assert counts_what_is_asked("كم؟", "ثلاث جزر") is None


def test_a_duration_question_is_met_by_a_count_of_time():
    """"كم مدة الصفقة؟" is not answered by the deal's value: only a sentence counting time meets its cue."""
    question = "كم مدة صفقة أمازون مع OpenAI؟"
    assert counts_what_is_asked(question, "أبرمت صفقة مع أمازون قيمتها 38 مليار دولار") is False
    assert counts_what_is_asked(question, "وتمتد الصفقة سبع سنوات") is True
    assert counts_what_is_asked("How long will the deal run?", "تستمر عامين") is True  # a dual counts itself


@pytest.mark.parametrize(("question", "sentence", "name"), [
    # The name before the role, between commas (after a speech verb it is left out).
    ("من هو الرئيس التنفيذي لشركة OpenAI؟", "سام ألتمان، الرئيس التنفيذي لشركة OpenAI، يتحدث في مكالمة", "سام ألتمان"),
    ("Who is OpenAI's CEO?", "قال سام ألتمان، المدير التنفيذي لـOpenAI، إن الشركة ملتزمة", "سام ألتمان"),
    ("من هو الرئيس التنفيذي لشركة OpenAI؟", "رفض سام ألتمان، الرئيس التنفيذي لـ OpenAI، المخاوف", "سام ألتمان"),
    # Three words after a preposition; a family name may carry the article.
    ("من هو وزير الذكاء الاصطناعي في الإمارات؟", "يتحدث مع عمر سلطان العلما، وزير الذكاء الاصطناعي في الإمارات",
     "عمر سلطان العلما"),
    ("من هو الرئيس التنفيذي لشركة مايكروسوفت؟", "ظهر فيه مع ساتيا ناديلا، الرئيس التنفيذي لشركة مايكروسوفت: نعم",
     "ساتيا ناديلا"),
    # The name after the role, between commas.
    ("من هو الرئيس التنفيذي لشركة OpenAI؟", "الرئيس التنفيذي لشركة OpenAI، سام ألتمان، قال إن", "سام ألتمان"),
    # The name right after the role, past an owner joined by ل.
    ("من هو رئيس أمازون التنفيذي؟", "على الرغم من أن الرئيس التنفيذي آندي جاسي صرح في مكالمة", "آندي جاسي"),
    ("من هو الرئيس التنفيذي لشركة إنفيديا؟", "كان الرئيس التنفيذي لشركة إنفيديا جنسن هوانغ يبدي دهشته", "جنسن هوانغ"),
    ("Who is the CEO of Amazon?", "the CEO Andy Jassy said that", "Andy Jassy"),
])
def test_a_who_question_is_answered_with_the_name_in_the_role(question, sentence, name):
    span = appositive_name(question, sentence)
    assert span is not None and sentence[span[0] : span[1]] == name
    assert sentence[slice(*short_answer(question, sentence))] == name


def test_no_name_in_the_role_no_appositive_name():
    assert appositive_name("من هو الرئيس التنفيذي للشركة؟", "ارتفعت الأسهم 4% بعد الإعلان") is None
    assert appositive_name("كم سنة؟", "سام ألتمان، الرئيس التنفيذي، قال") is None  # not a who-question
    # A name the question itself says is not the answer; nor is a plural adjective after the role.
    assert appositive_name("من رافق ألتمان في البودكاست الذي رفض فيه المخاوف؟", "رفض سام ألتمان المخاوف") is None
    assert appositive_name("من المسؤول التنفيذي في مايكروسوفت؟", "دفع مسؤولين تنفيذيين في مايكروسوفت مثل كيفن") is None


def test_the_short_answer_of_a_who_question_is_the_name_whatever_the_span_model():
    from rag.answer.span import default_model

    quote = "سام ألتمان، الرئيس التنفيذي لشركة OpenAI، يتحدث في مكالمة فيديو العام الماضي"
    citation = Citation(1, "a.txt", "t", quote, 100, 100 + len(quote), 1.0)
    short = short_answer_for("من هو الرئيس التنفيذي لشركة OpenAI؟", "ar", citation, model=default_model())
    assert short is not None and short.text == "سام ألتمان" and (short.start, short.end) == (100, 110)


@pytest.mark.parametrize(("sentence", "reason"), [
    ("تراجعت الأسهم بسبب ضعف الطلب.", "ضعف الطلب"),
    ("أثارت الاتفاقيات مخاوف المستثمرين، حيث إن OpenAI لم تحقق أرباحًا بعد، ولا تستطيع الدفع",
     "OpenAI لم تحقق أرباحًا بعد"),
    ("Shares fell because demand was weak, analysts said", "demand was weak"),
    ("The plant closed due to the strike.", "the strike"),
    ("بأن هذه التخفيضات لم تكن بدافع الذكاء الاصطناعي", None),  # a reason denied is none
    ("قامت أمازون بتسريح 14,000 موظف قبل أيام", None),
])
def test_the_reason_a_sentence_gives(sentence, reason):
    span = reason_answer(sentence)
    assert (sentence[span[0] : span[1]] if span else None) == reason


def test_a_why_question_is_answered_with_the_reason_or_not_at_all():
    """"ولماذا؟" after the layoffs was answered in bold with another clause of the quote: a why-question's
    short answer is the reason the quote gives, and there is none when it gives none."""
    assert asks_why("لماذا سرّحت أمازون؟") and asks_why("What is the reason?") and not asks_why("من هو؟")
    quote = "قامت أمازون بتسريح 14,000 موظف، وارتفعت أسهم أمازون بشكل كبير في وول ستريت"
    citation = Citation(1, "a.txt", "t", quote, 0, len(quote), 1.0)
    assert short_answer_for("لماذا سرّحت أمازون؟", "ar", citation) is None
    quote = "سرّحت أمازون 14,000 موظف بسبب خفض التكاليف."
    citation = Citation(1, "a.txt", "t", quote, 0, len(quote), 1.0)
    assert short_answer_for("Why did Amazon lay off employees?", "en", citation).text == "خفض التكاليف"
