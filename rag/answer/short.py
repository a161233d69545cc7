"""The short answer: the minimal span of a quoted sentence that answers the question.

Rule-based, by question type (Arabic and English question words): an amount with its unit, a
count with what is counted (an age too), a percentage, a date or weekday, a duration, a place phrase
("في تونس"), a Latin-script name; for any other question, the words that follow, in the same clause,
the last word the sentence shares with the question (the part of the sentence the question does not
already say). The answer stage keeps the typed values (``typed_answer``) and lets the span model fitted
on gold answers (``rag.answer.span``, which reads these rules' span as one of its features) choose the
rest. Offsets are into the sentence, so a caller adds the sentence's own offset in the article.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.answer.english import (
    AGO_AFTER,
    AGO_BEFORE,
    RANGE_LINKS,
    RANGE_OPENERS,
    YEAR_WORDS,
    english_rendering,
    name_rendering,
)
from rag.text.analyze import analyze, stopwords, strip_proclitics
from rag.text.normalize import normalize
from rag.types import Citation, ShortAnswer

if TYPE_CHECKING:
    from rag.answer.span import SpanModel

QUESTION_TYPES = ("percentage", "duration", "date", "amount", "count", "place", "name", "other")
#: The types whose answer is a value: an amount, a count, a percentage, a duration or a date.
TYPED_VALUES = frozenset({"amount", "count", "percentage", "duration", "date"})

_DIGIT = "0-9\u0660-\u0669\u06f0-\u06f9"
# A token: a number with its inner separators (4.7, 14,000, ٣٨٫٥, 11:15), a word, or one symbol.
# Tashkeel and tatweel are not word characters to ``re`` but belong inside a word ("عامًا").
_MARKS = "\u064b-\u065f\u0670\u0640"
_TOKEN = re.compile(
    rf"[{_DIGIT}]+(?:[.,:\u066b\u066c][{_DIGIT}]+|،[{_DIGIT}]{{3}}(?![{_DIGIT}]))*|(?:[^\W\d_]|[{_MARKS}])+|[%$€£٪]|[^\w\s{_MARKS}]"
)
# Where a short answer never runs across.
_BOUNDARY = set(".,،;؛:!?؟()[]{}«»\"“”'‘’-–—/|")


def _n(word: str) -> str:
    return normalize(word, lexical=True)


def _forms(words: str) -> frozenset[str]:
    return frozenset(_n(w) for w in words.split())


NUMBER_WORDS = _forms(
    "واحد واحدة احد احدى اثنان اثنين اثنتان اثنتين اثنا اثني اثنتا اثنتي ثلاث ثلاثة اربع اربعة خمس خمسة ست ستة "
    "سبع سبعة ثمان ثماني ثمانية تسع تسعة عشر عشرة عشرون عشرين ثلاثون ثلاثين اربعون اربعين خمسون خمسين ستون ستين "
    "سبعون سبعين ثمانون ثمانين تسعون تسعين مئة مائة مئتان مئتين مائتان مائتين مئات "
    "ثلاثمئة ثلاثمائة اربعمئة اربعمائة خمسمئة خمسمائة ستمئة ستمائة سبعمئة سبعمائة ثمانمئة ثمانمائة تسعمئة تسعمائة "
    "نصف ربع ثلث بضع بضعة عدة "
    "one two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty thirty forty fifty "
    "sixty seventy eighty ninety hundred hundreds dozen dozens half several"
)
SCALE_WORDS = _forms(
    "الف آلاف الاف ألفين ألفان مليون ملايين مليونين مليونان مليار مليارات مليارين ملياران بليون بلايين تريليون "
    "تريليونات thousand thousands million millions billion billions trillion"
)
CURRENCY_WORDS = _forms(
    "دولار دولارا دولاراً دولارات يورو جنيه جنيها جنيهات ريال ريالا ريالات درهم دراهم دينار دنانير ليرة ليرات "
    "روبية ين يوان فرنك استرليني dollar dollars euro euros pound pounds riyal dirham dinar yen yuan"
)
PERCENT_WORDS = _forms("بالمئة بالمائة percent per cent")
TIME_UNITS = _forms(
    "سنة سنه سنوات سنين سنتين سنتان عام عاما أعوام اعوام عامين عامان شهر شهرا أشهر اشهر شهور شهرين شهران "
    "يوم يوما أيام ايام يومين يومان اسبوع اسبوعا أسابيع اسابيع اسبوعين ساعة ساعات ساعتين ساعتان دقيقة دقائق "
    "دقيقتين ثانية ثوان ثواني قرن قرنا قرون قرنين عقد عقود عقدين "
    "year years month months day days week weeks hour hours minute minutes second seconds century centuries decade "
    "decades"
)
#: Dual nouns carry their own count ("عامين" is "two years").
DUAL_WORDS = _forms(
    "عامين عامان سنتين سنتان شهرين شهران يومين يومان اسبوعين ساعتين ساعتان دقيقتين قرنين عقدين مرتين "
    "ألفين ألفان مليونين مليونان مليارين ملياران"
)
MONTHS = _forms(
    "يناير فبراير مارس ابريل أبريل مايو يونيو يونيه يوليو يوليه اغسطس أغسطس سبتمبر اكتوبر أكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين محرم صفر ربيع جمادى رجب شعبان رمضان شوال ذو القعدة "
    "الحجة january february march april may june july august september october november december"
)
WEEKDAYS = _forms(
    "الاثنين الإثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد monday tuesday wednesday thursday friday "
    "saturday sunday"
)
#: Words that open a place: "في تونس", "شرق آسيا", "near the border".
PLACE_WORDS = _forms(
    "في الى إلى داخل قرب بالقرب عند بين شمال جنوب شرق غرب وسط شمالي جنوبي شرقي غربي الشمال الجنوب الشرق الغرب "
    "in at near inside north south east west"
)
_PLACE_MAX_TOKENS = 4  # words after the place word: "في الركن الشمالي الشرقي من"
#: Months named in two words (Levantine and Hijri calendars): "كانون الثاني", "ربيع الأول", "جمادى الآخرة".
_TWO_WORD_MONTHS = _forms("كانون تشرين ربيع جمادى")
_RANGE_OPENING = frozenset(RANGE_OPENERS)  # "بين", "من", "منذ" before a range of dates
_HIJRI_MONTHS = _forms("محرم صفر ربيع جمادى رجب شعبان رمضان شوال ذو القعدة الحجة")
_MONTH_ORDINALS = _forms("الأول الثاني الأولى الآخر الآخرة الثانية")
_HUNDRED = _forms("المئة المائة cent")
#: What may follow a year: an era ("336 ق.م" is ق . م; "61 للهجرة", "280 قبل الميلاد", "960م" is 960 م).
_ERAS = _forms("هـ ه م ق BC BCE AD CE للهجرة هجري هجرية الهجري الهجرية للميلاد ميلادي ميلادية الميلادي "
               "الميلادية")
_CENTURIES = _forms("القرن قرن century")
#: Ordinal words of a century: "القرن السادس عشر", "القرن الحادي والعشرين", "the nineteenth century".
_ORDINALS = _forms(
    "الأول الاول الثاني الثالث الرابع الخامس السادس السابع الثامن التاسع العاشر الحادي عشر العشرين والعشرين "
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth twenty-first"
)
_DATE_MODIFIERS = _forms("أواخر أوائل أواسط منتصف مطلع بداية بدايات نهاية نهايات late early mid")
#: A decade: "الأربعينيات", "ستينات".
_DECADE = re.compile("(?:عشرين|ثلاثين|اربعين|خمسين|ستين|سبعين|ثمانين|تسعين)(?:يات|ات)")

# Normalized question patterns, checked in this order (the first that matches decides; a type may
# appear twice).
_TYPE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("percentage", r"\bنسب|percent|what share|what proportion"),
    ("count", r"how old|at what age|(?:^|\s)[وف]?كم (?:كان |كانت |يبلغ |تبلغ |بلغ |بلغت )?عمر|ما عمر"
              r"|(?:في|ب)\s?اي (?:سن|عمر)\b"),  # an age: a number, not a date
    ("duration", r"(?:^|\s)[وف]?كم (?:من )?(?:ال)?(?:سن|عام|اعوام|يوم|ايام|شهر|اشهر|ساع|دقيق|ثاني|ثوان|اسبوع|اسابيع"
                 r"|قرن|عقد)"
                 r"|\bمد[ةه]\b|\bالمد[ةه]\b|how long|how much time"
                 r"|how many (?:years|months|days|weeks|hours|minutes|seconds|decades)"
                 r"|for how long|كم من الوقت|(?:over|for|during) (?:what|which|how long a) (?:period|time|span)"),
    # "when" asks only at the start: "Who was the leader when the Franks entered...?" asks for a name.
    ("date", r"(?:^|\s)[وف]?مت[يى]\b|^(?:and |so |but |since |until |till )?when\b|what (?:year|date|day|month)"
             r"|which (?:year|date|day|month)"
             r"|(?:في|ب)\s?اي (?:عام|سن|يوم|تاريخ|شهر)|\bتاريخ\b|what time"),
    ("amount", r"(?:^|\s)[وف]?بكم\b|how much|كم (?:تبلغ |بلغت |كانت |يبلغ |بلغ )?(?:ال)?(?:قيم|سعر|تكلف|ثمن|مبلغ|"
               r"خسار|خسائر|ايراد|ارباح|عائد|ميزاني|راتب)"
               r"|ما (?:هي |هو )?(?:ال)?(?:قيم|حجم|مقدار|سعر|تكلف|ثمن|مبلغ|خسار|خسائر|ايراد|ارباح|عائد|ميزاني|راتب)"
               r"|what (?:is |was |were |are )?(?:the )?(?:\w+ )?(?:value|cost|price|loss|losses|revenue|revenues"
               r"|profit|profits|budget|salary|fee|fine|valuation)\b"
               r"|how big|how large"),
    ("count", r"(?:^|\s)[وف]?كم\b|how many|ما (?:هو |هي )?(?:ال)?عدد\b|what (?:is|was) the number"),
    ("place", r"(?:^|\s)[وف]?(?:الي |من )?اين\b|\bwhere\b"
              r"|(?:في|ب|الي)\s?اي (?:مدين|بلد|دول|مكان|منطق|قار|ولاي|محافظ|قري)"
              r"|in (?:which|what) (?:country|city|region|place|state|town|continent)"),
    # "who" asks only at the start too: "What does Doctor Who do?" is not a name question.
    ("name", r"^(?:[وف]?من|ممن|لمن)\s|^(?:and |so |but )?(?:who|whom|whose)\b|^(?:to|from|with|by|for) whom\b"
             r"|اسم\b|what (?:is|was) the name"
             r"|which (?:\w+ ){0,2}(?:company|firm|person|man|woman|team|party|minister|president|executive|chief"
             r"|leader|official|king|queen|player|coach|author|writer|director|founder|ceo|chairman|spokesman"
             r"|spokeswoman)\b"
             r"|(?:^|\s)[وف]?(?:اي|ايه) (?:شرك|شخص|وزير|رئيس|مدير|لاعب|مدرب|كاتب|مؤسس|فريق|حزب)"),
)
_YEAR_QUESTION = r"(?:اي|ايه) (?:عام|سنه)|what year|which year|what century"
#: Question words (Arabic and English): they never count as words the question shares with the sentence.
QUESTION_WORDS = _forms(
    "ما ماذا ماهو ماهي ماهى من متى متي كم كيف أين اين لماذا لمادا هل أي اي بأي باي بماذا لماذا ممن لمن "
    "هو هي هى هم هما ذا عدد what which who whom whose when where why how many much is was are were did does do the"
)


def question_type(question: str) -> str:
    """What kind of answer the question asks for: one of ``QUESTION_TYPES``.

    Example: ``question_type("كم سنة تستمر الصفقة؟") == "duration"``
    """
    q = " ".join(re.sub(r"[^\w\s%]", " ", _n(question)).split())
    for name, pattern in _TYPE_PATTERNS:
        if re.search(pattern, q):
            return name
    return "other"


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str
    norm: str  # normalized, lowercased
    bare: str  # without Arabic proclitics

    @property
    def is_boundary(self) -> bool:
        return len(self.text) == 1 and self.text in _BOUNDARY

    @property
    def is_digit(self) -> bool:
        return self.norm[:1].isdigit()


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(text):
        norm = _n(m.group())
        out.append(_Token(m.start(), m.end(), m.group(), norm, strip_proclitics(norm, min_len=2)))
    return out


@lru_cache(maxsize=4096)
def _keys(norm: str) -> frozenset[str]:
    """Stems a word may match by: as written and without proclitics."""
    return frozenset(analyze(norm)) | frozenset(analyze(strip_proclitics(norm)))


def _in(token: _Token, words: frozenset[str]) -> bool:
    return token.norm in words or token.bare in words


def _is_number(token: _Token) -> bool:
    return token.is_digit or _in(token, NUMBER_WORDS) or _in(token, SCALE_WORDS) or _in(token, DUAL_WORDS)


def _is_year(token: _Token) -> bool:
    return token.is_digit and token.norm.isdigit() and len(token.norm) in (3, 4) and 500 <= int(token.norm) <= 2100


def _number_spans(tokens: list[_Token]) -> list[tuple[int, int, str]]:
    """Number expressions as token ranges ``(i, j)`` with their kind: a currency sign or words, the
    number (digits, number words joined by و, scales), then a unit (currency, percent, time, or ``%``)."""
    spans = []
    i = 0
    while i < len(tokens):
        if not _is_number(tokens[i]) and not (tokens[i].text in "$€£" and i + 1 < len(tokens)
                                               and tokens[i + 1].is_digit):
            i += 1
            continue
        start = i
        if tokens[i].text in "$€£":
            i += 1
        while i < len(tokens) and (_is_number(tokens[i]) or tokens[i].norm in ("و", "and", "point")):
            i += 1
        while i > start and tokens[i - 1].norm in ("و", "and", "point"):
            i -= 1
        kind = "number"
        if tokens[start].text in "$€£":
            kind = "money"
        if i < len(tokens):
            t = tokens[i]
            if t.text in "%٪" or _in(t, PERCENT_WORDS):
                kind, i = "percent", i + 1
            elif t.norm in ("في", "per") and i + 1 < len(tokens) and tokens[i + 1].norm in _HUNDRED:
                kind, i = "percent", i + 2
            elif _in(t, CURRENCY_WORDS):
                kind, i = "money", i + 1
            elif _in(t, TIME_UNITS):
                kind, i = "time", i + 1
        if kind == "number" and i - start == 1 and _in(tokens[start], DUAL_WORDS):
            kind = "time" if _in(tokens[start], TIME_UNITS) else "number"
        spans.append((start, i, kind))
    return spans


def _years(tokens: list[_Token]) -> list[bool]:
    """Which tokens are years: a number from 500 to 2100, or any number of up to four digits after a year
    word ("سنة 336") or before an era mark ("280 ق.م", "61 للهجرة", "960م")."""
    out = []
    for k, t in enumerate(tokens):
        short = t.is_digit and t.norm.isdigit() and len(t.norm) <= 4
        after = [x.norm for x in tokens[k + 1 : k + 3]]
        # A bare م after a small number may be metres ("120 م"): only an unambiguous era makes it a year.
        era = bool(after) and (after[0] in _ERAS and after[0] not in ("م", "ه") or after == ["قبل", "الميلاد"])
        out.append(_is_year(t) or (short and ((k > 0 and _in(tokens[k - 1], YEAR_WORDS)) or era)))
    return out


def _date_spans(tokens: list[_Token]) -> list[tuple[int, int]]:
    """Date expressions as token ranges: weekday, day, month, year (with عام/سنة before it, an era mark
    after: هـ، م، ق.م، للهجرة، قبل الميلاد), a century ("أواخر القرن السادس عشر الميلادي", "the 19th
    century") or a decade ("الأربعينيات"); two of them with a connective between are one range."""
    dateish = _date_tokens(tokens)
    n = len(tokens)
    spans = []
    k = 0
    while k < n:
        if not dateish[k]:
            k += 1
            continue
        start = k
        while k < n and (dateish[k] or (tokens[k].text in ",،" and k + 1 < n and dateish[k + 1])):
            k += 1
        while k > start + 1 and _in(tokens[k - 1], _DATE_MODIFIERS):
            k -= 1
        spans.append((start, k))
    return _ranges(tokens, spans)


def _date_tokens(tokens: list[_Token]) -> list[bool]:
    """Which tokens belong to a date expression (see ``_date_spans``)."""
    years = _years(tokens)
    n = len(tokens)
    dateish: list[bool] = []
    for k, t in enumerate(tokens):
        # A Hijri month's name is also a word ("الربيع" spring, "صفر" zero, "رجب" a name): a month only next
        # to a day, a year or its second word.
        month = _in(t, MONTHS) and (not _in(t, _HIJRI_MONTHS) or (k > 0 and tokens[k - 1].is_digit) or (
            k + 1 < n and (years[k + 1] or _in(tokens[k + 1], _MONTH_ORDINALS))) or (
            k > 1 and tokens[k - 1].norm == "من" and _in(tokens[k - 2], _ORDINALS))) or _in(t, WEEKDAYS)
        day = (t.is_digit and t.norm.isdigit() and 1 <= int(t.norm) <= 31
               and k + 1 < n and _in(tokens[k + 1], MONTHS))
        year_word = _in(t, YEAR_WORDS) and k + 1 < n and years[k + 1]
        era = (_in(t, _ERAS) and k > 0 and (years[k - 1] or dateish[k - 1] and t.norm not in ("م", "ه", "ق"))) or (
            t.norm == "قبل" and k > 0 and years[k - 1] and k + 1 < n and tokens[k + 1].norm == "الميلاد") or (
            t.norm == "الميلاد" and k > 1 and years[k - 2] and tokens[k - 1].norm == "قبل")
        bc = (t.text == "." and 0 < k < n - 1 and tokens[k - 1].norm == "ق" and tokens[k + 1].norm == "م"
              and dateish[k - 1]) or (t.norm == "م" and k > 1 and tokens[k - 1].text == "." and dateish[k - 1])
        second = k > 0 and _in(tokens[k - 1], _TWO_WORD_MONTHS) and _in(t, _MONTH_ORDINALS)  # "كانون الثاني"
        century = _in(t, _CENTURIES) and (k + 1 < n and (tokens[k + 1].is_digit or _in(tokens[k + 1], _ORDINALS))
                                          or k > 0 and dateish[k - 1])
        before_century = k + 1 < n and _in(tokens[k + 1], _CENTURIES) and (
            t.is_digit or t.norm in ("th", "st", "nd", "rd") or _in(t, _ORDINALS))
        ordinal = (_in(t, _ORDINALS) or t.is_digit) and k > 0 and (
            _in(tokens[k - 1], _CENTURIES) or (_in(tokens[k - 1], _ORDINALS) and dateish[k - 1]))
        decade = bool(_DECADE.fullmatch(t.bare))
        dateish.append(month or day or years[k] or year_word or era or bc or second or century or before_century
                       or ordinal or decade)
    for k in range(n - 2, -1, -1):  # "أواخر القرن", "بداية الأربعينيات", "late 1939", "19" in "19th century"
        if not dateish[k] and dateish[k + 1] and (_in(tokens[k], _DATE_MODIFIERS) or (
                tokens[k].is_digit and tokens[k + 1].norm in ("th", "st", "nd", "rd"))):
            dateish[k] = True
    return dateish


def _ranges(tokens: list[_Token], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Date spans joined into ranges: "بين عامي 1908 و 1914", "من مارس 2003 حتى أغسطس 2014", "1914–1918"
    (two dates with one connective between them), with the word that opens the range."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start == out[-1][1] + 1 and _in(tokens[out[-1][1]], RANGE_LINKS):
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return [(start - 1 if start > 0 and _in(tokens[start - 1], _RANGE_OPENING) and any(
        _in(tokens[k], RANGE_LINKS) for k in range(start, end)) else start, end) for start, end in out]


def _shared(tokens: list[_Token], question: str) -> list[bool]:
    """Which sentence tokens say something the question already says."""
    qkeys: set[str] = set()
    for t in _tokens(question):
        if not t.is_boundary and not _in(t, QUESTION_WORDS) and t.norm not in stopwords():
            qkeys |= _keys(t.norm)
    return [not t.is_boundary and bool(_keys(t.norm) & qkeys) for t in tokens]


def _distance(span: tuple[int, int], shared: list[bool]) -> int:
    """Tokens between a span and the nearest shared token (a large number when nothing is shared)."""
    marks = [k for k, s in enumerate(shared) if s]
    if not marks:
        return 50
    i, j = span
    return min(i - k if k < i else (k - j + 1 if k >= j else 0) for k in marks)


_EDGE_WORDS = _forms(
    "و في من الى إلى على عن ان أن إن هو هي التي الذي الذين قد كان كانت وهو وهي ثم and or of in the a an to"
)


def _tail(tokens: list[_Token], shared: list[bool], max_tokens: int) -> tuple[int, int] | None:
    """The words after the last shared word of the clause that shares most with the question, up to
    the clause's end (the next clause when nothing follows)."""
    n = len(tokens)
    clauses = []
    k = 0
    while k < n:
        i, j = _clause(tokens, k)
        if i < j:
            clauses.append((i, j))
        k = j + 1
    if not clauses:
        return None
    best = max(range(len(clauses)), key=lambda c: (sum(shared[a] for a in range(*clauses[c])), -c))
    i, j = clauses[best]
    marks = [a for a in range(i, j) if shared[a]]
    start = marks[-1] + 1 if marks else i
    if start >= j and best + 1 < len(clauses):
        start, j = clauses[best + 1]
    while start < j and tokens[start].norm in _EDGE_WORDS:
        start += 1
    if start >= j:
        return None
    return start, min(j, start + max_tokens)


def _clause(tokens: list[_Token], k: int) -> tuple[int, int]:
    i = k
    while i > 0 and not tokens[i - 1].is_boundary:
        i -= 1
    j = k
    while j < len(tokens) and not tokens[j].is_boundary:
        j += 1
    return i, j


_LATIN_NAME = re.compile(r"[A-Z][\w.&'-]*(?:\s+(?:[A-Z][\w.&'-]*|of|de|al|von|van|bin))*")


def short_answer(
    question: str, sentence: str, *, max_tokens: int = 12, match_text: str | None = None
) -> tuple[int, int] | None:
    """The ``(start, end)`` offsets in ``sentence`` of the span that answers ``question``, or None.

    Typed questions take the typed expression nearest to the words the sentence shares with the
    question; a typed question whose sentence has no such expression falls back to the generic rule.

    Example: ``short_answer("كم سنة تستمر الصفقة؟", "تستمر الصفقة سبع سنوات بقيمة 38 مليار دولار")``
    ``== (13, 22)`` (``"سبع سنوات"``)

    Args:
        question: The question, Arabic or English.
        sentence: The quoted sentence, verbatim.
        match_text: The words the sentence may share with the question, when they differ from the
            question's own (an English question's bridged Arabic words); None means the question.
        max_tokens: The longest span of the untyped rule, in words (12 did best on a development
            part of ARCD's training split among 6, 8, 12 and 20).

    Returns:
        Offsets into ``sentence``; None when no span can be told apart (e.g. the sentence only
        repeats the question).
    """
    tokens = _tokens(sentence)
    if not tokens:
        return None
    qtype = question_type(question)
    if qtype == "name":
        named = appositive_name(question, sentence, match_text)
        if named is not None:
            return named
    shared = _shared(tokens, match_text or question)
    span = _typed(tokens, shared, qtype, question)
    if span is None and qtype == "place":
        span = _place(tokens, shared)
    elif span is None and qtype == "name":
        span = _latin_name(tokens, shared, question, sentence)
    if span is None:
        span = _tail(tokens, shared, max_tokens)
    if span is None:
        return None
    return tokens[span[0]].start, tokens[span[1] - 1].end


def _typed(tokens: list[_Token], shared: list[bool], qtype: str, question: str) -> tuple[int, int] | None:
    """The typed value a typed question asks for (amount, count, percentage, duration, date) as a token
    range, the one nearest the words the sentence shares with the question; None for another question
    type or a sentence without such a value."""
    span = None
    if qtype in ("percentage", "duration", "amount", "count"):
        wanted = {"percentage": ("percent",), "duration": ("time",), "amount": ("money", "number", "percent"),
                  "count": ("number", "money", "time")}[qtype]
        in_date = {k for a, b in _date_spans(tokens) for k in range(a, b)}
        counted = _counted_noun(question) if qtype == "count" else frozenset()
        options = []
        for i, j, kind in _number_spans(tokens):
            if qtype == "count" and j - i == 1 and _is_year(tokens[i]):
                continue  # "how many" is not answered by a year
            if all(k in in_date for k in range(i, j)):
                continue  # nor by the day of a date ("3 نوفمبر")
            fit = 0 if kind in wanted[:1] else (1 if kind in wanted else 3)
            if qtype in ("count", "amount"):
                j = _with_what_is_counted(tokens, j, kind)
            # "كم جزيرة": the number of islands ("ثلاث جزر"), not of provinces ("اثنتي عشر مقاطعة").
            agrees = _agrees(tokens, i, j, counted)
            options.append((not agrees, fit, _distance((i, j), shared), i, j))
        if options:
            *_, i, j = min(options)
            span = (i, j)
    elif qtype == "date":
        dates = [(_distance(d, shared), d[0], d) for d in _date_spans(tokens)]
        if dates:
            span = min(dates)[2]
            is_year = _years(tokens)
            years = [k for k in range(*span) if is_year[k]]
            if re.search(_YEAR_QUESTION, _n(question)) and years:
                y = years[0]  # "in what year": the year, not the whole date; with its era when written on it ("960م")
                attached = y + 1 < len(tokens) and tokens[y + 1].start == tokens[y].end and _in(tokens[y + 1], _ERAS)
                span = (y, y + 2 if attached else y + 1)
        else:
            ago = _ago_spans(tokens)
            span = min(ago, key=lambda d: (_distance(d, shared), d[0])) if ago else None
    return span


def _ago_spans(tokens: list[_Token]) -> list[tuple[int, int]]:
    """Times told from now, for a when-question whose sentence has no date: "قبل ثلاث سنوات", "منذ عامين",
    "22،000 سنة مضت", "two weeks ago"."""
    out = []
    for i, j, kind in _number_spans(tokens):
        if kind != "time":
            continue
        if i > 0 and _in(tokens[i - 1], AGO_BEFORE):
            out.append((i - 1, j))
        elif j < len(tokens) and _in(tokens[j], AGO_AFTER):
            out.append((i, j + 1))
    return out


# Words between كم and what it counts: "كم عدد الجزر", "كم كان عدد", "كم من جزيرة".
_COUNT_FILLERS = _forms("عدد من كان كانت يبلغ تبلغ بلغ بلغت")


@lru_cache(maxsize=1024)
def _counted_noun(question: str) -> frozenset[str]:
    """The skeletons of what a "how many" question counts ("كم جزيرة" -> جزيرة; "how many islands" ->
    islands), or none."""
    words = [t.norm for t in _tokens(question) if not t.is_boundary]
    for k, w in enumerate(words):
        after = words[k + 1 :]
        if w in ("كم", "وكم", "فكم", "بكم"):
            rest = [x for x in after[:4] if x not in _COUNT_FILLERS]
            return _skeletons(rest[0]) if rest else frozenset()
        if w == "how" and after[:1] == ["many"] and len(after) > 1:
            return _skeletons(after[1])
    return frozenset()


@lru_cache(maxsize=4096)
def _skeletons(norm: str) -> frozenset[str]:
    """A word's consonant skeletons, so that a singular meets its plural: the word without proclitics, a
    plural or feminine ending and its long vowels after the first letter, with and without a leading ا
    ("جزيرة" and "جزر" -> جزر; "منطقة" and "مناطق" -> منطق; "شهر" and "أشهر" -> شهر). English words are
    stemmed ("islands" -> island)."""
    if not re.search("[\u0600-\u06ff]", norm):
        return frozenset(analyze(norm))
    w = strip_proclitics(norm, min_len=2)
    for suffix in ("ات", "ين", "ون", "ان", "ه"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 2:
            w = w[: -len(suffix)]
            break
    sk = w[:1] + re.sub("[اويى]", "", w[1:])
    forms = {sk, sk[1:] if sk.startswith("ا") else sk}
    return frozenset(f for f in forms if len(f) >= 2)


def counts_what_is_asked(question: str, sentence: str) -> bool | None:
    """Whether ``sentence`` holds a count of what a "how many" question counts (the number with that word,
    singular or plural: "كم جزيرة" and "ثلاث جزر"), or for a duration question a count of time ("سبع سنوات":
    "كم مدة الصفقة؟" is not answered by "38 مليار دولار"); None when the question counts nothing that can be told.

    Example: ``counts_what_is_asked("كم جزيرة في الأرخبيل؟", "يضم الأرخبيل ثلاث جزر") is True``
    """
    qtype = question_type(question)
    if qtype == "duration":
        return any(kind == "time" for _, _, kind in _number_spans(_tokens(sentence)))
    counted = _counted_noun(question) if qtype == "count" else frozenset()
    if not counted:
        return None
    tokens = _tokens(sentence)
    return any(_agrees(tokens, i, _with_what_is_counted(tokens, j, kind), counted)
               for i, j, kind in _number_spans(tokens))


def _with_what_is_counted(tokens: list[_Token], j: int, kind: str) -> int:
    """The end of a bare number's span taken with the word it counts or measures ("21 فيلما", "10 غيغاوات")."""
    return j + 1 if kind == "number" and j < len(tokens) and _counted(tokens[j]) else j


def _agrees(tokens: list[_Token], i: int, j: int, counted: frozenset[str]) -> bool:
    """Whether tokens ``[i, j)`` name what a question counts (``_counted_noun``), singular or plural."""
    return bool(counted) and any(_skeletons(tokens[k].norm) & counted for k in range(i, j))


def typed_answer(question: str, sentence: str, match_text: str | None = None) -> tuple[int, int] | None:
    """The ``(start, end)`` offsets of the typed value a typed question asks for, or None (another
    question type, or no value of that type in the sentence).

    Example: ``typed_answer("كم سنة تستمر الصفقة؟", "تستمر الصفقة سبع سنوات") == (13, 22)``
    """
    qtype = question_type(question)
    if qtype not in TYPED_VALUES:
        return None
    tokens = _tokens(sentence)
    span = _typed(tokens, _shared(tokens, match_text or question), qtype, question)
    return None if span is None else (tokens[span[0]].start, tokens[span[1] - 1].end)


def _latin_name(tokens: list[_Token], shared: list[bool], question: str, sentence: str) -> tuple[int, int] | None:
    """The Latin-script name (not one the question says) nearest the shared words, as a token range."""
    names = [m for m in _LATIN_NAME.finditer(sentence) if m.group().lower() not in question.lower()]
    if not names:
        return None
    offsets = [(t.start, t.end) for t in tokens]
    found = []
    for m in names:
        i = next(k for k, (_, e) in enumerate(offsets) if e > m.start())
        j = next((k for k, (b, _) in enumerate(offsets) if b >= m.end()), len(tokens))
        found.append((_distance((i, j), shared), i, (i, j)))
    return min(found)[2]


#: Words that open a clause before a name and are not part of it ("قال سام ألتمان، المدير التنفيذي").
_BEFORE_NAMES = _forms(
    "قال وقال قالت وقالت يقول صرح وصرح أكد وأكد أضاف وأضاف أوضح وأوضح ذكر وذكر رفض ورفض كتب وكتب أعلن وأعلن "
    "اعتبر واعتبر يتحدث تحدث أشار وأشار said says told added wrote"
)
#: Connectives that tie a role to its owner ("الرئيس التنفيذي لشركة X", "the chief executive of X").
_ROLE_LINKS = _forms("ل لـ لشركة لمجموعة باسم of at in")  # باسم: "المتحدث باسم X", the spokesman of X
_COMMAS = frozenset("،,")


def appositive_name(question: str, sentence: str, match_text: str | None = None) -> tuple[int, int] | None:
    """For a who-question, the ``(start, end)`` offsets of the name the sentence gives in the role the
    question asks about, by apposition; None when the sentence names nobody so.

    The role is the run of words the sentence shares with the question. The name stands before it between
    commas ("سام ألتمان، الرئيس التنفيذي لشركة OpenAI،"), after it between commas ("الرئيس التنفيذي لشركة
    OpenAI، سام ألتمان،"), or right after it ("الرئيس التنفيذي آندي جاسي صرح", past an owner joined by ل:
    "الرئيس التنفيذي لشركة إنفيديا جنسن هوانغ"). A name is up to two words (three after a preposition),
    none of them a function word, a word of the question, a number, or a word with the article.

    Example: ``appositive_name("من هو الرئيس التنفيذي لشركة OpenAI؟",
    "سام ألتمان، الرئيس التنفيذي لشركة OpenAI، يتحدث") == (0, 10)``
    """
    if question_type(question) != "name":
        return None
    tokens = _tokens(sentence)
    shared = _shared(tokens, match_text or question)
    segments: list[tuple[int, int]] = []
    k = 0
    while k < len(tokens):
        i, j = _clause(tokens, k)
        if i < j:
            segments.append((i, j))
        k = j + 1
    if not segments:
        return None
    counts = [sum(shared[a] for a in range(i, j)) for i, j in segments]
    r = max(range(len(segments)), key=lambda s: (counts[s], -s))
    if counts[r] == 0:
        return None
    i, j = segments[r]

    def namey(t: _Token, k: int, first: bool = True) -> bool:
        if shared[k] or t.is_boundary or t.is_digit or t.norm in stopwords() or _in(t, QUESTION_WORDS):
            return False
        if t.text[:1].isascii():
            return t.text[:1].isupper()
        # A family name may carry the article ("عمر سلطان العلما"); a name does not start with it, nor is it a
        # plural adjective ("مسؤولين تنفيذيين في مايكروسوفت مثل كيفن سكوت").
        return ((not first or not t.norm.startswith("ال")) and not _in(t, _BEFORE_NAMES) and len(t.norm) > 1
                and not t.norm.endswith(("يين", "يون")))

    def comma(k: int) -> bool:
        return 0 <= k < len(tokens) and tokens[k].text in _COMMAS

    span = None
    titled = shared[i] or tokens[i].norm.startswith("ال")
    if r > 0 and comma(i - 1) and titled and segments[r - 1][1] == i - 1:
        span = _name_run(tokens, segments[r - 1], namey, at_end=True)  # "NAME، ROLE"
    if span is None and r + 1 < len(segments) and comma(j) and titled and comma(segments[r + 1][1]):
        span = _name_run(tokens, segments[r + 1], namey, at_end=False)  # "ROLE، NAME،"
    if span is None:
        run = next(a for a in range(i, j) if shared[a])
        while run + 1 < j and (shared[run + 1] or _in(tokens[run + 1], _ROLE_LINKS)):
            run += 1
        start = run + 1
        if tokens[run].norm.startswith("ل") and not tokens[run].norm.startswith("ال") and start < j:
            start += 1  # "لشركة إنفيديا": the owner, then the name
        end = start
        while end < j and end - start < 2 and namey(tokens[end], end):
            end += 1
        # "ROLE NAME"; a name running on into the question's words is the question's own ("رفض سام ألتمان").
        span = (start, end) if end > start and not (end < j and shared[end]) else None
    if span is None:
        return None
    return tokens[span[0]].start, tokens[span[1] - 1].end


#: A why-question: "لماذا", "ما سبب", "why", "what is the reason".
_WHY_QUESTION = re.compile(r"(?:^|\s)[وف]?لماذا\b|(?:^|\s)[وف]?ما (?:هو |هي )?(?:ال)?(?:سبب|اسباب|دافع)"
                           r"|^(?:and |so |but )?why\b|\bwhat (?:is|was|are|were) the reasons?\b|\bfor what reason\b")
#: Words that give a reason for what comes before them ("بسبب", "لأن", "حيث إن", "because", "due to").
_BECAUSE = _forms("بسبب لأن لان لأنه لانه لأنها لانها بدافع نظرا بفضل جراء because due owing")
_BECAUSE_PAIRS = (("حيث", "ان"), ("حيث", "إن"), ("اذ", "ان"), ("as", "a"), ("in", "order"))
_NEGATIONS = _forms("لم لا ليس ليست لن غير not never no")


def asks_why(question: str) -> bool:
    """Whether the question asks for a reason.

    Example: ``asks_why("ولماذا سرحت أمازون الموظفين؟") is True``
    """
    return bool(_WHY_QUESTION.search(" ".join(re.sub(r"[^\w\s]", " ", _n(question)).split())))


def reason_answer(sentence: str, max_tokens: int = 10) -> tuple[int, int] | None:
    """The ``(start, end)`` offsets of the reason a sentence gives: the words after "بسبب", "لأن", "حيث إن",
    "because"… up to the end of their clause; None when it gives none, or only a reason it denies ("لم تكن
    بدافع الذكاء الاصطناعي" is no reason).

    Example: ``reason_answer("تراجعت الأسهم بسبب ضعف الطلب.") == (19, 28)`` ("ضعف الطلب")
    """
    tokens = _tokens(sentence)
    for k, t in enumerate(tokens):
        pair = k + 1 < len(tokens) and (t.norm, tokens[k + 1].norm) in _BECAUSE_PAIRS
        if not (_in(t, _BECAUSE) or pair):
            continue
        if any(_in(x, _NEGATIONS) for x in tokens[max(0, k - 3) : k]):
            continue
        start = k + (2 if pair else 1)
        if start < len(tokens) and tokens[start].norm in ("of", "to", "ان", "إن"):
            start += 1
        end = start
        while end < len(tokens) and end - start < max_tokens and not tokens[end].is_boundary:
            end += 1
        if end > start:
            return tokens[start].start, tokens[end - 1].end
    return None


def _name_run(tokens: list[_Token], segment: tuple[int, int], namey: Callable[..., bool], *,
              at_end: bool) -> tuple[int, int] | None:
    """The name that makes up the end (or the start) of a comma-separated segment: its last (first) two name
    words, three when the segment opens with a preposition ("مع عمر سلطان العلما")."""
    i, j = segment
    if at_end:
        start = j
        while start > i and j - start < 3 and namey(tokens[start - 1], start - 1, first=False):
            start -= 1
        if j - start == 3 and start > i and tokens[start - 1].norm not in stopwords():
            start += 1  # three words only after a preposition: "رفض سام ألتمان" is a verb and a name
        words = list(range(start, j))
    else:
        words = list(range(i, j))[:2] if j - i <= 3 else []
    if not words or not all(namey(tokens[k], k, first=n == 0) for n, k in enumerate(words)):
        return None
    return words[0], words[-1] + 1


def _place(tokens: list[_Token], shared: list[bool]) -> tuple[int, int] | None:
    """A place phrase: a place word ("في", "شرق", "near") and the words after it in its clause, the one
    nearest the words the question shares (after the first of them when it can), or None.

    A place word followed by a date or a number ("في عام 1879") or by the question's own words
    ("في آسيا" when the question says it) opens no place.
    """
    first_shared = next((a for a, s in enumerate(shared) if s), None)
    options = []
    for k, t in enumerate(tokens):
        if shared[k] or not _in(t, PLACE_WORDS) or k + 1 >= len(tokens):
            continue
        nxt = tokens[k + 1]
        if nxt.is_boundary or shared[k + 1] or _is_number(nxt) or _in(nxt, YEAR_WORDS) or _in(nxt, MONTHS):
            continue
        j = k + 1
        while j < len(tokens) and j - k <= _PLACE_MAX_TOKENS and not tokens[j].is_boundary and not shared[j]:
            j += 1
        after = first_shared is not None and k > first_shared
        options.append((not after, _distance((k, j), shared), k, j))
    if not options:
        return None
    _, _, i, j = min(options)
    return i, j


def _counted(token: _Token) -> bool:
    """Whether a word after a bare number names what is counted (a word, not a connective or symbol)."""
    return token.norm.isalpha() and not _in(token, _EDGE_WORDS) and token.norm not in stopwords()


def short_answer_for(
    question: str, language: str, citation: Citation, match_text: str | None = None,
    model: SpanModel | None = None, span: tuple[int, int] | None = None,
) -> ShortAnswer | None:
    """The short answer inside a quote, with article offsets, and for an English question its English
    rendering (``rag.answer.english``); None when no span can be told apart.

    The span is the reading model's (``span``, offsets in the quote) when given, else the fitted span model's choice
    (``rag.answer.span``) when ``model`` is given, else the rule's.
    A who-question's span is the name the quote gives in the role asked about (``appositive_name``) when it
    gives one; a why-question's the reason the quote gives (``reason_answer``), and none when it gives none.
    For an English who/which-name question, when the model's span has no English rendering and the rule's
    span is a name the reader can read (Latin script, or one the question spells; a date or a figure is
    not), the rule's span is taken.

    Example: ``short_answer_for("كم سنة؟", "ar", citation).text == "سبع سنوات"`` for a quote holding it.
    """
    ruled = False  # whether the span is the rule's own
    if span is not None:  # the reading model's span
        pass
    elif named := appositive_name(question, citation.quote, match_text):
        span = named  # a who-question: the name in the role asked about
    elif asks_why(question):
        span = reason_answer(citation.quote)  # the reason the quote gives; none when it gives none
    elif model is not None:
        span = model.choose(question, citation.quote, match_text)
    else:
        span, ruled = short_answer(question, citation.quote, match_text=match_text), True
    if span is None:
        return None
    text = citation.quote[span[0] : span[1]]
    english = english_rendering(question, text) if language == "en" else None
    if language == "en" and english is None and not ruled and question_type(question) == "name":
        rule = short_answer(question, citation.quote, match_text=match_text)
        # Only a name answers a name question: the rule's span may be a date the renderer would also write.
        rule_english = name_rendering(question, citation.quote[rule[0] : rule[1]]) if rule is not None else None
        if rule is not None and rule_english is not None:
            span, english = rule, rule_english
            text = citation.quote[span[0] : span[1]]
    return ShortAnswer(text, citation.doc_id, citation.start + span[0], citation.start + span[1], english)
