"""User feedback (👍/👎 on an answer), appended as one JSON line per vote."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag.types import Citation

VOTES = ("up", "down")

# One lock for the process: several chat sessions vote at once, and a line must never be
# interleaved with another one.
_LOCK = threading.Lock()


def append_feedback(
    path: str | Path,
    question: str,
    answer_text: str,
    citations: Iterable[Citation | dict[str, Any]],
    vote: str,
) -> dict[str, Any]:
    """Append ``{question, answer, citations, vote, time}`` as one UTF-8 JSON line to ``path``.

    Creates the parent folders. ``citations`` may be ``Citation`` objects or their dicts.

    Example: ``append_feedback("feedback.jsonl", "ما قيمة الصفقة؟", "38 مليار دولار [1]", [], "up")``

    Returns:
        The record written.

    Raises:
        ValueError: ``vote`` is not ``"up"`` or ``"down"``.
    """
    if vote not in VOTES:
        raise ValueError(f"vote {vote!r} is not one of {', '.join(VOTES)}")
    record = {
        "question": question,
        "answer": answer_text,
        "citations": [c.to_dict() if isinstance(c, Citation) else dict(c) for c in citations],
        "vote": vote,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    line = json.dumps(record, ensure_ascii=False) + "\n"
    path = Path(path)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
    return record
