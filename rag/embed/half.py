"""Load the bundled model in float16 and compute in float32, its word-embedding table staying float16.

The bundled model's weights are stored in float16 (``rag.embed.bundled.STORED_DTYPE``). Loading them as
float32 makes a 470 MB model, most of it the 250,037 × 384 word-embedding table. Loaded as float16,
every layer but that table is then cast to float32 (exact), and the table is looked up in float16 and
its rows cast to float32 (exact too): the vectors are bit for bit the same, and a loaded model takes
937 MB of process memory instead of 1,280 MB (peak 1,329 MB), measured after ``import torch``.
"""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer


class HalfEmbedding(torch.nn.Module):
    """An embedding table held in float16, looked up in float32."""

    def __init__(self, weight16: torch.Tensor, padding_idx: int | None = None) -> None:
        super().__init__()
        self.weight16: torch.Tensor
        self.register_buffer("weight16", weight16, persistent=False)
        self.padding_idx = padding_idx

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self.weight16, self.padding_idx).float()


def load_float16_stored(folder: str, device: str = "cpu") -> SentenceTransformer:
    """A sentence-transformers BERT model whose weights are float16 on disk, computing in float32.

    Example: ``load_float16_stored(folder).encode(texts)`` equals ``SentenceTransformer(folder).encode(texts)``.
    """
    model = SentenceTransformer(folder, device=device, model_kwargs={"dtype": torch.float16})
    bert: Any = model[0].auto_model
    table: torch.nn.Embedding = bert.embeddings.word_embeddings
    bert.embeddings.word_embeddings = torch.nn.Identity()  # kept out of the cast to float32
    bert.float()
    bert.embeddings.word_embeddings = HalfEmbedding(table.weight.detach(), table.padding_idx)
    return model
