"""Cluster attributes of every document from the components of the duplicate graph.

A document absent from the graph is its own cluster. Within a cluster the canonical copy
is the earliest (crawl_date, doc_id); its doc_id names the cluster, so a cluster keeps its
id when later crawls join it. A re-crawl of an unchanged page may repeat a doc_id on a
later date: the date is part of the copy's identity here, so only the earliest row is
canonical. dup_kind: `none` for a singleton, `exact` when another copy of the cluster
has the same content_hash, `near` otherwise.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from tailguard.schema import require_columns

CLUSTER_COLUMNS = ("doc_id", "content_hash", "cluster_id", "first_seen", "is_canonical",
                   "dup_kind", "crawl_date", "domain")


def with_cluster_columns(docs: DataFrame, roots: DataFrame) -> DataFrame:
    """docs (doc_id, content_hash, crawl_date, domain) + cluster_id, first_seen,
    is_canonical, dup_kind, given component roots (doc_id, root)."""
    require_columns(docs, ["doc_id", "content_hash", "crawl_date", "domain"],
                    "with_cluster_columns")
    require_columns(roots, ["doc_id", "root"], "with_cluster_columns")
    cluster = Window.partitionBy("component")
    same_text = Window.partitionBy("component", "content_hash")
    canonical = F.min(F.struct("crawl_date", "doc_id")).over(cluster)
    return (
        docs.select("doc_id", "content_hash", "crawl_date", "domain")
        .join(roots, on="doc_id", how="left")
        .withColumn("component", F.coalesce("root", "doc_id"))
        .withColumn("canonical", canonical)
        .withColumn("copies", F.count(F.lit(1)).over(cluster))
        .withColumn("same_text", F.count(F.lit(1)).over(same_text))
        .select(
            "doc_id", "content_hash",
            F.col("canonical.doc_id").alias("cluster_id"),
            F.col("canonical.crawl_date").alias("first_seen"),
            ((F.col("doc_id") == F.col("canonical.doc_id"))
             & (F.col("crawl_date") == F.col("canonical.crawl_date"))).alias("is_canonical"),
            F.when(F.col("copies") == 1, F.lit("none"))
            .when(F.col("same_text") > 1, F.lit("exact"))
            .otherwise(F.lit("near")).alias("dup_kind"),
            "crawl_date", "domain",
        )
    )
