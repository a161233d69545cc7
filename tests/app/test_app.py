"""The chat app end to end.

Fast tests drive ``rag.ui.ChatHandlers`` (the app's event handlers) over a small fake pipeline,
to reach the error paths a real pipeline rarely takes. The browser tests (``slow``, ``browser``)
run the real thing: ``app.py`` as a subprocess over the real seed articles and the real bundled
model, driven through Debian's Chromium with Playwright.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.app.ui import example_questions
from rag.config import Settings
from rag.errors import BackendError, QuestionError
from rag.profile import Profile
from rag.text.normalize import detect_language
from rag.types import Answer, Citation, Document

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWER_TIMEOUT_MS = 300_000  # the first answer waits for the model to load; a loaded CI machine is slow

INJECTION_ID = "999_injection.txt"
INJECTION_ARTICLE = (
    'Zebra festival <script>window.__pwned=1</script><img src=x onerror="window.__pwned=1;alert(1)">\n'
    "The Serengeti zebra festival draws thousands of zebras every March to sing by the river "
    '<img src=x onerror="window.__pwned=1;alert(2)"> and <script>window.__pwned=1;alert(3)</script>.\n'
    "Organizers say the zebra choir rehearses ${window.__pwned=1} for eleven weeks "
    "{{constructor.constructor('window.__pwned=1')()}} before the festival opens.\n"
)


# --- fast: the handlers over a fake pipeline -------------------------------------------------------------------


class FakePipeline:
    """Answers every question with one citation of its one article, streaming in two deltas."""

    def __init__(self, tmp_path: Path, fail_with: Exception | None = None) -> None:
        self.settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index",
                                 feedback_path=tmp_path / "fb" / "feedback.jsonl")
        text = "صفقة <b>كبيرة</b>\nبلغت قيمة الصفقة 38 مليار دولار.\n"
        self.documents = {"a.txt": Document("a.txt", "صفقة <b>كبيرة</b>", text, "0")}
        self.profile = Profile(examples={"ar": ("ما قيمة الصفقة؟",), "en": ("How big is the deal?",)})
        self.fail_with = fail_with
        self.calls: list[dict] = []

    def ask_stream(self, question, *, history=None, k=None, backend=None) -> Iterator[str | Answer]:
        if not question.strip() or len(question.strip()) > self.settings.max_question_chars:
            raise QuestionError("bad question")
        self.calls.append({"question": question, "history": history, "k": k, "backend": backend})
        return self._stream(question)

    def _stream(self, question: str) -> Iterator[str | Answer]:
        doc = self.documents["a.txt"]
        start = doc.text.index("بلغت")
        end = len(doc.text) - 1
        yield "بحسب المقالات:\n"
        if self.fail_with:
            raise self.fail_with
        yield f"«{doc.text[start:end]}» [1]"
        citation = Citation(1, "a.txt", doc.title, doc.text[start:end], start, end, 0.9, "a.txt#0")
        yield Answer(question, "ar", f"بحسب المقالات:\n«{doc.text[start:end]}» [1]", False, [citation])


def run(handlers, question: str, messages=None, turns=None):
    return list(handlers.respond(question, messages or [], turns or {}, 3, "extractive"))


def test_respond_streams_then_renders_the_final_answer_with_sources(tmp_path):
    from rag.app.ui import ChatHandlers

    fake = FakePipeline(tmp_path)
    steps = run(ChatHandlers(fake), "ما قيمة الصفقة؟")
    assert len(steps) == 4  # placeholder, two deltas, final
    assert steps[0][0] == ""  # the question box is cleared at once
    assert "بحسب المقالات" in steps[1][1][-1]["content"] and "[1]" not in steps[1][1][-1]["content"]
    question_box, messages, turns, citations, sources, picker, article = steps[-1]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert 'dir="rtl"' in messages[0]["content"] and 'dir="rtl"' in messages[1]["content"]
    assert '<a class="cite" href="#source-1">[1]</a>' in messages[1]["content"]
    assert '<details class="answer-sources"' in messages[1]["content"]  # folded under the answer
    quote = "بلغت قيمة الصفقة 38 مليار دولار."
    assert turns == {1: {"question": "ما قيمة الصفقة؟", "answer": f"بحسب المقالات:\n«{quote}» [1]",
                         "citations": citations, "abstained": False}}
    assert "<mark>بلغت قيمة الصفقة 38 مليار دولار.</mark>" in sources
    assert "&lt;b&gt;" in sources and "<b>" not in sources
    assert picker["choices"] == [("\u200f[1] \u2067صفقة <b>كبيرة</b>\u2069", "0")] and picker["value"] == "0"
    assert '<mark id="quote">' in article and "&lt;b&gt;" in article
    assert fake.calls[0]["k"] == 3 and fake.calls[0]["history"] == []


def test_follow_up_sends_the_earlier_turns_as_history(tmp_path):
    from rag.app.ui import ChatHandlers

    fake = FakePipeline(tmp_path)
    handlers = ChatHandlers(fake)
    _, messages, turns, *_ = run(handlers, "ما قيمة الصفقة؟")[-1]
    run(handlers, "ومتى؟", messages, turns)
    assert fake.calls[1]["history"] == [("ما قيمة الصفقة؟", turns[1]["answer"])]


@pytest.mark.parametrize(
    "question,expected",
    [
        ("x" * 2001, "too long (2,001 characters; the limit is 2,000)"),
        ("س" * 2001, "السؤال طويل جدًا"),
        ("   ", "The question is empty"),
    ],
)
def test_rejected_questions_get_a_clear_message_in_their_language(tmp_path, question, expected):
    from rag.app.ui import ChatHandlers

    steps = run(ChatHandlers(FakePipeline(tmp_path)), question)
    assert len(steps) == 1
    question_box, messages, turns, *_ = steps[0]
    assert question_box == question  # given back to edit
    assert expected in messages[-1]["content"]
    assert turns == {}
    assert len(messages[0]["content"]) < 1000  # a long question is shown shortened


def test_a_failing_backend_gives_a_friendly_message_and_the_app_keeps_serving(tmp_path, caplog):
    from rag.app.ui import MESSAGES, ChatHandlers

    fake = FakePipeline(tmp_path, fail_with=BackendError("connection refused"))
    handlers = ChatHandlers(fake)
    with caplog.at_level(logging.ERROR, logger="rag.app.ui"):
        steps = run(handlers, "ما قيمة الصفقة؟")
    _, messages, turns, *_ = steps[-1]
    assert MESSAGES["failed"]["ar"] in messages[-1]["content"] and turns == {}
    assert "connection refused" in caplog.text and "Traceback" in caplog.text
    fake.fail_with = None
    _, messages, turns, *_ = run(handlers, "How much?", messages, turns)[-1]
    assert "[1]" in messages[-1]["content"] and list(turns) == [3]


def test_votes_are_appended_for_answers_only(tmp_path):
    from rag.app.ui import ChatHandlers

    fake = FakePipeline(tmp_path)
    handlers = ChatHandlers(fake)
    _, messages, turns, *_ = run(handlers, "ما قيمة الصفقة؟")[-1]
    assert handlers.vote(turns, 1, True, "s1") == "up"
    assert handlers.vote(turns, 1, "Dislike", "s1") is None  # one vote per answer per session
    assert handlers.vote(turns, 1, "Dislike", "s2") == "down"  # another session
    assert handlers.vote(turns, 0, True, "s1") is None  # the user's own message
    records = [json.loads(x) for x in fake.settings.feedback_path.read_text(encoding="utf-8").splitlines()]
    assert [r["vote"] for r in records] == ["up", "down"]
    assert records[0]["question"] == "ما قيمة الصفقة؟" and records[0]["citations"][0]["n"] == 1


def test_open_article_and_clear(tmp_path):
    from rag.app.ui import ChatHandlers

    handlers = ChatHandlers(FakePipeline(tmp_path))
    *_, citations, _sources, _picker, _article = run(handlers, "ما قيمة الصفقة؟")[-1]
    assert '<mark id="quote">بلغت' in handlers.open_article("0", citations)
    assert handlers.open_article("7", citations) == "" and handlers.open_article(None, citations) == ""
    messages, turns, current, sources, picker, article, question = handlers.clear()
    assert (messages, turns, current, article, question) == ([], {}, [], "", "")


def test_build_ui_and_app_flags(tmp_path):
    import gradio as gr

    from app import parse_args
    from rag.app.ui import build_ui, launch_options

    fake = FakePipeline(tmp_path)
    assert isinstance(build_ui(fake), gr.Blocks)
    options = launch_options(fake.settings)
    assert {"theme", "css", "js", "app_kwargs", "blocked_paths", "max_file_size"} <= set(options)
    assert str(fake.settings.index_dir.resolve()) in options["blocked_paths"]
    args = parse_args([])
    assert (args.host, args.port, args.share, args.corpus, args.index_dir, args.model) == (
        "127.0.0.1", 7860, False, None, None, None)
    args = parse_args(["--port", "9000", "--share", "--corpus", "c", "--index-dir", "i", "--model", "m"])
    assert (args.port, args.share, args.corpus, args.index_dir, args.model) == (9000, True, Path("c"), Path("i"), "m")


def test_examples_come_from_the_profile_else_the_titles(tmp_path: Path) -> None:
    pipeline = FakePipeline(tmp_path)
    assert example_questions(pipeline) == {"ar": ["ما قيمة الصفقة؟"], "en": ["How big is the deal?"]}
    pipeline.profile = Profile()
    assert example_questions(pipeline) == {"ar": ["ماذا تقول المقالات عن «صفقة <b>كبيرة</b>»؟"],
                                           "en": ["What do the articles say about “صفقة <b>كبيرة</b>”?"]}


def test_questions_asked_while_the_index_builds_wait_with_progress_then_get_answered(tmp_path):
    import threading

    from rag.app.loading import BackgroundPipeline
    from rag.app.ui import ChatHandlers, _examples
    from rag.index.build import BuildProgress

    fake = FakePipeline(tmp_path)
    release = threading.Event()
    progressed = threading.Event()

    def loader(on_progress):
        on_progress(BuildProgress("passages", 5, 40, 100))
        progressed.set()
        release.wait(10)
        return fake

    bg = BackgroundPipeline(fake.settings, loader).start()
    assert progressed.wait(10)
    assert bg.status().stage == "passages" and bg.status().documents == 5 and not bg.status().ready
    assert bg.documents == {} and _examples(bg) == []
    handlers = ChatHandlers(bg)
    steps = handlers.respond("ما قيمة الصفقة؟", [], {}, 3, "extractive")
    first = next(steps)
    assert "جارٍ بناء الفهرس لـ 5 مقالات… 36٪" in first[1][-1]["content"]  # 0.9 * 40 %
    release.set()
    rest = list(steps)
    assert '<a class="cite" href="#source-1">[1]</a>' in rest[-1][1][-1]["content"]
    assert bg.status().ready and _examples(bg) == ["ما قيمة الصفقة؟", "How big is the deal?"]


def test_a_failed_load_is_shown_instead_of_hanging(tmp_path):
    from rag.app.loading import BackgroundPipeline
    from rag.app.ui import ChatHandlers, status_html
    from rag.errors import CorpusError

    def loader(on_progress):
        raise CorpusError("no usable article in /nowhere")

    bg = BackgroundPipeline(Settings(corpus_dir=tmp_path), loader).start()
    assert bg.wait(10) and bg.status().stage == "failed"
    assert "no usable article" in status_html(bg.status())
    last = list(ChatHandlers(bg).respond("ما قيمة الصفقة؟", [], {}, 3, "extractive"))[-1]
    assert last[0] == "ما قيمة الصفقة؟"  # the question is given back
    assert "عذرًا" in last[1][-1]["content"]


def test_status_banner_and_example_slots():
    from rag.app.loading import LoadStatus
    from rag.app.ui import MAX_EXAMPLES, _example_updates, status_html

    html = status_html(LoadStatus("passages", 12, 50, 100))
    assert "Building the index for 12 articles… 45%" in html and "جارٍ بناء الفهرس لـ 12 مقالات" in html
    assert '<progress max="100" value="45">' in html
    assert "Loading the model" in status_html(LoadStatus("model"))
    assert status_html(LoadStatus("ready")) == ""
    slots = _example_updates(["ما قيمة الصفقة؟", "How long is the deal?"])
    assert len(slots) == MAX_EXAMPLES
    assert slots[0]["elem_classes"] == ["example", "rtl"] and slots[1]["elem_classes"] == ["example", "ltr"]
    assert [s["visible"] for s in slots] == [True, True] + [False] * (MAX_EXAMPLES - 2)


def test_feedback_path_defaults_to_the_index_folder(tmp_path):
    assert Settings(index_dir=tmp_path / "idx").resolved_feedback_path == tmp_path / "idx" / "feedback.jsonl"
    env = {"RAG_FEEDBACK_PATH": str(tmp_path / "votes.jsonl")}
    assert Settings.from_env(env).resolved_feedback_path == tmp_path / "votes.jsonl"


# --- slow: the real app in a real browser ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The real seed articles plus one article whose title and body try to run script."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in sorted(SEEDS.glob("*.txt")):
        shutil.copy(path, folder / path.name)
    (folder / INJECTION_ID).write_text(INJECTION_ARTICLE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def pipeline(corpus, tmp_path_factory):
    """The real pipeline, building the index the app will serve."""
    from rag.pipeline import Pipeline

    settings = Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("app") / "index")
    return Pipeline.load(settings, build_if_missing=True)


@pytest.fixture(scope="module")
def server(pipeline, tmp_path_factory) -> Iterator[dict]:
    """``python app.py`` on a free port over the fixture's corpus and index; killed at teardown."""
    folder = tmp_path_factory.mktemp("server")
    port = _free_port()
    feedback = folder / "feedback.jsonl"
    env = {**os.environ, "RAG_FEEDBACK_PATH": str(feedback), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log_path = folder / "app.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--corpus", str(pipeline.settings.corpus_dir),
             "--index-dir", str(pipeline.settings.index_dir)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer on {url} within 180 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "feedback": feedback, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: apt-get install -y chromium (make setup-test does)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Chat:
    """One browser tab on the app, with what it saw: dialogs, requests and page errors."""

    def __init__(self, browser, url: str) -> None:
        # Gradio translates its own buttons' labels to the browser's locale; "Like" is looked up in English.
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("#question textarea", timeout=60_000)

    def send(self, question: str) -> None:
        self.answers_before = self.page.locator("#chat .msg.answer").count()
        self.bubbles_before = self.page.locator("#chat .msg").count()
        self.page.fill("#question textarea", question)
        self.page.press("#question textarea", "Enter")

    def wait_answer(self):
        """The new answer bubble, once the final answer (not a streamed partial) is shown."""
        self.page.wait_for_function(
            f"document.querySelectorAll('#chat .msg.answer').length > {self.answers_before}",
            timeout=ANSWER_TIMEOUT_MS,
        )
        return self.page.locator("#chat .msg.answer").last

    def ask(self, question: str):
        self.send(question)
        return self.wait_answer()

    def last_bubble(self):
        """The newest bubble once the reply to the last question is in (not the "…" placeholder)."""
        self.page.wait_for_function(
            """n => {
              const all = document.querySelectorAll('#chat .msg');
              return all.length >= n && all[all.length - 1].textContent.trim() !== '…';
            }""",
            arg=self.bubbles_before + 2,
            timeout=ANSWER_TIMEOUT_MS,
        )
        return self.page.locator("#chat .msg").last

    def pwned(self):
        return self.page.evaluate("() => window.__pwned")

    def close(self) -> None:
        self.context.close()


def direction(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).direction")


def open_citation(chat: Chat, doc_id: str) -> None:
    """Open the article of the first source from ``doc_id`` through the picker (one label per source)."""
    ids = chat.page.locator("#sources li.source .source-id").all_text_contents()
    chat.page.locator("#article-picker label").nth(ids.index(doc_id)).click()
    chat.page.wait_for_function(
        "id => document.querySelector('#article-view .source-id')?.textContent === id", arg=doc_id,
        timeout=30_000,
    )


def article_parts(chat: Chat) -> dict:
    """The article viewer's text before, inside and after ``mark#quote`` (``<br>`` read as a newline)."""
    return chat.page.evaluate(
        """() => {
          const body = document.querySelector('#article-view .article-body');
          const parts = {before: '', quote: '', after: ''};
          let where = 'before';
          const walk = (node) => {
            for (const child of node.childNodes) {
              if (child.nodeName === 'MARK' && child.id === 'quote') { where = 'quote'; walk(child); where = 'after'; }
              else if (child.nodeName === 'BR') parts[where] += '\\n';
              else if (child.nodeType === Node.TEXT_NODE) parts[where] += child.textContent;
              else walk(child);
            }
          };
          walk(body);
          return parts;
        }"""
    )


@pytest.mark.slow
@pytest.mark.browser
def test_arabic_then_english_question_in_the_browser(server, browser, pipeline):
    chat = Chat(browser, server["url"])
    try:
        page = chat.page
        answer = chat.ask("ما قيمة الاتفاقية بين OpenAI وأمازون؟")
        assert direction(answer) == "rtl"
        assert re.search(r"\[\d+\]", answer.text_content())
        assert "38" in answer.text_content()
        question_bubble = page.locator("#chat .msg").nth(0)
        assert direction(question_bubble) == "rtl"

        # The sources panel names the cited article and marks a quote that is in it.
        doc_id = page.locator("#sources .source-id").first.text_content()
        document = pipeline.documents[doc_id]
        assert page.locator("#sources .source-title").first.text_content() == document.title
        mark = page.locator("#sources mark").first.text_content()
        assert mark and mark in document.text.replace("\r\n", "\n").replace("\n", "")

        # The whole article, with the quote marked exactly where it is in the text.
        open_citation(chat, doc_id)
        parts = article_parts(chat)
        assert parts["before"] + parts["quote"] + parts["after"] == document.text.replace("\r\n", "\n")
        assert parts["quote"] and document.text.startswith(parts["quote"], len(parts["before"]))
        assert page.locator("#article-view .article").evaluate("el => getComputedStyle(el).direction") == "rtl"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

        english = chat.ask("How long does the OpenAI Amazon agreement last?")
        assert direction(english) == "ltr"
        assert re.search(r"\[\d+\]", english.text_content())
        assert direction(page.locator("#chat .msg.answer").first) == "rtl"  # the Arabic one is unchanged
        assert direction(page.locator("#chat .msg").nth(2)) == "ltr"  # the English question

        # 👍 on the last answer appends a line to the feedback file.
        page.get_by_role("button", name="Like").last.click()
        deadline = time.monotonic() + 20
        while not (server["feedback"].exists() and server["feedback"].read_text(encoding="utf-8").strip()):
            assert time.monotonic() < deadline, "no feedback line was written"
            time.sleep(0.2)
        record = json.loads(server["feedback"].read_text(encoding="utf-8").splitlines()[-1])
        assert record["vote"] == "up" and record["question"] == "How long does the OpenAI Amazon agreement last?"

        hosts = {re.sub(r"^\w+://([^/]+).*$", r"\1", u) for u in chat.requests if re.match(r"^https?://", u)}
        assert hosts == {server["url"].split("/")[2]}, f"the page fetched from outside: {hosts}"
        assert chat.dialogs == []
    finally:
        chat.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_questions_a_new_user_tried_behave_as_they_expect(server, browser, pipeline):
    """Issue 9's five questions: people the articles never mention or never quote are refused, naming what is
    missing; an English question about a duration is answered in English with the Arabic quote as its source."""
    chat = Chat(browser, server["url"])
    try:
        page = chat.page
        musk = chat.ask("ما رأي إيلون ماسك في الصفقة؟")
        assert "abstained" in musk.get_attribute("class") and direction(musk) == "rtl"
        assert "لا تذكر المقالات «إيلون ماسك»" in musk.text_content()
        assert "بحسب المقالات" not in musk.text_content()

        microsoft = chat.ask("What did Microsoft say about the deal?")
        assert "abstained" in microsoft.get_attribute("class") and direction(microsoft) == "ltr"
        assert "The articles quote nothing from Microsoft." in microsoft.text_content()

        elon = chat.ask("What did Elon Musk say about the deal?")
        assert "abstained" in elon.get_attribute("class")
        assert "do not mention Elon Musk" in elon.text_content()

        years = chat.ask("How many years does the Amazon deal last?")
        assert "abstained" not in years.get_attribute("class")
        short = years.locator(".short-answer").first
        assert short.text_content() == "seven years" and direction(short) == "ltr"
        assert re.search(r"«[^»]*سبع سنوات[^»]*» \[\d+\]", years.text_content())  # the Arabic quote, numbered
        mark = page.locator("#sources .source").first
        assert "سبع سنوات" in mark.text_content()
        assert page.locator("#sources strong.short-answer").first.text_content() == "سبع سنوات"

        value = chat.ask("ما قيمة الصفقة بين OpenAI وأمازون؟")
        assert "abstained" not in value.get_attribute("class")
        assert "38 مليار دولار" in value.locator(".short-answer").first.text_content()

        # A place the articles never name, asked in English: refused, naming it (the dictionary writes it كندا).
        canada = chat.ask("What is the capital of Canada?")
        assert "abstained" in canada.get_attribute("class")
        assert "do not mention Canada" in canada.text_content()
        assert chat.dialogs == []
    finally:
        chat.close()


def understood(answer) -> str:
    """The "understood as: …" line of an answer bubble ("" when the question was taken as asked)."""
    line = answer.locator(".understood-as")
    return line.first.text_content() if line.count() else ""


def bold(answer) -> str:
    """The bold short answer of an answer bubble ("" when it has none)."""
    line = answer.locator(".short-answer")
    return line.first.text_content() if line.count() else ""


@pytest.mark.slow
@pytest.mark.browser
def test_follow_ups_are_answered_as_the_questions_they_are(server, browser):
    """Issue 24's conversations, each in a fresh tab: a follow-up's bold short answer answers what it asks,
    with how it was understood in small print above it; a turn that names its own subject is taken as asked;
    a refusal's reason is not carried into the next turn; a who-question is answered with the name."""
    chat = Chat(browser, server["url"])
    try:
        value = chat.ask("ما قيمة صفقة أمازون مع OpenAI؟")
        assert "38 مليار دولار" in bold(value) and understood(value) == ""
        duration = chat.ask("وكم مدتها؟")
        assert "سبع سنوات" in bold(duration) and "38" not in bold(duration)
        assert understood(duration) == "فُهم السؤال على أنه: كم مدة صفقة أمازون مع OpenAI؟"
        line = duration.locator(".understood-as").first
        assert direction(line) == "rtl"
        assert line.evaluate("el => parseFloat(getComputedStyle(el).fontSize)") < duration.locator(
            ".short-answer").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        shares = chat.ask("كم ارتفعت أسهم أمازون؟")  # names its own subject: asked as it is
        assert "4%" in bold(shares) and understood(shares) == ""
    finally:
        chat.close()

    chat = Chat(browser, server["url"])
    try:
        layoffs = chat.ask("كم موظفاً سرّحت أمازون؟")
        assert "14,000" in bold(layoffs)
        why = chat.ask("ولماذا؟")
        assert understood(why) == "فُهم السؤال على أنه: لماذا سرّحت أمازون؟" and "14,000" not in bold(why)
        chief = chat.ask("ومن هو رئيسها التنفيذي؟")
        assert understood(chief) == "فُهم السؤال على أنه: من هو رئيس أمازون التنفيذي؟"
        assert "آندي جاسي" in bold(chief) and "14,000" not in bold(chief)
    finally:
        chat.close()

    chat = Chat(browser, server["url"])
    try:
        chat.ask("How much is Nvidia investing in OpenAI?")
        amd = chat.ask("And AMD?")
        assert understood(amd) == "understood as: How much is AMD investing in OpenAI?" and direction(amd) == "ltr"
        quotes = amd.text_content().split("According to the articles (quoted in Arabic):")[1]
        assert "AMD" in quotes.split("»")[0]  # the first quote is about AMD
    finally:
        chat.close()

    chat = Chat(browser, server["url"])
    try:
        microsoft = chat.ask("What did Microsoft say about the deal?")
        assert "The articles quote nothing from Microsoft." in microsoft.text_content()
        when = chat.ask("ومتى أعلن عنها؟")
        assert "مايكروسوفت" not in when.text_content().split("\n")[0] and "Microsoft" not in when.text_content()
        assert "لا تنقل المقالات أي تصريح" not in when.text_content()
        assert "يوم الاثنين" in when.text_content()  # the quote that answers it
    finally:
        chat.close()

    chat = Chat(browser, server["url"])
    try:
        ceo = chat.ask("من هو الرئيس التنفيذي لشركة OpenAI؟")
        assert bold(ceo) == "«سام ألتمان»"
        english = chat.ask("Who is OpenAI's CEO?")
        assert bold(english) == "«سام ألتمان» (quoted in Arabic)" and understood(english) == ""
        assert chat.dialogs == []
    finally:
        chat.close()


@pytest.mark.slow
@pytest.mark.browser
def test_markup_in_articles_and_questions_never_runs(server, browser, pipeline):
    chat = Chat(browser, server["url"])
    try:
        page = chat.page
        question = (
            'What do the zebras sing at the Serengeti festival? <img src=x onerror="window.__pwned=1">'
            "<script>window.__pwned=1;alert(4)</script>"
        )
        chat.ask(question)
        assert page.locator("#chat .msg").nth(0).text_content() == question  # shown as text
        page.locator("#sources .source-id", has_text=INJECTION_ID).first.wait_for(timeout=30_000)
        open_citation(chat, INJECTION_ID)
        page.wait_for_timeout(500)  # give any injected handler a chance to fire
        article_text = page.locator("#article-view .article-body").text_content()
        assert "<script>window.__pwned=1" in article_text and 'onerror="window.__pwned=1' in article_text
        assert "${window.__pwned=1}" in article_text
        assert "<script>" in page.locator("#article-view .article-title").text_content()
        assert page.locator("#article-picker label", has_text="Zebra festival").count() >= 1
        assert page.locator("#chat img, #sources img, #article-view img").count() == 0
        assert page.locator("#chat script, #sources script, #article-view script").count() == 0
        assert chat.pwned() is None
        assert chat.dialogs == []
    finally:
        chat.close()


@pytest.mark.slow
@pytest.mark.browser
def test_a_too_long_question_gets_a_clear_message(server, browser):
    chat = Chat(browser, server["url"])
    try:
        chat.send("x" * 2001)
        bubble = chat.last_bubble()
        assert "too long" in bubble.text_content() and "2,000" in bubble.text_content()
        assert chat.page.input_value("#question textarea") == "x" * 2001  # given back to edit
        # The app keeps serving.
        assert re.search(r"\[\d+\]", chat.ask("ما مدة الاتفاقية بين OpenAI وأمازون؟").text_content())
    finally:
        chat.close()


@pytest.mark.slow
@pytest.mark.browser
def test_three_simultaneous_chats_all_get_answers(server, browser):
    questions = [
        "ما قيمة الاتفاقية بين OpenAI وأمازون؟",
        "How long does the OpenAI Amazon agreement last?",
        "كم موظفًا سرّحت أمازون؟",
    ]
    chats = [Chat(browser, server["url"]) for _ in questions]
    try:
        for chat, question in zip(chats, questions, strict=True):
            chat.page.fill("#question textarea", question)
            chat.answers_before = 0
        for chat in chats:  # sent back to back: all three are in flight at once
            chat.page.press("#question textarea", "Enter")
        for chat in chats:
            assert chat.wait_answer().text_content().strip()
        texts = [chat.page.locator("#chat .msg.answer").last.text_content() for chat in chats]
        assert len(set(texts)) == 3  # each tab got its own answer
        assert [direction(chat.page.locator("#chat .msg.answer").last) for chat in chats] == ["rtl", "ltr", "rtl"]
    finally:
        for chat in chats:
            chat.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_layout_at_desktop_and_phone_sizes(server, browser, pipeline, size):
    """1400x900 and 390x844: no sideways scroll, examples in their own direction, the cited source one tap
    away from the answer; a screenshot of each is saved in tests/artifacts/."""
    width, height = {"desktop": (1400, 900), "phone": (390, 844)}[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                  is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()
    try:
        page.goto(server["url"])
        page.wait_for_selector("#example-0.example", state="attached", timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_function("document.querySelector('#example-0').textContent.trim().length > 0",
                               timeout=ANSWER_TIMEOUT_MS)
        if size == "phone":  # settings and examples start folded on a phone
            assert not page.locator("#example-0").is_visible()
            page.locator("#more .label-wrap").first.click()
        page.locator("#example-0").wait_for(state="visible", timeout=10_000)
        examples = page.locator("#examples button.example")
        assert examples.count() >= 1
        for i in range(examples.count()):
            button = examples.nth(i)
            text = button.text_content().strip()
            expected = "rtl" if detect_language(text) == "ar" else "ltr"
            assert direction(button) == expected, text

        page.fill("#question textarea", "ما قيمة الاتفاقية بين OpenAI وأمازون؟")
        page.press("#question textarea", "Enter")
        page.wait_for_selector("#chat .msg.answer a.cite", timeout=ANSWER_TIMEOUT_MS)
        answer = page.locator("#chat .msg.answer").last
        assert direction(answer) == "rtl" and "38" in answer.text_content()
        page.wait_for_timeout(500)
        scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], f"horizontal scroll at {size}: {scroll}"

        bubble = page.locator("#chat .message-row.bot-row").last
        chat_box = page.locator("#chat").bounding_box()
        if size == "phone":  # answers use the chat's whole width
            assert bubble.bounding_box()["width"] >= 0.9 * chat_box["width"]
            assert not page.locator("#sources").is_visible()

        # One tap on [1] in the answer brings its source into view, open, quote marked.
        page.locator("#chat .msg.answer").last.locator("a.cite").first.click()
        page.wait_for_timeout(700)
        if size == "phone":
            source = answer.locator(".answer-sources #source-1")
            assert answer.locator("details.answer-sources").evaluate("el => el.open")
        else:
            source = page.locator("#sources #source-1")
            page.wait_for_function("document.querySelector('#article-view mark#quote') !== null", timeout=30_000)
        box = source.bounding_box()
        assert box and box["y"] < height and box["y"] + min(box["height"], 80) > 0, f"source not in view: {box}"
        assert source.locator("mark").count() >= 1
        label_dirs = page.locator("#article-picker label span[dir]").evaluate_all(
            "els => els.map(e => getComputedStyle(e).direction)")
        assert label_dirs and set(label_dirs) == {"rtl"}  # the seed titles are Arabic

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{size}.png"))
        page.screenshot(path=str(ARTIFACTS / f"{size}-full.png"), full_page=True)
    finally:
        context.close()
