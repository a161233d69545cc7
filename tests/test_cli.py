"""End to end: ``python -m rag ...`` as a subprocess on a temporary index built from the real seed articles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.mark.slow
def test_ask_json_arabic_and_english(index_dir: Path) -> None:
    ar = last_json(rag("ask", "ما قيمة صفقة الحوسبة السحابية بين OpenAI وأمازون؟", "--index-dir", str(index_dir),
                       "--json"))
    assert ar["language"] == "ar" and not ar["abstained"]
    assert "38" in ar["text"] and ar["citations"]
    doc = (SEEDS / ar["citations"][0]["doc_id"]).read_text(encoding="utf-8-sig")
    c = ar["citations"][0]
    assert doc[c["start"] : c["end"]] == c["quote"]  # quoted verbatim
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


@pytest.mark.slow
def test_bench_json_small(index_dir: Path) -> None:
    proc = rag("bench", "--json", "--index-dir", str(index_dir), "--ann-size", "3000", "--questions", "4",
               "--repeat", "1")
    result = last_json(proc)
    for name in ("ask_over_embed", "build_over_encode", "build_over_encode_all", "reindex_unchanged"):
        assert result[name]["value"] > 0 and "goal" in result[name], name
    assert result["ask_over_embed"]["n_questions"] == 4
    assert result["reindex_unchanged"]["embedded"] == 0
    assert result["ann"]["n"] == 3000 and result["ann"]["hnsw"]["sweep"] and result["ann"]["ivf"]["sweep"]
    assert result["startup_s"] > 0 and result["peak_rss_mb"] > 0 and result["machine"]["cores"] >= 1
    assert "ann:" in proc.stderr  # progress goes to stderr
