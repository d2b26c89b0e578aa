"""The baseline `finfer bench` holds the intent pipeline against: a plain FastAPI endpoint that runs the
same tokenizer, ONNX model and decoding per request, in-process, with no Triton and no batching.

`python -m finfer.loadtest.plain_intent --repository R --port P` serves POST /v1/intent.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel
from tokenizers import Tokenizer

from finfer.models.intent_decode import decode
from finfer.models.intent_tokenizer import encode


class Message(BaseModel):
    text: str


def served_onnx(repository: Path) -> Path:
    card = json.loads((repository / "intent_encoder" / "metrics.json").read_text())
    return repository / "intent_encoder" / "1" / card["int8"][card["int8"]["served"]]["file"]


def create_app(repository: Path) -> FastAPI:
    meta = json.loads((repository / "intent_decode" / "1" / "meta.json").read_text())
    tokenizer = Tokenizer.from_file(str(repository / "intent_tokenize" / "1" / "tokenizer.json"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(served_onnx(repository)), options, providers=["CPUExecutionProvider"])
    app = FastAPI(title="plain intent baseline")

    # A sync endpoint, as most people write it: FastAPI runs it in its thread pool, and onnxruntime
    # releases the GIL, so requests use both cores.
    @app.post("/v1/intent")
    def classify(message: Message) -> dict:
        batch = encode(tokenizer, [message.text])
        probabilities, slots = session.run(
            ["intent_probabilities", "slot_logits"],
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
        )
        (answer,) = decode([message.text], batch.offsets, batch.attention_mask, probabilities, slots, meta["threshold"])
        return {
            "intent": answer.intent,
            "confidence": answer.confidence,
            "slots": {"amount": answer.amount, "term_months": answer.term_months},
            "needs_human": answer.needs_human,
        }

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.repository), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
