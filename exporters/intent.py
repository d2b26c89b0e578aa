"""Customer-intent family: a small transformer over Chinese messages, served as `customer_intent`.

Pipeline: intent_tokenize (tokenizer.json, pad to a length bucket) → intent_encoder (ONNX: intent
probabilities + slot logits) → intent_decode (label, confidence, normalised slots, hand-off).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from tokenizers import Tokenizer

from finfer.exporters.base import Exporter, Profile, Progress, Trained, onnx_spec
from finfer.exporters.model_config import DynamicBatching, Flavour, ModelSpec, Tensor
from finfer.exporters.onnx_tools import quantize_int8, quantize_static_qdq, rows_per_second
from finfer.models.drift import psi as drift
from finfer.models.intent.decode import IntentAnswer
from finfer.models.intent.labels import INTENTS
from finfer.models.intent.tokenizer import MAX_CHARS, TAGS, Batch, encode, train_tokenizer
from finfer.models.intent.training.colloquial import COLLOQUIAL
from finfer.models.intent.training.corpus import CorpusSpec, generate
from finfer.models.intent.training.evaluation import Runner, answer_all, evaluate
from finfer.runtime.onnx_session import session_for

# Below this intent probability the answer says needs_human: a person reads the message.
THRESHOLD = 0.5
SPEED_TOKENS = 32  # the bucket most messages fall in
PRECISIONS = ("auto", "fp32", "dynamic", "static_qdq")
MAX_INT8_LOSS_POINTS = 1.0


@dataclass(frozen=True)
class IntentParams:
    corpus: CorpusSpec
    width: int
    layers: int
    heads: int
    feed_forward: int
    epochs: int
    group_by_length: bool = False


PARAMS = {
    # 10 epochs of batches grouped by length and cut to their longest message, not 12 of mixed ones padded to the
    # serving buckets: 160 s against 333 s of training here (-52%), test intent accuracy 0.918 against 0.919, slot
    # exact match 0.998 against 0.999 (docs/pipelines.md gives the runs).
    Profile.FULL: IntentParams(
        CorpusSpec(), width=192, layers=3, heads=4, feed_forward=384, epochs=10, group_by_length=True
    ),
    Profile.SMALL: IntentParams(
        CorpusSpec(per_template_train=8, per_template_eval=4), width=64, layers=1, heads=2, feed_forward=128, epochs=6
    ),
}


def colloquial_accuracy(tokenizer: Tokenizer, run: Runner) -> dict[str, float | int]:
    """Intent accuracy on the hand-written colloquial messages (models/intent/training/colloquial.py)."""
    answers = answer_all(tokenizer, run, [text for text, _ in COLLOQUIAL], THRESHOLD)
    correct = [answer.intent == intent for answer, (_, intent) in zip(answers, COLLOQUIAL, strict=True)]
    return {"messages": len(correct), "intent_accuracy": sum(correct) / len(correct)}


def onnx_runner(path: Path, threads: int = 1) -> Runner:
    """One onnxruntime session over `path`, as a Runner for `answer_all`."""
    session = session_for(path, threads)
    outputs = ["intent_probabilities", "slot_logits"]

    def run(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        probabilities, slots = session.run(
            outputs, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        )
        return probabilities, slots

    return run


@dataclass(frozen=True)
class ServedIntent:
    """The pipeline a built repository serves, run in-process: the same tokenizer, ONNX file and threshold."""

    tokenizer: Tokenizer
    run: Runner
    threshold: float

    def answer(self, texts: Sequence[str]) -> list[IntentAnswer]:
        return answer_all(self.tokenizer, self.run, texts, self.threshold)


def load_served(repository: Path, threads: int = 1) -> ServedIntent:
    card = json.loads((repository / "intent_encoder" / "metrics.json").read_text())
    onnx_file = repository / "intent_encoder" / "1" / card["int8"][card["int8"]["served"]]["file"]
    meta = json.loads((repository / "intent_decode" / "1" / "meta.json").read_text())
    tokenizer = Tokenizer.from_file(str(repository / "intent_tokenize" / "1" / "tokenizer.json"))
    return ServedIntent(tokenizer, onnx_runner(onnx_file, threads), meta["threshold"])


def drift_reference(texts: list[str], answers: list) -> bytes:
    """Held-out messages' length, and the model's answers on them: intent shares, confidence, hand-off rate."""
    outputs = {
        "intent": [a.intent for a in answers],
        "confidence": [a.confidence for a in answers],
        "needs_human": [a.needs_human for a in answers],
    }
    return drift.card({"characters": [len(t) for t in texts]}, outputs, categorical=("intent", "needs_human"))


class IntentExporter(Exporter):
    family = "intent"
    onnx_model = "intent_encoder"
    ensembles = ("customer_intent",)
    parity_tolerance = 1e-4

    def __init__(self, precision: str = "auto") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        # auto: static INT8 within MAX_INT8_LOSS_POINTS of FP32 accuracy, else FP32 (see _served).
        self.precision = precision

    def train(self, profile: Profile, progress: Progress) -> Trained:
        import torch

        from finfer.models.intent.training import model as intent_model

        params = PARAMS[profile]
        corpus = generate(params.corpus)
        progress(f"[intent] corpus: {corpus.sizes()} messages, {len(INTENTS)} intents")
        tokenizer = train_tokenizer([e.text for e in corpus.train])
        shape = intent_model.EncoderShape(
            width=params.width,
            layers=params.layers,
            heads=params.heads,
            feed_forward=params.feed_forward,
            vocab=tokenizer.get_vocab_size(),
        )
        torch.manual_seed(0)
        model = intent_model.IntentEncoder(shape)
        torch.set_num_threads(2)
        history = intent_model.train(
            model,
            tokenizer,
            corpus.train,
            intent_model.TrainParams(epochs=params.epochs, group_by_length=params.group_by_length),
            progress,
        )
        run = lambda batch: intent_model.predict(model, batch)  # noqa: E731
        answers = {
            split: answer_all(tokenizer, run, [e.text for e in part], THRESHOLD)
            for split, part in (("dev", corpus.dev), ("test", corpus.test))
        }
        quality = {
            split: evaluate(answers[split], part) for split, part in (("dev", corpus.dev), ("test", corpus.test))
        }
        quality["colloquial"] = colloquial_accuracy(tokenizer, run)
        progress(
            f"[intent] test: intent accuracy {quality['test']['intent_accuracy']:.4f}, "
            f"slot exact match {quality['test']['slot_exact_match']:.4f}; colloquial (hand-written, "
            f"{quality['colloquial']['messages']}): intent accuracy {quality['colloquial']['intent_accuracy']:.4f}"
        )
        sample = encode(tokenizer, [e.text for e in corpus.test[:64]])
        probabilities, slots = intent_model.predict(model, sample)
        tokenizer_json = tokenizer.to_str().encode()
        weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
        version = "intent-" + hashlib.sha256(tokenizer_json + weights).hexdigest()[:12]
        meta = {"model_version": version, "threshold": THRESHOLD, "max_chars": MAX_CHARS, "intents": list(INTENTS)}
        return Trained(
            model=model,
            parity_inputs={"input_ids": sample.input_ids, "attention_mask": sample.attention_mask},
            parity_expected={"intent_probabilities": probabilities, "slot_logits": slots},
            metrics={
                "trained_on": {
                    "data": "finfer's generated Chinese customer-service corpus (models/intent_corpus.py)",
                    "messages": corpus.sizes(),
                    "split": "by template: no test wording is in train",
                },
                "quality": quality,
                "threshold": THRESHOLD,
                "encoder": asdict(shape),
                "training": history,
                "tags": list(TAGS),
            },
            files={
                "intent_tokenize": {"tokenizer.json": tokenizer_json},
                "intent_decode": {
                    "meta.json": json.dumps(meta, indent=2).encode(),
                    drift.REFERENCE_FILE: drift_reference([e.text for e in corpus.test], answers["test"]),
                },
            },
            model_version=version,
            extra={"tokenizer": tokenizer, "corpus": corpus},
        )

    def to_onnx(self, trained: Trained) -> onnx.ModelProto:
        from finfer.models.intent.training.model import to_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            to_onnx(trained.model, trained.parity_inputs["input_ids"], trained.parity_inputs["attention_mask"], path)
            return onnx.load(path)

    def quantize(self, onnx_path: Path, trained: Trained, progress: Progress) -> dict[str, Any]:
        """Dynamic and static (QDQ, calibrated on dev) INT8: test accuracy and one-thread speed beside FP32."""
        tokenizer, corpus = trained.extra["tokenizer"], trained.extra["corpus"]
        variants = {"fp32": onnx_path, "dynamic": onnx_path.with_name("model.dynamic-int8.onnx")}
        variants["static_qdq"] = onnx_path.with_name("model.int8.onnx")
        quantize_int8(onnx_path, variants["dynamic"])
        calibration = []
        for first in range(0, min(len(corpus.dev), 512), 64):
            batch = encode(tokenizer, [e.text for e in corpus.dev[first : first + 64]])
            calibration.append({"input_ids": batch.input_ids, "attention_mask": batch.attention_mask})
        quantize_static_qdq(onnx_path, variants["static_qdq"], calibration)
        texts = [e.text for e in corpus.test]
        speed_batch = encode(tokenizer, [t[: SPEED_TOKENS - 2] for t in texts[:32]])
        report: dict[str, Any] = {}
        for name, path in variants.items():
            quality = evaluate(answer_all(tokenizer, onnx_runner(path), texts, THRESHOLD), corpus.test)
            speed = {}
            for rows in (1, 32):
                inputs = {
                    "input_ids": speed_batch.input_ids[:rows],
                    "attention_mask": speed_batch.attention_mask[:rows],
                }
                speed[f"rows_per_s_batch_{rows}"] = round(rows_per_second(path, inputs), 1)
            report[name] = {
                "file": path.name,
                "size_bytes": path.stat().st_size,
                "test_intent_accuracy": quality["intent_accuracy"],
                "test_slot_exact_match": quality["slot_exact_match"],
                "one_thread": speed,
            }
            progress(f"[intent] {name}: accuracy {quality['intent_accuracy']:.4f}, one thread {speed} rows/s")
        for name in ("dynamic", "static_qdq"):
            report[name]["accuracy_delta_points"] = round(
                100 * (report[name]["test_intent_accuracy"] - report["fp32"]["test_intent_accuracy"]), 2
            )
            report[name]["speedup_batch_32"] = round(
                report[name]["one_thread"]["rows_per_s_batch_32"] / report["fp32"]["one_thread"]["rows_per_s_batch_32"],
                2,
            )
        report["served"] = self._served(report)
        trained.extra["served_onnx"] = report[report["served"]]["file"]
        progress(f"[intent] serving {report['served']} ({trained.extra['served_onnx']})")
        return report

    def _served(self, report: dict[str, Any]) -> str:
        """auto: static QDQ when within the accuracy budget. Dynamic INT8 is never auto-served, even when
        faster: its activation scales come from the whole batch, so a message's answer would change with
        the messages Triton batches it with (and a cached answer would not be reproducible)."""
        if self.precision != "auto":
            return self.precision
        if report["static_qdq"]["accuracy_delta_points"] >= -MAX_INT8_LOSS_POINTS:
            return "static_qdq"
        return "fp32"

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        text = Tensor("text", "STRING", (1,))
        ids = Tensor("input_ids", "INT64", (-1,))
        mask = Tensor("attention_mask", "INT64", (-1,))
        offsets = Tensor("offsets", "INT64", (-1, 2))
        probabilities = Tensor("intent_probabilities", "FP32", (len(INTENTS),))
        slots = Tensor("slot_logits", "FP32", (-1, len(TAGS)))
        answer = (
            Tensor("intent", "STRING", (1,)),
            Tensor("confidence", "FP32", (1,)),
            Tensor("amount", "INT64", (1,)),
            Tensor("term_months", "INT64", (1,)),
            Tensor("needs_human", "BOOL", (1,)),
        )
        served = trained.extra.get("served_onnx", "model.onnx")
        encoder_options: dict[str, Any] = {
            # Requests batch only with others of the same padded length: a little wait lets buckets fill.
            "dynamic_batching": DynamicBatching(preferred_batch_size=(16, 32, 64), max_queue_delay_microseconds=500),
            "max_batch_size": 256,
        }
        if flavour is Flavour.EMBEDDED:
            encoder_options["parameters"] = (("onnx_file", served),)
        else:
            encoder_options["default_model_filename"] = served
        return [
            ModelSpec(name="intent_tokenize", inputs=(text,), outputs=(ids, mask, offsets), max_batch_size=256),
            onnx_spec("intent_encoder", (ids, mask), (probabilities, slots), flavour, **encoder_options),
            ModelSpec(
                name="intent_decode",
                inputs=(text, offsets, mask, probabilities, slots),
                outputs=answer,
                max_batch_size=256,
            ),
        ]
