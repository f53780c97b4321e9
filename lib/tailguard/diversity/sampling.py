"""Seeded document samples: matched token budgets and the homogenization sample.

Both order a group's documents by `okey = xxhash64(doc_id, seed)`, which is uniform, so
"the first documents in okey order" is a seeded simple random sample that does not depend
on partitioning or file order. To avoid sorting a whole large group (the `__all__`
rollups), documents are first thinned to those with okey in the lowest fraction `f` of the
hash range, with `f` sized from the group's exact totals with a wide margin; the prefix
in okey order is the same with or without the thinning as long as it is long enough.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from tailguard.diversity.estimators import mean_pairwise_jaccard, unpack_signatures
from tailguard.schema import require_columns

log = logging.getLogger(__name__)

_TWO64 = float(2**64)


def _unit(okey: str) -> F.Column:
    """okey mapped to [0, 1): its position in the (signed) 64-bit hash range."""
    return F.col(okey).cast("double") / F.lit(_TWO64) + F.lit(0.5)


def budget_members(doc_rows: DataFrame, budgets: list[int]) -> DataFrame:
    """Documents of each (scope, domain) budget subsample, for every budget the group reaches.

    doc_rows: scope, domain, okey, tokens (one row per document and sampling group).
    A document is in the budget-B sample when the documents before it in okey order plus
    itself hold at most B tokens (whole documents, never past the budget); groups with
    fewer than B tokens in total get no sample at B, so every comparison is at equal size.
    Returns scope, domain, token_budget, okey.
    """
    require_columns(doc_rows, ("scope", "domain", "okey", "tokens"), "budget_members")
    top = max(budgets)
    group = ["scope", "domain"]
    totals = doc_rows.groupBy(*group).agg(F.sum("tokens").alias("total"),
                                          F.count(F.lit(1)).alias("docs"))
    # Expected sampled tokens are f * total; 2x margin plus 64 documents makes a short
    # prefix a ~1e-6 event (Poisson tail) while keeping the sort small.
    fraction = F.least(F.lit(1.0), 2.0 * top / F.col("total") + 64.0 / F.col("docs"))
    ordered = Window.partitionBy(*group).orderBy("okey").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    candidates = (
        doc_rows.join(totals.withColumn("f", fraction), on=group, how="inner")
        .where(_unit("okey") < F.col("f"))
        .withColumn("cum_end", F.sum("tokens").over(ordered))
    )
    budget_df = doc_rows.sparkSession.createDataFrame(
        [(int(b),) for b in sorted(set(budgets))], "token_budget long")
    return (
        candidates.crossJoin(F.broadcast(budget_df))
        .where((F.col("total") >= F.col("token_budget"))
               & (F.col("cum_end") <= F.col("token_budget")))
        .select("scope", "domain", "token_budget", "okey")
    )


def sample_per_group(members: DataFrame, k: int) -> DataFrame:
    """The first `k` documents of each gid in okey order. members: gid, okey."""
    require_columns(members, ("gid", "okey"), "sample_per_group")
    sizes = members.groupBy("gid").agg(F.count(F.lit(1)).alias("docs"))
    fraction = F.least(F.lit(1.0), (k + 4.0 * np.sqrt(k) + 16.0) / F.col("docs"))
    rank = F.row_number().over(Window.partitionBy("gid").orderBy("okey"))
    return (
        members.join(sizes.withColumn("f", fraction), on="gid", how="inner")
        .where(_unit("okey") < F.col("f"))
        .withColumn("rank", rank)
        .where(F.col("rank") <= k)
        .select("gid", "okey")
    )


def _jaccard_group(pdf: pd.DataFrame) -> pd.DataFrame:
    blobs = list(pdf["signature"])
    num_perm = len(blobs[0]) // 4
    sig = unpack_signatures([bytes(b) for b in blobs], num_perm)
    return pd.DataFrame({"gid": [pdf["gid"].iloc[0]],
                         "homogenization": [mean_pairwise_jaccard(sig)],
                         "homogenization_sample": [len(blobs)]})


def homogenization(members: DataFrame, signatures: DataFrame, k: int) -> DataFrame:
    """Mean pairwise MinHash Jaccard over a seeded sample of <= k documents per gid.

    A corpus whose documents resemble each other (templated synthetic text) has a high
    mean similarity even when no two are near-duplicates (cf. "homogenization" of LLM
    writing, Padmakumar & He 2024). signatures: okey, signature (num_perm LE uint32).
    Returns gid, homogenization, homogenization_sample.
    """
    require_columns(signatures, ("okey", "signature"), "homogenization")
    sample = sample_per_group(members, k)
    return (
        signatures.select("okey", "signature")
        .join(sample, on="okey", how="inner")
        .groupBy("gid")
        .applyInPandas(_jaccard_group,
                       "gid long, homogenization double, homogenization_sample long")
    )
