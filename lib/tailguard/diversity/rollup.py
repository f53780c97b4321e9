"""Merge the kernel's per-partition partials of the cross-domain groups.

The (scope, `__all__`, era, month) and (scope, `__all__`, era, `__all__`) groups span
partitions, so the kernel emits them as partials that merge exactly: sums add, HLL
registers take the elementwise max, word counts add (then entropy from N = sum c and
S = sum c log2 c, both Spark sums), and the homogenization sample is the first k okeys
of the union of each partition's first k. There are few such groups (eras x months), so
each merge is small.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.diversity import hll
from tailguard.diversity.accum import DISTINCT_N, count_keys
from tailguard.diversity.estimators import entropy_bits, mean_pairwise_jaccard
from tailguard.diversity.kernel import (
    KIND_REGISTERS,
    KIND_SAMPLE,
    KIND_SUMS,
    KIND_WORDS,
    SUM_FIELDS,
)

DISTINCT_COLUMNS = [f"distinct_n_{n}" for n in range(1, DISTINCT_N + 1)]


def _runs(batches: Iterator[pa.RecordBatch], columns: list[str]) -> Iterator[tuple]:
    """(gid, {column: list}) for each gid of rows sorted by gid, across batch edges."""
    current, acc = None, None
    for batch in batches:
        data = {c: batch.column(c).to_pylist() for c in ["gid", *columns]}
        for i, gid in enumerate(data["gid"]):
            if gid != current:
                if current is not None:
                    yield current, acc
                current, acc = gid, {c: [] for c in columns}
            for c in columns:
                acc[c].append(data[c][i])
    if current is not None:
        yield current, acc


def _estimate_registers(precision: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = []
        for gid, acc in _runs(batches, ["n", "registers"]):
            regs = np.zeros((DISTINCT_N, 1 << precision), np.int8)
            for n, blob in zip(acc["n"], acc["registers"], strict=True):
                np.maximum(regs[n - 1], hll.decode(blob, precision), out=regs[n - 1])
            rows.append([gid, *hll.estimate_many(regs)])
        if rows:
            cols = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(cols[0], pa.int64())] + [pa.array(c, pa.float64()) for c in cols[1:]],
                names=["gid", *DISTINCT_COLUMNS])

    return run


def _homogenize(sample_size: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        gids, values, sizes = [], [], []
        for gid, acc in _runs(batches, ["signature"]):
            blobs = [b for b in acc["signature"][:sample_size] if b is not None]
            gids.append(gid)
            sizes.append(len(blobs))
            values.append(mean_pairwise_jaccard(
                np.frombuffer(b"".join(blobs), "<u4").reshape(len(blobs), -1))
                if len(blobs) > 1 else None)
        if gids:
            yield pa.RecordBatch.from_arrays(
                [pa.array(gids, pa.int64()), pa.array(values, pa.float64()),
                 pa.array(sizes, pa.int64())],
                names=["gid", "homogenization", "homogenization_sample"])

    return run


def _entropy_of_partials(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Unigram entropy per gid from partial word counts: summed per (gid, word) by one
    Arrow aggregation over the task's rows (whole gids: rows arrive partitioned by gid)."""
    parts = list(batches)
    if not parts or not sum(b.num_rows for b in parts):
        return
    table = pa.Table.from_batches(parts)
    gid, _, counts = count_keys(table.column("key").to_numpy().view(np.uint64),
                                table.column("count").to_numpy(),
                                groups=table.column("gid").to_numpy())
    ids, index = np.unique(gid, return_inverse=True)
    c = counts.astype(np.float64)
    total = np.bincount(index, weights=c)
    s = np.bincount(index, weights=c * np.log2(np.maximum(c, 1.0)))
    yield pa.RecordBatch.from_arrays([pa.array(ids), pa.array(entropy_bits(total, s))],
                                     names=["gid", "entropy_unigram"])


def rollup_metrics(partials: DataFrame, precision: int, sample_size: int,
                   partitions: int) -> DataFrame:
    """One row per cross-domain group: labels, sums, distinct_n_k, entropy_unigram,
    homogenization(_sample). partials: the kernel's output (kinds SUMS, REGISTERS,
    WORDS, SAMPLE are read). The groups are few (eras x months), so their merges run
    in `partitions` tasks, not one Python worker per shuffle partition."""
    def kind(k: int) -> DataFrame:
        return partials.where(F.col("kind") == k)

    sums = kind(KIND_SUMS).groupBy("gid", "scope", "domain", "era", "month").agg(
        *[F.sum(f).alias(f) for f in SUM_FIELDS])
    distinct = (
        kind(KIND_REGISTERS).select("gid", "n", "registers")
        .repartition(partitions, "gid").sortWithinPartitions("gid", "n")
        .mapInArrow(_estimate_registers(precision),
                    "gid bigint, " + ", ".join(f"{c} double" for c in DISTINCT_COLUMNS))
    )
    entropy = (
        kind(KIND_WORDS).select("gid", "key", "count")
        .repartition(partitions, "gid")
        .mapInArrow(_entropy_of_partials, "gid bigint, entropy_unigram double")
    )
    homog = (
        kind(KIND_SAMPLE).select("gid", "okey", "signature")
        .repartition(partitions, "gid").sortWithinPartitions("gid", "okey")
        .mapInArrow(_homogenize(sample_size),
                    "gid bigint, homogenization double, homogenization_sample bigint")
    )
    return (sums.join(distinct, "gid", "left").join(entropy, "gid", "left")
            .join(homog, "gid", "left")
            .withColumn("token_budget", F.lit(None).cast("long")))
