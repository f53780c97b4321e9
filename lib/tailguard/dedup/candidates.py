"""LSH candidate pairs and their verification.

Pairs come from grouping the band table by bucket (band, band_hash): one aggregation, no
self-join, so a hot bucket cannot blow up a join. Almost every bucket is a singleton
(~93% of 3.4M band rows at 200k benchmark documents), so a window count over the
primitive bucket key drops those rows first and the object aggregate (`collect_set` of
doc_id strings, 5x the cost per row) only sees the few multi-member buckets; the window's
partitioning by bucket is reused by the aggregation, so there is one shuffle. A bucket
of at most `max_bucket_size` members yields all its pairs; a larger one links every
member to the bucket's minimum doc_id (the "star" edges of text-dedup / Kiveris et al.
2014), which keeps the bucket connected with |bucket| - 1 edges instead of |bucket|^2 / 2.

Candidates are verified by the signature-estimated Jaccard similarity (the fraction of
equal MinHash values) >= threshold; pairs from the exact content-hash band need no check.
A near-duplicate pair shares several bands, so similarity is computed once per distinct
pair, and only the signatures of documents that occur in a pair are joined to them.

`lsh_edges` table (unpartitioned, rewritten whole by each run): band, band_hash, src, dst
(src < dst), the verified edges of each bucket. Keying edges by bucket lets an incremental
run regenerate exactly the buckets its new partitions touch, so the stored edges always
equal what a full run over the same partitions would produce.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tailguard.dedup.minhash import from_binary
from tailguard.dedup.signatures import EXACT_BAND
from tailguard.schema import require_columns

EDGE_COLUMNS = ("band", "band_hash", "src", "dst")


def filter_shared_buckets(bands: DataFrame) -> DataFrame:
    """Band rows of buckets that hold two or more rows (one shuffle by bucket)."""
    require_columns(bands, ["doc_id", "band", "band_hash"], "filter_shared_buckets")
    bucket = Window.partitionBy("band_hash", "band")  # long first: a cheap sort prefix
    return (
        bands.select("doc_id", "band", "band_hash")
        .withColumn("rows", F.count(F.lit(1)).over(bucket))
        .where(F.col("rows") > 1)
        .drop("rows")
    )


def _bucket_pairs(members: Column, max_bucket_size: int) -> Column:
    """array<struct<src, dst>> of a sorted member array: all pairs i < j of a small
    bucket, or the star from the minimum member of a large one."""
    n = F.size(members)
    star = F.transform(F.slice(members, 2, n - 1),
                       lambda dst: F.struct(members[0].alias("src"), dst.alias("dst")))
    all_pairs = F.flatten(F.transform(members, lambda src, i: F.transform(
        F.slice(members, i + 2, n - i - 1),
        lambda dst: F.struct(src.alias("src"), dst.alias("dst")))))
    return F.when(n <= max_bucket_size, all_pairs).otherwise(star)


def explode_bucket_pairs(bands: DataFrame, max_bucket_size: int) -> DataFrame:
    """Candidate pairs (src < dst) of every bucket with two or more members.

    One pass over the buckets (no separate small / large branches, which would each
    recompute the bucket aggregation)."""
    require_columns(bands, ["doc_id", "band", "band_hash"], "explode_bucket_pairs")
    return (
        filter_shared_buckets(bands)
        .groupBy("band", "band_hash")
        .agg(F.array_sort(F.collect_set("doc_id")).alias("members"))
        .where(F.size("members") > 1)
        .select("band", "band_hash", F.inline(_bucket_pairs(F.col("members"), max_bucket_size)))
        .select(*EDGE_COLUMNS)
    )


def _jaccard_batches(num_perm: int):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            a = from_binary(batch.column("sig_src"), num_perm)
            b = from_binary(batch.column("sig_dst"), num_perm)
            similarity = (a == b).mean(axis=1) if len(a) else np.zeros(0)
            yield pa.RecordBatch.from_arrays(
                [batch.column("src"), batch.column("dst"), pa.array(similarity)],
                names=["src", "dst", "similarity"])

    return compute


def with_similarity(pairs: DataFrame, signatures: DataFrame, num_perm: int) -> DataFrame:
    """Distinct (src, dst) pairs with their signature-estimated Jaccard similarity.

    The signature table is semi-joined to the documents of the pairs first, so the two
    joins that bring each side's signature shuffle only those (a few percent of the table)
    rather than the whole table twice.
    """
    require_columns(pairs, ["src", "dst"], "with_similarity")
    distinct = pairs.select("src", "dst").distinct()
    members = distinct.select(F.col("src").alias("doc_id")).unionByName(
        distinct.select(F.col("dst").alias("doc_id")))
    sigs = signatures.select("doc_id", "signature").join(members, on="doc_id", how="left_semi")
    return (
        distinct
        .join(sigs.withColumnRenamed("doc_id", "src").withColumnRenamed("signature", "sig_src"),
              on="src", how="inner")
        .join(sigs.withColumnRenamed("doc_id", "dst").withColumnRenamed("signature", "sig_dst"),
              on="dst", how="inner")
        .mapInArrow(_jaccard_batches(num_perm), "src string, dst string, similarity double")
    )


def filter_verified(pairs: DataFrame, signatures: DataFrame, threshold: float,
                    num_perm: int) -> DataFrame:
    """Keep exact-band pairs and LSH pairs whose estimated Jaccard >= threshold."""
    require_columns(pairs, list(EDGE_COLUMNS), "filter_verified")
    exact = pairs.where(F.col("band") == EXACT_BAND)
    lsh = pairs.where(F.col("band") != EXACT_BAND)
    similar = (
        with_similarity(lsh, signatures, num_perm)
        .where(F.col("similarity") >= threshold)
        .select("src", "dst")
    )
    verified = lsh.join(similar, on=["src", "dst"], how="left_semi")
    return exact.unionByName(verified.select(*EDGE_COLUMNS))
