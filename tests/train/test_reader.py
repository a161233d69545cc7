"""Training the reader: pairs from a SQuAD file made in the test, a few steps whose loss falls, a file that loads."""

from __future__ import annotations

import json
import random

import pytest

from rag.answer.reader import ReaderConfig, load_reader
from rag.train.reader import TrainConfig, examples_from_squad, parse_train_spec, train_reader

CONTEXT = ("أعلنت الشركة عن صفقة جديدة. بلغت قيمة الصفقة 38 مليار دولار على مدى سبع سنوات. "
           "وقال رئيسها التنفيذي سام ألتمان إن الاتفاق مهم. وافتتحت الشركة مقرا جديدا في مدينة دبي عام 2020.")


def _squad(path):
    def answer(text):
        return [{"text": text, "answer_start": CONTEXT.index(text)}]

    qas = [
        {"id": "q1", "question": "ما قيمة الصفقة؟", "answers": answer("38 مليار دولار")},
        {"id": "q2", "question": "من هو الرئيس التنفيذي؟", "answers": answer("سام ألتمان")},
        {"id": "q3", "question": "أين افتتحت الشركة مقرها؟", "answers": answer("مدينة دبي")},
        {"id": "q4", "question": "كم عدد موظفي الشركة؟", "answers": [], "is_impossible": True},
    ]
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


def test_pairs_hold_the_answer_span_and_negatives(tmp_path):
    articles = json.loads(_squad(tmp_path / "s.json").read_text())["data"]
    pairs = examples_from_squad(articles, 2.0, 1, random.Random(0))
    positives = [p for p in pairs if p.label == 1.0]
    assert len(positives) == 3 and all(p.weight == 2.0 for p in pairs)
    for p in positives:
        assert p.span is not None and p.text[p.span[0] : p.span[1]] in CONTEXT
    assert positives[0].text[positives[0].span[0] : positives[0].span[1]] == "38 مليار دولار"
    negatives = [p for p in pairs if p.label == 0.0]
    assert len(negatives) == 4  # one per answerable question, one for the unanswerable one
    assert all("38 مليار" not in p.text for p in negatives if p.group == "q1")


def test_train_spec():
    assert parse_train_spec("a.json:2") == (__import__("pathlib").Path("a.json"), 2.0)
    assert parse_train_spec("a.json")[1] == 1.0


@pytest.mark.slow
def test_a_tiny_reader_learns_and_its_file_loads(embedder, tmp_path):
    data = _squad(tmp_path / "train.json")
    model = embedder.model
    bert, tok = model[0].auto_model, model.tokenizer
    cfg = TrainConfig(train=[(str(data), 1.0)], valid=str(data), reader=ReaderConfig(split=10), negatives=2,
                      epochs=12, batch_size=4, lr=3e-4, seed=0)
    card = train_reader(bert, tok, cfg, tmp_path / "out", tmp_path / "work", progress=False, checkpoint_every=10)
    assert card["loss_last_tenth"] < 0.7 * card["loss_first_tenth"]
    assert card["validation"]["questions"] == 3 and card["steps"] == 12 * 3  # 11 pairs, batches of 4
    reader = load_reader(bert, tok, tmp_path / "out")
    assert reader.config.split == 10
    readings = reader.read("ما قيمة الصفقة؟", ["بلغت قيمة الصفقة 38 مليار دولار على مدى سبع سنوات.",
                                               "وافتتحت الشركة مقرا جديدا في مدينة دبي عام 2020."])
    assert readings[0].score > readings[1].score
    # The same command again (as after a kill): it starts from the last checkpoint (step 30) and the cached
    # lower layers, and ends where the uninterrupted run ended.
    again = train_reader(bert, tok, cfg, tmp_path / "out2", tmp_path / "work", progress=False, checkpoint_every=10)
    assert again["steps"] == card["steps"]
    assert again["loss_last_tenth"] == pytest.approx(card["loss_last_tenth"], abs=1e-3)
