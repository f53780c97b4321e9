"""Spreading a few heavy groups over the cores: balanced buckets, one partition each.

A group-by over a handful of keys (the K fold models) or over sites whose rows are a few
numbers each (the per-site fits) leaves a shuffle of a few megabytes, which adaptive
query execution coalesces into one or two partitions: the whole fit then runs in one
task. Here every row carries a bucket in [0, n) (the model's number; for sites, a
greedy longest-processing-time assignment by size, Graham 1969), and
`repartition_by_bucket` puts bucket b in partition b. A repartition with an explicit
number of partitions is never coalesced, and Spark hash-partitions a long column by
pmod(murmur3(v), n), so each bucket is mapped to a long that hashes to its own number.
What a bucket computes does not depend on which other groups share its partition, so
the output is the same for any number of buckets.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def balanced_buckets(sizes: Mapping[str, float], buckets: int) -> dict[str, int]:
    """{key: bucket in [0, buckets)}: keys by decreasing size (ties by key), each to the
    bucket with the least total so far (ties: the lowest bucket). Deterministic; the
    largest bucket holds at most 4/3 of the optimum (Graham's bound)."""
    buckets = max(1, min(int(buckets), len(sizes)))
    heap = [(0.0, b) for b in range(buckets)]
    out: dict[str, int] = {}
    for key, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        total, bucket = heapq.heappop(heap)
        out[key] = bucket
        heapq.heappush(heap, (total + float(size), bucket))
    return out


def hash_keys(spark: SparkSession, n: int) -> list[int]:
    """For each partition p in [0, n): the smallest long v with pmod(hash(v), n) = p,
    the partition Spark's hash partitioning gives v (one small job)."""
    if n <= 1:
        return [0] * max(n, 1)
    span = 16 * n
    while True:
        rows = (spark.range(span).select("id", F.pmod(F.hash("id"), F.lit(n)).alias("p"))
                .groupBy("p").agg(F.min("id").alias("id")).collect())
        found = {int(row["p"]): int(row["id"]) for row in rows}
        if len(found) == n:
            return [found[p] for p in range(n)]
        span *= 4


def repartition_by_bucket(df: DataFrame, bucket: str, n: int) -> DataFrame:
    """`df` in `n` partitions, the rows of bucket b (an integer column in [0, n)) in
    partition b."""
    keys = hash_keys(df.sparkSession, n)
    key = F.element_at(F.array(*[F.lit(k).cast("long") for k in keys]),
                       F.col(bucket).cast("int") + 1)
    return df.withColumn("_bucket_key", key).repartition(n, "_bucket_key").drop("_bucket_key")


def with_bucket(df: DataFrame, column: str, assignment: Mapping[str, int]) -> DataFrame:
    """Add `bucket` = assignment[df[column]] (a literal map: a few thousand keys at most)."""
    pairs = [x for k, b in sorted(assignment.items()) for x in (F.lit(k), F.lit(b))]
    lookup = F.create_map(*pairs) if pairs else F.create_map().cast("map<string,int>")
    return df.withColumn("bucket", F.coalesce(F.element_at(lookup, F.col(column)), F.lit(0)))


def by_site(df: DataFrame, column: str, sizes: Mapping[str, float], buckets: int,
            fn, schema, combine=None) -> DataFrame:
    """mapInPandas of `fn(frame of one site) -> pandas frame of `schema`` over the sites
    of `df`, grouped into balanced buckets, one per partition (sites in sorted order
    within a partition, rows in arrival order: `fn` must not depend on it).
    `combine(list of one partition's outputs) -> list of frames`, when given, replaces
    a partition's outputs (e.g. adds a partial aggregate of them); what the job reads of
    it must not depend on how the sites were bucketed."""
    assignment = balanced_buckets(sizes, buckets)
    n = max(1, len(set(assignment.values())))
    spread = repartition_by_bucket(with_bucket(df, column, assignment), "bucket", n)
    names = list(df.columns)

    def per_partition(frames):
        parts = [f for f in frames if len(f)]
        if not parts:
            return
        whole = pd.concat(parts, ignore_index=True)[names]
        outputs = [fn(site.reset_index(drop=True))
                   for _, site in sorted(whole.groupby(column, sort=False), key=lambda kv: kv[0])]
        for out in (combine(outputs) if combine else outputs):
            if len(out):
                yield out

    return spread.mapInPandas(per_partition, schema)
