"""Follow-up questions: resolve them against the conversation, or have a chat model rewrite them.

"ما قيمة صفقة أمازون مع OpenAI؟" then "وكم مدتها؟": the second question alone names nothing to search
for. It is resolved, not appended: the conversation supplies the subject ("صفقة أمازون مع OpenAI"), the
new turn what is asked (its question words, so its question type and any "what did X say" constraint,
and its language): "كم مدة صفقة أمازون مع OpenAI؟". Grammar only, nothing about a corpus:

- a pronoun of the new turn is replaced by the earlier question's subject ("مدتها" -> "مدة X", "عنها" ->
  "عن X", "its CEO" -> "X's CEO"), as is a definite noun that names it again ("الصفقة", "the deal");
- a bare question ("ولماذا؟", "And when?", "ومتى أعلنت؟") takes the earlier question's clause or subject;
- an elliptical turn ("And AMD?", "وماذا عن مايكروسوفت؟") is the earlier question about the new name;
- a turn that only points back ("وحتى متى استمر ذلك؟", "Who estimated that?") gets the earlier clause in brackets;
- a turn that names enough on its own is left as it is, and so is any turn with no earlier question.

A chat model, where the backend has one, rewrites the follow-up instead (``rewrite_follow_up``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answer.grounding import speech_subject
from rag.errors import BackendError
from rag.profile import Profile
from rag.text.analyze import analyze, stopwords
from rag.text.markers import strip_markers
from rag.text.normalize import detect_language, normalize

if TYPE_CHECKING:
    from rag.answer.llm import ChatModel

#: ``translate(english_text) -> Arabic renderings`` (``rag.text.dictionary``).
Translate = Callable[[str], Sequence[str]]

log = logging.getLogger(__name__)

# Starts with a conjunction ("وما", "فكم"), or leans on a pronoun ("مدتها", "its", "they").
_AR_LEAD = re.compile(r"^\s*[وف](?:ما|ماذا|كم|متي|من|هل|كيف|لماذا|اين|اي)\b")
_AR_PRONOUN = re.compile(r"\w{2,}(?:ها|هم|هما|ه)\b")
_EN_LEAD = re.compile(r"^\s*(?:and|what about|how about|also|so)\b", re.I)
_EN_PRONOUN = re.compile(r"\b(?:it|its|they|their|them|this|that|these|those|he|she|his|her)\b", re.I)

#: An earlier turn is cut to this many characters when it is shown to a chat model.
HISTORY_CHARS = 300
_REWRITE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation: "
    "replace pronouns and references with what they refer to. Keep the question's language. "
    "If it is already self-contained, repeat it unchanged. Reply with the question only."
)



def is_follow_up(question: str, profile: Profile | None = None) -> bool:
    """Whether a question probably leans on the previous turn.

    Short questions (at most ``profile.followup_max_terms`` content terms) that open with a conjunction
    or refer back with a pronoun count as follow-ups, and so does a question with no content terms at all.

    Example: ``is_follow_up("وما مدتها؟") is True``
    """
    profile = profile or Profile()
    norm = normalize(question)
    content = analyze(question)
    if len(content) > profile.followup_max_terms:
        return False
    if not content:  # "Why?", "ومتى؟": asks about nothing of its own
        return bool(norm.strip())
    if len(norm.split()) <= 2 and norm[:1] in "وف":  # "ومدتها؟", "وأمازون؟", "والمدة؟"
        return True
    if norm[:1] in "وف" and any(_questioning(w, "ar") or _n(w)[1:] in _AR_QUESTION for w in norm.split()[:3]):
        return True  # "وبحلول أي عام؟", "وحتى متى استمر ذلك؟", "ولأي قناة تحدث؟"
    return bool(_AR_LEAD.search(norm) or _EN_LEAD.search(norm) or _EN_PRONOUN.search(norm)
                or (len(content) <= profile.followup_pronoun_max_terms and _AR_PRONOUN.search(norm)))


def resolve_follow_up(question: str, history: Sequence[tuple[str, str]], profile: Profile | None = None,
                      translate: Translate | None = None) -> str:
    """The question as it is meant in the conversation: a follow-up with the earlier question's subject put
    in; any other question as asked.

    Earlier turns are resolved in turn first, so a chain of follow-ups keeps its subject; a refused turn's
    subject carries like any other (its reason for refusing does not: only its words are read). An English
    subject carried into an Arabic turn keeps its names and has its other words rendered by ``translate``
    (the dictionary: "the deal" -> "الصفقة"), or left out without one.

    Example: ``resolve_follow_up("وكم مدتها؟", [("ما قيمة صفقة أمازون مع OpenAI؟", "...")])``
    ``== "كم مدة صفقة أمازون مع OpenAI؟"``
    """
    earlier: str | None = None
    for previous, _ in history:
        earlier = previous if earlier is None else _resolve(previous, earlier, profile, translate)
    return question if earlier is None else _resolve(question, earlier, profile, translate)


def own_words(question: str, resolved: str) -> list[str]:
    """The words of a follow-up that its resolved form does not write as asked, its question words and
    conjunction left out: matched as asked too, since "مدتها" and "مدة" stem apart.

    Example: ``own_words("وكم مدتها؟", "كم مدة صفقة أمازون؟") == ["مدتها"]``
    """
    language = detect_language(question)
    written = set(_words(resolved))
    return [w for w in _drop_lead(_words(question), language) if w not in written and not _asking(w, language)]


def _resolve(question: str, earlier: str, profile: Profile | None, translate: Translate | None) -> str:
    """``question`` resolved against the (already resolved) question before it."""
    if not is_follow_up(question, profile):
        return question
    language = detect_language(question)
    asked = _drop_lead(_words(question), language)
    if not asked:
        return question
    frame = parse_frame(earlier)
    if frame.language != language:
        frame = frame.across(language, translate)
    named = _elliptical(asked, language)
    if named is not None:
        return _about(frame, named, language) or question
    if frame.subject:
        replaced = _replace_references(asked, frame.subject, language)
        if replaced != asked:
            return _sentence(replaced, language)
    counted = {asked[k + 1] for k, w in enumerate(asked[:-1]) if _n(w) in ("كم", "بكم") and _counted_noun(asked[k + 1])}
    content = [w for w in asked if not _asking(w, language) and w not in counted]  # "كم سنة" asks, names nothing
    pointed = [w for w in asked if _n(w) in _DEMONSTRATIVES]
    if pointed and (frame.clause or frame.subject):  # "وحتى متى استمر ذلك؟": that is what was asked before
        context = [w for w in frame.clause or frame.subject if _n(w) not in _DEMONSTRATIVES]
        return f"{_sentence(asked, language)} ({' '.join(context)})"
    if len(content) > 1 or not (frame.subject or frame.clause):
        return question  # it names what it asks about
    if not content:  # "ولماذا؟", "And when?": the earlier question's clause asked anew
        return _sentence([*asked, *(frame.clause or frame.subject)], language)
    if language == "ar" and _n(content[0]).startswith("ال") and len(content[0]) > 3:
        asked = [w[2:] if w is content[0] else w for w in asked]  # "وما السبب؟" -> "ما سبب X؟"
    return _sentence([*asked, *frame.subject], language)  # "ومتى أعلنت؟" -> "متى أعلنت X؟"


# --- the words of a question -----------------------------------------------------------------------------
_EDGE = "؟?!.,،:;؛«»\"'“”‘’()[]"


def _words(text: str) -> list[str]:
    """A question's words as written, punctuation off their edges.

    Example: ``_words("وكم مدتها؟") == ["وكم", "مدتها"]``
    """
    return [w for w in (w.strip(_EDGE) for w in text.split()) if w]


def _n(word: str) -> str:
    return normalize(word, lexical=True)


def _sentence(words: Sequence[str], language: str) -> str:
    """Words joined into a question in ``language``: "؟" or "?" at the end, an English one capitalized."""
    text = " ".join(words)
    if language == "en" and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text + ("؟" if language == "ar" else "?")


# Arabic question words and the copulas after them, normalized; English question words, the words that
# complete them ("how much"), and auxiliaries.
_AR_QUESTION = frozenset("ما ماذا من متي كم كيف اين لماذا لما هل اي ايه ممن لمن بكم بماذا باي لاي".split())
_AR_COPULA = frozenset("هو هي هم هما".split())
_AR_BEFORE_QUESTION = frozenset("في الي من منذ حتي بحلول".split())  # "في أي عام", "إلى أين", "منذ متى"
_EN_QUESTION = frozenset("what which who whom whose when where why how".split())
_EN_HOW = frozenset("much many long old far big large often soon".split())
_EN_AUX = frozenset("is are was were did does do has have had will would can could should".split())
_EN_COPULA = frozenset("is are was were".split())
#: Nouns that say what is asked about something ("ما قيمة X", "the value of X"): the subject is X.
_AR_ASKED_NOUNS = frozenset(_n(w) for w in (
    "قيمة حجم مقدار سعر تكلفة ثمن مبلغ عدد نسبة مدة تاريخ اسم سبب أسباب عمر مكان موعد هدف"
).split())
_EN_ASKED_NOUNS = frozenset(
    "value size amount price cost number share percentage duration length date name reason reasons age place "
    "location purpose goal".split())
_AR_PREPOSITIONS = frozenset(_n(w) for w in "في من على عن مع إلى منذ خلال بعد قبل حول بشأن لدى ضد بين عند".split())
_AR_OBJECT_PREPOSITIONS = frozenset(_n(w) for w in "عن على إلى بشأن حول".split())
_EN_PREPOSITIONS = frozenset("in on at by for with from to of about after before during since into".split())
_EN_DETERMINERS = frozenset("the a an this that these those its their his her".split())


def _questioning(word: str, language: str) -> bool:
    """Whether a word is a question word ("وكم", "how")."""
    n = _n(word)
    if language == "ar":
        return n in _AR_QUESTION or n[:1] in "وف" and n[1:] in _AR_QUESTION
    return n in _EN_QUESTION


def _asking(word: str, language: str) -> bool:
    """Whether a word only asks (a question word, copula, auxiliary or function word)."""
    n = _n(word)
    if _questioning(word, language) or n in stopwords():
        return True
    return n in _AR_COPULA if language == "ar" else n in _EN_HOW or n in _EN_AUX


def _drop_lead(words: list[str], language: str) -> list[str]:
    """The words without the conjunction that ties them to the conversation ("و" of "وكم", "And", "So").

    Example: ``_drop_lead(["وكم", "مدتها"], "ar") == ["كم", "مدتها"]``
    """
    if not words:
        return words
    first = _n(words[0])
    if language == "ar":
        if first in ("و", "ف", "ثم"):
            return words[1:]
        if first[:1] in "وف" and (first[1:] in _AR_QUESTION or first[1:] in _AR_BEFORE_QUESTION
                                  or first[1:] in stopwords() or _without_conjunction(words[0]) != words[0]):
            return [words[0][1:], *words[1:]]  # "وكم", "وحتى", "وبحلول"
        return words
    if first in ("and", "so", "but", "also", "then", "ok", "okay"):
        return _drop_lead(words[1:], language)
    return words


# --- the earlier question: what it asks, about what ---------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """An earlier question taken apart.

    Attributes:
        language: ``"ar"`` or ``"en"``, from its script.
        words: Its words (the leading conjunction off).
        opener: Its question words ("كم", "How much is").
        clause: What follows its question words, for a bare "why?" ("سرّحت أمازون", "is Nvidia investing in
            OpenAI").
        subject: What a pronoun of the next turn refers to ("صفقة أمازون مع OpenAI", "Nvidia", "the deal").
        slot: Where in ``words`` the name stands that "And X?" replaces (start, end), or None.
    """

    language: str
    words: tuple[str, ...]
    opener: tuple[str, ...] = ()
    clause: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    slot: tuple[int, int] | None = None

    def across(self, language: str, translate: Translate | None = None) -> Frame:
        """The frame for a turn in the other language: an English subject keeps its names and has its other
        words rendered in Arabic by ``translate`` (left out without it: an Arabic question's Latin words are
        read as names); an Arabic one stays whole; no clause, no slot."""
        subject = self.subject
        if self.language == "en" and language == "ar":
            names = [_possessor(w) for w in subject if w[:1].isupper()]
            words = [w for w in subject if not w[:1].isupper() and w.lower() not in stopwords()]
            rendered = [r for w in words for r in (translate(w) if translate is not None else ())[:1]]
            subject = (*rendered, *names)
        return Frame(self.language, self.words, self.opener, (), subject, None)


def parse_frame(question: str) -> Frame:
    """The question's opener, clause, subject and name slot (see ``Frame``).

    Example: ``parse_frame("ما قيمة صفقة أمازون مع OpenAI؟").subject == ("صفقة", "أمازون", "مع", "OpenAI")``
    """
    language = detect_language(question)
    words = tuple(_drop_lead(_words(question), language))
    parse = _parse_arabic if language == "ar" else _parse_english
    opener, clause, subject = parse(list(words))
    speaker = speech_subject(question)
    if speaker is not None:  # "what did X say about Y": Y is the subject, X the name that "And Z?" replaces
        spoken = _words(speaker)
        at = _find(words, spoken)
        about = [i for i, w in enumerate(words) if _n(w) in ("عن", "علي", "حول", "بشان", "about", "on", "regarding")
                 and at is not None and i >= at[1]]
        subject = words[about[0] + 1 :] if about else tuple(spoken)
        return Frame(language, words, opener, clause, tuple(subject), at)
    return Frame(language, words, opener, clause, subject, _name_slot(words, subject, language))


def _parse_arabic(words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    i = 0
    verbal = False
    while i < len(words):
        n = _n(words[i])
        if n in _AR_BEFORE_QUESTION and i + 1 < len(words) and _n(words[i + 1]) in ("اي", "اين", "ايه", "متي"):
            i += 1  # the preposition; its question word is read next
            continue
        if n in _AR_QUESTION:
            # "ما قيمة X" and "من هو X" ask about a noun; "متى أعلنت X" and "كم موظفا سرحت X" about a clause.
            verbal = verbal or n not in ("ما", "من", "اي", "ايه", "ممن", "لمن")
            if n == "كم" and i + 1 < len(words) and _n(words[i + 1]) == "من":
                i += 1
            if n in ("كم", "بكم") and i + 1 < len(words) and _counted_noun(words[i + 1]):
                i += 1
            if n in ("اي", "ايه", "باي", "لاي") and i + 2 < len(words):  # "أي شركة وقعت X", "في أي عام تأسست X"
                i, verbal = i + 1, True
        elif n in _AR_COPULA:
            verbal = False
        else:
            break
        i += 1
    opener, clause = tuple(words[:i]), tuple(words[i:])
    rest = list(clause)
    if rest and _n(rest[0]) in _AR_ASKED_NOUNS:  # "ما قيمة X": a bare "وكم سنة؟" asks about X, not its value
        return opener, tuple(rest[1:]), tuple(rest[1:])
    if rest and _n(rest[0]).startswith("ال"):
        verbal = False
    if not verbal:
        return opener, clause, clause
    j = 1 + (len(rest) > 1 and _n(rest[1]) in _AR_ASKED_NOUNS)  # "كم تبلغ قيمة الصفقة": الصفقة
    # The verb's object after a preposition that takes one ("أعلنت OpenAI عن صفقة أمازون": the deal), the
    # nearest thing a pronoun can refer to; else its subject ("سرحت أمازون"). "في", "بعد"... add a time or place.
    to = next((k for k in range(j, len(rest)) if _n(rest[k]) in _AR_OBJECT_PREPOSITIONS), None)
    if to is not None and to + 1 < len(rest):
        j = to + 1
    end = next((k for k in range(j, len(rest)) if _n(rest[k]) in _AR_PREPOSITIONS), len(rest))
    return opener, clause, tuple(rest[j:end])


def _counted_noun(word: str) -> bool:
    """Whether the word after "كم" is what it counts ("موظفاً", "سنة"), not a verb ("ارتفعت")."""
    n = _n(word)
    return len(n) >= 3 and (n.endswith("ا") or n.endswith("ه")) and not n.endswith("ها") and (
        n not in _AR_ASKED_NOUNS)  # "كم مدة الصفقة" asks the deal's duration


def _parse_english(words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    lower = [w.lower() for w in words]
    i = 0
    counted: list[str] = []
    while i < len(words) and lower[i] in _EN_QUESTION:
        if lower[i] == "how" and i + 1 < len(words) and lower[i + 1] in _EN_HOW:
            i += 1
        if lower[i] in ("many", "which", "what") and i + 1 < len(words) and lower[i + 1] not in _EN_AUX \
                and lower[i + 1].isalpha() and words[i + 1].islower():
            counted.append(words[i + 1])  # "how many employees", "which company"
            i += 1
        i += 1
    opener = tuple(words[:i])
    clause = tuple(words[i:]) + (tuple(counted) if i < len(words) and lower[i] in _EN_AUX else ())
    if i < len(words) and lower[i] in _EN_AUX:
        copula = lower[i] in _EN_COPULA
        i += 1
    else:
        copula = False
    rest = words[i:]
    of = next((k for k in range(len(rest) - 1) if rest[k].lower() == "of" and k > 0
               and rest[k - 1].lower() in _EN_ASKED_NOUNS), None)
    if of is not None:  # "the value of X"
        subject = tuple(_until_predicate(rest[of + 1 :]))
        return opener, subject, subject
    if copula and not any(_verb_like(w) for w in rest):  # "Who is OpenAI's CEO"
        subject = tuple(_until_predicate(rest))
        return opener, subject, subject
    agent = _noun_phrase(rest)
    # The verb's object where it has one ("When did OpenAI announce the deal with Amazon": the deal), the
    # nearest thing a pronoun can refer to; else its subject ("How many employees did Amazon lay off").
    obj = next((k for k in range(len(agent) + 1, len(rest)) if rest[k].lower() in ("the", "a", "an")), None)
    return opener, clause, tuple(_until_predicate(rest[obj:]) if obj is not None else agent)


def _verb_like(word: str) -> bool:
    return word.islower() and len(word) > 4 and (word.endswith("ing") or word.endswith("ed"))


def _until_predicate(words: Sequence[str]) -> list[str]:
    """A noun phrase without the verb or predicate word that ends the question ("the deal announced")."""
    out = list(words)
    while len(out) > 1 and (_verb_like(out[-1]) or out[-1].lower() in ("worth", "like", "about", "for")):
        out.pop()
    return out


def _noun_phrase(words: Sequence[str]) -> list[str]:
    """The noun phrase that opens a clause: a run of capitalized words ("Sam Altman", "OpenAI's"), or a
    determiner and its noun ("the company"); after a verb, its object ("founded Amazon": Amazon)."""
    if not words:
        return []
    if words[0].lower() in ("all", "both", "half") and len(words) > 1:  # "all the capacity"
        return [words[0], *_noun_phrase(words[1:])]
    if words[0].islower() and words[0] not in _EN_DETERMINERS and len(words) > 1:
        return _noun_phrase(words[1:])
    if words[0][:1].isupper():
        out = [words[0]]
        for w in words[1:]:
            if not w[:1].isupper():
                break
            out.append(w)
        return out
    if words[0].lower() in _EN_DETERMINERS and len(words) > 1:
        return list(words[:2])
    return [words[0]]


def _possessor(word: str) -> str:
    return re.sub(r"['’]s?$", "", word)


def _name_slot(words: Sequence[str], subject: Sequence[str], language: str) -> tuple[int, int] | None:
    """Where the name stands that an elliptical "And X?" replaces: in English the first capitalized run
    after the first word; in Arabic a one-word subject, the second word of a construct ("صفقة أمازون"), or
    the first Latin word of the subject."""
    if language == "en":
        start = next((k for k in range(1, len(words)) if words[k][:1].isupper()), None)
        if start is None:
            return None
        end = start + 1
        while end < len(words) and words[end][:1].isupper():
            end += 1
        return start, end
    at = _find(words, subject)
    if not subject or at is None:
        return None
    first = at[0]
    if len(subject) == 1:
        return first, first + 1
    if not _n(subject[0]).startswith("ال") and _n(subject[1]) not in _AR_PREPOSITIONS:
        return first + 1, first + 2
    latin = next((k for k, w in enumerate(subject) if re.match("[A-Za-z]", w)), None)
    return None if latin is None else (first + latin, first + latin + 1)


def _find(words: Sequence[str], part: Sequence[str]) -> tuple[int, int] | None:
    """Where ``part`` stands in ``words`` (the last place), as ``(start, end)``."""
    n = len(part)
    for k in range(len(words) - n, -1, -1):
        if n and [_n(w) for w in words[k : k + n]] == [_n(w) for w in part]:
            return k, k + n
    return None


# --- the new turn: its references to the subject -----------------------------------------------------------
#: Prepositions that take a pronoun suffix, as written before it (عليها -> على) and whether they join the
#: next word ("لها" -> "لأمازون").
_AR_SUFFIX_PREPOSITIONS = {
    "عن": "عن", "من": "من", "في": "في", "علي": "على", "الي": "إلى", "مع": "مع", "لدي": "لدى", "عند": "عند",
    "حول": "حول", "بشان": "بشأن", "ضد": "ضد", "بين": "بين", "منذ": "منذ", "ل": "ل", "ب": "ب",
}
_AR_SUFFIXES = ("هما", "هم", "هن", "ها", "ه")
#: Nouns whose final ت is their own letter, not a ta marbuta written open before a suffix.
_OPEN_T = frozenset(_n(w) for w in "وقت بيت صوت موت سبت زيت تحت فوت نبت".split())
_EN_PRONOUNS = frozenset("it they them he she him".split())
#: Words that point back at what was said ("ذلك", "هذا التقدير", "that"): the earlier question's clause is
#: added in brackets when the turn cannot be resolved otherwise.
_DEMONSTRATIVES = frozenset(_n(w) for w in "ذلك هذا هذه تلك ذاك هؤلاء this that these those".split())
_EN_POSSESSIVES = frozenset("its their his".split())


def _replace_references(words: list[str], subject: Sequence[str], language: str) -> list[str]:
    """``words`` with each pronoun referring back, and each definite noun naming the subject again,
    replaced by ``subject``.

    Example: ``_replace_references(["كم", "مدتها"], ["صفقة", "أمازون"], "ar") == ["كم", "مدة", "صفقة", "أمازون"]``
    """
    if language == "ar":
        return _replace_arabic(words, list(subject))
    return _replace_english(words, list(subject))


def _replace_arabic(words: list[str], subject: list[str]) -> list[str]:
    out: list[str] = []
    heads = _subject_terms(subject)
    for k, word in enumerate(words):
        bare = _without_conjunction(word)
        if bare.startswith("ال") and heads & set(analyze(bare)):  # "الصفقة" names the subject again
            out += subject
            continue
        suffix = next((s for s in _AR_SUFFIXES if word.endswith(s)), None)
        stem = word[: -len(suffix)] if suffix else ""
        n_stem = _n(stem)
        if suffix is None or n_stem.startswith("ال") or _n(word) in stopwords() and n_stem not in (
                _AR_SUFFIX_PREPOSITIONS):
            out.append(word)
        elif n_stem in _AR_SUFFIX_PREPOSITIONS:
            prep = _AR_SUFFIX_PREPOSITIONS[n_stem]
            if prep in ("ل", "ب"):
                first = subject[0]
                joined = ("ل" + first[1:] if prep == "ل" and _n(first).startswith("ال") else prep + first)
                out += [joined, *subject[1:]]
            else:
                out += [prep, *subject]
        elif len(n_stem) >= 3:
            verbal = k > 0 and _n(words[k - 1]) in ("متي", "لماذا", "كيف", "هل", "اين")
            if stem.endswith("ت") and not verbal and n_stem not in _OPEN_T:
                stem = stem[:-1] + "ة"  # "مدتها" -> "مدة"
            out += [stem, *subject]
        else:
            out.append(word)
    return out


def _replace_english(words: list[str], subject: list[str]) -> list[str]:
    out: list[str] = []
    heads = _subject_terms(subject)
    name = all(w[:1].isupper() or w.lower() in ("of", "and", "'s") for w in subject) or (
        len(subject) == 1 and not subject[0].isascii())
    k = 0
    while k < len(words):
        word, lower = words[k], words[k].lower()
        nxt = words[k + 1].lower() if k + 1 < len(words) else ""
        possessive = lower in _EN_POSSESSIVES or (lower == "her" and nxt and nxt not in _EN_PREPOSITIONS)
        if lower == "the" and nxt and heads & set(analyze(nxt)):  # "the deal" names the subject again
            out += subject
            k += 2
            continue
        if possessive and nxt:
            owned = [_possessor(w) for w in subject if re.search(r"['’]s?$", w)]
            if lower == "its" and owned:  # "its" after "OpenAI's CEO" is OpenAI's, not the CEO's
                out.append(owned[0] + "'s")
                k += 1
                continue
            if name:
                owner = " ".join(subject)
                out.append(owner + ("'" if owner.endswith("s") else "'s"))
                k += 1
                continue
            end = k + 1
            while end < len(words) and words[end].lower() not in _EN_PREPOSITIONS | _EN_AUX | stopwords():
                end += 1
            out += ["the", *words[k + 1 : end], "of", *subject]  # "its duration" -> "the duration of X"
            k = end
            continue
        if lower in _EN_PRONOUNS or lower == "her":
            out += subject
        else:
            out.append(word)
        k += 1
    return out


def _subject_terms(subject: Sequence[str]) -> set[str]:
    """The analyzed terms of the subject's common nouns (a name is not named again by "the")."""
    return {t for w in subject if not w[:1].isupper() for t in analyze(w)}


# --- elliptical turns: "And AMD?", "وماذا عن مايكروسوفت؟" ------------------------------------------------
_AR_ABOUT = (("ماذا", "عن"), ("ما", "عن"), ("ماذا", "بشان"), ("ماذا", "بخصوص"), ("ما", "بالنسبه"),
             ("ماذا", "بالنسبه"))
_EN_ABOUT = (("what", "about"), ("how", "about"), ("what", "of"))


def _elliptical(words: list[str], language: str) -> list[str] | None:
    """What an elliptical turn asks about ("AMD" of "And AMD?", "مايكروسوفت" of "وماذا عن مايكروسوفت؟"), or
    None for a turn with a question of its own."""
    norm = [_n(w) for w in words]
    pairs = _AR_ABOUT if language == "ar" else _EN_ABOUT
    rest = None
    for pair in pairs:
        if tuple(norm[:2]) == pair:
            rest = words[2:]
    if rest is None:
        if any(_questioning(w, language) for w in words) or any(w.lower() in _EN_AUX for w in words) \
                or len(words) > 4:
            return None
        rest = [_without_conjunction(words[0]), *words[1:]] if language == "ar" else words
    if language == "ar" and rest and _n(rest[0]) == "بالنسبه":
        rest = rest[1:]
    if language == "en" and rest:
        rest = [*rest[:-1], _possessor(rest[-1])]  # "And Nvidia's?": Nvidia
    if language == "ar" and rest and _n(rest[0]).startswith("ل") and len(rest[0]) > 3 and not _n(
            rest[0]).startswith("ال"):
        rest = [rest[0][1:], *rest[1:]]  # "لمايكروسوفت"
    return rest or None


def _without_conjunction(word: str) -> str:
    """An Arabic word without a leading و or ف where it can only be the conjunction: before the article, a
    hamza's alef, or a long word ("وأمازون" -> "أمازون"; "وزارة" stays).

    Example: ``_without_conjunction("والمدة") == "المدة"``
    """
    if word[:1] in "وف" and (word[1:3] == "ال" or word[1:2] in "أإآ" or len(word) > 5):
        return word[1:]
    return word


def _about(frame: Frame, named: list[str], language: str) -> str | None:
    """The earlier question asked about ``named``: the name put in its slot ("And AMD?" after "How much is
    Nvidia investing in OpenAI?" -> "How much is AMD investing in OpenAI?"), or, for a thing of the
    subject ("And its duration?", "والمدة؟"), what it is of the subject."""
    first = _n(named[0])
    owned = language == "en" and (named[0].lower() in ("the", "its", "their") or named[0].islower()) or (
        language == "ar" and (first.startswith("ال") or any(named[0].endswith(s) for s in ("ها", "هم"))))
    if owned:
        if not frame.subject:
            return None
        opener = ["ما"] if language == "ar" else ["what", "is"]
        replaced = _replace_references(named, frame.subject, language)
        if replaced != named:  # "ومدتها؟" -> "ما مدة X؟", "And its revenue?" -> "What is X's revenue?"
            return _sentence([*opener, *replaced], language)
        if language == "ar":  # "والمدة؟" -> "ما مدة X؟"
            return _sentence([*opener, named[0][2:], *named[1:], *frame.subject], language)
        noun = named[1:] if named[0].lower() in ("the", "its", "their") else named
        return _sentence([*opener, "the", *noun, "of", *frame.subject], language)
    if frame.slot is not None:
        start, end = frame.slot
        return _sentence([*frame.words[:start], *named, *frame.words[end:]], language)
    # Across languages: the earlier question's words and what it asks of its subject, translated.
    asked = next((_ASKED_ACROSS[_n(w)] for w in frame.words[:5] if _n(w) in _ASKED_ACROSS), None)
    if asked is not None:
        opener = ["ما", asked[0]] if language == "ar" else ["what", "is", "the", asked[1], "of"]
        return _sentence([*opener, *named], language)
    pair = _OPENERS.get(tuple(_n(w) for w in frame.opener[:2])) or _OPENERS.get(tuple(_n(w) for w in frame.opener[:1]))
    return None if pair is None else _sentence([*pair[0 if language == "ar" else 1].split(), *named], language)


#: What a question asks of its subject, in both languages (``_AR_ASKED_NOUNS``, ``_EN_ASKED_NOUNS``).
_ASKED_ACROSS = {_n(k): v for pairs in (
    ("قيمة value", "حجم size", "مقدار amount", "سعر price", "تكلفة cost", "عدد number", "نسبة percentage",
     "مدة duration", "تاريخ date", "اسم name", "سبب reason", "عمر age", "مكان place"),
) for pair in pairs for ar, en in [pair.split()] for k, v in ((ar, (ar, en)), (en, (ar, en)))}
#: A question's opener in the other language, for an elliptical turn that switches language.
_OPENERS = {
    ("how", "much"): ("ما قيمة", "how much is"), ("how", "many"): ("كم عدد", "how many"),
    ("how", "long"): ("كم مدة", "how long is"), ("when",): ("متى", "when"), ("where",): ("أين", "where is"),
    ("who",): ("من", "who is"), ("why",): ("لماذا", "why"), ("what",): ("ما", "what is"),
    ("متي",): ("متى", "when"), ("كم",): ("كم", "how much is"), ("بكم",): ("ما قيمة", "how much is"),
    ("اين",): ("أين", "where is"), ("من",): ("من", "who is"), ("لماذا",): ("لماذا", "why"),
    ("ما",): ("ما", "what is"), ("كيف",): ("كيف", "how"),
}


def brief(text: str, limit: int = HISTORY_CHARS) -> str:
    """An earlier turn shortened for a prompt: markers (they numbered other passages) and excess removed.

    Example: ``brief("قال «نص» [1] هنا", 100) == "قال «نص» هنا"``
    """
    text = " ".join(strip_markers(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rewrite_follow_up(chat: ChatModel, question: str, history: list[tuple[str, str]]) -> str:
    """Have the model rewrite a follow-up as a standalone question (same language), for retrieval.

    Returns ``question`` unchanged when there is no history, the model fails or replies with nothing usable.

    Example: after ("ما قيمة صفقة الشركتين؟", ...), "ومتى أُعلنت؟" -> "متى أُعلنت صفقة الشركتين؟"
    """
    from rag.answer.llm import THINK

    if not history:
        return question
    turns = "\n".join(f"User: {brief(q)}\nAssistant: {brief(a)}" for q, a in history[-2:])
    messages = [
        {"role": "system", "content": _REWRITE_SYSTEM},
        {"role": "user", "content": f"Conversation:\n{turns}\n\nLast question: {question}\n\nStandalone question:"},
    ]
    try:
        reply = THINK.sub("", chat.complete(messages))
    except BackendError as e:
        log.warning("could not rewrite the follow-up question (%s); using it as asked", e)
        return question
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    if not lines:
        return question
    rewritten = re.sub(r"^(standalone question|question)\s*:\s*", "", lines[0], flags=re.IGNORECASE)
    rewritten = rewritten.strip(" \"'«»“”")
    # A reply far longer than the question is an answer or a ramble, not a rewrite.
    if not rewritten or len(rewritten) > 3 * len(question) + 200:
        return question
    return rewritten
