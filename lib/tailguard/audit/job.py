"""`tailguard audit --input PATH [--name NAME] [--shards NAME]`: an outside dataset looked
up, read-only, against the crawl before anyone trains on it.

Stages (each timed, like provenance's): plan -> read -> look-up (boilerplate ->
fingerprint -> band -> candidates -> verify -> best match) -> status -> share (score the
documents that are not attested with the stored classifier; fit them against the
crawl's pre-AI reference; placebo) -> duplicates -> shards -> write.

Read-only: the audit reads docs, provenance and its state (dedup_params, boilerplate,
lsh_bands, signatures), state/pu_model, pu_scores, tail_concepts and the shard set, and
writes only under `audit/NAME/` (`documents`, `quarantine`, `summary.json`); the stored
index never learns about the dataset (tests/spark/test_audit.py hashes every file).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import PurePosixPath

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard import paths
from tailguard.audit import extras, lookup, read, summary
from tailguard.audit import share as audit_share
from tailguard.errors import InputError
from tailguard.io.tables import table_exists, write_table
from tailguard.progress import timed_stage
from tailguard.report.job import write_text_atomically

log = logging.getLogger(__name__)

DOC_COLUMNS = ("source_file", "record_index", "doc_id", "url", "domain", "label", "n_words",
               "status", "match_doc_id", "match_url", "match_first_seen", "match_jaccard",
               "match_kind", "p_synthetic", "pu_score", "reason")
STATUSES = ("attested", "seen", "new", "quarantined")


def _timed(ctx, timings: dict[str, float], stage: str):
    return timed_stage(ctx.spark, "audit", timings, stage)


def audit_name(options) -> str:
    """--name, else the input's base name without its data suffixes; a plain name (it is
    a directory under audit/)."""
    name = getattr(options, "name", None) or PurePosixPath(
        str(options.input).rstrip("/")).name.split(".")[0]
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise InputError(f"audit --name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def with_status(docs: DataFrame, matches: DataFrame, cutoff: dt.date) -> DataFrame:
    """The kept documents with their best match and status (attested / seen / new)."""
    return (docs.join(matches, on="rid", how="left")
            .withColumn("reason", F.lit(None).cast("string"))
            .withColumn("status", lookup.status_column(cutoff)))


def scored_targets(ctx, targets: DataFrame) -> tuple[DataFrame | None, str | None]:
    """(rid, p_synthetic, pu_score) of the documents that are not attested, or (None,
    why not) when the crawl has no stored classifier or share yet."""
    from tailguard.audit.scoring import score_documents

    spark, cfg = ctx.spark, ctx.cfg
    if not table_exists(spark, cfg, "pu_scores"):
        return None, "no pu_scores: run `tailguard share` on the crawl first"
    return score_documents(spark, cfg, targets)


def synthetic_share(ctx, documents: DataFrame, scores: DataFrame | None) -> dict:
    """The share figures of the documents that are not attested (audit/share.py)."""
    cfg = ctx.cfg
    targets = (documents.where(F.col("status").isin("seen", "new"))
               .select("rid", "doc_id", "domain", "label")
               .join(scores, on="rid", how="inner"))
    frame = audit_share.slim_targets(targets, cfg.share.seed)
    domains = sorted({d for d in frame.domain.dropna()})
    reference = audit_share.crawl_reference(ctx.spark, cfg, domains)
    return audit_share.audit_shares(frame, reference, cfg.audit.max_labels)


def run(ctx) -> dict:
    """Audit `--input`; returns the summary (also written as summary.json and printed)."""
    spark, cfg, options = ctx.spark, ctx.cfg, ctx.options
    name = audit_name(options)
    timings: dict[str, float] = {}
    out = f"audit/{name}"
    with _timed(ctx, timings, "plan"):
        dedup = lookup.stored_dedup(spark, cfg)
        plan = read.plan_input(options.input)
    with _timed(ctx, timings, "read"):
        records = read.read_records(spark, cfg, plan).persist(StorageLevel.MEMORY_AND_DISK)
        counts = read.check_conserved(records)
    cached = [records]
    try:
        docs = records.where(F.col("reason").isNull() & F.col("n_read").isNull()).select(
            "rid", "source_file", "record_index", "doc_id", "url", "domain", "label", "text",
            "n_chars", "n_words", "content_hash")
        with _timed(ctx, timings, "look-up"):
            keys = lookup.boilerplate_for(docs, spark, cfg, dedup)
            sigs = lookup.fingerprint(docs, dedup, keys).persist()
            bands = lookup.band(docs, sigs, dedup).persist()
            cached += [sigs, bands]
            matches = lookup.best_matches(
                lookup.verify(lookup.candidates(bands, read_table_(ctx, "lsh_bands"),
                                                dedup.max_bucket_size),
                              sigs, read_table_(ctx, "signatures"), dedup),
                read_table_(ctx, "provenance"), read_table_(ctx, "docs"), cfg.eras.cutoff)
            documents = with_status(docs, matches, cfg.eras.cutoff).persist()
            cached.append(documents)
            status_counts = {r.status: int(r["count"]) for r in
                             documents.groupBy("status").count().collect()}
        with _timed(ctx, timings, "share"):
            targets = documents.where(F.col("status").isin("seen", "new")).select(
                "rid", "doc_id", "text")
            scores, why_not = scored_targets(ctx, targets)
            if scores is not None:
                scores = scores.persist()
                cached.append(scores)
                shares = synthetic_share(ctx, documents, scores)
            else:
                shares = {"overall": None, "by_label": {}, "placebo": None}
                log.warning("audit: no synthetic share: %s", why_not)
        with _timed(ctx, timings, "duplicates"):
            duplicates = extras.internal_duplicates(docs, bands, sigs, dedup, cfg)
        shards = None
        if getattr(options, "shards", None):
            with _timed(ctx, timings, "shards"):
                shards = extras.shards_figures(spark, cfg, options.shards, docs, documents)
        with _timed(ctx, timings, "write"):
            write_documents(ctx, out, documents, scores, records)
            body = summary.summary(
                name=name, input_path=paths.without_credentials(str(options.input)),
                files=len(plan.tasks), skipped_files=plan.skipped, counts=counts,
                statuses=status_counts, shares=shares, why_not=why_not,
                duplicates=duplicates, shards=shards, cutoff=cfg.eras.cutoff,
                config=cfg.fingerprint(), timings=timings)
            write_text_atomically(paths.join(cfg.table_path(out), "summary.json"),
                                  json.dumps(body, indent=2, sort_keys=False) + "\n")
    finally:
        for frame in cached:
            frame.unpersist()
    log.info("audit: stage seconds %s",
             ", ".join(f"{stage} {secs:.1f}" for stage, secs in timings.items()))
    print(summary.render(body), flush=True)
    return body


def read_table_(ctx, name: str) -> DataFrame:
    """A table the audit reads: an InputError naming it when it is missing."""
    from tailguard.io.tables import read_table

    if not table_exists(ctx.spark, ctx.cfg, name):
        raise InputError(f"table '{name}' not found under {ctx.cfg.get('output.root')}: run "
                         "`tailguard ingest` and `tailguard provenance` on the crawl first")
    return read_table(ctx.spark, ctx.cfg, name)


def write_documents(ctx, out: str, documents: DataFrame, scores: DataFrame | None,
                    records: DataFrame) -> None:
    """audit/NAME/documents (one row per input record: the kept documents and the
    quarantined records) and audit/NAME/quarantine (the quarantined ones' raw prefixes)."""
    cfg = ctx.cfg
    if scores is None:
        scored = documents.withColumn("p_synthetic", F.lit(None).cast("double")).withColumn(
            "pu_score", F.lit(None).cast("double"))
    else:
        scored = documents.join(scores, on="rid", how="left")
    bad = records.where(F.col("reason").isNotNull())
    quarantined = bad.select(
        "source_file", "record_index", F.lit(None).cast("string").alias("doc_id"),
        F.lit(None).cast("string").alias("url"), F.lit(None).cast("string").alias("domain"),
        F.lit(None).cast("string").alias("label"), F.lit(None).cast("int").alias("n_words"),
        F.lit("quarantined").alias("status"),
        *[F.lit(None).cast(t).alias(c) for c, t in (
            ("match_doc_id", "string"), ("match_url", "string"), ("match_first_seen", "date"),
            ("match_jaccard", "double"), ("match_kind", "string"), ("p_synthetic", "double"),
            ("pu_score", "double"))], "reason")
    rows = scored.select(*DOC_COLUMNS).unionByName(quarantined.select(*DOC_COLUMNS))
    write_table(rows, cfg, f"{out}/documents", sort_by=["source_file", "record_index"])
    write_table(bad.select("source_file", "record_index", "reason", "raw_prefix").coalesce(1),
                cfg, f"{out}/quarantine", sort_by=["source_file", "record_index"])
