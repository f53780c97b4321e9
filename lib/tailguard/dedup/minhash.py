"""Batch MinHash signatures (Broder 1997) computed by one compiled pass over an Arrow batch.

Why compiled: on real text a 2,048-document batch holds ~60k distinct words, and any
step that touches each distinct word from Python (a hash call per word, sorting word
strings) costs more than the rest of the kernel. Here the words are found and hashed
while the text bytes are read (`text/lines.LineWords`, the shared tokeniser's compiled
walk), and one numba loop per document builds each shingle's hash from its words' hashes
and folds it into the `num_perm` running minima, so the cost follows the number of
shingles, never the vocabulary. Optionally the words of boilerplate lines are skipped
first (`dedup/boilerplate.py`): the shingles are those of the remaining words, in order.

datasketch is the reference implementation: the permutations are taken from
`datasketch.MinHash(num_perm, seed=..., scheme=...)` and `shingle_hash` is the hash
function to hand it, so `MinHash(..., hashfunc=shingle_hash)` fed with `shingles(words)`
gives exactly our signature (tests/unit/test_minhash.py checks this). Two schemes:
- `affine32` (datasketch >= 2.0 default): h -> a*fmix32(h) + b mod 2^32, a bijection, so
  no collision bias on large sets (datasketch issue #212) and 4x cheaper than legacy.
- `legacy`: ((a*h + b) mod 2^64) mod (2^61 - 1), truncated to 32 bits, bit-for-bit what
  datasketch < 2.0 computed (uint64 wraparound included).
Word hash: FNV-1a over the word's UTF-8 bytes, then fmix64 (`text/lines.word_hash`, the
diversity kernel's token hash). Shingle hash: h = (h ^ word) * FNV_PRIME over its words
from _SEED64, then the top 32 bits of fmix64(h). `FINGERPRINT_VERSION` names this
definition; the provenance state records it (`dedup/state.py`).
Signatures are stored as `num_perm` little-endian uint32 (`sig.astype('<u4').tobytes()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numba as nb
import numpy as np
import pyarrow as pa

from tailguard.text.hashing import FMIX_M1, FMIX_M2, GOLDEN64
from tailguard.text.lines import LineWords, fmix64, word_hash
from tailguard.text.tokenize import FNV_PRIME

SCHEMES = ("affine32", "legacy")
FINGERPRINT_VERSION = "words fnv1a64+fmix64; shingles (h^w)*fnv_prime, fmix64>>32; lines v1"
_MASK64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
# Shingle-hash combiner: h = (h ^ w) * _MUL over the words' 64-bit hashes, then fmix64.
_SEED64 = int(GOLDEN64)
_MUL64 = int(FNV_PRIME)
_SEED = np.uint64(_SEED64)
_MUL = np.uint64(_MUL64)
_FMIX_M1, _FMIX_M2 = int(FMIX_M1), int(FMIX_M2)


def _fmix64_int(h: int) -> int:
    """`text.hashing.fmix64` on a Python int (the datasketch `hashfunc` path)."""
    h ^= h >> 33
    h = (h * _FMIX_M1) & _MASK64
    h ^= h >> 33
    h = (h * _FMIX_M2) & _MASK64
    return h ^ (h >> 33)


def shingle_hash(shingle: Sequence[str]) -> int:
    """32-bit hash of one shingle (a tuple of words): the `hashfunc` for datasketch."""
    h = _SEED64
    for word in shingle:
        h = ((h ^ word_hash(word)) * _MUL64) & _MASK64
    return _fmix64_int(h) >> 32


def shingles(words: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """Word n-grams; a text shorter than `size` is one shingle of all its words (so a
    page shorter than the window still has a fingerprint, equal for equal pages)."""
    if not words:
        return []
    if len(words) < size:
        return [tuple(words)]
    return [tuple(words[i:i + size]) for i in range(len(words) - size + 1)]


@nb.njit(cache=True, nogil=True)
def _fmix32(h: np.uint64) -> np.uint64:
    """MurmurHash3's 32-bit finaliser, the pre-mix of datasketch's affine32 scheme."""
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _LOW32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _LOW32
    return h ^ (h >> np.uint64(16))


@nb.njit(cache=True, nogil=True)
def _fold_affine(row: np.ndarray, a: np.ndarray, b: np.ndarray, h32: np.uint64) -> None:
    x = _fmix32(h32)
    for k in range(len(row)):
        row[k] = min(row[k], np.uint32((a[k] * x + b[k]) & _LOW32))


@nb.njit(cache=True, nogil=True)
def _fold_legacy(row: np.ndarray, a: np.ndarray, b: np.ndarray, h32: np.uint64) -> None:
    for k in range(len(row)):
        row[k] = min(row[k], np.uint32(((a[k] * h32 + b[k]) % _MERSENNE) & _LOW32))


@nb.njit(cache=True, nogil=True)
def _signature_rows(hashes: np.ndarray, word_offsets: np.ndarray, skip: np.ndarray,
                    skipping: bool, size: int, a: np.ndarray, b: np.ndarray, affine: bool):
    """(has_signature per document, uint32 [documents with a word, num_perm]).

    A document's words are its `hashes` minus those flagged in `skip` (when `skipping`);
    when that leaves none, all its words (a page made only of repeated lines is still a
    page, and its copies should still meet). Its shingles are the windows of `size`
    consecutive remaining words, or one shingle of all of them when fewer."""
    n_docs = len(word_offsets) - 1
    has_sig = np.zeros(n_docs, np.bool_)
    longest = 0
    for d in range(n_docs):
        length = word_offsets[d + 1] - word_offsets[d]
        has_sig[d] = length > 0
        longest = max(longest, length)
    sig = np.full((has_sig.sum(), len(a)), np.uint32(0xFFFFFFFF), np.uint32)
    kept = np.empty(longest, np.uint64)
    r = 0
    for d in range(n_docs):
        start, end = word_offsets[d], word_offsets[d + 1]
        if start == end:
            continue
        m = 0
        if skipping:
            for i in range(start, end):
                kept[m] = hashes[i]
                m += 1 - np.int64(skip[i])
        if m == 0:
            m = end - start
            kept[:m] = hashes[start:end]
        width = min(size, m)
        row = sig[r]
        for s in range(m - width + 1):
            h = _SEED
            for j in range(width):
                h = (h ^ kept[s + j]) * _MUL
            h32 = fmix64(h) >> np.uint64(32)
            if affine:
                _fold_affine(row, a, b, h32)
            else:
                _fold_legacy(row, a, b, h32)
        r += 1
    return has_sig, sig


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
        """(a, b) exactly as datasketch draws them for this seed and scheme (uint64)."""
        from datasketch import MinHash

        a, b = MinHash(num_perm=self.num_perm, seed=self.seed, scheme=self.scheme).permutations
        return (np.ascontiguousarray(a, dtype=np.uint64),
                np.ascontiguousarray(b, dtype=np.uint64))

    def signatures_of_words(self, words: LineWords, skip_lines: np.ndarray | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
        """(has_signature bool[n_docs], signatures uint32[n_with, num_perm]) of a batch's
        words; `skip_lines` (bool, one per line of `words.line_keys`) drops the words of
        those lines before shingling."""
        a, b = self.permutations
        if skip_lines is None:
            skip, skipping = np.zeros(0, np.bool_), False
        else:
            skip, skipping = np.asarray(skip_lines, np.bool_)[words.word_line], True
        return _signature_rows(words.hashes, words.word_offsets, skip, skipping,
                               self.shingle_size, a, b, self.scheme == "affine32")

    def signatures_of_texts(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Signatures of whole texts (no line skipped)."""
        return self.signatures_of_words(LineWords(texts))


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
