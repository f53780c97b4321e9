"""Batch MinHash signatures (Broder 1997) computed by numpy over a whole Arrow batch.

Why a batch kernel: a per-document Python loop over shingles is ~50x slower than the
Spark read itself. Here each distinct word of a batch is hashed once (xxh3), shingle
hashes are combined from word hashes with vectorised uint64 arithmetic, and the seeded
permutations are applied to a (shingles x num_perm) matrix that is min-reduced per
document with `np.minimum.reduceat`, in fixed-size chunks so memory stays bounded even for
one huge document.

datasketch is the reference implementation: the permutations are taken from
`datasketch.MinHash(num_perm, seed=..., scheme=...)` and `shingle_hash` is the hash
function to hand it, so `MinHash(..., hashfunc=shingle_hash)` fed with `shingles(words)`
gives exactly our signature (tests/unit/test_minhash.py checks this). Two schemes:
- `affine32` (datasketch >= 2.0 default): h -> a*fmix32(h) + b mod 2^32, a bijection, so
  no collision bias on large sets (datasketch issue #212) and 4x cheaper than legacy.
- `legacy`: ((a*h + b) mod 2^64) mod (2^61 - 1), truncated to 32 bits, bit-for-bit what
  datasketch < 2.0 computed (uint64 wraparound included).
Signatures are stored as `num_perm` little-endian uint32 (`sig.astype('<u4').tobytes()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tailguard.text.hashing import fmix64
from tailguard.text.tokenize import words_arrow

SCHEMES = ("affine32", "legacy")
_MASK64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
# Shingle-hash combiner: h = (h ^ w) * _MUL over the words' 64-bit hashes, then fmix64.
_SEED64 = 0x9E3779B97F4A7C15
_MUL64 = 0x100000001B3  # FNV-1a 64-bit prime
# Shingles per chunk of the (num_perm x shingles) matrix: 128 x 16384 x 4 B = 8 MiB.
CHUNK_SHINGLES = 16384


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 finalizer, the pre-mix datasketch's affine32 scheme applies."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def word_hash(word: str) -> int:
    return xxhash.xxh3_64_intdigest(word.encode("utf-8"))


def shingle_hash(shingle: Sequence[str]) -> int:
    """32-bit hash of one shingle (a tuple of words): the `hashfunc` for datasketch."""
    h = _SEED64
    for word in shingle:
        h = ((h ^ word_hash(word)) * _MUL64) & _MASK64
    return _fmix64_int(h) >> 32


def shingles(words: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """Word n-grams; a text shorter than `size` is one shingle of all its words."""
    if not words:
        return []
    if len(words) < size:
        return [tuple(words)]
    return [tuple(words[i:i + size]) for i in range(len(words) - size + 1)]


def _window_hash(tokens: np.ndarray, n: int) -> np.ndarray:
    """Combined hash of every window of `n` consecutive tokens (contiguous slices only)."""
    width = len(tokens) - n + 1
    h = np.full(width, _SEED64, dtype=np.uint64)
    mul = np.uint64(_MUL64)
    for j in range(n):
        np.bitwise_xor(h, tokens[j:j + width], out=h)
        np.multiply(h, mul, out=h)
    return h


def _short_hash(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Combined hash of all the words of each (short) document."""
    h = np.full(len(starts), _SEED64, dtype=np.uint64)
    mul = np.uint64(_MUL64)
    for j in range(int(lengths.max())):
        live = lengths > j
        h[live] = (h[live] ^ tokens[starts[live] + j]) * mul
    return h


@dataclass(frozen=True)
class MinHasher:
    """Seeded MinHash over word shingles; equal settings give comparable signatures."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5
    scheme: str = "affine32"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"MinHash scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.num_perm <= 0 or self.shingle_size <= 0:
            raise ValueError("num_perm and shingle_size must be positive")

    @cached_property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) exactly as datasketch draws them for this seed and scheme."""
        from datasketch import MinHash

        a, b = MinHash(num_perm=self.num_perm, seed=self.seed, scheme=self.scheme).permutations
        dtype = np.uint32 if self.scheme == "affine32" else np.uint64
        return np.ascontiguousarray(a, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)

    def shingle_hashes(self, words: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of every shingle of a batch (uint32) and the shingle count per document.

        Every distinct word is hashed once (dictionary encoding). Full-width shingles are
        windows of the flat token array, so they are combined over contiguous slices of it
        (windows that straddle two documents are computed and never selected); the rare
        documents shorter than `shingle_size` get one shingle of all their words.
        """
        offsets = words.offsets.to_numpy().astype(np.int64)
        lengths = np.diff(offsets)
        flat = words.values.slice(offsets[0], offsets[-1] - offsets[0])
        encoded = pc.dictionary_encode(flat)
        vocab = encoded.dictionary.to_pylist()
        vocab_hash = np.fromiter(map(word_hash, vocab), dtype=np.uint64, count=len(vocab))
        tokens = vocab_hash[encoded.indices.to_numpy(zero_copy_only=False)]
        n = self.shingle_size
        short = (lengths > 0) & (lengths < n)
        counts = np.where(lengths >= n, lengths - n + 1, short.astype(np.int64))
        doc_start = offsets[:-1] - offsets[0]
        total = int(counts.sum())
        starts = np.repeat(doc_start - np.cumsum(counts) + counts, counts) + np.arange(
            total, dtype=np.int64)
        h = np.empty(total, dtype=np.uint64)
        is_short = np.repeat(short, counts)
        if len(tokens) >= n and not is_short.all():
            h[~is_short] = _window_hash(tokens, n)[starts[~is_short]]
        if is_short.any():
            h[is_short] = _short_hash(tokens, doc_start[short], lengths[short])
        return (fmix64(h) >> np.uint64(32)).astype(np.uint32), counts

    def signatures(self, words: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
        """(has_signature bool[n_docs], signatures uint32[n_with, num_perm]) for a batch."""
        hashes, counts = self.shingle_hashes(words)
        has_sig = counts > 0
        seg_start = (np.cumsum(counts) - counts)[has_sig]
        return has_sig, self._min_reduce(hashes, seg_start)

    def _min_reduce(self, hashes: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
        """Permute and min-reduce per document, CHUNK_SHINGLES columns at a time.

        The matrix is laid out (num_perm x shingles) so each reduction runs over
        contiguous memory (measured 4-6x faster than the transposed layout).
        """
        a, b = self.permutations
        affine = self.scheme == "affine32"
        x = _fmix32(hashes) if affine else hashes.astype(np.uint64)
        sig = np.full((self.num_perm, len(seg_start)), np.iinfo(np.uint32).max, np.uint32)
        buf = np.empty((self.num_perm, min(CHUNK_SHINGLES, len(x))), dtype=a.dtype)
        for c0 in range(0, len(x), CHUNK_SHINGLES):
            c1 = min(c0 + CHUNK_SHINGLES, len(x))
            first = np.searchsorted(seg_start, c0, side="right") - 1
            last = np.searchsorted(seg_start, c1, side="left")
            local = np.maximum(seg_start[first:last] - c0, 0)
            m = buf[:, : c1 - c0]
            np.multiply(a[:, None], x[None, c0:c1], out=m)
            np.add(m, b[:, None], out=m)
            if not affine:  # datasketch legacy: (a*h + b) % p, low 32 bits
                np.remainder(m, _MERSENNE, out=m)
                np.bitwise_and(m, np.uint64(0xFFFFFFFF), out=m)
            part = np.minimum.reduceat(m, local, axis=1)
            view = sig[:, first:last]
            np.minimum(view, part.astype(np.uint32, copy=False), out=view)
        return np.ascontiguousarray(sig.T)

    def signatures_of_texts(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        return self.signatures(words_arrow(texts))


def to_binary(sig: np.ndarray) -> pa.BinaryArray:
    """Rows of a uint32 signature matrix as a binary array of little-endian bytes."""
    width = sig.shape[1] * 4
    data = np.ascontiguousarray(sig.astype("<u4", copy=False)).view(np.uint8).ravel()
    offsets = np.arange(0, (len(sig) + 1) * width, width, dtype=np.int32)
    return pa.BinaryArray.from_buffers(pa.binary(), len(sig), [None, pa.py_buffer(offsets),
                                                               pa.py_buffer(data)])


def from_binary(column: pa.Array, num_perm: int) -> np.ndarray:
    """A binary column of signatures (no nulls) back to a uint32 [n, num_perm] matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.cast(pa.binary())
    if len(column) == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    _, offset_buf, data_buf = column.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32)[column.offset:column.offset + len(column)
                                                        + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.view("<u4").reshape(len(column), num_perm)
