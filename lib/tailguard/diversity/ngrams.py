"""Word and n-gram hashes for a whole Arrow batch, plus the stop-word rule for concepts.

Why hashes: distinct-n, unigram counts and tail concepts only need n-gram *identity*, so
every n-gram is reduced to one 64-bit value. Every token is hashed while the words are
found in the text bytes (FNV-1a finalised by fmix64, `hash_texts`);
n-gram hashes are then combined from word hashes in another (`compiled.ngram_table`).
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

from tailguard.diversity.compiled import (
    bytes_hash,
    finish_hashes,
    key_table,
    max_probes,
    ngram_table,
)
from tailguard.text.hashing import GOLDEN64, fmix64
from tailguard.text.tokenize import word_fnv

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

_COMBINE = GOLDEN64  # multiplies the prefix hash


@dataclass(frozen=True)
class TokenBatch:
    """Flat tokens of a batch, document after document: `hashes[i]` is token i."""

    hashes: np.ndarray      # uint64, one per token
    is_stop: np.ndarray     # bool, one per token
    lengths: np.ndarray     # int64 tokens per document

    @property
    def n_docs(self) -> int:
        return len(self.lengths)


def hash_texts(texts: pa.Array | pa.ChunkedArray) -> TokenBatch:
    """Hash every word of `words_arrow(texts)` (`word_hash`) in one pass over the text
    bytes: the words are found and hashed together (`tokenize.word_fnv`,
    `compiled.finish_hashes`), never copied out (~2x faster than tokenising, then
    hashing the word array)."""
    states, lengths = word_fnv(texts)
    hashes, is_stop = finish_hashes(states, _STOP_TABLE, _STOP_PROBES)
    return TokenBatch(hashes, is_stop, lengths)


def word_hash(word: str) -> int:
    """Hash of one word, as `hash_texts` computes it (for tests and reference code)."""
    return bytes_hash(word.encode("utf-8"))


_STOP_TABLE = key_table(np.array([word_hash(w) for w in STOP_WORDS], np.uint64), 8)
_STOP_PROBES = max_probes(_STOP_TABLE)


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
    either edge): the reference `ngrams_of` must agree with."""
    return [ngram_hash_py(words[i:i + n]) for n in range(1, max_n + 1)
            for i in range(len(words) - n + 1)
            if words[i] not in STOP_WORDS and words[i + n - 1] not in STOP_WORDS]


@dataclass(frozen=True)
class NGrams:
    """The n-grams (n = 1..max_n) and concepts of a batch, sliceable by documents."""

    grams: list[np.ndarray]     # grams[n-1]: n-gram hashes, document by document
    bounds: np.ndarray          # (max_n, docs + 1): document d's n-grams start at bounds[n-1, d]
    concepts: np.ndarray        # concept hashes (n = 1..concept_max_n), document by document
    concept_bounds: np.ndarray  # (docs + 1,): document d's concepts start here

    def doc_grams(self, lo: int, hi: int) -> list[np.ndarray]:
        """The n-grams of documents lo..hi-1, per n."""
        return [g[b[lo]:b[hi]] for g, b in zip(self.grams, self.bounds, strict=True)]

    def doc_concepts(self, lo: int, hi: int) -> np.ndarray:
        return self.concepts[self.concept_bounds[lo]:self.concept_bounds[hi]]


def ngrams_of(tokens: TokenBatch, max_n: int, concept_max_n: int) -> NGrams:
    """Every n-gram that lies inside one document, n = 1..max_n, and the concepts among
    them (n <= concept_max_n, no stop word at either edge).

    Hash of (w1..wn) = fmix64(hash(w1..wn-1) * C + hash(wn)), all levels and the concept
    rule in one compiled pass over the tokens (`compiled.ngram_table`)."""
    grams, level_start, bounds, concepts, concept_bounds = ngram_table(
        tokens.hashes, tokens.is_stop, tokens.lengths, max_n, concept_max_n, _COMBINE)
    return NGrams([grams[level_start[n]:level_start[n + 1]] for n in range(max_n)],
                  bounds, concepts, concept_bounds)
