"""Pure, vectorised estimators behind the diversity tables (no Spark import).

Each takes numpy arrays (one value per group) so the Spark side can apply it to a whole
column through a pandas_udf, and the unit tests can check it against hand-computed values.
"""

from __future__ import annotations

import numpy as np
import zstandard


def entropy_bits(n_total: np.ndarray, sum_c_log2_c: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of a unigram distribution from two mergeable sums.

    H = -sum (c/N) log2 (c/N) = log2 N - (1/N) sum c log2 c, so a group's entropy needs only
    N = sum c and S = sum c log2 c over its exact word counts: both are Spark sums.
    """
    n = np.asarray(n_total, dtype=np.float64)
    s = np.asarray(sum_c_log2_c, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.log2(n) - s / n
    return np.where(n > 0, np.maximum(h, 0.0), np.nan)


def entropy_from_counts(counts: np.ndarray) -> float:
    """Entropy (bits) of one count vector: the reference `entropy_bits` must agree with."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    return float(entropy_bits(c.sum(), (c * np.log2(c)).sum()))


def good_turing_missing_mass(f1: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Good (1953) / Turing: probability that the next occurrence is an unseen concept, f1/n."""
    f1 = np.asarray(f1, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, f1 / n, np.nan)


def chao1(s_obs: np.ndarray, f1: np.ndarray, f2: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Bias-corrected Chao1 richness (Chao 1987; Chao 2005, EstimateS eq. for S_Chao1-bc).

    S = S_obs + ((n - 1) / n) * f1 (f1 - 1) / (2 (f2 + 1)), defined also when f2 = 0,
    where f1, f2 are the numbers of concepts seen exactly once and twice in n occurrences.
    """
    s_obs, f1, f2, n = (np.asarray(a, dtype=np.float64) for a in (s_obs, f1, f2, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = ((n - 1.0) / n) * f1 * (f1 - 1.0) / (2.0 * (f2 + 1.0))
    return np.where(n > 0, s_obs + extra, np.nan)


SMALL_SAMPLE = 12  # up to here all k^2 pairs are compared directly (measured faster)


def mean_pairwise_jaccard(signatures: np.ndarray) -> float:
    """Mean over all pairs i < j of the MinHash Jaccard estimate mean(sig_i == sig_j).

    Counted per permutation without forming pairs: if a value occurs c times in column p,
    it makes c (c - 1) / 2 equal pairs there, so the mean is
    sum_p sum_v C(c_pv, 2) / (P * C(k, 2)); O(k P log k) instead of O(k^2 P). Each
    column is sorted on its own (one numpy call for all of them) and a run of c equal
    values adds 0 + 1 + ... + (c - 1) = C(c, 2): each value counts the equal ones before
    it in its run. (~1.5-3x faster than `np.unique` over (column, value) keys.)
    """
    sig = np.asarray(signatures)
    k, perms = sig.shape
    if k < 2:
        return float("nan")
    if k <= SMALL_SAMPLE:  # a few documents: comparing all pairs at once is cheaper
        equal = int((sig[:, None, :] == sig[None, :, :]).sum()) - k * perms  # i != j
        return (equal / 2) / (perms * k * (k - 1) / 2.0)
    ordered = np.sort(sig, axis=0)
    same = ordered[1:] == ordered[:-1]          # row i + 1 equals row i, per column
    row = np.arange(1, k)[:, None]
    run_start = np.maximum.accumulate(np.where(same, 0, row), axis=0)
    equal_pairs = int(((row - run_start) * same).sum())
    return equal_pairs / (perms * k * (k - 1) / 2.0)


def unpack_signatures(blobs: list[bytes], num_perm: int) -> np.ndarray:
    """Stack signatures stored as `num_perm` little-endian uint32 into a (k, num_perm) array."""
    if not blobs:
        return np.zeros((0, num_perm), dtype=np.uint32)
    return np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(blobs), num_perm)


def zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    """The compressor behind every compression ratio. Callers that measure many small
    groups share one (`ChunkCompressor(zstd=...)`): a fresh zstd context allocates and
    clears its tables at its first chunk, which costs ~1.3x on chunks of a few KB. The
    compressed sizes do not depend on the context's history."""
    return zstandard.ZstdCompressor(level=level, write_checksum=False, write_content_size=False)


class ChunkCompressor:
    """Sizes of a byte stream compressed in fixed-size chunks, summed so groups merge.

    Why chunks: a ratio over one whole corpus depends on the compressor's window; fixed
    chunks make raw/compressed additive (each partition compresses its own chunks, sums
    add) and comparable across groups of any size. zstd at a fixed level (level 3 is
    ~10x faster than zlib-6 at a similar ratio on text). Repetitive, templated text
    compresses better: a higher ratio means less diverse text.
    """

    def __init__(self, chunk_bytes: int, level: int,
                 zstd: zstandard.ZstdCompressor | None = None):
        self.chunk_bytes = chunk_bytes
        self._zstd = zstd if zstd is not None else zstd_compressor(level)
        self.buffer = bytearray()
        self.raw = 0
        self.compressed = 0

    def add(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.chunk_bytes:
            self._compress(bytes(self.buffer[: self.chunk_bytes]))
            del self.buffer[: self.chunk_bytes]

    def finish(self) -> tuple[int, int]:
        """Compress the partial last chunk; return (raw bytes, compressed bytes)."""
        if self.buffer:
            self._compress(bytes(self.buffer))
            self.buffer.clear()
        return self.raw, self.compressed

    def peek(self) -> tuple[int, int]:
        """(raw, compressed) bytes as `finish` would give now, leaving the open chunk open,
        so a prefix of the stream can be measured and the stream go on."""
        tail = bytes(self.buffer)
        extra = len(self._zstd.compress(tail)) if tail else 0
        return self.raw + len(tail), self.compressed + extra

    def _compress(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        self.compressed += len(self._zstd.compress(chunk))
