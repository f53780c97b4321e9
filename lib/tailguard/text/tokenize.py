"""Word tokenisation shared by every job (MinHash shingles, diversity, share estimators).

One definition of a "word" keeps the numbers comparable across tables: lower-cased
maximal runs of Unicode letters and digits (`\\pL`, `\\pN`), with apostrophes kept only
between two such characters ("don't", "l'eau", "rock'n'roll"; `’` counts as `'`).

Tokenising is the hottest loop of the pipeline (every job reads every word), so a whole
Arrow batch is tokenised at once on its UTF-8 bytes: one regex pass turns the rare
non-ASCII non-word characters (dashes, curly quotes, ...) into spaces, after which a byte
is part of a word iff it is an ASCII letter/digit, a non-ASCII byte, or an apostrophe
between two such bytes. numpy finds the word runs and gathers their bytes into a new
string array; no Python loop touches a document or a word.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Non-ASCII characters that are not letters or digits become separators.
_NON_ASCII_SEPARATOR = r"[^\x00-\x7f\pL\pN]+"
_APOSTROPHE = ord("'")


def _word_bytes(data: np.ndarray) -> np.ndarray:
    """True for ASCII letters/digits and for every non-ASCII byte (the bytes of the
    letter/digit characters left after the regex), by uint8 arithmetic: three
    wrap-around range tests cost less than a 256-entry table lookup per byte."""
    with np.errstate(over="ignore"):
        letter = ((data | np.uint8(0x20)) - np.uint8(ord("a"))) < 26
        digit = (data - np.uint8(ord("0"))) < 10
    return letter | digit | (data >= 0x80)


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


def _word_mask(data: np.ndarray, doc_starts: np.ndarray, doc_ends: np.ndarray) -> np.ndarray:
    """True for bytes inside words: word bytes, plus apostrophes flanked by word bytes
    within the same document."""
    word = _word_bytes(data)
    apostrophe = data == _APOSTROPHE
    if apostrophe.any():
        left = np.zeros_like(word)
        right = np.zeros_like(word)
        left[1:] = word[:-1]
        right[:-1] = word[1:]
        left[doc_starts[doc_starts < len(data)]] = False  # no neighbour across documents
        right[doc_ends[doc_ends > 0] - 1] = False
        word = word | (apostrophe & left & right)
    return word


def _word_runs(mask: np.ndarray, rel_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last byte of every word: maximal runs of the mask, cut at document starts."""
    n = len(mask)
    doc_start = np.zeros(n + 1, dtype=bool)
    doc_start[rel_offsets[:-1]] = True
    prev_on = np.zeros(n, dtype=bool)
    prev_on[1:] = mask[:-1]
    prev_on &= ~doc_start[:n]
    next_on = np.zeros(n, dtype=bool)
    next_on[:-1] = mask[1:]
    next_on &= ~doc_start[1:]
    return np.flatnonzero(mask & ~prev_on), np.flatnonzero(mask & ~next_on)


def words_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Tokenise a batch of texts into a list<string> array; nulls become empty lists."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    clean = _normalised(texts)
    n_docs = len(clean)
    offsets = np.frombuffer(clean.buffers()[1], dtype=np.int64)[clean.offset:
                                                                 clean.offset + n_docs + 1]
    value_buffer = clean.buffers()[2]
    base = int(offsets[0])
    data = (np.frombuffer(value_buffer, dtype=np.uint8)[base:int(offsets[-1])]
            if value_buffer is not None else np.zeros(0, dtype=np.uint8))
    rel = offsets - base
    mask = _word_mask(data, rel[:-1], rel[1:])
    starts, ends = _word_runs(mask, rel)
    lengths = (ends - starts + 1).astype(np.int64)
    token_offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=token_offsets[1:])
    tokens = pa.StringArray.from_buffers(len(starts), pa.py_buffer(token_offsets),
                                         pa.py_buffer(data[mask].tobytes()))
    tokens_per_doc = np.searchsorted(starts, rel, side="left")
    list_offsets = (tokens_per_doc - tokens_per_doc[0]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(list_offsets), tokens)


def words(text: str | None) -> list[str]:
    """Words of one text: the batch tokeniser on a batch of one, so both always agree."""
    return words_arrow(pa.array([text], type=pa.string()))[0].as_py()
