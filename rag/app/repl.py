"""``rag chat``: many questions, one model load, from a terminal prompt or from a pipe.

On a terminal: a prompt with readline editing and history (kept in the cache folder), follow-up
questions carry the conversation, and three commands: ``/sources`` (the last answer's quotes in
full), ``/json`` (switch between text and JSON output) and ``/quit``. From a pipe: one question
per line, each a turn of the conversation as in the chat, and a blank line starts a new conversation;
``--json`` prints one JSON object per line (JSON Lines).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rag.errors import QuestionError
from rag.types import Answer

log = logging.getLogger(__name__)

COMMANDS = {
    "/sources": "show the last answer's sources with their quotes",
    "/json": "switch between text and JSON output",
    "/help": "list the commands",
    "/quit": "leave (also Ctrl-D)",
}
PROMPT = "? "
HISTORY_LINES = 1000

#: Prints a streamed answer and returns the final Answer (the CLI's renderer).
Printer = Callable[[Iterator[str | Answer]], Any]


class ChatSession:
    """One conversation over a loaded pipeline: its history, last answer and output mode.

    Example: ``ChatSession(pipeline).ask("ما قيمة الصفقة؟").text``
    """

    def __init__(self, pipeline: Any, *, k: int | None = None, backend: str | None = None,
                 as_json: bool = False) -> None:
        self.pipeline = pipeline
        self.k = k
        self.backend = backend
        self.as_json = as_json
        self.history: list[tuple[str, str]] = []
        self.last: Answer | None = None

    def stream(self, question: str, *, follow_up: bool = True) -> Iterator[str | Answer]:
        """The pipeline's stream for ``question``; the final Answer is remembered for ``/sources``."""
        history = self.history if follow_up else []
        for item in self.pipeline.ask_stream(question, history=history, k=self.k, backend=self.backend):
            if isinstance(item, Answer):
                self.last = item
                if follow_up:
                    self.history.append((item.question, item.text))
            yield item

    def new_conversation(self) -> None:
        """Forget the earlier turns: the next question starts a conversation of its own."""
        self.history.clear()

    def ask(self, question: str, *, follow_up: bool = True) -> Answer:
        """Answer ``question`` and return the final Answer."""
        final = None
        for item in self.stream(question, follow_up=follow_up):
            final = item
        assert isinstance(final, Answer)
        return final

    def sources_text(self) -> str:
        """The last answer's citations with their full quotes, or a note that there is none yet."""
        if self.last is None:
            return "no answer yet"
        if not self.last.citations:
            return "the last answer has no sources"
        lines = []
        for c in self.last.citations:
            lines.append(f"[{c.n}] {c.title} — {c.doc_id}, chars {c.start}-{c.end}\n    «{c.quote}»")
        return "\n".join(lines)


def run_pipe(session: ChatSession, lines: Iterable[str], out: IO[str], printer: Printer) -> int:
    """Answer each non-empty line of ``lines`` as the next turn of a conversation, as the chat does (a
    follow-up is resolved against the earlier turns); a blank line starts a new conversation. JSON Lines on
    ``out`` in JSON mode.

    A rejected question (too long, NUL) gives an error object (JSON mode) or line, is no turn of the
    conversation, and the next question is still answered. Returns 0, or 1 if any question was rejected.
    """
    status = 0
    for raw in lines:
        question = raw.rstrip("\r\n")
        if not question.strip():
            session.new_conversation()
            continue
        try:
            if session.as_json:
                answer = session.ask(question)
                out.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
                out.flush()
            else:
                out.write(f"? {question}\n")
                printer(session.stream(question))
        except QuestionError as e:
            status = 1
            if session.as_json:
                out.write(json.dumps({"question": question, "error": str(e)}, ensure_ascii=False) + "\n")
            else:
                out.write(f"error: {e}\n")
            out.flush()
    return status


def run_repl(session: ChatSession, printer: Printer, *, read: Callable[[str], str] = input,
             write: Callable[[str], None] = print, history_file: Path | None = None) -> int:
    """The terminal loop: read a question or a command, answer, until ``/quit`` or end of input."""
    _setup_readline(history_file)
    write("Ask about the articles in Arabic or English. Commands: " + ", ".join(COMMANDS) + ".")
    try:
        while True:
            try:
                line = read(PROMPT).strip()
            except EOFError:
                write("")
                break
            except KeyboardInterrupt:  # Ctrl-C drops the line being typed, as a shell does
                write("")
                continue
            if not line:
                continue
            if line.startswith("/"):
                if not _command(session, line, write):
                    break
                continue
            try:
                if session.as_json:
                    write(json.dumps(session.ask(line).to_dict(), ensure_ascii=False))
                else:
                    printer(session.stream(line))
            except QuestionError as e:
                write(f"error: {e}")
            except KeyboardInterrupt:
                write("\n(interrupted)")
    finally:
        _save_history(history_file)
    return 0


def _command(session: ChatSession, line: str, write: Callable[[str], None]) -> bool:
    """Run a ``/command``; False means leave."""
    name = line.split()[0].lower()
    if name in ("/quit", "/exit", "/q"):
        return False
    if name == "/sources":
        write(session.sources_text())
    elif name == "/json":
        session.as_json = not session.as_json
        write(f"output is now {'JSON' if session.as_json else 'text'}")
    elif name == "/help":
        write("\n".join(f"{cmd:10} {what}" for cmd, what in COMMANDS.items()))
    else:
        write(f"unknown command {name}; commands: {', '.join(COMMANDS)}")
    return True


def _setup_readline(history_file: Path | None) -> None:
    try:
        import readline
    except ImportError:  # not on every platform; input() still works without history
        return
    readline.set_history_length(HISTORY_LINES)
    if history_file is not None and history_file.is_file():
        try:
            readline.read_history_file(str(history_file))
        except OSError as e:
            log.warning("cannot read chat history %s: %s", history_file, e)


def _save_history(history_file: Path | None) -> None:
    if history_file is None:
        return
    try:
        import readline

        history_file.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(str(history_file))
    except (ImportError, OSError) as e:
        log.warning("cannot save chat history to %s: %s", history_file, e)
