"""The baseline `finfer bench` holds the intent pipeline against: a plain FastAPI endpoint that runs the
same tokenizer, ONNX model and decoding per request, in-process, with no Triton and no batching.

`python -m finfer.loadtest.plain_intent --repository R --port P` serves POST /v1/intent.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from finfer.exporters.intent import load_served


class Message(BaseModel):
    text: str


def create_app(repository: Path) -> FastAPI:
    served = load_served(repository)
    app = FastAPI(title="plain intent baseline")

    # A sync endpoint, as most people write it: FastAPI runs it in its thread pool, and onnxruntime
    # releases the GIL, so requests use both cores.
    @app.post("/v1/intent")
    def classify(message: Message) -> dict:
        (answer,) = served.answer([message.text])
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
