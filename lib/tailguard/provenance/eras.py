"""Eras: was a document's text already on the web before generative AI?

A page crawled after the cutoff (the first post-AI day, ChatGPT's public release by
default) whose near-duplicate cluster was first seen before the cutoff is `attested`:
its text predates the cutoff even though this copy does not. Everything crawled before the
cutoff is `pre_ai`; a post-cutoff copy of text first seen on or after the cutoff is
`post_ai`. The cutoff day itself is post-AI.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.schema import require_columns

PRE_AI, ATTESTED, POST_AI = "pre_ai", "attested", "post_ai"


def era_column(crawl_date: Column, first_seen: Column, cutoff: dt.date) -> Column:
    """pre_ai if crawl_date < cutoff; attested if first_seen < cutoff; else post_ai."""
    limit = F.lit(cutoff)
    return (
        F.when(crawl_date < limit, F.lit(PRE_AI))
        .when(first_seen < limit, F.lit(ATTESTED))
        .otherwise(F.lit(POST_AI))
    )


def with_era(df: DataFrame, cutoff: dt.date) -> DataFrame:
    """Add `era` from each row's own crawl_date and its cluster's first_seen."""
    require_columns(df, ["crawl_date", "first_seen"], "with_era")
    return df.withColumn("era", era_column(F.col("crawl_date"), F.col("first_seen"), cutoff))
