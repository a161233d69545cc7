"""The Gradio chat app: chat on the left, the sources of the last answer and the full article on the right.

Rendering lives in ``rag.app.render`` (which escapes every user and article string); this module
only wires components and events. Messages are HTML that ``present`` built, so the Chatbot is
told not to run Markdown or LaTeX over them; Gradio's own HTML sanitizer stays on as a second
line of defence.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from itertools import zip_longest
from typing import Any, Protocol

import gradio as gr

from rag.app.feedback import FeedbackLog
from rag.app.loading import LoadStatus
from rag.app.render import (
    answer_html,
    article_html,
    citation_labels,
    empty_sources_html,
    lang_attrs,
    message_html,
    sources_html,
)
from rag.app.security import SESSION_TTL_SECONDS, launch_security_options
from rag.config import Settings
from rag.errors import QuestionError, UnsupportedQuestionError
from rag.profile import Profile, examples_from_titles
from rag.text.normalize import detect_language
from rag.types import LANGUAGES, Answer, Citation, Document

log = logging.getLogger(__name__)

#: Chats answered at once; the pipeline serializes the model's forward pass itself.
CONCURRENCY = 8

#: How often a question asked during loading refreshes the loading note (seconds).
WAIT_POLL_SECONDS = 1.0

#: A long question is shown shortened in the chat (it is still sent whole).
SHOWN_QUESTION_CHARS = 400

#: Example-question buttons shown under the chat (filled from the corpus once it is loaded).
MAX_EXAMPLES = 8
#: Messages kept in a chat: older ones are dropped (with their turns), so a session's state stays bounded.
MAX_MESSAGES = 60

MESSAGES = {
    "empty": {
        "ar": "السؤال فارغ: اكتب سؤالًا عن المقالات.",
        "en": "The question is empty: type a question about the articles.",
    },
    "too_long": {
        "ar": "السؤال طويل جدًا ({n:,} حرفًا، والحد الأقصى {limit:,} حرف). اختصر السؤال وأعد المحاولة.",
        "en": "The question is too long ({n:,} characters; the limit is {limit:,}). "
        "Please shorten it and try again.",
    },
    "nul": {
        "ar": "يحتوي السؤال على محرف NUL (\\x00): اكتب السؤال نصًا عاديًا.",
        "en": "The question contains a NUL character (\\x00): type the question as plain text.",
    },
    "failed": {
        "ar": "عذرًا، حدث خطأ ما أثناء إعداد الإجابة. حاول مرة أخرى بعد قليل.",
        "en": "Sorry, something went wrong while preparing the answer. Please try again in a moment.",
    },
    "thanks": {"ar": "شكرًا على تقييمك!", "en": "Thanks for your feedback!"},
    "loading_model": {
        "ar": "جارٍ تحميل النموذج والفهرس…",
        "en": "Loading the model and the index…",
    },
    "building": {
        "ar": "جارٍ بناء الفهرس لـ {n} مقالات… {pct}٪ (مرة واحدة فقط)",
        "en": "Building the index for {n} articles… {pct}% (only once)",
    },
    "waiting": {
        "ar": "سأجيب فور جاهزية الفهرس.",
        "en": "I will answer as soon as the index is ready.",
    },
    "load_failed": {
        "ar": "تعذّر تحميل الفهرس: {error}",
        "en": "The index could not be loaded: {error}",
    },
}

#: Labels of the layout, each in both languages.
LABELS = {
    "chat": "المحادثة · Chat",
    "placeholder": "اكتب سؤالك هنا… · Type your question…",
    "send": "إرسال · Send",
    "k": "عدد المقاطع · Passages (k)",
    "backend": "طريقة الإجابة · Answer backend",
    "clear": "مسح المحادثة · Clear chat",
    "more": "الإعدادات والأمثلة · Settings and examples",
    "examples": "أمثلة · Examples",
    "picker": "افتح المقال كاملًا · Open the whole article",
}

HEADER = """
<div class="app-head">
  <h1><span dir="rtl" lang="ar">اسأل الأخبار</span> · <span dir="ltr" lang="en">Ask the news</span></h1>
  <p dir="rtl" lang="ar">اطرح سؤالًا بالعربية أو بالإنجليزية عن المقالات الإخبارية: تقتبس كل إجابة
  المقالات حرفيًا مع مصادر مرقّمة يمكنك فتحها لترى الاقتباس في موضعه.</p>
  <p dir="ltr" lang="en">Ask in Arabic or English about the news articles: every answer quotes the
  articles verbatim, with numbered sources you can open to see each quote in place.</p>
</div>
"""

# System fonts only, so the page never fetches a web font; the Arabic ones first where they exist.
FONTS = [
    "system-ui",
    "Segoe UI",
    "Noto Sans Arabic",
    "Noto Naskh Arabic",
    "DejaVu Sans",
    "Tahoma",
    "Arial",
    "sans-serif",
]
MONO_FONTS = ["ui-monospace", "DejaVu Sans Mono", "Consolas", "monospace"]

CSS = """
.app-head h1 { margin: 0 0 .25rem 0; font-size: 1.6rem; }
.app-head p { margin: .1rem 0; opacity: .85; }
#chat .msg { white-space: normal; line-height: 1.7; }
#chat .msg[dir="rtl"] { direction: rtl; text-align: right; unicode-bidi: isolate; }
#chat .msg[dir="ltr"] { direction: ltr; text-align: left; unicode-bidi: isolate; }
#chat .msg .line[dir="rtl"] { text-align: right; }
#chat .msg .line[dir="ltr"] { text-align: left; }
.cite { font-size: .75em; font-weight: 600; color: var(--color-accent); padding: 0 .1em; }
.understood-as { font-size: .85em; opacity: .75; }
sup.cite { vertical-align: super; }
.sources-heading { margin: 0 0 .5rem 0; }
.source-list { list-style: none; padding: 0; margin: 0; }
.source { margin: 0 0 .9rem 0; padding: .6rem .7rem; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg); }
.source-head { display: flex; flex-wrap: wrap; gap: .4rem; align-items: baseline; }
.source-id { font-size: .75em; opacity: .7; }
.source-score { font-size: .75em; opacity: .7; margin-inline-start: auto; }
.passage { margin: .4rem 0 0 0; padding: 0 .6rem; border-inline-start: 3px solid var(--border-color-accent);
  line-height: 1.7; }
mark { background: #ffe58a; color: inherit; padding: 0 .1em; border-radius: 2px; }
.article { line-height: 1.8; }
.article-head { margin-bottom: .5rem; }
.article-body { max-height: 32rem; overflow-y: auto; padding: .2rem .4rem; }
.no-sources { opacity: .7; }
/* The question box follows what is typed: Arabic right to left, English left to right. */
#question textarea { unicode-bidi: plaintext; text-align: start; }
/* Example buttons and picker labels take the direction of their own text. */
.example.rtl, .example.rtl * { direction: rtl; }
.example.ltr, .example.ltr * { direction: ltr; }
.example { text-align: start; white-space: normal; flex: 1 1 16rem; }
#article-picker label span { unicode-bidi: plaintext; text-align: start; }
.source-meta { font-size: .85em; opacity: .8; }
.source-id { font-size: .7em; opacity: .6; font-family: var(--font-mono); margin-inline-start: auto; }
.source-details { font-size: .75em; opacity: .75; margin-top: .3rem; }
.source-details summary { cursor: pointer; }
a.cite { text-decoration: none; cursor: pointer; font-size: .75em; font-weight: 600;
  color: var(--color-accent); vertical-align: super; padding: 0 .1em; }
.answer-sources { margin-top: .5rem; font-size: .92em; }
.answer-sources summary { cursor: pointer; font-weight: 600; }
.answer-sources .source-list { max-height: none; }
.source.flash { outline: 3px solid var(--color-accent); transition: outline .2s; }
#status .status { padding: .5rem .8rem; border-radius: var(--radius-lg); background: var(--background-fill-secondary); }
#status progress { width: 100%; }
/* Phones: the chat and its answers use the whole width; each answer carries its own sources. */
@media (max-width: 480px) {
  .app-head h1 { font-size: 1.2rem; }
  .app-head p { font-size: .85rem; }
  #sources { display: none; }
  #chat .message-row.bubble { margin-left: 2px !important; margin-right: 2px !important;
    width: calc(100% - 4px) !important; max-width: calc(100% - 4px) !important; }
  #chat .message-row .flex-wrap, #chat .message-row .message { width: 100% !important; max-width: 100% !important;
    box-sizing: border-box; }
  #chat .avatar-container { display: none; }
  .article-body { max-height: 60vh; }
}
"""

# Runs once when the page loads. A click on an answer's [n] badge scrolls to that source and
# opens it: in the side panel (and the article view) for the latest answer on a wide screen,
# else in the sources folded under that answer. On a phone the settings accordion starts closed.
PAGE_JS = """
() => {
  const phone = () => window.matchMedia('(max-width: 480px)').matches;
  document.addEventListener('click', (ev) => {
    const badge = ev.target.closest && ev.target.closest('a.cite[href^="#source-"]');
    if (!badge) return;
    ev.preventDefault();
    const n = badge.getAttribute('href').slice('#source-'.length);
    const msg = badge.closest('.msg');
    const answers = Array.from(document.querySelectorAll('#chat .msg.answer'));
    const latest = msg && answers.length && answers[answers.length - 1] === msg;
    let target = null;
    if (!phone() && latest) {
      target = document.querySelector(`#sources [id="source-${n}"]`);
      const pick = document.querySelector(`#article-picker input[type=radio][value="${Number(n) - 1}"]`);
      if (pick && !pick.checked) pick.click();
    }
    if (!target && msg) {
      const folded = msg.querySelector('details.answer-sources');
      if (folded) folded.open = true;
      target = msg.querySelector(`.answer-sources [id="source-${n}"]`);
    }
    if (!target) return;
    target.scrollIntoView({block: 'start', behavior: 'instant'});
    target.classList.add('flash');
    setTimeout(() => target.classList.remove('flash'), 1500);
  });
  // On a phone: settings and examples start folded; after an example is tapped they fold
  // again and the chat comes into view, so the question and its answer are on screen.
  const fold = () => {
    const open = document.querySelector('#more .label-wrap.open, #more button.label-wrap[aria-expanded="true"]');
    if (open) open.click();
  };
  const showChat = () => setTimeout(() => {
    fold();
    document.querySelector('#chat').scrollIntoView({block: 'start'});
  }, 50);
  document.addEventListener('click', (ev) => {
    if (phone() && ev.target.closest && ev.target.closest('.example, #send')) showChat();
  });
  document.addEventListener('keydown', (ev) => {
    const inQuestion = ev.target.closest && ev.target.closest('#question');
    if (phone() && ev.key === 'Enter' && !ev.shiftKey && inQuestion) showChat();
  });
  if (phone()) fold();
  // Picker labels are plain text that Gradio renders; each takes the direction of its own text
  // (it starts with an RLM or LRM mark, see rag.app.render.citation_label).
  const autoDir = () => document.querySelectorAll('#article-picker label span:not([dir])')
    .forEach((el) => el.setAttribute('dir', 'auto'));
  new MutationObserver(autoDir).observe(document.body, {childList: true, subtree: true});
  autoDir();
}
"""

# Runs in the article viewer: after each new article is rendered, scroll its own box (not the
# page) so the highlighted quote sits near the top third.
SCROLL_TO_QUOTE = """
const scroll = () => {
  const mark = element.querySelector('mark#quote');
  const box = element.querySelector('.article-body');
  if (!mark || !box) return;
  box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
};
watch('value', scroll);
scroll();
"""


class AnswersQuestions(Protocol):
    """What the UI needs from ``rag.pipeline.Pipeline``."""

    settings: Settings
    profile: Profile

    @property
    def documents(self) -> dict[str, Document]: ...

    def ask_stream(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        k: int | None = None,
        backend: str | None = None,
    ) -> Iterator[str | Answer]: ...


def example_questions(pipeline: AnswersQuestions) -> dict[str, list[str]]:
    """The chat's example questions by language: the corpus profile's (from a gold file beside the
    articles, else their titles; see ``rag.profile.corpus_examples``)."""
    examples = pipeline.profile.examples or examples_from_titles(list(pipeline.documents.values()))
    return {lang: list(examples.get(lang, ())) for lang in LANGUAGES}


def launch_options(settings: Settings | None = None) -> dict[str, Any]:
    """Arguments for ``Blocks.launch``: theme and CSS (Gradio 6 takes them there, not in the ``Blocks``
    constructor), and the security options (headers, no uploads, the index and corpus never served,
    bounded sessions; see ``rag.app.security``).

    Example: ``build_ui(pipeline).launch(server_port=7860, **launch_options(pipeline.settings))``
    """
    theme = gr.themes.Default(font=FONTS, font_mono=MONO_FONTS)
    blocked = [settings.index_dir, settings.corpus_dir] if settings is not None else []
    return {"theme": theme, "css": CSS, "js": PAGE_JS, **launch_security_options(blocked)}



def status_text(status: LoadStatus, lang: str) -> str:
    """What loading is doing, in one language.

    Example: ``status_text(LoadStatus("passages", 5, 50, 100), "en")`` -> ``"Building the index for 5 …45% …"``
    """
    if status.stage == "failed":
        return MESSAGES["load_failed"][lang].format(error=status.error)
    if status.stage in ("passages", "words"):
        return MESSAGES["building"][lang].format(n=status.documents, pct=round(100 * status.fraction))
    return MESSAGES["loading_model"][lang]


def status_html(status: LoadStatus) -> str:
    """The status banner above the chat, in both languages ("" once the pipeline is ready).

    Example: ``status_html(LoadStatus("model"))`` -> ``'<div class="status" role="status">...'``
    """
    if status.ready:
        return ""
    bar = ""
    if status.stage in ("passages", "words"):
        bar = f'<progress max="100" value="{round(100 * status.fraction)}"></progress>'
    lines = "".join(
        f'<div {lang_attrs(lg)}>{html.escape(status_text(status, lg))}</div>' for lg in ("ar", "en")
    )
    return f'<div class="status" role="status">{lines}{bar}</div>'


def question_error_text(question: str, error: QuestionError, max_chars: int) -> str:
    """A user-facing message for a rejected question, in the question's language.

    A question the chat does not answer (``UnsupportedQuestionError``) gets the bilingual notice
    that the CLI prints too.

    Example: ``question_error_text("x" * 2001, err, 2000)`` -> ``"The question is too long (2,001 ..."``
    """
    if isinstance(error, UnsupportedQuestionError):
        return str(error)
    stripped = question.strip()
    lang = _language(stripped)
    if "\x00" in question:
        return MESSAGES["nul"][lang]
    if not stripped:
        return MESSAGES["empty"][lang]
    if len(stripped) > max_chars:
        return MESSAGES["too_long"][lang].format(n=len(stripped), limit=max_chars)
    return str(error)


#: What a feedback event's ``liked`` says, as the vote recorded.
_VOTES = {True: "up", "Like": "up", False: "down", "Dislike": "down"}


def liked_message(index: Any) -> int | None:
    """The chat message a feedback event names: its ``index`` when a message number, or the first of a
    ``[message, part]`` pair; None for anything else (null, an object, a string: never sent by the page).

    Example: ``liked_message([3, 0]) == 3`` and ``liked_message({"a": 1}) is None``
    """
    if isinstance(index, (list, tuple)) and index:
        index = index[0]
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else None


class ChatHandlers:
    """The app's event handlers over one shared pipeline, kept apart from the layout so they can be tested.

    Per-session state travels through Gradio: ``messages`` (the chat as rendered HTML) and
    ``turns`` (assistant message index -> ``{question, answer, citations}``), from which the
    conversation history and the 👍/👎 records are taken.
    """

    def __init__(self, pipeline: AnswersQuestions) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.feedback = FeedbackLog(self.settings.resolved_feedback_path)

    def respond(
        self,
        question: str,
        messages: list[dict[str, Any]],
        turns: dict[int, dict[str, Any]],
        k: float,
        backend: str,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer. Yields ``(question box, messages, turns, citations, sources, picker, article)``.

        The question box is cleared while answering and given back when the question is rejected
        or answering fails, so the user can edit and resend it.
        """
        question = question or ""
        lang = _language(question)
        messages, turns = trim_chat(messages, turns)
        asked = [*messages, {"role": "user", "content": message_html(_shown(question))}]
        history = [(t["question"], t["answer"]) for _, t in sorted(turns.items())]
        keep = gr.update()
        # On a first run the index may still be building: show how far it is, then answer.
        status = getattr(self.pipeline, "status", None)
        wait = getattr(self.pipeline, "wait", None)  # a pipeline still loading (rag.app.loading) has both
        while status is not None and wait is not None and question.strip() and not wait(WAIT_POLL_SECONDS):
            note = status_text(status(), lang) + "\n" + MESSAGES["waiting"][lang]
            yield "", [*asked, _assistant(note, lang)], turns, keep, keep, keep, keep
        try:
            stream = self.pipeline.ask_stream(question, history=history, k=int(k), backend=backend)
            messages = [*asked, _assistant("…", lang)]
            yield "", messages, turns, keep, keep, keep, keep
            partial = ""
            answer: Answer | None = None
            for item in stream:
                if isinstance(item, Answer):
                    answer = item
                    break
                partial += item
                messages = [*asked, _assistant(partial, lang)]
                yield "", messages, turns, keep, keep, keep, keep
            assert answer is not None, "the pipeline's stream ended without an Answer"
        except QuestionError as e:
            text = question_error_text(question, e, self.settings.max_question_chars)
            yield question, [*asked, _assistant(text, lang)], turns, keep, keep, keep, keep
            return
        except Exception:
            # Anything else is our fault or the backend's: log it, tell the user, keep serving.
            log.exception("answering failed for question %r", question[:200])
            yield question, [*asked, _assistant(MESSAGES["failed"][lang], lang)], turns, keep, keep, keep, keep
            return

        messages = [*asked, {"role": "assistant", "content": answer_html(answer, self.pipeline.documents)}]
        citations = [c.to_dict() for c in answer.citations]
        turn = {"question": question, "answer": answer.text, "citations": citations, "abstained": answer.abstained}
        yield (
            "",
            messages,
            {**turns, len(messages) - 1: turn},
            citations,
            sources_html(answer, self.pipeline.documents),
            _picker_update(answer.citations),
            self.article(citations[0]) if citations else "",
        )

    def article(self, citation: dict[str, Any]) -> str:
        """The cited article with the quote marked in place ("" if the article is unknown)."""
        doc = self.pipeline.documents.get(citation["doc_id"])
        return article_html(doc, citation["start"], citation["end"]) if doc else ""

    def open_article(self, choice: str | None, citations: list[dict[str, Any]]) -> str:
        """The article of the citation picked in the radio (its value is the citation's index)."""
        if choice is None or not str(choice).isdigit() or int(choice) >= len(citations):
            return ""
        return self.article(citations[int(choice)])

    def vote(
        self, turns: dict[int, dict[str, Any]], index: int, liked: bool | str, session: str = ""
    ) -> str | None:
        """Record 👍/👎 on the assistant message at ``index``; the vote written, or None if nothing was.

        Messages that are not answers (error notices) have no turn and are not recorded; a session
        votes once per answer, within the feedback log's rate limits (see ``FeedbackLog``).
        """
        vote = _VOTES.get(liked) if isinstance(liked, (bool, str)) else None
        turn = turns.get(index) if isinstance(index, int) and not isinstance(index, bool) else None
        if turn is None or vote is None:
            return None
        written = self.feedback.record(
            session, turn["question"], turn["answer"], turn["citations"], vote, answer_key=str(index),
            abstained=turn.get("abstained"),
        )
        if written is None:
            return None
        log.info("feedback %s on message %d", vote, index)
        return vote

    def on_like(self, turns: dict[int, dict[str, Any]], data: gr.LikeData, request: gr.Request) -> None:
        index = liked_message(data.index)
        if index is None:  # the page never sends this: a crafted event, ignored without a traceback
            log.info("ignored a feedback event whose index is %s", type(data.index).__name__)
            return
        session = getattr(request, "session_hash", None) or ""
        if self.vote(turns, index, data.liked, session):
            gr.Info(MESSAGES["thanks"][_language(turns[index]["question"])])

    @staticmethod
    def clear() -> tuple[Any, ...]:
        """Empty chat, state, sources, picker, article and question box."""
        return [], {}, [], empty_sources_html(), gr.update(choices=[], value=None), "", ""


def build_ui(pipeline: AnswersQuestions, *, concurrency: int = CONCURRENCY) -> gr.Blocks:
    """The chat app over ``pipeline``, queued so ``concurrency`` chats are answered at once.

    ``pipeline`` may be a ``rag.app.loading.BackgroundPipeline`` still loading: the page then
    shows its progress, and the example questions appear once it is ready.
    Launch it with ``build_ui(p).launch(**launch_options())``.
    """
    settings = pipeline.settings
    backends = settings.available_backends()
    default_backend = settings.backend if settings.backend in backends else backends[0]
    chat = ChatHandlers(pipeline)
    loading = getattr(pipeline, "status", None)

    with gr.Blocks(title="اسأل الأخبار · Ask the news", analytics_enabled=False) as demo:
        # assistant message index -> {question, answer, citations}; both dropped an hour after their last use
        turns = gr.State({}, time_to_live=SESSION_TTL_SECONDS)
        current = gr.State([], time_to_live=SESSION_TTL_SECONDS)  # citations of the answer in the sources panel
        gr.HTML(HEADER)
        status = gr.HTML(status_html(loading()) if loading else "", elem_id="status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label=LABELS["chat"],
                    height="min(560px, 62vh)",
                    layout="bubble",
                    render_markdown=False,  # messages are HTML built (and escaped) by rag.app.render
                    sanitize_html=True,
                    latex_delimiters=[],
                    allow_tags=False,
                    feedback_options=("Like", "Dislike"),
                    placeholder=(
                        '<div dir="rtl" lang="ar">اسأل عن المقالات…</div>'
                        '<div dir="ltr" lang="en">Ask about the articles…</div>'
                    ),
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder=LABELS["placeholder"],
                        lines=1,
                        max_lines=6,
                        scale=6,
                        autofocus=True,
                    )
                    send = gr.Button(LABELS["send"], variant="primary", scale=1, elem_id="send", min_width=80)
                with gr.Accordion(LABELS["more"], open=True, elem_id="more"):
                    with gr.Row():
                        k = gr.Slider(1, 10, value=settings.k, step=1, label=LABELS["k"], elem_id="k")
                        backend = gr.Dropdown(
                            backends,
                            value=default_backend,
                            label=LABELS["backend"],
                            interactive=len(backends) > 1,
                            elem_id="backend",
                        )
                        clear_btn = gr.Button(LABELS["clear"], elem_id="clear")
                    gr.HTML(f'<p class="examples-label">{LABELS["examples"]}</p>')
                    with gr.Row(elem_id="examples"):
                        first = _example_updates(_examples(pipeline))
                        example_buttons = [
                            gr.Button(**update, size="sm", elem_id=f"example-{i}") for i, update in enumerate(first)
                        ]
            with gr.Column(scale=2, min_width=320, elem_id="side"):
                sources = gr.HTML(empty_sources_html(), elem_id="sources")
                picker = gr.Radio(choices=[], label=LABELS["picker"], elem_id="article-picker")
                article = gr.HTML("", elem_id="article-view", js_on_load=SCROLL_TO_QUOTE)

        outputs = [question, chatbot, turns, current, sources, picker, article]
        inputs = [question, chatbot, turns, k, backend]
        for trigger in (question.submit, send.click):
            trigger(chat.respond, inputs, outputs, show_progress="hidden")
        for button in example_buttons:  # one tap: the example is asked
            button.click(lambda q: q, [button], [question], queue=False).then(
                chat.respond, inputs, outputs, show_progress="hidden"
            )
        picker.input(chat.open_article, [picker, current], [article], show_progress="hidden")
        chatbot.like(chat.on_like, [turns], None)
        clear_outputs = [chatbot, turns, current, sources, picker, article, question]
        clear_btn.click(chat.clear, None, clear_outputs, queue=False)
        chatbot.clear(chat.clear, None, clear_outputs, queue=False)

        if loading is not None and not loading().ready:
            timer = gr.Timer(1.0)

            def poll() -> list[Any]:
                now = loading()
                done = now.stage in ("ready", "failed")
                examples = (
                    [gr.update(**u) for u in _example_updates(_examples(pipeline))]
                    if now.ready else [gr.update()] * MAX_EXAMPLES
                )
                return [gr.Timer(active=not done), status_html(now), *examples]

            timer.tick(poll, None, [timer, status, *example_buttons], queue=False, show_progress="hidden")

    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    return demo


def _examples(pipeline: Any) -> list[str]:
    """The corpus's example questions (``example_questions``), Arabic and English interleaved; [] while
    a ``BackgroundPipeline`` is still loading."""
    loaded = pipeline.pipeline if hasattr(pipeline, "status") else pipeline
    if loaded is None:
        return []
    try:
        by_language = example_questions(loaded)
    except Exception:  # examples are a nicety; a pipeline that cannot give them still answers
        log.exception("no example questions")
        return []
    out: list[str] = []
    for row in zip_longest(*by_language.values()):
        out.extend(q for q in row if q)
    return out[:MAX_EXAMPLES]


def _example_updates(examples: list[str]) -> list[dict[str, Any]]:
    """Value, visibility and direction class of each example button slot."""
    out = []
    for i in range(MAX_EXAMPLES):
        if i < len(examples):
            direction = "rtl" if _language(examples[i]) == "ar" else "ltr"
            out.append({"value": examples[i], "visible": True, "elem_classes": ["example", direction]})
        else:
            out.append({"value": "", "visible": False, "elem_classes": ["example"]})
    return out


def trim_chat(
    messages: list[dict[str, Any]], turns: dict[int, dict[str, Any]], keep: int = MAX_MESSAGES
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The last ``keep - 2`` messages (room for the next question and answer), turns renumbered to match.

    Example: ``trim_chat([m0, m1, m2, m3], {1: t1, 3: t3}, keep=4) == ([m2, m3], {1: t3})``
    """
    messages = list(messages or [])
    drop = max(0, len(messages) - (keep - 2))
    if not drop:
        return messages, dict(turns or {})
    kept = {int(i) - drop: t for i, t in (turns or {}).items() if int(i) >= drop}
    return messages[drop:], kept


def _picker_update(citations: list[Citation]) -> dict[str, Any]:
    choices = [(label, str(i)) for i, label in enumerate(citation_labels(citations))]
    return gr.update(choices=choices, value="0" if choices else None)


def _assistant(text: str, lang: str) -> dict[str, Any]:
    return {"role": "assistant", "content": message_html(text, language=lang)}


def _language(text: str) -> str:
    return detect_language(text) if any(ch.isalpha() for ch in text) else "en"


def _shown(question: str) -> str:
    if len(question) <= SHOWN_QUESTION_CHARS:
        return question
    return question[:SHOWN_QUESTION_CHARS] + f"… (+{len(question) - SHOWN_QUESTION_CHARS:,})"
