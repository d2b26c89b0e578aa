"""A small transformer encoder with two heads: the message's intent and a BIO tag per token (slots).

Attention is written out (no nn.MultiheadAttention fast paths) so that the ONNX graph is plain
MatMul/Softmax that onnxruntime's static INT8 quantization understands.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Encoding
from torch import nn
from torch.nn import functional as F

from finfer.models.intent.labels import INTENTS
from finfer.models.intent.tokenizer import IGNORE, MAX_TOKENS, SEP_ID, TAGS, UNK_ID, Batch, padded
from finfer.models.intent.training.corpus import Example


@dataclass(frozen=True)
class EncoderShape:
    width: int = 128
    layers: int = 2
    heads: int = 4
    feed_forward: int = 256
    vocab: int = 4000
    dropout: float = 0.1


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 1e-3
    # Weight of pushing out-of-scope chit-chat towards a uniform intent distribution (low confidence).
    out_of_scope_weight: float = 0.5
    # Share of tokens replaced by [UNK] while training, so that no single character decides.
    token_dropout: float = 0.1
    seed: int = 5
    # Batches of similar length: a batch is padded to its longest message, so mixing a 6-character message
    # with a 40-character one spends most of the batch's compute on padding.
    group_by_length: bool = False


class Block(nn.Module):
    def __init__(self, shape: EncoderShape) -> None:
        super().__init__()
        self.heads = shape.heads
        self.head_width = shape.width // shape.heads
        self.norm1 = nn.LayerNorm(shape.width)
        self.qkv = nn.Linear(shape.width, 3 * shape.width)
        self.project = nn.Linear(shape.width, shape.width)
        self.norm2 = nn.LayerNorm(shape.width)
        self.feed_forward = nn.Sequential(
            nn.Linear(shape.width, shape.feed_forward),
            nn.GELU(),
            nn.Linear(shape.feed_forward, shape.width),
            nn.Dropout(shape.dropout),
        )
        self.dropout = nn.Dropout(shape.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(batch, length, 3, self.heads, self.head_width).permute(2, 0, 3, 1, 4)
        scores = qkv[0] @ qkv[1].transpose(-1, -2) * (1.0 / math.sqrt(self.head_width)) + bias
        attended = (scores.softmax(dim=-1) @ qkv[2]).transpose(1, 2).reshape(batch, length, width)
        x = x + self.dropout(self.project(attended))
        return x + self.feed_forward(self.norm2(x))


class IntentEncoder(nn.Module):
    def __init__(self, shape: EncoderShape) -> None:
        super().__init__()
        self.shape = shape
        self.tokens = nn.Embedding(shape.vocab, shape.width)
        self.positions = nn.Embedding(MAX_TOKENS, shape.width)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.layers))
        self.norm = nn.LayerNorm(shape.width)
        self.dropout = nn.Dropout(shape.dropout)
        self.intent_head = nn.Linear(shape.width, len(INTENTS))
        self.slot_head = nn.Linear(shape.width, len(TAGS))

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.dropout(self.tokens(input_ids) + self.positions(positions))
        mask = attention_mask.to(x.dtype)
        bias = ((1.0 - mask) * -1e4).unsqueeze(1).unsqueeze(1)  # B×1×1×L: padding gets no attention
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x)
        pooled = (x * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.intent_head(pooled), self.slot_head(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What is served: intent probabilities (N×12) and slot logits (N×L×5)."""
        intent, slots = self.logits(input_ids, attention_mask)
        return intent.softmax(dim=-1), slots


def cut(encodings: Sequence[Encoding]) -> Batch:
    """A training batch padded to its longest message only. Serving pads to length buckets so that Triton can
    batch requests; training gains nothing from it, and a batch of 20-token messages padded to 32 spent a third
    of its compute on padding (which the attention mask and the loss ignore)."""
    return padded(encodings, max(len(e.ids) for e in encodings))


def _tensors(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)


def batches(
    order: np.ndarray, lengths: np.ndarray, params: TrainParams, rng: np.random.Generator, pool: int = 50
) -> list[np.ndarray]:
    """The epoch's batches: `order` cut in turn, or (group_by_length) each run of `pool` batches' worth sorted by
    length, cut, and all batches shuffled, so that a batch holds messages of about one length."""
    size = params.batch_size
    if not params.group_by_length:
        return [order[first : first + size] for first in range(0, len(order), size)]
    out = []
    for start in range(0, len(order), size * pool):
        chunk = order[start : start + size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[first : first + size] for first in range(0, len(chunk), size)]
    return [out[i] for i in rng.permutation(len(out))]


def train(
    model: IntentEncoder,
    tokenizer,
    examples: Sequence[Example],
    params: TrainParams,
    progress: Callable[[str], None],
) -> list[dict[str, float]]:
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=0.01)
    steps = params.epochs * math.ceil(len(examples) / params.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, params.learning_rate, total_steps=steps, pct_start=0.1)
    history = []
    lengths = np.array([len(e.text) for e in examples])
    # Once, not every epoch: each epoch reads the same messages.
    encodings = tokenizer.encode_batch([e.text for e in examples])
    for epoch in range(1, params.epochs + 1):
        started = time.monotonic()
        model.train()
        order = rng.permutation(len(examples))
        total = 0.0
        for indexes in batches(order, lengths, params, rng):
            chosen = [examples[i] for i in indexes]
            batch = cut([encodings[i] for i in indexes])
            ids, mask = _tensors(batch)
            tags = torch.from_numpy(tag_ids(batch, chosen))
            # Only outside slot values: an [UNK] inside "15万" would teach a span that does not parse.
            dropped = (torch.rand(ids.shape) < params.token_dropout) & (ids > SEP_ID) & (tags == 0)
            ids = ids.masked_fill(dropped, UNK_ID)
            intent_logits, slot_logits = model.logits(ids, mask)
            loss = F.cross_entropy(slot_logits.reshape(-1, len(TAGS)), tags.reshape(-1), ignore_index=IGNORE)
            labels = torch.tensor([INTENTS.index(e.intent) if e.intent else IGNORE for e in chosen])
            in_scope = labels != IGNORE
            if in_scope.any():
                loss = loss + F.cross_entropy(intent_logits[in_scope], labels[in_scope])
            if (~in_scope).any():
                # Cross-entropy to the uniform distribution, less its floor log(K): 0 when uniform.
                uniform = -F.log_softmax(intent_logits[~in_scope], dim=-1).mean() - math.log(len(INTENTS))
                loss = loss + params.out_of_scope_weight * uniform
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chosen)
        history.append({"epoch": epoch, "loss": total / len(examples), "seconds": time.monotonic() - started})
        progress(
            f"[intent] epoch {epoch}/{params.epochs}: loss {history[-1]['loss']:.4f} ({history[-1]['seconds']:.0f}s)"
        )
    model.eval()
    return history


@torch.no_grad()
def predict(model: IntentEncoder, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    probabilities, slots = model(*_tensors(batch))
    return probabilities.numpy(), slots.numpy()


def to_onnx(model: IntentEncoder, input_ids: np.ndarray, attention_mask: np.ndarray, path) -> None:
    """Export with dynamic batch and token axes; the sample arrays only trace the graph."""
    model.eval()
    torch.onnx.export(
        model,
        (torch.from_numpy(input_ids), torch.from_numpy(attention_mask)),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["intent_probabilities", "slot_logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "intent_probabilities": {0: "batch"},
            "slot_logits": {0: "batch", 1: "tokens"},
        },
        opset_version=17,
        dynamo=False,
    )


def tag_ids(batch: Batch, examples: Sequence[Example]) -> np.ndarray:
    """BIO tags per token from the examples' character spans; IGNORE on padding."""
    tags = np.where(batch.attention_mask == 1, 0, IGNORE).astype(np.int64)
    for row, example in enumerate(examples):
        for start, end, slot in example.spans:
            inside = (batch.offsets[row, :, 0] >= start) & (batch.offsets[row, :, 1] <= end)
            inside &= batch.offsets[row, :, 1] > batch.offsets[row, :, 0]
            positions = np.flatnonzero(inside)
            if len(positions):
                tags[row, positions] = TAGS.index(f"I-{slot}")
                tags[row, positions[0]] = TAGS.index(f"B-{slot}")
    return tags
