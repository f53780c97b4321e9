"""write_partitions spreads one crawl date over output.date_buckets tasks (or as many as its
rows need, when the caller gives them), and the files it writes depend on the rows and the
config only, not on how the input was partitioned."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from pyspark.sql import functions as F

from tailguard.io.tables import BUCKET_ROWS, date_bucket_count, read_table, write_partitions


def _frame(spark, n: int, slices: int):
    return (spark.range(n, numPartitions=slices)
            .select(F.sha2(F.col("id").cast("string"), 256).alias("doc_id"),
                    F.lit(dt.date(2024, 1, 1)).alias("crawl_date"),
                    (F.col("id") % 7).alias("v")))


def _file_digests(root: str) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in Path(root).glob("crawl_date=*/*.parquet"))


def test_one_date_is_written_by_many_tasks_with_the_same_files(spark, make_cfg):
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    try:
        cfg = make_cfg("output.date_buckets=8")
        write_partitions(_frame(spark, 2000, 1), cfg, "a", sort_by=("doc_id",))
        write_partitions(_frame(spark, 2000, 5), cfg, "b", sort_by=("doc_id",))
        files_a = _file_digests(cfg.table_path("a"))
        assert len(files_a) == 4  # 8 buckets over 4 writer tasks: every task writes
        assert files_a == _file_digests(cfg.table_path("b"))  # input layout does not matter
        one = make_cfg("output.date_buckets=1")
        write_partitions(_frame(spark, 2000, 5), one, "c", sort_by=("doc_id",))
        assert len(_file_digests(one.table_path("c"))) == 1  # the old behaviour: one task
        rows = read_table(spark, cfg, "a").collect()
        assert len(rows) == 2000 and len({r["doc_id"] for r in rows}) == 2000
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")


def test_dates_sized_by_their_rows_get_as_many_files_as_they_need(spark, make_cfg):
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        cfg = make_cfg("output.date_buckets=16")
        small, big = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
        n_big = 2 * BUCKET_ROWS + 1
        frame = (_frame(spark, 50, 1)
                 .unionByName(_frame(spark, n_big, 3).withColumn("crawl_date", F.lit(big))))
        rows = {small: 50, big: n_big}
        write_partitions(frame, cfg, "a", sort_by=("doc_id",), rows=rows)
        write_partitions(frame.repartition(7), cfg, "b", sort_by=("doc_id",), rows=rows)
        root = Path(cfg.table_path("a"))
        assert len(list(root.glob(f"crawl_date={small}/*.parquet"))) == 1
        assert len(list(root.glob(f"crawl_date={big}/*.parquet"))) == 3
        assert _file_digests(cfg.table_path("a")) == _file_digests(cfg.table_path("b"))
        assert read_table(spark, cfg, "a").count() == 50 + n_big
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")


def test_bucket_count_grows_with_rows_up_to_the_config():
    assert date_bucket_count(0, 16) == 1
    assert date_bucket_count(BUCKET_ROWS, 16) == 1
    assert date_bucket_count(BUCKET_ROWS + 1, 16) == 2
    assert date_bucket_count(100 * BUCKET_ROWS, 16) == 16
