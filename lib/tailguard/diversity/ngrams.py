"""Word and n-gram hashes for a whole Arrow batch, plus the stop-word rule for concepts.

Why hashes: distinct-n, unigram counts and tail concepts only need n-gram *identity*, so
every n-gram is reduced to one 64-bit value. Each distinct word of a batch is hashed once
with xxh3 (a well-kept C hash); n-gram hashes are then combined from word hashes with
vectorised uint64 arithmetic over the flat token array, never looping per document.
With 64-bit hashes the chance that two of a billion distinct n-grams collide is ~3e-2,
and one collision moves a distinct count by one, far below the HLL error.

Concepts (DESIGN.md "Tail concepts") are n-grams with no stop-word at either edge: "the
cat" is the concept "cat" with a function word attached, "state of the art" is a concept
because only its inner words are stop-words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tailguard.text.hashing import fmix64

# Closed-class English function words (articles, pronouns, auxiliaries, prepositions,
# conjunctions, common adverbial particles), lower-cased as the shared tokeniser emits them.
# Deliberately short: scikit-learn's ENGLISH_STOP_WORDS also lists content words such as
# "computer", "fire", "bill" and "system", which are exactly the rare concepts we count.
STOP_WORDS = frozenset(
    """a an the this that these those there here
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs themselves
    who whom whose which what whatever whoever
    am is are was were be been being have has had having do does did doing done
    will would shall should can could may might must ought
    and or but nor so yet if then than because as while until unless although though
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again further once
    all any both each few more most other some such no not only own same too very
    just also s t don't can't won't isn't aren't wasn't weren't it's i'm you're we're
    they're that's there's what's let's how when where why whether""".split()
)

_COMBINE = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio odd constant: multiplies the prefix


@dataclass(frozen=True)
class TokenBatch:
    """Flat tokens of a batch: `hashes[i]` is token i, `doc[i]` its document's row."""

    hashes: np.ndarray      # uint64, one per token
    is_stop: np.ndarray     # bool, one per token
    doc: np.ndarray         # int64 row index of the token's document
    lengths: np.ndarray     # int64 tokens per document

    @property
    def n_docs(self) -> int:
        return len(self.lengths)


def hash_words(words: pa.ListArray) -> TokenBatch:
    """Hash every token of a list<string> array (one list per document)."""
    lengths = pc.fill_null(pc.list_value_length(words), 0).to_numpy().astype(np.int64)
    flat = pc.list_flatten(words)
    if len(flat) == 0:
        empty = np.zeros(0, dtype=np.uint64)
        return TokenBatch(empty, np.zeros(0, bool), np.zeros(0, np.int64), lengths)
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary
    vocab_bytes = vocab.cast(pa.binary()).to_pylist()
    vocab_hash = np.fromiter((xxhash.xxh3_64_intdigest(w) for w in vocab_bytes),
                             dtype=np.uint64, count=len(vocab))
    vocab_stop = pc.is_in(vocab, value_set=pa.array(sorted(STOP_WORDS))).to_numpy(
        zero_copy_only=False)
    index = encoded.indices.to_numpy()
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return TokenBatch(vocab_hash[index], vocab_stop[index], doc, lengths)


def word_hash(word: str) -> int:
    """Hash of one word, as `hash_words` computes it (for tests and reference code)."""
    return xxhash.xxh3_64_intdigest(word.encode("utf-8"))


def ngram_hash_py(words: list[str]) -> int:
    """Pure-Python n-gram hash, the reference `ngrams` must agree with."""
    h = word_hash(words[0])
    mask = (1 << 64) - 1
    for w in words[1:]:
        h = int(fmix64(np.array([(h * int(_COMBINE) + word_hash(w)) & mask],
                                dtype=np.uint64))[0])
    return h


def concept_hashes_py(words: list[str], max_n: int) -> list[int]:
    """Pure-Python concept hashes of one document's words (n = 1..max_n, no stop-word at
    either edge): the reference `concept_edges` over `ngram_levels` must agree with."""
    return [ngram_hash_py(words[i:i + n]) for n in range(1, max_n + 1)
            for i in range(len(words) - n + 1)
            if words[i] not in STOP_WORDS and words[i + n - 1] not in STOP_WORDS]


def ngram_levels(tokens: TokenBatch, max_n: int
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """All n-grams that lie inside one document, for n = 1..max_n: per level, (hash,
    doc row, start token index).

    Hash of (w1..wn) = fmix64(hash(w1..wn-1) * C + hash(wn)), built for all positions at
    once, each level from the one below (one fmix64 pass per level); position i is kept
    when tokens i and i+n-1 belong to the same document, i.e. unless i is among the last
    n-1 tokens of its document (marked per document, not compared per token).
    """
    total = len(tokens.hashes)
    ends = np.cumsum(tokens.lengths)           # token index after each document
    firsts = ends - tokens.lengths
    out = []
    h = tokens.hashes
    for n in range(1, max_n + 1):
        if total < n:
            empty = np.zeros(0, np.int64)
            out.append((np.zeros(0, np.uint64), empty, empty))
            continue
        if n == 1:  # every token is a unigram of its document
            out.append((h, tokens.doc, np.arange(total, dtype=np.int64)))
            continue
        with np.errstate(over="ignore"):
            h = fmix64(h[:-1] * _COMBINE + tokens.hashes[n - 1:])
        keep = np.ones(total - n + 1, dtype=bool)
        for k in range(1, n):  # the last n-1 tokens of a document start no n-gram
            pos = ends - k
            keep[pos[(pos >= firsts) & (pos < len(keep))]] = False
        start = np.flatnonzero(keep)
        out.append((h[keep], tokens.doc[start], start))
    return out


def concept_edges(tokens: TokenBatch, start: np.ndarray, n: int) -> np.ndarray:
    """True for the n-grams starting at `start` with no stop-word at either edge."""
    return ~tokens.is_stop[start] & ~tokens.is_stop[start + n - 1]
