"""What an outside dataset would do to a training mix: how much it repeats itself, how
much of it a shard set already holds, and the tail concepts it would add to that set at a
matched token budget.

- Internal duplicates: exact (the same normalised text: content hash) and near (the
  dataset's own LSH buckets, under the stored parameters, verified by the fraction of
  equal MinHash values, then connected components, `dedup/components.py`). `redundant`
  is documents minus clusters: what deduplicating the dataset would drop.
- Shard overlap: documents whose best match in the index lies in a near-duplicate
  cluster (`provenance.cluster_id`) that has a document in `shards/NAME`.
- Tail: the crawl's tail band (`tail_concepts`, the diversity job's), looked up in the
  first B tokens of the dataset (documents in a seeded order of doc_id, exact copies
  once) and of the shard set, B the smaller of the two's tokens; `added` counts the
  dataset sample's tail concepts the whole shard set does not hold.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from tailguard.attributes.taggers import with_tail
from tailguard.audit.lookup import BUCKET, NO_DATE, StoredDedup, verify
from tailguard.dedup.components import connected_components
from tailguard.errors import InputError
from tailguard.io.tables import path_exists, read_table, table_exists


def internal_duplicates(docs: DataFrame, bands: DataFrame, sigs: DataFrame,
                        dedup: StoredDedup, cfg) -> dict[str, int]:
    """{documents, exact_duplicates, near_duplicate_documents, clusters, redundant}."""
    n = docs.count()
    distinct = docs.select("content_hash").distinct().count()
    pairs = bucket_pairs(bands.where(F.col("band") >= 0).join(
        _representatives(docs), on="rid", how="left_semi"), dedup.max_bucket_size)
    other = sigs.select(F.col("rid").cast("string").alias("doc_id"),
                        F.lit(NO_DATE).alias("crawl_date"), "signature")
    near = verify(pairs, sigs, other, dedup).select(
        F.col("rid").cast("string").alias("src"), F.col("doc_id").alias("dst"))
    same = (docs.select("rid", "content_hash")
            .withColumn("first", F.min("rid").over(Window.partitionBy("content_hash")))
            .where(F.col("rid") != F.col("first"))
            .select(F.col("first").cast("string").alias("src"),
                    F.col("rid").cast("string").alias("dst")))
    roots = connected_components(near.unionByName(same), cfg.dedup.max_iterations,
                                 cfg.dedup.components_driver_max_edges)
    grouped = roots.agg(F.count(F.lit(1)).alias("docs"),
                        F.countDistinct("root").alias("clusters")).first()
    in_groups, groups = int(grouped["docs"] or 0), int(grouped["clusters"] or 0)
    return {"documents": n, "exact_duplicates": n - distinct,
            "near_duplicate_documents": in_groups, "clusters": n - in_groups + groups,
            "redundant": in_groups - groups}


def _representatives(docs: DataFrame) -> DataFrame:
    """One rid per content hash (its smallest): exact copies are counted apart."""
    return docs.groupBy("content_hash").agg(F.min("rid").alias("rid")).select("rid")


def bucket_pairs(bands: DataFrame, max_bucket_size: int) -> DataFrame:
    """(rid, doc_id (the other rid, a string), crawl_date null, exact 0) candidate pairs
    of the dataset's own buckets: all pairs of a bucket of at most `max_bucket_size`
    members, else the star from its smallest member (provenance's rule)."""
    bucket = Window.partitionBy(*BUCKET)
    rows = (bands.select("rid", *BUCKET)
            .withColumn("size", F.count(F.lit(1)).over(bucket))
            .withColumn("first", F.min("rid").over(bucket))
            .where(F.col("size") > 1))
    small = rows.where(F.col("size") <= max_bucket_size).select("rid", *BUCKET)
    pairs = (small.alias("a").join(small.alias("b"), on=BUCKET, how="inner")
             .where(F.col("a.rid") < F.col("b.rid"))
             .select(F.col("a.rid").alias("rid"), F.col("b.rid").alias("other")))
    star = (rows.where((F.col("size") > max_bucket_size) & (F.col("rid") != F.col("first")))
            .select(F.col("first").alias("rid"), F.col("rid").alias("other")))
    return (pairs.unionByName(star).distinct()
            .select("rid", F.col("other").cast("string").alias("doc_id"),
                    F.lit(NO_DATE).alias("crawl_date"), F.lit(0).alias("exact")))


def shard_documents(spark: SparkSession, cfg, name: str) -> DataFrame:
    path = cfg.table_path(f"shards/{name}")
    if not path_exists(spark, path):
        raise InputError(f"shard set '{name}' not found at {path}: run `tailguard shards` "
                         "or leave out --shards")
    return spark.read.parquet(f"{path}/part-*.parquet")


def shard_overlap(matched: DataFrame, shards: DataFrame, provenance: DataFrame) -> int:
    """Documents whose best match's cluster holds a document of the shard set."""
    keys = ["doc_id", "crawl_date"]
    clusters = (shards.select(*keys).join(provenance.select(*keys, "cluster_id"), keys,
                                          how="inner").select("cluster_id").distinct())
    return (matched.where(F.col("match_doc_id").isNotNull())
            .join(provenance.select(F.col("doc_id").alias("match_doc_id"),
                                    F.col("crawl_date").alias("match_crawl_date"),
                                    "cluster_id"),
                  on=["match_doc_id", "match_crawl_date"], how="inner")
            .join(clusters, on="cluster_id", how="left_semi").count())


def _budget_prefix(rows: DataFrame, budget: int, seed: int) -> DataFrame:
    """The documents of a seeded order of doc_id whose running n_words stays within
    `budget` (one window over small rows; the text joined back after)."""
    order = Window.orderBy(F.xxhash64("doc_id", F.lit(seed)), "doc_id").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    return (rows.withColumn("running", F.sum("n_words").over(order))
            .where(F.col("running") <= F.lit(budget)).drop("running"))


def _tail_ids(docs: DataFrame, band_broadcast, max_n: int) -> set[int]:
    rows = (with_tail(docs.select("doc_id", F.lit(NO_DATE).alias("crawl_date"),
                                  "text"), band_broadcast, max_n)
            .select(F.explode("tail_ids").alias("i")).distinct().collect())
    return {int(r.i) for r in rows}


def tail_added(spark: SparkSession, cfg, docs: DataFrame, shards: DataFrame) -> dict | None:
    """{token_budget, dataset_tail, shard_tail, added}; None without a tail band."""
    from tailguard.attributes.job import read_band

    band = read_band(spark, cfg)
    if band is None:
        return None
    shard_docs = (shards.select("doc_id", "crawl_date", "text")
                  .join(read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "n_words"),
                        ["doc_id", "crawl_date"], "inner")
                  .select("doc_id", "text", "n_words"))
    mine = docs.dropDuplicates(["content_hash"]).select(
        F.col("doc_id"), "text", F.coalesce("n_words", F.lit(0)).cast("long").alias("n_words"))
    total_mine = mine.agg(F.sum("n_words")).first()[0] or 0
    total_shards = shard_docs.agg(F.sum("n_words")).first()[0] or 0
    budget = int(min(total_mine, total_shards))
    shared = spark.sparkContext.broadcast(band)
    seed, max_n = cfg.shards.seed, cfg.tail.max_n
    sample_mine = _tail_ids(_budget_prefix(mine, budget, seed), shared, max_n)
    sample_shards = _tail_ids(_budget_prefix(shard_docs.select("doc_id", "text", "n_words"),
                                             budget, seed), shared, max_n)
    whole_shards = _tail_ids(shard_docs, shared, max_n)
    return {"token_budget": budget, "tail_size": int(len(band)),
            "dataset_tail": len(sample_mine), "shard_tail": len(sample_shards),
            "added": len(sample_mine - whole_shards)}


def shards_figures(spark: SparkSession, cfg, name: str, docs: DataFrame, matched: DataFrame
                   ) -> dict:
    """{name, overlap, tail} of a shard set."""
    shards = shard_documents(spark, cfg, name)
    overlap = shard_overlap(matched, shards, read_table(spark, cfg, "provenance"))
    tail = tail_added(spark, cfg, docs, shards) if table_exists(spark, cfg, "tail_concepts") \
        else None
    return {"name": name, "overlap": overlap, "tail": tail}
