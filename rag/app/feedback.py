"""User feedback (👍/👎 on an answer), appended as one JSON line per vote, with bounds.

One client must not be able to fill the disk or the log: ``FeedbackLog`` keeps one vote per answer
per session, a per-session and a global rate limit, caps each field's length, and rotates the file
past a size cap (``feedback.jsonl`` -> ``.1`` -> ``.2`` ..., the oldest dropped). Control, bidi and
line-separator characters are written as ``\\uXXXX`` JSON escapes, so the file never holds a raw
character that reorders or hides text in a terminal or an editor; reading a line back with
``json.loads`` gives the original text.

The file is ``Settings.resolved_feedback_path`` (``RAG_FEEDBACK_PATH``, else ``feedback.jsonl`` in
the index folder). ``rag feedback export --gold-out FILE`` turns the 👍 answers into gold lines
(``rag.eval.gold``'s schema) for a person to review before they join a gold set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.types import Citation

log = logging.getLogger(__name__)

VOTES = ("up", "down")

#: A field longer than this is cut (a question is at most 2,000 characters; an answer quotes a few sentences).
MAX_FIELD_CHARS = 20_000
#: At most this many citations are kept per vote.
MAX_CITATIONS = 20
#: The log is rotated when a write would take it past this many bytes...
MAX_LOG_BYTES = 5_000_000
#: ...keeping this many older files: the log never takes more than (1 + backups) x MAX_LOG_BYTES.
LOG_BACKUPS = 3
#: Votes accepted per session per minute, and from all sessions together per minute.
SESSION_VOTES_PER_MINUTE = 20
TOTAL_VOTES_PER_MINUTE = 300
#: Sessions and answers remembered for the one-vote rule (the oldest are forgotten first).
REMEMBERED_VOTES = 50_000

# C0/C1 controls and DEL (JSON escapes C0 itself), bidi embeddings/overrides/isolates/marks,
# zero-width characters and the line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

# One lock for the process: several chat sessions vote at once, and a line must never be
# interleaved with another one.
_LOCK = threading.Lock()


def escape_unsafe(line: str) -> str:
    """A JSON text with every control, bidi and separator character written as a ``\\uXXXX`` escape.

    Only valid inside JSON strings (where such characters can only occur), so the JSON value is unchanged.

    Example: ``escape_unsafe('"a\\u202eb"') == '"a\\\\u202eb"'``
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def feedback_record(
    question: str, answer_text: str, citations: Iterable[Citation | dict[str, Any]], vote: str,
    abstained: bool | None = None,
) -> dict[str, Any]:
    """The record of one vote, fields capped (see ``MAX_FIELD_CHARS``, ``MAX_CITATIONS``).

    Example: ``feedback_record("q", "a", [], "up")["vote"] == "up"``

    Raises:
        ValueError: ``vote`` is not ``"up"`` or ``"down"``.
    """
    if vote not in VOTES:
        raise ValueError(f"vote {vote!r} is not one of {', '.join(VOTES)}")
    kept = []
    for c in list(citations)[:MAX_CITATIONS]:
        d = c.to_dict() if isinstance(c, Citation) else dict(c)
        kept.append({k: v[:MAX_FIELD_CHARS] if isinstance(v, str) else v for k, v in d.items()})
    record: dict[str, Any] = {
        "question": str(question)[:MAX_FIELD_CHARS],
        "answer": str(answer_text)[:MAX_FIELD_CHARS],
        "citations": kept,
        "vote": vote,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if abstained is not None:
        record["abstained"] = bool(abstained)
    return record


def append_feedback(
    path: str | Path,
    question: str,
    answer_text: str,
    citations: Iterable[Citation | dict[str, Any]],
    vote: str,
    *,
    abstained: bool | None = None,
    max_bytes: int = MAX_LOG_BYTES,
    backups: int = LOG_BACKUPS,
) -> dict[str, Any]:
    """Append ``{question, answer, citations, vote, time}`` (and ``abstained`` when known) as one
    UTF-8 JSON line to ``path``.

    Creates the parent folders; rotates the file first if the line would take it past ``max_bytes``.
    ``citations`` may be ``Citation`` objects or their dicts. No rate limit here: see ``FeedbackLog``.

    Example: ``append_feedback("feedback.jsonl", "ما قيمة الصفقة؟", "38 مليار دولار [1]", [], "up")``

    Returns:
        The record written.

    Raises:
        ValueError: ``vote`` is not ``"up"`` or ``"down"``.
    """
    record = feedback_record(question, answer_text, citations, vote, abstained)
    line = escape_unsafe(json.dumps(record, ensure_ascii=False)) + "\n"
    data = line.encode("utf-8")
    path = Path(path)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > max_bytes:
            rotate(path, backups)
        with path.open("ab") as fh:
            fh.write(data)
    return record


def rotate(path: Path, backups: int = LOG_BACKUPS) -> None:
    """``path`` -> ``path.1`` -> ``path.2`` ... ``path.{backups}``; the oldest is dropped.

    Example: ``rotate(Path("feedback.jsonl"))`` leaves no ``feedback.jsonl`` and a ``feedback.jsonl.1``.
    """
    path = Path(path)
    if backups < 1:
        path.unlink(missing_ok=True)
        return
    for i in range(backups, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        newer = path if i == 1 else path.with_name(f"{path.name}.{i - 1}")
        if newer.exists():
            os.replace(newer, older)
    log.info("rotated %s", path)


class FeedbackLog:
    """The app's feedback log: one vote per answer per session, rate limits, capped and rotated file.

    Args:
        path: The JSON Lines file.
        session_per_minute: Votes accepted per session per minute.
        total_per_minute: Votes accepted from all sessions together per minute.
        max_bytes: Rotation size of the file.
        backups: Rotated files kept.
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        session_per_minute: int = SESSION_VOTES_PER_MINUTE,
        total_per_minute: int = TOTAL_VOTES_PER_MINUTE,
        max_bytes: int = MAX_LOG_BYTES,
        backups: int = LOG_BACKUPS,
        clock=time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.session_per_minute = session_per_minute
        self.total_per_minute = total_per_minute
        self.max_bytes = max_bytes
        self.backups = backups
        self.clock = clock
        self._voted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def record(
        self,
        session: str,
        question: str,
        answer_text: str,
        citations: Iterable[Citation | dict[str, Any]],
        vote: str,
        *,
        answer_key: str = "",
        abstained: bool | None = None,
    ) -> dict[str, Any] | None:
        """Write the vote, or return None when it is refused (a second vote on the answer, or over a rate).

        ``answer_key`` tells two answers of a session apart (e.g. the message's position); the
        question and answer text are part of the key too.
        """
        if vote not in VOTES:
            raise ValueError(f"vote {vote!r} is not one of {', '.join(VOTES)}")
        digest = hashlib.sha256(f"{answer_key}\x00{question}\x00{answer_text}".encode()).hexdigest()[:32]
        key = (session, digest)
        now = self.clock()
        with self._lock:
            if key in self._voted:
                log.info("feedback refused: session %s already voted on this answer", session[:12])
                return None
            recent = self._recent.setdefault(session, deque())
            self._recent.move_to_end(session)
            for times in (recent, self._all):
                while times and now - times[0] > 60:
                    times.popleft()
            if len(recent) >= self.session_per_minute or len(self._all) >= self.total_per_minute:
                log.warning("feedback refused: over the rate limit (session %s)", session[:12])
                return None
            recent.append(now)
            self._all.append(now)
            self._voted[key] = None
            while len(self._voted) > REMEMBERED_VOTES:
                self._voted.popitem(last=False)
            while len(self._recent) > REMEMBERED_VOTES:
                self._recent.popitem(last=False)
        return append_feedback(
            self.path, question, answer_text, citations, vote, abstained=abstained, max_bytes=self.max_bytes,
            backups=self.backups,
        )


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


def rotated_files(path: str | Path, backups: int = LOG_BACKUPS) -> list[Path]:
    """The feedback file and its rotated predecessors that exist, oldest first (``.3``, ``.2``, ``.1``, the file).

    Example: ``rotated_files("feedback.jsonl")`` is ``[Path("feedback.jsonl.1"), Path("feedback.jsonl")]`` when
    one rotation has happened.
    """
    path = Path(path)
    older = [path.with_name(f"{path.name}.{i}") for i in range(backups, 0, -1)]
    return [p for p in older if p.is_file()] + [path]


def export_gold(feedback: str | Path, gold_out: str | Path) -> tuple[int, int]:
    """Write ``draft_gold`` of the feedback file and its rotated predecessors (oldest first) to ``gold_out``
    (JSON Lines); (written, skipped)."""
    files = rotated_files(feedback)
    records = [r for f in files[:-1] for r in read_feedback(f)]
    lines, skipped = draft_gold(records + read_feedback(files[-1]))
    out = Path(gold_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in lines), encoding="utf-8")
    return len(lines), skipped
