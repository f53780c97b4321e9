"""Word tokenisation shared by every job (MinHash shingles, diversity, share estimators).

One definition of a "word" keeps the numbers comparable across tables: lower-cased
maximal runs of Unicode letters and digits (`\\pL`, `\\pN`), with apostrophes kept only
between two such characters ("don't", "l'eau", "rock'n'roll"; `’` counts as `'`).

Tokenising is the hottest loop of the pipeline (every job reads every word), so a whole
Arrow batch is tokenised at once on its UTF-8 bytes: one regex pass turns the rare
non-ASCII non-word characters (dashes, curly quotes, ...) into spaces, after which a byte
is part of a word iff it is an ASCII letter/digit, a non-ASCII byte, or an apostrophe
between two such bytes. One compiled pass (numba) finds the word runs and copies their
bytes into a new string array; no Python loop touches a document or a word.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Non-ASCII characters that are not letters or digits become separators.
_NON_ASCII_SEPARATOR = r"[^\x00-\x7f\pL\pN]+"
_APOSTROPHE = ord("'")


def _normalised(texts: pa.Array) -> pa.LargeStringArray:
    """Lower-cased texts with non-ASCII separators turned into spaces. The Unicode work
    (case mapping, the regex) runs only on the documents that hold a non-ASCII byte;
    for the others both are no-ops and ASCII lower-casing is ~10x cheaper."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    first = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset]
    if first:  # a slice: pyarrow 26's ascii_lower corrupts offsets not starting at 0
        texts = pa.concat_arrays([texts])
    is_ascii = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    lowered = pc.ascii_lower(texts)
    if is_ascii.all():
        return lowered
    other = pc.utf8_lower(texts.filter(pa.array(~is_ascii)))
    other = pc.replace_substring(other, "\u2019", "'")
    other = pc.replace_substring_regex(other, _NON_ASCII_SEPARATOR, " ")
    return pc.replace_with_mask(lowered, pa.array(~is_ascii), other)


def _byte_table(test) -> np.ndarray:
    return np.array([int(test(b)) for b in range(256)], np.int64)


# 1 for the bytes of words: ASCII letters and digits, and every non-ASCII byte (after
# `_normalised`, only the bytes of letters and digits are non-ASCII)
_WORD_BYTE = _byte_table(lambda b: chr(b).isascii() and chr(b).isalnum() or b >= 0x80)
_IS_APOSTROPHE = _byte_table(lambda b: b == _APOSTROPHE)


@nb.njit(cache=True, nogil=True)
def _word_spans(data: np.ndarray, offsets: np.ndarray):
    """The words of every document (data[offsets[d]:offsets[d + 1]]) as Arrow buffers:
    (word offsets int32, word bytes, per-document list offsets int32).

    A byte is inside a word when it is a word byte, or an apostrophe between two word
    bytes of its document. Word boundaries fall every few bytes, so the inner loops are
    branch-free (0/1 flags from byte tables; a byte is always written and the cursor
    advanced by its flag; a document's last byte, which has no right neighbour, is
    handled after the loop): a mispredicted branch per boundary costs more than the
    work. Two passes over the bytes, the first to size the outputs."""
    n_docs = len(offsets) - 1
    n_words = 0
    n_bytes = 0
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        if start == end:
            continue
        prev, inside, cur = 0, 0, _WORD_BYTE[data[start]]
        for k in range(start, end - 1):
            nxt = _WORD_BYTE[data[k + 1]]
            now = cur | (_IS_APOSTROPHE[data[k]] & prev & nxt)
            n_bytes += now
            n_words += now & (1 - inside)
            inside, prev, cur = now, cur, nxt
        n_bytes += cur
        n_words += cur & (1 - inside)
    word_offsets = np.empty(n_words + 2, np.int32)  # +1: the branch-free spare write
    word_bytes = np.empty(n_bytes + 1, np.uint8)
    list_offsets = np.zeros(n_docs + 1, np.int32)
    word_offsets[0] = 0
    w = 0
    out = 0
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        if start < end:
            prev, inside, cur = 0, 0, _WORD_BYTE[data[start]]
            for k in range(start, end - 1):
                nxt = _WORD_BYTE[data[k + 1]]
                now = cur | (_IS_APOSTROPHE[data[k]] & prev & nxt)
                word_bytes[out] = data[k]
                out += now
                word_offsets[w + 1] = out  # final once the word has ended
                w += inside & (1 - now)
                inside, prev, cur = now, cur, nxt
            word_bytes[out] = data[end - 1]
            out += cur
            word_offsets[w + 1] = out
            w += inside | cur  # the word open at the document's end ends with it
        list_offsets[d + 1] = w
    return word_offsets[:n_words + 1], word_bytes[:n_bytes], list_offsets


FNV_OFFSET = np.uint64(0xCBF29CE484222325)  # FNV-1a 64-bit offset basis and prime
FNV_PRIME = np.uint64(0x100000001B3)


@nb.njit(cache=True, nogil=True)
def _word_fnv(data: np.ndarray, offsets: np.ndarray):
    """The FNV-1a state (64-bit) of every word's bytes, and per-document list offsets,
    without copying a word: the same words as `_word_spans` (the same byte tables and
    the same branch-free walk), each hashed as it is read. A byte of a word folds into
    the running state, a byte outside one resets it; the state is written to the word's
    slot at every byte and is final once the word has ended."""
    n_docs = len(offsets) - 1
    # a word takes at least one byte and a separator: at most ceil(len / 2) per document
    raw = np.empty((len(data) + 1) // 2 + n_docs + 1, np.uint64)
    list_offsets = np.zeros(n_docs + 1, np.int64)
    w = 0
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        if start < end:
            h = FNV_OFFSET
            prev, inside, cur = 0, 0, _WORD_BYTE[data[start]]
            for k in range(start, end - 1):
                nxt = _WORD_BYTE[data[k + 1]]
                now = cur | (_IS_APOSTROPHE[data[k]] & prev & nxt)
                folded = (h ^ np.uint64(data[k])) * FNV_PRIME
                raw[w] = folded if now else h
                w += inside & (1 - now)
                h = folded if now else FNV_OFFSET
                inside, prev, cur = now, cur, nxt
            folded = (h ^ np.uint64(data[end - 1])) * FNV_PRIME
            raw[w] = folded if cur else h
            w += inside | cur  # the word open at the document's end ends with it
        list_offsets[d + 1] = w
    return raw[:w], list_offsets


def byte_view(texts: pa.StringArray | pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets from 0) of a string array without nulls, zero-copy for
    the bytes: text i is bytes[offsets[i]:offsets[i + 1]]. Slices are honoured."""
    n_docs = len(texts)
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(texts.buffers()[1], dtype=width)[texts.offset:
                                                             texts.offset + n_docs + 1]
    offsets = offsets.astype(np.int64)
    value_buffer = texts.buffers()[2]
    base = int(offsets[0])
    data = (np.frombuffer(value_buffer, dtype=np.uint8)[base:int(offsets[-1])]
            if value_buffer is not None else np.zeros(0, dtype=np.uint8))
    return data, offsets - base


def word_fnv(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(FNV-1a state of each word's UTF-8 bytes, uint64; tokens per document, int64) of a
    batch: what hashing every word of `words_arrow(texts)` byte by byte gives, in one
    pass and without building the words (null texts have no words). For callers that
    need only word hashes (the diversity passes); a hash finishes it (e.g. fmix64)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    raw, list_offsets = _word_fnv(*byte_view(_normalised(texts)))
    return raw, np.diff(list_offsets)


def words_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Tokenise a batch of texts into a list<string> array; nulls become empty lists."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    word_offsets, word_bytes, list_offsets = _word_spans(*byte_view(_normalised(texts)))
    tokens = pa.StringArray.from_buffers(len(word_offsets) - 1, pa.py_buffer(word_offsets),
                                         pa.py_buffer(word_bytes))
    return pa.ListArray.from_arrays(pa.array(list_offsets), tokens)


def words(text: str | None) -> list[str]:
    """Words of one text: the batch tokeniser on a batch of one, so both always agree."""
    return words_arrow(pa.array([text], type=pa.string()))[0].as_py()
