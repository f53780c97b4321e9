"""`tailguard shards [--set shards.name=NAME]`: anchored, tail-enriched training shards.

The corpus the next model generation trains on. Stages (each timed and logged):
1. pool: canonical copies (exact and near duplicates removed, earliest kept) joined by
   key with their per-date attributes (`attributes/quality`: tokens, size, Gopher
   scores; `attributes/tail`: tail concepts; a date that lacks them or holds stale ones
   is tagged first), the first failed quality rule, and the post-AI admission (the
   detector's calibrated `p_synthetic`, the page's `human_p` from the share job's
   `pu_scores` and its domain's upper share bound must all look human). No text is
   read here, so re-running with another threshold or anchor re-scores nothing;
2. keys: a tail-enrichment weight per document, seeded Efraimidis-Spirakis keys, and
   the documents an earlier shard set (`shards.accumulate_from`) keeps;
3. choose: the anchor plan (>= `shards.anchor_ratio` of the tokens from `pre_ai` +
   `attested`, the budget shrunk when the pool cannot meet it) and the token-budget
   prefixes of key order, on the small rows only (select.py, choose.py);
4. inspect: `shard_pool/NAME`, every pool document's scores, reason, weight and
   flags (so a data lead can ask why a document is in or out);
5. write: the chosen documents' text read once more, shuffled to their file's writer
   and written to a staging directory (writer.py), with distinct-n sketches of the
   shards and of an unweighted sample of the same pool;
6. commit: `manifest.json` written, the staging directory renamed to `shards/NAME`.

Same inputs and config give byte-identical files and manifest whatever the parallelism:
every choice is a function of (doc_id, crawl_date), the seed and exact integer sums.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from contextlib import contextmanager

import numpy as np
import pyarrow.fs as pafs
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

import tailguard
from tailguard.attributes import job as attributes_job
from tailguard.attributes import store, taggers
from tailguard.attributes.quality import SCORE_COLUMNS
from tailguard.config import Config
from tailguard.diversity.hll import estimate_many, relative_error
from tailguard.errors import InputError
from tailguard.io.tables import path_exists, read_table, table_bytes, table_exists, write_table
from tailguard.shards import choose, manifest, pool, writer

log = logging.getLogger(__name__)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
BROADCAST_ROWS = 2_000_000  # chosen rows broadcast to the text read below this many
_MB = 1 << 20
POOL_TABLE_COLUMNS = ("doc_id", "crawl_date", "domain", "era", "n_tokens", "n_bytes",
                      "p_synthetic", "human_p", "domain_share_hi", *SCORE_COLUMNS, "tail_concepts",
                      "tail_density", "weight", "key_weighted", "key_uniform", "forced",
                      "reason", "selected", "sampled")


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 1)
    log.info("shards: %s done in %.1f s", stage, timings[stage])


def shard_set_name(cfg: Config) -> str:
    name = cfg.shards.name
    if not NAME_PATTERN.match(name) or name.startswith("_"):
        raise InputError(f"shards.name must be letters, digits, '.', '_' or '-' (not "
                         f"starting with '_'), got {name!r}")
    return name


def shards_root(cfg: Config) -> str:
    """The shards directory as executors must see it (absolute, or a URI)."""
    root = cfg.table_path("shards")
    return root if "://" in root else os.path.abspath(root)


def read_tail(spark, cfg: Config) -> np.ndarray:
    """The diversity job's tail band (sorted uint64), checked against `tail.*`."""
    band = attributes_job.read_band(spark, cfg)
    if band is None:
        raise InputError("table 'tail_concepts' not found: run `tailguard diversity` "
                         "(scope eras) before the shards job")
    return band


def share_bounds(spark, cfg: Config) -> tuple[DataFrame, float | None]:
    """(domain, share_hi) of the primary estimator over post_ai documents, and the
    crawl-wide (`__all__`) bound."""
    if not table_exists(spark, cfg, "metrics/synthetic_share"):
        raise InputError("table 'metrics/synthetic_share' not found: run `tailguard share` "
                         "before the shards job")
    rows = (read_table(spark, cfg, "metrics/synthetic_share")
            .where((F.col("era") == "post_ai") & F.col("is_primary"))
            .select("domain", "share_hi"))
    overall = [r["share_hi"] for r in rows.where(F.col("domain") == "__all__").collect()]
    return rows, (float(overall[0]) if overall and overall[0] is not None else None)


def read_page_scores(spark, cfg: Config) -> DataFrame | None:
    """The share job's `pu_scores` (doc_id, crawl_date, human_p); None when the human_p
    rule is off (`shards.min_human_p: 0`)."""
    if cfg.shards.min_human_p <= 0:
        return None
    if not table_exists(spark, cfg, "pu_scores"):
        raise InputError("table 'pu_scores' not found: run `tailguard share` before the "
                         "shards job (or set shards.min_human_p: 0)")
    return read_table(spark, cfg, "pu_scores")


def previous_set(spark, cfg: Config) -> DataFrame | None:
    """(doc_id, crawl_date) of the shard set named by `shards.accumulate_from`."""
    name = cfg.shards.accumulate_from
    if not name:
        return None
    path = f"{shards_root(cfg)}/{name}"
    if not path_exists(spark, path):
        raise InputError(f"shards.accumulate_from: shard set '{name}' not found at {path}")
    return spark.read.parquet(f"{path}/part-*.parquet").select(*pool.KEYS)


def pool_attributes(spark, cfg: Config, tail: np.ndarray) -> tuple[DataFrame, DataFrame]:
    """(quality, tail) attributes of every stored date, made current first: a date
    without them, or whose stamp or docs files changed, is tagged now (text read for
    those dates only); every other date is read as stored."""
    inputs = attributes_job.docs_inputs(spark, cfg)
    made = attributes_job.ensure_quality(spark, cfg, inputs)
    made_tail = attributes_job.ensure_tail(spark, cfg, inputs, tail)
    if made or made_tail:
        log.info("shards: tagged %d dates (quality) and %d (tail) before the pool",
                 len(made), len(made_tail))
    return (store.read(spark, cfg, taggers.quality_maker(), inputs),
            store.read(spark, cfg, taggers.tail_maker(tail, cfg.tail.max_n), inputs))


def scored_pool(spark, cfg: Config, tail: np.ndarray) -> DataFrame:
    """Stage 1: every canonical document with its attributes and reason (persisted)."""
    s = cfg.shards
    scores = read_table(spark, cfg, "scores") if table_exists(spark, cfg, "scores") else None
    if scores is None:
        log.warning("shards: no scores table: no post_ai document can be admitted")
    small = table_bytes(spark, cfg, "provenance") <= s.broadcast_mb * _MB
    quality, tail_attrs = pool_attributes(spark, cfg, tail)
    bounds, overall = share_bounds(spark, cfg)
    return (pool.canonical_pool(read_table(spark, cfg, "provenance"), quality, tail_attrs,
                                scores, read_page_scores(spark, cfg), small)
            .transform(lambda df: pool.with_quality_reason(df, s.quality))
            .transform(lambda df: pool.with_admission(df, bounds, overall, s.max_p_synthetic,
                                                      s.max_domain_share, s.min_human_p))
            .persist(StorageLevel.MEMORY_AND_DISK))


def keyed_pool(scored: DataFrame, cfg: Config, previous: DataFrame | None) -> DataFrame:
    """Stage 2: weights from the admitted documents' mean tail density, keys, forced."""
    admitted = scored.where(F.col("reason").isNull())
    sums = admitted.agg(F.sum("tail_concepts").alias("c"), F.sum("n_tokens").alias("t")).first()
    mean_density = (sums["c"] or 0) / sums["t"] if sums["t"] else 0.0
    return (scored.transform(lambda df: pool.with_weight(df, mean_density,
                                                         cfg.shards.max_weight))
            .transform(lambda df: pool.with_sampling_keys(df, cfg.shards.seed))
            .transform(lambda df: pool.with_accumulated(df, previous)))


def chosen_docs(spark, cfg: Config, flagged: DataFrame, n_files: int, n_rows: int) -> DataFrame:
    """The text rows of both samples, with their file layout."""
    wanted = (flagged.where(F.col("selected") | F.col("sampled"))
              .select(*pool.KEYS, "domain", "era", "p_synthetic", "weight", "n_tokens",
                      "selected", "sampled")
              .transform(lambda df: writer.with_file_layout(df, n_files, cfg.shards.seed)))
    docs = read_table(spark, cfg, "docs").select(*pool.KEYS, "url", "text")
    lookup = F.broadcast(wanted) if n_rows <= BROADCAST_ROWS else wanted
    return docs.join(lookup, on=list(pool.KEYS), how="inner")


def _sum_if(condition, value, name: str):
    return F.sum(F.when(condition, value).otherwise(0)).alias(name)


def _aggregates(flagged: DataFrame) -> list[dict]:
    """Token and document totals of the pool and both samples, by era and domain."""
    tokens, one = F.col("n_tokens"), F.lit(1)
    admitted, selected, sampled = F.col("reason").isNull(), F.col("selected"), F.col("sampled")
    rows = flagged.groupBy("era", "domain").agg(
        F.count(one).alias("pool_docs"), F.sum(tokens).alias("pool_tokens"),
        _sum_if(admitted, one, "admitted_docs"), _sum_if(admitted, tokens, "admitted_tokens"),
        _sum_if(selected, one, "docs"), _sum_if(selected, tokens, "tokens"),
        _sum_if(sampled, one, "u_docs"), _sum_if(sampled, tokens, "u_tokens"),
        _sum_if(selected, F.col("n_bytes"), "bytes"),
        _sum_if(selected & F.col("forced"), one, "forced_docs"),
        _sum_if(F.col("forced"), one, "forced_pool")).collect()
    return [r.asDict() for r in rows]


def _coverage(flagged: DataFrame) -> tuple[int, int]:
    """Distinct tail concepts in the shards and in the unweighted sample (exact)."""
    row = (flagged.where(F.col("selected") | F.col("sampled"))
           .select("selected", "sampled", F.explode("tail_ids").alias("id"))
           .groupBy("id").agg(F.max(F.col("selected").cast("int")).alias("s"),
                              F.max(F.col("sampled").cast("int")).alias("u"))
           .agg(F.sum("s").alias("s"), F.sum("u").alias("u")).first())
    return int(row["s"] or 0), int(row["u"] or 0)


def _by(rows: list[dict], key: str, value: str) -> dict:
    out: dict = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + int(r[value])
    return {k: out[k] for k in sorted(out) if out[k]}


def build_manifest(cfg: Config, name: str, dates: list[str], plan, choices, rows: list[dict],
                   files: list[dict], covered: tuple[int, int], distinct: np.ndarray,
                   filters: dict, tail_size: int, jsonl_files: list[dict]) -> dict:
    s = cfg.shards
    total_tokens = sum(int(r["tokens"]) for r in rows)
    anchor_tokens = sum(int(r["tokens"]) for r in rows if r["era"] in pool.ANCHOR_ERAS)
    u_tokens = sum(int(r["u_tokens"]) for r in rows)
    shards = manifest.sample_summary(total_tokens, sum(int(r["docs"]) for r in rows),
                                     covered[0], tail_size, distinct[0].tolist())
    unweighted = manifest.sample_summary(u_tokens, sum(int(r["u_docs"]) for r in rows),
                                         covered[1], tail_size, distinct[1].tolist())
    forced_pool = sum(int(r["forced_pool"]) for r in rows)
    forced_kept = sum(int(r["forced_docs"]) for r in rows)
    return {
        "name": name,
        "tailguard_version": tailguard.__version__,
        "config_hash": manifest.config_hash(cfg),
        "input": {"crawl_dates": dates, "first": dates[0] if dates else None,
                  "last": dates[-1] if dates else None},
        "format": {"parquet": "zstd", "compression_level": s.compression_level,
                   "target_mb": s.target_mb, "row_group_mb": s.row_group_mb,
                   "jsonl_zst": bool(s.jsonl), "columns": list(writer.SHARD_COLUMNS)},
        "files": files,
        **({"jsonl_files": jsonl_files} if s.jsonl else {}),
        "rows": sum(f["rows"] for f in files),
        "tokens": total_tokens,
        "bytes": sum(f["bytes"] for f in files),
        "budget": {"requested": plan.requested, "applied": plan.budget,
                   "shrunk": plan.shrunk, "message": plan.message},
        "anchor": {"configured_ratio": s.anchor_ratio, "applied_ratio": plan.ratio,
                   "tokens": anchor_tokens,
                   "measured_share": manifest.ratio(anchor_tokens, total_tokens)},
        "tokens_by_era": _by(rows, "era", "tokens"),
        "docs_by_era": _by(rows, "era", "docs"),
        "tokens_by_domain": _by(rows, "domain", "tokens"),
        "pool": {"docs": sum(int(r["pool_docs"]) for r in rows),
                 "tokens": sum(int(r["pool_tokens"]) for r in rows),
                 "admitted_docs": sum(int(r["admitted_docs"]) for r in rows),
                 "admitted_tokens_by_era": _by(rows, "era", "admitted_tokens")},
        "filters": filters,
        "admission": {"max_p_synthetic": s.max_p_synthetic, "min_human_p": s.min_human_p,
                      "max_domain_share": s.max_domain_share},
        "accumulated": {"from": s.accumulate_from or None, "in_pool": forced_pool,
                        "kept": forced_kept, "dropped_over_fresh_cap": forced_pool - forced_kept},
        "tail": {"concepts": tail_size, "max_weight": s.max_weight,
                 "distinct_n_rel_error": float(relative_error(writer.SKETCH_PRECISION)),
                 "shards": shards,
                 "unweighted_sample": unweighted,
                 **manifest.comparison(shards, unweighted)},
    }


def _commit(fs: pafs.FileSystem, staging: str, target: str) -> None:
    """Swap the staging directory in for the shard set (the old one, if any, is moved
    aside first and deleted after): readers see the old set or the new one."""
    if fs.get_file_info(target).type != pafs.FileType.NotFound:
        aside = f"{staging}.old"
        fs.move(target, aside)
        fs.move(staging, target)
        fs.delete_dir(aside)
    else:
        fs.move(staging, target)


def _name_files(fs: pafs.FileSystem, staging: str, written: list[dict], jsonl: bool
                ) -> tuple[list[dict], list[dict]]:
    """bucket-NNNNN -> part-NNNNN in bucket order (an empty bucket leaves no gap)."""
    files, jsonl_files = [], []
    for i, row in enumerate(sorted(written, key=lambda r: r["file"])):
        part = f"part-{i:05d}"
        fs.move(f"{staging}/bucket-{row['file']:05d}.parquet", f"{staging}/{part}.parquet")
        files.append({"name": f"{part}.parquet", "rows": row["rows"], "tokens": row["tokens"],
                      "bytes": row["bytes"], "sha256": row["sha256"]})
        if jsonl:
            fs.move(f"{staging}/bucket-{row['file']:05d}.jsonl.zst",
                    f"{staging}/{part}.jsonl.zst")
            jsonl_files.append({"name": f"{part}.jsonl.zst", "rows": row["rows"],
                                "bytes": row["jsonl_bytes"], "sha256": row["jsonl_sha256"]})
    return files, jsonl_files


def run(ctx) -> dict:
    cfg, spark = ctx.cfg, ctx.spark
    name = shard_set_name(cfg)
    if ctx.dates:
        log.info("shards always draw from every crawl date; --dates is ignored")
    timings: dict[str, float] = {}
    root = shards_root(cfg)
    with _timed(timings, "pool"):
        tail = read_tail(spark, cfg)
        previous = previous_set(spark, cfg)
        scored = scored_pool(spark, cfg, tail)
        scored.count()
    with _timed(timings, "keys+choose"):
        keyed = keyed_pool(scored, cfg, previous)
        ordered = choose.with_orders(keyed.where(F.col("reason").isNull())).persist(
            StorageLevel.MEMORY_AND_DISK)
        plan, choices = choose.choose(ordered, cfg.shards.token_budget, cfg.shards.anchor_ratio)
        flagged = choose.with_choice(ordered, choices)
        everything = (keyed.where(F.col("reason").isNotNull())
                      .withColumn("selected", F.lit(False)).withColumn("sampled", F.lit(False))
                      .unionByName(flagged.drop("class", "order_selected", "order_sampled"))
                      .persist(StorageLevel.MEMORY_AND_DISK))
        rows = _aggregates(everything)
    with _timed(timings, "inspect"):
        write_table(everything.select(*POOL_TABLE_COLUMNS), cfg, f"shard_pool/{name}",
                    sort_by=("domain", "doc_id", "crawl_date"))
        filters = dict(sorted(
            {**pool.duplicates_by_kind(read_table(spark, cfg, "provenance")),
             **{r["reason"]: int(r["count"]) for r in everything.where(
                 F.col("reason").isNotNull()).groupBy("reason").count().collect()}}.items()))
        covered = _coverage(everything)
    with _timed(timings, "write"):
        fs, root_in_fs = writer._filesystem(root)  # fs calls take its path, not the URI
        run_id = f"{name}-{uuid.uuid4().hex}"
        staging = f"{root_in_fs}/_staging/{run_id}"
        fs.create_dir(staging, recursive=True)
        n_docs = sum(int(r["docs"]) for r in rows)
        n_files = writer.file_count(sum(int(r["bytes"]) for r in rows), cfg.shards.target_mb,
                                    max(n_docs, 1))
        options = writer.WriteOptions(f"{root}/_staging/{run_id}", cfg.shards.compression_level,
                                      int(cfg.shards.row_group_mb * _MB), bool(cfg.shards.jsonl))
        n_rows = n_docs + sum(int(r["u_docs"]) for r in rows)
        routed = writer.routed_rows(chosen_docs(spark, cfg, everything, n_files, n_rows))
        written = writer.write_files(routed, n_files, options)
    with _timed(timings, "commit"):
        sketches = writer.merge_sketches(
            [r["blob"] for r in written if r["kind"] == writer.KIND_SKETCH])
        distinct = estimate_many(sketches.reshape(-1, sketches.shape[-1])).reshape(
            sketches.shape[:2])
        files, jsonl_files = _name_files(
            fs, staging, [r for r in written if r["kind"] == writer.KIND_DOC], options.jsonl)
        dates = sorted({str(r[0]) for r in read_table(spark, cfg, "provenance")
                        .select("crawl_date").distinct().collect()})
        body = build_manifest(cfg, name, dates, plan, choices, rows, files, covered, distinct,
                              filters, len(tail), jsonl_files)
        rendered = manifest.render(body)
        with fs.open_output_stream(f"{staging}/manifest.json") as out:
            out.write(rendered)
        _commit(fs, staging, f"{root_in_fs}/{name}")
    for frame in (scored, ordered, everything):
        frame.unpersist()
    log.info("shards: wrote %d files, %d documents, %d tokens to %s/%s (anchor share %.3f, "
             "tail coverage gain %s) in %s", len(files), body["rows"], body["tokens"], root,
             name, body["anchor"]["measured_share"] or 0.0, body["tail"]["tail_coverage_gain"],
             timings)
    return json.loads(rendered)  # the manifest as written (rounded)
