"""Connected components of the duplicate graph in Spark: the alternating large-star /
small-star algorithm of Kiveris et al., "Connected Components in MapReduce and Beyond"
(SoCC 2014). It converges in O(log^2 n) rounds on any graph (a chain of near-duplicates
included), where plain min-label propagation needs as many rounds as the graph's diameter.

Each round's edges are `localCheckpoint`-ed so the lineage (and the plan) stays one round
deep; the checkpoint is filled by the round's convergence check, which is the first job
to read it. The result is a star forest whose centres are the component minima.

The verified duplicate graph is small next to the documents (one edge per copy and band
it shares), and each round is several short Spark jobs, whose latency, not work, made up
most of the provenance job at 50k documents. So a graph of at most
`dedup.components_driver_max_edges` edges is collected (as Arrow) and solved on the driver
by union-find (Tarjan 1975: path halving, union by the smaller id, so the root is the
component minimum as above); a larger one takes the distributed rounds. Both give the same
(doc_id, root) rows.
"""

from __future__ import annotations

import logging

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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


@nb.njit(cache=True, nogil=True)
def _union_find(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The smallest node of each node's component (nodes 0..n-1, edges src[k]-dst[k])."""
    parent = np.arange(n)
    for k in range(len(src)):
        a, b = src[k], dst[k]
        while parent[a] != a:          # path halving
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    for v in range(n):                 # parents are smaller: one pass in order settles all
        parent[v] = parent[parent[v]]
    return parent


def local_components(edges: pa.Table) -> pa.Table:
    """(doc_id, root) of an edge list (src, dst strings) held in memory; root = the
    component's minimum doc_id (self-loops alone give no row)."""
    edges = edges.filter(pc.not_equal(edges["src"], edges["dst"]))
    if edges.num_rows == 0:
        return pa.table({"doc_id": pa.array([], pa.string()), "root": pa.array([], pa.string())})
    src, dst = edges["src"].combine_chunks(), edges["dst"].combine_chunks()
    nodes = pc.unique(pa.concat_arrays([src, dst])).sort()  # node codes in id order
    codes = [pc.index_in(side, value_set=nodes).to_numpy() for side in (src, dst)]
    roots = _union_find(len(nodes), codes[0].astype(np.int64), codes[1].astype(np.int64))
    return pa.table({"doc_id": nodes, "root": nodes.take(pa.array(roots))})


def connected_components(edges: DataFrame, max_iterations: int,
                         driver_max_edges: int = 0) -> DataFrame:
    """(doc_id, root) for every node that has an edge; root = the component's minimum id.

    A graph of at most `driver_max_edges` edges is solved on the driver
    (`local_components`); otherwise, raises ComponentsNotConverged when `max_iterations`
    rounds do not reach a star forest.
    """
    require_columns(edges, ["src", "dst"], "connected_components")
    if driver_max_edges > 0:
        held = edges.select("src", "dst").limit(driver_max_edges + 1).toArrow()
        if held.num_rows <= driver_max_edges:
            log.info("connected components of %d edges on the driver", held.num_rows)
            roots = local_components(held)
            spark = edges.sparkSession
            if roots.num_rows == 0:
                return spark.createDataFrame([], "doc_id string, root string")
            return spark.createDataFrame(roots)
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
