"""A page's printed texts as a recogniser returns them: the classifier's training input.

Training on OCR output would cost a read a page; the printed texts with the recogniser's usual errors
added cost nothing: a label and its value joined or a line split in two, a character misread or lost,
a line missed. The held-out measure reads its pages with the real OCR, so these only need to be close.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

# Characters a misread puts in: some of the labels' own, so that near-misses of other kinds' labels occur.
MISREADS = "口日曰目木本末人入大太天夫工土士王主玉干千于未来米术" + "0123456789OIlS"


def as_read(texts: Sequence[str], rng: random.Random) -> list[str]:
    lines = []
    for text in texts:
        if rng.random() < 0.04:
            continue
        chars = []
        for char in text:
            roll = rng.random()
            if roll < 0.03:
                chars.append(rng.choice(MISREADS))
            elif roll >= 0.05:  # 2% lost
                chars.append(char)
        read = "".join(chars)
        if lines and rng.random() < 0.1:
            lines[-1] += read
        elif len(read) > 3 and rng.random() < 0.05:
            cut = rng.randrange(1, len(read))
            lines += [read[:cut], read[cut:]]
        else:
            lines.append(read)
    return lines
