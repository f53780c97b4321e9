"""Connected components of the duplicate graph in Spark: the alternating large-star /
small-star algorithm of Kiveris et al., "Connected Components in MapReduce and Beyond"
(SoCC 2014). It converges in O(log^2 n) rounds on any graph (a chain of near-duplicates
included), where plain min-label propagation needs as many rounds as the graph's diameter.

Each round's edges are `localCheckpoint`-ed so the lineage (and the plan) stays one round
deep; the checkpoint is filled by the round's convergence check, which is the first job
to read it. The result is a star forest whose centres are the component minima.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.errors import TailguardError
from tailguard.schema import require_columns
from tailguard.session import checkpoint

log = logging.getLogger(__name__)


class ComponentsNotConverged(TailguardError):
    """Raised when the components did not settle within dedup.max_iterations rounds."""


def _normalise(edges: DataFrame) -> DataFrame:
    """Undirected edges as (hi, lo) with hi > lo, each once, self-loops dropped."""
    return (
        edges.select(F.greatest("src", "dst").alias("hi"), F.least("src", "dst").alias("lo"))
        .where(F.col("hi") != F.col("lo"))
        .distinct()
    )


def _large_star(edges: DataFrame) -> DataFrame:
    """Connect every larger neighbour of u to the minimum of u's closed neighbourhood."""
    both = edges.select(F.col("hi").alias("u"), F.col("lo").alias("v")).unionByName(
        edges.select(F.col("lo").alias("u"), F.col("hi").alias("v")))
    least = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return _normalise(
        both.where(F.col("v") > F.col("u")).join(least, on="u", how="inner")
        .select(F.col("v").alias("src"), F.col("m").alias("dst")))


def _small_star(edges: DataFrame) -> DataFrame:
    """Connect u and its smaller neighbours to the minimum of them."""
    least = edges.groupBy("hi").agg(F.min("lo").alias("m"))
    joined = edges.join(least, on="hi", how="inner")
    return _normalise(
        joined.select(F.col("lo").alias("src"), F.col("m").alias("dst")).unionByName(
            joined.select(F.col("hi").alias("src"), F.col("m").alias("dst"))))


def _is_star_forest(edges: DataFrame) -> bool:
    """Every node has at most one (smaller) parent and no parent has a parent itself.

    One aggregation over the nodes' roles (the edges are distinct, so counting parents
    needs no count_distinct) and a job that stops at the first offending node.
    """
    roles = edges.select(F.col("hi").alias("node"), F.lit(1).alias("parents"),
                         F.lit(False).alias("is_parent")).unionByName(
        edges.select(F.col("lo").alias("node"), F.lit(0).alias("parents"),
                     F.lit(True).alias("is_parent")))
    bad = (
        roles.groupBy("node")
        .agg(F.sum("parents").alias("parents"), F.max("is_parent").alias("is_parent"))
        .where((F.col("parents") > 1) | ((F.col("parents") == 1) & F.col("is_parent")))
    )
    return bad.limit(1).count() == 0


def _roots(stars: DataFrame) -> DataFrame:
    return (
        stars.select(F.col("hi").alias("doc_id"), F.col("lo").alias("root"))
        .unionByName(stars.select(F.col("lo").alias("doc_id"), F.col("lo").alias("root")))
        .distinct()
    )


def connected_components(edges: DataFrame, max_iterations: int) -> DataFrame:
    """(doc_id, root) for every node that has an edge; root = the component's minimum id.

    Raises ComponentsNotConverged when `max_iterations` rounds do not reach a star forest.
    """
    require_columns(edges, ["src", "dst"], "connected_components")
    # Lazy checkpoints: each round's edges are computed (and kept) by the job that checks
    # them, one job per round instead of a checkpoint job plus a check job.
    current = checkpoint(_normalise(edges), eager=False)
    for rounds in range(max_iterations + 1):
        if _is_star_forest(current):
            log.info("connected components converged after %d rounds", rounds)
            return _roots(current)
        if rounds < max_iterations:
            current = checkpoint(_small_star(_large_star(current)), eager=False)
    raise ComponentsNotConverged(
        f"connected components did not converge in {max_iterations} rounds "
        "(dedup.max_iterations); raise it or inspect the lsh_edges table for a hub")
