"""The customer_intent pipeline through the real front and Triton: answers, cache, batch, gRPC, bad input."""

from __future__ import annotations

import json

import grpc
import pytest

from finfer.exporters.intent import load_served
from finfer.models.intent.labels import INTENTS
from finfer.models.intent.tokenizer import MAX_CHARS
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.helpers import metric, post

MESSAGES = ["我想贷15万分36期买车", "提前还款有违约金吗", "转人工", "这个月逾期了能宽限几天吗", "绿本什么时候能拿到"]


def intent(front, body: object) -> tuple[int, dict]:
    return post(f"{front.http_url}/v1/intent", body)


def test_answers_equal_the_pipeline_math(front, repository):
    # The pipeline's math without Triton: the served tokenizer, ONNX file and threshold, in the test.
    expected = load_served(repository).answer(MESSAGES)
    for text, want in zip(MESSAGES, expected, strict=True):
        status, answer = intent(front, {"text": text})
        assert status == 200, answer
        assert answer["intent"] == want.intent and answer["intent"] in INTENTS
        assert answer["confidence"] == pytest.approx(want.confidence, abs=1e-5)
        assert answer["slots"] == {"amount": want.amount, "term_months": want.term_months}
        assert answer["needs_human"] == want.needs_human
        assert answer["model_version"].startswith("intent-") and answer["request_id"]


def test_needs_human_follows_the_threshold(front, repository):
    threshold = json.loads((repository / "intent_decode" / "1" / "meta.json").read_text())["threshold"]
    status, answer = post(f"{front.http_url}/v1/intent:batch", {"texts": MESSAGES + ["今天天气不错", "🚗🚗", "asdf"]})
    assert status == 200
    for result in answer["results"]:
        assert result["needs_human"] == (result["confidence"] < threshold)


def test_repeats_are_cached_and_keep_the_answer(front):
    text = "请问我的额度还剩多少，谢谢 cache-test"
    before = metric(f"{front.http_url}/metrics", "finfer_cache_lookups_total", model="intent", result="hit")
    first = intent(front, {"text": text})[1]
    second = intent(front, {"text": text})[1]
    spaced = intent(front, {"text": f"  {text} "})[1]  # another body, the same message once trimmed
    assert (first["cached"], second["cached"], spaced["cached"]) == (False, True, True)
    assert first["intent"] == second["intent"] == spaced["intent"] and first["request_id"] != second["request_id"]
    after = metric(f"{front.http_url}/metrics", "finfer_cache_lookups_total", model="intent", result="hit")
    assert after - before == 2


def test_batch_answers_in_order_like_single_requests(front):
    status, answer = post(f"{front.http_url}/v1/intent:batch", {"texts": MESSAGES})
    assert status == 200 and len(answer["results"]) == len(MESSAGES)
    for text, result in zip(MESSAGES, answer["results"], strict=True):
        single = intent(front, {"text": text})[1]
        assert (result["intent"], result["slots"]) == (single["intent"], single["slots"])
        assert result["confidence"] == pytest.approx(single["confidence"], abs=1e-5)


@pytest.mark.parametrize(
    "text", ["还款😀😀", "Hello 我想 apply loan", "ｈｏｗ ｍｕｃｈ 利息", "한국어 テスト 中文", "\t换卡\n"]
)
def test_odd_but_valid_messages_get_a_normal_answer(front, text):
    status, answer = intent(front, {"text": text})
    assert status == 200 and answer["intent"] in INTENTS and 0 <= answer["confidence"] <= 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": ""}, "text", "text: must not be empty or whitespace only"),
        ({"text": " \t\n "}, "text", "text: must not be empty or whitespace only"),
        ({"text": "字" * (MAX_CHARS + 1)}, "text", f"text: at most {MAX_CHARS} characters, got {MAX_CHARS + 1}"),
        ({"text": 42}, "text", "text: must be a string"),
        ({"text": None}, "text", "text: must be a string"),
        ({}, "text", "text: is required"),
        ({"text": "换卡", "lang": "zh"}, "lang", "lang: is not a known field"),
        (b'{"text": "\\ud800"}', "text", "text: is not valid UTF-8 text (lone surrogate)"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(front, body, field, message):
    status, answer = intent(front, body)
    assert status == 400
    assert answer["error"]["field"] == field and answer["error"]["message"] == message


def test_non_utf8_bytes_and_bad_batches(front):
    status, answer = intent(front, b'{"text": "\xff\xfe"}')
    assert status == 400 and answer["error"]["code"] == "invalid_json"
    status, answer = post(f"{front.http_url}/v1/intent:batch", {"texts": ["换卡", "  "]})
    assert status == 400 and answer["error"]["field"] == "texts[1]"
    status, answer = post(f"{front.http_url}/v1/intent:batch", {"texts": []})
    assert status == 400 and answer["error"]["field"] == "texts"
    status, answer = post(f"{front.http_url}/v1/intent:batch", {"texts": ["换卡"] * 65})
    assert status == 400 and "at most 64" in answer["error"]["message"]
    assert intent(front, {"text": "换卡"})[0] == 200  # still serving


def test_grpc_mirrors_http(front):
    with grpc.insecure_channel(front.grpc_target) as channel:
        stub = finfer_pb2_grpc.CustomerIntentStub(channel)
        for text in MESSAGES[:3]:
            answer = stub.Classify(finfer_pb2.IntentRequest(text=text), timeout=30)
            http = intent(front, {"text": text})[1]
            assert answer.intent == http["intent"] and answer.needs_human == http["needs_human"]
            assert answer.confidence == pytest.approx(http["confidence"], abs=1e-5)
            slots = {
                "amount": answer.slots.amount if answer.slots.HasField("amount") else None,
                "term_months": answer.slots.term_months if answer.slots.HasField("term_months") else None,
            }
            assert slots == http["slots"]
        batch = stub.ClassifyBatch(finfer_pb2.IntentBatchRequest(texts=MESSAGES), timeout=30)
        assert [r.intent for r in batch.results] == [intent(front, {"text": t})[1]["intent"] for t in MESSAGES]
        with pytest.raises(grpc.RpcError) as error:
            stub.Classify(finfer_pb2.IntentRequest(text="   "), timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(error.value.trailing_metadata())["finfer-error-field"] == "text"
