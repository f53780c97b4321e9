"""Spark side of MinHash: the `signatures` table computed by the batch kernel in
`mapInArrow`, and the band table derived from it by a numpy band-hash kernel.

Tables (all under output.root, partitioned by crawl_date):
- `signatures`: doc_id string, crawl_date date, signature binary (num_perm little-endian
  uint32) of the document's words outside boilerplate lines (all its words when every
  line is boilerplate). Documents without a single word have no row (they can only be
  singletons).
  The diversity job reuses these signatures.
- `lsh_bands`: doc_id, crawl_date, band int, band_hash long. Band b >= 0 is
  `LshSpec.band_hashes` of signature rows [b*rows, (b+1)*rows), computed by numpy over a
  whole Arrow batch of stored signatures, which also emits the exploded rows (no
  per-band Spark expressions, no explode). Band -1 (`EXACT_BAND`) carries the document's
  content_hash, so exact duplicates meet in one bucket even when they have no words at
  all, and through the same bucket machinery (star edges when oversized).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.dedup.boilerplate import scope_column, skipped_lines
from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.minhash import MinHasher, from_binary, to_binary
from tailguard.schema import require_columns
from tailguard.text.lines import LineWords

EXACT_BAND = -1
SIGNATURE_DDL = "doc_id string, crawl_date date, signature binary"
BAND_COLUMNS = ("doc_id", "crawl_date", "band", "band_hash")


def hasher_from_config(dedup) -> MinHasher:
    return MinHasher(num_perm=dedup.num_perm, seed=dedup.seed,
                     shingle_size=dedup.shingle_size, scheme=dedup.scheme)


def _signature_batches(hasher: MinHasher, boilerplate, max_words: int = 0):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        keys = None if boilerplate is None else boilerplate.value
        for batch in batches:
            if keys is None:
                words = LineWords(batch.column("text"))
                has_sig, sig = hasher.signatures_of_words(words)
            else:
                words = LineWords(batch.column("text"),
                                  batch.column("scope").to_numpy(zero_copy_only=False))
                has_sig, sig = hasher.signatures_of_words(
                    words, skipped_lines(words, keys, max_words))
            mask = pa.array(has_sig)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id").filter(mask), batch.column("crawl_date").filter(mask),
                 to_binary(sig)],
                names=["doc_id", "crawl_date", "signature"])

    return compute


def signatures_of(docs: DataFrame, hasher: MinHasher, scope: str = "none",
                  boilerplate: np.ndarray | None = None, max_words: int = 0) -> DataFrame:
    """doc_id, crawl_date, signature for every document with at least one word.

    With a boilerplate `scope` ("domain" or "global") and the sorted uint64 `boilerplate`
    line keys of that scope, the words of those lines are left out of the shingles
    (`dedup/boilerplate.py`; `max_words`: the short-line bound of `domain+global`); the
    keys are broadcast once to the executors."""
    require_columns(docs, ["doc_id", "crawl_date", "text"], "signatures_of")
    if scope == "none" or boilerplate is None:
        return (docs.select("doc_id", "crawl_date", "text")
                .mapInArrow(_signature_batches(hasher, None), SIGNATURE_DDL))
    require_columns(docs, ["domain"], "signatures_of")
    shared = docs.sparkSession.sparkContext.broadcast(np.asarray(boilerplate, np.uint64))
    return (
        docs.select("doc_id", "crawl_date", "text", scope_column(scope).alias("scope"))
        .mapInArrow(_signature_batches(hasher, shared, max_words), SIGNATURE_DDL)
    )


def _band_batches(spec: LshSpec):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            hashes = spec.band_hashes(from_binary(batch.column("signature"), spec.num_perm))
            doc = pa.array(np.repeat(np.arange(len(hashes)), spec.bands))
            band = np.tile(np.arange(spec.bands, dtype=np.int32), len(hashes))
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id").take(doc), batch.column("crawl_date").take(doc),
                 pa.array(band), pa.array(hashes.ravel())],
                names=list(BAND_COLUMNS))

    return compute


def explode_bands(signatures: DataFrame, spec: LshSpec) -> DataFrame:
    """One row per (document, band) with the band's hash: the LSH bucket key."""
    require_columns(signatures, ["doc_id", "crawl_date", "signature"], "explode_bands")
    return (
        signatures.select("doc_id", "crawl_date", "signature")
        .mapInArrow(_band_batches(spec),
                    "doc_id string, crawl_date date, band int, band_hash bigint")
    )


def exact_bands(docs: DataFrame) -> DataFrame:
    """The content-hash pseudo-band of every non-empty document."""
    require_columns(docs, ["doc_id", "crawl_date", "content_hash", "n_chars"], "exact_bands")
    return (
        docs.where(F.coalesce(F.col("n_chars"), F.lit(0)) > 0)
        .select("doc_id", "crawl_date", F.lit(EXACT_BAND).alias("band"),
                F.col("content_hash").alias("band_hash"))
    )
