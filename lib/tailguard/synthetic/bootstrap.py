"""Poisson-bootstrap sums per group: every estimator as a Spark aggregation.

Each document carries, per replicate r = 1..B, a Poisson(1) weight drawn from
xxhash64(doc_id, r, seed) (replicate 0 is the sample itself, weight 1). Every estimator is
a function of weighted sums over a group's documents:
  n = sum w, n_pred = sum w [p >= threshold], sum_p = sum w p,
  ll_j = sum w log((1 - a_j) + a_j exp(L_d))   for the MLE alpha grid a_j,
so all replicates of all groups come out of one groupBy, and the sums of small groups
(domain x month) roll up into large ones (domain, `__all__`) by adding. Documents drawn
zero times are dropped before aggregating (about 37% of rows).
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.schema import require_columns
from tailguard.synthetic.estimators import alpha_grid, poisson_cdf_thresholds

ALL_DOMAINS = "__all__"
SUM_COLUMNS = ("n", "n_pred", "sum_p")


def ll_columns(points: int) -> list[str]:
    return [f"ll_{j}" for j in range(points)]


def with_loglik_terms(df: DataFrame, points: int) -> DataFrame:
    """Add ll_j = log((1 - a_j) + a_j exp(log_ratio)) per document, once, before replicating.

    Evaluated as max(x, y) + log1p(exp(-|x - y|)) with x = log(1 - a), y = log(a) + L, a
    log-sum-exp that stays finite for the large ratios word-occurrence models produce.
    """
    require_columns(df, ["log_ratio"], "with_loglik_terms")
    lr = F.coalesce(F.col("log_ratio"), F.lit(0.0))
    terms = []
    for j, a in enumerate(alpha_grid(points)):
        if a == 0.0:
            term = F.lit(0.0)
        elif a == 1.0:
            term = lr
        else:
            x, y = F.lit(math.log1p(-a)), F.lit(math.log(a)) + lr
            term = F.greatest(x, y) + F.log1p(F.exp(-F.abs(x - y)))
        terms.append(term.alias(f"ll_{j}"))
    return df.select("*", *terms)


def explode_replicates(df: DataFrame, replicates: int, seed: int) -> DataFrame:
    """One row per (document, replicate) with weight w > 0; r = 0 is the sample itself."""
    require_columns(df, ["doc_id"], "explode_replicates")
    r = F.col("r")
    bits = F.xxhash64(F.col("doc_id"), r, F.lit(seed)).bitwiseAND(F.lit((1 << 53) - 1))
    uniform = bits.cast("double") / float(1 << 53)
    poisson = sum((uniform >= F.lit(t)).cast("int") for t in poisson_cdf_thresholds())
    return (df.withColumn("r", F.explode(F.sequence(F.lit(0), F.lit(replicates))))
            .withColumn("w", F.when(r == 0, F.lit(1)).otherwise(poisson).cast("double"))
            .where(F.col("w") > 0))


def sum_replicates(df: DataFrame, keys: list[str], points: int) -> DataFrame:
    """Weighted sums per (keys, r) from exploded rows (pred, p_synthetic, ll_j, w)."""
    require_columns(df, [*keys, "r", "w", "pred", "p_synthetic"], "sum_replicates")
    w = F.col("w")
    aggs = [F.sum(w).alias("n"), F.sum(w * F.col("pred").cast("double")).alias("n_pred"),
            F.sum(w * F.col("p_synthetic")).alias("sum_p")]
    aggs += [F.sum(w * F.col(c)).alias(c) for c in ll_columns(points)]
    return df.groupBy(*keys, "r").agg(*aggs)


def roll_up(sums: DataFrame, keys: list[str], points: int,
            all_label: dict[str, str] | None = None) -> DataFrame:
    """Add up finer sums to `keys`; `all_label` fills dropped key columns with constants."""
    cols = [*SUM_COLUMNS, *ll_columns(points)]
    out = sums.groupBy(*keys, "r").agg(*[F.sum(c).alias(c) for c in cols])
    for name, value in (all_label or {}).items():
        out = out.withColumn(name, F.lit(value))
    return out
