"""LSH candidate pairs and their verification, in one pass over the shared buckets.

Pairs come from grouping the band table by bucket (band, band_hash): one aggregation, no
self-join, so a hot bucket cannot blow up a join. Almost every bucket is a singleton
(most band rows of a crawl), so a window count over the
primitive bucket key drops those rows first; only the rows of multi-member buckets get
their signature (one join) and are gathered per bucket (`collect_list` of (doc_id,
signature)). One Arrow pass then turns every bucket into its verified edges (a compiled
loop over the bucket members: pairs, and the fraction of equal MinHash values of each,
Broder 1997): a bucket of at most `max_bucket_size` distinct members yields all its
pairs; a larger one links every member to the bucket's minimum doc_id (the "star" edges
of text-dedup / Kiveris et al. 2014), which keeps the bucket connected with |bucket| - 1
edges instead of |bucket|^2 / 2. An LSH pair is kept when its signature-estimated Jaccard
similarity is >= threshold; pairs from the exact content-hash band need no check.

Verifying inside the bucket checks a near-duplicate pair once per band it shares (a few
hundred integer compares each) instead of deduplicating pairs and joining both sides'
signatures to them, which would take four more shuffles.

`lsh_edges` table (unpartitioned, rewritten whole by each run): band, band_hash, src, dst
(src < dst), the verified edges of each bucket. Keying edges by bucket lets an incremental
run regenerate exactly the buckets its new partitions touch, so the stored edges always
equal what a full run over the same partitions would produce.
"""

from __future__ import annotations

from collections.abc import Iterator

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from tailguard.dedup.minhash import from_binary
from tailguard.dedup.signatures import EXACT_BAND
from tailguard.schema import require_columns

EDGE_COLUMNS = ("band", "band_hash", "src", "dst")


def filter_shared_buckets(bands: DataFrame) -> DataFrame:
    """Band rows of buckets that hold two or more rows (one shuffle by bucket)."""
    require_columns(bands, ["doc_id", "crawl_date", "band", "band_hash"],
                    "filter_shared_buckets")
    bucket = Window.partitionBy("band_hash", "band")  # long first: a cheap sort prefix
    return (
        bands.select("doc_id", "crawl_date", "band", "band_hash")
        .withColumn("rows", F.count(F.lit(1)).over(bucket))
        .where(F.col("rows") > 1)
        .drop("rows")
    )


@nb.njit(cache=True, nogil=True)
def bucket_edges(bounds: np.ndarray, exact: np.ndarray, sig: np.ndarray,
                 max_bucket_size: int, threshold: float):
    """(bucket, i, j) of every verified edge: the members of bucket b are rows
    bounds[b]..bounds[b + 1] of `sig` (uint32 [n, num_perm]), sorted by doc_id and
    distinct. All pairs i < j of a bucket of at most `max_bucket_size` members, else the
    star from its first (minimum) member; kept when `exact[b]` or when the fraction of
    equal signature values is >= threshold. Two passes: count, then fill."""
    num_perm = sig.shape[1]
    out_bucket = np.empty(0, np.int64)
    out_i = np.empty(0, np.int64)
    out_j = np.empty(0, np.int64)
    for fill in range(2):
        found = 0
        for b in range(len(bounds) - 1):
            lo, hi = bounds[b], bounds[b + 1]
            star = hi - lo > max_bucket_size
            for i in range(lo, hi - 1):
                if star and i > lo:
                    break
                for j in range(i + 1, hi):
                    keep = exact[b]
                    if not keep:
                        same = 0
                        for k in range(num_perm):
                            same += sig[i, k] == sig[j, k]
                        keep = same / num_perm >= threshold
                    if keep:
                        if fill:
                            out_bucket[found] = b
                            out_i[found] = i
                            out_j[found] = j
                        found += 1
        if not fill:
            out_bucket = np.empty(found, np.int64)
            out_i = np.empty(found, np.int64)
            out_j = np.empty(found, np.int64)
    return out_bucket, out_i, out_j


def _edge_batches(num_perm: int, max_bucket_size: int, threshold: float):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            members = batch.column("members")
            flat = members.flatten()
            owner = np.repeat(np.arange(len(batch)), np.diff(members.offsets.to_numpy()))
            ids, sigs = flat.field("doc_id"), flat.field("signature")
            # members by (bucket, doc_id), each doc_id once per bucket (a re-crawl that
            # kept its doc_id sits in the bucket once per date)
            order = pc.sort_indices(pa.table({"b": owner, "d": ids}),
                                    sort_keys=[("b", "ascending"), ("d", "ascending")])
            order = order.to_numpy()
            owner, ids, sigs = owner[order], ids.take(order), sigs.take(order)
            keep = np.ones(len(owner), np.bool_)
            if len(owner) > 1:
                same = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(
                    zero_copy_only=False)
                keep[1:] = (owner[1:] != owner[:-1]) | ~same
            owner, ids, sigs = owner[keep], ids.filter(pa.array(keep)), sigs.filter(
                pa.array(keep))
            bounds = np.searchsorted(owner, np.arange(len(batch) + 1))
            matrix = from_binary(pc.fill_null(sigs, b"\0" * (4 * num_perm)), num_perm)
            exact = (batch.column("band").to_numpy() == EXACT_BAND)
            bucket, i, j = bucket_edges(bounds, exact, matrix, max_bucket_size, threshold)
            yield pa.RecordBatch.from_arrays(
                [batch.column("band").take(bucket), batch.column("band_hash").take(bucket),
                 ids.take(i), ids.take(j)], names=list(EDGE_COLUMNS))

    return compute


def explode_verified_edges(bands: DataFrame, signatures: DataFrame, threshold: float,
                           num_perm: int, max_bucket_size: int) -> DataFrame:
    """The verified edges (band, band_hash, src < dst) of every bucket with two or more
    members: exact-band pairs as they are, LSH pairs whose estimated Jaccard similarity
    is >= threshold."""
    require_columns(bands, ["doc_id", "crawl_date", "band", "band_hash"],
                    "explode_verified_edges")
    require_columns(signatures, ["doc_id", "crawl_date", "signature"], "explode_verified_edges")
    member = F.struct("doc_id", "signature")
    return (
        filter_shared_buckets(bands)
        .where(F.col("doc_id").isNotNull())
        .join(signatures.select("doc_id", "crawl_date", "signature"),
              on=["doc_id", "crawl_date"], how="left")
        .groupBy("band", "band_hash")
        .agg(F.collect_list(member).alias("members"))
        .mapInArrow(_edge_batches(num_perm, max_bucket_size, threshold),
                    "band int, band_hash bigint, src string, dst string")
    )
