"""A reading model: a cross-encoder that reads a question together with a sentence, on top of the bundled encoder.

The bundled multilingual-e5-small (``rag.embed.bundled``) embeds questions and passages one at a time. The
reader feeds a question and one candidate sentence through the same encoder *together*
(``<s> question </s> sentence </s>``), so that the upper layers can attend from the question to the sentence.
Its lower ``split`` layers are the bundled encoder's own, unchanged (shared with the embedder at inference: no
second copy in memory); only the upper layers and two small heads were trained (``rag train reader``, see
``rag.train.reader``) and are shipped beside this module (``reader.safetensors``, model card ``READER.md``):

- the answer head scores whether the sentence answers the question (a logit: ranking and refusal);
- the span head gives start and end logits per token: the short answer is the best span of the sentence.

Stages, as in Haystack's extractive reader: ``encode_pair`` (tokenize the question with each window of the
sentence, with a stride when the sentence is longer than the window) -> ``ReaderModel.forward`` ->
``best_span`` (span scores from the start and end logits, mapped back to character offsets).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rag.errors import ModelError

log = logging.getLogger(__name__)

#: The shipped weights and their card, in this package.
WEIGHTS_FILE = "reader.safetensors"
CARD_FILE = "reader.json"
#: The setting (``Settings.reader``, ``$RAG_READER``): ``off`` (the default) answers with the rules alone, ``on``
#: reads with the shipped weights, a folder loads other weights.
ENV = "RAG_READER"
OFF = ("off", "0", "false", "no")
#: Readings remembered (a few hundred questions' candidates).
MEMO = 4096


@dataclass(frozen=True)
class ReaderConfig:
    """The shape of a reader: how many of the encoder's layers are its own, and its input limits.

    Attributes:
        split: The encoder layers below this index are the bundled encoder's, frozen; those above are trained.
        max_len: Tokens of one input (question, sentence window and three special tokens).
        max_question: The question is cut to this many tokens.
        stride: Tokens shared by two windows of a long sentence.
        max_answer: The longest short answer, in tokens.
    """

    split: int = 8
    max_len: int = 128
    max_question: int = 40
    stride: int = 32
    max_answer: int = 24

    def __post_init__(self) -> None:
        if not 0 <= self.split <= 12:
            raise ValueError(f"reader split {self.split} is not between 0 and 12")
        if self.max_question + 16 > self.max_len:
            raise ValueError(f"reader max_len {self.max_len} leaves no room after a {self.max_question}-token question")
        if not 0 <= self.stride < self.max_len - self.max_question - 3:
            raise ValueError(f"reader stride {self.stride} must be below the window ({self.window} tokens)")

    @property
    def window(self) -> int:
        """Tokens of the sentence in one input."""
        return self.max_len - self.max_question - 3


@dataclass
class Pair:
    """One model input: token ids, and for each sentence token its character offsets in the sentence."""

    ids: list[int]
    text_start: int  # position of the sentence's first token in ``ids``
    offsets: list[tuple[int, int]]  # per sentence token in ``ids[text_start:]``


@dataclass(frozen=True)
class Reading:
    """What the reader made of one sentence.

    Attributes:
        score: The answer head's logit: above 0, the sentence more likely answers the question than not.
        start: The short answer's first character in the sentence (None: no span).
        end: One past its last character.
        span_score: Start plus end logit of that span.
    """

    score: float
    start: int | None = None
    end: int | None = None
    span_score: float = -math.inf


def encode_pair(tokenizer: Any, question: str, text: str, config: ReaderConfig) -> list[Pair]:
    """The inputs for one question and sentence: one per window of ``config.window`` sentence tokens, with
    ``config.stride`` tokens shared by consecutive windows (one input for an ordinary sentence).

    Example: ``len(encode_pair(tok, "متى؟", "عام 2020.", ReaderConfig())) == 1``
    """
    q = tokenizer(question, add_special_tokens=False, truncation=False)["input_ids"][: config.max_question]
    enc = tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    head = [cls_id, *q, sep_id]
    pairs = []
    step = config.window - config.stride
    for lo in range(0, max(len(ids) - config.stride, 1), step):
        hi = min(lo + config.window, len(ids))
        pairs.append(Pair([*head, *ids[lo:hi], sep_id], len(head), offsets[lo:hi]))
        if hi == len(ids):
            break
    return pairs


def batch_tensors(pairs: Sequence[Pair], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded token ids and the mask of real tokens for a batch of pairs."""
    width = max(len(p.ids) for p in pairs)
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.bool)
    for i, p in enumerate(pairs):
        ids[i, : len(p.ids)] = torch.tensor(p.ids)
        mask[i, : len(p.ids)] = True
    return ids, mask


def layer_forward(layer: Any, h: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """One BERT layer (a ``transformers`` ``BertLayer``'s weights) over ``h``, padding masked out.

    Written out so that a layer runs the same on cached lower-layer outputs in training as in the full model
    (checked against ``BertModel`` itself in the tests).
    """
    b, t, d = h.shape
    att = layer.attention.self

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, t, heads, d // heads).transpose(1, 2)

    drop = att.dropout.p if layer.training else 0.0
    ctx = nn.functional.scaled_dot_product_attention(
        split(att.query(h)), split(att.key(h)), split(att.value(h)), attn_mask=mask[:, None, None, :], dropout_p=drop
    )
    ctx = ctx.transpose(1, 2).reshape(b, t, d)
    out = layer.attention.output
    h = out.LayerNorm(out.dropout(out.dense(ctx)) + h)
    ffn = layer.output
    return ffn.LayerNorm(ffn.dropout(ffn.dense(layer.intermediate(h))) + h)


class ReaderModel(nn.Module):
    """The trained part of a reader: the upper encoder layers and the two heads.

    Args:
        upper: The encoder layers from ``config.split`` up (``BertLayer`` modules).
        hidden: The encoder's hidden size.
        heads: Its attention heads.
    """

    def __init__(self, upper: Sequence[nn.Module], hidden: int, heads: int) -> None:
        super().__init__()
        self.upper = nn.ModuleList(upper)
        self.heads = heads
        self.span = nn.Linear(hidden, 2)
        self.answer = nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From the lower layers' output to (answer logit [B], start logits [B, T], end logits [B, T])."""
        for layer in self.upper:
            h = layer_forward(layer, h, mask, self.heads)
        start, end = self.span(h).unbind(-1)
        start = start.masked_fill(~mask, -1e4)
        end = end.masked_fill(~mask, -1e4)
        # The answer head reads the mean of the tokens, as the encoder was trained to be read (its first token
        # is no summary: a head on it stayed at the prior in a 300-step run, docs/reader.md).
        keep = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.answer(pooled).squeeze(-1), start, end


def lower_forward(bert: Any, ids: torch.Tensor, mask: torch.Tensor, split: int) -> torch.Tensor:
    """The bundled encoder's embeddings and its layers below ``split`` (frozen: shared with the embedder)."""
    heads = bert.config.num_attention_heads
    h = bert.embeddings(input_ids=ids)
    for layer in bert.encoder.layer[:split]:
        h = layer_forward(layer, h, mask, heads)
    return h


def best_span(
    start: Sequence[float], end: Sequence[float], lo: int, hi: int, max_answer: int
) -> tuple[int, int, float]:
    """The token span ``(i, j)`` (inclusive) within ``[lo, hi)`` with the largest ``start[i] + end[j]``,
    ``i <= j < i + max_answer``.

    Example: ``best_span([0, 5, 0], [0, 0, 4], 0, 3, 5) == (1, 2, 9.0)``
    """
    best = (lo, lo, -math.inf)
    for i in range(lo, hi):
        for j in range(i, min(hi, i + max_answer)):
            s = start[i] + end[j]
            if s > best[2]:
                best = (i, j, float(s))
    return best


class Reader:
    """Reads candidate sentences for a question (see the module docstring).

    Args:
        bert: The bundled encoder (its embeddings and lower layers are used as they are).
        tokenizer: Its tokenizer.
        model: The trained upper layers and heads.
        config: Their shape.
        name: What the index manifest and reports call this reader (the weights' file and hash).
    """

    def __init__(self, bert: Any, tokenizer: Any, model: ReaderModel, config: ReaderConfig, name: str) -> None:
        self.bert = bert
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.config = config
        self.name = name
        # The last readings, by question and text: `rag calibrate` and `rag eval` ask a question twice.
        self._memo: OrderedDict[tuple[str, str], Reading] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, question: str, texts: Sequence[str], batch_size: int = 16) -> list[Reading]:
        """One ``Reading`` per text: its answer score and best span (the best window's, for a long text)."""
        with self._lock:
            known = {t: self._memo[(question, t)] for t in texts if (question, t) in self._memo}
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            for t, r in zip(todo, self._read(question, todo, batch_size), strict=True):
                known[t] = r
            with self._lock:
                for t in todo:
                    self._memo[(question, t)] = known[t]
                while len(self._memo) > MEMO:
                    self._memo.popitem(last=False)
        return [known[t] for t in texts]

    @torch.inference_mode()
    def _read(self, question: str, texts: Sequence[str], batch_size: int) -> list[Reading]:
        pairs: list[tuple[int, Pair]] = [(k, p) for k, t in enumerate(texts)
                                         for p in encode_pair(self.tokenizer, question, t, self.config)]
        best: list[Reading] = [Reading(-math.inf) for _ in texts]
        # Shorter inputs together: less padding.
        pairs.sort(key=lambda kp: len(kp[1].ids))
        for b in range(0, len(pairs), batch_size):
            chunk = pairs[b : b + batch_size]
            ids, mask = batch_tensors([p for _, p in chunk], self.tokenizer.pad_token_id)
            h = lower_forward(self.bert, ids, mask, self.config.split)
            score, start, end = self.model(h, mask)
            for row, (k, p) in enumerate(chunk):
                s = float(score[row])
                lo, hi = p.text_start, p.text_start + len(p.offsets)
                i, j, span_score = best_span(start[row].tolist(), end[row].tolist(), lo, hi, self.config.max_answer)
                if s > best[k].score:
                    best[k] = Reading(s, p.offsets[i - lo][0], p.offsets[j - lo][1], span_score)
        return best


# --- shipped weights --------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_reader(model: ReaderModel, config: ReaderConfig, folder: Path, card: dict[str, Any]) -> Path:
    """Write the trained layers and heads in float16 (``WEIGHTS_FILE``) and the card (``CARD_FILE``, with the
    weights' SHA-256) into ``folder``; returns the weights' path."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.chmod(tmp, 0o644)
    os.replace(tmp, weights)
    card = {**card, "config": config.__dict__, "sha256": sha256_of(weights), "bytes": weights.stat().st_size}
    (folder / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return weights


def shipped_folder() -> Path:
    """This package's folder, where the shipped weights live."""
    return Path(str(resources.files("rag.answer")))


def reader_folder(setting: str = "off") -> Path | None:
    """Where the reader's weights are: the shipped ones for ``on``, else the setting's folder; None when it is
    ``off`` (or empty) or no weights are there (the rules answer alone).

    Example: ``reader_folder("off") is None``
    """
    value = setting.strip()
    if not value or value.lower() in OFF:
        return None
    folder = shipped_folder() if value.lower() == "on" else Path(value)
    return folder if (folder / WEIGHTS_FILE).is_file() else None


def load_reader(bert: Any, tokenizer: Any, folder: Path) -> Reader:
    """The reader whose weights are in ``folder``, on top of ``bert`` (the bundled encoder, already loaded).

    Raises:
        ModelError: the card is missing or unreadable, or the weights' SHA-256 differs from the card's.
    """
    from safetensors.torch import load_file

    weights, card_path = folder / WEIGHTS_FILE, folder / CARD_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        config = ReaderConfig(**card["config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"reader card {card_path} is missing or unreadable ({e}); restore it from git "
                         f"(git checkout -- {card_path}) or set {ENV}=off") from e
    digest = sha256_of(weights)
    if digest != card.get("sha256"):
        expected = str(card.get("sha256"))[:12]
        raise ModelError(f"reader weights {weights} have SHA-256 {digest[:12]}…, not the {expected}… "
                         f"its card names: restore them (git checkout -- {weights}) or set {ENV}=off")
    import copy

    layers = [copy.deepcopy(layer) for layer in bert.encoder.layer[config.split :]]
    model = ReaderModel(layers, bert.config.hidden_size, bert.config.num_attention_heads)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"reader weights {weights} do not fit the bundled encoder ({e}); set {ENV}=off") from e
    return Reader(bert, tokenizer, model, config, f"{folder.name}/{WEIGHTS_FILE}@{digest[:12]}")


def reader_name(setting: str = "off") -> str | None:
    """What reports and the index manifest call the reader in force (its folder, file and hash from its card),
    or None when the rules answer alone."""
    folder = reader_folder(setting)
    if folder is None:
        return None
    try:
        sha = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        sha = "unknown"
    return f"{folder.name}/{WEIGHTS_FILE}@{str(sha)[:12]}"


def reader_for(settings: Any, embedder: Any) -> Reader | None:
    """The reader for a pipeline, on top of its embedder's model; None with ``RAG_READER=off``, without weights,
    or when the embedding model is not the bundled one the reader was trained on."""
    from rag.config import is_bundled

    folder = reader_folder(settings.reader)
    if folder is None:
        return None
    model = getattr(embedder, "model", None)
    if not is_bundled(settings.model) or model is None:
        log.info("no reader: it reads with the bundled encoder, and the index uses %s", settings.model)
        return None
    return load_reader(model[0].auto_model, model.tokenizer, folder)
