"""`tailguard provenance`: exact and near-duplicate clusters, first-seen dates and eras.

Stages (text-dedup style): boilerplate -> fingerprint -> band -> pair + verify ->
components -> assign.
- boilerplate: the distinct lines of every page of the processed partitions
  (`line_index` table), counted over all stored partitions into the lines that repeat on
  `dedup.boilerplate_min_repeats` pages of a domain or of the crawl, and the short lines
  on every page of a smaller site of more than one URL (`boilerplate` table,
  dedup/boilerplate.py). Skipped when `dedup.boilerplate_scope` is `none`.
- fingerprint: MinHash signatures of the processed partitions, boilerplate lines left
  out of the shingles (`signatures` table).
- band: LSH band hashes (numpy, from the stored signatures) plus the exact content-hash
  band (`lsh_bands` table).
- pair + verify: candidate pairs of every bucket touched by the processed partitions,
  verified by estimated Jaccard, replacing those buckets' rows of `lsh_edges`.
- components: large-star / small-star over all stored edges.
- assign: cluster_id, first_seen, is_canonical, dup_kind and era for every stored
  document, written as the whole `provenance` table (a new partition can merge clusters
  that span old ones, so provenance is always rebuilt from the stored state).

With `--dates` only those partitions are indexed, fingerprinted and banded; they are
matched against the stored bands of everything else. When the new partitions turn a line
into boilerplate (or a re-run turns one back), the stored partitions holding that line
are fingerprinted and banded again in the same run, so a full run and the equivalent
sequence of incremental runs store the same signatures, bands and edges, hence the same
provenance. The state records the dedup parameters it was built with (dedup/state.py);
a `--dates` run whose config disagrees fails before touching it.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.cli import JobContext
from tailguard.dedup import state
from tailguard.dedup.boilerplate import (
    boilerplate_keys,
    explode_line_keys,
    global_max_words,
    site_max_words,
    small_sites,
    sorted_keys,
)
from tailguard.dedup.candidates import EDGE_COLUMNS, explode_verified_edges
from tailguard.dedup.components import connected_components
from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.signatures import (
    BAND_COLUMNS,
    exact_bands,
    explode_bands,
    hasher_from_config,
    signatures_of,
)
from tailguard.io.tables import (
    date_rows,
    read_table,
    table_exists,
    write_partitions,
    write_table,
)
from tailguard.progress import timed_stage
from tailguard.provenance.clusters import with_cluster_columns
from tailguard.provenance.eras import with_era
from tailguard.schema import BOILERPLATE, PROVENANCE
from tailguard.session import checkpoint

log = logging.getLogger(__name__)
BUCKET = ["band", "band_hash"]


def _timed(ctx, timings: dict[str, float], stage: str):
    return timed_stage(ctx.spark, "provenance", timings, stage)


def _docs_per_date(ctx: JobContext, dates: list[dt.date] | None) -> dict:
    """Documents of each processed date (a metadata count of `docs`, kept for the run):
    the state tables of a date are written in as many files as its size needs."""
    counts = ctx.__dict__.setdefault("_provenance_date_rows", {})
    key = None if dates is None else tuple(sorted(set(dates)))
    if key not in counts:
        counts[key] = date_rows(read_table(ctx.spark, ctx.cfg, "docs", dates))
    return counts[key]


def _write(df: DataFrame, ctx: JobContext, name: str, dates: list[dt.date] | None) -> None:
    """Partitioned state: replace the processed dates, each in files sized by its
    documents, or the whole table on a full run."""
    if dates is None:
        write_table(df, ctx.cfg, name, partition_by="crawl_date")
    else:
        write_partitions(df, ctx.cfg, name, rows=_docs_per_date(ctx, dates))


def boilerplate(ctx: JobContext) -> tuple[np.ndarray | None, list[dt.date]]:
    """Index the lines of the processed partitions and count them over every stored one:
    (the sorted boilerplate line keys or None when the scope is `none`, the other stored
    dates to fingerprint again because one of their lines changed status)."""
    spark, cfg, dedup = ctx.spark, ctx.cfg, ctx.cfg.dedup
    if dedup.boilerplate_scope == "none":
        return None, []
    docs = read_table(spark, cfg, "docs", ctx.dates)
    site_words = site_max_words(dedup)
    _write(explode_line_keys(docs, dedup.boilerplate_scope, global_max_words(dedup),
                             site_words), ctx, "line_index", ctx.dates)
    index = read_table(spark, cfg, "line_index")
    sites = None
    if site_words > 0:  # pages and URLs per domain, over every stored date
        sites = small_sites(read_table(spark, cfg, "docs"), dedup.boilerplate_scope,
                            dedup.boilerplate_min_repeats)
    keys = sorted_keys(boilerplate_keys(index, dedup.boilerplate_min_repeats, sites))
    if ctx.dates is None or not table_exists(spark, cfg, "boilerplate"):
        return keys, []
    changed = np.setxor1d(sorted_keys(read_table(spark, cfg, "boilerplate")), keys)
    if len(changed) == 0:
        return keys, []
    flipped = spark.createDataFrame(pa.table({"line_key": changed.view(np.int64)}))
    rows = (index.where(~F.col("crawl_date").isin(sorted(set(ctx.dates))))
            .join(F.broadcast(flipped), on="line_key", how="left_semi")
            .select("crawl_date").distinct().collect())
    extra = sorted(r.crawl_date for r in rows)
    log.info("provenance: %d lines changed boilerplate status; fingerprinting %d more "
             "stored dates again", len(changed), len(extra))
    return keys, extra


def fingerprint(ctx: JobContext, dates: list[dt.date] | None,
                keys: np.ndarray | None) -> None:
    """Compute and store signatures of the processed partitions; then the boilerplate
    keys they were computed with."""
    cfg = ctx.cfg
    docs = read_table(ctx.spark, cfg, "docs", dates)
    sigs = signatures_of(docs, hasher_from_config(cfg.dedup), cfg.dedup.boilerplate_scope,
                         keys, global_max_words(cfg.dedup))
    _write(sigs, ctx, "signatures", dates)
    if keys is not None:
        table = pa.table({"line_key": keys.view(np.int64)})
        write_table(ctx.spark.createDataFrame(table, BOILERPLATE).coalesce(1), cfg,
                    "boilerplate")


def band(ctx: JobContext, spec: LshSpec, dates: list[dt.date] | None) -> DataFrame | None:
    """Store the band rows of the processed partitions; return the buckets they touch
    (before and after the update, so a re-run that changed a partition also refreshes
    the buckets its old documents left), or None on a full run (every bucket).

    Bands are hashed from the stored signatures rather than in the fingerprint pass:
    measured, that re-read costs no more than keeping the kernel's output cached for two
    writes, and it needs no cache (nothing to lose with an executor, nothing to spill).
    """
    spark, cfg = ctx.spark, ctx.cfg
    sigs = read_table(spark, cfg, "signatures", dates)
    docs = read_table(spark, cfg, "docs", dates)
    bands = explode_bands(sigs, spec).unionByName(exact_bands(docs)).select(*BAND_COLUMNS)
    touched = None
    if dates is not None:
        touched = bands.select(*BUCKET)
        if table_exists(spark, cfg, "lsh_bands"):
            old = read_table(spark, cfg, "lsh_bands", dates).select(*BUCKET)
            touched = touched.unionByName(old)
        # Materialised before the band partitions it was read from are overwritten.
        touched = checkpoint(touched.distinct(), eager=True)  # reliable on a cluster
    _write(bands, ctx, "lsh_bands", dates)
    return touched


def pair_and_verify(ctx: JobContext, touched: DataFrame | None) -> None:
    """Rebuild the verified edges of the touched buckets; keep all other buckets' edges."""
    spark, cfg, dedup = ctx.spark, ctx.cfg, ctx.cfg.dedup
    bands = read_table(spark, cfg, "lsh_bands")
    kept = None
    if touched is not None:
        bands = bands.join(touched, on=BUCKET, how="left_semi")
        if table_exists(spark, cfg, "lsh_edges"):
            kept = read_table(spark, cfg, "lsh_edges").join(touched, on=BUCKET, how="left_anti")
    sigs = read_table(spark, cfg, "signatures")
    edges = explode_verified_edges(bands, sigs, dedup.threshold, dedup.num_perm,
                                   dedup.max_bucket_size)
    if kept is not None:
        edges = kept.select(*EDGE_COLUMNS).unionByName(edges)
    write_table(edges.select(*EDGE_COLUMNS), cfg, "lsh_edges", sort_by=BUCKET)


def assign(ctx: JobContext) -> None:
    """Components over all stored edges -> the whole provenance table."""
    spark, cfg = ctx.spark, ctx.cfg
    edges = read_table(spark, cfg, "lsh_edges").select("src", "dst")
    roots = connected_components(edges, cfg.dedup.max_iterations,
                                 cfg.dedup.components_driver_max_edges)
    docs = read_table(spark, cfg, "docs").select("doc_id", "content_hash", "crawl_date",
                                                 "domain")
    provenance = with_era(with_cluster_columns(docs, roots), cfg.eras.cutoff)
    out = provenance.select(*[F.col(f.name).cast(f.dataType) for f in PROVENANCE.fields])
    write_table(out, cfg, "provenance", sort_by=["crawl_date", "doc_id"])


def run(ctx: JobContext) -> dict[str, float]:
    """Run the stages; returns their wall seconds by name (logged, and reported by the
    benchmark)."""
    spark, cfg = ctx.spark, ctx.cfg
    spec = LshSpec.from_config(cfg.dedup)
    log.info("provenance: %s, LSH %d bands x %d rows at threshold %.2f, boilerplate %s",
             "full run" if ctx.dates is None else f"dates {ctx.dates}",
             spec.bands, spec.rows, cfg.dedup.threshold, cfg.dedup.boilerplate_scope)
    if ctx.dates is None:
        state.forget(spark, cfg)
        unrecorded = True
    else:
        unrecorded = state.check_incremental(spark, cfg, spec)
    timings = {}
    with _timed(ctx, timings, "boilerplate"):
        keys, extra = boilerplate(ctx)
    dates = None if ctx.dates is None else sorted(set(ctx.dates) | set(extra))
    with _timed(ctx, timings, "fingerprint"):
        fingerprint(ctx, dates, keys)
    with _timed(ctx, timings, "band"):
        touched = band(ctx, spec, dates)
    with _timed(ctx, timings, "pair+verify"):
        pair_and_verify(ctx, touched)
    with _timed(ctx, timings, "assign"):
        assign(ctx)
    if unrecorded:
        state.record(spark, cfg, spec)
    log.info("provenance: stage seconds %s",
             ", ".join(f"{name} {secs:.1f}" for name, secs in timings.items()))
    log.info("provenance: written to %s", cfg.table_path("provenance"))
    return timings
