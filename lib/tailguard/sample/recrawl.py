"""Re-crawled pages: the same text again, or wrapped in a little new boilerplate.

A page crawled in 2024 may have been written in 2019; provenance must date it by its
earliest copy (the `attested` era). Real re-crawls are byte copies or the same article
with a new cookie banner, newsletter box or archive note. The wrapper adds just enough
boilerplate words to land at a chosen word-5-gram Jaccard with the original (MinHash
near-duplicate territory, Broder 1997): with S original shingles and E added words,
J = S / (S + E) when the banner shares no shingle with the text, so E = S (1/J - 1).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tailguard.sample.lexicon import BANNERS
from tailguard.text.tokenize import words_arrow

SHINGLE = 5


def batch_jaccard(left: list[str], right: list[str], k: int = SHINGLE) -> list[float]:
    """Exact word-k-gram Jaccard of each (left, right) pair under the project's shared
    tokeniser (one Arrow call for the whole batch)."""
    if not left:
        return []
    tokens = words_arrow(pa.array(left + right, type=pa.string())).to_pylist()
    out = []
    for a, b in zip(tokens[: len(left)], tokens[len(left):], strict=True):
        sa = {tuple(a[i:i + k]) for i in range(max(0, len(a) - k + 1))}
        sb = {tuple(b[i:i + k]) for i in range(max(0, len(b) - k + 1))}
        out.append(len(sa & sb) / len(sa | sb) if sa or sb else 1.0)
    return out


def _banner_words(rng: np.random.Generator, n: int) -> list[str]:
    """`n` words of boilerplate, whole banners in a random order, the last one cut."""
    out: list[str] = []
    while len(out) < n:
        for i in rng.permutation(len(BANNERS)):
            out.extend(BANNERS[int(i)].split())
    return out[:n]


def wrap_in_boilerplate(text: str, rng: np.random.Generator, low: float = 0.86,
                        high: float = 0.94) -> str:
    """The text with a header and/or footer banner adding E = S (1/J - 1) words for a
    target J drawn from [low, high]; the exact Jaccard is measured by `batch_jaccard`.
    Counting words by whitespace matches the tokeniser on this generator's ASCII prose."""
    n_shingles = max(1, len(text.split()) - SHINGLE + 1)
    target = rng.uniform(low, high)
    extra = max(2, int(round(n_shingles * (1.0 / target - 1.0))))
    banner = _banner_words(rng, extra)
    where = rng.random()
    if where < 0.3:            # header only
        head, foot = banner, []
    elif where < 0.6:          # footer only
        head, foot = [], banner
    else:
        cut = int(rng.integers(1, len(banner))) if len(banner) > 1 else 1
        head, foot = banner[:cut], banner[cut:]
    parts = [" ".join(head)] if head else []
    parts.append(text)
    if foot:
        parts.append(" ".join(foot))
    return "\n\n".join(parts)
