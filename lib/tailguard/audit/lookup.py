"""Read-only look-up of outside documents in the stored provenance index.

Stages: stored parameters -> boilerplate keys -> fingerprint -> band -> candidates ->
verify -> best match. Nothing under output.root is written: the audit reads
`dedup_params`, `boilerplate`, `lsh_bands`, `signatures`, `provenance` and `docs`.

- Parameters: the fingerprint is the stored one, never the config's. `dedup_params`
  (dedup/state.py) records every value the index was built with; a missing record or
  key is an InputError naming it, and a MinHash definition other than this tailguard's
  (`fingerprint`) is one too, since its signatures could never meet the stored ones.
- Boilerplate, as the crawl's provenance treats it, as far as an outside document
  allows: (1) the crawl's own boilerplate keys (`boilerplate` table) apply to a
  document whose URL falls on a crawl domain (its domain-scoped keys) and to every
  document (the short lines shared across the crawl's domains, `domain+global`); (2)
  the dataset is its own crawl for the same rules: a line on `min_repeats` distinct
  pages of one of its domains (or of all its URL-less records, one "site"), a short
  line on `min_repeats` of its domains, and a small site's template lines
  (`dedup/boilerplate.py`, same functions, same stored parameters). What cannot be
  applied: counts that would need the dataset's and the crawl's pages together (a line
  on 3 crawl pages and 2 dataset pages of one domain is boilerplate of neither).
- Candidates: the documents' band rows meet the stored band rows of the buckets they
  touch (the stored rows semi-joined to those buckets first, and a bucket's stored
  members cut to the `max_bucket_size` earliest, by (crawl_date, doc_id), so a hot
  bucket cannot blow up the join; provenance's star edges link the same members to
  the bucket minimum). The exact content-hash band (-1) finds exact copies.
- Verify: the fraction of equal MinHash values >= the stored threshold, or an exact
  content-hash match (Jaccard 1).
- Best match: a page whose cluster was first seen before the cutoff wins (`attested`),
  then an exact copy, then the highest Jaccard, then the earliest first_seen, crawl_date
  and doc_id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tailguard.dedup import state
from tailguard.dedup.boilerplate import (
    BY_DOMAIN,
    COMBINED,
    boilerplate_keys,
    explode_line_keys,
    small_sites,
    sorted_keys,
)
from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.minhash import FINGERPRINT_VERSION, MinHasher, from_binary
from tailguard.dedup.signatures import EXACT_BAND, explode_bands, signatures_of
from tailguard.errors import InputError
from tailguard.io.tables import read_table, table_exists
from tailguard.schema import require_columns

BUCKET = ["band", "band_hash"]
# Outside documents have no crawl date; this one stands in where a kernel needs a date.
NO_DATE = dt.date(1970, 1, 1)
MATCH_COLUMNS = ("rid", "match_doc_id", "match_crawl_date", "match_url", "match_first_seen",
                 "match_jaccard", "match_kind")
_REQUIRED = ("dedup.shingle_size", "dedup.num_perm", "dedup.seed", "dedup.scheme",
             "dedup.threshold", "lsh.bands_x_rows", "dedup.max_bucket_size",
             "dedup.boilerplate_scope", "dedup.boilerplate_min_repeats",
             "dedup.boilerplate_global_max_words", "dedup.boilerplate_small_site_max_words",
             "fingerprint")


@dataclass(frozen=True)
class StoredDedup:
    """The dedup parameters the stored index was built with (`dedup_params`)."""

    hasher: MinHasher
    spec: LshSpec
    threshold: float
    max_bucket_size: int
    scope: str
    min_repeats: int
    global_max_words: int
    site_max_words: int

    @classmethod
    def from_params(cls, params: dict[str, str] | None, where: str) -> StoredDedup:
        run = "run `tailguard provenance` (without --dates) to build it"
        if params is None:
            raise InputError(f"no provenance index under {where} (table dedup_params): {run}")
        missing = [k for k in _REQUIRED if k not in params]
        if missing:
            raise InputError(f"the provenance index under {where} does not record "
                             f"{missing[0]} (dedup_params): {run}")
        if params["fingerprint"] != FINGERPRINT_VERSION:
            raise InputError(f"the provenance index under {where} was built with fingerprint "
                             f"{params['fingerprint']!r}, this tailguard computes "
                             f"{FINGERPRINT_VERSION!r}: {run}")
        bands, rows = (int(v) for v in params["lsh.bands_x_rows"].split("x"))
        num_perm = int(params["dedup.num_perm"])

        def count(key: str) -> int:
            return 0 if params[key] == "-" else int(params[key])

        return cls(MinHasher(num_perm=num_perm, seed=int(params["dedup.seed"]),
                             shingle_size=int(params["dedup.shingle_size"]),
                             scheme=params["dedup.scheme"]),
                   LshSpec(num_perm, bands, rows), float(params["dedup.threshold"]),
                   int(params["dedup.max_bucket_size"]), params["dedup.boilerplate_scope"],
                   count("dedup.boilerplate_min_repeats"),
                   count("dedup.boilerplate_global_max_words")
                   if params["dedup.boilerplate_scope"] == COMBINED else 0,
                   count("dedup.boilerplate_small_site_max_words")
                   if params["dedup.boilerplate_scope"] in BY_DOMAIN else 0)


def stored_dedup(spark: SparkSession, cfg) -> StoredDedup:
    return StoredDedup.from_params(state.stored_params(spark, cfg), cfg.get("output.root"))


def boilerplate_for(docs: DataFrame, spark: SparkSession, cfg, dedup: StoredDedup
                    ) -> np.ndarray | None:
    """Sorted uint64 line keys to skip in the documents' shingles: the crawl's stored
    ones and the dataset's own by the same rules (module docstring); None for scope
    `none`."""
    if dedup.scope == "none":
        return None
    crawl = (sorted_keys(read_table(spark, cfg, "boilerplate"))
             if table_exists(spark, cfg, "boilerplate") else np.zeros(0, np.uint64))
    pages = docs.select(F.lit(NO_DATE).alias("crawl_date"), "domain", "url", "text",
                        "content_hash")
    index = explode_line_keys(pages, dedup.scope, dedup.global_max_words, dedup.site_max_words)
    sites = (small_sites(pages, dedup.scope, dedup.min_repeats)
             if dedup.site_max_words > 0 else None)
    own = sorted_keys(boilerplate_keys(index, dedup.min_repeats, sites))
    return np.union1d(crawl, own)


def fingerprint(docs: DataFrame, dedup: StoredDedup, keys: np.ndarray | None) -> DataFrame:
    """(rid, signature) of every document with a word, as provenance computes them."""
    require_columns(docs, ["rid", "text", "domain"], "audit fingerprint")
    frame = docs.select(F.col("rid").cast("string").alias("doc_id"),
                        F.lit(NO_DATE).alias("crawl_date"), "text", "domain")
    sigs = signatures_of(frame, dedup.hasher, dedup.scope, keys, dedup.global_max_words)
    return sigs.select(F.col("doc_id").cast("long").alias("rid"), "signature")


def band(docs: DataFrame, sigs: DataFrame, dedup: StoredDedup) -> DataFrame:
    """(rid, band, band_hash): the LSH bands of the signatures and the exact band."""
    lsh = (explode_bands(sigs.select(F.col("rid").cast("string").alias("doc_id"),
                                     F.lit(NO_DATE).alias("crawl_date"),
                                     "signature"), dedup.spec)
           .select(F.col("doc_id").cast("long").alias("rid"), *BUCKET))
    exact = (docs.where(F.coalesce(F.col("n_chars"), F.lit(0)) > 0)
             .select("rid", F.lit(EXACT_BAND).alias("band"),
                     F.col("content_hash").alias("band_hash")))
    return lsh.unionByName(exact)


def candidates(bands: DataFrame, stored: DataFrame, max_bucket_size: int) -> DataFrame:
    """(rid, doc_id, crawl_date, exact) pairs of documents and stored pages sharing a
    bucket, each pair once; a bucket's stored members cut to its `max_bucket_size`
    earliest."""
    touched = bands.select(*BUCKET).distinct()
    earliest = Window.partitionBy(*BUCKET).orderBy("crawl_date", "doc_id")
    members = (stored.select("doc_id", "crawl_date", *BUCKET)
               .join(touched, on=BUCKET, how="left_semi")
               .withColumn("rank", F.row_number().over(earliest))
               .where(F.col("rank") <= max_bucket_size).drop("rank"))
    return (bands.join(members, on=BUCKET, how="inner")
            .groupBy("rid", "doc_id", "crawl_date")
            .agg(F.max((F.col("band") == EXACT_BAND).cast("int")).alias("exact")))


def _jaccard_batches(num_perm: int):
    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        empty = b"\0" * (4 * num_perm)
        for batch in batches:
            a = batch.column("signature").fill_null(empty)
            b = batch.column("stored").fill_null(empty)
            same = (from_binary(a, num_perm) == from_binary(b, num_perm)).mean(axis=1)
            have = (batch.column("signature").is_valid().to_numpy(zero_copy_only=False)
                    & batch.column("stored").is_valid().to_numpy(zero_copy_only=False))
            jaccard = np.where(have, same, 0.0)
            exact = batch.column("exact").to_numpy(zero_copy_only=False) > 0
            yield pa.RecordBatch.from_arrays(
                [batch.column("rid"), batch.column("doc_id"), batch.column("crawl_date"),
                 pa.array(np.where(exact, 1.0, jaccard)), pa.array(exact)],
                names=["rid", "doc_id", "crawl_date", "jaccard", "exact"])

    return compute


def verify(pairs: DataFrame, sigs: DataFrame, stored_sigs: DataFrame, dedup: StoredDedup
           ) -> DataFrame:
    """(rid, doc_id, crawl_date, jaccard, exact) of the pairs that are copies: an exact
    content hash, or an estimated Jaccard >= the stored threshold."""
    stored = (stored_sigs.select("doc_id", "crawl_date", F.col("signature").alias("stored"))
              .join(pairs.select("doc_id", "crawl_date").distinct(),
                    on=["doc_id", "crawl_date"], how="left_semi"))
    joined = (pairs.join(sigs, on="rid", how="left")
              .join(stored, on=["doc_id", "crawl_date"], how="left")
              .select("rid", "doc_id", "crawl_date", "signature", "stored", "exact"))
    verified = joined.mapInArrow(
        _jaccard_batches(dedup.spec.num_perm),
        "rid long, doc_id string, crawl_date date, jaccard double, exact boolean")
    return verified.where(F.col("exact") | (F.col("jaccard") >= F.lit(dedup.threshold)))


def best_matches(copies: DataFrame, provenance: DataFrame, docs: DataFrame,
                 cutoff: dt.date) -> DataFrame:
    """MATCH_COLUMNS, one row per document with a copy: the best match (module
    docstring) with its URL and its cluster's first_seen."""
    info = (provenance.select("doc_id", "crawl_date", "first_seen")
            .join(docs.select("doc_id", "crawl_date", "url"), on=["doc_id", "crawl_date"],
                  how="left"))
    rank = F.struct((F.col("first_seen") >= F.lit(cutoff)).alias("late"),
                    (~F.col("exact")).alias("near"), (-F.col("jaccard")).alias("distance"),
                    "first_seen", "crawl_date", "doc_id", "url", "jaccard", "exact")
    best = (copies.join(info, on=["doc_id", "crawl_date"], how="inner")
            .groupBy("rid").agg(F.min(rank).alias("m")))
    return best.select(
        "rid", F.col("m.doc_id").alias("match_doc_id"),
        F.col("m.crawl_date").alias("match_crawl_date"), F.col("m.url").alias("match_url"),
        F.col("m.first_seen").alias("match_first_seen"),
        F.col("m.jaccard").alias("match_jaccard"),
        F.when(F.col("m.exact"), F.lit("exact")).otherwise(F.lit("near")).alias("match_kind"))


def status_column(cutoff: dt.date) -> F.Column:
    """attested (a copy of a page first seen before the cutoff), seen (a copy of a
    later page), new; `quarantined` for a record that is not a document."""
    return (F.when(F.col("reason").isNotNull(), F.lit("quarantined"))
            .when(F.col("match_first_seen") < F.lit(cutoff), F.lit("attested"))
            .when(F.col("match_first_seen").isNotNull(), F.lit("seen"))
            .otherwise(F.lit("new")))
