"""Follow-up questions: carry the previous turn's key terms into retrieval, or have a chat model rewrite them.

"ما قيمة صفقة أمازون؟" then "وما مدتها؟": the second question alone names nothing to search
for. Without an LLM to rewrite it, a question that looks like a follow-up is searched
together with the previous question's content terms.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from rag.errors import BackendError
from rag.profile import Profile
from rag.text.analyze import analyze
from rag.text.markers import strip_markers
from rag.text.normalize import normalize

if TYPE_CHECKING:
    from rag.answer.llm import ChatModel

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
    or refer back with a pronoun count as follow-ups.

    Example: ``is_follow_up("وما مدتها؟") is True``
    """
    profile = profile or Profile()
    norm = normalize(question)
    content = analyze(question)
    if len(content) > profile.followup_max_terms:
        return False
    return bool(_AR_LEAD.search(norm) or _EN_LEAD.search(norm) or _EN_PRONOUN.search(norm)
                or (len(content) <= profile.followup_pronoun_max_terms and _AR_PRONOUN.search(norm)))


def expand_follow_up(question: str, history: list[tuple[str, str]], profile: Profile | None = None) -> str:
    """The retrieval query for ``question``: with the previous question prepended if it is a follow-up.

    Example: ``expand_follow_up("وما مدتها؟", [("ما قيمة الصفقة؟", "...")]) == "ما قيمة الصفقة؟ وما مدتها؟"``
    """
    if not history or not is_follow_up(question, profile):
        return question
    # Walk back over a chain of follow-ups to the question that named the topic.
    earlier = []
    for previous, _ in reversed(history):
        earlier.append(previous)
        if not is_follow_up(previous, profile):
            break
    return " ".join([*reversed(earlier), question])


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
