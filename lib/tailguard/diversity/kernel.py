"""The measuring kernel run by `mapInArrow`: sampled documents in, sample metrics out.

The job has already chosen every sample from small rows (`select.py`): each input row is
a document of one *run* (scope, domain; domain `__all__` for the scope-wide samples),
sorted by the seeded `okey`, marked with the largest rung of each ladder it belongs to
(null: not in that sample): `whole_top` (the run's own ladder, month `__all__`),
`month_top` (the ladder of its month within the run) and `rep_top` (the ladder of its
replicate, okey mod R). So the kernel tokenises each sampled document once and feeds it
to the nested samples it is in (`accum.Prefix`), and a run's rows are final when the
run ends; nothing is merged later.

Rows out (`rows.OUTPUT_SCHEMA`): METRICS, one per (run, month or `__all__`, rung): sums,
HLL++ distinct-n, exact entropy, zstd sizes, concept counts, tail hits and the
homogenization of the sample's first documents (their MinHash signatures arrive as
signature rows right after their text rows); REPLICATE, one per (run, replicate, rung)
(`key` = the replicate), the spread that gives the deltas' intervals.

Memory per task: the tokens of one Arrow batch and one run's open samples (its ladder,
one per month and R replicates: at most the largest rung of tokens each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.diversity.accum import DISTINCT_N, DocSlice, Prefix, Stream, TailSet, TextBytes
from tailguard.diversity.estimators import mean_pairwise_jaccard, zstd_compressor
from tailguard.diversity.ladder import replicate_rungs, rungs_up_to
from tailguard.diversity.ngrams import hash_texts, ngrams_of
from tailguard.diversity.rows import (  # noqa: F401  (re-exported: the kernel's contract)
    ALL,
    INPUT_COLUMNS,
    KIND_METRICS,
    KIND_REPLICATE,
    OUTPUT_DDL,
    OUTPUT_SCHEMA,
    budget_era,
    dict_rows,
)


@dataclass(frozen=True)
class KernelParams:
    precision: int = 14              # HLL precision p
    concept_max_n: int = 3           # concepts are n-grams with n = 1..concept_max_n
    chunk_bytes: int = 65536         # compression chunk size
    level: int = 3                   # zstd level
    budgets: tuple[int, ...] = (2000, 4000, 8000, 16000, 32000, 64000)  # sorted ladder
    sample_size: int = 200           # homogenization sample per sample
    replicates: int = 4              # disjoint seeded replicate samples per (scope, domain)
    replicate_max_budget: int = 8000  # replicate samples only on the rungs up to this
    replicate_min_budget: int = 500  # ... and on halvings of the floor down to this

    @property
    def replicate_budgets(self) -> tuple[int, ...]:
        return replicate_rungs(self.budgets, self.replicate_max_budget,
                               self.replicate_min_budget)

    def stream(self, zstd=None) -> Stream:
        return Stream(self.chunk_bytes, self.level, self.sample_size, zstd=zstd)


class Tokens:
    """One batch of text rows tokenised once: word hashes, n-grams n = 1..4, concepts and
    the tail concepts that count for coverage, sliceable by any set of documents."""

    def __init__(self, batch: pa.RecordBatch, concept_max_n: int, tail: TailSet):
        self.tok = hash_texts(batch.column("text"))
        _check_lengths(batch, self.tok.lengths)
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


def _check_lengths(batch: pa.RecordBatch, lengths: np.ndarray) -> None:
    """The samples were chosen by `n_words` (docs.n_words, the product's one token
    count); a document whose text tokenises to another count would put the sample's
    budget line in the wrong place, so it is an error, not a silent shift."""
    if "n_words" not in batch.schema.names:
        return
    given = pc.fill_null(batch.column("n_words"), -1).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(given != lengths)
    if len(wrong):
        i = int(wrong[0])
        raise ValueError(f"docs.n_words is {int(given[i])} but the text has {int(lengths[i])} "
                         f"words (okey {int(batch.column('okey')[i].as_py())}): docs was "
                         "written by another tokenizer version; re-run ingest")


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
    sample would otherwise cover the rare concepts its own documents put into the tail,
    and every later era would read as a loss of the tail. On a crawl of real human text
    only, that selection made coverage fall from 0.090 to 0.061 across the cutoff, in
    every domain (docs/ARCHITECTURE.md)."""
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


def _tops(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A ladder-membership column as int64, -1 for null (not in that sample)."""
    return pc.fill_null(batch.column(name), -1).to_numpy(zero_copy_only=False).astype(np.int64)


class Run:
    """One (scope, domain) of sampled documents: its ladder, its months' ladders and its
    replicates' ladders, each an `accum.Prefix` over the rungs the selection filled."""

    def __init__(self, scope: str, domain: str, params: KernelParams, zstd=None):
        self.scope, self.domain, self.p, self.zstd = scope, domain, params, zstd
        self.whole: Prefix | None = None
        self.months: dict[str, Prefix] = {}
        self.replicates: dict[int, Prefix] = {}
        self.signatures: dict[int, bytes] = {}

    def _prefix(self, budgets, top: int, count_words: bool = True) -> Prefix:
        return Prefix(rungs_up_to(budgets, top), self.p.precision, self.p.stream(self.zstd),
                      count_words=count_words)

    def add(self, tokens: Tokens, rows: np.ndarray, months: np.ndarray, whole: np.ndarray,
            month_top: np.ndarray, rep_top: np.ndarray) -> None:
        """Feed the text rows `rows` of `tokens` (in okey order) to the samples they are
        in; `months` and the three tops are per row of `rows`."""
        def feed(prefix: Prefix, sel: np.ndarray) -> None:
            picked = rows[sel]
            prefix.feed(tokens.tok.lengths[picked],
                        lambda a, b: tokens.doc_subset(picked[a:b]))

        inside = whole >= 0
        if inside.any():
            if self.whole is None:
                self.whole = self._prefix(self.p.budgets, int(whole[inside][0]))
            feed(self.whole, inside)
        inside = month_top >= 0
        for month in np.unique(months[inside]) if inside.any() else ():
            sel = inside & (months == month)
            prefix = self.months.get(month)
            if prefix is None:
                prefix = self.months[month] = self._prefix(self.p.budgets,
                                                           int(month_top[sel][0]))
            feed(prefix, sel)
        inside = rep_top >= 0
        if inside.any() and self.p.replicates > 1:
            which = tokens.okeys[rows] % self.p.replicates
            for r in np.unique(which[inside]).tolist():
                sel = inside & (which == r)
                prefix = self.replicates.get(r)
                if prefix is None:
                    prefix = self.replicates[r] = self._prefix(
                        self.p.replicate_budgets, int(rep_top[sel][0]), count_words=False)
                feed(prefix, sel)

    def rows(self) -> tuple[list[dict], list[dict]]:
        """(METRICS rows, REPLICATE rows) of the finished run: every sample holds all of
        its documents now, so each of its remaining rungs is snapshotted (`stop`)."""
        era = budget_era(self.scope)
        labels = {"scope": self.scope, "domain": self.domain, "era": era}
        metrics = []
        ladders = ([(ALL, self.whole)] if self.whole is not None else []) + sorted(
            self.months.items())
        for month, prefix in ladders:
            prefix.stop()
            metrics += [{**snap, **labels, "month": month,
                         **homogenization(self.signatures, snap["sample"])}
                        for snap in prefix.snapshots]
        replicates = []
        for r, prefix in sorted(self.replicates.items()):
            prefix.stop()
            replicates += [{**snap, **labels, "month": ALL, "key": r}
                           for snap in prefix.snapshots]
        return metrics, replicates


def homogenization(signatures: dict[int, bytes], sample: list[int]) -> dict:
    """Mean pairwise MinHash Jaccard of the sample's documents that have a signature (a
    document without a word has none), and how many those are."""
    blobs = [signatures[k] for k in sample if k in signatures]
    if len(blobs) < 2:
        return {"homogenization": None, "homogenization_sample": len(blobs)}
    sig = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(blobs), -1)
    return {"homogenization": mean_pairwise_jaccard(sig), "homogenization_sample": len(blobs)}


class PartitionKernel:
    """Stateful over one partition's batches, sorted by (scope, domain, okey, is_sig): a
    run's text rows (each followed by its signature row, if any) are contiguous."""

    def __init__(self, params: KernelParams, tail: np.ndarray):
        self.p, self.tail = params, TailSet(tail)
        self.zstd = zstd_compressor(params.level)  # one context for every sample
        self.run: Run | None = None
        self.metrics: list[dict] = []

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        if batch.num_rows == 0:
            return []
        is_sig = batch.column("is_sig").to_numpy(zero_copy_only=False)
        text_pos = np.flatnonzero(~is_sig)
        texts = batch.take(pa.array(text_pos)) if len(text_pos) else None
        tokens = Tokens(texts, self.p.concept_max_n, self.tail) if texts is not None else None
        cols = ({"months": np.array(texts.column("month").to_pylist(), object),
                 "whole": _tops(texts, "whole_top"), "month_top": _tops(texts, "month_top"),
                 "rep_top": _tops(texts, "rep_top")} if texts is not None else {})
        okeys = batch.column("okey").to_pylist()
        blobs = batch.column("signature").to_pylist()
        scopes, domains = batch.column("scope").to_pylist(), batch.column("domain").to_pylist()
        starts = _run_starts(batch)
        out: list[pa.RecordBatch] = []
        for lo, hi in zip(starts, [*starts[1:], batch.num_rows], strict=True):
            key = (scopes[lo], domains[lo])
            if self.run is None or (self.run.scope, self.run.domain) != key:
                out += self._close_run()
                self.run = Run(*key, self.p, self.zstd)
            ta, tb = np.searchsorted(text_pos, [lo, hi])
            if tb > ta:
                rows = np.arange(ta, tb)
                self.run.add(tokens, rows, *(c[ta:tb] for c in cols.values()))
            for i in np.flatnonzero(is_sig[lo:hi]) + lo:
                if blobs[i] is not None:
                    self.run.signatures[okeys[i]] = blobs[i]
        return out

    def _close_run(self) -> list[pa.RecordBatch]:
        run, self.run = self.run, None
        if run is None:
            return []
        metrics, replicates = run.rows()
        self.metrics += metrics
        out = dict_rows(KIND_REPLICATE, replicates)
        if len(self.metrics) >= 512:  # rows leave a few hundred at a time, not per run
            out += self.flush()
        return out

    def flush(self) -> list[pa.RecordBatch]:
        out, self.metrics = dict_rows(KIND_METRICS, self.metrics), []
        return out

    def finish(self) -> list[pa.RecordBatch]:
        return self._close_run() + self.flush()


def _run_starts(batch: pa.RecordBatch) -> list[int]:
    """Row indices where a new (scope, domain) run starts (rows are sorted by them)."""
    labels = [pc.fill_null(batch.column(c), "\x01") for c in ("scope", "domain")]
    key = pc.binary_join_element_wise(*labels, "\x00")
    if len(key) < 2:
        return [0]
    changed = pc.not_equal(key.slice(1), key.slice(0, len(key) - 1))
    return [0, *(np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1).tolist()]


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
