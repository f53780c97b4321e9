"""Tail concepts of the pre-AI reference, and their coverage at matched token budgets.

Model collapse loses the tails of the distribution first (Shumailov et al. 2024, "AI
models collapse when trained on recursively generated data"): rare-but-real concepts stop
appearing. So the tail is defined once, on human reference text (`pre_ai`, plus
`attested` pages whose cluster predates the cutoff, canonical copies only so duplicated
boilerplate does not count as frequent), and every scope is asked how much of it it
still contains when given the same number of tokens.

Tail = concepts seen at least `tail.min_count` times in the reference (fewer is
indistinguishable from noise and typos) and at most the `tail.quantile` quantile of the
counts of such concepts ("at most", not "below": counts are small integers, and a strict
bound would make the tail empty whenever the quantile falls on `min_count`).
"""

from __future__ import annotations

import logging

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.diversity.estimators import chao1, good_turing_missing_mass
from tailguard.diversity.kernel import KIND_CONCEPT
from tailguard.schema import require_columns

log = logging.getLogger(__name__)

REFERENCE_GID = 0  # concept_gid of reference documents in the main kernel pass


def reference_counts(partials: DataFrame) -> DataFrame:
    """Exact concept counts of the reference: key (concept hash), count."""
    return (
        partials.where((F.col("kind") == KIND_CONCEPT) & (F.col("gid") == REFERENCE_GID))
        .groupBy("key").agg(F.sum("vsum").alias("count"))
    )


def tail_concepts(counts: DataFrame, min_count: int, quantile: float) -> tuple[DataFrame, int]:
    """The tail band of concepts: (DataFrame[key], size). One scalar goes to the driver."""
    require_columns(counts, ("key", "count"), "tail_concepts")
    eligible = counts.where(F.col("count") >= min_count)
    bound = eligible.agg(F.percentile_approx("count", quantile, 100000).alias("q")).first()
    if bound is None or bound["q"] is None:
        log.warning("no concept is seen %d times in the reference: the tail is empty",
                    min_count)
        return counts.select("key").limit(0), 0
    tail = eligible.where(F.col("count") <= bound["q"]).select("key")
    size = tail.count()
    log.info("tail: %d concepts with %d <= count <= %d", size, min_count, bound["q"])
    return tail, size


def tail_coverage(concepts: DataFrame, tail: DataFrame, tail_size: int) -> DataFrame:
    """Per gid: tail concepts present in the group's sample / tail size.

    concepts: gid, key (one row per distinct concept of the gid's sample).
    """
    require_columns(concepts, ("gid", "key"), "tail_coverage")
    covered = (concepts.join(tail, on="key", how="left_semi")
               .groupBy("gid").agg(F.count(F.lit(1)).alias("covered")))
    return (
        concepts.select("gid").distinct()
        .join(covered, on="gid", how="left")
        .select("gid", F.lit(tail_size).cast("long").alias("tail_concepts"),
                F.coalesce(F.col("covered"), F.lit(0)).cast("long").alias("covered"))
        .withColumn("coverage", F.when(F.col("tail_concepts") > 0,
                                       F.col("covered") / F.col("tail_concepts")))
    )


@F.pandas_udf(T.DoubleType())
def _chao1_udf(s_obs: pd.Series, f1: pd.Series, f2: pd.Series, n: pd.Series) -> pd.Series:
    return pd.Series(chao1(s_obs.to_numpy(), f1.to_numpy(), f2.to_numpy(), n.to_numpy()))


@F.pandas_udf(T.DoubleType())
def _good_turing_udf(f1: pd.Series, n: pd.Series) -> pd.Series:
    return pd.Series(good_turing_missing_mass(f1.to_numpy(), n.to_numpy()))


def richness(concepts: DataFrame) -> DataFrame:
    """Per gid: distinct concepts, occurrences n, f1, f2, Good–Turing f1/n and Chao1.

    concepts: gid, key, count (the concept's occurrences in the gid's sample).
    """
    require_columns(concepts, ("gid", "key", "count"), "richness")
    stats = concepts.groupBy("gid").agg(
        F.count(F.lit(1)).alias("distinct_concepts"),
        F.sum("count").alias("concept_occurrences"),
        F.sum(F.when(F.col("count") == 1, 1).otherwise(0)).alias("f1"),
        F.sum(F.when(F.col("count") == 2, 1).otherwise(0)).alias("f2"),
    )
    return stats.select(
        "gid", "distinct_concepts", "concept_occurrences",
        F.col("f1").cast("long").alias("f1"), F.col("f2").cast("long").alias("f2"),
        _good_turing_udf(F.col("f1").cast("double"), F.col("concept_occurrences").cast(
            "double")).alias("good_turing_missing_mass"),
        _chao1_udf(*[F.col(c).cast("double") for c in (
            "distinct_concepts", "f1", "f2", "concept_occurrences")]).alias("chao1"),
    )
