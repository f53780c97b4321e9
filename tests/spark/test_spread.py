"""Balanced buckets, one partition each (tailguard.share.spread)."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from tailguard.share import spread


def test_bucket_b_lands_in_partition_b(spark):
    for n in (1, 2, 5, 12):
        df = spark.range(0, 200).withColumn("bucket", (F.col("id") % n).cast("int"))
        parts = (spread.repartition_by_bucket(df, "bucket", n)
                 .select("bucket", F.spark_partition_id().alias("p")).distinct().collect())
        assert sorted((r["bucket"], r["p"]) for r in parts) == [(b, b) for b in range(n)]


def test_by_site_equals_a_per_site_apply_whatever_the_buckets(spark):
    rows = [(f"s{i % 7}", float(i)) for i in range(140)] + [("empty.com", None)]
    df = spark.createDataFrame(rows, "domain string, x double").repartition(3)
    sizes = {f"s{i}": 20 + i for i in range(7)} | {"empty.com": 1}

    def total(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"domain": [frame.domain.iloc[0]], "n": [len(frame)],
                             "total": [float(frame.x.fillna(0).sum())]})

    schema = "domain string, n long, total double"
    want = df.groupBy("domain").applyInPandas(total, schema).toPandas()
    for buckets in (1, 3, 16):
        got = spread.by_site(df, "domain", sizes, buckets, total, schema).toPandas()
        pd.testing.assert_frame_equal(got.sort_values("domain", ignore_index=True),
                                      want.sort_values("domain", ignore_index=True))
