"""One crawl date of every document, written as `--dates` runs write it (write_partitions):
one bucket per date (how it was: a whole date from one task, one core) against
`output.date_buckets` buckets (a date written by many tasks). Same rows, same run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import functions as F

from bench.common import spark_cores, timed
from tailguard.io.tables import read_table, write_partitions


def bench(spark, cfg) -> list[dict]:
    cores = spark_cores(spark)
    docs = read_table(spark, cfg, "docs").withColumn(
        "crawl_date", F.lit(dt.date(2024, 1, 1))).persist()
    n = docs.count()
    rows = []
    for buckets in (1, cfg.output.date_buckets):
        run_cfg = cfg.with_overrides(f"output.date_buckets={buckets}")
        name = f"docs_one_date_{buckets}"
        result = timed(f"write_one_date_buckets_{buckets}", n,
                       lambda c=run_cfg, t=name: write_partitions(
                           docs, c, t, sort_by=("doc_id", "source_file", "lang")), cores)
        files = sorted(Path(cfg.table_path(name)).glob("crawl_date=*/*.parquet"))
        rows.append({**result.as_row(),
                     "note": f"one {n}-document date, output.date_buckets={buckets}: "
                             f"{len(files)} files written by as many tasks"})
    docs.unpersist()
    return rows
