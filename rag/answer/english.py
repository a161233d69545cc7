"""English renderings of an Arabic short answer, for English questions: typed values only, never invented.

A span is rendered when every word of it is understood: an amount of money (38 مليار دولار -> $38 billion),
a count or number words (سبع -> seven; duals such as مليارين, عامين), a percentage, a duration, a date,
weekday or month, a measure, or a name that the question itself spells in Latin script and the span
transliterates (أوبن إيه آي -> OpenAI, matched by consonant skeleton, ``rag.text.translit``). A span
already in Latin script is its own rendering. Anything else gives None, and the Arabic span is shown
as a quote in Arabic.
"""

from __future__ import annotations

import re

from rag.text.analyze import strip_proclitics
from rag.text.normalize import THOUSANDS_COMMA, normalize
from rag.text.translit import arabic_skeleton, latin_skeleton, question_names


def _table(pairs: str) -> dict[str, str]:
    """``"a b:x c:y"`` -> ``{"a": "x", "b": "x", "c": "y"}`` with normalized Arabic keys (each key
    group ends at its colon)."""
    out: dict[str, str] = {}
    group: list[str] = []
    for item in pairs.split():
        if ":" in item:
            word, value = item.split(":", 1)
            for key in [*group, word]:
                out[normalize(key, lexical=True)] = value
            group = []
        else:
            group.append(item)
    return out


#: Number words -> value (units, teens by composition, tens, hundreds).
NUMBER_VALUES = {k: int(v) for k, v in _table(
    "واحد واحدة احد احدى:1 اثنان اثنين اثنتان اثنتين اثنا اثني اثنتا اثنتي:2 ثلاث ثلاثة:3 اربع اربعة:4 "
    "خمس خمسة:5 ست ستة:6 سبع سبعة:7 ثمان ثماني ثمانية:8 تسع تسعة:9 عشر عشرة:10 عشرون عشرين:20 "
    "ثلاثون ثلاثين:30 اربعون اربعين:40 خمسون خمسين:50 ستون ستين:60 سبعون سبعين:70 ثمانون ثمانين:80 "
    "تسعون تسعين:90 مئة مائة:100 مئتان مئتين مائتان مائتين:200 ثلاثمئة ثلاثمائة:300 اربعمئة اربعمائة:400 "
    "خمسمئة خمسمائة:500"
).items()}
#: Scale words -> (English word, multiplier carried by the word itself: 2 for a dual, 0 for a plural
#: that counts nothing by itself: "ملايين" alone is "millions", "ثلاثة ملايين" is "three million").
SCALES = {k: (v.split("*")[0], int(v.split("*")[1])) for k, v in _table(
    "الف:thousand*1 آلاف الاف:thousand*0 الفين الفان:thousand*2 مليون:million*1 ملايين:million*0 "
    "مليونين مليونان:million*2 مليار بليون:billion*1 مليارات بلايين:billion*0 مليارين ملياران:billion*2 "
    "تريليون:trillion*1 تريليونات:trillion*0"
).items()}
#: Words for a vague many: "مئات الآلاف" -> "hundreds of thousands".
MANY = _table("مئات:hundreds عشرات:tens")
CURRENCIES = _table(
    "دولار دولارا دولارات:$ يورو:€ استرليني:£ جنيه جنيها جنيهات:pounds ريال ريالا ريالات:riyals "
    "درهم دراهم:dirhams دينار دنانير:dinars ليرة ليرات:lira يوان:yuan"
)
#: Time units -> (singular, plural, count carried by a dual form or 0).
TIME_UNITS = {k: tuple(v.split("/")) for k, v in _table(
    "سنة سنوات سنين عام عاما اعوام:year/years/0 سنتين سنتان عامين عامان:year/years/2 "
    "شهر شهرا اشهر شهور:month/months/0 شهرين شهران:month/months/2 يوم يوما ايام:day/days/0 "
    "يومين يومان:day/days/2 اسبوع اسبوعا اسابيع:week/weeks/0 اسبوعين:week/weeks/2 "
    "ساعة ساعات:hour/hours/0 ساعتين ساعتان:hour/hours/2 دقيقة دقائق:minute/minutes/0 دقيقتين:minute/minutes/2 "
    "قرن قرون:century/centuries/0 قرنين:century/centuries/2 عقد عقود:decade/decades/0 عقدين:decade/decades/2 "
    "ثانية ثوان ثواني:second/seconds/0 ثانيتين ثانيتان:second/seconds/2"
).items()}
MEASURES = _table(
    "كيلومتر كيلومترا كيلومترات كم:km متر مترا امتار:metres ميل اميال:miles كيلوغرام كغ:kg طن اطنان:tonnes "
    "غيغاوات غيغاواط جيجاوات:gigawatts ميغاوات ميغاواط:megawatts"
)
MONTHS = _table(
    "يناير كانون_الثاني:January فبراير شباط:February مارس اذار:March ابريل نيسان:April مايو ايار:May "
    "يونيو يونيه حزيران:June يوليو يوليه تموز:July اغسطس اب:August سبتمبر ايلول:September "
    "اكتوبر تشرين_الاول:October نوفمبر تشرين_الثاني:November ديسمبر كانون_الاول:December"
)
#: Weekdays with their article: "أحد" alone is "one" (واحد), not Sunday.
WEEKDAYS = _table(
    "الاثنين:Monday الثلاثاء:Tuesday الاربعاء:Wednesday الخميس:Thursday الجمعة:Friday السبت:Saturday الاحد:Sunday"
)
_ENGLISH_TIME_UNITS = frozenset(u for forms in TIME_UNITS.values() for u in forms[:2])
_KNOWN = frozenset(NUMBER_VALUES) | frozenset(SCALES) | frozenset(MANY) | frozenset(CURRENCIES) \
    | frozenset(TIME_UNITS) | frozenset(MEASURES)
_PERCENT = {"%", "٪", normalize("بالمئة", lexical=True), normalize("بالمائة", lexical=True)}
# Date grammar shared with the extractor (``rag.answer.short``), one definition: words that say a year
# follows, that join two dates into a range (and the word that opens one, with its English frame), and
# that tell a time from now.
YEAR_WORDS = frozenset(normalize(w, lexical=True) for w in "عام سنة العام السنة عامي سنتي year".split())
#: Eras after a year or a century, by the word as ``_render_date`` sees it (proclitics and the article
#: stripped; ق.م is ق then م, and م alone is a filler): BC and AH are shown, AD is the default.
_ERAS = _table("ق:BC هـ ه هجره هجري هجريه:AH ميلادي ميلاديه:AD")
_BEFORE_CHRIST = [normalize(w, lexical=True) for w in ("قبل", "ميلاد")]
RANGE_OPENERS = {normalize(k, lexical=True): v for k, v in (
    ("بين", ("between", "and")), ("من", ("from", "to")), ("منذ", ("from", "to")),
    ("between", ("between", "and")), ("from", ("from", "to")))}
RANGE_LINKS = frozenset(normalize(w, lexical=True) for w in "و إلى الى حتى لغاية ولغاية - – — to until and".split())
AGO_BEFORE = frozenset(normalize(w, lexical=True) for w in "قبل منذ".split())  # "قبل أسبوعين": two weeks ago
AGO_AFTER = frozenset(normalize(w, lexical=True) for w in "مضت مضى خلت ago".split())  # "22،000 سنة مضت"
_CENTURY = {normalize(w, lexical=True) for w in ("قرن", "القرن")}
#: Ordinal words of a century (الحادي is the one of الحادي عشر, الحادي والعشرين).
ORDINALS = {k: int(v) for k, v in _table(
    "الاول:1 الحادي:1 الثاني:2 الثالث:3 الرابع:4 الخامس:5 السادس:6 السابع:7 الثامن:8 التاسع:9 العاشر:10 "
    "العشرين:20"
).items()}
_PERIOD_MODIFIERS = _table("اواخر نهاية نهايات:late اوائل مطلع بداية بدايات:early منتصف اواسط:mid")
DECADES = _table("عشرين:twenties ثلاثين:thirties اربعين:forties خمسين:fifties ستين:sixties سبعين:seventies "
                 "ثمانين:eighties تسعين:nineties")
_ENGLISH_NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                    "sixteen seventeen eighteen nineteen").split()
_ENGLISH_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+|[%٪$€£]")
# Words that may sit in a span without changing its value.
_HALF = normalize("نصف", lexical=True)
_FILLER = {normalize(w, lexical=True) for w in ("و", "في", "من", "نحو", "حوالي", "م")}
_DATE_FILLER = _FILLER | {normalize("يوم", lexical=True)}


def number_words(n: int) -> str:
    """An integer below 100 in English words; larger ones in digits with thousands separators.

    Example: ``number_words(25) == "twenty-five"``
    """
    if 0 <= n < 20:
        return _ENGLISH_NUMBERS[n]
    if 20 <= n < 100:
        tens, units = divmod(n, 10)
        return _ENGLISH_TENS[tens] + (f"-{_ENGLISH_NUMBERS[units]}" if units else "")
    return f"{n:,}"


_PERCENT_WORDS = re.compile(r"(?:\bفي |\bب)(?:ال)?(?:مئه|مائه)\b")


_PREFIXES = ("و", "ف", "ب", "ل", "ال")


def _unprefixed(word: str) -> str:
    """``word`` without Arabic proclitics, stopping at a word of the tables: "الاف" (آلاف) is thousands,
    not "ال" + "اف".

    Example: ``_unprefixed("والالاف") == "الاف"``
    """
    if word in _KNOWN:
        return word
    for p in _PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 2:
            rest = _unprefixed(word[len(p):])
            if rest in _KNOWN:
                return rest
    return strip_proclitics(word, min_len=2)


def _words(span: str, strip: bool = True) -> list[str]:
    """The span's tokens, normalized (Arabic-Indic digits, ٫ and ٬ folded, an Arabic comma between thousands
    ("22،000") too, "في المئة" as "%"), without Arabic proclitics unless ``strip`` is False."""
    text = _PERCENT_WORDS.sub(" % ", THOUSANDS_COMMA.sub(",", normalize(span, lexical=True)))
    return [t if t[0].isdigit() or not strip else _unprefixed(t) for t in _TOKEN.findall(text)]


def parse_quantity(words: list[str]) -> tuple[str, bool, int] | None:
    """The number at the start of ``words``: ``(digits or value as text, written in words?, tokens used)``.

    Number words add up ("خمسة وعشرون" -> 25); a dual scale or unit counts as two and is left for
    the caller to read. None when the words do not start with a number.

    Example: ``parse_quantity(["سبع", "سنوات"]) == ("7", True, 1)``
    """
    if not words:
        return None
    if words[0] == _HALF:
        return "0.5", False, 1
    if re.fullmatch(r"\d+(?:[.,]\d+)*", words[0]):
        text = words[0]
        if "," in text and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
            text = text.replace(",", ".")  # "1,5": a decimal comma, not a thousands separator
        return text, False, 1
    total, used = 0, 0
    while used < len(words):
        w = words[used]
        if w in NUMBER_VALUES:
            value = NUMBER_VALUES[w]
            total = total + value if not (value == 10 and 0 < total < 10) else total + 10
            used += 1
        elif w == "و" and used and used + 1 < len(words) and words[used + 1] in NUMBER_VALUES:
            used += 1
        else:
            break
    if not used:
        return None
    return str(total), True, used


def render_value(span: str) -> str | None:
    """The English rendering of a typed value in an Arabic span, or None when some word is not understood.

    Example: ``render_value("38 مليار دولار") == "$38 billion"``
    """
    raw = [re.sub(r"^[وفب](?=ال)", "", w) for w in _words(span, strip=False)]
    when = _render_range(raw) or _render_ago(raw) or _render_period(raw)
    if when:
        return when
    date = _render_date([w for w in raw if w not in _DATE_FILLER])
    words = [w for w in _words(span) if w not in _FILLER or w[0].isdigit()]
    if not words:
        return None
    if date:
        return date
    currency_first = CURRENCIES.get(words[0]) if words[0] in ("$", "€", "£") or words[0] in CURRENCIES else None
    if words[0] in ("$", "€", "£"):
        currency_first, words = words[0], words[1:]
    if words[0] in MANY or (words[0] in SCALES and SCALES[words[0]][1] == 0):
        return _render_many(words, currency_first)
    quantity = parse_quantity(words)
    rest = words[quantity[2]:] if quantity else words
    number, in_words = (quantity[0], quantity[1]) if quantity else ("", False)
    upper = ""
    if number and rest and re.fullmatch(r"\d+(?:\.\d+)?", rest[0]) and re.fullmatch(r"\d+(?:\.\d+)?", number) \
            and float(rest[0]) > float(number):
        upper, rest = rest[0], rest[1:]  # "50 و60 مليار دولار": a range
    scale = ""
    if rest and rest[0] in SCALES:
        scale_word, count = SCALES[rest[0]]
        if not number:
            if count == 0:
                return None
            number, in_words = str(count), True
        scale, rest = scale_word, rest[1:]
    elif rest and rest[0] in TIME_UNITS and not number and TIME_UNITS[rest[0]][2] != "0":
        number, in_words = TIME_UNITS[rest[0]][2], True
    if not number:
        return None
    shown = number_words(int(number)) if in_words and number.isdigit() else number
    if upper:
        shown = f"{number}–{upper}"
    value = f"{shown} {scale}" if scale else shown
    if not rest:
        return f"{currency_first}{value}" if currency_first in ("$", "€", "£") else value
    unit, rest = rest[0], rest[1:]
    if rest:
        return None  # more words than a value: not a typed value we can render whole
    if unit in _PERCENT:
        return f"{number}%"
    if unit in CURRENCIES:
        symbol = CURRENCIES[unit]
        return f"{symbol}{value}" if symbol in ("$", "€", "£") else f"{value} {symbol}"
    if unit in TIME_UNITS:
        singular, plural, _ = TIME_UNITS[unit]
        return f"{value} {singular if number == '1' and not scale else plural}"
    if unit in MEASURES:
        return f"{value} {MEASURES[unit]}"
    return None


def _render_date(words: list[str]) -> str | None:
    """A weekday, day, month and year, in that order in Arabic text; each part optional but one needed.

    ``words`` keep their article (a weekday is recognized with it) but not و/ف/ب before it.
    """
    joined: list[str] = []
    for w in words:  # the Levantine months of two words: "كانون الثاني" is one month
        pairs = [f"{first}_{w}" for first in (joined[-1:] + [strip_proclitics(v, min_len=2) for v in joined[-1:]])]
        month = next((p for p in pairs if p in MONTHS), None)
        if month is not None:
            joined[-1] = month
        else:
            joined.append(w)
    words = [w if w in WEEKDAYS or w in MONTHS or w[0].isdigit() else strip_proclitics(w, min_len=2)
             for w in joined]
    parts: list[str] = []
    k = 0
    if k < len(words) and words[k] in WEEKDAYS:
        parts.append(WEEKDAYS[words[k]])
        k += 1
    if k + 1 < len(words) and words[k].isdigit() and 1 <= int(words[k]) <= 31 and words[k + 1] in MONTHS:
        parts += [str(int(words[k])), MONTHS[words[k + 1]]]
        k += 2
    elif k < len(words) and words[k] in MONTHS:
        parts.append(MONTHS[words[k]])
        k += 1
    year_word = k < len(words) and words[k] in YEAR_WORDS and k + 1 < len(words)
    if year_word:
        k += 1
    if k < len(words) and re.fullmatch(r"\d{1,4}", words[k]):
        era, used = _era(words[k + 1 :])
        if 500 <= int(words[k]) <= 2100 or year_word or era:  # "سنة 336 ق.م": a year before 500 says so
            parts.append(f"{words[k]} {era}" if era in ("BC", "AH") else words[k])
            k += 1 + used
    if k != len(words) or not parts:
        return None
    if len(parts) == 1 and parts[0] in WEEKDAYS.values():
        return parts[0]
    return " ".join(parts)


def _era(words: list[str]) -> tuple[str | None, int]:
    """The era the words open with ("BC", "AH" or "AD") and how many words it takes, or (None, 0)."""
    if words[:2] == _BEFORE_CHRIST:
        return "BC", 2
    if words and words[0] in _ERAS:
        return _ERAS[words[0]], 1
    return None, 0


def _render_range(raw: list[str]) -> str | None:
    """Two dates with one connective between them: "بين عامي 1908 و 1914" -> "between 1908 and 1914", "من
    مارس 2003 حتى أغسطس 2014" -> "from March 2003 to August 2014" (the year word may stand before both)."""
    opener = RANGE_OPENERS.get(raw[0]) if raw else None
    body = raw[1:] if opener else raw
    for i, w in enumerate(body):
        if w not in RANGE_LINKS or i == 0 or i == len(body) - 1:
            continue
        left = [x for x in body[:i] if x not in _DATE_FILLER]
        right = [x for x in body[i + 1 :] if x not in _DATE_FILLER]
        shared_word = left[:1] if left and left[0] in YEAR_WORDS else []
        a, b = _render_date(left), _render_date(shared_word + right)
        if a and b:
            if opener:
                return f"{opener[0]} {a} {opener[1]} {b}"
            return f"{a} {'and' if w == 'و' else 'to'} {b}"
    return None


def _render_ago(raw: list[str]) -> str | None:
    """A time told from now: "قبل أسبوعين" -> "two weeks ago", "22،000 سنة مضت" -> "22,000 years ago"."""
    if len(raw) > 1 and raw[0] in AGO_BEFORE:
        rest = raw[1:]
    elif len(raw) > 1 and raw[-1] in AGO_AFTER:
        rest = raw[:-1]
    else:
        return None
    value = render_value(" ".join(rest))
    return f"{value} ago" if value and value.split()[-1] in _ENGLISH_TIME_UNITS else None


def _render_period(raw: list[str]) -> str | None:
    """A century or a decade, with how far into it: "أواخر القرن السادس عشر الميلادي" -> "the late 16th
    century", "القرن 5 قبل الميلاد" -> "the 5th century BC", "بداية الأربعينيات" -> "the early forties"."""
    kept = ORDINALS.keys() | _CENTURY | _PERIOD_MODIFIERS.keys()  # "بداية" is not ب + داية
    words = [w if w[0].isdigit() or w in kept else strip_proclitics(w, min_len=2)
             for w in raw if w not in _DATE_FILLER]
    modifier = ""
    if words and words[0] in _PERIOD_MODIFIERS:
        modifier, words = _PERIOD_MODIFIERS[words[0]] + " ", words[1:]
    plural = re.fullmatch("(.+?)(?:يات|ات)", words[0]) if len(words) == 1 else None
    if plural is not None:
        decade = DECADES.get(plural.group(1))
        return f"the {modifier}{decade}" if decade else None
    if len(words) < 2 or words[0] not in _CENTURY:
        return None
    k, n = 1, None
    if words[1].isdigit():
        n, k = int(words[1]), 2
    elif words[1] in ORDINALS:
        n, k = ORDINALS[words[1]], 2
        if k < len(words) and words[k] == "عشر":
            n, k = n + 10, k + 1
        elif k < len(words) and words[k] in ("العشرين", "عشرين") and n < 10:  # الحادي والعشرين
            n, k = n + 20, k + 1
    if n is None or not 1 <= n <= 21:
        return None
    era, used = _era(words[k:])
    if k + used != len(words):
        return None
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {modifier}{n}{suffix} century" + (f" {era}" if era in ("BC", "AH") else "")


_CURRENCY_NAMES = {"$": "dollars", "€": "euros", "£": "pounds"}


def _render_many(words: list[str], currency: str | None) -> str | None:
    """A vague many ("مئات الآلاف" -> "hundreds of thousands", "ملايين الدولارات" -> "millions of dollars"),
    or None when a word is left over."""
    parts = []
    k = 0
    if words[k] in MANY:
        parts.append(MANY[words[k]])
        k += 1
    if k < len(words) and words[k] in SCALES and SCALES[words[k]][1] in (0, 1):
        parts.append(SCALES[words[k]][0] + "s")
        k += 1
    if len(parts) == 0:
        return None
    if k < len(words) and words[k] in CURRENCIES:
        currency = CURRENCIES[words[k]]
        k += 1
    if k != len(words):
        return None
    if currency:
        parts.append(_CURRENCY_NAMES.get(currency, currency))
    return " of ".join(parts)


def render_name(question: str, span: str) -> str | None:
    """The question's own Latin spelling of a name that the Arabic span transliterates, else None.

    Every word of the span must belong to the name (by consonant skeleton), so "OpenAI" is not given
    for a span that only mentions OpenAI among other words.

    Example: ``render_name("Who partnered with OpenAI?", "أوبن إيه آي") == "OpenAI"``
    """
    names = question_names(question, "en")
    if not names:
        return None
    words = [w for w in _words(span, strip=False) if not w[0].isdigit()]
    skeleton = "".join(arabic_skeleton(w) for w in words)
    if len(skeleton) < 2:
        return None
    spelled = {m.group().lower(): m.group() for m in re.finditer(r"[A-Za-z][A-Za-z0-9]+", question)}
    # A name of one word, or two or three adjacent capitalized words ("Sam Altman").
    candidates = [[n] for n in names] + [names[i : i + 2] for i in range(len(names) - 1)] + \
                 [names[i : i + 3] for i in range(len(names) - 2)]
    for group in sorted(candidates, key=len, reverse=True):
        if "".join(latin_skeleton(w) for w in group) == skeleton:
            return " ".join(spelled.get(w, w) for w in group)
    return None


def name_rendering(question: str, span: str) -> str | None:
    """A name an English reader can read: the span itself when it is Latin script, else the question's
    spelling of the name it transliterates (``render_name``); None otherwise (a date or a figure is not a name).

    Example: ``name_rendering("Which chips?", "رقائق GB200") is None``
    """
    if not re.search("[\u0600-\u06ff]", span):
        return span.strip() or None
    return render_name(question, span)


def english_rendering(question: str, span: str) -> str | None:
    """What an English reader is shown for an Arabic short answer: a typed value in English, the
    question's spelling of a transliterated name, or the span itself when it is already Latin script;
    None when only the Arabic can be shown.

    Example: ``english_rendering("How many years does the deal last?", "سبع سنوات") == "seven years"``
    """
    if not re.search("[\u0600-\u06ff]", span):
        return span.strip() or None
    rendered = render_value(span) or render_name(question, span)
    parts = span.split()
    if rendered is None and len(parts) > 1 and re.search(r"\bhow many\b", question, re.IGNORECASE):
        # "How many jobs?" -> "14,000 موظف": the count answers it; the counted noun is the question's own.
        count = render_value(" ".join(parts[:-1]))
        if count is not None and re.fullmatch(r"[\w.,-]+(?: (?:thousand|million|billion|trillion))?", count):
            rendered = count
    return rendered
