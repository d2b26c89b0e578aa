"""The intent pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import json

import numpy as np
from tokenizers import Tokenizer

from finfer.models.intent.decode import NO_VALUE, decode
from finfer.models.intent.tokenizer import encode
from finfer.runtime.python_model import BatchedPythonModel


class IntentTokenize(BatchedPythonModel):
    """intent_tokenize: messages → token ids, attention mask and character offsets, padded to a length bucket."""

    def setup(self, version_dir, parameters, args):
        self.tokenizer = Tokenizer.from_file(str(version_dir / "tokenizer.json"))

    def compute(self, inputs):
        texts = [value.decode("utf-8") for value in inputs["text"].reshape(-1)]
        batch = encode(self.tokenizer, texts)
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "offsets": batch.offsets}


def column(values, dtype):
    return np.array(values, dtype=dtype).reshape(-1, 1)


class IntentDecode(BatchedPythonModel):
    """intent_decode: encoder outputs → intent label, confidence, amount and term (-1: none), hand-off flag."""

    def setup(self, version_dir, parameters, args):
        self.threshold = float(json.loads((version_dir / "meta.json").read_text())["threshold"])

    def compute(self, inputs):
        texts = [value.decode("utf-8") for value in inputs["text"].reshape(-1)]
        answers = decode(
            texts,
            inputs["offsets"],
            inputs["attention_mask"],
            inputs["intent_probabilities"],
            inputs["slot_logits"],
            self.threshold,
        )
        return {
            "intent": column([a.intent.encode() for a in answers], object),
            "confidence": column([a.confidence for a in answers], np.float32),
            "amount": column([NO_VALUE if a.amount is None else a.amount for a in answers], np.int64),
            "term_months": column([NO_VALUE if a.term_months is None else a.term_months for a in answers], np.int64),
            "needs_human": column([a.needs_human for a in answers], bool),
        }
