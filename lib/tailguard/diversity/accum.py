"""Accumulators of one document group, fed whole token batches (no Spark import).

The diversity kernel sees a group's documents in a fixed order (seeded `okey` order) and
keeps, per group, only mergeable or bounded state:

- `Stream`: document / token / n-gram totals, zstd sizes of fixed chunks of the group's
  text, and the `okey`s of its first `sample_size` documents (the homogenization sample).
- HyperLogLog registers (owned by the caller, one (4, 2^p) block per group).
- `Counts`: exact occurrences per 64-bit key (words for the unigram entropy, concepts for
  tail coverage and rarefaction), summed in a hash table (`count_keys`), which is several
  times faster than a sort-based `np.unique` on the tens of millions of tokens a job sees.
- `Prefix`: the nested seeded budget samples of a group. Documents in `okey` order up to
  B tokens form the budget-B sample, so the samples for B1 < B2 < B3 are prefixes of one
  another and one walk through the group snapshots all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.diversity.compiled import (
    contains_each,
    count_members,
    count_probes,
    hll_update,
    join_lines,
    key_table,
)
from tailguard.diversity.estimators import ChunkCompressor, entropy_bits
from tailguard.diversity.hll import estimate_many
from tailguard.text.hashing import GOLDEN64
from tailguard.text.tokenize import byte_view

DISTINCT_N = 4  # distinct-n is reported for n = 1..4
_GRAM_SHORTFALL = np.arange(DISTINCT_N)  # a document of L tokens has L - (n - 1) n-grams
_GROUP_MIX = GOLDEN64  # odd: distinct group ids stay distinct


def count_keys(keys: np.ndarray, counts: np.ndarray | None = None,
               groups: np.ndarray | None = None):
    """Sum `counts` (default 1) per key, or per (group, key). Returns (keys, counts) or
    (groups, keys, counts) as numpy arrays, in a deterministic order (key buckets, and
    first appearance within a bucket: `compiled.count_probes`).

    Counting is one of the kernel's largest costs (12% of it on real-vocabulary pages),
    so it is one compiled pass over cache-sized buckets rather than a hash table over the
    whole batch (pandas' `factorize` + `bincount`: 2.3x slower, +14% on the whole kernel,
    measured in compiled.py; Arrow's aggregation on two key columns was several times
    slower again). A (group, key) pair is counted as one
    uint64, the key xor the group id times an odd constant; the keys are uniform 64-bit
    hashes, so two pairs meet only with the chance of a 64-bit hash collision (as two
    distinct n-grams do). The group and key reported for a pair are those of its first
    row, not decoded (a negative group id mixes in as its 64 bits, unsigned)."""
    keys = np.ascontiguousarray(keys, np.uint64)
    grouped = groups is not None
    group_ids = np.ascontiguousarray(groups, np.int64) if grouped else _NO_GROUPS
    weighted = counts is not None
    weights = np.ascontiguousarray(counts, np.int64) if weighted else _NO_WEIGHTS
    out_groups, out_keys, summed = count_probes(keys, group_ids, grouped, weights, weighted,
                                                _GROUP_MIX)
    if not grouped:
        return out_keys, summed
    return out_groups, out_keys, summed


_NO_GROUPS = np.zeros(0, np.int64)
_NO_WEIGHTS = np.zeros(0, np.int64)


def entropy_of(counts: np.ndarray) -> float:
    """Unigram entropy (bits) of exact word counts (nan for no words)."""
    c = counts.astype(np.float64)
    return float(entropy_bits(c.sum(), (c * np.log2(np.maximum(c, 1.0))).sum()))


def update_registers(regs: np.ndarray, grams: list[np.ndarray], bounds: np.ndarray,
                     groups: np.ndarray, precision: int) -> None:
    """Fold the n-gram hashes of a run of documents into registers `regs` (groups, 4,
    2^p) in place: grams[n-1][bounds[n-1, j]:bounds[n-1, j + 1]] are document j's n-grams,
    and groups[j] its register group."""
    rows = regs.reshape(-1, regs.shape[-1])
    groups = np.asarray(groups, np.int64) * DISTINCT_N
    for n in range(1, DISTINCT_N + 1):
        hll_update(rows, grams[n - 1], bounds[n - 1], groups + (n - 1), precision)


class Counts:
    """Exact occurrences per key, kept reduced: raw key arrays are folded into the reduced
    (key, count) arrays whenever they outgrow them, so memory follows distinct keys."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.uint64)
        self.counts = np.zeros(0, np.int64)
        self.pending: list[np.ndarray] = []
        self.pending_size = 0

    def add(self, keys: np.ndarray) -> None:
        if len(keys):
            self.pending.append(keys)
            self.pending_size += len(keys)
            if self.pending_size > max(len(self.keys), 1 << 16):
                self.reduce()

    def reduce(self) -> Counts:
        if self.pending:
            raw = np.concatenate(self.pending)
            self.keys, self.counts = count_keys(
                np.concatenate([self.keys, raw]),
                np.concatenate([self.counts, np.ones(len(raw), np.int64)]))
            self.pending, self.pending_size = [], 0
        return self


@dataclass
class Stream:
    """Totals, compressed sizes and first-k sample of one group's documents in order."""

    chunk_bytes: int
    level: int
    sample_size: int
    n_docs: int = 0
    n_tokens: int = 0
    ngrams: np.ndarray = field(default_factory=lambda: np.zeros(DISTINCT_N, np.int64))
    sample: list[int] = field(default_factory=list)
    compressor: ChunkCompressor | None = None
    zstd: object | None = None  # a shared zstd context (`estimators.zstd_compressor`)

    def add(self, lengths: np.ndarray, lines: np.ndarray, okeys: np.ndarray) -> list[int]:
        """Add documents in order, `lines` their UTF-8 texts each ended by a newline
        (`TextBytes.lines`); returns the okeys that entered the sample."""
        if len(lengths) == 0:
            return []
        grams = np.maximum(lengths[:, None] - _GRAM_SHORTFALL, 0).sum(axis=0)
        self.n_docs += len(lengths)
        self.n_tokens += int(grams[0])
        self.ngrams += grams
        taken = [int(k) for k in okeys[: max(self.sample_size - len(self.sample), 0)]]
        self.sample.extend(taken)
        if self.compressor is None:
            self.compressor = ChunkCompressor(self.chunk_bytes, self.level, self.zstd)
        self.compressor.add(memoryview(lines))
        return taken

    def sizes(self) -> tuple[int, int]:
        """(raw, compressed) bytes so far, the open chunk included, without closing it."""
        return self.compressor.peek() if self.compressor is not None else (0, 0)

    def sums(self) -> dict:
        """Totals so far; compressing the open chunk costs, so callers that read a closed
        group's totals several times take them once (`_group_rows` does)."""
        raw, compressed = self.sizes()
        row = {"n_docs": self.n_docs, "n_tokens": self.n_tokens,
               "raw_bytes": raw, "compressed_bytes": compressed}
        row.update({f"ngrams_{n}": int(self.ngrams[n - 1]) for n in range(1, DISTINCT_N + 1)})
        return row


def estimates_row(regs: np.ndarray) -> dict:
    """distinct_n_k of one group from its (4, 2^p) registers."""
    est = estimate_many(regs)
    return {f"distinct_n_{n}": float(est[n - 1]) for n in range(1, DISTINCT_N + 1)}


class TailSet:
    """Membership in the tail (uint64 concept hashes), for many keys at once: a hash set
    (`compiled.key_table`), about one probe per key."""

    def __init__(self, keys: np.ndarray):
        keys = np.asarray(keys, np.uint64)
        self.size = len(keys)
        self.table = key_table(keys)

    def members(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` (uint64 hashes, repeats allowed) are tail concepts (bool)."""
        if not self.size or not len(keys):
            return np.zeros(len(keys), bool)
        return contains_each(self.table, np.ascontiguousarray(keys, np.uint64))

    def count_in(self, keys: np.ndarray) -> int:
        """How many of `keys` (distinct uint64 hashes) are tail concepts."""
        if not self.size or not len(keys):
            return 0
        return int(count_members(self.table, np.ascontiguousarray(keys, np.uint64)))


def concept_stats(counts: Counts) -> dict:
    """Rarefaction numbers of one sample's exact concept counts."""
    counts.reduce()
    keys, c = counts.keys, counts.counts
    return {"distinct_concepts": len(keys), "concept_occurrences": int(c.sum()),
            "f1": int((c == 1).sum()), "f2": int((c == 2).sum())}


class TextBytes:
    """A batch's text column as its UTF-8 bytes and offsets (zero-copy from Arrow): the
    compressed-size measures read documents' bytes from here, so no Python string is
    made per document only to be joined and encoded back to bytes. Null texts are empty
    (`text` gives them back as None)."""

    def __init__(self, column: pa.Array | pa.ChunkedArray):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        self.column = column  # as given: a null text reads back as None
        if column.null_count:
            column = pc.fill_null(column, "")
        self.data, self.offsets = byte_view(column)

    def lines(self, rows: np.ndarray) -> np.ndarray:
        """The texts of `rows`, each followed by a newline, as one uint8 array."""
        return join_lines(self.data, self.offsets, np.ascontiguousarray(rows, np.int64))

    def text(self, row: int) -> str | None:
        """One document's text as a Python string (for the few that are kept)."""
        return self.column[row].as_py()


@dataclass
class DocSlice:
    """What a group needs of a run of consecutive documents: token lengths, texts (rows
    of a batch's `TextBytes`), okeys, and the n-gram / word / concept hashes of exactly
    those documents."""

    lengths: np.ndarray
    source: TextBytes
    rows: np.ndarray             # the documents' rows in `source`
    okeys: np.ndarray
    grams: list[np.ndarray]      # n-gram hashes, n = 1..4
    bounds: np.ndarray           # (4, docs + 1): document j's n-grams in grams[n-1]
    concepts: np.ndarray         # concept hashes (n = 1..max_n, stop-word edges removed)
    tail_hits: np.ndarray        # the tail concepts of the documents that count for
    #                              coverage (not `defines_tail`), repeats kept

    def lines(self, which: np.ndarray | None = None) -> np.ndarray:
        """The texts of the documents (of `which`, indices into this slice), each ended by
        a newline."""
        return self.source.lines(self.rows if which is None else self.rows[which])


class Prefix:
    """The nested budget samples of one group: fed its documents in okey order, it
    snapshots every budget B at the last document whose running token total is <= B.

    Lazy: documents wait (as slices, bounded by the largest budget) until a budget is
    known to be filled, and only then are they counted. A group that ends before its
    next budget fills has no sample for it, so the work on its last documents would be
    thrown away; for the many small groups of a crawl that is most of the work."""

    def __init__(self, budgets: tuple[int, ...], precision: int, stream: Stream,
                 count_words: bool = True):
        self.budgets, self.precision = budgets, precision
        self.count_words = count_words  # False: no entropy (the replicate samples)
        self.stream = stream
        self.regs = np.zeros((1, DISTINCT_N, 1 << precision), np.int8)
        self.words, self.concepts = Counts(), Counts()
        self.hits = np.zeros(0, np.uint64)  # distinct tail concepts covered so far
        self.next = 0          # index of the first budget not yet snapshotted
        self.snapshots: list[dict] = []
        self.pending: list[DocSlice] = []
        self.tokens = 0        # tokens fed so far, pending ones included
        self.head: list[int] = []  # okeys of the first `sample_size` documents fed

    @property
    def done(self) -> bool:
        return self.next >= len(self.budgets)

    def feed(self, lengths: np.ndarray, slice_of) -> None:
        """Consume documents in order, `lengths` their token counts; `slice_of(i, j)`
        gives the DocSlice of documents i..j-1 (made only for the documents held)."""
        cum = self.tokens + np.cumsum(lengths)
        start = 0
        while not self.done:
            end = int(np.searchsorted(cum, self.budgets[self.next], side="right"))
            if end > start:
                self._hold(slice_of(start, end))
                start = end
            if end == len(cum):
                return  # every document fits: the budget may still fill later
            self._snapshot()  # the next document would pass the budget

    def _hold(self, docs: DocSlice) -> None:
        self.pending.append(docs)
        self.tokens += int(docs.lengths.sum())
        room = self.stream.sample_size - len(self.head)
        if room > 0:
            self.head.extend(int(k) for k in docs.okeys[:room])

    def stop(self) -> None:
        """Documents beyond this point are past every budget: close them all."""
        while not self.done:
            self._snapshot()

    def finish(self) -> None:
        """End of the group: a budget exactly filled is a sample; a larger one is not."""
        while not self.done and self.tokens == self.budgets[self.next]:
            self._snapshot()
        self.next = len(self.budgets)
        self.pending = []

    def _consume(self) -> None:
        """Count the documents held so far (their budget is filled)."""
        if not self.pending:
            return
        docs, self.pending = self.pending, []
        grams = [np.concatenate([d.grams[n] for d in docs]) for n in range(DISTINCT_N)]
        self.stream.add(np.concatenate([d.lengths for d in docs]),
                        np.concatenate([d.lines() for d in docs]),
                        np.concatenate([d.okeys for d in docs]))
        whole = np.array([[0, len(g)] for g in grams], np.int64)  # one group: the sample
        update_registers(self.regs, grams, whole, np.zeros(1, np.int64), self.precision)
        if self.count_words:
            self.words.add(grams[0])
        self.concepts.add(np.concatenate([d.concepts for d in docs]))
        self.hits = np.union1d(self.hits, np.concatenate([d.tail_hits for d in docs]))

    def _snapshot(self) -> None:
        """Record the budget's sample; a budget whose first document alone passes it has
        none (an empty set of documents measures nothing)."""
        self._consume()
        if self.stream.n_docs == 0:
            self.next += 1
            return
        row = {"token_budget": self.budgets[self.next], **self.stream.sums(),
               **estimates_row(self.regs[0]),
               "entropy_unigram": (entropy_of(self.words.reduce().counts)
                                   if self.count_words else None),
               **concept_stats(self.concepts), "covered": len(self.hits),
               "sample": list(self.stream.sample)}
        self.snapshots.append(row)
        self.next += 1
