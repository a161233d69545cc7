"""Follow-up questions: carry the previous turn's key terms into retrieval.

"ما قيمة صفقة أمازون؟" then "وما مدتها؟": the second question alone names nothing to search
for. Without an LLM to rewrite it, a question that looks like a follow-up is searched
together with the previous question's content terms.
"""

from __future__ import annotations

import re

from rag.text.analyze import analyze
from rag.text.normalize import normalize

# Starts with a conjunction ("وما", "فكم"), or leans on a pronoun ("مدتها", "its", "they").
_AR_LEAD = re.compile(r"^\s*[وف](?:ما|ماذا|كم|متي|من|هل|كيف|لماذا|اين|اي)\b")
_AR_PRONOUN = re.compile(r"\w{2,}(?:ها|هم|هما|ه)\b")
_EN_LEAD = re.compile(r"^\s*(?:and|what about|how about|also|so)\b", re.I)
_EN_PRONOUN = re.compile(r"\b(?:it|its|they|their|them|this|that|these|those|he|she|his|her)\b", re.I)


def is_follow_up(question: str) -> bool:
    """Whether a question probably leans on the previous turn.

    Short questions (at most three content terms) that open with a conjunction or refer
    back with a pronoun count as follow-ups.

    Example: ``is_follow_up("وما مدتها؟") is True``
    """
    norm = normalize(question)
    content = analyze(question)
    if len(content) > 3:
        return False
    return bool(_AR_LEAD.search(norm) or _EN_LEAD.search(norm) or _EN_PRONOUN.search(norm)
                or (len(content) <= 2 and _AR_PRONOUN.search(norm)))


def expand_follow_up(question: str, history: list[tuple[str, str]]) -> str:
    """The retrieval query for ``question``: with the previous question prepended if it is a follow-up.

    Example: ``expand_follow_up("وما مدتها؟", [("ما قيمة الصفقة؟", "...")]) == "ما قيمة الصفقة؟ وما مدتها؟"``
    """
    if not history or not is_follow_up(question):
        return question
    # Walk back over a chain of follow-ups to the question that named the topic.
    earlier = []
    for previous, _ in reversed(history):
        earlier.append(previous)
        if not is_follow_up(previous):
            break
    return " ".join([*reversed(earlier), question])
