"""The robustness sweep, kept true: bad articles, bad questions, damaged indexes and killed builds.

Each table row names the input and the expected outcome: skipped with its named reason, indexed
safely, refused with a clear message, or repaired by a plain ``rag index``. The real embedding
model, FAISS and BM25 are used throughout; permission cases run in a forked child that drops to
``nobody`` when the tests run as root (root reads and writes everything).
"""

from __future__ import annotations

import ast
import codecs
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import IndexMismatchError, QuestionError, UnsupportedQuestionError
from rag.index.build import build_index
from rag.index.index import Index
from rag.index.manifest import live_build, verify_build
from rag.ingest.load import MAX_DOC_BYTES, MAX_TITLE_CHARS, load_corpus
from rag.retrieve.question import NOT_ANSWERED, validate_question

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED = sorted(SEEDS.glob("*.txt"))[0]
ARTICLE = "عنوان الخبر\nأعلنت الشركة عن صفقة بقيمة 38 مليار دولار مع شركة أخرى في مدينة الرياض.\n"

# --- helpers -------------------------------------------------------------------------------------------------


def in_child(fn, *args, unprivileged: bool = True) -> tuple[str, str]:
    """Run ``fn(*args)`` in a forked child (as ``nobody`` when we are root); ``("ok", repr)`` or ``("error", msg)``."""
    codecs.lookup("utf-8-sig")  # imported now: as nobody, the child may not read the standard library
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            if unprivileged and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            try:
                out = ["ok", repr(fn(*args))]
            except BaseException as e:  # noqa: BLE001 - the parent checks what was raised
                out = ["error", f"{type(e).__name__}: {e}"]
            os.write(w, json.dumps(out).encode()[:60_000])
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while data := os.read(r, 65536):
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    return tuple(json.loads(b"".join(chunks)))


@pytest.fixture
def open_tmp():
    """A temporary folder that ``nobody`` may enter (pytest's own is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="rag-robust-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):  # give back what a test took away, so it can be removed
        if not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --- bad articles ---------------------------------------------------------------------------------------------

ONE_LINE = " ".join(["market", "deal", "كلمة", "خبر", "سوق", "alpha"] * 60_000)[:2_000_000]  # no punctuation
TINY_SENTENCES = " ".join(["Ok.", "Yes!", "No.", "نعم."] * 25_000)  # 100,000 sentences
SCRIPT = ('Zebra <script>window.__pwned=1</script> festival <img src=x onerror="window.__pwned=1">\n'
          "The zebra festival draws thousands of zebras every March <script>alert(1)</script>.\n")
BIDI = "عنوان\u202e مقلوب\u200b\nأعلنت\u2067 الشركة\u2069 عن\u200d صفقة\u200f جديدة بقيمة 12 مليار دولار.\n"

#: (file name, content or None for a special case, expected outcome, reason words when skipped)
BAD_ARTICLES = [
    ("empty.txt", b"", "skipped", "empty file"),
    ("whitespace.txt", b" \n\t\r\n  ", "skipped", "empty file"),
    ("binary.txt", b"\x00\x01\x02PK\x03\x04\x00data", "skipped", "binary file"),
    ("latin1.txt", "Café société, déjà vu.".encode("latin-1"), "skipped", "not valid UTF-8"),
    ("utf16.txt", "\ufeffخبر عاجل عن الصفقة".encode("utf-16-le"), "skipped", "UTF-16 text, not UTF-8: convert it"),
    ("utf16-no-bom.txt", "Breaking: a deal of 38 billion".encode("utf-16-le"), "skipped", "iconv -f UTF-16LE"),
    ("oversized.txt", None, "skipped", "too large"),
    ("duplicate.txt", ARTICLE.encode(), "skipped", "exact duplicate of article.txt"),
    ("script.txt", SCRIPT.encode(), "indexed", None),
    ("bidi.txt", BIDI.encode(), "indexed", None),
    ("one-line.txt", ONE_LINE.encode(), "indexed", None),
    ("tiny-sentences.txt", TINY_SENTENCES.encode(), "indexed", None),
    ("passwd-link.txt", None, "skipped", "symbolic link to /etc/passwd: not followed"),
    ("escape-link.txt", None, "skipped", "symbolic link to ../outside.txt: not followed"),
    ("unreadable.txt", None, "skipped", "unreadable (Permission denied)"),
    ("nested", None, "skipped", "subfolder: not read"),
    ("with spaces.txt", ARTICLE.replace("38", "39").encode(), "indexed", None),
    ("مقال عربي.txt", ARTICLE.replace("38", "40").encode(), "indexed", None),
    ("it's \"quoted\"; rm -rf x.txt", ARTICLE.replace("38", "41").encode(), "indexed", None),
]


def _bad_corpus(folder: Path) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir()
    corpus.chmod(0o755)
    _write(corpus, "article.txt", ARTICLE)
    _write(folder, "outside.txt", ARTICLE.replace("38", "77"))
    for name, data, _, _ in BAD_ARTICLES:
        if data is not None:
            _write(corpus, name, data)
    with open(corpus / "oversized.txt", "wb") as f:
        f.truncate(MAX_DOC_BYTES + 1)  # sparse: no 5 MB written
    (corpus / "passwd-link.txt").symlink_to("/etc/passwd")
    (corpus / "escape-link.txt").symlink_to("../outside.txt")
    _write(corpus, "unreadable.txt", ARTICLE.replace("38", "55")).chmod(0)
    (corpus / "nested").mkdir()
    _write(corpus / "nested", "inner.txt", ARTICLE.replace("38", "66"))
    for path in corpus.rglob("*"):
        if not path.is_symlink() and path.name != "unreadable.txt":
            path.chmod(0o755 if path.is_dir() else 0o644)
    return corpus


def _outcomes(corpus: Path) -> dict[str, tuple[str, str]]:
    documents, skipped = load_corpus(corpus)
    out = {d.doc_id: ("indexed", "") for d in documents}
    out.update({Path(s.path).name: ("skipped", s.reason) for s in skipped})
    return out


def test_bad_articles_table(open_tmp):
    corpus = _bad_corpus(open_tmp)
    status, text = in_child(_outcomes, corpus)
    assert status == "ok", text
    outcomes = ast.literal_eval(text)  # the dict's repr, written by the child
    for name, _, expected, words in BAD_ARTICLES:
        got, reason = outcomes[name]
        assert got == expected, f"{name}: {got} ({reason})"
        if words:
            assert words in reason, f"{name}: {reason!r}"
    assert outcomes["article.txt"] == ("indexed", "")
    assert "inner.txt" not in outcomes and "outside.txt" not in outcomes


def test_follow_symlinks_is_an_explicit_choice(open_tmp):
    corpus = _bad_corpus(open_tmp)
    documents, skipped = load_corpus(corpus, follow_symlinks=True)
    ids = {d.doc_id for d in documents}
    assert {"passwd-link.txt", "escape-link.txt"} <= ids  # followed only when asked
    documents, _ = load_corpus(corpus)
    assert not {"passwd-link.txt", "escape-link.txt"} & {d.doc_id for d in documents}


def test_an_unreadable_corpus_folder_is_a_clear_error(open_tmp):
    corpus = open_tmp / "locked"
    corpus.mkdir()
    _write(corpus, "a.txt", ARTICLE)
    corpus.chmod(0)
    status, text = in_child(load_corpus, corpus)
    assert status == "error"
    assert text.startswith("CorpusError: cannot read the corpus folder") and str(corpus) in text
    assert "Permission denied" in text and "chmod" in text


def test_pathological_articles_are_chunked_in_proportion_to_their_text(embedder):
    from rag.ingest.chunk import MIN_SENTENCE_CHARS, TINY_SENTENCES_ALLOWED, chunk_document
    from rag.ingest.load import content_hash, title_of
    from rag.types import Document

    for name, text in (("one-line.txt", ONE_LINE), ("tiny-sentences.txt", TINY_SENTENCES)):
        doc = Document(name, title_of(text), text, content_hash(text))
        assert len(doc.title) <= MAX_TITLE_CHARS
        chunks = chunk_document(doc, embedder.count_tokens, 256, 1)
        sentences = {s for c in chunks for s in c.sentences}
        # Sizes: what is stored is at most the text about twice (one sentence of overlap), plus titles.
        assert sum(len(c.text) + len(c.title) for c in chunks) <= 2.2 * len(text)
        assert len(sentences) <= len(text) / MIN_SENTENCE_CHARS + TINY_SENTENCES_ALLOWED
        assert max(embedder.count_tokens([c.text for c in chunks[:50]])) <= 256 + 8
        assert all(text[c.start:c.end] == c.text for c in chunks)


def test_a_very_long_sentence_is_indexed_without_library_warnings(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # One sentence of about 1,000 model tokens: twice the model's length (counted, then chunked).
    _write(corpus, "long.txt", "Headline\n" + " ".join(f"market{i} deal" for i in range(300)) + ".\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("TRANSFORMERS_VERBOSITY", None)
    command = [sys.executable, "-m", "rag", "index", "--corpus", str(corpus), "--index-dir", str(tmp_path / "index")]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 documents" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert all(line.startswith("building the index for 1 article(s)") for line in lines), proc.stderr[-3000:]


def test_odd_articles_are_indexed_safely_and_rendered_escaped(tmp_path, embedder):
    from rag.app.render import answer_html, article_html, sources_html
    from rag.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    for name, data, expected, _ in BAD_ARTICLES:
        if expected == "indexed" and data is not None and len(data) < 10_000:
            _write(corpus, name, data)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(settings, embedder)
    pipeline = Pipeline(settings, Index.load(settings.index_dir, settings), embedder)
    assert set(pipeline.documents) == {SEED.name, "script.txt", "bidi.txt", "with spaces.txt", "مقال عربي.txt",
                                       "it's \"quoted\"; rm -rf x.txt"}
    assert pipeline.documents["bidi.txt"].text == BIDI  # kept verbatim: offsets stay exact
    answer = pipeline.ask("When does the zebra festival take place?")
    shown = answer_html(answer) + sources_html(answer, pipeline.documents)
    for doc in pipeline.documents.values():
        shown += article_html(doc, 0, 5)
    assert "<script" not in shown and "<img" not in shown and "&lt;script&gt;" in shown
    assert "rm -rf x.txt" in shown and "it&#x27;s &quot;quoted&quot;" in shown


@pytest.mark.slow
def test_a_2mb_line_and_100k_tiny_sentences_build_and_answer(tmp_path, embedder):
    from rag.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    _write(corpus, "one-line.txt", ONE_LINE)
    _write(corpus, "tiny-sentences.txt", TINY_SENTENCES)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = build_index(settings, embedder)
    build = live_build(settings.index_dir)
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    text_bytes = sum(p.stat().st_size for p in corpus.iterdir())
    assert size < 40 * text_bytes  # vectors are 1.5 KB per 256-token chunk or sentence; was 2.85 GB
    pipeline = Pipeline(settings, Index.load(settings.index_dir, settings), embedder)
    answer = pipeline.ask("market deal alpha")
    assert len(answer.text) < 5_000 and report.documents == 3


# --- bad questions --------------------------------------------------------------------------------------------

#: (question, expected): "answered", "notice" (the bilingual notice, no quotes) or words of the error.
BAD_QUESTIONS = [
    ("😀🎉🔥", "notice"),
    ("?!... ؟؟ ---", "notice"),
    ("Quelle est la valeur de l'accord entre OpenAI et Amazon ?", "notice"),
    ("亚马逊和OpenAI的交易价值多少？", "notice"),
    ("¿Cuánto vale el acuerdo entre OpenAI y Amazon?", "notice"),
    ("Сколько стоит сделка?", "notice"),
    ("ارزش قرارداد آمازون و اوپن‌ای‌آی چقدر است؟", "notice"),
    ("12345", "notice"),
    ("<script>alert(1)</script>", "notice"),  # no letters left once the markup is set aside
    ("<img src=x onerror=alert(1)>", "notice"),
    ("&lt;script&gt;alert(document.cookie)&lt;/script&gt;", "notice"),
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("\u200b\u2067\u2069", "empty"),
    ("ما قيمة\x00 الصفقة؟", "NUL character"),
    ("x" * 2001, "too long (2,001 characters; the limit is 2,000)"),
    ("-How much is the OpenAI Amazon deal worth?", "answered"),
    ("ما قيمة\x07 الاتفاقية\x1b[0m بين OpenAI وأمازون؟", "answered"),
    ("\u202bما قيمة الاتفاقية\u200b بين OpenAI وأمازون؟\u202c", "answered"),
    ("<script>alert(1)</script> How much is the OpenAI Amazon deal worth?", "answered"),
    ("<b>ما قيمة الاتفاقية بين OpenAI وأمازون؟</b>", "answered"),
    ("How much is the OpenAI Amazon deal worth? " * 46, "answered"),  # 1,978 characters
]


@pytest.mark.parametrize("question,expected", BAD_QUESTIONS, ids=[f"q{i}" for i in range(len(BAD_QUESTIONS))])
def test_bad_questions_table(seed_pipeline, question, expected):
    if expected == "answered":
        answer = seed_pipeline.ask(question)
        assert answer.text and answer.question == validate_question(question)  # the whole text, cleaned
        return
    with pytest.raises(QuestionError) as err:
        seed_pipeline.ask(question)
    if expected == "notice":
        assert isinstance(err.value, UnsupportedQuestionError) and str(err.value) == NOT_ANSWERED
    else:
        assert expected in str(err.value)


def test_the_app_shows_the_same_notice_and_no_quotes(seed_pipeline):
    from rag.app.ui import ChatHandlers

    steps = list(ChatHandlers(seed_pipeline).respond("Combien vaut l'accord ?", [], {}, 5, "extractive"))
    question_box, messages, turns, *_ = steps[-1]
    shown = messages[-1]["content"]
    assert "بالعربية أو بالإنجليزية" in shown and "Arabic or English" in shown
    assert "«" not in shown and turns == {}
    steps = list(ChatHandlers(seed_pipeline).respond("ما\x00؟", [], {}, 5, "extractive"))
    assert "NUL" in steps[-1][1][-1]["content"]


def test_the_cli_shows_the_notice_and_takes_a_question_starting_with_a_dash(seed_pipeline, monkeypatch, capsys):
    from rag import cli
    from rag.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "load", classmethod(lambda cls, *a, **k: seed_pipeline))
    assert cli.main(["ask", "Combien vaut l'accord ?"]) == 2
    assert capsys.readouterr().err.strip() == "error: " + NOT_ANSWERED
    for argv in (["ask", "-How much is the OpenAI Amazon deal worth?"],
                 ["ask", "--json", "--", "-How much is the OpenAI Amazon deal worth?"],
                 ["ask", "-Amazon?", "--k", "3"]):
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        assert "[1]" in out or '"citations"' in out
    # No question at all is not an option parsed as one: it is `rag chat`, here over an empty pipe.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["ask"]) == 0
    assert capsys.readouterr().out == ""


# --- crafted feedback events ----------------------------------------------------------------------------------

#: ``index`` and ``liked`` of feedback events the page never sends; each is ignored, nothing recorded.
CRAFTED_FEEDBACK = [
    (None, True), ({}, True), ({"0": 1}, "Like"), ("1", True), ([], True), ([None], True), ([{}], True),
    (-1, True), (True, True), (1.0, True), (10**9, True), (1, ["Like"]), (1, {"x": 1}), (1, None), (1, "meh"),
]


def test_crafted_feedback_events_are_ignored_without_a_traceback(seed_pipeline, tmp_path, caplog):
    import logging

    import gradio as gr

    from rag.app.feedback import FeedbackLog
    from rag.app.ui import ChatHandlers

    handlers = ChatHandlers(seed_pipeline)
    handlers.feedback = FeedbackLog(tmp_path / "feedback.jsonl")
    turns = {1: {"question": "ما قيمة الصفقة؟", "answer": "…", "citations": [], "abstained": False}}
    request = type("Request", (), {"session_hash": "s"})()
    with caplog.at_level(logging.INFO, logger="rag.app.ui"):
        for index, liked in CRAFTED_FEEDBACK:
            event = gr.LikeData(None, {"index": index, "value": "x", "liked": liked})
            assert handlers.on_like(turns, event, request) is None, (index, liked)
    assert not (tmp_path / "feedback.jsonl").exists()
    assert not [r for r in caplog.records if r.exc_info]
    handlers.on_like(turns, gr.LikeData(None, {"index": [1, 0], "value": "x", "liked": True}), request)
    assert (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").count("\n") == 1  # a real one is recorded


# --- damaged indexes ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder):
    """An index over one seed article, built once; tests copy it."""
    folder = tmp_path_factory.mktemp("small")
    corpus = folder / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    build_index(settings, embedder)
    return settings


@pytest.fixture
def work(small_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(small_index.index_dir, index_dir)
    return Settings(corpus_dir=small_index.corpus_dir, index_dir=index_dir)


def _garble(path: Path) -> None:
    path.write_bytes(b"garbage" * 10)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other content: only the checksum sees it
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


#: (what is damaged, how, whether Index.load alone notices)
DAMAGES = [
    ("faiss.index", _garble, True),
    ("sentences.faiss.index", _truncate, True),
    ("chunks.jsonl", _truncate, True),
    ("vectors.npy", _flip_byte, False),
    ("sentence_vectors.npy", _garble, True),
    ("bm25/size.json", _garble, True),
    ("vocab.json", _flip_byte, True),
    ("documents.jsonl", lambda p: p.unlink(), True),
]


@pytest.mark.parametrize("name,damage,load_notices", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_plain_rag_index_rebuilds_a_damaged_build(work, embedder, name, damage, load_notices):
    from rag.pipeline import Pipeline

    build = live_build(work.index_dir)
    damage(build / name)
    assert any(name in p for p in verify_build(build, json.loads((build / "manifest.json").read_text())))
    if load_notices:
        with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
            Index.load(work.index_dir, work)
    report = build_index(work, embedder)  # plain: no --rebuild
    assert report.embedded > 0 and any(name in r for r in report.rebuilt_because)
    new = live_build(work.index_dir)
    assert new != build and not build.exists()
    assert verify_build(new, json.loads((new / "manifest.json").read_text())) == []
    answer = Pipeline(work, Index.load(work.index_dir, work), embedder).ask("ما قيمة الاتفاقية؟")
    assert answer.citations or answer.abstained
    assert build_index(work, embedder).embedded == 0  # and then it is up to date again


@pytest.mark.parametrize("current", ["", "../../etc", "/etc", "build-missing", "\x00\xff garbage", b"\xbf\xff", None],
                         ids=["empty", "parent", "absolute", "no-build", "garbage", "not-utf8", "deleted"])
def test_a_missing_or_hostile_current_is_repaired_without_reembedding(work, embedder, current):
    live = live_build(work.index_dir)
    if current is None:
        (work.index_dir / "CURRENT").unlink()
    else:
        (work.index_dir / "CURRENT").write_bytes(current if isinstance(current, bytes) else current.encode())
        with pytest.raises(IndexMismatchError, match="rag index"):  # a message, not a UnicodeDecodeError
            Index.load(work.index_dir, work)
    report = build_index(work, embedder)  # plain: CURRENT names the intact build again
    assert report.embedded == 0 and report.rebuilt_because == []
    assert len(report.repaired) == 1 and "CURRENT" in report.repaired[0] and live.name in report.repaired[0]
    assert live_build(work.index_dir) == live
    Index.load(work.index_dir, work)
    assert build_index(work, embedder).repaired == []


def test_a_current_that_is_not_utf8_is_no_traceback_for_any_index_command(work, capsys):
    from rag import cli

    index = ["index", "--corpus", str(work.corpus_dir), "--index-dir", str(work.index_dir)]
    (work.index_dir / "CURRENT").write_bytes(b"\xbf\xff")
    assert cli.main([*index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["repaired"][0].startswith("CURRENT was missing or damaged")
    (work.index_dir / "CURRENT").write_bytes(b"\xbf\xff")
    assert cli.main([*index, "--rebuild"]) == 0
    assert "repaired: CURRENT" in capsys.readouterr().out
    # With no intact build to name, the index is rebuilt (removing leftovers reads CURRENT too).
    (live_build(work.index_dir) / "manifest.json").unlink()
    (work.index_dir / "CURRENT").write_bytes(b"\xbf\xff")
    assert cli.main(index) == 0
    out = capsys.readouterr().out
    assert "rebuilt: " in out and "not the name of a build" in out
    Index.load(work.index_dir, work)


def _threshold_99(path: Path) -> None:
    from rag.answer.refusal import default_model

    data = json.loads(path.read_text(encoding="utf-8"))
    data["refusal"] = {**default_model().to_dict(), "threshold": {"ar": 99, "en": 99}}
    path.write_text(json.dumps(data), encoding="utf-8")


#: (what is done to profile.json, the damage, words of the reason shown)
PROFILE_DAMAGES = [
    ("truncated", _truncate, "profile.json was damaged ("),
    ("garbage", _garble, "profile.json was damaged (Expecting value"),
    ("a JSON list", lambda p: p.write_text("[]"), "a JSON list, not an object"),
    ("a threshold of 99", _threshold_99, "must be between 0 and 1"),
]


def _calibrate(build: Path) -> None:
    """What ``rag calibrate`` saves: a profile fitted to the corpus, in profile.json and the build's copy."""
    from rag.profile import PROFILE_FILE, Profile

    profile = Profile.load(build / PROFILE_FILE)
    profile.with_(rare_name_passages=7, calibrated_on=("gold_qa.jsonl",)).save_in_build(build)


@pytest.mark.parametrize("name,damage,reason", PROFILE_DAMAGES, ids=[d[0] for d in PROFILE_DAMAGES])
def test_plain_rag_index_restores_a_damaged_profile_from_the_calibrated_copy(work, capsys, name, damage, reason):
    from rag import cli
    from rag.profile import CALIBRATED_FILE, PROFILE_FILE

    build = live_build(work.index_dir)
    _calibrate(build)
    damage(build / PROFILE_FILE)
    with pytest.raises(IndexMismatchError, match="rag index --index-dir"):
        Index.load(work.index_dir, work)
    assert cli.main(["index", "--corpus", str(work.corpus_dir), "--index-dir", str(work.index_dir)]) == 0
    out = capsys.readouterr().out
    assert f"repaired: {reason}" in out or ("repaired: profile.json was damaged" in out and reason in out)
    assert f"restored from the build's calibrated copy ({CALIBRATED_FILE}, calibrated on gold_qa.jsonl)" in out
    assert "(0 embedded" in out and "rebuilt:" not in out
    assert live_build(work.index_dir) == build  # the same build: nothing re-embedded
    profile = Index.load(work.index_dir, work).profile
    assert profile.rare_name_passages == 7 and profile.calibrated_on == ("gold_qa.jsonl",)
    assert profile.examples  # the corpus's examples, as a build writes them
    assert build_index(work).repaired == []


@pytest.mark.parametrize("name,damage,reason", PROFILE_DAMAGES, ids=[d[0] for d in PROFILE_DAMAGES])
def test_a_damaged_profile_without_a_calibrated_copy_goes_back_to_the_defaults(work, name, damage, reason):
    from rag.profile import CALIBRATED_FILE, PROFILE_FILE, Profile

    build = live_build(work.index_dir)
    assert not (build / CALIBRATED_FILE).exists()  # never calibrated
    damage(build / PROFILE_FILE)
    report = build_index(work)  # no embedder: nothing may need one
    assert report.embedded == 0 and report.rebuilt_because == [] and live_build(work.index_dir) == build
    [note] = report.repaired
    assert reason in note and "keeps no calibrated copy, so it holds the defaults again" in note
    profile = Index.load(work.index_dir, work).profile
    assert profile == Profile(examples=profile.examples) and profile.examples


def test_a_rebuild_or_a_changed_corpus_keeps_the_calibration_of_a_damaged_profile(work, embedder, tmp_path):
    from rag.profile import CALIBRATED_FILE, PROFILE_FILE, Profile

    shutil.copytree(work.corpus_dir, tmp_path / "corpus")
    work = Settings(corpus_dir=tmp_path / "corpus", index_dir=work.index_dir)
    _calibrate(live_build(work.index_dir))
    _garble(live_build(work.index_dir) / PROFILE_FILE)
    report = build_index(work, embedder, rebuild=True)
    assert report.embedded > 0 and "restored from the build's calibrated copy" in report.repaired[0]
    build = live_build(work.index_dir)
    assert Profile.load(build / PROFILE_FILE).rare_name_passages == 7
    assert Profile.load(build / CALIBRATED_FILE).rare_name_passages == 7  # the new build keeps the copy
    _garble(build / PROFILE_FILE)
    _write(work.corpus_dir, "new.txt", ARTICLE)
    report = build_index(work, embedder)  # incremental: only the new article is embedded
    assert 0 < report.embedded < report.chunks and "calibrated copy" in report.repaired[0]
    assert Profile.load(live_build(work.index_dir) / PROFILE_FILE).rare_name_passages == 7


def test_a_damaged_calibrated_copy_is_written_again_from_profile_json(work):
    from rag.profile import CALIBRATED_FILE, Profile

    build = live_build(work.index_dir)
    _calibrate(build)
    _truncate(build / CALIBRATED_FILE)
    [note] = build_index(work).repaired
    assert note.startswith(f"{CALIBRATED_FILE} was damaged") and note.endswith("written again from profile.json")
    assert Profile.load(build / CALIBRATED_FILE).rare_name_passages == 7


def test_a_deleted_current_or_garbage_manifest_recovers(work, embedder):
    (work.index_dir / "CURRENT").unlink()
    build_index(work, embedder)
    (live_build(work.index_dir) / "manifest.json").write_text("{not json")
    report = build_index(work, embedder)
    assert report.embedded > 0
    Index.load(work.index_dir, work)


def test_leftovers_are_removed_at_the_start_of_the_next_run(work, embedder):
    live = live_build(work.index_dir)
    (work.index_dir / ".tmp-build-20250101-000000-abcdef").mkdir()
    (work.index_dir / ".tmp-build-20250101-000000-abcdef" / "vectors.npy").write_bytes(b"x" * 100)
    shutil.copytree(live, work.index_dir / "build-20000101-000000-old000")
    report = build_index(work, embedder)  # up to date: nothing embedded, leftovers still removed
    assert report.embedded == 0
    # The builds' shared word-vector cache (see rag.index.build) stays; the leftovers go.
    kept = sorted(p.name for p in work.index_dir.iterdir()
                  if not p.name.startswith(".lock") and not p.name.startswith("word_vectors-"))
    assert kept == ["CURRENT", live.name]


def test_an_index_folder_that_cannot_be_written_is_a_clear_error(work, open_tmp, embedder):
    from rag.index.build import build_index as build

    index_dir = open_tmp / "index"
    shutil.copytree(work.index_dir, index_dir)
    corpus = open_tmp / "corpus"
    shutil.copytree(work.corpus_dir, corpus)
    _write(corpus, "new.txt", ARTICLE)  # the corpus changed: the index must be written
    for path in [open_tmp, *open_tmp.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    status, text = in_child(build, settings, lambda: embedder)
    assert status == "error", text
    assert text.startswith("IndexWriteError: cannot write the index folder") and str(index_dir) in text
    assert "Permission denied" in text and "--index-dir" in text
    # With an unchanged corpus the read-only index still serves.
    (corpus / "new.txt").chmod(0o644)
    corpus.chmod(0o755)
    (corpus / "new.txt").unlink()
    corpus.chmod(0o555)
    status, text = in_child(build, settings, lambda: embedder)
    assert status == "ok", text


# --- builds killed with SIGKILL -------------------------------------------------------------------------------

_BUILDER = """
import sys, time
from rag.config import Settings
from rag.embed.embedder import SentenceTransformerEmbedder
from rag.index.build import build_index
settings = Settings(corpus_dir=sys.argv[1], index_dir=sys.argv[2])
embedder = SentenceTransformerEmbedder(settings)
print("ready", flush=True)
while True:
    t = time.perf_counter()
    build_index(settings, embedder, rebuild=True)
    print("built", time.perf_counter() - t, flush=True)
"""


def _kill_builds(work: Settings, embedder, kills: int, seed: int) -> None:
    from rag.pipeline import Pipeline

    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-c", _BUILDER, str(work.corpus_dir), str(work.index_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        line = proc.stdout.readline()  # one whole build, to know how long one takes
        assert line.startswith("built"), line
        build_seconds = time.perf_counter() - t
    finally:
        proc.kill()
        proc.wait()
    for i in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", _BUILDER, str(work.corpus_dir), str(work.index_dir)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
        assert proc.stdout.readline().strip() == "ready"
        delay = rng.uniform(0, 1.3 * build_seconds)  # anywhere in a build, the save step included
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The previous build (or the one that just finished) loads and answers.
        index = Index.load(work.index_dir, work)
        build = live_build(work.index_dir)
        assert verify_build(build, index.manifest) == [], f"kill {i} after {delay:.2f} s (seed {seed})"
        answer = Pipeline(work, index, embedder).ask("ما قيمة الاتفاقية؟")
        assert answer.text, f"kill {i} after {delay:.2f} s (seed {seed})"
    build_index(work, embedder)  # the next run removes whatever the kills left
    names = sorted(p.name for p in work.index_dir.iterdir())
    assert [n for n in names if n.startswith((".tmp-", "build-"))] == [live_build(work.index_dir).name]


def test_builds_killed_at_random_moments_leave_the_previous_index_answering(work, embedder):
    _kill_builds(work, embedder, kills=3, seed=12)


@pytest.mark.slow
def test_twenty_killed_builds(work, embedder):
    _kill_builds(work, embedder, kills=20, seed=20)
