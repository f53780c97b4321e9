"""`tailguard diversity [--scope eras|shards:NAME]`: n-gram diversity, tail coverage, rarefaction.

Three passes over text, each one Arrow-batched kernel (see kernel.py for why groups are
computed where their documents are):
1. reference: exact concept counts of the human reference (canonical `pre_ai` and
   `attested` documents of the crawl) -> the tail band, broadcast as sorted hashes;
2. main: documents and their MinHash signatures shuffled once by (scope, domain), sorted
   by the seeded okey -> final metrics of every (domain, era, month) and (domain, era,
   `__all__`) group and every (scope, domain) budget sample, plus small partials of the
   cross-domain groups and the scope-wide budget candidates (a domain with more than
   `diversity.split_docs` documents is measured in parts, in parallel, and leaves
   partials and candidates instead, see `split_domains`);
3. budgets: the candidates, one partition per scope -> the (scope, `__all__`) budget
   samples. Cross-domain partials are merged in `rollup`.

Tables (partitioned by `scope`, so `--scope shards:NAME` replaces only its own rows):
- metrics/diversity: scope, domain, era, month, token_budget, n_docs, n_tokens,
  distinct_n_k, distinct_ratio_n_k (k = 1..4), distinct_ratio_sum, entropy_unigram (bits),
  compression_ratio, homogenization, homogenization_sample. Rows with token_budget null
  cover a whole (domain, era, month) group, with `__all__` rollups of domain and month;
  rows with a token_budget cover the seeded budget subsample of (domain, era), month
  `__all__`. In scope `eras`, scope = era; in `shards:NAME`, scope is the shard set.
- metrics/tail_coverage: scope, domain, token_budget, n_tokens, tail_concepts, covered,
  coverage.
- metrics/rarefaction: scope, domain, token_budget, n_tokens, distinct_concepts,
  concept_occurrences (n), f1, f2, good_turing_missing_mass (f1/n), chao1 (bias-corrected).
- metrics/diversity_deltas (eras scope only): per domain, pre_ai -> post_ai and pre_ai ->
  attested at the largest budget both eras fill, with intervals (deltas.py).

Budgets are a ladder (`diversity.token_budgets`, 2k..64k): each (scope, domain) has rows
for every rung it fills, so small domains are compared at small budgets. `--dates` is
ignored: a daily run costs a full run (docs/ARCHITECTURE.md, "The diversity job in one
page").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from pyspark import StorageLevel, inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tailguard import schema
from tailguard.config import Config
from tailguard.diversity import deltas, rollup, tail
from tailguard.diversity.accum import DISTINCT_N
from tailguard.diversity.kernel import (
    ALL,
    INPUT_COLUMNS,
    KIND_CANDIDATE,
    KIND_METRICS,
    KIND_REPLICATE,
    LABELS,
    OUTPUT_DDL,
    SUM_FIELDS,
    WHOLE,
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

log = logging.getLogger(__name__)

MEASURED = ("doc_id", "crawl_date", "scope", "domain", "era", "month", "text", "defines_tail")
GROUP_COLUMNS = (*LABELS, *SUM_FIELDS, *[f"distinct_n_{k}" for k in range(1, DISTINCT_N + 1)],
                 "entropy_unigram", "homogenization", "homogenization_sample")
DIVERSITY_COLUMNS = tuple(schema.DIVERSITY_METRICS.fieldNames())
COVERAGE_COLUMNS = tuple(schema.TAIL_COVERAGE.fieldNames())
RAREFACTION_COLUMNS = tuple(schema.RAREFACTION.fieldNames())
_MB = 1 << 20
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
    """Broadcast a per-document lookup table while it is small on disk, so the text is
    not shuffled to meet it (the main pass shuffles the text once, by domain)."""
    small = table_bytes(spark, cfg, name) <= cfg.diversity.broadcast_mb * _MB
    return F.broadcast(df) if small else df


def crawl_labels(spark: SparkSession, cfg: Config) -> DataFrame:
    """The eras-scope labels of every crawled document from provenance alone (it carries
    domain and era), so labelling the signatures does not read the text again."""
    prov = read_table(spark, cfg, "provenance")
    return _lookup(spark, cfg, "provenance", prov.select(
        "doc_id", "crawl_date", F.col("era").alias("scope"), "domain", "era",
        F.date_format("crawl_date", "yyyy-MM").alias("month")))


def crawl_documents(spark: SparkSession, cfg: Config) -> DataFrame:
    """docs with their era; is_reference = canonical pre_ai / attested copies of the half
    of the clusters that defines the tail (`defines_tail`)."""
    docs = read_table(spark, cfg, "docs").select("doc_id", "domain", "crawl_date", "text")
    prov = read_table(spark, cfg, "provenance").select(
        "doc_id", "crawl_date", "era", "is_canonical",
        defines_tail(cfg.diversity.seed).alias("defines_tail"))
    return (
        docs.join(_lookup(spark, cfg, "provenance", prov), on=["doc_id", "crawl_date"],
                  how="inner")
        .select("doc_id", "crawl_date", F.col("era").alias("scope"), "domain", "era",
                F.date_format("crawl_date", "yyyy-MM").alias("month"), "text", "defines_tail",
                (F.col("era").isin("pre_ai", "attested") & F.col("is_canonical")
                 & F.col("defines_tail")).alias("is_reference"))
    )


def shard_documents(spark: SparkSession, cfg: Config, name: str) -> DataFrame:
    path = cfg.table_path(f"shards/{name}")
    if not path_exists(spark, path):
        raise InputError(f"shard set '{name}' not found at {path}: run the shards job first")
    shards = spark.read.parquet(f"{path}/part-*.parquet")
    require_columns(shards, ("doc_id", "domain", "era", "crawl_date", "text"), f"shards/{name}")
    halves = read_table(spark, cfg, "provenance").select(
        "doc_id", "crawl_date", defines_tail(cfg.diversity.seed).alias("defines_tail"))
    return (shards.join(_lookup(spark, cfg, "provenance", halves), ["doc_id", "crawl_date"],
                        "left")
            .select("doc_id", "crawl_date", F.lit(f"shards:{name}").alias("scope"),
                    "domain", "era", F.date_format("crawl_date", "yyyy-MM").alias("month"),
                    "text", F.coalesce("defines_tail", F.lit(False)).alias("defines_tail")))


def split_domains(sizes: DataFrame, split_docs: int) -> list[tuple[str, str, int]]:
    """(scope, domain, parts) of every (scope, domain) holding more than `split_docs`
    documents, from one row per document (scope, domain). Such a domain is measured in
    `parts` runs of about `split_docs` documents each, in parallel: a run is one task,
    and one very large domain would otherwise keep one core busy long after the others
    are done. Only the large domains reach the driver."""
    require_columns(sizes, ("scope", "domain"), "split_domains")
    large = (sizes.groupBy("scope", "domain").count()
             .where(F.col("domain").isNotNull() & (F.col("count") > split_docs)).collect())
    return sorted((r["scope"], r["domain"], math.ceil(r["count"] / split_docs))
                  for r in large)


def _with_part(rows: DataFrame, splits: list[tuple[str, str, int]]) -> DataFrame:
    """`part`: the okey's residue modulo the domain's parts for a split domain (the okey is
    a uniform hash, so parts are even and random), WHOLE for every other domain."""
    if not splits:
        return rows.withColumn("part", F.lit(WHOLE))
    table = rows.sparkSession.createDataFrame(
        splits, "scope string, domain string, parts int")
    return (rows.join(F.broadcast(table), on=["scope", "domain"], how="left")
            .withColumn("part", F.when(F.col("parts").isNotNull(),
                                       F.pmod(F.col("okey"), F.col("parts")).cast("int"))
                        .otherwise(F.lit(WHOLE)))
            .drop("parts"))


def main_input(measured: DataFrame, signatures: DataFrame | None, seed: int,
               partitions: int, signature_keys: DataFrame | None = None,
               splits: list[tuple[str, str, int]] = ()) -> DataFrame:
    """Text rows and signature rows of the measured documents in one exchange: each
    (scope, domain) whole in one partition (each part of it, for the `splits`), sorted
    by okey, a document's signature row right after its text row. `signature_keys`
    (doc_id, crawl_date, scope, domain, era, month) labels the signatures; by default
    the measured documents do, which reads their table a second time."""
    labels = ("scope", "domain", "era", "month")
    texts = measured.select(*labels, order_key(seed).alias("okey"), "text",
                            F.lit(None).cast("binary").alias("signature"),
                            F.lit(False).alias("is_sig"), F.lit(False).alias("stop"),
                            "defines_tail")
    rows = texts
    if signatures is not None:
        keys = (signature_keys if signature_keys is not None
                else measured.select("doc_id", "crawl_date", *labels))
        sigs = signatures.select("doc_id", "crawl_date", "signature").join(
            keys.select("doc_id", "crawl_date", *labels), on=["doc_id", "crawl_date"],
            how="inner")
        rows = texts.unionByName(sigs.select(
            *labels, order_key(seed).alias("okey"), F.lit(None).cast("string").alias("text"),
            "signature", F.lit(True).alias("is_sig"), F.lit(False).alias("stop"),
            F.lit(False).alias("defines_tail")))
    return (_with_part(rows, list(splits)).repartition(partitions, "scope", "domain", "part")
            .sortWithinPartitions("scope", "domain", "part", "okey", "is_sig"))


def budget_input(candidates: DataFrame, partitions: int) -> DataFrame:
    """The candidate rows of each (scope, domain) budget walk, in one task, in okey order,
    up to the first stop marker. Past it the walk stops (some task's candidates end
    there), so later candidates are dropped before they are sent to Python: with many
    tasks, each offers up to the largest budget, and most of that lies past the first
    stop."""
    first_stop = F.min(F.when(F.col("stop"), F.col("okey"))).over(
        Window.partitionBy("scope", "domain"))
    return (candidates.withColumn("is_sig", F.lit(False)).select(*INPUT_COLUMNS)
            .repartition(partitions, "scope", "domain")
            .withColumn("_first_stop", first_stop)
            .where(F.col("_first_stop").isNull() | (F.col("okey") <= F.col("_first_stop")))
            .drop("_first_stop")
            .sortWithinPartitions("scope", "domain", "okey"))


def concurrently(spark: SparkSession | None, *steps: Callable[[], T]) -> list[T]:
    """Run independent driver steps (each one or a few Spark jobs) at the same time and
    return their results in order; the first error is raised once all have ended.

    Why: the job's small steps (the tail band and the large-domain count before the main
    pass; the budgets pass, the rollups and the three table writes after it) are each a
    few short Spark jobs whose time is mostly scheduling and planning latency, not work,
    so one waiting on another leaves the cores idle. Spark schedules jobs from several
    driver threads (FIFO: tasks of the earlier job first), and each write still goes
    through its own staging directory. With a session, each thread inherits the caller's
    job group, description and tags (`inheritable_thread_target`), so cancelling the
    caller's group cancels these jobs too."""
    wrap = inheritable_thread_target(spark) if spark is not None else (lambda step: step)
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="tailguard") as pool:
        futures = [pool.submit(wrap(step)) for step in steps]
    return [future.result() for future in futures]  # the pool's exit waited for all


def _partitions(spark: SparkSession, cfg: Config) -> int:
    size = table_bytes(spark, cfg, "docs")
    return max(int(spark.sparkContext.defaultParallelism),
               math.ceil(size / (cfg.diversity.partition_mb * _MB)))


def _finish_groups(groups: DataFrame) -> DataFrame:
    """Ratios from the summed counts: distinct-n over n-gram occurrences, raw over zstd."""
    ratios = []
    for k in range(1, DISTINCT_N + 1):
        d = F.coalesce(F.col(f"distinct_n_{k}"), F.lit(0.0))
        ratios.append(F.when(F.col(f"ngrams_{k}") > 0,
                             F.least(d / F.col(f"ngrams_{k}"), F.lit(1.0)))
                      .alias(f"distinct_ratio_n_{k}"))
    return groups.select(
        *LABELS, "n_docs", "n_tokens",
        *[F.round(F.coalesce(F.col(f"distinct_n_{k}"), F.lit(0.0))).cast("long")
          .alias(f"distinct_n_{k}") for k in range(1, DISTINCT_N + 1)],
        *ratios,
        F.when(F.col("compressed_bytes") > 0,
               F.col("raw_bytes") / F.col("compressed_bytes")).alias("compression_ratio"),
        "entropy_unigram", "homogenization",
        F.coalesce("homogenization_sample", F.lit(0)).cast("long").alias("homogenization_sample"),
    ).withColumn("distinct_ratio_sum",
                 sum(F.coalesce(F.col(f"distinct_ratio_n_{k}"), F.lit(0.0))
                     for k in range(1, DISTINCT_N + 1))).select(*DIVERSITY_COLUMNS)


@dataclass
class DiversityTables:
    diversity: DataFrame
    tail_coverage: DataFrame
    rarefaction: DataFrame
    cached: list[DataFrame]  # persisted intermediates: `release()` after writing
    tail_keys: np.ndarray    # the tail band (sorted uint64 concept hashes)
    replicates: DataFrame    # the replicate samples' sums (kernel REPLICATE rows)

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()


def diversity_tables(measured: DataFrame, reference: DataFrame, signatures: DataFrame | None,
                     cfg: Config, partitions: int,
                     signature_keys: DataFrame | None = None,
                     sizes: DataFrame | None = None) -> DiversityTables:
    """The three tables from documents (MEASURED columns), the human reference text that
    defines the tail (a `text` column) and MinHash signatures (doc_id, crawl_date,
    signature; None leaves homogenization null), labelled by `signature_keys` (see
    `main_input`). `sizes` (scope, domain per document; default: `measured`) finds the
    domains to measure in parts (`split_domains`)."""
    require_columns(measured, MEASURED, "diversity_tables")
    spark = measured.sparkSession
    params = kernel_params(cfg)
    frequent = tail.frequent_concepts(reference, cfg.tail.max_n, cfg.tail.min_count,
                                      partitions)
    tail_keys, splits = concurrently(
        spark,
        lambda: tail.tail_concepts(frequent, cfg.tail.min_count, cfg.tail.quantile),
        lambda: split_domains(sizes if sizes is not None
                              else measured.select("scope", "domain"),
                              cfg.diversity.split_docs))
    tail_set = spark.sparkContext.broadcast(tail_keys)
    if splits:
        log.info("%d large (scope, domain) runs measured in parts: %s", len(splits),
                 ", ".join(f"{s}/{d} x{n}" for s, d, n in splits[:10]))
    main = (main_input(measured, signatures, cfg.diversity.seed, partitions,
                       signature_keys, splits)
            .mapInArrow(kernel_fn(params, tail_set), OUTPUT_DDL)
            .persist(StorageLevel.MEMORY_AND_DISK))
    # Materialised once here: otherwise adaptive execution starts the branches that read
    # it concurrently and each recomputes the kernel pass before the cache is filled.
    main.count()
    budgets = (
        budget_input(main.where(F.col("kind") == KIND_CANDIDATE), partitions)
        .mapInArrow(kernel_fn(replace(params, mode="budgets"), tail_set), OUTPUT_DDL)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # the cross-domain rollups read only the main pass: they merge while the budgets
    # pass runs (both are small, mostly job latency), and the write reads them cached
    rollups = (rollup.rollup_metrics(main, params.precision, params.sample_size,
                                     int(spark.sparkContext.defaultParallelism))
               .select(*GROUP_COLUMNS).persist(StorageLevel.MEMORY_AND_DISK))
    concurrently(spark, budgets.count, rollups.count)
    metrics = (main.where(F.col("kind") == KIND_METRICS).unionByName(budgets)
               .where(F.col("kind") == KIND_METRICS))
    groups = metrics.select(*GROUP_COLUMNS).unionByName(rollups)
    budget_rows = metrics.where(F.col("token_budget").isNotNull())
    if signatures is None:
        log.warning("no signatures table: homogenization is left null")
    return DiversityTables(
        _finish_groups(groups),
        tail.coverage_table(budget_rows, len(tail_keys)).select(*COVERAGE_COLUMNS),
        tail.rarefaction_table(budget_rows).select(*RAREFACTION_COLUMNS),
        [main, budgets, rollups], tail_keys,
        main.where(F.col("kind") == KIND_REPLICATE).select(*REPLICATE_COLUMNS))


REPLICATE_COLUMNS = ("scope", "domain", "key", "token_budget", "raw_bytes", "compressed_bytes",
                     *[f"ngrams_{k}" for k in range(1, DISTINCT_N + 1)],
                     *[f"distinct_n_{k}" for k in range(1, DISTINCT_N + 1)], "covered")


def delta_table(spark: SparkSession, out: DiversityTables, floor: int, scope: str
                ) -> DataFrame:
    """metrics/diversity_deltas of an eras run (`deltas.delta_rows`): the budget, total
    and replicate rows are a few per (era, domain), so they are compared on the driver."""
    budget_cols = ("scope", "domain", "token_budget", *deltas.RATIO_METRICS)
    budget, coverage, totals, reps = concurrently(
        spark,
        lambda: out.diversity.where(F.col("token_budget").isNotNull())
        .select(*budget_cols).toPandas(),
        lambda: out.tail_coverage.select("scope", "domain", "token_budget", "coverage")
        .toPandas(),
        lambda: out.diversity.where(F.col("token_budget").isNull()
                                    & (F.col("month") == ALL))
        .select("scope", "domain", "n_tokens").toPandas(),
        lambda: out.replicates.toPandas())
    budget = budget.merge(coverage, on=["scope", "domain", "token_budget"], how="left")
    rows = deltas.delta_rows(budget, totals,
                             deltas.replicate_metrics(reps, len(out.tail_keys)), floor, scope)
    return spark.createDataFrame(rows, schema.DIVERSITY_DELTAS)


def ensure_readable(spark: SparkSession, cfg: Config, name: str, scope: str) -> None:
    """A table no run has written a row to yet (an empty crawl or scope) gets one
    zero-row Parquet file with the contract schema, in the partition this run owns, so
    it is a readable table, not a directory without files (a partitioned write of no
    rows writes none). A later run's rows for that partition replace it."""
    if list_partitions(spark, cfg, name, partition_col="scope"):
        return
    value = scope.replace("%", "%25").replace(":", "%3A")  # Spark's partition escaping
    empty = spark.createDataFrame([], schema.TABLE_SCHEMAS[name]).drop("scope")
    empty.coalesce(1).write.mode("overwrite").parquet(f"{cfg.table_path(name)}/scope={value}")


def run(ctx) -> None:
    cfg, spark = ctx.cfg, ctx.spark
    scope = getattr(ctx.options, "scope", None) or "eras"
    if ctx.dates:
        log.info("diversity measures every crawl date (a daily run costs a full run, "
                 "docs/ARCHITECTURE.md); --dates %s is ignored", ",".join(map(str, ctx.dates)))
    crawl = crawl_documents(spark, cfg)
    signatures = read_table(spark, cfg, "signatures") if table_exists(
        spark, cfg, "signatures") else None
    reference = crawl.where(F.col("is_reference")).select("text")
    signature_keys = sizes = None
    if scope == "eras":
        measured = crawl.select(*MEASURED)
        sizes = crawl_labels(spark, cfg)  # provenance alone: counting reads no text
        signature_keys = sizes if signatures is not None else None
    elif scope.startswith("shards:") and scope.split(":", 1)[1]:
        measured = shard_documents(spark, cfg, scope.split(":", 1)[1])
    else:
        raise InputError(f"--scope must be 'eras' or 'shards:NAME', got '{scope}'")
    out = diversity_tables(measured, reference, signatures, cfg, _partitions(spark, cfg),
                           signature_keys, sizes)
    # the eras scope owns the tail: the shards job weights documents by it
    tail_write = ([lambda: write_table(tail.tail_table(spark, out.tail_keys, cfg.tail),
                                       cfg, "tail_concepts"),
                   lambda: write_partitions(
                       delta_table(spark, out, min(cfg.diversity.token_budgets), scope), cfg,
                       "metrics/diversity_deltas", partition_col="scope",
                       sort_by=("domain", "base", "target"))]
                  if scope == "eras" else [])
    try:
        concurrently(
            spark, *tail_write,
            lambda: write_partitions(out.diversity, cfg, "metrics/diversity",
                                     partition_col="scope",
                                     sort_by=("domain", "era", "month", "token_budget")),
            lambda: write_partitions(out.tail_coverage, cfg, "metrics/tail_coverage",
                                     partition_col="scope", sort_by=("domain", "token_budget")),
            lambda: write_partitions(out.rarefaction, cfg, "metrics/rarefaction",
                                     partition_col="scope", sort_by=("domain", "token_budget")))
    finally:
        out.release()
    owned = "pre_ai" if scope == "eras" else scope
    for name in ("metrics/diversity", "metrics/tail_coverage", "metrics/rarefaction"):
        ensure_readable(spark, cfg, name, owned)
    if scope == "eras":
        ensure_readable(spark, cfg, "metrics/diversity_deltas", scope)
    log.info("diversity: wrote metrics/diversity, metrics/tail_coverage, metrics/rarefaction%s "
             "for scope %s", ", tail_concepts" if tail_write else "", scope)
