"""Gopher-style quality scores of a batch of documents, in one compiled pass per document.

The rules are MassiveText's (Rae et al. 2021, "Scaling Language Models: Methods, Analysis
& Insights from Training Gopher", appendix A.1.1 and table A1), as datatrove's
`GopherQualityFilter` and `GopherRepetitionFilter` state them:

- word count, mean word length, the hash- and ellipsis-to-word ratios, the fractions of
  lines that start with a bullet or end with an ellipsis, the fraction of words with an
  alphabetic character, and how often the eight English stop words occur (occurrences, as
  datatrove counts them: "the ... the" is two);
- repetition: the fractions of lines and paragraphs that repeat an earlier one (and of the
  characters in them), the share of characters in the most frequent 2-, 3- and 4-gram,
  and the share of characters inside duplicated 5- to 10-grams.

Computing a score is separate from deciding to keep (NeMo Curator's split): this module
only measures; `pool.with_quality_reason` compares the scores with `shards.quality.*`.

Definitions where the sources leave room (documented because they move numbers):
- words are runs of non-whitespace bytes; a word made only of ASCII punctuation is a
  "symbol word", left out of the word count and the mean length (datatrove does this);
  n-grams for repetition run over all words, ASCII-lower-cased, punctuation kept;
- characters are Unicode code points (UTF-8 lead bytes); the repetition fractions divide
  by the characters of the whole text, as Gopher does; an n-gram's characters are those
  of its words (separators not counted);
- a word is alphabetic when it holds a character with Python's `str.isalpha` (what
  datatrove tests): ASCII letters, and letters of other scripts by a code-point table; a
  dash, "£100", an arrow or an emoji is not;
- lines are split on "\\n" and blank lines are ignored (they are layout, and counting them
  as duplicates of each other, as a plain `splitlines` does, punishes paragraph breaks);
  paragraphs are separated by two or more newlines;
- a duplicated n-gram marks the words it covers (every occurrence after the first), and
  each covered character counts once however many n-grams cover it. If no 5-gram repeats,
  no longer one can: the longer sizes are then 0 without another pass.

Everything runs on the batch's UTF-8 bytes straight from Arrow (`tokenize.byte_view`):
no Python string per document, one open-addressing table per document reused across
documents by a generation stamp (no clearing).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import pyarrow as pa

from tailguard.text.hashing import GOLDEN64 as _MIX
from tailguard.text.hashing import fmix64_one as _mix
from tailguard.text.tokenize import FNV_OFFSET, FNV_PRIME, byte_view

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
# The eight stop words of Gopher's "at least two of" rule.
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

# Score columns, in the order the kernel fills them (all float64 except the counts).
SCORE_COLUMNS = (
    "q_words", "q_mean_word_length", "q_symbol_word_ratio", "q_bullet_lines",
    "q_ellipsis_lines", "q_alpha_words", "q_stop_words",
    "q_dup_lines", "q_dup_line_chars", "q_dup_paragraphs", "q_dup_paragraph_chars",
    *[f"q_top_{n}gram_chars" for n in TOP_NGRAMS],
    *[f"q_dup_{n}gram_chars" for n in DUP_NGRAMS],
)
COUNT_COLUMNS = ("q_words", "q_stop_words")



@nb.njit(cache=True, nogil=True, inline="always")
def _is_space(b: np.uint8) -> bool:
    return b == 32 or (9 <= b <= 13)


@nb.njit(cache=True, nogil=True, inline="always")
def _is_punct(b: np.uint8) -> bool:
    return (33 <= b <= 47) or (58 <= b <= 64) or (91 <= b <= 96) or (123 <= b <= 126)


@nb.njit(cache=True, nogil=True, inline="always")
def _is_ascii_letter(b: np.uint8) -> bool:
    return (65 <= b <= 90) or (97 <= b <= 122)


@nb.njit(cache=True, nogil=True)
def _has_alpha_code_point(data: np.ndarray, start: int, end: int,
                          is_alpha: np.ndarray) -> bool:
    """Whether the UTF-8 bytes data[start:end] hold a code point c with is_alpha[c]
    (called only for words with a non-ASCII byte and no ASCII letter, which are rare)."""
    k = start
    while k < end:
        b = np.int64(data[k])
        if b >= 0xF0:
            n, cp = 3, b & 0x07
        elif b >= 0xE0:
            n, cp = 2, b & 0x0F
        elif b >= 0xC0:
            n, cp = 1, b & 0x1F
        else:  # ASCII (no letter in this word) or a stray continuation byte
            k += 1
            continue
        for m in range(1, n + 1):
            if k + m < end:
                cp = (cp << 6) | (np.int64(data[k + m]) & 0x3F)
        if cp < len(is_alpha) and is_alpha[cp]:
            return True
        k += n + 1
    return False


@nb.njit(cache=True, nogil=True, inline="always")
def _seen_before(table: np.ndarray, gen: np.int64, bits: int, key: np.uint64) -> np.int64:
    """Insert `key` into the first 2^bits slots of `table` (rows of key, stamp, count: a
    slot stamped `gen` belongs to this document, any other is empty, so nothing is
    cleared between documents) and return the key's count after the insert."""
    mask = (1 << bits) - 1
    slot = np.int64((key * _MIX) >> np.uint64(64 - bits))
    k = np.int64(key)
    while table[slot, 1] == gen:
        if table[slot, 0] == k:
            table[slot, 2] += 1
            return table[slot, 2]
        slot = (slot + 1) & mask
    table[slot, 0] = k
    table[slot, 1] = gen
    table[slot, 2] = 1
    return 1


@nb.njit(cache=True, nogil=True)
def _table_bits(n: int) -> int:
    """Bits of a power-of-two table with at least two slots per key (load <= 1/2)."""
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    return bits


@nb.njit(cache=True, nogil=True)
def _units(data: np.ndarray, start: int, end: int, sep_newlines: int,
           table: np.ndarray, gen: np.int64, bits: int) -> tuple[int, int, int, int, int]:
    """Lines (sep_newlines = 1) or paragraphs (2: split on runs of >= 2 newlines) of
    data[start:end]: (units, units repeating an earlier one, chars in those repeats,
    bullet units, ellipsis units). Blank units are skipped; a unit is compared by the
    hash of its bytes without surrounding whitespace."""
    units = dups = dup_chars = bullets = ellipses = 0
    i = start
    while i < end:
        j = i
        if sep_newlines == 1:
            while j < end and data[j] != 10:
                j += 1
            nxt = j + 1
        else:
            while j < end and not (data[j] == 10 and j + 1 < end and data[j + 1] == 10):
                j += 1
            nxt = j
            while nxt < end and data[nxt] == 10:
                nxt += 1
        a, b = i, j
        while a < b and _is_space(data[a]):
            a += 1
        while b > a and _is_space(data[b - 1]):
            b -= 1
        if b > a:
            units += 1
            h = FNV_OFFSET
            chars = 0
            for k in range(a, b):
                h = (h ^ np.uint64(data[k])) * FNV_PRIME
                chars += (data[k] & 0xC0) != 0x80
            if _seen_before(table, gen, bits, _mix(h)) > 1:
                dups += 1
                dup_chars += chars
            c0 = data[a]
            if c0 == 45 or c0 == 42 or (
                    b - a >= 3 and c0 == 0xE2 and (
                        (data[a + 1] == 0x80 and (data[a + 2] == 0xA2 or data[a + 2] == 0xA3))
                        or (data[a + 1] == 0x97 and (data[a + 2] == 0xA6 or data[a + 2] == 0x8F))
                        or (data[a + 1] == 0x96 and data[a + 2] == 0xAA))):
                bullets += 1
            if (b - a >= 3 and data[b - 1] == 46 and data[b - 2] == 46 and data[b - 3] == 46) or (
                    b - a >= 3 and data[b - 3] == 0xE2 and data[b - 2] == 0x80
                    and data[b - 1] == 0xA6):
                ellipses += 1
        i = nxt if nxt > i else i + 1
    return units, dups, dup_chars, bullets, ellipses


@nb.njit(cache=True, nogil=True, inline="always")
def _next_level(grams: np.ndarray, gram_chars: np.ndarray, words: np.ndarray,
                chars: np.ndarray, n_words: int, n: int) -> None:
    """(n-1)-gram hashes and characters -> n-gram ones in place: gram i extends by word
    i + n - 1 (one mix per position, not n - 1)."""
    for i in range(n_words - n + 1):
        grams[i] = _mix(grams[i] * _MIX + words[i + n - 1])
        gram_chars[i] += chars[i + n - 1]


@nb.njit(cache=True, nogil=True)
def _top_ngram_chars(grams: np.ndarray, gram_chars: np.ndarray, count: int,
                     table: np.ndarray, gen: np.int64, bits: int) -> int:
    """Characters in all occurrences of the most frequent of `count` n-grams (the first
    to reach the top count wins ties): occurrences x its characters."""
    best_count, best_chars = 0, 0
    for i in range(count):
        seen = _seen_before(table, gen, bits, grams[i])
        if seen > best_count:
            best_count, best_chars = seen, gram_chars[i]
    return best_count * best_chars


@nb.njit(cache=True, nogil=True)
def _dup_ngram_chars(grams: np.ndarray, chars: np.ndarray, n_words: int, n: int,
                     table: np.ndarray, gen: np.int64, bits: int, covered: np.ndarray) -> int:
    """Characters of the words covered by a repeat (any occurrence after the first) of
    some n-gram, each counted once."""
    covered[:n_words] = False
    any_dup = False
    for i in range(n_words - n + 1):
        if _seen_before(table, gen, bits, grams[i]) > 1:
            any_dup = True
            covered[i:i + n] = True
    if not any_dup:
        return 0
    total = 0
    for i in range(n_words):
        if covered[i]:
            total += chars[i]
    return total


@nb.njit(cache=True, nogil=True)
def _symbols(data: np.ndarray, start: int, end: int) -> tuple[int, int, int]:
    """(characters, '#' count, ellipsis count: '...' or '…', non-overlapping)."""
    n_chars = hashes = ellipses = 0
    i = start
    while i < end:
        b = data[i]
        n_chars += (b & 0xC0) != 0x80
        if b == 35:
            hashes += 1
        elif i + 2 < end and ((b == 46 and data[i + 1] == 46 and data[i + 2] == 46) or (
                b == 0xE2 and data[i + 1] == 0x80 and data[i + 2] == 0xA6)):
            ellipses += 1
            if b == 46:  # the other two dots (a '…' is one character of three bytes)
                n_chars += 2
            i += 3
            continue
        i += 1
    return n_chars, hashes, ellipses


@nb.njit(cache=True, nogil=True)
def _words(data: np.ndarray, start: int, end: int, stop_hashes: np.ndarray,
           is_alpha: np.ndarray, words: np.ndarray,
           chars: np.ndarray) -> tuple[int, int, int, int, int]:
    """Fill words[:n] (hashes, ASCII-lower-cased) and chars[:n]; return (n, non-symbol
    words, their characters, words with a letter, stop-word occurrences). A stop word
    is matched on the word without leading or trailing ASCII punctuation ("the," is
    "the")."""
    n_all = n_words = word_chars = alpha_words = stop = 0
    i = start
    while i < end:
        while i < end and _is_space(data[i]):
            i += 1
        if i >= end:
            break
        j = i
        h = FNV_OFFSET
        c = 0
        punct_only = True
        alpha = False
        high = False
        while j < end and not _is_space(data[j]):
            b = data[j]
            low = b + 32 if 65 <= b <= 90 else b
            h = (h ^ np.uint64(low)) * FNV_PRIME
            c += (b & 0xC0) != 0x80
            punct_only &= _is_punct(b)
            alpha |= _is_ascii_letter(b)
            high |= b >= 128
            j += 1
        if high and not alpha:
            alpha = _has_alpha_code_point(data, i, j, is_alpha)
        words[n_all] = _mix(h)
        chars[n_all] = c
        n_all += 1
        alpha_words += alpha
        if not punct_only:
            n_words += 1
            word_chars += c
            a, z = i, j
            while a < z and _is_punct(data[a]):
                a += 1
            while z > a and _is_punct(data[z - 1]):
                z -= 1
            if z - a <= 4:
                core = FNV_OFFSET
                for k in range(a, z):
                    b = data[k]
                    low = b + 32 if 65 <= b <= 90 else b
                    core = (core ^ np.uint64(low)) * FNV_PRIME
                core = _mix(core)
                for s in range(len(stop_hashes)):
                    if stop_hashes[s] == core:
                        stop += 1
                        break
        i = j
    return n_all, n_words, word_chars, alpha_words, stop


@nb.njit(cache=True, nogil=True)
def score_batch(data: np.ndarray, offsets: np.ndarray, stop_hashes: np.ndarray,
                is_alpha: np.ndarray, n_scores: int) -> np.ndarray:
    """(docs, n_scores) float64 scores in SCORE_COLUMNS order, one document at a time;
    is_alpha[c] says whether code point c is a letter (`_alpha_code_points`)."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, n_scores), np.float64)
    longest = 1
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    most = longest // 2 + 2  # words (or lines) a document of `longest` bytes can hold
    table = np.zeros((1 << _table_bits(most), 3), np.int64)
    table[:, 1] = -1
    words = np.zeros(most, np.uint64)
    chars = np.zeros(most, np.int64)
    covered = np.zeros(most, np.bool_)
    grams = np.zeros(most, np.uint64)
    gram_chars = np.zeros(most, np.int64)
    gen = np.int64(0)
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        row = out[d]
        total_chars, hashes, ellipses = _symbols(data, start, end)
        n_all, n_words, word_chars, alpha_words, stop = _words(
            data, start, end, stop_hashes, is_alpha, words, chars)
        row[0] = n_words
        row[1] = word_chars / n_words if n_words else 0.0
        row[2] = max(hashes, ellipses) / n_words if n_words else 0.0
        # a table of this document's own size: a batch's longest document would make
        # every other document's probes miss the cache
        bits = _table_bits(max(n_all, 1))
        gen += 1
        lines, dup_lines, dup_line_chars, bullets, ellipsis_lines = _units(
            data, start, end, 1, table, gen, bits)
        row[3] = bullets / lines if lines else 0.0
        row[4] = ellipsis_lines / lines if lines else 0.0
        row[5] = alpha_words / n_all if n_all else 0.0
        row[6] = stop
        row[7] = dup_lines / lines if lines else 0.0
        row[8] = dup_line_chars / total_chars if total_chars else 0.0
        gen += 1
        paras, dup_paras, dup_para_chars, _, _ = _units(
            data, start, end, 2, table, gen, bits)
        row[9] = dup_paras / paras if paras else 0.0
        row[10] = dup_para_chars / total_chars if total_chars else 0.0
        grams[:n_all] = words[:n_all]
        gram_chars[:n_all] = chars[:n_all]
        col = 11
        for n in range(2, 11):
            if n_all < n:
                break
            _next_level(grams, gram_chars, words, chars, n_all, n)
            gen += 1
            if n <= 4:
                top = _top_ngram_chars(grams, gram_chars, n_all - n + 1, table, gen, bits)
                row[col] = top / total_chars
            else:
                dup = _dup_ngram_chars(grams, chars, n_all, n, table, gen, bits, covered)
                row[col] = dup / total_chars
                if dup == 0:  # no repeated n-gram: no repeated longer one (left 0)
                    break
            col += 1
    return out


def _word_hash(word: str) -> int:
    """The kernel's hash of one word (lower-cased ASCII), for the stop-word table."""
    h = int(FNV_OFFSET)
    for b in word.lower().encode("utf-8"):
        h = ((h ^ b) * int(FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
    return int(_mix(np.uint64(h)))


_STOP_HASHES = np.array([_word_hash(w) for w in GOPHER_STOP_WORDS], np.uint64)


@functools.cache
def _alpha_code_points() -> np.ndarray:
    """`str.isalpha` of every code point (1.1 MB, ~30 ms, built once per process on first
    use): numpy's string ufunc over the code points viewed as one-character strings."""
    return np.strings.isalpha(np.arange(0x110000, dtype="<u4").view("<U1"))


def quality_scores(texts: pa.Array | pa.ChunkedArray) -> dict[str, np.ndarray]:
    """Every SCORE_COLUMNS score of each text (null texts score as empty)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if texts.null_count:
        texts = texts.fill_null("")
    data, offsets = byte_view(texts)
    scores = score_batch(data, offsets, _STOP_HASHES, _alpha_code_points(),
                         len(SCORE_COLUMNS))
    return {name: scores[:, i] for i, name in enumerate(SCORE_COLUMNS)}
