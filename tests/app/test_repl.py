"""rag.app.repl: a piped chat keeps its conversation, and a blank line starts a new one (around a recording
pipeline; the real one is driven end to end in tests/test_cli.py)."""

from __future__ import annotations

import io
import json

from rag.app.repl import ChatSession, run_pipe
from rag.errors import QuestionError
from rag.types import Answer


class RecordingPipeline:
    """Answers every question with its number, and records the history each question was asked with."""

    def __init__(self) -> None:
        self.histories: list[list[tuple[str, str]]] = []

    def ask_stream(self, question, *, history=None, k=None, backend=None):
        if len(question) > 100:
            raise QuestionError("too long")
        self.histories.append(list(history or []))
        text = f"answer {len(self.histories)}"
        yield text
        yield Answer(question=question, language="en", text=text, abstained=False)


def test_a_piped_chat_keeps_the_conversation_and_a_blank_line_starts_a_new_one():
    pipeline = RecordingPipeline()
    out = io.StringIO()
    lines = ["first?\n", "and then?\n", "x" * 200 + "\n", "and after?\n", "\n", "new topic?\n", "  \n",
             "\n", "another?\n"]
    status = run_pipe(ChatSession(pipeline, as_json=True), lines, out, printer=list)
    assert status == 1  # the over-long line was rejected, and the others answered
    assert pipeline.histories == [
        [],
        [("first?", "answer 1")],
        [("first?", "answer 1"), ("and then?", "answer 2")],  # the rejected line is no turn
        [],  # a blank line: a new conversation
        [],
    ]
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["question"] for o in objects] == ["first?", "and then?", "x" * 200, "and after?", "new topic?",
                                                "another?"]
    assert "error" in objects[2] and "resolved_question" in objects[0]


def test_a_piped_chat_in_text_mode_streams_each_turn_with_the_history():
    pipeline = RecordingPipeline()
    printed: list[list[object]] = []
    out = io.StringIO()
    assert run_pipe(ChatSession(pipeline), ["a?\n", "b?\n"], out, printer=lambda s: printed.append(list(s))) == 0
    assert out.getvalue() == "? a?\n? b?\n"
    assert pipeline.histories == [[], [("a?", "answer 1")]]
    assert printed[1][0] == "answer 2" and isinstance(printed[1][-1], Answer)
