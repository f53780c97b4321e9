"""Spark side of `select.py`: histograms, boundary rows and the `selected` / `sampled`
flags, all on the small per-document rows (doc_id, crawl_date, class, key, tokens).

Two samples are chosen from the same admitted pool with the same plan: the shards
(`selected`, keys from the tail-enrichment weight) and an unweighted one (`sampled`,
weight 1, same uniform draws), which the manifest measures the shards against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.schema import require_columns
from tailguard.shards.pool import KEYS, is_anchor
from tailguard.shards.select import (
    BUCKETS,
    BudgetPlan,
    Cut,
    find_cut,
    fresh_cap_after,
    plan_budget,
    prefix_within,
)

log = logging.getLogger(__name__)
SAMPLERS = {"selected": "key_weighted", "sampled": "key_uniform"}
CLASSES = ("anchor", "fresh")


def order_column(key: str) -> Column:
    """(tier, bucket) as one integer: forced documents above every sampled one."""
    bucket = F.least(F.floor(F.col(key) * F.lit(BUCKETS)), F.lit(BUCKETS - 1)).cast("long")
    return F.col("forced").cast("long") * F.lit(BUCKETS) + bucket


def with_orders(admitted: DataFrame) -> DataFrame:
    """`class` (anchor | fresh) and one order column per sampler."""
    require_columns(admitted, ("era", "forced", "n_tokens", *SAMPLERS.values()), "with_orders")
    out = admitted.withColumn("class", F.when(is_anchor(), F.lit("anchor"))
                              .otherwise(F.lit("fresh")))
    for flag, key in SAMPLERS.items():
        out = out.withColumn(f"order_{flag}", order_column(key))
    return out


def histograms(ordered: DataFrame) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(sampler, class) -> [(order, tokens)], one Spark job."""
    parts = [ordered.select(F.lit(flag).alias("sampler"), "class",
                            F.col(f"order_{flag}").alias("order"), "n_tokens")
             for flag in SAMPLERS]
    rows = (parts[0].unionByName(parts[1]).groupBy("sampler", "class", "order")
            .agg(F.sum("n_tokens").alias("tokens")).collect())
    out: dict[tuple[str, str], list[tuple[int, int]]] = {
        (flag, cls): [] for flag in SAMPLERS for cls in CLASSES}
    for r in rows:
        out[(r["sampler"], r["class"])].append((int(r["order"]), int(r["tokens"])))
    return out


def _boundary_rows(ordered: DataFrame, cls: str, cuts: dict[str, Cut]) -> dict[str, list]:
    """The rows of each sampler's boundary bucket in class `cls` (one Spark job)."""
    wanted = {flag: cut.order for flag, cut in cuts.items() if cut.order is not None}
    if not wanted:
        return {flag: [] for flag in cuts}
    condition = None
    for flag, order in wanted.items():
        term = F.col(f"order_{flag}") == F.lit(order)
        condition = term if condition is None else condition | term
    rows = (ordered.where((F.col("class") == cls) & condition)
            .select(*KEYS, "n_tokens", *SAMPLERS.values(),
                    *[f"order_{flag}" for flag in SAMPLERS]).collect())
    out = {flag: [] for flag in cuts}
    for r in rows:
        for flag, order in wanted.items():
            if r[f"order_{flag}"] == order:
                out[flag].append((float(r[SAMPLERS[flag]]), r["doc_id"], r["crawl_date"],
                                  int(r["n_tokens"])))
    return out


@dataclass(frozen=True)
class Choice:
    """One sampler's cuts and boundary picks per class, and the tokens it took."""

    cuts: dict[str, Cut]
    picks: dict[str, list[tuple[str, object]]]
    tokens: dict[str, int]


def choose(ordered: DataFrame, requested: int, ratio: float
           ) -> tuple[BudgetPlan, dict[str, Choice]]:
    """The anchor plan and, per sampler, where its anchor and fresh prefixes end."""
    hist = histograms(ordered)
    pool = {cls: sum(t for _, t in hist[("selected", cls)]) for cls in CLASSES}
    forced_anchor = sum(t for o, t in hist[("selected", "anchor")] if o >= BUCKETS)
    plan = plan_budget(requested, ratio, pool["anchor"], pool["fresh"], forced_anchor)
    if plan.message:
        log.warning("shards: %s", plan.message)
    anchor_cuts = {flag: find_cut(hist[(flag, "anchor")], plan.anchor_cap) for flag in SAMPLERS}
    anchor_rows = _boundary_rows(ordered, "anchor", anchor_cuts)
    anchor_picks, anchor_tokens = {}, {}
    for flag, cut in anchor_cuts.items():
        anchor_picks[flag], extra = prefix_within(anchor_rows[flag], cut.remaining)
        anchor_tokens[flag] = cut.above_tokens + extra
    fresh_cuts = {flag: find_cut(hist[(flag, "fresh")], fresh_cap_after(plan, anchor_tokens[flag]))
                  for flag in SAMPLERS}
    fresh_rows = _boundary_rows(ordered, "fresh", fresh_cuts)
    choices = {}
    for flag in SAMPLERS:
        picks, extra = prefix_within(fresh_rows[flag], fresh_cuts[flag].remaining)
        choices[flag] = Choice({"anchor": anchor_cuts[flag], "fresh": fresh_cuts[flag]},
                               {"anchor": anchor_picks[flag], "fresh": picks},
                               {"anchor": anchor_tokens[flag],
                                "fresh": fresh_cuts[flag].above_tokens + extra})
    return plan, choices


def _above(flag: str, cut: Cut) -> Column:
    return F.lit(True) if cut.order is None else F.col(f"order_{flag}") > F.lit(cut.order)


def with_choice(ordered: DataFrame, choices: dict[str, Choice]) -> DataFrame:
    """`selected` and `sampled` flags from the cuts and the boundary picks."""
    spark = ordered.sparkSession
    picked = [(doc_id, date, flag) for flag, choice in choices.items()
              for cls in CLASSES for doc_id, date in choice.picks[cls]]
    out = ordered
    if picked:
        picks = spark.createDataFrame(picked, "doc_id string, crawl_date date, sampler string")
        wide = (picks.groupBy(*KEYS).pivot("sampler", list(SAMPLERS)).count()
                .select(*KEYS, *[F.col(f).isNotNull().alias(f"_pick_{f}") for f in SAMPLERS]))
        out = out.join(F.broadcast(wide), on=list(KEYS), how="left")
    for flag, choice in choices.items():
        pick = (F.coalesce(F.col(f"_pick_{flag}"), F.lit(False)) if picked
                else F.lit(False))
        above = (F.when(F.col("class") == "anchor", _above(flag, choice.cuts["anchor"]))
                 .otherwise(_above(flag, choice.cuts["fresh"])))
        out = out.withColumn(flag, above | pick)
    return out.drop(*[f"_pick_{f}" for f in SAMPLERS if picked])
