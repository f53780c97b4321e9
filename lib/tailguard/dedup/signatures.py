"""Spark side of MinHash: the `signatures` table computed by the batch kernel in
`mapInArrow`, and the band table derived from it with Spark built-ins.

Tables (all under output.root, partitioned by crawl_date):
- `signatures`: doc_id string, crawl_date date, signature binary (num_perm little-endian
  uint32). Documents without a single word have no row (they can only be singletons).
  The diversity job reuses these signatures.
- `lsh_bands`: doc_id, crawl_date, band int, band_hash long. Band b >= 0 is xxhash64 of the
  bytes of signature rows [b*rows, (b+1)*rows); band -1 (`EXACT_BAND`) carries the
  document's content_hash, so exact duplicates meet in one bucket even when they have no
  words at all, and through the same bucket machinery (star edges when oversized).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.minhash import MinHasher, to_binary
from tailguard.schema import require_columns

EXACT_BAND = -1
SIGNATURE_DDL = "doc_id string, crawl_date date, signature binary"
BAND_COLUMNS = ("doc_id", "crawl_date", "band", "band_hash")


def hasher_from_config(dedup) -> MinHasher:
    return MinHasher(num_perm=dedup.num_perm, seed=dedup.seed,
                     shingle_size=dedup.shingle_size, scheme=dedup.scheme)


def _signature_batches(hasher: MinHasher):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            has_sig, sig = hasher.signatures_of_texts(batch.column("text"))
            mask = pa.array(has_sig)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id").filter(mask), batch.column("crawl_date").filter(mask),
                 to_binary(sig)],
                names=["doc_id", "crawl_date", "signature"])

    return compute


def signatures_of(docs: DataFrame, hasher: MinHasher) -> DataFrame:
    """doc_id, crawl_date, signature for every document with at least one word."""
    require_columns(docs, ["doc_id", "crawl_date", "text"], "signatures_of")
    return (
        docs.select("doc_id", "crawl_date", "text")
        .mapInArrow(_signature_batches(hasher), SIGNATURE_DDL)
    )


def _band_hash(signature: Column, start: int, length: int) -> Column:
    return F.xxhash64(F.substring(signature, start, length))


def explode_bands(signatures: DataFrame, spec: LshSpec) -> DataFrame:
    """One row per (document, band) with the band's hash: the LSH bucket key."""
    require_columns(signatures, ["doc_id", "crawl_date", "signature"], "explode_bands")
    bands = F.array(*[
        F.struct(F.lit(i).alias("band"), _band_hash(F.col("signature"), start, length)
                 .alias("band_hash"))
        for i, (start, length) in enumerate(spec.byte_ranges())
    ])
    return (
        signatures.select("doc_id", "crawl_date", F.inline(bands))
        .select(*BAND_COLUMNS)
    )


def exact_bands(docs: DataFrame) -> DataFrame:
    """The content-hash pseudo-band of every non-empty document."""
    require_columns(docs, ["doc_id", "crawl_date", "content_hash", "n_chars"], "exact_bands")
    return (
        docs.where(F.coalesce(F.col("n_chars"), F.lit(0)) > 0)
        .select("doc_id", "crawl_date", F.lit(EXACT_BAND).alias("band"),
                F.col("content_hash").alias("band_hash"))
    )
