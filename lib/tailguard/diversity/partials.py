"""Partition-level state of the main diversity pass (no Spark import): the signatures the
samples want, word counts of many closed runs, the cross-domain partials, and the
scope-wide budget candidates. Each is bounded by samples, groups or budgets, not by the
crawl.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tailguard.diversity.accum import DISTINCT_N, count_keys
from tailguard.diversity.blobs import split_blobs
from tailguard.diversity.compiled import sum_into
from tailguard.diversity.estimators import entropy_bits, mean_pairwise_jaccard
from tailguard.diversity.hll import encode
from tailguard.diversity.rows import (
    ALL,
    KIND_REGISTERS,
    KIND_SAMPLE,
    KIND_SUMS,
    KIND_WORDS,
    SUM_FIELDS,
    bulk_rows,
    dict_rows,
    group_key,
)


class Signatures:
    """MinHash signatures of the documents some sample or candidate list holds.

    Signature rows sort right after their document's text row, so by the end of a run
    every wanted signature has arrived; only wanted ones are kept (bounded by the
    samples, not by the run)."""

    def __init__(self) -> None:
        self.wanted: set[int] = set()
        self.values: dict[int, bytes] = {}

    def want(self, okeys) -> None:
        self.wanted.update(int(k) for k in okeys)

    def offer(self, okeys: list, blobs: list) -> None:
        for okey, blob in zip(okeys, blobs, strict=True):
            if blob is not None and okey in self.wanted:
                self.values[okey] = blob

    def homogenization(self, sample: list[int]) -> dict:
        """Mean pairwise MinHash Jaccard of the sample's documents that have a signature
        (a document without a word has none), and how many those are."""
        blobs = [self.values[k] for k in sample if k in self.values]
        if len(blobs) < 2:
            return {"homogenization": None, "homogenization_sample": len(blobs)}
        sig = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(blobs), -1)
        return {"homogenization": mean_pairwise_jaccard(sig),
                "homogenization_sample": len(blobs)}

    def clear(self) -> None:
        self.wanted.clear()
        self.values.clear()


class WordGroups:
    """Exact unigram counts of the groups of many closed runs: each group's entropy and
    the word partials of its rollups.

    A run is counted when it closes, on its own: its (month group, word) pairs and then
    its (era group, word) pairs, each in one small hash table that stays in cache
    (`count_keys` on a run's few tens of thousands of tokens: ~18 ns per token, against
    ~40-90 ns when the raw tokens of hundreds of runs were counted at once, a table far
    larger than the cache). Only the summed month pairs wait here for the rollups, which
    take them a few hundred groups at a time (`flush`)."""

    def __init__(self) -> None:
        # per closed run: (rollup gid of each slot, the domain's own gid of each slot for
        # a split domain or None, slot / word / occurrences of its summed (slot, word) rows)
        self.runs: list[tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray,
                              np.ndarray]] = []
        self.entropy: list[np.ndarray] = []  # per group id, in id order
        self.n_ids = 0
        self.size = 0

    def add_run(self, run) -> tuple[list[int], dict[str, int]]:
        """Count a closed run's words; returns the ids of its (era, month) slots and eras
        (indices into the entropies `flush` returns)."""
        eras = sorted({e for e, _ in run.slots})
        era_ids = {e: self.n_ids + i for i, e in enumerate(eras)}
        slot_ids = list(range(self.n_ids + len(eras), self.n_ids + len(eras) + len(run.slots)))
        self.n_ids += len(eras) + len(run.slots)
        labels = [label for label, _ in sorted(run.slots.items(), key=lambda item: item[1])]
        entropy = np.full(len(eras) + len(run.slots), np.nan)
        self.entropy.append(entropy)
        slots, words, counts = run.words()
        if not len(words):
            return slot_ids, era_ids
        s, k, c = count_keys(words, counts, groups=slots)
        era_of_slot = np.array([eras.index(e) for e, _ in labels], np.int64)
        e, ek, ec = count_keys(k, c, groups=era_of_slot[s])
        entropy[len(eras):] = _entropies(s, c, len(run.slots))
        entropy[:len(eras)] = _entropies(e, ec, len(eras))

        def slot_gids(domain: str) -> np.ndarray:
            return np.array([group_key(run.scope, domain, era, m, None) for era, m in labels],
                            np.int64)

        # only the month groups' words leave: an (era, __all__) rollup's words are the sum
        # of its months', summed once at the end (`Rollups.batches`), not run by run; a
        # split domain's own groups merge across its parts the same way
        self.runs.append((slot_gids(ALL), slot_gids(run.domain) if run.partial else None,
                          s, k, c))
        self.size += len(k)
        return slot_ids, era_ids

    def flush(self, rollups: Rollups, parts: Rollups) -> np.ndarray:
        """Entropy of every registered group (indexed by id); rollup words to `rollups`,
        the words of a split domain's groups to `parts`. Then start over."""
        entropy = np.concatenate(self.entropy) if self.entropy else np.zeros(0)
        for rollup_gids, domain_gids, slots, keys, counts in self.runs:
            rollups.add_words(rollup_gids, slots, keys, counts)
            if domain_gids is not None:
                parts.add_words(domain_gids, slots, keys, counts)
        self.__init__()
        return entropy


def _entropies(groups: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    c = counts.astype(np.float64)
    n = np.bincount(groups, weights=c, minlength=size)
    s = np.bincount(groups, weights=c * np.log2(np.maximum(c, 1.0)), minlength=size)
    return entropy_bits(n, s)


class WordTable:
    """Exact word counts of one group, summed as rows arrive: a hash table of word ->
    occurrences (`compiled.sum_into`), grown by doubling at 3/4 full. One per
    cross-domain month group of a partition; a group's table (its distinct words, tens
    of thousands) stays in the core's cache while a run's rows for it go in."""

    MAX_LOAD = 0.75
    MIN_BITS = 10

    def __init__(self) -> None:
        self.bits = self.MIN_BITS
        self.table = np.zeros((1 << self.bits, 2), np.uint64)  # rows of (key, sum)
        self.size = 0  # distinct keys held

    def add(self, keys: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> None:
        """Add counts[r] (each >= 1) to word keys[r], for r in `rows`."""
        if self.size + len(rows) > self.MAX_LOAD * len(self.table):  # all new, at most
            self._grow(self.size + len(rows))
        self.size += sum_into(self.table, np.uint64(64 - self.bits), keys, counts, rows)

    def _grow(self, size: int) -> None:
        bits = self.bits
        while size > self.MAX_LOAD * (1 << bits):
            bits += 1
        keys, sums = self.items()
        self.bits = bits
        self.table = np.zeros((1 << bits, 2), np.uint64)
        sum_into(self.table, np.uint64(64 - bits), keys, sums, np.arange(len(keys)))

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, occurrences) held, in table order (the same rows added in the same
        order give the same order)."""
        filled = np.flatnonzero(self.table[:, 1])
        return self.table[filled, 0], self.table[filled, 1].astype(np.int64)


WORD_BUCKETS = 64  # key buckets of a rollup group's word counts (the merge's memory unit)


class Rollups:
    """The partition's partials of the cross-domain groups (scope, __all__, era, month) and
    (scope, __all__, era, __all__): sums, registers, word counts, first-k samples. The
    groups of a split domain (measured in parts, in parallel) merge the same way."""

    def __init__(self, sample_size: int):
        self.sample_size = sample_size
        self.sums: dict[int, dict] = {}
        self.regs: dict[int, np.ndarray] = {}
        self.samples: dict[int, list[tuple[int, bytes | None]]] = {}
        self.words: dict[int, WordTable] = {}  # month group gid -> its word counts

    def add(self, run, month_rows: list[dict], sigs: Signatures, domain: str) -> None:
        """Fold a closed run's (era, month) groups (rows in slot order) into the groups
        (scope, domain, era, month) and (scope, domain, era, __all__): the cross-domain
        rollups for domain `__all__`, the run's own groups when it is one part of them."""
        for (era, month), slot in run.slots.items():
            stream = run.streams[slot]
            signed = [(k, sigs.values.get(k)) for k in stream.sample]
            for m in (month, ALL):
                self._merge(group_key(run.scope, domain, era, m, None),
                            (run.scope, domain, era, m), month_rows[slot], run.regs[slot],
                            signed)

    def add_words(self, slot_gids: np.ndarray, slots: np.ndarray, keys: np.ndarray,
                  counts: np.ndarray) -> None:
        """Word counts of one closed run's (scope, domain, era, month) groups: row i is
        word keys[i] seen counts[i] times in the run's slot slots[i], whose group is
        slot_gids[slots[i]]. Their (era, __all__) groups' words are summed from them in
        `batches`. Each slot's rows go straight into its group's table (`WordTable`):
        the rows of a partition (~15M at 100k documents) are summed once, where keeping
        them as rows and re-summing the growing row table cost about twice as much."""
        if not len(keys):
            return
        small = len(slot_gids) <= np.iinfo(np.uint16).max  # radix sort for 16-bit ids
        order = np.argsort(slots.astype(np.uint16) if small else slots, kind="stable")
        bounds = np.searchsorted(slots[order], np.arange(len(slot_gids) + 1))
        for slot, gid in enumerate(slot_gids.tolist()):
            if bounds[slot] < bounds[slot + 1]:
                table = self.words.get(gid)
                if table is None:
                    table = self.words[gid] = WordTable()
                table.add(keys, counts, order[bounds[slot]:bounds[slot + 1]])

    def _merge(self, gid: int, labels: tuple, sums: dict, regs: np.ndarray,
               signed: list) -> None:
        scope, domain, era, month = labels
        if gid not in self.sums:
            self.sums[gid] = {"gid": gid, "scope": scope, "domain": domain, "era": era,
                              "month": month, **{f: 0 for f in SUM_FIELDS}}
            self.regs[gid] = np.zeros_like(regs)
            self.samples[gid] = []
        for f in SUM_FIELDS:
            self.sums[gid][f] += sums[f]
        np.maximum(self.regs[gid], regs, out=self.regs[gid])
        merged = self.samples[gid] + signed
        if len(merged) > 4 * self.sample_size:
            merged = sorted(merged, key=lambda item: item[0])[: self.sample_size]
        self.samples[gid] = merged

    @staticmethod
    def _word_blobs(gids: np.ndarray, keys: np.ndarray, counts: np.ndarray
                    ) -> list[pa.RecordBatch]:
        """WORDS rows: per rollup group, its word counts packed per key bucket (`key` =
        the bucket), a few rows per group instead of one per distinct word."""
        out = []
        order = np.argsort(gids, kind="stable")
        gids, keys, counts = gids[order], keys[order], counts[order]
        starts = np.flatnonzero(np.r_[True, gids[1:] != gids[:-1]])
        for a, b in zip(starts, [*starts[1:], len(gids)], strict=True):
            packed = split_blobs(keys[a:b], counts[a:b], WORD_BUCKETS)
            out.append(bulk_rows(KIND_WORDS, packed.num_rows, gid=np.full(packed.num_rows,
                                                                          gids[a]),
                                 key=packed.column("bucket").cast(pa.int64()),
                                 word_keys=packed.column("keys"),
                                 word_counts=packed.column("counts")))
        return out

    def _era_gid(self, month_gid: int) -> int:
        """The (scope, domain, era, __all__) gid of a (scope, domain, era, month) gid."""
        labels = self.sums[month_gid]
        return group_key(labels["scope"], labels["domain"], labels["era"], ALL, None)

    def batches(self) -> list[pa.RecordBatch]:
        out = dict_rows(KIND_SUMS, list(self.sums.values()))
        gids, ns, blobs = [], [], []
        for gid, regs in self.regs.items():
            for n in range(1, DISTINCT_N + 1):
                gids.append(gid)
                ns.append(n)
                blobs.append(encode(regs[n - 1]))
        if gids:
            out.append(bulk_rows(KIND_REGISTERS, len(gids), gid=gids, n=ns, registers=blobs))
        if self.words:
            gids = sorted(self.words)
            items = [self.words[gid].items() for gid in gids]
            sizes = [len(k) for k, _ in items]
            g = np.repeat(np.array(gids, np.int64), sizes)
            era = np.repeat(np.array([self._era_gid(gid) for gid in gids], np.int64), sizes)
            k = np.concatenate([k for k, _ in items])
            c = np.concatenate([c for _, c in items])
            eg, ek, ec = count_keys(k, c, groups=era)
            out += self._word_blobs(np.concatenate([g, eg]), np.concatenate([k, ek]),
                                    np.concatenate([c, ec]))
        rows = [(gid, okey, blob) for gid, sample in self.samples.items()
                for okey, blob in sorted(sample, key=lambda item: item[0])[: self.sample_size]]
        if rows:
            gid, okey, blob = zip(*rows, strict=True)
            out.append(bulk_rows(KIND_SAMPLE, len(rows), gid=gid, okey=okey, signature=blob))
        return out


class Candidates:
    """Per key (scope, domain), this partition's documents with the smallest okeys holding
    at most `limit` tokens, and the okey of the first document past them (the stop
    marker): the budget samples of the key are prefixes of the union of all partitions'
    candidates. Domain `__all__` gives the scope-wide samples; a split domain's parts
    offer theirs under the domain's own name."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: dict[tuple[str, str], list[list]] = {}
        self.stop: dict[tuple[str, str], int] = {}
        self.pending: dict[tuple[str, str], int] = {}
        self.unsigned: list[list] = []

    def add(self, key: tuple[str, str], okeys, lengths, eras, months, text_of,
            defines) -> list[int]:
        """Offer documents (`text_of(i)`: the text of the i-th, read only for the ones
        taken; `defines`: their `defines_tail` flags); returns the okeys taken (their
        signatures are wanted)."""
        stop = self.stop.get(key)
        keep = np.flatnonzero(okeys < stop) if stop is not None else range(len(okeys))
        items = self.items.setdefault(key, [])
        taken = []
        for i in keep:
            items.append([int(okeys[i]), int(lengths[i]), eras[i], months[i], text_of(i),
                          None, bool(defines[i])])
            self.unsigned.append(items[-1])
            taken.append(int(okeys[i]))
            self.pending[key] = self.pending.get(key, 0) + int(lengths[i])
        if self.pending.get(key, 0) > 4 * self.limit:
            self._trim(key)
        return taken

    def sign(self, sigs: Signatures) -> None:
        """Attach the signatures of the documents taken since the last call."""
        for item in self.unsigned:
            item[5] = sigs.values.get(item[0])
        self.unsigned = []

    def _trim(self, key: tuple[str, str]) -> None:
        items = sorted(self.items[key], key=lambda item: item[0])
        cum = np.cumsum([item[1] for item in items])
        cut = int(np.searchsorted(cum, self.limit, side="right"))
        if cut < len(items):
            stop = items[cut][0]
            self.stop[key] = min(stop, self.stop.get(key, stop))
        self.items[key] = items[:cut]
        self.pending[key] = int(cum[cut - 1]) if cut else 0

    def rows(self) -> list[dict]:
        out = []
        for key in sorted(self.items):
            self._trim(key)
            scope, domain = key
            out += [{"scope": scope, "domain": domain, "era": era, "month": month,
                     "okey": okey, "text": text, "signature": sig, "stop": False,
                     "defines_tail": defines}
                    for okey, _, era, month, text, sig, defines in self.items[key]]
            if key in self.stop:
                out.append({"scope": scope, "domain": domain, "okey": self.stop[key],
                            "stop": True})
        return out
