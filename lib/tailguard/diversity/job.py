"""`tailguard diversity [--scope eras|shards:NAME]`: n-gram diversity, tail coverage, rarefaction.

Stages (each a small function): load the scope's documents -> one kernel pass over all
text (HLL registers, word counts, reference concept counts, compressed sizes, tokens per
document) merged by one aggregation -> rollups and estimates for the full groups ->
seeded budget subsamples -> a second kernel pass over the subsamples only -> tail set,
coverage, rarefaction -> homogenization from the provenance MinHash signatures -> write.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard.config import Config
from tailguard.diversity import sampling, sketch, tail
from tailguard.diversity.kernel import INPUT_COLUMNS, KIND_CONCEPT, KIND_DOC, KernelParams
from tailguard.diversity.sketch import ALL, LABELS
from tailguard.errors import InputError
from tailguard.io.tables import path_exists, read_table, table_exists, write_partitions
from tailguard.schema import ERAS, require_columns

log = logging.getLogger(__name__)

UNMEASURED_GID = -1  # reference-only documents (shard scope): concepts counted, no metrics
MEASURED = ("doc_id", "crawl_date", "scope", "domain", "era", "month", "text", "is_reference")
DIVERSITY_COLUMNS = (
    *LABELS, "n_docs", "n_tokens", *[f"distinct_n_{k}" for k in range(1, 5)],
    *[f"distinct_ratio_n_{k}" for k in range(1, 5)], "distinct_ratio_sum",
    "entropy_unigram", "compression_ratio", "homogenization", "homogenization_sample")
COVERAGE_COLUMNS = ("scope", "domain", "token_budget", "n_tokens", "tail_concepts",
                    "covered", "coverage")
RAREFACTION_COLUMNS = ("scope", "domain", "token_budget", "n_tokens", "distinct_concepts",
                       "concept_occurrences", "f1", "f2", "good_turing_missing_mass", "chao1")


def kernel_params(cfg: Config) -> KernelParams:
    return KernelParams(precision=cfg.diversity.hll_precision, concept_max_n=cfg.tail.max_n,
                        chunk_bytes=cfg.diversity.compression_chunk_bytes,
                        level=cfg.diversity.compression_level,
                        max_open_groups=cfg.diversity.max_open_groups)


def crawl_documents(spark: SparkSession, cfg: Config) -> DataFrame:
    """docs joined with their era; reference = canonical pre_ai / attested documents."""
    docs = read_table(spark, cfg, "docs").select("doc_id", "domain", "crawl_date", "text")
    prov = read_table(spark, cfg, "provenance").select("doc_id", "crawl_date", "era",
                                                       "is_canonical")
    return (
        docs.join(prov, on=["doc_id", "crawl_date"], how="inner")
        .select("doc_id", "crawl_date", F.col("era").alias("scope"), "domain", "era",
                F.date_format("crawl_date", "yyyy-MM").alias("month"), "text",
                (F.col("era").isin("pre_ai", "attested") & F.col("is_canonical"))
                .alias("is_reference"))
    )


def shard_documents(spark: SparkSession, cfg: Config, name: str) -> DataFrame:
    path = cfg.table_path(f"shards/{name}")
    if not path_exists(spark, path):
        raise InputError(f"shard set '{name}' not found at {path}: run the shards job first")
    shards = spark.read.parquet(f"{path}/part-*.parquet")
    require_columns(shards, ("doc_id", "domain", "era", "crawl_date", "text"), f"shards/{name}")
    return shards.select("doc_id", "crawl_date", F.lit(f"shards:{name}").alias("scope"),
                         "domain", "era",
                         F.date_format("crawl_date", "yyyy-MM").alias("month"), "text",
                         F.lit(False).alias("is_reference"))


def order_key(seed: int) -> F.Column:
    """Seeded 64-bit key of one crawled document: (doc_id, crawl_date) is the unique key
    (a page re-crawled unchanged keeps its doc_id). Orders the seeded samples."""
    return F.xxhash64("doc_id", F.col("crawl_date").cast("string"), F.lit(seed))


def _with_keys(measured: DataFrame, seed: int) -> DataFrame:
    return (
        measured.withColumn("token_budget", F.lit(None).cast("long"))
        .withColumn("gid", sketch.label_gid())
        .withColumn("okey", order_key(seed))
        .withColumn("concept_gid", F.when(F.col("is_reference"),
                                          F.lit(tail.REFERENCE_GID).cast("long")))
    )


def _full_groups(partials: sketch.Partials, labels: DataFrame, precision: int):
    """Metrics of every (domain, era, month) group and its rollups; also gid -> parent."""
    parents = sketch.rollup_parents(labels)
    measured = F.col("gid") != UNMEASURED_GID
    counts = sketch.rollup_counts(
        partials.counts.where(measured & (F.col("kind") != KIND_CONCEPT)), parents)
    estimates = sketch.merge_registers(partials.registers.where(measured), parents, precision)
    parent_labels = parents.select(F.col("parent_gid").alias("gid"), *LABELS).distinct()
    metrics = sketch.group_metrics(counts, estimates).join(parent_labels, "gid", "inner")
    return metrics, parents


def _budget_labels(members: DataFrame) -> DataFrame:
    """Budget subsample groups: era = scope for eras, `__all__` for a shard set."""
    era = F.when(F.col("scope").isin(*ERAS), F.col("scope")).otherwise(F.lit(ALL))
    return (members.withColumn("era", era).withColumn("month", F.lit(ALL))
            .withColumn("gid", sketch.label_gid()))


def _budget_pass(keyed, partials: sketch.Partials, labels, cfg: Config,
                 params: KernelParams):
    """Seeded budget subsamples of (scope, domain) and (scope, __all__), then the kernel."""
    docs = (partials.counts.where(F.col("kind") == KIND_DOC)
            .select("gid", F.col("key").alias("okey"), F.col("vsum").alias("tokens"))
            .join(labels.select("gid", "scope", "domain"), "gid", "inner"))
    doc_rows = docs.select("scope", "domain", "okey", "tokens").unionByName(
        docs.select("scope", F.lit(ALL).alias("domain"), "okey", "tokens"))
    members = _budget_labels(sampling.budget_members(doc_rows, cfg.diversity.token_budgets))
    kernel_input = (keyed.select("okey", "text")
                    .join(members.select("okey", "gid"), "okey", "inner")
                    .withColumn("concept_gid", F.col("gid")))
    budget = sketch.sketch_partials(kernel_input, params)
    budget_labels = members.select("gid", *LABELS).distinct()
    estimates = sketch.merge_registers(budget.registers, None, params.precision)
    metrics = sketch.group_metrics(budget.counts, estimates).join(budget_labels, "gid", "inner")
    return budget, metrics, members.select("gid", "okey")


def _homogenization(signatures: DataFrame | None, members: DataFrame, k: int, seed: int):
    if signatures is None:
        log.warning("no signatures table: homogenization is left null")
        return None
    keyed = signatures.select(order_key(seed).alias("okey"), "signature")
    return sampling.homogenization(members, keyed, k)


@dataclass
class DiversityTables:
    diversity: DataFrame
    tail_coverage: DataFrame
    rarefaction: DataFrame
    cached: list[DataFrame]  # persisted intermediates: `release()` after writing

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()


def diversity_tables(measured: DataFrame, reference: DataFrame | None,
                     signatures: DataFrame | None, cfg: Config) -> DiversityTables:
    """The three tables from documents (MEASURED columns), an optional extra reference
    (doc_id, crawl_date, text: human text not itself measured) and MinHash signatures
    (doc_id, crawl_date, signature)."""
    require_columns(measured, MEASURED, "diversity_tables")
    params, seed = kernel_params(cfg), cfg.diversity.seed
    keyed = _with_keys(measured, seed)
    kernel_input = keyed.select(*INPUT_COLUMNS)
    if reference is not None:
        kernel_input = kernel_input.unionByName(reference.select(
            F.lit(UNMEASURED_GID).cast("long").alias("gid"),
            F.lit(tail.REFERENCE_GID).cast("long").alias("concept_gid"),
            order_key(seed).alias("okey"), "text"))
    partials = sketch.sketch_partials(kernel_input, params)
    labels = keyed.select("gid", *LABELS).distinct().persist()
    full, parents = _full_groups(partials, labels, params.precision)
    budget, budget_metrics, b_members = _budget_pass(keyed, partials, labels, cfg, params)
    budget_metrics = budget_metrics.persist()
    full_members = (partials.counts.where((F.col("kind") == KIND_DOC)
                                          & (F.col("gid") != UNMEASURED_GID))
                    .select("gid", F.col("key").alias("okey"))
                    .join(parents.select("gid", "parent_gid"), "gid", "inner")
                    .select(F.col("parent_gid").alias("gid"), "okey"))
    homog = _homogenization(signatures, full_members.unionByName(b_members),
                            cfg.diversity.homogenization_sample, seed)
    metrics = full.unionByName(budget_metrics)
    if homog is None:
        metrics = (metrics.withColumn("homogenization", F.lit(None).cast("double"))
                   .withColumn("homogenization_sample", F.lit(0).cast("long")))
    else:
        metrics = metrics.join(homog, "gid", "left").withColumn(
            "homogenization_sample", F.coalesce("homogenization_sample", F.lit(0)))
    coverage, rarefaction = _tail_tables(partials, budget, budget_metrics, cfg)
    cached = [*partials.cached, *budget.cached, labels, budget_metrics]
    return DiversityTables(metrics.select(*DIVERSITY_COLUMNS), coverage, rarefaction, cached)


def _tail_tables(partials: sketch.Partials, budget: sketch.Partials, budget_metrics,
                 cfg: Config):
    tail_set, size = tail.tail_concepts(tail.reference_counts(partials.counts),
                                        cfg.tail.min_count, cfg.tail.quantile)
    concepts = (budget.counts.where(F.col("kind") == KIND_CONCEPT)
                .groupBy("gid", "key").agg(F.sum("vsum").alias("count")))
    labelled = budget_metrics.select("gid", "scope", "domain", "token_budget", "n_tokens")
    coverage = tail.tail_coverage(concepts, tail_set, size).join(labelled, "gid", "inner")
    rarefaction = tail.richness(concepts).join(labelled, "gid", "inner")
    return coverage.select(*COVERAGE_COLUMNS), rarefaction.select(*RAREFACTION_COLUMNS)


def run(ctx) -> None:
    cfg, spark = ctx.cfg, ctx.spark
    scope = getattr(ctx.options, "scope", None) or "eras"
    if ctx.dates:
        log.info("diversity always measures every crawl date; --dates is ignored")
    crawl = crawl_documents(spark, cfg)
    signatures = read_table(spark, cfg, "signatures") if table_exists(
        spark, cfg, "signatures") else None
    if scope == "eras":
        measured, reference = crawl, None
    elif scope.startswith("shards:") and scope.split(":", 1)[1]:
        measured = shard_documents(spark, cfg, scope.split(":", 1)[1])
        reference = crawl.where(F.col("is_reference")).select("doc_id", "crawl_date", "text")
    else:
        raise InputError(f"--scope must be 'eras' or 'shards:NAME', got '{scope}'")
    out = diversity_tables(measured, reference, signatures, cfg)
    try:
        write_partitions(out.diversity, cfg, "metrics/diversity", partition_col="scope",
                         sort_by=("domain", "era", "month", "token_budget"))
        write_partitions(out.tail_coverage, cfg, "metrics/tail_coverage",
                         partition_col="scope", sort_by=("domain", "token_budget"))
        write_partitions(out.rarefaction, cfg, "metrics/rarefaction", partition_col="scope",
                         sort_by=("domain", "token_budget"))
    finally:
        out.release()
    log.info("diversity: wrote metrics/diversity, metrics/tail_coverage, metrics/rarefaction "
             "for scope %s", scope)
