"""User feedback (👍/👎 on an answer), appended as one JSON line per vote, and its export as draft gold lines.

The file is ``Settings.resolved_feedback_path`` (``RAG_FEEDBACK_PATH``, else ``feedback.jsonl`` in
the index folder). ``rag feedback export --gold-out FILE`` turns the 👍 answers into gold lines
(``rag.eval.gold``'s schema) for a person to review before they join a gold set.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.types import Citation

log = logging.getLogger(__name__)

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
    *,
    abstained: bool | None = None,
) -> dict[str, Any]:
    """Append ``{question, answer, citations, vote, time}`` (and ``abstained`` when known) as one
    UTF-8 JSON line to ``path``.

    Creates the parent folders. ``citations`` may be ``Citation`` objects or their dicts.

    Example: ``append_feedback("feedback.jsonl", "ما قيمة الصفقة؟", "38 مليار دولار [1]", [], "up")``

    Returns:
        The record written.

    Raises:
        ValueError: ``vote`` is not ``"up"`` or ``"down"``.
    """
    if vote not in VOTES:
        raise ValueError(f"vote {vote!r} is not one of {', '.join(VOTES)}")
    record: dict[str, object] = {
        "question": question,
        "answer": answer_text,
        "citations": [c.to_dict() if isinstance(c, Citation) else dict(c) for c in citations],
        "vote": vote,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if abstained is not None:
        record["abstained"] = bool(abstained)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    path = Path(path)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
    return record


def read_feedback(path: str | Path) -> list[dict[str, Any]]:
    """The vote records of a feedback file, in order; a line that is not a JSON object is skipped
    with a warning naming its line number.

    Example: ``read_feedback("index/feedback.jsonl")[0]["vote"] in ("up", "down")``

    Raises:
        RagError: the file does not exist or cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise RagError(f"{path}: no feedback file yet (votes are written there by the chat app's 👍/👎)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise RagError(f"{path}: cannot read the feedback file ({e})") from e
    records = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            log.warning("%s line %d: not a feedback record, skipped", path, n)
            continue
        records.append(record)
    return records


def draft_gold(records: Iterable[dict[str, Any]], *, id_prefix: str = "fb") -> tuple[list[dict[str, Any]], int]:
    """Draft gold lines from 👍 records: the question, its language, the cited articles and quotes.

    Each quote is both evidence and a draft answer (a reviewer shortens it to the answer itself).
    👎 votes, abstained answers, answers without citations and repeated questions are left out.

    Example: ``draft_gold([{"question": "Q?", "vote": "up", "citations": [c]}])[0][0]["id"] == "fb-0001"``

    Returns:
        The gold objects and how many records were left out.
    """
    from rag.text.normalize import detect_language

    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    skipped = 0
    for record in records:
        question = " ".join(str(record.get("question", "")).split())
        citations = [c for c in record.get("citations") or [] if isinstance(c, dict) and c.get("quote")]
        if (record.get("vote") != "up" or record.get("abstained") or not citations or not question
                or question in seen):
            skipped += 1
            continue
        seen.add(question)
        quotes = list(dict.fromkeys(str(c["quote"]) for c in citations))
        out.append({
            "id": f"{id_prefix}-{len(out) + 1:04d}",
            "lang": detect_language(question),
            "question": question,
            "answers": quotes,
            "sources": list(dict.fromkeys(str(c["doc_id"]) for c in citations)),
            "evidence": quotes,
        })
    return out, skipped


def export_gold(feedback: str | Path, gold_out: str | Path) -> tuple[int, int]:
    """Write ``draft_gold`` of the feedback file to ``gold_out`` (JSON Lines); (written, skipped)."""
    lines, skipped = draft_gold(read_feedback(feedback))
    out = Path(gold_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in lines), encoding="utf-8")
    return len(lines), skipped
