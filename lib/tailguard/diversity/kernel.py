"""The diversity kernel run by `mapInArrow`: documents in, final group metrics out.

Why group-local: a crawl has tens of thousands of small (domain, era, month) groups.
Emitting mergeable partials for every group (per-word counts, register sets) and merging
them in Spark costs far more than the text math itself. So the job shuffles documents
once so that each (scope, domain) is whole inside one partition, sorted by the seeded
`okey`, and the kernel walks each such *run* once. (A domain too large for one task is
split into parts, `part = okey mod parts`: each part is a run whose groups leave as
partials, like the rollups below, and whose budget documents leave as candidates.)

- every (era, month) group of the run and its (era, `__all__`) union are final when the
  run ends: exact word counts (entropy), HLL++ registers (distinct-n, p = 14), zstd chunk
  sizes, n-gram totals and the first `sample_size` okeys (homogenization sample) become
  one METRICS row each;
- the nested budget samples of the run (its first documents in okey order up to each
  token budget) are snapshotted on the way (`accum.Prefix`), tail coverage included;
- only the cross-domain rollups (`__all__` domain) leave as mergeable partials, summed
  per partition first: SUMS rows, REGISTERS rows (max-merge), WORDS rows (word counts
  packed per group and key bucket, `blobs`; sum), SAMPLE rows (first k okeys);
- per scope (and per split domain), the partition's documents with the smallest okeys
  up to the largest budget leave as CANDIDATE rows, plus a stop marker at the first
  document past it: together they contain the scope-wide (and the split domain's)
  budget samples, which a second, small pass of this kernel (`mode="budgets"`)
  computes from them.

Memory per task: one run's word counts and registers (groups x 4 x 2^p bytes), the
rollups of one partition, and max(budget) tokens of candidates per scope and per split
domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.diversity.accum import (
    DISTINCT_N,
    DocSlice,
    Prefix,
    Stream,
    TailSet,
    TextBytes,
    count_keys,
    update_registers,
)
from tailguard.diversity.estimators import zstd_compressor
from tailguard.diversity.hll import estimate_many
from tailguard.diversity.ngrams import hash_texts, ngrams_of
from tailguard.diversity.partials import Candidates, Rollups, Signatures, WordGroups
from tailguard.diversity.rows import (  # noqa: F401  (re-exported: the kernel's contract)
    ALL,
    ERAS,
    INPUT_COLUMNS,
    KIND_CANDIDATE,
    KIND_METRICS,
    KIND_REGISTERS,
    KIND_REPLICATE,
    KIND_SAMPLE,
    KIND_SUMS,
    KIND_WORDS,
    LABELS,
    OUTPUT_DDL,
    OUTPUT_SCHEMA,
    SUM_FIELDS,
    budget_era,
    dict_rows,
    group_key,
)

COMPACT_ROWS = 1 << 22  # a run's raw (slot, word) rows summed beyond this many
WHOLE = -1  # `part` of a domain measured in one run (not split)


@dataclass(frozen=True)
class KernelParams:
    precision: int = 14              # HLL precision p
    concept_max_n: int = 3           # concepts are n-grams with n = 1..concept_max_n
    chunk_bytes: int = 65536         # compression chunk size
    level: int = 3                   # zstd level
    budgets: tuple[int, ...] = (2000, 4000, 8000, 16000, 32000, 64000)  # sorted ladder
    sample_size: int = 200           # homogenization sample per group
    replicates: int = 4              # disjoint seeded replicate samples per (scope, domain)
    replicate_max_budget: int = 8000  # replicate samples only on the rungs up to this
    replicate_min_budget: int = 500  # ... and on halvings of the floor down to this
    mode: str = "groups"             # "groups" (main pass) or "budgets" (scope-wide samples)

    @property
    def replicate_budgets(self) -> tuple[int, ...]:
        """The replicate samples' rungs: the ladder's, and below the floor its halvings
        down to `replicate_min_budget`, all up to `replicate_max_budget`. A replicate holds
        1/R of its era, so an era of a few floors' worth of tokens (a short-page site:
        90 pages of 80 words) fills no floor-sized replicate and would get no interval."""
        below, rung = [], min(self.budgets) // 2 if self.budgets else 0
        while rung >= max(self.replicate_min_budget, 1):
            below.append(rung)
            rung //= 2
        return tuple(b for b in sorted(below) + list(self.budgets)
                     if b <= self.replicate_max_budget)

    def stream(self, zstd=None) -> Stream:
        return Stream(self.chunk_bytes, self.level, self.sample_size, zstd=zstd)


class TextRows:
    """The per-row label lists of a batch's text rows."""

    def __init__(self, batch: pa.RecordBatch):
        self.eras = batch.column("era").to_pylist()
        self.months = batch.column("month").to_pylist()
        self.stops = batch.column("stop").to_pylist()
        self.okeys = batch.column("okey").to_pylist()
        self.signatures = batch.column("signature").to_pylist()
        self.defines = _defines_tail(batch)


class Tokens:
    """One batch tokenised once: word hashes, n-grams n = 1..4, concepts and the tail
    concepts that count for coverage, each sliceable by a document range
    (`ngrams.NGrams`)."""

    def __init__(self, batch: pa.RecordBatch, concept_max_n: int, tail: TailSet):
        self.tok = hash_texts(batch.column("text"))
        self.text = TextBytes(batch.column("text"))
        self.okeys = batch.column("okey").to_numpy()
        self.ngrams = ngrams_of(self.tok, DISTINCT_N, concept_max_n)
        self.hits, self.hit_bounds = _tail_hits(self.ngrams.concepts,
                                                self.ngrams.concept_bounds,
                                                _defines_tail(batch), tail)

    def doc_subset(self, rows: np.ndarray) -> DocSlice:
        """The DocSlice of documents `rows` (increasing, not necessarily contiguous)."""
        rows = np.asarray(rows, np.int64)
        b = self.ngrams.bounds
        grams, bounds = [], np.zeros((DISTINCT_N, len(rows) + 1), np.int64)
        for n in range(DISTINCT_N):
            index, bounds[n, 1:] = _gather(b[n, rows], b[n, rows + 1])
            grams.append(self.ngrams.grams[n][index])
        cb, hb = self.ngrams.concept_bounds, self.hit_bounds
        concepts, _ = _gather(cb[rows], cb[rows + 1])
        hits, _ = _gather(hb[rows], hb[rows + 1])
        return DocSlice(self.tok.lengths[rows], self.text, rows, self.okeys[rows], grams,
                        bounds, self.ngrams.concepts[concepts], self.hits[hits])

    def doc_slice(self, lo: int, hi: int) -> DocSlice:
        bounds = self.ngrams.bounds[:, lo:hi + 1]
        return DocSlice(self.tok.lengths[lo:hi], self.text, np.arange(lo, hi),
                        self.okeys[lo:hi],
                        self.ngrams.doc_grams(lo, hi), bounds - bounds[:, :1],
                        self.ngrams.doc_concepts(lo, hi),
                        self.hits[self.hit_bounds[lo]:self.hit_bounds[hi]])


def _defines_tail(batch: pa.RecordBatch) -> np.ndarray:
    """Per row: the document is in the half of the human reference that defined the tail
    (input column `defines_tail`; all False without it)."""
    if "defines_tail" not in batch.schema.names:
        return np.zeros(batch.num_rows, bool)
    column = pc.fill_null(batch.column("defines_tail"), False)
    return column.to_numpy(zero_copy_only=False).astype(bool)


def _tail_hits(concepts: np.ndarray, bounds: np.ndarray, defines: np.ndarray,
               tail: TailSet) -> tuple[np.ndarray, np.ndarray]:
    """The tail concepts of the documents that count for coverage, in document order, and
    where each document's start in them (docs + 1 offsets).

    A document that helped define the tail (`defines_tail`) does not count: a pre-AI
    sample would otherwise cover the rare concepts its own documents put into the tail
    (a name repeated three times in one page is a tail concept only that page has), and
    every later era would read as a loss of the tail. On a crawl of real human text only,
    that selection made coverage fall from 0.090 to 0.061 across the cutoff, in every
    domain (docs/ARCHITECTURE.md)."""
    counted = np.repeat(~defines, np.diff(bounds))
    if tail.size and counted.any():
        counted[counted] = tail.members(concepts[counted])
    else:
        counted[:] = False
    ends = np.concatenate([[0], np.cumsum(counted)])
    return concepts[counted], ends[bounds]


def _gather(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ranges [starts[i], ends[i]) one after another, and where each range
    ends in them (cumulative lengths)."""
    lengths = ends - starts
    cum = np.cumsum(lengths)
    index = np.arange(int(cum[-1]) if len(cum) else 0, dtype=np.int64)
    index += np.repeat(starts - (cum - lengths), lengths)
    return index, cum


class Run:
    """One (scope, domain) of the main pass: its (era, month) groups, budget prefix and
    replicate prefixes."""

    def __init__(self, scope: str, domain: str, part: int, params: KernelParams,
                 zstd=None):
        self.scope, self.domain, self.p, self.zstd = scope, domain, params, zstd
        self.part = part  # >= 0: one part of a split domain (its groups leave as partials)
        self.slots: dict[tuple[str, str], int] = {}
        self.streams: list[Stream] = []
        self.regs = np.zeros((0, DISTINCT_N, 1 << params.precision), np.int8)
        self.word_slots: list[np.ndarray] = []
        self.word_keys: list[np.ndarray] = []
        self.word_counts: list[np.ndarray] = []
        self.word_rows = 0
        # a part's documents are not the domain's first in okey order: its budget samples
        # come from the candidates of every part instead (`Candidates`, budgets pass)
        self.prefix = Prefix(() if self.partial else params.budgets, params.precision,
                             params.stream(zstd))
        # R disjoint seeded samples: document -> replicate okey mod R, each walked in okey
        # order like the prefix, so replicate r's budget-B sample is the first documents
        # of its 1/R of the domain up to B tokens (the spread of the deltas, `deltas.py`).
        # Only the rungs up to `replicate_max_budget`: a spread measured there is scaled
        # to the matched budget, so larger replicate samples would buy little and cost R
        # times the prefix's own measuring
        rungs = params.replicate_budgets
        self.replicates = [Prefix(rungs, params.precision, params.stream(zstd),
                                  count_words=False)
                           for _ in range(params.replicates if not self.partial and rungs
                                          and params.replicates > 1 else 0)]

    @property
    def partial(self) -> bool:
        return self.part >= 0

    def _slot(self, era: str, month: str) -> int:
        slot = self.slots.get((era, month))
        if slot is None:
            slot = self.slots[(era, month)] = len(self.streams)
            self.streams.append(self.p.stream(self.zstd))
            if slot >= len(self.regs):
                grown = np.zeros((max(4, 2 * len(self.regs)),) + self.regs.shape[1:], np.int8)
                grown[: len(self.regs)] = self.regs
                self.regs = grown
        return slot

    def add(self, tokens: Tokens, lo: int, hi: int, eras: list, months: list,
            sigs: Signatures) -> None:
        slot = np.array([self._slot(e, m) for e, m in zip(eras, months, strict=True)], np.int64)
        docs = tokens.doc_slice(lo, hi)
        update_registers(self.regs, docs.grams, docs.bounds, slot, self.p.precision)
        self.word_slots.append(np.repeat(slot, docs.lengths))
        self.word_keys.append(docs.grams[0])
        self.word_rows += len(docs.grams[0])
        if self.word_rows > COMPACT_ROWS:
            self._compact_words()
        for s in np.unique(slot):
            rows = np.flatnonzero(slot == s)
            sigs.want(self.streams[s].add(docs.lengths[rows], docs.lines(rows),
                                          docs.okeys[rows]))
        if not self.prefix.done:
            self.prefix.feed(docs.lengths, lambda a, b: tokens.doc_slice(lo + a, lo + b))
            sigs.want(self.prefix.head)
        if self.replicates and not all(r.done for r in self.replicates):
            which = docs.okeys % len(self.replicates)
            for r, prefix in enumerate(self.replicates):
                rows = lo + np.flatnonzero(which == r)
                if len(rows) and not prefix.done:
                    prefix.feed(tokens.tok.lengths[rows],
                                lambda a, b, rows=rows: tokens.doc_subset(rows[a:b]))

    def _compact_words(self) -> None:
        """Sum the run's (slot, word) occurrences so far: a large domain's memory follows
        its distinct words per month (Heaps' law), not its token count."""
        slots, words, counts = self.words()
        self.word_slots, self.word_keys, self.word_counts = [], [], []
        if len(words):
            slots, words, counts = count_keys(words, counts, groups=slots)
            self.word_slots, self.word_keys, self.word_counts = [slots], [words], [counts]
        self.word_rows = len(words)

    def words(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(slot, word hash, occurrences) of the run's tokens, partly summed; occurrences
        None while every row is one token (never compacted)."""
        if not self.word_keys:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64), None
        if self.word_counts:  # compacted once: the rows after it count one token each
            rows = sum(len(k) for k in self.word_keys[len(self.word_counts):])
            counts = np.concatenate([*self.word_counts, np.ones(rows, np.int64)])
        else:
            counts = None
        return np.concatenate(self.word_slots), np.concatenate(self.word_keys), counts


class PartitionKernel:
    """Stateful over one partition's batches (sorted by scope, domain, part, okey, is_sig;
    `part` is optional: without it every run is a whole domain)."""

    def __init__(self, params: KernelParams, tail: np.ndarray):
        self.p, self.tail = params, TailSet(tail)
        self.zstd = zstd_compressor(params.level)  # one context for every group
        self.run: Run | None = None
        self.budget_run: tuple[tuple[str, str], Prefix] | None = None
        self.sigs = Signatures()
        self.metrics: list[dict] = []
        self.words = WordGroups()
        self.rollups = Rollups(params.sample_size)
        self.parts = Rollups(params.sample_size)  # a split domain's groups, one run at a time
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
        tokens = (Tokens(texts, self.p.concept_max_n, self.tail) if texts is not None
                  else None)
        sig_okeys = sigs.column("okey").to_pylist() if sigs is not None else []
        sig_blobs = sigs.column("signature").to_pylist() if sigs is not None else []
        scopes = batch.column("scope").to_pylist()
        domains = batch.column("domain").to_pylist()
        parts = (batch.column("part").to_pylist() if "part" in batch.schema.names
                 else [WHOLE] * batch.num_rows)
        starts = _run_starts(batch)
        out: list[pa.RecordBatch] = []
        for lo, hi in zip(starts, [*starts[1:], batch.num_rows], strict=True):
            ta, tb = np.searchsorted(text_pos, [lo, hi])
            if tb > ta:
                out += self._texts((scopes[lo], domains[lo], parts[lo]), tokens, lists,
                                   int(ta), int(tb))
                self.sigs.offer(lists.okeys[ta:tb], lists.signatures[ta:tb])
            sa, sb = np.searchsorted(sig_pos, [lo, hi])
            self.sigs.offer(sig_okeys[sa:sb], sig_blobs[sa:sb])
        return out

    def _texts(self, key: tuple[str, str, int], tokens: Tokens, rows: TextRows, lo: int,
               hi: int) -> list[pa.RecordBatch]:
        if self.p.mode == "budgets":
            return self._budget_segment(key[:2], tokens, lo, hi, rows.stops)
        out: list[pa.RecordBatch] = []
        if self.run is None or (self.run.scope, self.run.domain, self.run.part) != key:
            out += self._close_run()
            self.run = Run(*key, self.p, self.zstd)
        self.run.add(tokens, lo, hi, rows.eras[lo:hi], rows.months[lo:hi], self.sigs)
        wanted = [ALL, key[1]] if self.run.partial else [ALL]
        for domain in wanted:  # scope-wide candidates; a part's, for its domain's budgets
            self.sigs.want(self.candidates.add(
                (key[0], domain), tokens.okeys[lo:hi], tokens.tok.lengths[lo:hi],
                rows.eras[lo:hi], rows.months[lo:hi], lambda i: tokens.text.text(lo + i),
                rows.defines[lo:hi]))
        return out

    def finish(self) -> list[pa.RecordBatch]:
        if self.p.mode == "budgets":
            return self._close_budget_run() + self._flush_metrics(0)
        return (self._close_run() + self._flush_metrics(0) + self.rollups.batches()
                + self._drain_parts() + dict_rows(KIND_CANDIDATE, self.candidates.rows()))

    def _budget_segment(self, key, tokens: Tokens, lo: int, hi: int, stops) -> list:
        out = []
        if self.budget_run is None or self.budget_run[0] != key:
            out = self._close_budget_run()
            self.budget_run = (key, Prefix(self.p.budgets, self.p.precision,
                                           self.p.stream(self.zstd)))
        prefix = self.budget_run[1]
        stop_at = next((i for i in range(lo, hi) if stops[i]), hi)
        if stop_at > lo and not prefix.done:
            prefix.feed(tokens.tok.lengths[lo:stop_at],
                        lambda a, b: tokens.doc_slice(lo + a, lo + b))
            self.sigs.want(prefix.head)
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
        self.rollups.add(run, rows[: len(run.slots)], self.sigs, ALL)
        self.candidates.sign(self.sigs)
        if run.partial:  # the domain's own groups merge across its parts, as rollups do;
            # they leave now (words counted first), so memory holds one run's groups
            self.parts.add(run, rows[: len(run.slots)], self.sigs, run.domain)
            self.sigs.clear()
            return self._flush_metrics(0) + self._drain_parts()
        self.metrics += rows + self._budget_rows(run.scope, run.domain, run.prefix)
        self.sigs.clear()
        return self._flush_metrics(512) + self._replicate_rows(run)

    @staticmethod
    def _replicate_rows(run: Run) -> list[pa.RecordBatch]:
        """REPLICATE rows of a closed run: one per (replicate, budget) its sample filled
        (`key` = the replicate), with the sums, distinct-n and tail hits of the sample."""
        era = budget_era(run.scope)
        rows = []
        for r, prefix in enumerate(run.replicates):
            prefix.finish()
            rows += [{**snap, "scope": run.scope, "domain": run.domain, "era": era,
                      "month": ALL, "key": r} for snap in prefix.snapshots]
        return dict_rows(KIND_REPLICATE, rows)

    def _drain_parts(self) -> list[pa.RecordBatch]:
        out, self.parts = self.parts.batches(), Rollups(self.p.sample_size)
        return out

    def _flush_metrics(self, at_least: int) -> list[pa.RecordBatch]:
        """METRICS rows leave in batches of a few hundred groups, not one per run; their
        entropies are counted together just before (`WordGroups`). `at_least=0` flushes
        everything: the word counts of a split domain's groups feed only its partials, so
        they are flushed even when no METRICS row is waiting."""
        if at_least and len(self.metrics) < at_least and self.words.size < (1 << 22):
            return []
        entropy = self.words.flush(self.rollups, self.parts)
        for row in self.metrics:
            if "_wid" in row:
                value = float(entropy[row.pop("_wid")])
                row["entropy_unigram"] = None if np.isnan(value) else value
        out, self.metrics = dict_rows(KIND_METRICS, self.metrics), []
        return out


def _run_starts(batch: pa.RecordBatch) -> list[int]:
    """Row indices where a new (scope, domain, part) run starts (rows are sorted by them)."""
    labels = [pc.fill_null(batch.column(c), "\x01") for c in ("scope", "domain")]
    if "part" in batch.schema.names:
        labels.append(pc.cast(batch.column("part"), pa.string()))
    key = pc.binary_join_element_wise(*labels, "\x00")
    if len(key) < 2:
        return [0]
    changed = pc.not_equal(key.slice(1), key.slice(0, len(key) - 1))
    return [0, *(np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1).tolist()]


def _group_rows(run: Run, slot_ids: list[int], era_ids: dict[str, int]) -> list[dict]:
    """METRICS rows of a finished run: its (era, month) groups in slot order, then every
    (era, __all__). `_wid`: the group's id in `WordGroups` (entropy is filled later).
    Every group's distinct-n comes from one `estimate_many` call over the run."""
    sums = [stream.sums() for stream in run.streams]
    eras = sorted(era_ids)
    members = {era: [s for (e, _), s in run.slots.items() if e == era] for era in eras}
    n_slots = len(run.slots)
    regs = np.concatenate([run.regs[:n_slots],
                           np.stack([run.regs[members[era]].max(axis=0) for era in eras])])
    est = estimate_many(regs.reshape(-1, regs.shape[-1])).reshape(len(regs), DISTINCT_N)
    rows = []
    for (era, month), slot in sorted(run.slots.items(), key=lambda item: item[1]):
        rows.append({"scope": run.scope, "domain": run.domain, "era": era, "month": month,
                     "gid": group_key(run.scope, run.domain, era, month, None),
                     **sums[slot], **_distinct(est[slot]), "_wid": slot_ids[slot],
                     "sample": run.streams[slot].sample})
    for i, era in enumerate(eras):
        sample = sorted(k for s in members[era]
                        for k in run.streams[s].sample)[: run.p.sample_size]
        rows.append({"scope": run.scope, "domain": run.domain, "era": era, "month": ALL,
                     "gid": group_key(run.scope, run.domain, era, ALL, None),
                     **{f: sum(sums[s][f] for s in members[era]) for f in SUM_FIELDS},
                     **_distinct(est[n_slots + i]), "_wid": era_ids[era], "sample": sample})
    return rows


def _distinct(estimates: np.ndarray) -> dict:
    return {f"distinct_n_{n}": float(estimates[n - 1]) for n in range(1, DISTINCT_N + 1)}


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
