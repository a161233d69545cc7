"""End to end: ``python -m rag ...`` as a subprocess on a temporary index built from the real seed articles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = SEEDS / "gold_qa.jsonl"
EVAL_KEYS = {"n", "retrieval", "answer", "citation", "abstention", "latency_ms", "by_language", "questions"}


def rag(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the CLI from the repository root, offline, and return the finished process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") or "\nerror: " in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index over the seeds built by ``rag index --json``; the second run must embed nothing."""
    folder = tmp_path_factory.mktemp("cli") / "index"
    first = last_json(rag("index", "--corpus", str(SEEDS), "--index-dir", str(folder), "--json"))
    assert first["documents"] == 5 and first["chunks"] > 0 and first["embedded"] == first["chunks"]
    second = last_json(rag("index", "--corpus", str(SEEDS), "--index-dir", str(folder), "--json"))
    assert second["embedded"] == 0 and second["reused"] == first["chunks"]
    return folder


@pytest.fixture()
def small_gold(tmp_path: Path) -> Path:
    """Six gold lines: Arabic and English, a follow-up pair, an unanswerable question."""
    wanted = {"ar-001", "ar-fu-01a", "ar-fu-01b", "en-fu-01a", "en-fu-01b", "ar-un-01"}
    lines = [line for line in GOLD.read_text(encoding="utf-8").splitlines() if json.loads(line)["id"] in wanted]
    assert len(lines) == len(wanted)
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- errors: clear message, exit code 2, no traceback (these fail before the model loads) -------------------


@pytest.mark.parametrize(
    ("question", "needle"),
    [("", "the question is empty"), ("   \n\t ", "the question is empty"), ("x" * 2001, "too long")],
    ids=["empty", "whitespace", "2001-chars"],
)
def test_ask_rejects_bad_questions(tmp_path: Path, question: str, needle: str) -> None:
    assert_clean_error(rag("ask", question, "--index-dir", str(tmp_path / "index"), "--json"), needle)


def test_ask_gives_the_bilingual_notice_for_another_language(tmp_path: Path) -> None:
    from rag.retrieve.question import NOT_ANSWERED

    proc = rag("ask", "Combien vaut l'accord ?", "--index-dir", str(tmp_path / "index"))
    assert_clean_error(proc, NOT_ANSWERED)


def test_eval_rejects_an_empty_gold_file_and_sources_missing_from_the_corpus(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    assert_clean_error(rag("eval", "--gold", str(empty), "--index-dir", str(tmp_path / "i")),
                       str(empty), "holds no question")
    lines = GOLD.read_text(encoding="utf-8").splitlines()[:3]
    bad = json.loads(lines[2])
    bad["sources"] = [*bad["sources"], "missing-article.txt"]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join([*lines[:2], json.dumps(bad, ensure_ascii=False)]) + "\n", encoding="utf-8")
    proc = rag("eval", "--gold", str(gold), "--index-dir", str(tmp_path / "i"))
    assert_clean_error(proc, "gold.jsonl line 3", '"missing-article.txt"', "not an article of the corpus",
                       "--allow-missing-sources")


def test_eval_rejects_malformed_gold_naming_line_and_field(tmp_path: Path) -> None:
    good = GOLD.read_text(encoding="utf-8").splitlines()[0]
    bad = json.loads(GOLD.read_text(encoding="utf-8").splitlines()[1])
    del bad["question"]
    gold = tmp_path / "gold.jsonl"
    gold.write_text(good + "\n" + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    proc = rag("eval", "--gold", str(gold), "--index-dir", str(tmp_path / "index"), "--json")
    assert_clean_error(proc, "gold.jsonl line 2", '"question"')
    assert not (tmp_path / "index").exists()  # validated before anything ran


def test_eval_rejects_missing_gold_and_missing_compare(tmp_path: Path) -> None:
    assert_clean_error(rag("eval", "--gold", str(tmp_path / "nope.jsonl"), "--index-dir", str(tmp_path / "i")),
                       "gold file not found")
    proc = rag("eval", "--gold", str(GOLD), "--compare", str(tmp_path / "old.json"), "--index-dir", str(tmp_path))
    assert_clean_error(proc, "report not found")


def test_bench_rejects_tiny_ann_size(tmp_path: Path) -> None:
    assert_clean_error(rag("bench", "--ann-size", "5", "--index-dir", str(tmp_path / "i")), "--ann-size")


# --- the real thing ------------------------------------------------------------------------------------------


def doc_text(doc_id: str) -> str:
    return (SEEDS / doc_id).read_text(encoding="utf-8-sig")


@pytest.mark.slow
def test_ask_json_arabic_and_english(index_dir: Path) -> None:
    ar = last_json(rag("ask", "ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "--index-dir", str(index_dir),
                       "--json"))
    assert ar["language"] == "ar" and not ar["abstained"]
    assert "38" in ar["text"] and ar["citations"]
    doc = (SEEDS / ar["citations"][0]["doc_id"]).read_text(encoding="utf-8-sig")
    c = ar["citations"][0]
    assert doc[c["start"] : c["end"]] == c["quote"]  # quoted verbatim
    short = ar["short_answer"]
    assert "38" in short["text"] and doc_text(short["doc_id"])[short["start"] : short["end"]] == short["text"]
    en = last_json(rag("ask", "How much is the cloud computing deal between OpenAI and Amazon worth?",
                       "--index-dir", str(index_dir), "--json"))
    assert en["language"] == "en" and en["citations"] and en["passages"]


@pytest.mark.slow
def test_eval_json_out_and_compare(index_dir: Path, small_gold: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = rag("eval", "--gold", str(small_gold), "--index-dir", str(index_dir), "--json", "--out", str(out))
    report = last_json(proc)
    assert EVAL_KEYS <= set(report)
    assert report["n"] == 6 and set(report["by_language"]) == {"ar", "en"}
    assert set(report["retrieval"]) == {"hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10"}
    assert set(report["abstention"]) == {"unanswerable_refused", "answerable_refused"}
    assert {q["id"] for q in report["questions"]} == {"ar-001", "ar-fu-01a", "ar-fu-01b", "en-fu-01a",
                                                      "en-fu-01b", "ar-un-01"}
    assert report["by_language"]["en"]["abstention"]["unanswerable_refused"] is None  # NaN -> null
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "metrics.png"}
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["n"] == 6

    again = rag("eval", "--gold", str(small_gold), "--index-dir", str(index_dir), "--compare",
                str(out / "report.json"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"compared with {out / 'report.json'}" in again.stdout
    assert "retrieval.hit@5" in again.stdout and "6 questions" in again.stdout


def test_calibrate_fits_reports_held_out_figures_and_saves_into_the_profile(index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from rag.index.manifest import live_build
    from rag.profile import CALIBRATED_FILE, PROFILE_FILE, Profile

    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    # A second gold file over the seeds, answered over the other (same) index: pairs FILE INDEX_DIR work.
    part = tmp_path / "part.jsonl"
    part.write_text("".join(line + "\n" for line in GOLD.read_text(encoding="utf-8").splitlines()[::2]
                            if "follows" not in json.loads(line)), encoding="utf-8")
    out, span_out = tmp_path / "model.json", tmp_path / "span.json"
    proc = rag("calibrate", "--gold", str(GOLD), "--gold", str(part), str(index_dir), "--index-dir", str(target),
               "--folds", "3", "--out", str(out), "--span-out", str(span_out), "--json")
    result = last_json(proc)
    cv = result["cross_validated"]
    assert cv["folds"] == 3 and cv["n_answerable"] + cv["n_unanswerable"] == 94 + len(part.read_text().splitlines())
    assert set(cv["by_source"]) == {str(GOLD), str(part)} and set(cv["by_language"]) == {"ar", "en"}
    assert 0 <= cv["unanswerable_refused"] <= 1 and 0 <= cv["answerable_refused"] <= 1
    profile = Profile.load(live_build(target) / PROFILE_FILE)
    assert profile.refusal is not None and profile.refusal.to_dict() == json.loads(out.read_text(encoding="utf-8"))
    assert profile.calibrated_on == (str(GOLD), str(part))
    assert Profile.load(live_build(target) / CALIBRATED_FILE) == profile  # what a damaged profile.json gets back
    # The span model is fitted on the same answers' quotes and saved beside it, with held-out figures.
    assert profile.span is not None and profile.span.to_dict() == json.loads(span_out.read_text(encoding="utf-8"))
    assert profile.span.to_dict() == result["span_model"] and profile.span.weights
    span_cv = profile.span.cross_validated
    assert span_cv["folds"] == 3 and 0 < span_cv["examples"] <= cv["n_answerable"]
    assert 0 <= span_cv["f1"] <= span_cv["upper_bound"] <= 1 and 0 <= span_cv["rule_f1"] <= span_cv["upper_bound"]
    # The quote weights are chosen first on the answerable questions, with held-out figures per gold file.
    wcv = result["quote_weights_cross_validated"]
    assert wcv["folds"] == 3 and wcv["used"] in ("chosen", "current")
    assert set(wcv["first_quote_holds"]["current"]) == {str(GOLD), str(part)}
    assert all(0 <= v <= 1 for v in wcv["first_quote_holds"]["chosen_cross_validated"].values())
    used = wcv["chosen"] if wcv["used"] == "chosen" else wcv["current"]
    assert result["quote_weights"] == asdict(profile.weights) and profile.weights.coverage == used["coverage"]
    assert Profile.load(live_build(index_dir) / PROFILE_FILE).refusal is None  # the other index is untouched
    # The next eval over the calibrated index applies the fitted thresholds.
    report = last_json(rag("eval", "--gold", str(GOLD), "--index-dir", str(target), "--json"))
    assert report["meta"]["refusal_threshold"] == profile.refusal.threshold


def test_calibrate_without_untyped_answers_keeps_the_shipped_span_model(index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from rag.answer.short import TYPED_VALUES, question_type
    from rag.index.manifest import live_build
    from rag.profile import PROFILE_FILE, Profile

    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    # Only typed questions (their values are the rules', not the span model's) and unanswerable ones.
    typed = tmp_path / "typed.jsonl"
    lines = [line for line in GOLD.read_text(encoding="utf-8").splitlines() if "follows" not in json.loads(line)
             and (not json.loads(line)["answers"] or question_type(json.loads(line)["question"]) in TYPED_VALUES)]
    typed.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    proc = rag("calibrate", "--gold", str(typed), "--index-dir", str(target), "--folds", "3")
    assert proc.returncode == 0, proc.stderr
    assert "span model not fitted" in proc.stdout and "the shipped one stays in force" in proc.stdout
    profile = Profile.load(live_build(target) / PROFILE_FILE)
    assert profile.refusal is not None and profile.span is None and profile.span_model.fitted_on  # shipped


def test_calibrate_needs_both_kinds_of_question(index_dir: Path, tmp_path: Path) -> None:
    answerable = tmp_path / "answerable.jsonl"
    answerable.write_text("".join(line + "\n" for line in GOLD.read_text(encoding="utf-8").splitlines()
                                  if json.loads(line)["answers"])[:4000].rsplit("\n", 1)[0] + "\n", encoding="utf-8")
    proc = rag("calibrate", "--gold", str(answerable), "--index-dir", str(index_dir), "--no-save")
    assert_clean_error(proc, "needs answerable and unanswerable questions")


def test_calibrate_names_a_bad_budget_before_loading_anything(index_dir: Path) -> None:
    proc = rag("calibrate", "--gold", str(GOLD), "--index-dir", str(index_dir), "--no-save",
               "--max-answerable-refused", "en=lots")
    assert_clean_error(proc, "--max-answerable-refused: max answerable refused for en: 'lots' is not a number")


@pytest.mark.slow
def test_bench_json_small(index_dir: Path) -> None:
    proc = rag("bench", "--json", "--index-dir", str(index_dir), "--ann-size", "3000", "--questions", "4",
               "--repeat", "1", "--scaling-sizes", "none")
    result = last_json(proc)
    for name in ("ask_over_embed", "build_over_encode", "build_over_encode_all", "reindex_unchanged"):
        assert result[name]["value"] > 0 and "goal" in result[name], name
    assert result["ask_over_embed"]["n_questions"] == 4
    assert result["reindex_unchanged"]["embedded"] == 0
    assert result["ann"]["n"] == 3000 and result["ann"]["hnsw"]["sweep"] and result["ann"]["ivf"]["sweep"]
    assert result["startup_s"] > 0 and result["peak_rss_mb"] > 0 and result["machine"]["cores"] >= 1
    assert "ann:" in proc.stderr  # progress goes to stderr
    assert result["cold_ask"]["cold_ask_s"] > 0 and result["cold_ask"]["reference_s"] > 0


# --- many questions, one process -------------------------------------------------------------------------------


def rag_input(*args: str, stdin: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_chat_from_a_pipe_answers_each_line_as_json_lines(index_dir: Path) -> None:
    questions = ["ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "", "How long does the deal last?",
                 "x" * 2001, "كم موظفًا سرّحت أمازون؟"]
    proc = rag_input("chat", "--index-dir", str(index_dir), "--json", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 1, proc.stderr[-2000:]  # one question was rejected; the others answered
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [x["question"] for x in lines] == [q for q in questions if q]
    assert "too long" in lines[2]["error"]
    answered = [lines[i] for i in (0, 1, 3)]
    assert [a["language"] for a in answered] == ["ar", "en", "ar"] and all(a["citations"] for a in answered)
    assert "38" in answered[0]["text"]
    assert "Loading weights" not in proc.stderr and "Batches" not in proc.stderr


@pytest.mark.slow
def test_chat_from_a_pipe_keeps_the_conversation_until_a_blank_line(index_dir: Path) -> None:
    """The issue's first conversation: the follow-up is asked as a duration question about the deal (its
    short answer is the duration, not the value again); after a blank line the same words start afresh."""
    lines = ["ما قيمة صفقة أمازون مع OpenAI؟", "وكم مدتها؟", "", "وكم مدتها؟"]
    proc = rag_input("chat", "--index-dir", str(index_dir), "--json", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, follow, fresh = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["short_answer"]["text"] == "38 مليار دولار" and first["resolved_question"] == ""
    assert follow["resolved_question"] == "كم مدة صفقة أمازون مع OpenAI؟"
    assert follow["short_answer"]["text"] == "سبع سنوات"
    assert fresh["question"] == "وكم مدتها؟" and fresh["resolved_question"] == ""
    text = rag_input("chat", "--index-dir", str(index_dir), stdin="\n".join(lines[:2]) + "\n")
    assert text.returncode == 0 and "فُهم السؤال على أنه: كم مدة صفقة أمازون مع OpenAI؟" in text.stdout


@pytest.mark.slow
def test_ask_without_a_question_reads_text_from_a_pipe(index_dir: Path) -> None:
    proc = rag_input("ask", "--index-dir", str(index_dir), stdin="ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("? ما قيمة") and "[1]" in proc.stdout and "38" in proc.stdout


@pytest.mark.slow
def test_chat_on_a_terminal_answers_three_questions_with_commands(index_dir: Path, tmp_path: Path) -> None:
    """A real pseudo-terminal: the prompt, three questions (one a follow-up), /sources, /json, /quit."""
    import pty
    import select
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAG_CACHE_DIR":
           os.environ.get("RAG_CACHE_DIR", str(Path.home() / ".cache" / "rag-news")), "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal
        os.chdir(ROOT)
        os.execvpe(sys.executable, [sys.executable, "-m", "rag", "chat", "--index-dir", str(index_dir)], env)
    out = b""

    def read_until(needle: bytes, timeout: float = 600) -> bytes:
        nonlocal out
        deadline = time.monotonic() + timeout
        while needle not in out:
            assert time.monotonic() < deadline, f"no {needle!r} in {out[-2000:]!r}"
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return out

    try:
        read_until(b"? ")
        questions = ["ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "وما مدتها؟",
                     "How many employees did Amazon lay off?"]
        answers = []
        for q in questions:
            start = len(out)
            os.write(fd, q.encode() + b"\n")
            deadline = time.monotonic() + 600
            while b"\n? " not in out[start:]:  # the next prompt: the answer is complete
                assert time.monotonic() < deadline, f"no answer to {q!r}: {out[start:][-2000:]!r}"
                ready, _, _ = select.select([fd], [], [], 1)
                if ready:
                    out += os.read(fd, 65536)
            answers.append(out[start:])
        os.write(fd, b"/sources\n")
        read_until(b"chars ")
        os.write(fd, b"/json\n")
        read_until(b"output is now JSON")
        os.write(fd, b"/quit\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.WEXITSTATUS(status) == 0
    text = out.decode("utf-8", "replace")
    assert "loading the model and the index" in text and "Commands: /sources" in text
    assert "38" in answers[0].decode("utf-8", "replace") and "«" in text
    assert all(b"[1]" in a or "لم أجد".encode() in a or b"did not find" in a for a in answers)


@pytest.mark.slow
def test_index_says_it_is_building_and_hides_the_libraries_bars(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SEEDS.glob("*.txt"))[:2]:
        (corpus / path.name).write_bytes(path.read_bytes())
    proc = rag("index", "--corpus", str(corpus), "--index-dir", str(tmp_path / "index"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"building the index for 2 article(s) from {corpus}" in proc.stderr
    assert "Loading weights" not in proc.stderr and "Batches" not in proc.stderr
    assert "2 documents" in proc.stdout


@pytest.mark.slow
def test_a_squad2_file_with_one_entry_per_question_imports_indexes_and_evaluates(tmp_path: Path) -> None:
    """Repeated titles and paragraphs become one article each (the indexer skips none, so ``rag eval`` finds
    every source), and the report gives refusals of both kinds of unanswerable question apart."""
    paragraphs = {
        "القاهرة": "القاهرة عاصمة مصر وأكبر مدنها. يبلغ عدد سكانها نحو عشرين مليون نسمة.",
        "النيل": "نهر النيل أطول أنهار أفريقيا. يصب النيل في البحر المتوسط شمال مصر.",
        "الأهرام": "بنيت أهرامات الجيزة في عهد الأسرة الرابعة. أكبرها هرم خوفو.",
    }
    questions = {
        "القاهرة": [("ما عاصمة مصر؟", "القاهرة"), ("كم عدد سكان القاهرة؟", "عشرين مليون نسمة"),
                    ("من أسس القاهرة؟", None)],
        "النيل": [("أين يصب النيل؟", "البحر المتوسط"), ("كم يبلغ طول النيل بالكيلومترات؟", None)],
        "الأهرام": [("ما أكبر أهرامات الجيزة؟", "هرم خوفو"), ("كم عاملا بنى الهرم؟", None)],
    }
    entries = []
    for title, qas in questions.items():
        context = paragraphs[title]
        for n, (question, answer) in enumerate(qas):
            answers = [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]
            qa = {"id": f"{title}-{n}", "question": question, "answers": answers, "is_impossible": answer is None}
            entries.append({"title": title, "paragraphs": [{"context": context, "qas": [qa]}]})
    squad = tmp_path / "flat.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": entries}, ensure_ascii=False), encoding="utf-8")
    corpus, gold = tmp_path / "corpus", tmp_path / "gold.jsonl"
    counts = last_json(rag("gold", "import", str(squad), "--corpus-out", str(corpus), "--gold-out", str(gold),
                           "--hold-out-articles", "1", "--json"))
    assert (counts["articles"], counts["held_out_articles"], counts["questions"]) == (2, 1, 7)
    assert counts["merged_articles"] == 4 and counts["merged_paragraphs"] == 4
    kinds = counts["unanswerable_by_kind"]
    assert kinds["paragraph"] == 2 and kinds["article"] >= 2

    proc = rag("eval", "--gold", str(gold), "--corpus", str(corpus), "--index-dir", str(tmp_path / "index"), "--json")
    report = last_json(proc)
    assert "not an article of the corpus" not in proc.stderr and "duplicate" not in proc.stderr
    assert report["n"] == 7 and report["n_unanswerable"] == kinds["article"] + kinds["paragraph"]
    abstention = report["abstention"]
    assert {"unanswerable_refused_article", "unanswerable_refused_paragraph"} <= set(abstention)
    by_question = {q["id"]: q for q in report["questions"]}
    refused = [by_question[i]["abstained"] for i in by_question if by_question[i]["unanswerable"] == "paragraph"]
    assert abstention["unanswerable_refused_paragraph"] == sum(refused) / len(refused)


def test_feedback_export_writes_draft_gold_lines(tmp_path: Path) -> None:
    from rag.app.feedback import append_feedback
    from rag.eval.gold import load_gold

    text = (SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0]).read_text(encoding="utf-8-sig")
    quote = text.splitlines()[0]
    citation = {"n": 1, "doc_id": "000.txt", "title": "t", "quote": quote, "start": 0, "end": len(quote),
                "score": 1.0, "chunk_id": "000.txt#0"}
    feedback = tmp_path / "index" / "feedback.jsonl"  # the default place: inside the index folder
    append_feedback(feedback, "ما قيمة الصفقة؟", "«…» [1]", [citation], "up", abstained=False)
    append_feedback(feedback, "And then?", "«…» [1]", [citation], "down")
    out = tmp_path / "drafts.jsonl"
    proc = rag("feedback", "export", "--gold-out", str(out), "--index-dir", str(tmp_path / "index"))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1 draft gold line(s)" in proc.stdout and "1 skipped" in proc.stdout
    [item] = load_gold(out)
    assert item.question == "ما قيمة الصفقة؟" and item.evidence == (quote,)
    missing = rag("feedback", "export", "--gold-out", str(out), "--feedback", str(tmp_path / "none.jsonl"))
    assert_clean_error(missing, "no feedback file yet")


@pytest.mark.slow
def test_asking_imports_neither_gradio_nor_the_app(seed_index):
    settings, _ = seed_index
    code = (
        "import sys; from rag.cli import main; "
        f"rc = main(['ask', 'ما قيمة الصفقة؟', '--json', '--index-dir', {str(settings.index_dir)!r}]); "
        "heavy = [m for m in ('gradio', 'rag.app.ui', 'matplotlib') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["question"] == "ما قيمة الصفقة؟"
    assert "Loading weights" not in proc.stderr and "Batches" not in proc.stderr


@pytest.mark.slow
def test_index_and_ask_with_milvus(index_dir: Path, tmp_path: Path) -> None:
    """``rag index --store milvus`` (Milvus Lite) then ``rag ask``, ``--doc`` included."""
    pytest.importorskip("pymilvus", reason='the Milvus extra is not installed: pip install -e ".[milvus]"')
    import shutil

    folder = tmp_path / "index"
    shutil.copytree(index_dir, folder)  # a change of store alone re-embeds nothing
    built = last_json(rag("index", "--corpus", str(SEEDS), "--index-dir", str(folder), "--store", "milvus", "--json"))
    assert built["embedded"] == 0 and built["chunks"] > 0 and (folder / "milvus.db").exists()
    ar = last_json(rag("ask", "ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "--index-dir", str(folder),
                       "--store", "milvus", "--json"))
    assert "38" in ar["text"] and ar["citations"]
    only = "003_f8e4331a40e82c09.txt"
    one = last_json(rag("ask", "ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "--index-dir", str(folder),
                        "--store", "milvus", "--doc", only, "--json"))
    assert one["passages"] and {p["chunk"]["doc_id"] for p in one["passages"]} == {only}
    assert_clean_error(rag("ask", "سؤال؟", "--index-dir", str(folder), "--store", "milvus",
                           "--milvus-uri", "http://127.0.0.1:9"), "http://127.0.0.1:9")
