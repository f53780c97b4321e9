"""Word hashes with their line, and line hashes, batch-at-a-time (no Spark import).

Why: line-level boilerplate removal (CCNet, Wenzek et al. 2020, section 3.3: a line that
repeats across many pages is site furniture, not content) needs to know which line each
word of a document sits on, and a hash per line to count across documents. Both come out
of the one compiled pass that finds and hashes the words, so neither costs a Python call
per word or per line, and no word or line is copied out of the text.

The words are exactly those of `text/tokenize.py` (the same normalisation, byte tables and
branch-free walk as `tokenize.word_fnv`, held equal by tests/unit/test_lines.py): a word
never holds a newline, so its line is the count of newline bytes before it. A line is
identified by its words, not its bytes: "Share this: Twitter" and "share this twitter"
are one line, and lines without a word (blank, punctuation only) are no line at all.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa

from tailguard.text.hashing import FMIX_M1 as _M1
from tailguard.text.hashing import FMIX_M2 as _M2
from tailguard.text.hashing import fmix64 as fmix64_array
from tailguard.text.hashing import fmix64_one as fmix64
from tailguard.text.tokenize import (
    _IS_APOSTROPHE,
    _WORD_BYTE,
    FNV_OFFSET,
    FNV_PRIME,
    _normalised,
    byte_view,
)

_NEWLINE = 10
LINE_SEED = np.uint64(0x2545F4914F6CDD1D)  # line-hash chain: h = (h ^ word) * FNV_PRIME
SCOPE_MIX = np.uint64(0x9FB21C651E98DF25)  # line key = fmix64(line_hash ^ scope * SCOPE_MIX)


@nb.njit(cache=True, nogil=True)
def _word_fnv_lines(data: np.ndarray, offsets: np.ndarray):
    """`tokenize._word_fnv` plus, for every word, the index of its line in its document.

    The walk is `_word_fnv`'s, byte for byte; a running count of newline bytes is written
    to the word's slot beside its state (both are final once the word has ended)."""
    n_docs = len(offsets) - 1
    size = (len(data) + 1) // 2 + n_docs + 1  # at most ceil(len / 2) words per document
    raw = np.empty(size, np.uint64)
    line_of = np.empty(size, np.int32)
    list_offsets = np.zeros(n_docs + 1, np.int64)
    w = 0
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        if start < end:
            h = FNV_OFFSET
            line = 0
            prev, inside, cur = 0, 0, _WORD_BYTE[data[start]]
            for k in range(start, end - 1):
                nxt = _WORD_BYTE[data[k + 1]]
                now = cur | (_IS_APOSTROPHE[data[k]] & prev & nxt)
                folded = (h ^ np.uint64(data[k])) * FNV_PRIME
                raw[w] = folded if now else h
                line_of[w] = line
                w += inside & (1 - now)
                h = folded if now else FNV_OFFSET
                line += data[k] == _NEWLINE
                inside, prev, cur = now, cur, nxt
            folded = (h ^ np.uint64(data[end - 1])) * FNV_PRIME
            raw[w] = folded if cur else h
            line_of[w] = line
            w += inside | cur
        list_offsets[d + 1] = w
    return raw[:w], line_of[:w], list_offsets


@nb.njit(cache=True, nogil=True)
def _finish(states: np.ndarray) -> np.ndarray:
    out = np.empty(len(states), np.uint64)
    for i in range(len(states)):
        out[i] = fmix64(states[i])
    return out


@nb.njit(cache=True, nogil=True)
def _line_hashes(hashes: np.ndarray, line_of: np.ndarray, word_offsets: np.ndarray,
                 scopes: np.ndarray):
    """Line keys of a batch: for every run of words on one line of one document,
    fmix64(chain over its word hashes ^ scope * SCOPE_MIX), where the chain is
    h = (h ^ word) * FNV_PRIME from LINE_SEED. Returns (keys uint64, line of every word
    as an index into keys int64, per-document offsets into keys int64, fmix64(chain) of
    every line uint64: its key in scope 0 before the last fmix64)."""
    n_docs = len(word_offsets) - 1
    keys = np.empty(len(hashes), np.uint64)
    chains = np.empty(len(hashes), np.uint64)
    word_line = np.empty(len(hashes), np.int64)
    doc_lines = np.zeros(n_docs + 1, np.int64)
    n = 0
    for d in range(n_docs):
        scope = np.uint64(scopes[d]) * SCOPE_MIX
        i = word_offsets[d]
        end = word_offsets[d + 1]
        while i < end:
            line = line_of[i]
            h = LINE_SEED
            while i < end and line_of[i] == line:
                h = (h ^ hashes[i]) * FNV_PRIME
                word_line[i] = n
                i += 1
            chains[n] = fmix64(h)
            keys[n] = fmix64(chains[n] ^ scope)
            n += 1
        doc_lines[d + 1] = n
    return keys[:n], word_line, doc_lines, chains[:n]


class LineWords:
    """The words of a batch of texts as 64-bit hashes, with the line each sits on.

    - `hashes` (uint64, one per word): fmix64 of the word's FNV-1a state, i.e. equal to
      `diversity.compiled.bytes_hash` of the word's UTF-8 bytes;
    - `word_offsets` (int64, n_docs + 1): document d's words are [word_offsets[d],
      word_offsets[d + 1]);
    - `line_keys` (uint64): one per line that holds a word, document-major; keyed by the
      document's `scope` (0 for all: global boilerplate; a domain hash: per domain);
    - `word_line` (int64, one per word): its line's index into `line_keys`;
    - `line_offsets` (int64, n_docs + 1): document d's lines in `line_keys`;
    - `global_line_keys()`: the same lines' keys in scope 0 (whatever `scope` was), and
      `line_word_counts()`: the number of words of each line.
    """

    def __init__(self, texts: pa.Array | pa.ChunkedArray, scopes: np.ndarray | None = None):
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        states, line_of, self.word_offsets = _word_fnv_lines(*byte_view(_normalised(texts)))
        self.hashes = _finish(states)
        n_docs = len(self.word_offsets) - 1
        if scopes is None:
            scopes = np.zeros(n_docs, np.int64)
        scopes = np.ascontiguousarray(scopes, dtype=np.int64)
        if len(scopes) != n_docs:
            raise ValueError(f"{len(scopes)} scopes for {n_docs} texts")
        self.line_keys, self.word_line, self.line_offsets, self._chains = _line_hashes(
            self.hashes, line_of, self.word_offsets, scopes)

    def global_line_keys(self) -> np.ndarray:
        """uint64 key of every line in scope 0 (`line_key(words, 0)`)."""
        return fmix64_array(self._chains)

    def line_word_counts(self) -> np.ndarray:
        """int64 number of words on every line of `line_keys`."""
        return np.bincount(self.word_line, minlength=len(self.line_keys)).astype(np.int64)

    @property
    def n_docs(self) -> int:
        return len(self.word_offsets) - 1


_MASK64 = (1 << 64) - 1


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * int(_M1)) & _MASK64
    h ^= h >> 33
    h = (h * int(_M2)) & _MASK64
    return h ^ (h >> 33)


def word_hash(word: str) -> int:
    """64-bit hash of one word: FNV-1a over its UTF-8 bytes, then fmix64 (every bit
    uniform). The pure-Python reference of `LineWords.hashes`."""
    h = int(FNV_OFFSET)
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * int(FNV_PRIME)) & _MASK64
    return _fmix64_int(h)


def line_key(words: list[str], scope: int = 0) -> int:
    """The key of one line from its words (`tokenize.words` of the line): the reference
    for `LineWords.line_keys`."""
    h = int(LINE_SEED)
    for word in words:
        h = ((h ^ word_hash(word)) * int(FNV_PRIME)) & _MASK64
    mixed = ((scope & _MASK64) * int(SCOPE_MIX)) & _MASK64
    return _fmix64_int(_fmix64_int(h) ^ mixed)
