"""A BERT encoder in plain torch for the bundled model, so ``rag ask`` starts without sentence-transformers.

The bundled multilingual-e5-small is a BertModel with mean pooling and L2 normalization
(``rag.embed.bundled`` writes it as a sentence-transformers folder). Loading it through
sentence-transformers imports transformers and scikit-learn as well, several seconds of a
cold ``rag ask`` that buy nothing here; this module reads the same folder (``config.json``,
``model.safetensors``, ``tokenizer.json``) with torch, safetensors and tokenizers alone and
computes the same vectors (tests/embed/test_bert.py compares it with sentence-transformers).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Longest input in tokens, special tokens included (the model's position table).
MAX_TOKENS = 512
_WORDS = "embeddings.word_embeddings.weight"


class BertEncoder:
    """Mean-pooled, L2-normalized BERT embeddings from a sentence-transformers BertModel folder.

    Example: ``BertEncoder(folder).encode(["query: ما قيمة الصفقة؟"]).shape == (1, 384)``

    Args:
        folder: A folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``.
        threads: torch intra-op threads (None: torch's default).
    """

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import torch
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert":
            raise ValueError(f"{folder}: model_type {config.get('model_type')!r} is not 'bert'")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.dim = self.hidden
        # Weights may be stored in float16; they are computed in float32, converted one tensor at a
        # time. The word embedding (two thirds of the model) stays as stored: only the rows of the
        # tokens in a batch are converted, which gives the same numbers with half its memory.
        self.w = {}
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                tensor = f.get_tensor(name)
                self.w[name] = tensor if name == _WORDS else tensor.float()
        self.max_tokens = min(MAX_TOKENS, int(config["max_position_embeddings"]))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        self.pad_id = int(config.get("pad_token_id") or 0)
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, without special tokens and without truncation."""
        if not texts:
            return []
        self.tokenizer.no_truncation()
        try:
            return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        finally:
            self.tokenizer.enable_truncation(self.max_tokens)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (texts batched by length, as sentence-transformers does)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
            order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
            out = np.empty((len(texts), self.dim), np.float32)
            with self.torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    rows = order[start : start + batch_size]
                    out[rows] = self._forward([encodings[i].ids for i in rows]).numpy()
        return out

    def _forward(self, ids: list[list[int]]):
        torch = self.torch
        F = torch.nn.functional
        w = self.w
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.bool)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = True
        positions = torch.arange(width)
        h = (
            w[_WORDS][input_ids].float()
            + w["embeddings.position_embeddings.weight"][positions][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = F.layer_norm(h, (self.hidden,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        batch, head_dim = len(ids), self.hidden // self.heads
        attn_mask = mask[:, None, None, :]

        def split(x):
            return x.view(batch, width, self.heads, head_dim).transpose(1, 2)

        for n in range(self.layers):
            p = f"encoder.layer.{n}."
            q = F.linear(h, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"])
            k = F.linear(h, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"])
            v = F.linear(h, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"])
            ctx = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=attn_mask,
                                                 scale=1 / math.sqrt(head_dim))
            ctx = ctx.transpose(1, 2).reshape(batch, width, self.hidden)
            a = F.linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            h = F.layer_norm(a + h, (self.hidden,), w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], self.eps)
            f = F.gelu(F.linear(h, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            f = F.linear(f, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            h = F.layer_norm(f + h, (self.hidden,), w[p + "output.LayerNorm.weight"],
                             w[p + "output.LayerNorm.bias"], self.eps)
        m = mask[:, :, None].float()
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)
