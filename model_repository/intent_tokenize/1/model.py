"""intent_tokenize: messages → token ids, attention mask and character offsets, padded to a length bucket."""

from tokenizers import Tokenizer

from finfer.models.intent_tokenizer import encode
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        self.tokenizer = Tokenizer.from_file(str(version_dir / "tokenizer.json"))

    def compute(self, inputs):
        texts = [value.decode("utf-8") for value in inputs["text"].reshape(-1)]
        batch = encode(self.tokenizer, texts)
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "offsets": batch.offsets}
