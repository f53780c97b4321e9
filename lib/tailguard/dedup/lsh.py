"""LSH banding parameters and band hashes (Leskovec, Rajaraman & Ullman, *Mining of
Massive Datasets*, ch. 3.4).

A signature of `num_perm` values is cut into `bands` bands of `rows` values; two documents
become candidates when all rows of at least one band agree. For Jaccard similarity s the
probability of that is P(s) = 1 - (1 - s^rows)^bands, an S-curve whose steepest point sits
near (1/bands)^(1/rows). datasketch's search picks (bands, rows) with bands * rows <=
num_perm that minimise the weighted areas of false positives (P below the threshold) and
false negatives (1 - P above it); we use it as is rather than re-deriving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tailguard.text.hashing import GOLDEN64, fmix64
from tailguard.text.tokenize import FNV_PRIME

# Band-hash chain: h = fmix64((h ^ value) * _BAND_MUL) over the rows of a band.
_BAND_SEED = GOLDEN64
_BAND_MUL = FNV_PRIME


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
               false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted FP/FN error at `threshold` (datasketch)."""
    from datasketch.lsh import _optimal_param

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    if abs(false_positive_weight + false_negative_weight - 1.0) > 1e-9:
        raise ValueError("false_positive_weight + false_negative_weight must equal 1")
    bands, rows = _optimal_param(threshold, num_perm, false_positive_weight,
                                 false_negative_weight)
    return int(bands), int(rows)


def candidate_probability(similarity: float | np.ndarray, bands: int, rows: int):
    """P(two documents with Jaccard `similarity` share at least one band)."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=float) ** rows) ** bands


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Row-wise fraction of equal MinHash values: an unbiased Jaccard estimate."""
    return (sig_a == sig_b).mean(axis=-1)


@dataclass(frozen=True)
class LshSpec:
    """Banding of one signature layout; the band of row range [i*rows, (i+1)*rows)."""

    num_perm: int
    bands: int
    rows: int

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"{self.bands} bands x {self.rows} rows exceed {self.num_perm}")

    @classmethod
    def from_config(cls, dedup) -> LshSpec:
        bands, rows = lsh_params(dedup.threshold, dedup.num_perm,
                                 dedup.false_positive_weight, dedup.false_negative_weight)
        return cls(dedup.num_perm, bands, rows)

    def band_hashes(self, sig: np.ndarray) -> np.ndarray:
        """int64 [n, bands]: a 64-bit hash of each band's `rows` values, for a uint32
        signature matrix [n, num_perm]; equal bands give equal hashes.

        Vectorised over every document and band of a batch at once (one fmix64 per row of
        a band), in one Arrow pass over the stored signatures instead of `bands` Spark
        substring + xxhash64 expressions and an explode. A collision of two
        different bands only adds a candidate pair, which verification then rejects.
        """
        if sig.ndim != 2 or sig.shape[1] != self.num_perm:
            raise ValueError(f"expected a [n, {self.num_perm}] signature matrix, got {sig.shape}")
        values = sig[:, : self.bands * self.rows].reshape(len(sig), self.bands, self.rows)
        h = np.full((len(sig), self.bands), _BAND_SEED, dtype=np.uint64)
        for j in range(self.rows):
            h = fmix64((h ^ values[:, :, j].astype(np.uint64)) * _BAND_MUL)
        return h.view(np.int64)
