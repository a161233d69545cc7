"""rag.embed.bert: the plain-torch BERT encoder against sentence-transformers on the same folder.

Both read the real materialized bundled model (fp16 weights computed in fp32); the oracle is
sentence-transformers' BertModel + mean pooling + Normalize.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embed.embedder import BundledEmbedder, SentenceTransformerEmbedder, make_embedder
from rag.ingest.chunk import split_sentences
from rag.ingest.load import load_corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def light():
    return BundledEmbedder(Settings())


def seed_texts() -> tuple[list[str], list[str]]:
    docs, _ = load_corpus(ROOT / "seeds")
    sentences = [d.text[a:b] for d in docs for a, b in split_sentences(d.text)]
    lines = (ROOT / "seeds" / "gold_qa.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    return sentences, questions


@pytest.mark.slow
def test_same_vectors_and_token_counts_as_sentence_transformers(light, embedder: SentenceTransformerEmbedder):
    sentences, questions = seed_texts()
    # Whole articles too: longer than 512 tokens, so truncation must match.
    docs, _ = load_corpus(ROOT / "seeds")
    passages = sentences[:60] + [d.text for d in docs]
    ours, theirs = light.embed_passages(passages), embedder.embed_passages(passages)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert float(np.sum(ours * theirs, axis=1).min()) >= 0.99999
    q_ours, q_theirs = light.embed_queries(questions), embedder.embed_queries(questions)
    assert float(np.sum(q_ours * q_theirs, axis=1).min()) >= 0.99999
    assert light.count_tokens(sentences) == embedder.count_tokens(sentences)
    np.testing.assert_allclose(light.embed_query(questions[0]), q_ours[0], atol=1e-5)  # batch of one


def test_make_embedder_picks_the_light_one_for_the_bundled_model_only(monkeypatch):
    built = []
    monkeypatch.setattr("rag.embed.embedder.BundledEmbedder", lambda s: built.append("light") or "light")
    monkeypatch.setattr("rag.embed.embedder.SentenceTransformerEmbedder", lambda s: built.append("st") or "st")
    assert make_embedder(Settings()) == "light"
    assert make_embedder(Settings(model="multilingual-e5-small")) == "light"
    assert make_embedder(Settings(model="/some/other/model")) == "st"


@pytest.mark.slow
def test_asking_imports_neither_sentence_transformers_nor_transformers(seed_index):
    settings, _ = seed_index
    code = (
        "import sys; from rag.cli import main; "
        f"rc = main(['ask', 'ما قيمة الصفقة؟', '--json', '--index-dir', {str(settings.index_dir)!r}]); "
        "heavy = [m for m in ('sentence_transformers', 'transformers', 'sklearn', 'gradio') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["question"] == "ما قيمة الصفقة؟"
    assert "Loading weights" not in proc.stderr and "Batches" not in proc.stderr
