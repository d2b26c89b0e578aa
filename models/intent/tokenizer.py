"""The intent model's tokenizer (Hugging Face `tokenizers`): one token per Chinese character, WordPiece for
Latin words and numbers; padding to length buckets so that Triton can batch requests of similar length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

MAX_CHARS = 256  # the front rejects longer messages; a character is at most one token
MAX_TOKENS = MAX_CHARS + 2  # [CLS] … [SEP]
BUCKETS = (16, 32, 64, 128, MAX_TOKENS)
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID = range(4)
TAGS = ("O", "B-amount", "I-amount", "B-term_months", "I-term_months")
IGNORE = -100  # padding positions: no loss


def train_tokenizer(texts: Sequence[str], vocab_size: int = 4000) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=50))
    # BertNormalizer puts spaces around every CJK character, so each becomes its own word.
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
    )
    # Digits apart from letters: "loan3万" must give "3" its own token, or the amount's span starts mid-token.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=False)]
    )
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=1, special_tokens=list(SPECIAL))
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)]
    )
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.enable_truncation(MAX_TOKENS)
    if [tokenizer.token_to_id(t) for t in SPECIAL] != [PAD_ID, UNK_ID, CLS_ID, SEP_ID]:
        raise RuntimeError("special tokens did not get ids 0-3")
    return tokenizer


def bucket_for(length: int) -> int:
    for size in BUCKETS:
        if length <= size:
            return size
    return BUCKETS[-1]


@dataclass(frozen=True)
class Batch:
    input_ids: np.ndarray  # int64 N×L, L a bucket size
    attention_mask: np.ndarray  # int64 N×L
    offsets: np.ndarray  # int64 N×L×2: each token's [start, end) in its text; [0, 0] for special and pad


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> Batch:
    """Encode and pad to the smallest bucket that holds the longest text."""
    encodings = tokenizer.encode_batch(list(texts))
    return padded(encodings, bucket_for(max(len(e.ids) for e in encodings)))


def padded(encodings: Sequence[Encoding], width: int) -> Batch:
    """Encodings as arrays `width` tokens wide (at least the longest encoding)."""
    ids = np.full((len(encodings), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    offsets = np.zeros((len(encodings), width, 2), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        offsets[row, :n] = encoding.offsets
    return Batch(ids, mask, offsets)
