"""The reading model: its layers against BertModel, span decoding against brute force, windows, shipped weights."""

from __future__ import annotations

import copy
import itertools
import random

import pytest
import torch

from rag.answer.reader import (
    CARD_FILE,
    WEIGHTS_FILE,
    Reader,
    ReaderConfig,
    ReaderModel,
    best_span,
    encode_pair,
    load_reader,
    lower_forward,
    reader_folder,
    reader_name,
    save_reader,
    shipped_folder,
)
from rag.config import Settings
from rag.errors import ModelError


@pytest.fixture(scope="module")
def bert_and_tokenizer(embedder):
    model = embedder.model
    return model[0].auto_model, model.tokenizer


def _model(bert, split: int = 10) -> ReaderModel:
    torch.manual_seed(0)
    layers = [copy.deepcopy(layer) for layer in bert.encoder.layer[split:]]
    return ReaderModel(layers, bert.config.hidden_size, bert.config.num_attention_heads)


def test_layers_written_out_equal_bert_model(bert_and_tokenizer):
    bert, tok = bert_and_tokenizer
    enc = tok(["ما قيمة الصفقة؟ بلغت قيمة الصفقة 38 مليار دولار.", "short"], padding=True, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    with torch.inference_mode():
        ref = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        ours = lower_forward(bert, enc["input_ids"], mask, bert.config.num_hidden_layers)
    assert torch.allclose(ref[mask], ours[mask], atol=1e-4)


def test_best_span_is_the_brute_force_maximum():
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(1, 12)
        start = [rng.uniform(-3, 3) for _ in range(n)]
        end = [rng.uniform(-3, 3) for _ in range(n)]
        lo, hi, longest = rng.randint(0, n - 1), n, rng.randint(1, 4)
        brute = max(((i, j, start[i] + end[j]) for i, j in itertools.product(range(lo, hi), repeat=2)
                     if i <= j < i + longest), key=lambda t: t[2])
        assert best_span(start, end, lo, hi, longest) == pytest.approx(brute)
    assert best_span([0, 5, 0], [0, 0, 4], 0, 3, 5) == (1, 2, 9.0)


def test_a_long_sentence_is_read_in_overlapping_windows(bert_and_tokenizer):
    _, tok = bert_and_tokenizer
    config = ReaderConfig(max_len=64, max_question=16, stride=8)
    text = " ".join(f"كلمة{i}" for i in range(120))
    pairs = encode_pair(tok, "ما هي الكلمة؟", text, config)
    assert len(pairs) > 1
    covered = sorted({o for p in pairs for o in p.offsets})
    all_tokens = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert covered == sorted({tuple(o) for o in all_tokens})
    for p in pairs:
        assert len(p.ids) <= config.max_len
        assert p.ids[0] == tok.cls_token_id and p.ids[-1] == tok.sep_token_id
    # consecutive windows share `stride` tokens
    assert pairs[0].offsets[-config.stride:] == pairs[1].offsets[: config.stride]


def test_saved_weights_load_and_read_the_same(bert_and_tokenizer, tmp_path):
    bert, tok = bert_and_tokenizer
    config = ReaderConfig(split=10)
    model = _model(bert)
    save_reader(model, config, tmp_path, {"note": "test"})
    loaded = load_reader(bert, tok, tmp_path)
    fresh = Reader(bert, tok, model, config, "fresh")
    texts = ["بلغت قيمة الصفقة 38 مليار دولار على مدى سبع سنوات.", "قال المتحدث إن الشركة ستوسع أعمالها."]
    a, b = fresh.read("ما قيمة الصفقة؟", texts), loaded.read("ما قيمة الصفقة؟", texts)
    for x, y in zip(a, b, strict=True):
        assert x.score == pytest.approx(y.score, abs=0.05)  # weights stored in float16
        assert x.start is not None and 0 <= x.start < x.end <= len(texts[0]) + len(texts[1])
    assert loaded.name.endswith(WEIGHTS_FILE + "@" + __import__("json").loads(
        (tmp_path / CARD_FILE).read_text())["sha256"][:12])


def test_damaged_weights_are_refused_with_what_to_do(bert_and_tokenizer, tmp_path):
    bert, tok = bert_and_tokenizer
    save_reader(_model(bert), ReaderConfig(split=10), tmp_path, {})
    with open(tmp_path / WEIGHTS_FILE, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="SHA-256.*RAG_READER=off"):
        load_reader(bert, tok, tmp_path)
    (tmp_path / CARD_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="card"):
        load_reader(bert, tok, tmp_path)


def test_reader_off_or_missing_means_the_rules(tmp_path):
    assert reader_folder("off") is None and reader_folder("OFF ") is None and reader_folder("") is None
    assert reader_name("off") is None and Settings().reader == "off"  # the rules answer by default
    assert reader_folder(str(tmp_path)) is None  # no weights there
    assert Settings.from_env({"RAG_READER": "on"}).reader == "on"
    assert reader_folder("on") == shipped_folder()  # the shipped weights are in the repository
    assert (reader_name("on") or "").startswith("answer/reader.safetensors@")
