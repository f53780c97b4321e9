"""LSH candidate pairs and their verification.

Pairs come from grouping the band table by bucket (band, band_hash): one aggregation, no
self-join, so a hot bucket cannot blow up a join. A bucket of at most `max_bucket_size`
members yields all its pairs; a larger one links every member to the bucket's minimum
doc_id (the "star" edges of text-dedup / Kiveris et al. 2014), which keeps the bucket
connected with |bucket| - 1 edges instead of |bucket|^2 / 2.

Candidates are verified by the signature-estimated Jaccard similarity (the fraction of
equal MinHash values) >= threshold; pairs from the exact content-hash band need no check.

`lsh_edges` table (unpartitioned, rewritten whole by each run): band, band_hash, src, dst
(src < dst), the verified edges of each bucket. Keying edges by bucket lets an incremental
run regenerate exactly the buckets its new partitions touch, so the stored edges always
equal what a full run over the same partitions would produce.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.dedup.minhash import from_binary
from tailguard.dedup.signatures import EXACT_BAND
from tailguard.schema import require_columns

EDGE_COLUMNS = ("band", "band_hash", "src", "dst")


def explode_bucket_pairs(bands: DataFrame, max_bucket_size: int) -> DataFrame:
    """Candidate pairs (src < dst) of every bucket with two or more members."""
    require_columns(bands, ["doc_id", "band", "band_hash"], "explode_bucket_pairs")
    buckets = (
        bands.groupBy("band", "band_hash")
        .agg(F.array_sort(F.collect_set("doc_id")).alias("members"))
        .where(F.size("members") > 1)
    )
    small = (
        buckets.where(F.size("members") <= max_bucket_size)
        .select("band", "band_hash", F.explode("members").alias("src"), "members")
        .select("band", "band_hash", "src", F.explode("members").alias("dst"))
        .where(F.col("src") < F.col("dst"))
    )
    star = (
        buckets.where(F.size("members") > max_bucket_size)
        .select("band", "band_hash", F.col("members")[0].alias("src"),
                F.explode(F.slice("members", 2, F.size("members"))).alias("dst"))
    )
    return small.unionByName(star).select(*EDGE_COLUMNS)


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
    """Distinct (src, dst) pairs with their signature-estimated Jaccard similarity."""
    require_columns(pairs, ["src", "dst"], "with_similarity")
    sigs = signatures.select("doc_id", "signature")
    return (
        pairs.select("src", "dst").distinct()
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
