"""English renderings of Arabic short answers: typed values and transliterated names, never invented."""

from __future__ import annotations

import pytest

from rag.answer.english import english_rendering, number_words, parse_quantity, render_name, render_value


@pytest.mark.parametrize(("span", "english"), [
    # money: scale and currency, Arabic-Indic digits, ٫ decimals, ٬ thousands separators
    ("38 مليار دولار", "$38 billion"),
    ("٣٨ مليار دولار", "$38 billion"),
    ("٣٨٫٥ مليار دولار", "$38.5 billion"),
    ("١٤٬٠٠٠ دولار", "$14,000"),
    ("14,000 يورو", "€14,000"),
    ("22،000 دولار", "$22,000"),  # an Arabic comma between thousands is a separator, not "22"
    ("1.4 تريليون دولار", "$1.4 trillion"),
    ("نصف تريليون دولار", "$0.5 trillion"),
    ("500 مليون ريال", "500 million riyals"),
    # counts and number words, compounds, teens
    ("سبع", "seven"),
    ("خمسة وعشرون", "twenty-five"),
    ("ثلاثة عشر", "thirteen"),
    ("مليارين", "two billion"),
    ("مليارين دولار", "$two billion"),
    # durations, duals carry their own count
    ("سبع سنوات", "seven years"),
    ("السنوات السبع", None),  # the unit before the number: not a form we read
    ("عامين", "two years"),
    ("3 أشهر", "3 months"),
    ("ستة وسبعين عامًا", "seventy-six years"),
    ("يوم واحد", None),
    # percentages
    ("4.7%", "4.7%"),
    ("٣٠٪", "30%"),
    ("30 بالمئة", "30%"),
    ("30 في المئة", "30%"),
    # measures
    ("10 غيغاوات", "10 gigawatts"),
    ("17 ثانية", "17 seconds"),
    # plural scales count nothing by themselves; a vague many; a range
    ("ثلاثة آلاف", "three thousand"),
    ("3 آلاف", "3 thousand"),
    ("آلاف", "thousands"),
    ("ملايين الدولارات", "millions of dollars"),  # never "one million"
    ("مليارات الدولارات", "billions of dollars"),
    ("مئات الآلاف", "hundreds of thousands"),
    ("الآلاف", "thousands"),
    ("وعشرات الآلاف", "tens of thousands"),  # proclitics stop at a word of the tables
    ("عشرات الملايين من الدولارات", "tens of millions of dollars"),
    ("50 و60 مليار دولار", "$50–60 billion"),
    ("60 و50 مليار دولار", None),  # not a range read backwards
    # dates, weekdays, months
    ("3 نوفمبر 2025", "3 November 2025"),
    ("الاثنين 3 نوفمبر", "Monday 3 November"),
    ("يوم الخميس", "Thursday"),
    ("نوفمبر", "November"),
    ("عام 2005", "2005"),
    ("1426 هـ", "1426 AH"),
    # a year before 500 with its era; an era written on the year; AD is the default and not shown
    ("سنة 336 ق.م", "336 BC"),
    ("العام 280 قبل الميلاد", "280 BC"),
    ("1037م", "1037"),
    # ranges, centuries, decades, times told from now
    ("بين عامي 1908 و 1914", "between 1908 and 1914"),
    ("من مارس 2003 حتى أغسطس 2014", "from March 2003 to August 2014"),
    ("أواخر القرن السادس عشر الميلادي", "the late 16th century"),
    ("القرن الحادي والعشرين", "the 21st century"),
    ("أوائل القرن 5 قبل الميلاد", "the early 5th century BC"),
    ("بداية الأربعينيات", "the early forties"),
    ("قبل أسبوعين", "two weeks ago"),
    ("22،000 سنة مضت", "22,000 years ago"),
    ("قبل الشركة", None),
    ("27 كانون الثاني 2014", "27 January 2014"),  # a Levantine month of two words ("كانون" is not "ك" + "انون")
    ("في تشرين الأول 1973", "October 1973"),
    # not typed values
    ("الدار البيضاء", None),
    ("21 فيلمًا", None),
    ("بعد الحرب", None),
])
def test_render_value(span, english):
    assert render_value(span) == english


def test_parse_quantity_reads_digits_and_words():
    assert parse_quantity(["سبع", "سنوات"]) == ("7", True, 1)
    assert parse_quantity(["1,5"]) == ("1.5", False, 1)  # a decimal comma
    assert parse_quantity(["14,000"]) == ("14,000", False, 1)
    assert parse_quantity(["شركه"]) is None


def test_number_words():
    assert [number_words(n) for n in (0, 7, 13, 20, 76, 100, 14000)] == [
        "zero", "seven", "thirteen", "twenty", "seventy-six", "100", "14,000"]


def test_names_come_from_the_question_through_the_transliteration_bridge():
    assert render_name("Who partnered with OpenAI?", "أوبن إيه آي") == "OpenAI"
    assert render_name("What did Sam Altman say?", "سام ألتمان") == "Sam Altman"
    assert render_name("What did Sam Altman say?", "أمازون") is None  # not a name the question spells
    assert render_name("who signed it?", "أوبن إيه آي") is None  # the question names nobody: nothing to copy
    assert render_name("Who partnered with OpenAI?", "أوبن إيه آي وأمازون") is None  # more than the name


def test_english_rendering():
    assert english_rendering("How many years does the deal last?", "سبع سنوات") == "seven years"
    assert english_rendering("Which platform?", "Amazon Bedrock") == "Amazon Bedrock"  # already English
    assert english_rendering("Which company partnered with OpenAI?", "أوبن إيه آي") == "OpenAI"
    assert english_rendering("Where is it?", "الدار البيضاء") is None
    # "How many X?": the count answers it, without the counted noun (which the question names).
    assert english_rendering("How many jobs did Amazon cut?", "14,000 موظف") == "14,000"
    assert english_rendering("How many films were made?", "سبعة أفلام") == "seven"
    assert english_rendering("What was cut?", "14,000 موظف") is None
    assert english_rendering("How many years?", "منذ سنوات") is None
