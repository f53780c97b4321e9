"""Compiled loops (numba) for the per-token work of the diversity passes.

Why compiled: numpy states these as several passes over arrays of tens of millions of
values, a temporary per step, and its scatter primitive is slow where it matters:
`np.maximum.at` (HLL registers) costs ~17 ns per item on the bench machine, the loop
here ~1.5. Here each is one loop over the items:

- `count_probes`: exact sums per 64-bit key. The rows are first spread into buckets by
  the top bits of a multiplicative hash of the key, in row order (one counting-sort
  pass), then each bucket is counted in its own small open-addressing table that stays
  in cache. Kept after a same-run measurement on the real-vocabulary corpus (issue 22,
  2026-12-03, 8,000 `bench/realvocab.py` pages in process, 17M keys counted): the whole
  kernel takes 2.94 s with it and 3.34 s with `pd.factorize` + `np.bincount` in its
  place (+14%; counting itself 0.35 s against 0.82 s). Its output order is defined
  here, not by another library's hash table.
- `hll_update`: register index and rank of each hash, max into the register row of its
  document's group, one pass, branch-free (datasketch's convention, see hll.py).
- `finish_hashes`: a 64-bit hash and a stop-word flag for every token of a batch, from
  the FNV-1a states `tokenize.word_fnv` computes while it finds the words (no word array,
  no per-word Python call, no dictionary); `bytes_hash` is the one-word reference.
- `key_table` / `count_members` / `contains_each`: an open-addressing set of 64-bit keys
  (stop words, the tail), about one probe per lookup (a binary search into hundreds of
  thousands of sorted hashes misses the cache at every step).
- `ngram_table`: every n-gram (n = 1..4) and concept of a batch from its word hashes,
  one pass over the tokens with no temporary per level (ngrams.py).
- `join_lines`: documents' bytes from an Arrow string column's buffers, each ended by a
  newline, for the compressors (`accum.TextBytes`; held equal to joining the strings).
- `inverse_power_sums`: the HyperLogLog raw estimate's sum of 2^-register per register
  row (`hll.estimate_many`, held equal to datasketch's estimate).

Each has a numpy / Python reference that the unit tests hold it equal to. Compiled
code is cached on disk (`cache=True`), so a Spark worker pays the compile once per
machine, not per task.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from tailguard.text.hashing import GOLDEN64 as _MIX  # the bucket / slot hash multiplier
from tailguard.text.hashing import fmix64_one as _fmix64
from tailguard.text.tokenize import FNV_OFFSET, FNV_PRIME

BUCKET_ROWS = 8192  # rows per bucket (about): a bucket's table of 2x that stays in cache
MAX_BUCKET_BITS = 16


@nb.njit(cache=True, nogil=True)
def _bucket_bits(n: int) -> int:
    bits = 0
    while (n >> bits) > BUCKET_ROWS and bits < MAX_BUCKET_BITS:
        bits += 1
    return bits


@nb.njit(cache=True, nogil=True)
def count_probes(keys: np.ndarray, groups: np.ndarray, grouped: bool, weights: np.ndarray,
                 weighted: bool, group_mix: np.uint64
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums per distinct key (uint64), or per distinct (group, key) when `grouped`: a pair
    is counted as one uint64 probe, key ^ (group * group_mix). Returns (group, key, sum
    of `weights` over its rows, or its row count when not `weighted`) of each distinct
    probe, bucket by bucket and in order of first appearance within a bucket (groups is
    empty when not grouped). Deterministic: the order depends only on the input.

    The rows are first copied into bucket order (one counting-sort pass, sequential
    writes per bucket), so each bucket is then read as one contiguous run and counted in
    a small table that stays in cache; the key and group of a distinct probe are read
    from that run, not gathered from the input at random."""
    n = len(keys)
    bits = _bucket_bits(n)
    n_buckets = 1 << bits
    shift = np.uint64(64 - bits)
    starts = np.zeros(n_buckets + 1, np.int64)
    if bits > 0:
        for i in range(n):
            probe = keys[i] ^ (np.uint64(groups[i]) * group_mix) if grouped else keys[i]
            starts[np.int64((probe * _MIX) >> shift) + 1] += 1
    else:
        starts[1] = n
    largest = 0
    for b in range(n_buckets):
        largest = max(largest, starts[b + 1])
        starts[b + 1] += starts[b]
    values = np.empty(n, np.uint64)
    bucket_keys = np.empty(n if grouped else 0, np.uint64)
    bucket_groups = np.empty(n if grouped else 0, np.int64)
    amounts = np.empty(n if weighted else 0, np.int64)
    fill = starts[:-1].copy()
    for i in range(n):
        probe = keys[i] ^ (np.uint64(groups[i]) * group_mix) if grouped else keys[i]
        b = np.int64((probe * _MIX) >> shift) if bits > 0 else 0
        k = fill[b]
        values[k] = probe
        if grouped:
            bucket_keys[k] = keys[i]
            bucket_groups[k] = groups[i]
        if weighted:
            amounts[k] = weights[i]
        fill[b] = k + 1
    table_bits = 4
    while (1 << table_bits) < 2 * largest:
        table_bits += 1
    size = 1 << table_bits
    slot_shift = np.uint64(64 - bits - table_bits)
    mask = size - 1
    table_value = np.zeros(size, np.uint64)
    table_code = np.full(size, -1, np.int64)
    out_keys = np.empty(n, np.uint64)
    out_groups = np.empty(n if grouped else 0, np.int64)
    sums = np.zeros(n, np.int64)
    used = np.empty(n, np.int64)  # the table slot of each distinct value
    found = 0
    for b in range(n_buckets):
        bucket_first = found
        for k in range(starts[b], starts[b + 1]):
            value = values[k]
            slot = np.int64((value * _MIX) >> slot_shift) & mask
            while True:
                code = table_code[slot]
                if code < 0:
                    code = found
                    table_code[slot] = code
                    table_value[slot] = value
                    if grouped:
                        out_keys[code] = bucket_keys[k]
                        out_groups[code] = bucket_groups[k]
                    else:
                        out_keys[code] = value
                    used[code] = slot
                    found += 1
                    break
                if table_value[slot] == value:
                    break
                slot = (slot + 1) & mask
            sums[code] += amounts[k] if weighted else 1
        for code in range(bucket_first, found):  # empty only the slots this bucket used
            table_code[used[code]] = -1
    return (out_groups[:found].copy() if grouped else out_groups, out_keys[:found].copy(),
            sums[:found].copy())


@intrinsic
def _leading_zeros(typingctx, value):
    """Leading zero bits of a uint64 (64 for 0): LLVM's ctlz, one instruction."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))

    return types.uint64(types.uint64), codegen


@nb.njit(cache=True, nogil=True)
def hll_update(regs: np.ndarray, hashes: np.ndarray, bounds: np.ndarray, rows: np.ndarray,
               p: int) -> None:
    """Fold hashes into 2-d int8 registers (row, 2^p): hashes[bounds[j]:bounds[j + 1]] go
    to register row rows[j] (a run of documents, each with its group's row). Register
    index = the low p bits, rank = (64 - p) - bit_length(h >> p) + 1 (hll.index_rank,
    datasketch's convention); the register keeps the max rank."""
    mask = np.uint64((1 << p) - 1)
    for j in range(len(rows)):
        row = rows[j]
        for i in range(bounds[j], bounds[j + 1]):
            h = hashes[i]
            # rest = h >> p has 64 - p bits, of which leading_zeros(rest) - p lead with 0s
            rank = np.int8(np.int64(_leading_zeros(h >> np.uint64(p))) - p + 1)
            index = np.int64(h & mask)
            # always stored, no branch: whether a rank raises its register is a coin flip
            # while registers fill, and the mispredictions cost 2-4x the whole update
            # (3.6-7.4 against 1.2-1.8 ns per hash on the bench machine)
            regs[row, index] = max(regs[row, index], rank)


@nb.njit(cache=True, nogil=True)
def ngram_table(words: np.ndarray, is_stop: np.ndarray, lengths: np.ndarray, max_n: int,
                concept_max_n: int, combine: np.uint64):
    """Every n-gram inside one document (n = 1..max_n) and every concept (n-gram of
    n <= concept_max_n with no stop word at either edge), in one pass over the tokens.

    The hash of (w1..wn) is fmix64(hash(w1..wn-1) * combine + hash(wn)), built on from
    each start token. Returns
    - grams: level-major, level n at [level_start[n-1], level_start[n]), document-major
      inside a level; `bounds[n-1, d]` is where document d's n-grams start in its level
      (a document of L tokens has max(L - n + 1, 0));
    - concepts: document-major (a document's concepts of every n are contiguous, so a
      range of documents is one slice), document d's at [concept_bounds[d],
      concept_bounds[d + 1])."""
    n_docs = len(lengths)
    bounds = np.zeros((max_n, n_docs + 1), np.int64)
    for n in range(1, max_n + 1):
        for d in range(n_docs):
            bounds[n - 1, d + 1] = bounds[n - 1, d] + max(lengths[d] - n + 1, 0)
    level_start = np.zeros(max_n + 1, np.int64)
    for n in range(1, max_n + 1):
        level_start[n] = level_start[n - 1] + bounds[n - 1, n_docs]
    grams = np.empty(level_start[max_n], np.uint64)
    concepts = np.empty(level_start[min(concept_max_n, max_n)], np.uint64)
    concept_bounds = np.zeros(n_docs + 1, np.int64)
    # Whether an n-gram is a concept depends on stop words, which fall at random: it is
    # written at the cursor always and the cursor advanced by the test (no branch to
    # mispredict). A write lands at most at the index of the n-gram being tested.
    concept_levels = min(concept_max_n, max_n)
    start = np.empty(max_n, np.int64)  # where the document's n-grams start, per level
    found = 0
    token = 0
    for d in range(n_docs):
        length = lengths[d]
        for n in range(max_n):
            start[n] = level_start[n] + bounds[n, d]
        for i in range(length):
            first = token + i
            h = words[first]
            edge = np.int64(1) - np.int64(is_stop[first])  # no stop word at the left edge
            for n in range(1, min(max_n, length - i) + 1):
                last = first + n - 1
                if n > 1:
                    h = _fmix64(h * combine + words[last])
                grams[start[n - 1] + i] = h
                if n <= concept_levels:
                    concepts[found] = h
                    found += edge & (np.int64(1) - np.int64(is_stop[last]))
        concept_bounds[d + 1] = found
        token += length
    return grams, level_start, bounds, concepts[:found], concept_bounds


@nb.njit(cache=True, nogil=True)
def _bytes_hash(data: np.ndarray, start: int, end: int) -> np.uint64:
    """64-bit hash of data[start:end]: FNV-1a over the bytes, then MurmurHash3's fmix64
    so every bit of the result is uniform (FNV-1a alone mixes its high bits poorly, and
    HLL reads registers from the low bits and ranks from the high ones)."""
    h = FNV_OFFSET
    for k in range(start, end):
        h = (h ^ np.uint64(data[k])) * FNV_PRIME
    return _fmix64(h)


@nb.njit(cache=True, nogil=True)
def finish_hashes(states: np.ndarray, stop_words: np.ndarray, probes: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(hash, is stop word) of every token from its FNV-1a state (`tokenize.word_fnv`):
    fmix64 of the state, as `_bytes_hash` finishes it, so equal to `bytes_hash` of the
    word.

    Stop words are looked up branch-free: every token compares the same `probes` slots
    (`max_probes` of the stop-word key table), so whether a token is a stop word (about
    every other one, at random) never steers a branch; with the early-exit probe loop
    the mispredictions cost about half the time here."""
    n = len(states)
    hashes = np.empty(n, np.uint64)
    is_stop = np.empty(n, np.bool_)
    shift = _table_shift(stop_words)
    mask = len(stop_words) - 2
    zero_is_key = stop_words[len(stop_words) - 1] != 0
    for i in range(n):
        h = _fmix64(states[i])
        hashes[i] = h
        home = np.int64((h * _MIX) >> shift)
        found = False
        for j in range(probes):
            found |= stop_words[(home + j) & mask] == h
        is_stop[i] = (found and h != 0) or (h == 0 and zero_is_key)
    return hashes, is_stop


@nb.njit(cache=True, nogil=True)
def max_probes(table: np.ndarray) -> int:
    """The most slots any key of a key table sits from its home slot, plus one: a lookup
    that compares that many slots from the home finds every key (`finish_hashes`)."""
    shift, mask = _table_shift(table), len(table) - 2
    most = 1
    for slot in range(len(table) - 1):
        key = table[slot]
        if key != 0:
            home = np.int64((key * _MIX) >> shift)
            most = max(most, ((slot - home) & mask) + 1)
    return most


# A key table is an open-addressing hash set of uint64 keys: 2^b slots (0 = empty, linear
# probing from the top bits of key * _MIX), then one flag slot for the key 0 itself.

def key_table(keys: np.ndarray, slots_per_key: int = 2) -> np.ndarray:
    """A key table of `keys` with at least `slots_per_key` slots per key (load <= 1/2 at
    the default: about one probe per lookup)."""
    keys = np.asarray(keys, np.uint64)
    if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():  # the tail comes sorted and
        keys = np.unique(keys)                                # unique: no second sort
    bits = max(4, int(np.ceil(np.log2(max(len(keys), 1) * slots_per_key))))
    table = np.zeros((1 << bits) + 1, np.uint64)
    table[-1] = np.uint64(bool(len(keys)) and keys[0] == 0)  # sorted: 0 comes first
    _fill_table(table, keys[keys != 0])
    return table


@nb.njit(cache=True, nogil=True)
def _table_shift(table: np.ndarray) -> np.uint64:
    bits = 0
    while (1 << bits) < len(table) - 1:
        bits += 1
    return np.uint64(64 - bits)


@nb.njit(cache=True, nogil=True)
def _fill_table(table: np.ndarray, keys: np.ndarray) -> None:
    shift, mask = _table_shift(table), len(table) - 2
    for key in keys:
        slot = np.int64((key * _MIX) >> shift)
        while table[slot] != 0:
            slot = (slot + 1) & mask
        table[slot] = key


@nb.njit(inline="always")
def _contains(table: np.ndarray, shift: np.uint64, key: np.uint64) -> bool:
    if key == 0:
        return table[len(table) - 1] != 0
    mask = len(table) - 2
    slot = np.int64((key * _MIX) >> shift)
    while table[slot] != 0:
        if table[slot] == key:
            return True
        slot = (slot + 1) & mask
    return False


@nb.njit(cache=True, nogil=True)
def count_members(table: np.ndarray, keys: np.ndarray) -> int:
    """How many of `keys` are in the key table (about one probe each at load 1/2)."""
    shift = _table_shift(table)
    found = 0
    for key in keys:
        found += _contains(table, shift, key)
    return found


def bytes_hash(data: bytes) -> int:
    """The token hash of one byte string (the reference for `finish_hashes`)."""
    return int(_bytes_hash(np.frombuffer(data, np.uint8), 0, len(data)))


@nb.njit(cache=True, nogil=True)
def join_lines(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The bytes data[offsets[r]:offsets[r + 1]] of each row r in `rows`, in order, each
    followed by a newline: ("\\n".join(texts) + "\\n") of those texts, read straight from
    an Arrow string column's buffers (no Python string per document)."""
    total = 0
    for r in rows:
        total += offsets[r + 1] - offsets[r] + 1
    out = np.empty(total, np.uint8)
    pos = 0
    for r in rows:
        start, end = offsets[r], offsets[r + 1]
        out[pos:pos + end - start] = data[start:end]
        pos += end - start
        out[pos] = 10
        pos += 1
    return out


@nb.njit(cache=True, nogil=True)
def inverse_power_sums(regs: np.ndarray, rows: np.ndarray, inverse_powers: np.ndarray
                       ) -> np.ndarray:
    """Sum of 2^-register over each of `rows` of int8 HLL registers (k, m): the raw
    HyperLogLog estimate's denominator, one pass per row. A row's registers are tallied by
    value first (ranks are < 128), then summed in rank order, so the float sum does not
    depend on the order of the registers (several times faster than gathering 2^-r per
    register with numpy and summing)."""
    m = regs.shape[1]
    sums = np.zeros(len(rows), np.float64)
    tally = np.zeros(128, np.int64)
    for j in range(len(rows)):
        tally[:] = 0
        for i in range(m):
            tally[regs[rows[j], i]] += 1
        total = 0.0
        for rank in range(128):
            if tally[rank]:
                total += tally[rank] * inverse_powers[rank]
        sums[j] = total
    return sums


@nb.njit(cache=True, nogil=True)
def contains_each(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of `keys` is in the key table (one flag per key, in order): for
    callers that need to know which keys are members, not how many (the shards job's
    tail concepts per document)."""
    shift = _table_shift(table)
    out = np.empty(len(keys), np.bool_)
    for i in range(len(keys)):
        out[i] = _contains(table, shift, keys[i])
    return out
