"""Sample first: every budget sample chosen from small rows, before any text is read.

A document's small row is (doc_id, crawl_date, scope, domain, era, month, n_words, okey,
defines_tail): provenance and `docs.n_words` (the product's one token count: words of
the normalised text, `text/tokenize.py`), no text. A budget sample is the prefix of a
seeded order (`okey`), so whether a document is in it is a running token sum over the
small rows of its group (`ladder.py` states the rule). Five ladders are chosen:

- `whole`: per (scope, domain), the nested budget samples the deltas compare;
- `month`: per (scope, domain, month), the same ladder within each month, so months
  and domains of different sizes are compared at matched budgets;
- `rep`: per (scope, domain, okey mod R), the replicate samples of the intervals;
- `all` / `all_month`: per scope and per (scope, month) across domains (domain
  `__all__`). A scope-wide sample's documents are also inside their own domain's first
  max(budget) tokens, so only those are candidates, up to the first document where some
  domain passes that bound (`with_wide_ladder`); the window never sees the whole scope.

Only the chosen documents are then tokenised (`job.measure_input`).
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tailguard.diversity.ladder import replicate_rungs
from tailguard.diversity.rows import ALL
from tailguard.schema import require_columns

SMALL = ("doc_id", "crawl_date", "scope", "domain", "era", "month", "n_words", "okey",
         "defines_tail")
ORDER = ("okey", "doc_id", "crawl_date")  # okey ties (a 64-bit collision) stay ordered
TOPS = ("whole_top", "month_top", "rep_top")
SAMPLED = ("doc_id", "crawl_date", "scope", "domain", "month", "okey", "n_words",
           "defines_tail", *TOPS)


def top_column(total: Column, budgets) -> Column:
    """Spark form of `ladder.filled_top`: the largest rung <= total, else null."""
    out = F.lit(None).cast("long")
    for b in sorted(set(budgets)):
        out = F.when(total >= b, F.lit(b).cast("long")).otherwise(out)
    return out


def with_ladder(df: DataFrame, keys: list[str], budgets, name: str) -> DataFrame:
    """`{name}_cum` (running tokens in okey order within `keys`) and `{name}_top` (the
    largest rung the group fills, on its sampled rows; null on the others)."""
    require_columns(df, ("n_words", *ORDER, *keys), "with_ladder")
    running = (Window.partitionBy(*keys).orderBy(*ORDER)
               .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    top = top_column(F.sum("n_words").over(Window.partitionBy(*keys)), budgets)
    return (df.withColumn(f"{name}_cum", F.sum("n_words").over(running))
            .withColumn(f"{name}_top", F.when(F.col(f"{name}_cum") <= top, top)))


def with_wide_ladder(df: DataFrame, keys: list[str], inner: str, budgets,
                     name: str) -> DataFrame:
    """The ladder of groups `keys` that span domains, from the domains' own running
    totals `{inner}_cum`: candidates are the documents within their domain's first
    max(budget) tokens and before the first document past that bound in any domain (the
    group's running total there already exceeds every rung), so the running sum over
    the candidates is the group's own. Returns the candidates' rows with `{name}_top`."""
    require_columns(df, ("n_words", *ORDER, *keys, f"{inner}_cum"), "with_wide_ladder")
    bound = max(budgets)
    pos = F.struct(*ORDER)
    groups = df.groupBy(*keys).agg(
        F.sum("n_words").alias("_total"),
        F.min(F.when(F.col(f"{inner}_cum") > bound, pos)).alias("_stop"))
    running = (Window.partitionBy(*keys).orderBy(*ORDER)
               .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    top = top_column(F.col("_total"), budgets)
    return (df.where(F.col(f"{inner}_cum") <= bound)
            .join(groups, on=keys, how="inner")
            .where(F.col("_stop").isNull() | (pos < F.col("_stop")))
            .withColumn(f"{name}_cum", F.sum("n_words").over(running))
            .withColumn(f"{name}_top", F.when(F.col(f"{name}_cum") <= top, top))
            .drop("_total", "_stop"))


def sampled_rows(small: DataFrame, budgets, replicates: int, replicate_max: int,
                 replicate_min: int,
                 cut: Callable[[DataFrame], DataFrame] | None = None) -> DataFrame:
    """SAMPLED rows: one per (document, run) it is sampled in: its domain's run (whole,
    month and replicate ladders) and the scope's `__all__` run (scope-wide and per-month
    ladders). A document in no sample has no row.

    The rows with their own ladders are read four times (own samples, the two
    cross-domain ladders, their candidates): `cut` (the job passes a checkpoint) is
    applied to them once, so their three windows run once and the plan that follows
    scans them instead of repeating the windows in every branch."""
    require_columns(small, SMALL, "sampled_rows")
    rungs = replicate_rungs(budgets, replicate_max, replicate_min)
    rows = (small.transform(lambda d: with_ladder(d, ["scope", "domain"], budgets, "whole"))
            .transform(lambda d: with_ladder(d, ["scope", "domain", "month"], budgets,
                                             "month")))
    if replicates > 1 and rungs:
        rows = (rows.withColumn("_rep", F.pmod("okey", F.lit(replicates)))
                .transform(lambda d: with_ladder(d, ["scope", "domain", "_rep"], rungs, "rep")))
    else:
        rows = rows.withColumn("rep_top", F.lit(None).cast("long"))
    rows = rows.select(*SMALL, "whole_cum", "month_cum", *TOPS)
    if cut is not None:
        rows = cut(rows)
    own = rows.where(F.col("whole_top").isNotNull() | F.col("month_top").isNotNull()
                     | F.col("rep_top").isNotNull())
    keys = ["doc_id", "crawl_date", "scope"]
    wide = with_wide_ladder(rows, ["scope"], "whole", budgets, "all").select(*keys, "all_top")
    wide_month = (with_wide_ladder(rows, ["scope", "month"], "month", budgets, "all_month")
                  .select(*keys, "all_month_top"))
    bound = max(budgets)
    across = (rows.where((F.col("whole_cum") <= bound) | (F.col("month_cum") <= bound))
              .join(wide, on=keys, how="left").join(wide_month, on=keys, how="left")
              .where(F.col("all_top").isNotNull() | F.col("all_month_top").isNotNull()))
    return own.select(*SAMPLED).unionByName(across.select(
        "doc_id", "crawl_date", "scope", F.lit(ALL).alias("domain"), "month", "okey",
        "n_words", "defines_tail", F.col("all_top").alias("whole_top"),
        F.col("all_month_top").alias("month_top"), F.lit(None).cast("long").alias("rep_top")))


def size_rows(small: DataFrame) -> DataFrame:
    """Documents and tokens of every whole (scope, domain, era, month) group, with
    `__all__` over domains and over months: the groups' sizes (their measures are the
    samples'). scope, domain, era, month, n_docs, n_tokens."""
    require_columns(small, ("scope", "domain", "era", "month", "n_words"), "size_rows")
    sizes = small.groupBy("scope", "domain", "era", "month").agg(
        F.count(F.lit(1)).alias("n_docs"), F.sum("n_words").alias("n_tokens"))
    out = sizes
    for domain, month in ((None, ALL), (ALL, None), (ALL, ALL)):
        labels = [F.lit(domain).alias("domain") if domain else F.col("domain"),
                  F.lit(month).alias("month") if month else F.col("month")]
        keys = ["scope", "era", "domain" if domain is None else None,
                "month" if month is None else None]
        out = out.unionByName(
            sizes.groupBy(*[k for k in keys if k])
            .agg(F.sum("n_docs").alias("n_docs"), F.sum("n_tokens").alias("n_tokens"))
            .select("scope", *labels, "era", "n_docs", "n_tokens"))
    return out.select("scope", "domain", "era", "month",
                      F.col("n_docs").cast("long"), F.col("n_tokens").cast("long"))
