"""Spark side of the sketches: run the kernel, merge partials, roll up, estimate.

Group ids are 64-bit hashes of a group's labels (`group_id`), so the kernel sees one
int64 per document and labels are joined back only on the small per-group tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.diversity import hll
from tailguard.diversity.estimators import entropy_bits
from tailguard.diversity.kernel import (
    DISTINCT_N,
    INPUT_COLUMNS,
    KIND_BYTES,
    KIND_DOC,
    KIND_HLL,
    KIND_WORD,
    OUTPUT_DDL,
    KernelParams,
    kernel_fn,
)
from tailguard.schema import require_columns

ALL = "__all__"
LABELS = ("scope", "domain", "era", "month", "token_budget")


def group_id(*labels: Column) -> Column:
    """Stable 64-bit id of a group from its labels (nulls and separators kept distinct)."""
    parts = [F.coalesce(c.cast("string"), F.lit("\u0000")) for c in labels]
    return F.xxhash64(F.concat_ws("\u001f", *parts))


def label_gid() -> Column:
    return group_id(*(F.col(c) for c in LABELS))


@dataclass
class Partials:
    """Kernel output split by how it merges. `cached` must be unpersisted by the caller."""

    counts: DataFrame      # kind, gid, n, key, vsum (summed over the whole input)
    registers: DataFrame   # gid, n, registers (hll.encode bytes, one row per flush)
    cached: list[DataFrame]


def sketch_partials(df: DataFrame, params: KernelParams) -> Partials:
    """Kernel over every batch (partitions sorted by gid, so each group's registers and
    compression chunks are opened once per partition), then the count merge."""
    require_columns(df, INPUT_COLUMNS, "sketch_partials")
    raw = (
        df.select(*INPUT_COLUMNS)
        .sortWithinPartitions("gid", "okey")  # okey: a fixed text order for the chunks
        .mapInArrow(kernel_fn(params), OUTPUT_DDL)
        .persist()
    )
    counts = (
        raw.where(F.col("kind") != KIND_HLL)
        .groupBy("kind", "gid", "n", "key").agg(F.sum("value").alias("vsum"))
        .persist()
    )
    registers = raw.where(F.col("kind") == KIND_HLL).select("gid", "n", "registers")
    return Partials(counts, registers, [raw, counts])


def _merge_estimate(precision: int):
    """mapInArrow body: rows sorted by (gid, n); max-merge each run, then estimate."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        current, reg = None, np.zeros(1 << precision, dtype=np.int8)
        out: list[tuple[int, int, float]] = []
        for batch in batches:
            gids, ns = batch.column("gid").to_pylist(), batch.column("n").to_pylist()
            for gid, n, blob in zip(gids, ns, batch.column("registers").to_pylist(),
                                    strict=True):
                if (gid, n) != current:
                    if current is not None:
                        out.append((*current, hll.estimate(reg)))
                    current, reg = (gid, n), np.zeros(1 << precision, dtype=np.int8)
                np.maximum(reg, hll.decode(blob, precision), out=reg)
            if len(out) >= 1024:
                yield _estimates(out)
                out = []
        if current is not None:
            out.append((*current, hll.estimate(reg)))
        if out:
            yield _estimates(out)

    return run


def _estimates(rows: list[tuple[int, int, float]]) -> pa.RecordBatch:
    gid, n, distinct = zip(*rows, strict=True)
    return pa.RecordBatch.from_arrays(
        [pa.array(gid, pa.int64()), pa.array(n, pa.int32()), pa.array(distinct, pa.float64())],
        names=["gid", "n", "distinct"])


def merge_registers(registers: DataFrame, parents: DataFrame | None,
                    precision: int) -> DataFrame:
    """Distinct-n estimate per (gid, n): register sets re-keyed to their parent groups,
    shuffled by gid and max-merged one group at a time (memory: one register set), then
    handed to datasketch. Returns gid, n, distinct."""
    if parents is not None:
        registers = registers.join(parents.select("gid", "parent_gid"), "gid", "inner").select(
            F.col("parent_gid").alias("gid"), "n", "registers")
    return (
        registers.repartition("gid").sortWithinPartitions("gid", "n")
        .mapInArrow(_merge_estimate(precision), "gid long, n int, distinct double")
    )


def rollup_parents(labels: DataFrame) -> DataFrame:
    """Each (scope, domain, era, month) group and its three rollups: domain and/or month
    `__all__`. Returns gid -> parent gid with the parent's labels."""
    require_columns(labels, ("gid", *LABELS), "rollup_parents")
    options = F.array(*[
        F.struct(d.alias("domain"), m.alias("month"))
        for d in (F.col("domain"), F.lit(ALL)) for m in (F.col("month"), F.lit(ALL))
    ])
    return (
        labels.select("gid", "scope", "era", "token_budget", F.explode(options).alias("p"))
        .select("gid", "scope", F.col("p.domain").alias("domain"), "era",
                F.col("p.month").alias("month"), "token_budget")
        .withColumn("parent_gid", label_gid())
    )


def rollup_counts(counts: DataFrame, parents: DataFrame) -> DataFrame:
    """Re-key count rows to parent groups and sum again."""
    return (
        counts.join(parents.select("gid", "parent_gid"), on="gid", how="inner")
        .groupBy("kind", F.col("parent_gid").alias("gid"), "n", "key")
        .agg(F.sum("vsum").alias("vsum"))
    )


@F.pandas_udf(T.DoubleType())
def _entropy_udf(n_total: pd.Series, s: pd.Series) -> pd.Series:
    return pd.Series(entropy_bits(n_total.to_numpy(), s.to_numpy()))


def group_metrics(counts: DataFrame, estimates: DataFrame) -> DataFrame:
    """Per gid: n_docs, n_tokens, distinct_n_k, distinct_ratio_n_k, entropy, compression.

    counts: kind, gid, n, key, vsum; estimates: gid, n, distinct (from merge_registers).
    """
    def kind(k: int) -> DataFrame:
        return counts.where(F.col("kind") == k)

    docs = kind(KIND_DOC).groupBy("gid").agg(
        F.count(F.lit(1)).alias("n_docs"), F.sum("vsum").alias("n_tokens"),
        *[F.sum(F.greatest(F.col("vsum") - (k - 1), F.lit(0))).alias(f"ngrams_{k}")
          for k in range(1, DISTINCT_N + 1)])
    distinct = (
        estimates.groupBy("gid").pivot("n", list(range(1, DISTINCT_N + 1)))
        .agg(F.first("distinct"))
        .select("gid", *[F.col(str(k)).alias(f"distinct_n_{k}")
                         for k in range(1, DISTINCT_N + 1)])
    )
    entropy = kind(KIND_WORD).groupBy("gid").agg(
        _entropy_udf(F.sum("vsum").cast("double"),
                     F.sum(F.col("vsum") * F.log2("vsum"))).alias("entropy_unigram"))
    sizes = kind(KIND_BYTES).groupBy("gid").agg(
        F.sum(F.when(F.col("n") == 0, F.col("vsum"))).alias("raw_bytes"),
        F.sum(F.when(F.col("n") == 1, F.col("vsum"))).alias("compressed_bytes"))
    out = (docs.join(distinct, "gid", "left").join(entropy, "gid", "left")
           .join(sizes, "gid", "left"))
    ratios = []
    for k in range(1, DISTINCT_N + 1):
        d = F.coalesce(F.col(f"distinct_n_{k}"), F.lit(0.0))
        ratios.append(F.when(F.col(f"ngrams_{k}") > 0,
                             F.least(d / F.col(f"ngrams_{k}"), F.lit(1.0)))
                      .alias(f"distinct_ratio_n_{k}"))
    return out.select(
        "gid", "n_docs", "n_tokens",
        *[F.round(F.coalesce(F.col(f"distinct_n_{k}"), F.lit(0.0))).cast("long")
          .alias(f"distinct_n_{k}") for k in range(1, DISTINCT_N + 1)],
        *ratios,
        F.when(F.col("compressed_bytes") > 0,
               F.col("raw_bytes") / F.col("compressed_bytes")).alias("compression_ratio"),
        "entropy_unigram",
    ).withColumn("distinct_ratio_sum",
                 sum(F.coalesce(F.col(f"distinct_ratio_n_{k}"), F.lit(0.0))
                     for k in range(1, DISTINCT_N + 1)))
