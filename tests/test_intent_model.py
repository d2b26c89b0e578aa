"""The intent family without a server: slot normalisers, corpus, tokenizer, decoding, ONNX parity, model card."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from finfer.exporters.onnx_tools import run_onnx
from finfer.models.intent.decode import amount_then_term, decode, slot_spans, slot_values
from finfer.models.intent.labels import INTENTS
from finfer.models.intent.slots import parse_amount, parse_term, render_amount, render_term, to_chinese
from finfer.models.intent.tokenizer import BUCKETS, MAX_TOKENS, TAGS, encode, train_tokenizer
from finfer.models.intent.training import model as intent_model
from finfer.models.intent.training.corpus import AMOUNTS, SLOT_FRAMES, TERMS, CorpusSpec, generate
from finfer.models.intent.training.model import tag_ids


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        ("15万", 150_000),
        ("二十万", 200_000),
        ("5万块", 50_000),
        ("两万", 20_000),
        ("1.5万", 15_000),
        ("1.5w", 15_000),
        ("3万5", 35_000),
        ("一万五", 15_000),
        ("十五万元", 150_000),
        ("8000元", 8_000),
        ("五千块", 5_000),
        ("三千五", 3_500),
        ("5k", 5_000),
        ("150,000", 150_000),
        ("¥2000", 2_000),
        ("万", 10_000),
        ("abc", None),
        ("", None),
        ("0元", None),
    ],
)
def test_amount_normaliser(text, yuan):
    assert parse_amount(text) == yuan


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("36期", 36),
        ("三十六期", 36),
        ("3年", 36),
        ("两年", 24),
        ("三个月", 3),
        ("12个月", 12),
        ("半年", 6),
        ("一年半", 18),
        ("6月", 6),
        ("期", None),
        ("三天", None),
        ("0期", None),
    ],
)
def test_term_normaliser(text, months):
    assert parse_term(text) == months


def test_every_rendered_form_parses_back():
    rng = random.Random(3)
    for yuan in AMOUNTS:
        for _ in range(40):
            assert parse_amount(render_amount(yuan, rng)) == yuan
    for months in TERMS:
        for _ in range(40):
            assert parse_term(render_term(months, rng)) == months
    assert [to_chinese(n) for n in (10, 15, 36, 105, 2000)] == ["十", "十五", "三十六", "一百零五", "二千"]


@pytest.fixture(scope="module")
def corpus():
    return generate(CorpusSpec(per_template_train=6, per_template_eval=3))


def test_no_template_is_shared_between_splits(corpus):
    train = {e.template for e in corpus.train}
    test = {e.template for e in corpus.test}
    dev = {e.template for e in corpus.dev}
    assert not train & test and not train & dev and not dev & test
    assert {e.intent for e in corpus.test} == {*INTENTS, None}  # every intent, and off-topic, is tested


def test_spans_hold_the_slot_values(corpus):
    with_slots = [e for e in corpus.train if e.spans]
    assert len(with_slots) > len(corpus.train) // 10
    for example in with_slots:
        for start, end, slot in example.spans:
            value = example.text[start:end]
            if slot == "amount":
                assert parse_amount(value) == example.amount
            else:
                assert parse_term(value) == example.term_months


def test_hard_slot_wordings_are_in_every_split_and_label_only_real_slots(corpus):
    """Each SLOT_FRAMES class is in every split; a ratio is never inside a slot; an amount and the term
    after it touch, and never as two bare numbers run together."""
    for kind in SLOT_FRAMES:
        assert all(any(e.frame == kind for e in part) for part in (corpus.train, corpus.dev, corpus.test)), kind
    for e in (e for e in corpus.train if e.frame == "ratio"):
        assert not any(mark in e.text[a:b] for a, b, _ in e.spans for mark in ("成", "%", "％", "百分之")), e.text
    adjacent = [e for e in corpus.train if e.frame == "amount_then_term"]
    assert adjacent and all(e.spans[0][1] == e.spans[1][0] for e in adjacent)
    assert not any(e.text[e.spans[0][1] - 1].isdigit() and e.text[e.spans[1][0]].isdigit() for e in adjacent)


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("借五万两年", (1, 4), {"amount": 50_000, "term_months": 24}),  # the tagger ran the 两 into the amount
        ("要12万3个月分期", (1, 4), {"amount": 120_000, "term_months": 3}),
        ("借5万元四十八个月", (1, 4), {"amount": 50_000, "term_months": 48}),
        ("要一万五二十四个月分期", (1, 3), {"amount": 15_000, "term_months": 24}),  # 五二十四 is no numeral
        ("首付两成", (2, 3), {"amount": None, "term_months": None}),
        ("首付能不能百分之30", (8, 10), {"amount": None, "term_months": None}),
        ("首期30％，贷10万", (2, 4), {"amount": None, "term_months": None}),
        ("贷款30万，", (2, 5), {"amount": 300_000, "term_months": None}),
    ],
)
def test_slot_values_read_the_text_around_an_amount(text, span, expected):
    assert slot_values(text, [(*span, "amount")]) == expected


def test_an_amount_followed_by_something_else_is_not_split():
    assert amount_then_term("借五万块钱", 1) is None and amount_then_term("借5万，三年", 1) is None


def test_generation_is_deterministic():
    spec = CorpusSpec(per_template_train=2, per_template_eval=1)
    assert generate(spec).test == generate(spec).test


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer([e.text for e in corpus.train])


def test_tokenizer_round_trip_and_offsets(tokenizer):
    text = "您好，我想贷15万分36期，loan APP在哪"
    encoding = tokenizer.encode(text)
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert tokenizer.decode(encoding.ids).replace(" ", "") == text.lower().replace(" ", "")
    for token, (start, end) in zip(encoding.tokens[1:-1], encoding.offsets[1:-1], strict=True):
        assert text[start:end].lower() == token.removeprefix("##")
    unknown = tokenizer.encode("🚗")
    assert unknown.tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_batches_pad_to_length_buckets(tokenizer):
    batch = encode(tokenizer, ["你好", "我" * 40])
    assert batch.input_ids.shape == (2, 64) and 64 in BUCKETS
    assert batch.attention_mask[0].sum() == 4 and batch.attention_mask[1].sum() == 42
    assert encode(tokenizer, ["字" * 1000]).input_ids.shape == (1, MAX_TOKENS)  # truncated, never wider


def test_training_batches_are_cut_to_their_longest_message(tokenizer):
    """Serving pads to a bucket; training cuts the padding off, and loses no token of any message."""
    texts = ["你好", "我想贷15万分36期"]
    batch = encode(tokenizer, texts)
    cut = intent_model.cut(tokenizer.encode_batch(texts))
    width = cut.input_ids.shape[1]
    assert batch.input_ids.shape[1] == 16 and width == int(batch.attention_mask.sum(axis=1).max()) < 16
    assert batch.attention_mask[:, width:].sum() == 0
    assert (cut.input_ids == batch.input_ids[:, :width]).all() and (cut.offsets == batch.offsets[:, :width]).all()


def test_tags_follow_spans_and_decode_back(corpus, tokenizer):
    examples = [e for e in corpus.train if len(e.spans) == 2][:50]
    batch = encode(tokenizer, [e.text for e in examples])
    tags = tag_ids(batch, examples)
    # Decode with one-hot "logits" from the gold tags: the decoder must recover the exact values.
    logits = np.eye(len(TAGS), dtype=np.float32)[np.where(tags < 0, 0, tags)]
    probabilities = np.full((len(examples), len(INTENTS)), 1 / len(INTENTS), dtype=np.float32)
    answers = decode([e.text for e in examples], batch.offsets, batch.attention_mask, probabilities, logits, 0.5)
    assert [(a.amount, a.term_months) for a in answers] == [(e.amount, e.term_months) for e in examples]
    assert all(a.needs_human for a in answers)  # 1/12 confidence is below any sane threshold


def test_slot_spans_join_inside_and_split_on_outside():
    b, i, o = TAGS.index("B-amount"), TAGS.index("I-amount"), 0
    offsets = np.array([[0, 0], [0, 2], [2, 3], [3, 4], [4, 5], [5, 6]])
    assert slot_spans(np.array([o, b, i, o, i, o]), offsets) == [(0, 3, "amount"), (4, 5, "amount")]


@pytest.mark.parametrize(("rows", "tokens"), [(1, 3), (5, 16), (2, 130)])
def test_onnx_export_matches_torch_at_any_batch_and_length(tmp_path, rows, tokens):
    torch.manual_seed(0)
    model = intent_model.IntentEncoder(
        intent_model.EncoderShape(width=32, layers=2, heads=2, feed_forward=64, vocab=50)
    )
    model.eval()
    rng = np.random.default_rng(rows)
    ids = rng.integers(4, 50, size=(rows, tokens)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[0, tokens // 2 + 1 :] = 0  # the first row is padded
    path = tmp_path / "model.onnx"
    sample = np.ones((2, 8), dtype=np.int64)
    intent_model.to_onnx(model, sample, sample, path)
    expected = intent_model.predict(model, encode_like(ids, mask))
    got = run_onnx(path, {"input_ids": ids, "attention_mask": mask})
    assert np.abs(got["intent_probabilities"] - expected[0]).max() < 1e-5
    assert np.abs(got["slot_logits"] - expected[1]).max() < 1e-4


def encode_like(ids: np.ndarray, mask: np.ndarray | None = None):
    from finfer.models.intent.tokenizer import Batch

    return Batch(ids, np.ones_like(ids) if mask is None else mask, np.zeros((*ids.shape, 2), dtype=np.int64))


def test_padding_does_not_change_the_answer(tmp_path):
    torch.manual_seed(1)
    model = intent_model.IntentEncoder(
        intent_model.EncoderShape(width=32, layers=1, heads=2, feed_forward=64, vocab=50)
    )
    ids = np.array([[2, 10, 11, 12, 3]], dtype=np.int64)
    short = intent_model.predict(model, encode_like(ids))
    padded_ids = np.pad(ids, ((0, 0), (0, 27)))
    padded = intent_model.predict(model, encode_like(padded_ids, (padded_ids > 0).astype(np.int64)))
    assert np.abs(short[0] - padded[0]).max() < 1e-5
    assert np.abs(short[1] - padded[1][:, :5]).max() < 1e-4


def test_model_card_reports_quality_parity_and_int8(repository):
    card = json.loads((repository / "intent_encoder" / "metrics.json").read_text())
    assert card["onnx"]["parity_max_abs_error"] <= card["onnx"]["parity_tolerance"]
    test = card["quality"]["test"]
    assert 0 <= test["intent_accuracy"] <= 1 and test["messages"] > 0
    assert len(test["confusion"]["rows_true_columns_predicted"]) == len(INTENTS)
    assert sum(map(sum, test["confusion"]["rows_true_columns_predicted"])) == test["messages"]
    for variant in ("dynamic", "static_qdq"):
        assert (repository / "intent_encoder" / "1" / card["int8"][variant]["file"]).exists()
        assert "accuracy_delta_points" in card["int8"][variant] and card["int8"][variant]["speedup_batch_32"] > 0
    assert (repository / "intent_tokenize" / "1" / "tokenizer.json").exists()
