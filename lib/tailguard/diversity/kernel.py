"""The diversity kernel run by `mapInArrow`: documents in, final group metrics out.

Why group-local: a crawl has tens of thousands of small (domain, era, month) groups.
Emitting mergeable partials for every group (per-word counts, register sets) and merging
them in Spark costs far more than the text math itself. So the job shuffles documents
once so that each (scope, domain) is whole inside one partition, sorted by the seeded
`okey`, and the kernel walks each such *run* once:

- every (era, month) group of the run and its (era, `__all__`) union are final when the
  run ends: exact word counts (entropy), HLL++ registers (distinct-n, p = 14), zstd chunk
  sizes, n-gram totals and the first `sample_size` okeys (homogenization sample) become
  one METRICS row each;
- the nested budget samples of the run (its first documents in okey order up to each
  token budget) are snapshotted on the way (`accum.Prefix`), tail coverage included;
- only the cross-domain rollups (`__all__` domain) leave as mergeable partials, summed
  per partition first: SUMS rows, REGISTERS rows (max-merge), WORDS rows (sum), SAMPLE
  rows (first k okeys);
- per scope, the partition's documents with the smallest okeys up to the largest budget
  leave as CANDIDATE rows, plus a stop marker at the first document past it: together
  they contain the scope-wide budget samples, which a second, small pass of this kernel
  (`mode="budgets"`) computes from them.

Memory per task: one run's word counts and registers (groups x 4 x 2^p bytes), the
rollups of one partition, and max(budget) tokens of candidates per scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash

from tailguard.diversity.accum import (
    DISTINCT_N,
    DocSlice,
    Prefix,
    Stream,
    count_keys,
    estimates_row,
    update_registers,
)
from tailguard.diversity.estimators import entropy_bits, mean_pairwise_jaccard
from tailguard.diversity.hll import encode
from tailguard.diversity.ngrams import hash_words, ngrams
from tailguard.text.tokenize import words_arrow

KIND_METRICS, KIND_SUMS, KIND_REGISTERS, KIND_WORDS, KIND_SAMPLE, KIND_CANDIDATE = range(6)
ALL = "__all__"
COMPACT_ROWS = 1 << 22  # a run's raw (slot, word) rows summed beyond this many
ERAS = ("pre_ai", "attested", "post_ai")
LABELS = ("scope", "domain", "era", "month", "token_budget")
SUM_FIELDS = ("n_docs", "n_tokens", *[f"ngrams_{n}" for n in range(1, DISTINCT_N + 1)],
              "raw_bytes", "compressed_bytes")
ESTIMATE_FIELDS = (*[f"distinct_n_{n}" for n in range(1, DISTINCT_N + 1)], "entropy_unigram")
CONCEPT_FIELDS = ("distinct_concepts", "concept_occurrences", "f1", "f2", "covered")
INPUT_COLUMNS = ("scope", "domain", "era", "month", "okey", "text", "signature", "is_sig",
                 "stop")
OUTPUT_SCHEMA = pa.schema(
    [("kind", pa.int8()), ("gid", pa.int64()), ("scope", pa.string()), ("domain", pa.string()),
     ("era", pa.string()), ("month", pa.string()), ("token_budget", pa.int64())]
    + [(f, pa.int64()) for f in SUM_FIELDS] + [(f, pa.float64()) for f in ESTIMATE_FIELDS]
    + [(f, pa.int64()) for f in CONCEPT_FIELDS]
    + [("homogenization", pa.float64()), ("homogenization_sample", pa.int64())]
    + [("n", pa.int8()), ("key", pa.int64()), ("count", pa.int64()), ("registers", pa.binary()),
       ("okey", pa.int64()), ("text", pa.string()), ("signature", pa.binary()),
       ("stop", pa.bool_())])
_SPARK_TYPES = {pa.int8(): "tinyint", pa.int64(): "bigint", pa.string(): "string",
                pa.float64(): "double", pa.binary(): "binary", pa.bool_(): "boolean"}
OUTPUT_DDL = ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in OUTPUT_SCHEMA)


@dataclass(frozen=True)
class KernelParams:
    precision: int = 14              # HLL precision p
    concept_max_n: int = 3           # concepts are n-grams with n = 1..concept_max_n
    chunk_bytes: int = 65536         # compression chunk size
    level: int = 3                   # zstd level
    budgets: tuple[int, ...] = (20000, 50000, 100000)  # sorted token budgets
    sample_size: int = 200           # homogenization sample per group
    mode: str = "groups"             # "groups" (main pass) or "budgets" (scope-wide samples)

    def stream(self) -> Stream:
        return Stream(self.chunk_bytes, self.level, self.sample_size)


def group_key(scope, domain, era, month, token_budget) -> int:
    """Stable signed 64-bit id of a group's labels (None kept distinct from any text)."""
    parts = ["\x00" if v is None else str(v) for v in (scope, domain, era, month, token_budget)]
    value = xxhash.xxh64_intdigest("\x1f".join(parts).encode("utf-8"))
    return value - (1 << 64) if value >= 1 << 63 else value


def budget_era(scope: str) -> str:
    """Budget samples cover a whole scope: its era in scope `eras`, every era in a shard set."""
    return scope if scope in ERAS else ALL


def _bulk(kind: int, size: int, **cols) -> pa.RecordBatch:
    arrays = []
    for f in OUTPUT_SCHEMA:
        if f.name == "kind":
            arrays.append(pa.array(np.full(size, kind, np.int8)))
        elif f.name in cols:
            arrays.append(pa.array(cols[f.name], type=f.type))
        else:
            arrays.append(pa.nulls(size, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=OUTPUT_SCHEMA)


def _rows(kind: int, rows: list[dict]) -> list[pa.RecordBatch]:
    if not rows:
        return []
    table = pa.Table.from_pylist([{**r, "kind": kind} for r in rows], schema=OUTPUT_SCHEMA)
    return table.to_batches()


class TextRows:
    """The per-row label lists of a batch's text rows."""

    def __init__(self, batch: pa.RecordBatch):
        self.eras = batch.column("era").to_pylist()
        self.months = batch.column("month").to_pylist()
        self.stops = batch.column("stop").to_pylist()
        self.okeys = batch.column("okey").to_pylist()
        self.signatures = batch.column("signature").to_pylist()


class Tokens:
    """One batch tokenised once: word hashes, n-grams n = 1..4 and concepts, each sliceable
    by a document range (arrays are in document order)."""

    def __init__(self, batch: pa.RecordBatch, concept_max_n: int):
        self.tok = hash_words(words_arrow(batch.column("text")))
        self.texts = batch.column("text").to_pylist()
        self.okeys = batch.column("okey").to_numpy()
        self.grams, self.gram_doc, self.concept, self.concept_doc = [], [], [], []
        for n in range(1, DISTINCT_N + 1):
            hashes, doc, start = ngrams(self.tok, n)
            self.grams.append(hashes)
            self.gram_doc.append(doc)
            if n <= concept_max_n:
                edge = ~self.tok.is_stop[start] & ~self.tok.is_stop[start + n - 1]
                self.concept.append(hashes[edge])
                self.concept_doc.append(doc[edge])

    def doc_slice(self, lo: int, hi: int) -> DocSlice:
        def cut(values, docs):
            a, b = np.searchsorted(docs, [lo, hi])
            return values[a:b]

        return DocSlice(self.tok.lengths[lo:hi], self.texts[lo:hi], self.okeys[lo:hi],
                        [cut(g, d) for g, d in zip(self.grams, self.gram_doc, strict=True)],
                        np.concatenate([cut(c, d) for c, d in
                                        zip(self.concept, self.concept_doc, strict=True)]))

    def gram_docs(self, lo: int, hi: int) -> list[np.ndarray]:
        out = []
        for docs in self.gram_doc:
            a, b = np.searchsorted(docs, [lo, hi])
            out.append(docs[a:b])
        return out




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


class Run:
    """One (scope, domain) of the main pass: its (era, month) groups and budget prefix."""

    def __init__(self, scope: str, domain: str, params: KernelParams, tail: np.ndarray):
        self.scope, self.domain, self.p = scope, domain, params
        self.slots: dict[tuple[str, str], int] = {}
        self.streams: list[Stream] = []
        self.regs = np.zeros((0, DISTINCT_N, 1 << params.precision), np.int8)
        self.word_slots: list[np.ndarray] = []
        self.word_keys: list[np.ndarray] = []
        self.word_counts: list[np.ndarray] = []
        self.word_rows = 0
        self.prefix = Prefix(params.budgets, params.precision, params.stream(), tail)

    def _slot(self, era: str, month: str) -> int:
        slot = self.slots.get((era, month))
        if slot is None:
            slot = self.slots[(era, month)] = len(self.streams)
            self.streams.append(self.p.stream())
            if slot >= len(self.regs):
                grown = np.zeros((max(4, 2 * len(self.regs)),) + self.regs.shape[1:], np.int8)
                grown[: len(self.regs)] = self.regs
                self.regs = grown
        return slot

    def add(self, tokens: Tokens, lo: int, hi: int, eras: list, months: list,
            sigs: Signatures) -> None:
        slot = np.array([self._slot(e, m) for e, m in zip(eras, months, strict=True)], np.int64)
        docs = tokens.doc_slice(lo, hi)
        gram_docs = tokens.gram_docs(lo, hi)
        update_registers(self.regs, docs.grams, [slot[d - lo] for d in gram_docs],
                         self.p.precision)
        self.word_slots.append(slot[gram_docs[0] - lo])
        self.word_keys.append(docs.grams[0])
        self.word_counts.append(np.ones(len(docs.grams[0]), np.int64))
        self.word_rows += len(docs.grams[0])
        if self.word_rows > COMPACT_ROWS:
            self._compact_words()
        for s in np.unique(slot):
            rows = np.flatnonzero(slot == s)
            sigs.want(self.streams[s].add(docs.lengths[rows], [docs.texts[i] for i in rows],
                                          docs.okeys[rows]))
        if not self.prefix.done:
            self.prefix.feed(docs, lambda a, b: tokens.doc_slice(lo + a, lo + b))
            sigs.want(self.prefix.stream.sample)

    def _compact_words(self) -> None:
        """Sum the run's (slot, word) occurrences so far: a large domain's memory follows
        its distinct words per month (Heaps' law), not its token count."""
        slots, words, counts = self.words()
        self.word_slots, self.word_keys, self.word_counts = [], [], []
        if len(words):
            slots, words, counts = count_keys(words, counts, groups=slots)
            self.word_slots, self.word_keys, self.word_counts = [slots], [words], [counts]
        self.word_rows = len(words)

    def words(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot, word hash, occurrences) of the run's tokens, partly summed."""
        if not self.word_keys:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return (np.concatenate(self.word_slots), np.concatenate(self.word_keys),
                np.concatenate(self.word_counts))


class WordGroups:
    """Exact unigram counts of the groups of many closed runs, counted together.

    One Arrow hash aggregation per few hundred groups instead of two per run (a run of
    a small domain holds a few thousand tokens; the aggregation's fixed cost would
    dominate). Gives each group's entropy and the word partials of its rollups."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.era_of: list[int] = []          # month group id -> its (era, __all__) id
        self.rollup_of: list[tuple[int, int]] = []  # month group id -> rollup gids
        self.n_ids = 0
        self.size = 0

    def add_run(self, run: Run) -> tuple[list[int], dict[str, int]]:
        """Register a closed run; returns the ids of its (era, month) slots and eras."""
        eras = sorted({e for e, _ in run.slots})
        era_ids = {e: self.n_ids + i for i, e in enumerate(eras)}
        self.n_ids += len(eras)
        slot_ids = list(range(self.n_ids, self.n_ids + len(run.slots)))
        self.n_ids += len(run.slots)
        self.era_of.extend([-1] * len(eras))
        self.rollup_of.extend([(0, 0)] * len(eras))
        for (era, month), _ in sorted(run.slots.items(), key=lambda item: item[1]):
            self.era_of.append(era_ids[era])
            self.rollup_of.append((group_key(run.scope, ALL, era, month, None),
                                   group_key(run.scope, ALL, era, ALL, None)))
        slots, words, counts = run.words()
        self.ids.append(np.asarray(slot_ids, np.int64)[slots] if len(slots) else slots)
        self.keys.append(words)
        self.counts.append(counts)
        self.size += len(words)
        return slot_ids, era_ids

    def flush(self, rollups: Rollups) -> np.ndarray:
        """Entropy of every registered group (indexed by id); rollup words to `rollups`.
        Then start over."""
        entropy = np.full(self.n_ids, np.nan)
        ids = np.concatenate(self.ids) if self.ids else np.zeros(0, np.int64)
        if len(ids):
            g, k, c = count_keys(np.concatenate(self.keys), np.concatenate(self.counts),
                                 groups=ids)
            month = _entropies(g, c, self.n_ids)
            era_ids = np.asarray(self.era_of, np.int64)[g]
            eg, _, ec = count_keys(k, c, groups=era_ids)
            era = _entropies(eg, ec, self.n_ids)
            entropy = np.where(np.asarray(self.era_of) >= 0, month, era)
            gids = np.asarray(self.rollup_of, np.int64)[g]
            rollups.add_words(gids[:, 0], k, c)
            rollups.add_words(gids[:, 1], k, c)
        self.__init__()
        return entropy


class PartitionKernel:
    """Stateful over one partition's batches (sorted by scope, domain, okey, is_sig)."""

    def __init__(self, params: KernelParams, tail: np.ndarray):
        self.p, self.tail = params, tail
        self.run: Run | None = None
        self.budget_run: tuple[tuple[str, str], Prefix] | None = None
        self.sigs = Signatures()
        self.metrics: list[dict] = []
        self.words = WordGroups()
        self.rollups = Rollups(params)
        self.candidates = Candidates(max(params.budgets))

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """Walk the batch's runs in row order: a run's text rows, then its signature rows,
        so every signature of a run is in before the next run closes it."""
        if batch.num_rows == 0:
            return []
        is_sig = batch.column("is_sig").to_numpy(zero_copy_only=False)
        text_pos, sig_pos = np.flatnonzero(~is_sig), np.flatnonzero(is_sig)
        texts = batch.take(pa.array(text_pos)) if len(text_pos) else None
        sigs = batch.take(pa.array(sig_pos)) if len(sig_pos) else None
        lists = TextRows(texts) if texts is not None else None
        tokens = Tokens(texts, self.p.concept_max_n) if texts is not None else None
        sig_okeys = sigs.column("okey").to_pylist() if sigs is not None else []
        sig_blobs = sigs.column("signature").to_pylist() if sigs is not None else []
        scopes = batch.column("scope").to_pylist()
        domains = batch.column("domain").to_pylist()
        starts = [0] + [i for i in range(1, len(scopes))
                        if scopes[i] != scopes[i - 1] or domains[i] != domains[i - 1]]
        out: list[pa.RecordBatch] = []
        for lo, hi in zip(starts, starts[1:] + [len(scopes)], strict=True):
            ta, tb = np.searchsorted(text_pos, [lo, hi])
            if tb > ta:
                out += self._texts((scopes[lo], domains[lo]), tokens, lists, int(ta), int(tb))
                self.sigs.offer(lists.okeys[ta:tb], lists.signatures[ta:tb])
            sa, sb = np.searchsorted(sig_pos, [lo, hi])
            self.sigs.offer(sig_okeys[sa:sb], sig_blobs[sa:sb])
        return out

    def _texts(self, key: tuple[str, str], tokens: Tokens, rows: TextRows, lo: int,
               hi: int) -> list[pa.RecordBatch]:
        if self.p.mode == "budgets":
            return self._budget_segment(key, tokens, lo, hi, rows.stops)
        out: list[pa.RecordBatch] = []
        if self.run is None or (self.run.scope, self.run.domain) != key:
            out += self._close_run()
            self.run = Run(*key, self.p, self.tail)
        self.run.add(tokens, lo, hi, rows.eras[lo:hi], rows.months[lo:hi], self.sigs)
        self.sigs.want(self.candidates.add(
            key[0], tokens.okeys[lo:hi], tokens.tok.lengths[lo:hi], rows.eras[lo:hi],
            rows.months[lo:hi], tokens.texts[lo:hi]))
        return out

    def finish(self) -> list[pa.RecordBatch]:
        if self.p.mode == "budgets":
            return self._close_budget_run() + self._flush_metrics(0)
        return (self._close_run() + self._flush_metrics(0) + self.rollups.batches()
                + _rows(KIND_CANDIDATE, self.candidates.rows()))

    def _budget_segment(self, key, tokens: Tokens, lo: int, hi: int, stops) -> list:
        out = []
        if self.budget_run is None or self.budget_run[0] != key:
            out = self._close_budget_run()
            self.budget_run = (key, Prefix(self.p.budgets, self.p.precision, self.p.stream(),
                                           self.tail))
        prefix = self.budget_run[1]
        stop_at = next((i for i in range(lo, hi) if stops[i]), hi)
        if stop_at > lo and not prefix.done:
            prefix.feed(tokens.doc_slice(lo, stop_at),
                        lambda a, b: tokens.doc_slice(lo + a, lo + b))
            self.sigs.want(prefix.stream.sample)
        if stop_at < hi:
            prefix.stop()
        return out

    def _close_budget_run(self) -> list[pa.RecordBatch]:
        if self.budget_run is None:
            return []
        (scope, domain), prefix = self.budget_run
        self.budget_run = None
        prefix.finish()
        self.metrics += self._budget_rows(scope, domain, prefix)
        self.sigs.clear()
        return self._flush_metrics(512)

    def _budget_rows(self, scope: str, domain: str, prefix: Prefix) -> list[dict]:
        era = budget_era(scope)
        return [{**snap, "scope": scope, "domain": domain, "era": era, "month": ALL,
                 "gid": group_key(scope, domain, era, ALL, snap["token_budget"]),
                 **self.sigs.homogenization(snap["sample"])}
                for snap in prefix.snapshots]

    def _close_run(self) -> list[pa.RecordBatch]:
        run, self.run = self.run, None
        if run is None:
            return []
        run.prefix.finish()
        slot_ids, era_ids = self.words.add_run(run)
        rows = [{**row, **self.sigs.homogenization(row["sample"])}
                for row in _group_rows(run, slot_ids, era_ids)]
        self.rollups.add(run, rows[: len(run.slots)], self.sigs)
        self.candidates.sign(self.sigs)
        self.metrics += rows + self._budget_rows(run.scope, run.domain, run.prefix)
        self.sigs.clear()
        return self._flush_metrics(512)

    def _flush_metrics(self, at_least: int) -> list[pa.RecordBatch]:
        """METRICS rows leave in batches of a few hundred groups, not one per run; their
        entropies are counted together just before (`WordGroups`)."""
        if len(self.metrics) < max(at_least, 1) and self.words.size < (1 << 22):
            return []
        entropy = self.words.flush(self.rollups)
        for row in self.metrics:
            if "_wid" in row:
                value = float(entropy[row.pop("_wid")])
                row["entropy_unigram"] = None if np.isnan(value) else value
        out, self.metrics = _rows(KIND_METRICS, self.metrics), []
        return out


def _entropies(groups: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    c = counts.astype(np.float64)
    n = np.bincount(groups, weights=c, minlength=size)
    s = np.bincount(groups, weights=c * np.log2(np.maximum(c, 1.0)), minlength=size)
    return entropy_bits(n, s)


def _group_rows(run: Run, slot_ids: list[int], era_ids: dict[str, int]) -> list[dict]:
    """METRICS rows of a finished run: its (era, month) groups in slot order, then every
    (era, __all__). `_wid`: the group's id in `WordGroups` (entropy is filled later)."""
    sums = [stream.sums() for stream in run.streams]
    rows = []
    for (era, month), slot in sorted(run.slots.items(), key=lambda item: item[1]):
        rows.append({"scope": run.scope, "domain": run.domain, "era": era, "month": month,
                     "gid": group_key(run.scope, run.domain, era, month, None),
                     **sums[slot], **estimates_row(run.regs[slot]), "_wid": slot_ids[slot],
                     "sample": run.streams[slot].sample})
    for era in sorted(era_ids):
        members = [s for (e, _), s in run.slots.items() if e == era]
        sample = sorted(k for s in members for k in run.streams[s].sample)[: run.p.sample_size]
        rows.append({"scope": run.scope, "domain": run.domain, "era": era, "month": ALL,
                     "gid": group_key(run.scope, run.domain, era, ALL, None),
                     **{f: sum(sums[s][f] for s in members) for f in SUM_FIELDS},
                     **estimates_row(run.regs[members].max(axis=0)), "_wid": era_ids[era],
                     "sample": sample})
    return rows


class Rollups:
    """The partition's partials of the cross-domain groups (scope, __all__, era, month) and
    (scope, __all__, era, __all__): sums, registers, word counts, first-k samples."""

    def __init__(self, params: KernelParams):
        self.p = params
        self.sums: dict[int, dict] = {}
        self.regs: dict[int, np.ndarray] = {}
        self.samples: dict[int, list[tuple[int, bytes | None]]] = {}
        self.word_gids: list[np.ndarray] = []
        self.word_keys: list[np.ndarray] = []
        self.word_counts: list[np.ndarray] = []
        self.pending = 0

    def add(self, run: Run, month_rows: list[dict], sigs: Signatures) -> None:
        """Fold a closed run's (era, month) groups (rows in slot order) into the rollups."""
        for (era, month), slot in run.slots.items():
            stream = run.streams[slot]
            signed = [(k, sigs.values.get(k)) for k in stream.sample]
            for m in (month, ALL):
                self._merge(group_key(run.scope, ALL, era, m, None), (run.scope, era, m),
                            month_rows[slot], run.regs[slot], signed)

    def add_words(self, gids: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> None:
        self.word_gids.append(gids)
        self.word_keys.append(keys)
        self.word_counts.append(counts)
        self.pending += len(keys)
        if self.pending > 1 << 22:
            self._reduce_words()

    def _merge(self, gid: int, labels: tuple, sums: dict, regs: np.ndarray,
               signed: list) -> None:
        scope, era, month = labels
        if gid not in self.sums:
            self.sums[gid] = {"gid": gid, "scope": scope, "domain": ALL, "era": era,
                              "month": month, **{f: 0 for f in SUM_FIELDS}}
            self.regs[gid] = np.zeros_like(regs)
            self.samples[gid] = []
        for f in SUM_FIELDS:
            self.sums[gid][f] += sums[f]
        np.maximum(self.regs[gid], regs, out=self.regs[gid])
        merged = self.samples[gid] + signed
        if len(merged) > 4 * self.p.sample_size:
            merged = sorted(merged, key=lambda item: item[0])[: self.p.sample_size]
        self.samples[gid] = merged

    def _reduce_words(self) -> None:
        if self.word_keys:
            g, k, c = count_keys(np.concatenate(self.word_keys),
                                 np.concatenate(self.word_counts),
                                 groups=np.concatenate(self.word_gids))
            self.word_gids, self.word_keys, self.word_counts = [g], [k], [c]
            self.pending = len(k)

    def batches(self) -> list[pa.RecordBatch]:
        out = _rows(KIND_SUMS, list(self.sums.values()))
        gids, ns, blobs = [], [], []
        for gid, regs in self.regs.items():
            for n in range(1, DISTINCT_N + 1):
                gids.append(gid)
                ns.append(n)
                blobs.append(encode(regs[n - 1]))
        if gids:
            out.append(_bulk(KIND_REGISTERS, len(gids), gid=gids, n=ns, registers=blobs))
        self._reduce_words()
        if self.word_keys:
            g, k, c = self.word_gids[0], self.word_keys[0], self.word_counts[0]
            out.append(_bulk(KIND_WORDS, len(k), gid=g, key=k.view(np.int64), count=c))
        rows = [(gid, okey, blob) for gid, sample in self.samples.items()
                for okey, blob in sorted(sample, key=lambda item: item[0])[: self.p.sample_size]]
        if rows:
            gid, okey, blob = zip(*rows, strict=True)
            out.append(_bulk(KIND_SAMPLE, len(rows), gid=gid, okey=okey, signature=blob))
        return out


class Candidates:
    """Per scope, this partition's documents with the smallest okeys holding at most
    `limit` tokens, and the okey of the first document past them (the stop marker): the
    scope-wide budget samples are prefixes of the union of all partitions' candidates."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: dict[str, list[list]] = {}
        self.stop: dict[str, int] = {}
        self.pending: dict[str, int] = {}
        self.unsigned: list[list] = []

    def add(self, scope, okeys, lengths, eras, months, texts) -> list[int]:
        """Offer documents; returns the okeys taken (their signatures are wanted)."""
        stop = self.stop.get(scope)
        keep = np.flatnonzero(okeys < stop) if stop is not None else range(len(okeys))
        items = self.items.setdefault(scope, [])
        taken = []
        for i in keep:
            items.append([int(okeys[i]), int(lengths[i]), eras[i], months[i], texts[i], None])
            self.unsigned.append(items[-1])
            taken.append(int(okeys[i]))
            self.pending[scope] = self.pending.get(scope, 0) + int(lengths[i])
        if self.pending.get(scope, 0) > 4 * self.limit:
            self._trim(scope)
        return taken

    def sign(self, sigs: Signatures) -> None:
        """Attach the signatures of the documents taken since the last call."""
        for item in self.unsigned:
            item[5] = sigs.values.get(item[0])
        self.unsigned = []

    def _trim(self, scope: str) -> None:
        items = sorted(self.items[scope], key=lambda item: item[0])
        cum = np.cumsum([item[1] for item in items])
        cut = int(np.searchsorted(cum, self.limit, side="right"))
        if cut < len(items):
            stop = items[cut][0]
            self.stop[scope] = min(stop, self.stop.get(scope, stop))
        self.items[scope] = items[:cut]
        self.pending[scope] = int(cum[cut - 1]) if cut else 0

    def rows(self) -> list[dict]:
        out = []
        for scope in sorted(self.items):
            self._trim(scope)
            out += [{"scope": scope, "domain": ALL, "era": era, "month": month, "okey": okey,
                     "text": text, "signature": sig, "stop": False}
                    for okey, _, era, month, text, sig in self.items[scope]]
            if scope in self.stop:
                out.append({"scope": scope, "domain": ALL, "okey": self.stop[scope],
                            "stop": True})
        return out


def kernel_fn(params: KernelParams, tail) -> Callable[[Iterator[pa.RecordBatch]],
                                                     Iterator[pa.RecordBatch]]:
    """The function to hand `DataFrame.mapInArrow`. `tail`: the sorted uint64 tail concept
    hashes, or a Spark broadcast of them (read on the executor)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        keys = tail.value if hasattr(tail, "value") else tail
        kernel = PartitionKernel(params, np.asarray(keys, np.uint64))
        for batch in batches:
            yield from kernel.process(batch)
        yield from kernel.finish()

    return run
