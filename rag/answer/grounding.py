"""Whether the articles can be about what the question asks: unknown words and names, and "what did X say".

Grammar only, nothing about a corpus: a question's words that the corpus never uses (Arabic questions),
the names it asks about in either script (Latin names are looked up with their Arabic transliterations),
and questions asking for someone's words ("ما رأي X", "ماذا قال X", "What did X say", "How did X react"),
which the articles answer only if a sentence has X speaking: a speech verb next to X ("قالت مايكروسوفت",
"Microsoft said", "بحسب X", "according to X").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from rag.answer.short import QUESTION_WORDS
from rag.text.analyze import analyze, analyze_query, stopwords
from rag.text.normalize import normalize, strip_marks, tokenize
from rag.text.translit import NameIndex, question_names

# Words that ask rather than say what is asked about: the question words, and the frames of "what did X say".
_ASKING = QUESTION_WORDS | frozenset(normalize(w, lexical=True) for w in "رأي موقف بكم منذ a an of".split())

# "What did X say", in Arabic and English: the pattern captures X.
_ENDS = r"(?=\s+(?:في|عن|حول|بشأن|بشان|على|ازاء|إزاء|تجاه|حيال|about|on|of|regarding|to|after|when)\b|\s*[؟?]|\s*$)"
_SPEECH_QUESTIONS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"^(?:و|ف)?(?:ما|ماذا)\s+(?:هو\s+|هي\s+)?(?:رأي|راي|موقف|تعليق|رد|تصريح|تصريحات|كلام)\s+(?P<x>.+?)" + _ENDS,
    r"^(?:و|ف)?(?:ماذا|بماذا|ما\s+الذي)\s+(?:قال|قالت|يقول|تقول|صرح|صرحت|علق|علقت|رد|ردت|أعلن|أعلنت|اعلن|اعلنت)"
    r"\s+(?P<x>.+?)" + _ENDS,
    r"^(?:و|ف)?كيف\s+(?:علق|علقت|رد|ردت|يرى|ترى|وصف|وصفت)\s+(?P<x>.+?)" + _ENDS,
    r"^what\s+(?:did|does|do|has|have)\s+(?P<x>.+?)\s+(?:say|said|think|thought|comment|claim|tell|announce|"
    r"argue|state|believe)\b",
    r"^how\s+(?:did|does|do|has|have)\s+(?P<x>.+?)\s+(?:react|respond|comment|reply|view|see)\b",
    r"^what\s+(?:is|was|are|were)\s+(?P<x>.+?)'s?\s+(?:view|opinion|position|stance|reaction|response|comment|"
    r"statement|take)\b",
))
_SPEECH_VERBS = frozenset(normalize(w, lexical=True) for w in (
    "قال قالت يقول تقول قالوا صرح صرحت يصرح تصريح أكد أكدت يؤكد أوضح أوضحت أشار أشارت أعلن أعلنت يعلن ذكر ذكرت "
    "أضاف أضافت علق علقت كتب كتبت رأى يرى ترى اعتبر اعتبرت أفاد أفادت متحدث المتحدث "
    "said says say told tells stated states announced announces added adds commented wrote writes "
    "argued argues claimed claims believes spokesperson spokesman"
).split())
#: Words that attribute what follows to whoever comes after them ("بحسب X", "according to X", "بيان X").
_ATTRIBUTIONS = frozenset(normalize(w, lexical=True) for w in "بحسب وفقا وفق لسان بيان according".split())
#: Words between a speech verb and the speaker ("قال المتحدث باسم الشركة X", "X's spokesperson said").
SPEAKER_WINDOW = 4


def _words(text: str) -> list[str]:
    return tokenize(normalize(text, lexical=True))


def content_words(question: str) -> list[str]:
    """The question's own words: no punctuation, stopwords or question words (Latin words kept as written;
    a shadda or other mark does not split a word: "مسرّعات" is one). A question word keeps its conjunction
    ("ومتى" asks as "متى" does).

    Example: ``content_words("ما مسرّعات Nvidia؟") == ["مسرعات", "Nvidia"]``
    """
    stop = stopwords()

    def asking(n: str) -> bool:
        return n in stop or n in _ASKING or n[:1] in "وف" and (n[1:] in stop or n[1:] in _ASKING)

    return [w for w in re.findall(r"[^\W\d_]+", strip_marks(question))
            if not asking(normalize(w, lexical=True)) and len(w) > 1]


def unknown_words(question: str, language: str, vocabulary: Mapping[str, object] | set[str],
                  names: NameIndex | None, translate: Callable[[str], Sequence[str]] | None = None) -> list[str]:
    """Words of the question the corpus never uses, as written.

    An Arabic word counts when none of its query terms is in ``vocabulary`` (the analyzed terms of the
    corpus; retried without proclitics as the BM25 query is: "وأمازون" is known where "أمازون" is); a Latin
    name (capitalized after the first word in English, any Latin word in Arabic) when neither it nor an Arabic
    transliteration occurs in the corpus, nor, in an English question, one of its first three dictionary
    renderings (``translate``: "Canada" -> كندا, "Islands" -> جزر; a rendering occurs when all its analyzed
    terms do). Lowercase English words are never counted: an Arabic corpus uses none of them.

    Example: ``unknown_words("ما رأي إيلون ماسك في الصفقة؟", "ar", {"صفق"}, None) == ["إيلون", "ماسك"]``
    """
    out = []
    words = content_words(question)
    for w in words:
        if re.fullmatch(r"[A-Za-z]+", w):
            asked = language != "en" or (w[0].isupper() and not question.lstrip().startswith(w))
            if not asked or names is None or not names.checkable(w):
                continue
            if names.document_frequency(names.forms(w)) == 0 and not (
                    language == "en" and translate is not None and _rendered(w, translate, vocabulary)):
                out.append(w)
        elif language == "ar" or not re.search(r"[A-Za-z]", w):
            terms = analyze_query(w, vocabulary)
            if terms and not any(t in vocabulary for t in terms):
                out.append(w)
    return out


def absent_names(question: str, unknown: Sequence[str], translate: Callable[[str], Sequence[str]] | None) -> list[str]:
    """The names an English question asks about, as written (adjacent words together), when the corpus
    mentions none of them and the dictionary writes one as a name (its first rendering one word without the
    article: "Canada" -> كندا, not "Championship" -> البطولة); else nothing. ``unknown`` is
    ``unknown_words(question, "en", ...)``.

    A name the dictionary does not know may be a transliteration the corpus spells otherwise, and a question
    naming one thing the corpus knows ("Joseph Priestley": بريستلي) may be about it: neither is refused on
    this alone.

    Example: ``absent_names("What is the capital of Canada?", ["Canada"], {"Canada": ["كندا"]}.get) == ["Canada"]``
    """
    if translate is None:
        return []
    asked = set(question_names(question, "en"))
    missing = {w for w in unknown if w.lower() in asked}
    if not asked or {w.lower() for w in missing} != asked:
        return []

    def a_name(word: str) -> bool:
        renderings = translate(word) or [""]
        return bool(renderings[0]) and " " not in renderings[0].strip() and not renderings[0].startswith("ال")

    if not any(a_name(w) for w in missing):
        return []
    runs: list[list[str]] = [[]]
    for word in re.findall(r"[A-Za-z][A-Za-z0-9]*", question):
        if word in missing:
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    return [" ".join(run) for run in runs if run]


def _rendered(word: str, translate: Callable[[str], Sequence[str]],
              vocabulary: Mapping[str, object] | set[str]) -> bool:
    """Whether the corpus uses one of the first three dictionary renderings of an English word."""
    for rendering in translate(word)[:3]:
        terms = analyze_query(rendering, vocabulary)
        if terms and all(t in vocabulary for t in terms):
            return True
    return False


def speech_subject(question: str) -> str | None:
    """Whose words the question asks for ("ما رأي إيلون ماسك في الصفقة؟" -> "إيلون ماسك"), or None.

    Example: ``speech_subject("What did Microsoft say about the deal?") == "Microsoft"``
    """
    q = " ".join(question.strip().split())
    for pattern in _SPEECH_QUESTIONS:
        m = pattern.search(q)
        if m:
            subject = re.sub(r"^(?:the|a|an)\s+", "", m.group("x").strip(" ،,؟?"), flags=re.IGNORECASE)
            if subject and len(subject) <= 60:
                return subject
    return None


def subject_forms(subject: str, names: NameIndex | None) -> list[list[str]]:
    """How the corpus may write each word of ``subject``: analyzed terms for Arabic words, the word and its
    transliterations for Latin ones. A sentence mentions the subject when it has a form of every word."""
    out = []
    for w in content_words(subject):
        if re.fullmatch(r"[A-Za-z]+", w):
            forms = names.forms(w) if names is not None else [w.lower()]
            out.append([f for form in forms for f in ([form] if " " in form else analyze(form) or [form])])
        else:
            terms = analyze(w)
            if terms:
                out.append(terms)
    return out


def quotes_subject(sentence: str, forms: Sequence[Sequence[str]]) -> bool:
    """Whether ``sentence`` has the subject speaking: a speech verb within ``SPEAKER_WINDOW`` words of a
    mention of it, or an attribution ("بحسب", "according to") shortly before it.

    Example: ``quotes_subject("وقالت مايكروسوفت إن الصفقة مهمة", [["مايكروسوفت"]]) is True``
    """
    words = _words(sentence)
    mentions = _mentions(words, forms)
    if not forms or not all(mentions):
        return False
    verbs = [i for i, w in enumerate(words) if w in _SPEECH_VERBS or _strip_conj(w) in _SPEECH_VERBS]
    attributions = [i for i, w in enumerate(words) if w in _ATTRIBUTIONS or _strip_conj(w) in _ATTRIBUTIONS]
    heads = [h for hs in mentions for h in hs]
    return (any(abs(h - v) <= SPEAKER_WINDOW for h in heads for v in verbs)
            or any(0 < h - a <= SPEAKER_WINDOW for h in heads for a in attributions))


def mentions_subject(sentence: str, forms: Sequence[Sequence[str]]) -> bool:
    """Whether ``sentence`` has a form of every word of the subject (``subject_forms``).

    Example: ``mentions_subject("وقال ناديلا من مايكروسوفت", [["مايكروسوفت"]]) is True``
    """
    return bool(forms) and all(_mentions(_words(sentence), forms))


def _mentions(words: list[str], forms: Sequence[Sequence[str]]) -> list[list[int]]:
    """For each subject word, the positions in ``words`` where one of its forms stands."""
    terms = [set(analyze(w)) | {w} for w in words]

    def at(i: int, form: str) -> bool:
        parts = form.split()
        return len(parts) > 1 and words[i : i + len(parts)] == parts or len(parts) == 1 and form in terms[i]

    return [[i for i in range(len(words)) if any(at(i, f) for f in fs)] for fs in forms]


def _strip_conj(word: str) -> str:
    return word[1:] if len(word) > 3 and word[0] in "وف" else word


def quoted_anywhere(subject: str, sentences: Iterable[str], names: NameIndex | None) -> bool:
    """Whether any of ``sentences`` has ``subject`` speaking."""
    forms = subject_forms(subject, names)
    return any(quotes_subject(s, forms) for s in sentences)

