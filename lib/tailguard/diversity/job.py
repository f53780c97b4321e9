"""`tailguard diversity [--scope eras|shards:NAME]`: diversity and tail coverage at matched budgets.

Sample first, then measure. Every signal depends on sample size, so everything is
measured on nested seeded budget samples (`diversity.token_budgets`, the ladder), and a
sample is the prefix of a seeded order, so it is chosen before any text is read:

1. small rows: one per document, (doc_id, crawl_date, scope, domain, era, month,
   n_words, okey, defines_tail) from provenance and `docs.n_words`, no text
   (`crawl_rows` / `shard_rows`); okey = xxhash64(doc_id, crawl_date, seed).
2. tail band: exact concept counts of the human reference (canonical `pre_ai` and
   `attested` documents of the seeded half of the clusters, `defines_tail`). Whole-crawl
   state: refitted only when the reference's (doc_id, crawl_date) set or the `tail.*`
   definition differs from what `tail_fit` records (or `diversity.refresh_band`);
   otherwise read back from `tail_concepts` (`tail_band`).
3. select: running token sums over the small rows choose every sample: per (scope,
   domain), per (scope, domain, month), per replicate (okey mod R) and across domains
   (`select.sampled_rows`); the group sizes are counted there too (`select.size_rows`).
4. reuse: a fingerprint of each sample's documents, with the band and the kernel
   parameters, is compared with `diversity_samples`; an unchanged sample keeps its stored
   rows (`reuse.py`), so a new date re-measures only the samples it enters.
5. measure: only the documents of the changed samples are read (text and signatures),
   shuffled once by (scope, domain), sorted by okey, tokenised once each and fed to the
   samples they are in (`kernel.py`).
6. tables: ratios from the sums, coverage and rarefaction from the budget rows, the
   deltas from the budget and replicate rows; each table is written per scope, the
   samples' state last.

Tables (partitioned by `scope`, so `--scope shards:NAME` replaces only its own rows):
- metrics/diversity: scope, domain, era, month, token_budget, n_docs, n_tokens,
  distinct_n_k, distinct_ratio_n_k (k = 1..4), distinct_ratio_sum, entropy_unigram (bits),
  compression_ratio, homogenization, homogenization_sample. A row with a token_budget is
  the budget sample of (domain, month) -- month `__all__` for the whole (scope, domain),
  domain `__all__` across domains -- and has every measure. A row with token_budget null
  gives a whole (domain, era, month) group's size only (n_docs, n_tokens; with `__all__`
  rollups): whole groups differ in size, so their measures would not compare. In scope
  `eras`, scope = era; in `shards:NAME`, scope is the shard set (budget rows: era
  `__all__`).
- metrics/tail_coverage: scope, domain, token_budget, n_tokens, tail_concepts, covered,
  coverage (month `__all__` samples).
- metrics/rarefaction: scope, domain, token_budget, n_tokens, distinct_concepts,
  concept_occurrences (n), f1, f2, good_turing_missing_mass (f1/n), chao1 (bias-corrected).
- metrics/diversity_deltas (eras scope only): per domain, pre_ai -> post_ai and pre_ai ->
  attested at the largest rung both eras fill, with intervals (deltas.py).
- tail_concepts and tail_fit (eras scope, when the band is refitted); diversity_samples
  and diversity_replicates (the state of step 4 and the replicate rows, per scope).

Cost: the text read and tokenised is that of the changed samples (each at most the
largest rung per (scope, domain), per month and per replicate), never the crawl's; the
reference pass runs only when the reference changed; the rest reads small rows.
`--dates` needs no special path: the fingerprints find what the new dates changed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from pyspark import StorageLevel, inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard import schema
from tailguard.config import Config
from tailguard.diversity import deltas, reuse, select, tail
from tailguard.diversity.accum import DISTINCT_N
from tailguard.diversity.kernel import (
    ALL,
    INPUT_COLUMNS,
    KIND_METRICS,
    KIND_REPLICATE,
    OUTPUT_DDL,
    KernelParams,
    kernel_fn,
)
from tailguard.errors import InputError
from tailguard.io.tables import (
    list_partitions,
    path_exists,
    read_table,
    table_bytes,
    table_exists,
    write_partitions,
    write_table,
)
from tailguard.schema import require_columns
from tailguard.session import checkpoint

log = logging.getLogger(__name__)

DIVERSITY_COLUMNS = tuple(schema.DIVERSITY_METRICS.fieldNames())
COVERAGE_COLUMNS = tuple(schema.TAIL_COVERAGE.fieldNames())
RAREFACTION_COLUMNS = tuple(schema.RAREFACTION.fieldNames())
REPLICATE_COLUMNS = ("scope", "domain", "key", "token_budget", "raw_bytes", "compressed_bytes",
                     *[f"ngrams_{k}" for k in range(1, DISTINCT_N + 1)],
                     *[f"distinct_n_{k}" for k in range(1, DISTINCT_N + 1)], "covered")
_MB = 1 << 20
_SMALL_ROW_BYTES = 96   # a sampled row's broadcast size, roughly (keys, labels, tops)
_TOKEN_BYTES = 6        # text bytes per word, roughly: sizes the measuring partitions
T = TypeVar("T")


def kernel_params(cfg: Config) -> KernelParams:
    return KernelParams(precision=cfg.diversity.hll_precision, concept_max_n=cfg.tail.max_n,
                        chunk_bytes=cfg.diversity.compression_chunk_bytes,
                        level=cfg.diversity.compression_level,
                        budgets=tuple(sorted(set(cfg.diversity.token_budgets))),
                        sample_size=cfg.diversity.homogenization_sample,
                        replicates=cfg.diversity.replicates,
                        replicate_max_budget=cfg.diversity.replicate_max_budget,
                        replicate_min_budget=cfg.diversity.replicate_min_budget)


def order_key(seed: int) -> F.Column:
    """Seeded 64-bit key of one crawled document: (doc_id, crawl_date) is the unique key
    (a page re-crawled unchanged keeps its doc_id). Its order is the seeded sample order:
    uniform, and independent of partitioning and file order."""
    return F.xxhash64("doc_id", F.col("crawl_date").cast("string"), F.lit(seed))


def defines_tail(seed: int) -> F.Column:
    """The seeded half of the content clusters (`cluster_id`: every copy of a page in the
    same half) whose human documents define the tail; the other half's documents, of
    every era, are the ones whose concepts count for coverage (`kernel._tail_hits`).
    Defining the tail on the text it is then measured on would make every pre-AI sample
    cover the rare concepts it put there itself: an era compared with it reads as a loss
    of the tail even when both are human."""
    return F.pmod(F.xxhash64("cluster_id", F.lit(seed), F.lit("tail")), F.lit(2)) == 0


def _lookup(spark: SparkSession, cfg: Config, name: str, df: DataFrame) -> DataFrame:
    """Broadcast a per-document lookup table while it is small on disk."""
    small = table_bytes(spark, cfg, name) <= cfg.diversity.broadcast_mb * _MB
    return F.broadcast(df) if small else df


def crawl_rows(spark: SparkSession, cfg: Config) -> DataFrame:
    """Small rows of every crawled document (scope = era) plus `is_reference`: canonical
    pre_ai / attested copies of the half of the clusters that defines the tail."""
    seed = cfg.diversity.seed
    prov = read_table(spark, cfg, "provenance").select(
        "doc_id", "crawl_date", "domain", "era", "is_canonical",
        defines_tail(seed).alias("defines_tail"))
    sizes = read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "n_words")
    return (sizes.join(_lookup(spark, cfg, "provenance", prov), on=["doc_id", "crawl_date"],
                       how="inner")
            .select("doc_id", "crawl_date", F.col("era").alias("scope"), "domain", "era",
                    F.date_format("crawl_date", "yyyy-MM").alias("month"),
                    F.coalesce("n_words", F.lit(0)).cast("long").alias("n_words"),
                    order_key(seed).alias("okey"), "defines_tail",
                    (F.col("era").isin("pre_ai", "attested") & F.col("is_canonical")
                     & F.col("defines_tail")).alias("is_reference")))


def _shard_files(spark: SparkSession, cfg: Config, name: str) -> DataFrame:
    path = cfg.table_path(f"shards/{name}")
    if not path_exists(spark, path):
        raise InputError(f"shard set '{name}' not found at {path}: run the shards job first")
    shards = spark.read.parquet(f"{path}/part-*.parquet")
    require_columns(shards, ("doc_id", "domain", "era", "crawl_date", "text"), f"shards/{name}")
    return shards


def shard_rows(spark: SparkSession, cfg: Config, name: str) -> DataFrame:
    """Small rows of a shard set's documents (scope = `shards:NAME`), their token counts
    and tail halves looked up in the crawl by key."""
    seed = cfg.diversity.seed
    halves = read_table(spark, cfg, "provenance").select(
        "doc_id", "crawl_date", defines_tail(seed).alias("defines_tail"))
    sizes = read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "n_words")
    return (_shard_files(spark, cfg, name).select("doc_id", "crawl_date", "domain", "era")
            .join(sizes, ["doc_id", "crawl_date"], "left")
            .join(_lookup(spark, cfg, "provenance", halves), ["doc_id", "crawl_date"], "left")
            .select("doc_id", "crawl_date", F.lit(f"shards:{name}").alias("scope"), "domain",
                    "era", F.date_format("crawl_date", "yyyy-MM").alias("month"),
                    F.coalesce("n_words", F.lit(0)).cast("long").alias("n_words"),
                    order_key(seed).alias("okey"),
                    F.coalesce("defines_tail", F.lit(False)).alias("defines_tail")))


@dataclass
class TailBand:
    keys: np.ndarray        # sorted uint64 concept hashes
    fit: dict               # what it was fitted on (`tail.fit_record`)
    refitted: bool


def tail_band(spark: SparkSession, cfg: Config, crawl: DataFrame, partitions: int) -> TailBand:
    """The tail band of the crawl's reference: the stored one when `tail_fit` says it was
    fitted on the same reference and definition, else refitted from the reference's
    text (the same exact counts and quantile, so the same band for the same reference)."""
    reference = crawl.where(F.col("is_reference")).select("doc_id", "crawl_date")
    wanted = tail.fit_record(*tail.reference_fingerprint(reference), cfg.tail,
                             cfg.diversity.seed, 0)
    stored = None
    if (not cfg.diversity.refresh_band and table_exists(spark, cfg, "tail_fit")
            and table_exists(spark, cfg, "tail_concepts")):
        rows = read_table(spark, cfg, "tail_fit").collect()
        stored = rows[0].asDict() if len(rows) == 1 else None
    if tail.band_is_current(stored, wanted):
        keys = read_table(spark, cfg, "tail_concepts").select("key").toArrow()
        band = np.sort(keys.column("key").to_numpy().view(np.uint64))
        log.info("tail band reused: %d concepts, fitted on the same %d reference documents",
                 len(band), wanted["reference_docs"])
        return TailBand(band, stored, refitted=False)
    texts = read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "text").join(
        reference, on=["doc_id", "crawl_date"], how="left_semi")
    frequent = tail.frequent_concepts(texts, cfg.tail.max_n, cfg.tail.min_count, partitions)
    band = tail.tail_concepts(frequent, cfg.tail.min_count, cfg.tail.quantile)
    return TailBand(band, {**wanted, "concepts": len(band)}, refitted=True)


def measure_input(sampled: DataFrame, texts: DataFrame, signatures: DataFrame | None,
                  partitions: int, broadcast: bool) -> DataFrame:
    """The sampled documents' text rows and signature rows in one exchange: each (scope,
    domain) run whole in one partition, sorted by okey, a document's signature row right
    after its text row. `texts` (doc_id, crawl_date, text) and the signatures are joined
    to the sampled rows by key, so only sampled documents leave the scan."""
    require_columns(sampled, select.SAMPLED, "measure_input")
    lookup = F.broadcast(sampled) if broadcast else sampled
    keys = ["doc_id", "crawl_date"]
    rows = (texts.select(*keys, "text").join(lookup, on=keys, how="inner")
            .withColumn("signature", F.lit(None).cast("binary"))
            .withColumn("is_sig", F.lit(False)))
    if signatures is not None:
        rows = rows.unionByName(
            signatures.select(*keys, "signature").join(lookup, on=keys, how="inner")
            .withColumn("text", F.lit(None).cast("string")).withColumn("is_sig", F.lit(True)))
    return (rows.repartition(partitions, "scope", "domain")
            .sortWithinPartitions("scope", "domain", *select.ORDER, "is_sig")
            .select(*INPUT_COLUMNS))


def _finish(metrics: DataFrame) -> DataFrame:
    """DIVERSITY_COLUMNS of the samples' rows: distinct-n over n-gram occurrences, raw
    over zstd bytes."""
    ratios = [F.when(F.col(f"ngrams_{k}") > 0,
                     F.least(F.col(f"distinct_n_{k}") / F.col(f"ngrams_{k}"), F.lit(1.0)))
              .alias(f"distinct_ratio_n_{k}") for k in range(1, DISTINCT_N + 1)]
    return metrics.select(
        "scope", "domain", "era", "month", "token_budget", "n_docs", "n_tokens",
        *[F.round(F.col(f"distinct_n_{k}")).cast("long").alias(f"distinct_n_{k}")
          for k in range(1, DISTINCT_N + 1)],
        *ratios,
        F.when(F.col("compressed_bytes") > 0,
               F.col("raw_bytes") / F.col("compressed_bytes")).alias("compression_ratio"),
        "entropy_unigram", "homogenization", "homogenization_sample",
    ).withColumn("distinct_ratio_sum",
                 sum(F.coalesce(F.col(f"distinct_ratio_n_{k}"), F.lit(0.0))
                     for k in range(1, DISTINCT_N + 1))).select(*DIVERSITY_COLUMNS)


def _sizes(sizes: DataFrame) -> DataFrame:
    """DIVERSITY_COLUMNS of the whole groups' size rows: every measure null."""
    kinds = {f.name: f.dataType for f in schema.DIVERSITY_METRICS.fields}
    return sizes.select(*[F.col(c) if c in sizes.columns else F.lit(None).cast(kinds[c]).alias(c)
                          for c in DIVERSITY_COLUMNS])


@dataclass
class Stored:
    """What earlier runs left for this run's scopes: the samples' state and their rows
    (checkpointed: this run rewrites the same partitions)."""
    state: DataFrame
    diversity: DataFrame     # budget rows only
    tail_coverage: DataFrame
    rarefaction: DataFrame
    replicates: DataFrame

    def release(self) -> None:
        for df in (self.state, self.diversity, self.tail_coverage, self.rarefaction,
                   self.replicates):
            release(df)


def stored_rows(spark: SparkSession, cfg: Config, scopes: list[str]) -> Stored | None:
    """The stored state and rows of `scopes`, or None (first run, a table missing, or
    `diversity.reuse_samples` off): then every sample is measured."""
    names = (reuse.STATE, "metrics/diversity", "metrics/tail_coverage", "metrics/rarefaction",
             reuse.REPLICATES)
    if not cfg.diversity.reuse_samples or not all(table_exists(spark, cfg, n) for n in names):
        return None

    state_ddl = {reuse.STATE: reuse.STATE_DDL, reuse.REPLICATES: reuse.REPLICATE_DDL}

    def read(name: str) -> DataFrame:
        df = (spark.read.schema(state_ddl[name]).parquet(cfg.table_path(name))
              if name in state_ddl else read_table(spark, cfg, name))
        return checkpoint(df.where(F.col("scope").isin(scopes)), eager=True)

    state, div, cov, rare, reps = concurrently(spark, *[lambda n=n: read(n) for n in names])
    return Stored(state.select(*reuse.STATE_COLUMNS),
                  div.where(F.col("token_budget").isNotNull()).select(*DIVERSITY_COLUMNS),
                  cov.select(*COVERAGE_COLUMNS), rare.select(*RAREFACTION_COLUMNS),
                  reps.select(*REPLICATE_COLUMNS))


@dataclass
class DiversityTables:
    diversity: DataFrame
    tail_coverage: DataFrame
    rarefaction: DataFrame
    replicates: DataFrame    # the replicate samples' sums (kernel REPLICATE rows)
    samples: DataFrame       # every sample's state (`reuse.STATE_COLUMNS`)
    band: TailBand
    held: list[DataFrame]    # checkpointed intermediates: `release()` after writing

    def release(self) -> None:
        for df in self.held:
            release(df)


def release(df: DataFrame) -> None:
    """Free the storage `df` holds: a persisted frame's cache, or a checkpointed frame's
    blocks (its plan is a scan of the checkpointed RDD, which `DataFrame.unpersist` does
    not reach; a reliable checkpoint's files go when the RDD is garbage-collected,
    `spark.cleaner.referenceTracking.cleanCheckpoints`). Only once nothing reads it."""
    df.unpersist()
    plan = df._jdf.queryExecution().logical()
    if plan.nodeName() == "LogicalRDD":
        plan.rdd().unpersist(False)


def diversity_tables(small: DataFrame, texts: DataFrame, signatures: DataFrame | None,
                     band: TailBand, cfg: Config, stored: Stored | None = None
                     ) -> DiversityTables:
    """The three tables (and the replicate rows and the samples' state) from small rows
    (`select.SMALL`), the documents' text (doc_id, crawl_date, text), MinHash signatures
    (None leaves homogenization null) and the tail band. With `stored`, the samples whose
    documents and stamp are unchanged keep their stored rows and are not measured.

    Each intermediate read more than once is checkpointed (`cut`), not persisted: a later
    plan scans its rows instead of embedding its plan. Persisted, every frame's plan held
    all earlier ones (the selection windows several times over), and Spark prints a
    persisted plan in full to name its cache: megabytes of text per frame, and a driver
    spending minutes in planning and garbage collection (or out of memory)."""
    require_columns(small, select.SMALL, "diversity_tables")
    spark, p = small.sparkSession, kernel_params(cfg)
    held: list[DataFrame] = []

    def cut(df: DataFrame) -> DataFrame:
        held.append(checkpoint(df, eager=True))  # list.append: safe from driver threads
        return held[-1]

    ladders: list[DataFrame] = []

    def cut_ladders(df: DataFrame) -> DataFrame:
        ladders.append(checkpoint(df, eager=True))
        return ladders[-1]

    sampled = cut(select.sampled_rows(small, p.budgets, p.replicates, p.replicate_max_budget,
                                      p.replicate_min_budget, cut=cut_ladders))
    for df in ladders:  # read by the selection only, whose rows `sampled` now holds
        release(df)
    samples = cut(reuse.sample_fingerprints(sampled, p.replicates,
                                            reuse.stamp(p, band.keys, cfg.diversity.seed)))
    if stored is not None:
        unchanged = cut(reuse.unchanged_samples(samples, stored.state))
        measured = cut(reuse.filter_to_measure(sampled, unchanged, p.replicates))
    else:
        unchanged, measured = reuse.unchanged_samples(samples, None), sampled
    stats = measured.agg(F.count(F.lit(1)).alias("rows"),
                         F.coalesce(F.sum("n_words"), F.lit(0)).alias("words")).first()
    partitions = max(int(spark.sparkContext.defaultParallelism),
                     math.ceil(stats["words"] * _TOKEN_BYTES / (cfg.diversity.partition_mb * _MB)))
    broadcast = stats["rows"] * _SMALL_ROW_BYTES <= cfg.diversity.broadcast_mb * _MB
    log.info("diversity: measuring %d (document, run) rows, %d words, %d partitions; "
             "%d samples unchanged", stats["rows"], stats["words"], partitions,
             unchanged.count())
    tail_set = spark.sparkContext.broadcast(band.keys)
    out, sizes = concurrently(
        spark,
        lambda: cut(measure_input(measured, texts, signatures, partitions, broadcast)
                    .mapInArrow(kernel_fn(p, tail_set), OUTPUT_DDL)),
        lambda: cut(select.size_rows(small)))
    metrics = out.where(F.col("kind") == KIND_METRICS)
    budget_rows = metrics.where(F.col("month") == ALL)
    tables = [_finish(metrics),
              tail.coverage_table(budget_rows, len(band.keys)).select(*COVERAGE_COLUMNS),
              tail.rarefaction_table(budget_rows).select(*RAREFACTION_COLUMNS),
              out.where(F.col("kind") == KIND_REPLICATE).select(*REPLICATE_COLUMNS)]
    if stored is not None:
        tables = [tables[0].unionByName(reuse.kept_rows(stored.diversity, unchanged, True)),
                  tables[1].unionByName(reuse.kept_rows(stored.tail_coverage, unchanged, False)),
                  tables[2].unionByName(reuse.kept_rows(stored.rarefaction, unchanged, False)),
                  tables[3].unionByName(reuse.kept_rows(stored.replicates, unchanged, False,
                                                        rep_column="key"))]
    if signatures is None:
        log.warning("no signatures table: homogenization is left null")
    return DiversityTables(tables[0].unionByName(_sizes(sizes)), *tables[1:], samples, band,
                           held)


def delta_table(spark: SparkSession, out: DiversityTables, floor: int, scope: str
                ) -> DataFrame:
    """metrics/diversity_deltas of an eras run (`deltas.delta_rows`): the budget, size
    and replicate rows are a few per (era, domain), so they are compared on the driver."""
    budget_cols = ("scope", "domain", "token_budget", *deltas.RATIO_METRICS)
    whole = out.diversity.where(F.col("month") == ALL)
    budget, coverage, totals, reps = concurrently(
        spark,
        lambda: whole.where(F.col("token_budget").isNotNull()).select(*budget_cols).toPandas(),
        lambda: out.tail_coverage.select("scope", "domain", "token_budget", "coverage")
        .toPandas(),
        lambda: whole.where(F.col("token_budget").isNull())
        .select("scope", "domain", "n_tokens").toPandas(),
        lambda: out.replicates.toPandas())
    budget = budget.merge(coverage, on=["scope", "domain", "token_budget"], how="left")
    rows = deltas.delta_rows(budget, totals,
                             deltas.replicate_metrics(reps, len(out.band.keys)), floor, scope)
    return spark.createDataFrame(rows, schema.DIVERSITY_DELTAS)


def concurrently(spark: SparkSession | None, *steps: Callable[[], T]) -> list[T]:
    """Run independent driver steps (each one or a few Spark jobs) at the same time and
    return their results in order; the first error is raised once all have ended.

    Why: the job's small steps are each a few short Spark jobs whose time is mostly
    scheduling and planning latency, so one waiting on another leaves the cores idle.
    With a session, each thread inherits the caller's job group, description and tags
    (`inheritable_thread_target`), so cancelling the caller's group cancels these too."""
    wrap = inheritable_thread_target(spark) if spark is not None else (lambda step: step)
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="tailguard") as pool:
        futures = [pool.submit(wrap(step)) for step in steps]
    return [future.result() for future in futures]  # the pool's exit waited for all


def ensure_readable(spark: SparkSession, cfg: Config, name: str, scope: str) -> None:
    """A table no run has written a row to yet (an empty crawl or scope) gets one
    zero-row Parquet file with the contract schema, in the partition this run owns, so
    it is a readable table, not a directory without files. A later run replaces it."""
    if list_partitions(spark, cfg, name, partition_col="scope"):
        return
    value = scope.replace("%", "%25").replace(":", "%3A")  # Spark's partition escaping
    empty = spark.createDataFrame([], schema.TABLE_SCHEMAS[name]).drop("scope")
    empty.coalesce(1).write.mode("overwrite").parquet(f"{cfg.table_path(name)}/scope={value}")


def _writes(spark: SparkSession, cfg: Config, out: DiversityTables, scope: str) -> list:
    steps = [
        lambda: write_partitions(out.diversity, cfg, "metrics/diversity", partition_col="scope",
                                 sort_by=("domain", "era", "month", "token_budget")),
        lambda: write_partitions(out.tail_coverage, cfg, "metrics/tail_coverage",
                                 partition_col="scope", sort_by=("domain", "token_budget")),
        lambda: write_partitions(out.rarefaction, cfg, "metrics/rarefaction",
                                 partition_col="scope", sort_by=("domain", "token_budget"))]
    if scope != "eras":
        return steps
    steps.append(lambda: write_partitions(
        delta_table(spark, out, min(cfg.diversity.token_budgets), scope), cfg,
        "metrics/diversity_deltas", partition_col="scope", sort_by=("domain", "base", "target")))
    if out.band.refitted:  # the eras scope owns the tail: the shards job weights by it
        steps += [lambda: write_table(tail.tail_table(spark, out.band.keys, cfg.tail), cfg,
                                      "tail_concepts"),
                  lambda: write_table(tail.fit_table(spark, out.band.fit), cfg, "tail_fit")]
    return steps


def run(ctx) -> None:
    cfg, spark = ctx.cfg, ctx.spark
    scope = getattr(ctx.options, "scope", None) or "eras"
    if not (scope == "eras" or (scope.startswith("shards:") and scope.split(":", 1)[1])):
        raise InputError(f"--scope must be 'eras' or 'shards:NAME', got '{scope}'")
    crawl = crawl_rows(spark, cfg).persist(StorageLevel.MEMORY_AND_DISK)
    docs_mb = table_bytes(spark, cfg, "docs") / _MB
    partitions = max(int(spark.sparkContext.defaultParallelism),
                     math.ceil(docs_mb / cfg.diversity.partition_mb))
    band = tail_band(spark, cfg, crawl, partitions)
    if scope == "eras":
        small = crawl.select(*select.SMALL)
        texts = read_table(spark, cfg, "docs")
    else:
        name = scope.split(":", 1)[1]
        small, texts = shard_rows(spark, cfg, name), _shard_files(spark, cfg, name)
    signatures = (read_table(spark, cfg, "signatures")
                  if table_exists(spark, cfg, "signatures") else None)
    scopes = list(schema.ERAS) if scope == "eras" else [scope]
    stored = stored_rows(spark, cfg, scopes)
    out = diversity_tables(small, texts, signatures, band, cfg, stored)
    try:
        concurrently(spark, *_writes(spark, cfg, out, scope))
        # the state last: it vouches for the rows written above
        concurrently(
            spark,
            lambda: write_partitions(out.replicates, cfg, reuse.REPLICATES, partition_col="scope",
                                     sort_by=("domain", "key", "token_budget")),
            lambda: write_partitions(out.samples, cfg, reuse.STATE, partition_col="scope",
                                     sort_by=("domain", "month", "rep")))
    finally:
        out.release()
        crawl.unpersist()
        if stored is not None:
            stored.release()
    owned = "pre_ai" if scope == "eras" else scope
    for name in ("metrics/diversity", "metrics/tail_coverage", "metrics/rarefaction"):
        ensure_readable(spark, cfg, name, owned)
    if scope == "eras":
        ensure_readable(spark, cfg, "metrics/diversity_deltas", scope)
    log.info("diversity: wrote the metrics of scope %s%s", scope,
             " and a refitted tail band" if scope == "eras" and band.refitted else "")
