"""Tail concepts of the pre-AI reference, and the coverage / rarefaction tables.

Model collapse loses the tails of the distribution first (Shumailov et al. 2024, "AI
models collapse when trained on recursively generated data"): rare-but-real concepts stop
appearing. So the tail is defined once, on human reference text (`pre_ai`, plus
`attested` pages whose cluster predates the cutoff, canonical copies only so duplicated
boilerplate does not count as frequent), and every scope is asked how much of it it
still contains when given the same number of tokens. The reference is the seeded half of
the content clusters that `job.defines_tail` picks; coverage is counted on the documents
of the other half only (`kernel._tail_hits`), in every era alike, so a pre-AI sample does
not get credit for the rare concepts it put in the tail itself.

Tail = concepts seen at least `tail.min_count` times in the reference (fewer is
indistinguishable from noise and typos) and at most the `tail.quantile` quantile of the
counts of such concepts ("at most", not "below": counts are small integers, and a strict
bound would make the tail empty whenever the quantile falls on `min_count`). The quantile
is exact: it is read off the histogram of counts, which has one row per distinct count.

The reference counts are exact too. Each task sums its concept occurrences a window at
a time, splits the partial counts into key buckets (key % B) and ships each bucket as
one row of packed binary arrays; each reducer sums its buckets one by one (`count_keys`).
One row per distinct key was the old form, and at 200k documents its 18 million tiny
rows cost more in the JVM (Arrow <-> row conversion, shuffle, sort) than the counting.

The tail goes to the kernels as a sorted array of 64-bit concept hashes (a Spark
broadcast, 8 bytes per tail concept on each executor), so coverage is counted where the
budget samples are, instead of shuffling every sampled concept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.diversity.accum import count_keys
from tailguard.diversity.blobs import BucketSums, read_blobs, split_blobs
from tailguard.diversity.ngrams import hash_texts, ngrams_of
from tailguard.schema import require_columns

log = logging.getLogger(__name__)
FLUSH_OCCURRENCES = 1 << 22  # concept occurrences a task sums at once, then emits
BUCKETS_PER_PARTITION = 8  # key buckets per reducer partition (bucket b -> b % P)
BLOB_SCHEMA = "bucket int, keys binary, counts binary"


def _concept_blobs(max_n: int, n_buckets: int, window: int):
    """Map side: a task's concept occurrences, summed a window at a time (about `window`
    occurrences, the batch that passes it included) and emitted as one blob row per key
    bucket. Windows are summed on their own, not merged into a running table: Zipf
    makes most concepts singletons, so merging saves few pairs and costs most of the
    counting time (re-aggregating the growing table)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending: list[np.ndarray] = []
        size = 0
        for batch in batches:
            concepts = ngrams_of(hash_texts(batch.column("text")), max_n, max_n).concepts
            pending.append(concepts)
            size += len(concepts)
            if size > window:
                yield split_blobs(*count_keys(np.concatenate(pending)), n_buckets)
                pending, size = [], 0
        if size:
            yield split_blobs(*count_keys(np.concatenate(pending)), n_buckets)

    return run


def _sum_frequent(min_count: int):
    """Reduce side: rows arrive sorted by bucket, so each bucket's blobs are summed at
    once (`count_keys`, a hash table) as soon as the bucket ends, and only its keys seen at
    least `min_count` times are kept (most concepts are seen once, and drop out here).
    Memory: one bucket's (key, count) pairs, not the whole partition's."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums, emitted = BucketSums(), False
        for batch in batches:
            for label, (keys, counts) in zip(batch.column("bucket").to_pylist(),
                                             read_blobs(batch), strict=True):
                finished = sums.add(label, keys, counts)
                if finished is not None:
                    emitted = True
                    yield _frequent_batch(*finished[1:], min_count)
        last = sums.close()
        if last is not None or not emitted:  # an empty partition still has a schema
            yield _frequent_batch(*(last[1:] if last else _NO_KEYS), min_count)

    return run


_NO_KEYS = (np.zeros(0, np.uint64), np.zeros(0, np.int64))


def _frequent_batch(keys: np.ndarray, counts: np.ndarray, min_count: int) -> pa.RecordBatch:
    """key, count of the summed keys seen at least min_count times."""
    keep = counts >= min_count
    return pa.RecordBatch.from_arrays(
        [pa.array(keys[keep].view(np.int64)), pa.array(counts[keep])], names=["key", "count"])


def frequent_concepts(reference: DataFrame, max_n: int, min_count: int,
                      partitions: int) -> DataFrame:
    """Exact counts of the reference concepts seen at least `min_count` times: key, count.

    Each task sums its documents' concepts a window at a time; the partial counts then
    meet by key bucket in one exchange and are summed there in a hash table, not by a Spark
    partial + final aggregation over millions of mostly unique keys. They cross the
    exchange as a few large binary rows (one per window and key bucket: packed keys and
    counts), not one row per key: with a row per key the JVM's per-row work (Arrow <->
    row conversion, shuffling and sorting tens of millions of tiny rows) dominated the
    pass. Sorting the few rows by bucket lets a reducer sum one bucket at a time."""
    require_columns(reference, ("text",), "frequent_concepts")
    return (
        reference.select("text")
        .mapInArrow(_concept_blobs(max_n, BUCKETS_PER_PARTITION * partitions,
                                   FLUSH_OCCURRENCES), BLOB_SCHEMA)
        .repartitionById(partitions, "bucket")  # bucket b to reducer b % partitions
        .sortWithinPartitions("bucket")
        .mapInArrow(_sum_frequent(min_count), "key bigint, count bigint")
    )


def quantile_bound(histogram: list[tuple[int, int]], quantile: float) -> int | None:
    """Smallest count c with P(count <= c) >= quantile, from (count, concepts) pairs."""
    if not histogram:
        return None
    values = sorted(histogram)
    total = sum(n for _, n in values)
    running = 0
    for count, n in values:
        running += n
        if running >= quantile * total - 1e-9:
            return count
    return values[-1][0]


def tail_concepts(frequent: DataFrame, min_count: int, quantile: float) -> np.ndarray:
    """The tail band as sorted uint64 concept hashes (empty when nothing is frequent
    enough), from `frequent_concepts`. Its (key, count) rows come to the driver in one
    job, as Arrow, and the exact quantile and the band are read off them there: about
    twice the tail's size (the band is the lower `quantile` of them), and the tail itself
    is held on the driver and broadcast to every executor anyway (driver memory at the
    peak: ~50 bytes per eligible concept). One job, not four: a persisted table, a
    histogram, then the band, each a round of Spark jobs whose latency (~0.4 s each)
    outweighed moving a few MB."""
    require_columns(frequent, ("key", "count"), "tail_concepts")
    table = frequent.select("key", "count").toArrow()
    keys = table.column("key").to_numpy().view(np.uint64)
    counts = table.column("count").to_numpy()
    eligible = counts >= min_count
    if not eligible.all():  # the reducers drop rarer keys already: no copy then
        keys, counts = keys[eligible], counts[eligible]
    values, sizes = np.unique(counts, return_counts=True)
    bound = quantile_bound(list(zip(values.tolist(), sizes.tolist(), strict=True)), quantile)
    if bound is None:
        log.warning("no concept is seen %d times in the reference: the tail is empty",
                    min_count)
        return np.zeros(0, np.uint64)
    tail = np.sort(keys[counts <= bound])
    log.info("tail: %d concepts with %d <= count <= %d", len(tail), min_count, bound)
    return tail


TAIL_PARAMS = ("max_n", "min_count", "quantile")


def tail_table(spark, keys: np.ndarray, tail_cfg) -> DataFrame:
    """The tail band as a table (`tail_concepts`): key (the concept hash as a signed
    64-bit integer) plus the `tail.*` values that made it, so a reader (the shards job)
    can refuse a tail made under another definition."""
    table = pa.table({"key": pa.array(np.asarray(keys, np.uint64).view(np.int64)),
                      "max_n": pa.array(np.full(len(keys), tail_cfg.max_n, np.int32)),
                      "min_count": pa.array(np.full(len(keys), tail_cfg.min_count, np.int32)),
                      "quantile": pa.array(np.full(len(keys), tail_cfg.quantile, np.float64))})
    return spark.createDataFrame(table).coalesce(1)


def good_turing_column(f1: Column, n: Column) -> Column:
    """Spark form of `estimators.good_turing_missing_mass` (tests hold them equal)."""
    return F.when(n > 0, f1 / n)


def chao1_column(s_obs: Column, f1: Column, f2: Column, n: Column) -> Column:
    """Spark form of `estimators.chao1` (bias-corrected; tests hold them equal)."""
    return F.when(n > 0, s_obs + ((n - 1.0) / n) * f1 * (f1 - 1.0) / (2.0 * (f2 + 1.0)))


def coverage_table(budget_rows: DataFrame, tail_size: int) -> DataFrame:
    """scope, domain, token_budget, n_tokens, tail_concepts, covered, coverage."""
    require_columns(budget_rows, ("scope", "domain", "token_budget", "n_tokens", "covered"),
                    "coverage_table")
    # null only where a row has no budget (none has): a nullable column, like the rows
    # a run keeps from the stored table, so both write the same Parquet schema
    size = F.when(F.col("token_budget").isNotNull(), F.lit(tail_size).cast("long"))
    return budget_rows.select(
        "scope", "domain", "token_budget", "n_tokens", size.alias("tail_concepts"),
        F.col("covered").cast("long").alias("covered"),
        F.when(size > 0, F.col("covered") / size).alias("coverage"))


def rarefaction_table(budget_rows: DataFrame) -> DataFrame:
    """scope, domain, token_budget, n_tokens, distinct concepts, occurrences n, f1, f2,
    Good–Turing missing mass f1/n and bias-corrected Chao1."""
    require_columns(budget_rows, ("distinct_concepts", "concept_occurrences", "f1", "f2"),
                    "rarefaction_table")
    as_double = [F.col(c).cast("double") for c in
                 ("distinct_concepts", "f1", "f2", "concept_occurrences")]
    return budget_rows.select(
        "scope", "domain", "token_budget", "n_tokens", "distinct_concepts",
        "concept_occurrences", "f1", "f2",
        good_turing_column(as_double[1], as_double[3]).alias("good_turing_missing_mass"),
        chao1_column(*as_double).alias("chao1"))


# What a band was fitted on (`tail_fit`, one row, written beside `tail_concepts`): the
# reference's size and a fingerprint of its (doc_id, crawl_date) set, the definition and
# the seed of the half that defines it. The band is whole-crawl state: a run whose
# reference is the same set of documents under the same definition reuses it.
FIT_COLUMNS = ("reference_docs", "reference_fingerprint", "max_n", "min_count", "quantile",
               "seed", "concepts")
FIT_DDL = ("reference_docs long, reference_fingerprint long, max_n int, min_count int, "
           "quantile double, seed long, concepts long")
REFIT_KEYS = FIT_COLUMNS[:-1]


def reference_fingerprint(reference: DataFrame) -> tuple[int, int]:
    """(documents, xor of xxhash64(doc_id, crawl_date)) of the reference's keys: a new,
    lost or replaced document changes it; order and partitioning do not. Read from the
    small rows (no text)."""
    require_columns(reference, ("doc_id", "crawl_date"), "reference_fingerprint")
    row = reference.agg(
        F.count(F.lit(1)).alias("docs"),
        F.coalesce(F.bit_xor(F.xxhash64("doc_id", F.col("crawl_date").cast("string"))),
                   F.lit(0).cast("long")).alias("fingerprint")).first()
    return int(row["docs"]), int(row["fingerprint"])


def fit_record(docs: int, fingerprint: int, tail_cfg, seed: int, concepts: int) -> dict:
    return {"reference_docs": docs, "reference_fingerprint": fingerprint,
            "max_n": int(tail_cfg.max_n), "min_count": int(tail_cfg.min_count),
            "quantile": float(tail_cfg.quantile), "seed": int(seed), "concepts": concepts}


def band_is_current(stored: dict | None, wanted: dict) -> bool:
    """Whether a stored band was fitted on the reference and definition `wanted` (a
    `fit_record`): then refitting it would give the same band, so a run reuses it."""
    return stored is not None and all(stored.get(k) == wanted[k] for k in REFIT_KEYS)


def fit_table(spark, record: dict) -> DataFrame:
    return spark.createDataFrame([tuple(record[c] for c in FIT_COLUMNS)], FIT_DDL).coalesce(1)
