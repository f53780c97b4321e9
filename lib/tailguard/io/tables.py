"""Reading and atomically writing the tables under `output.root`.

Two write modes, both safe to re-run after a crash:
- `write_table`: the whole table is written to a staging directory, then swapped in by
  rename (Hadoop FileSystem, so it works on local disk, HDFS and object stores with
  atomic directory rename).
- `write_partitions`: only the `crawl_date` partitions present in the frame are replaced
  (Spark's dynamic partition overwrite, which itself stages and renames), so an
  incremental run for one date never touches the others.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard import schema
from tailguard.config import Config
from tailguard.errors import InputError


def _fs_and_path(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, hadoop_path, jvm


def path_exists(spark: SparkSession, path: str) -> bool:
    fs, hadoop_path, _ = _fs_and_path(spark, path)
    return bool(fs.exists(hadoop_path))


def table_exists(spark: SparkSession, cfg: Config, name: str) -> bool:
    return path_exists(spark, cfg.table_path(name))


def table_bytes(spark: SparkSession, cfg: Config, name: str) -> int:
    """Bytes a table takes on its file system (0 when absent): sizes partitioning and
    broadcast decisions without reading a row."""
    fs, hadoop_path, _ = _fs_and_path(spark, cfg.table_path(name))
    if not fs.exists(hadoop_path):
        return 0
    return int(fs.getContentSummary(hadoop_path).getLength())


def read_table(
    spark: SparkSession, cfg: Config, name: str, dates: Iterable[dt.date] | None = None
) -> DataFrame:
    """Read a table; with `dates`, only those crawl_date partitions (pruned at planning).

    Contract tables come back with their declared columns, in order, and never read a
    column their files lack as nulls: the files' schema (a footer, as Spark infers it, and
    the partition directories) is checked against the contract first. A column of another
    type fails here; a missing one fails the moment a job uses it (a Spark error naming
    table and column), so a job that does not need it still runs. A table that exists but
    holds no data file (e.g. `quarantine` after a clean run) reads as an empty frame.
    """
    path = cfg.table_path(name)
    if not path_exists(spark, path):
        raise InputError(f"table '{name}' not found at {path}: run the job that writes it first")
    known = schema.TABLE_SCHEMAS.get(name)
    if known is None:
        df = spark.read.parquet(path)
    else:
        present = _checked_fields(spark, name, path, known)
        if present is None:  # no data file: the contract's columns, no rows
            df = spark.read.schema(known).parquet(path).select(*known.fieldNames())
        else:
            base = spark.read.schema(T.StructType([known[c] for c in present])).parquet(path)
            df = base.select(*[
                F.col(f.name) if f.name in present else F.raise_error(
                    F.lit(f"table '{name}' at {path} has no column '{f.name}' (its files "
                          f"hold {sorted(present)}): re-run the job that writes it")
                ).cast(f.dataType).alias(f.name)
                for f in known.fields])
    if dates is not None:
        wanted = sorted(set(dates))
        df = df.where(F.col("crawl_date").isin(wanted))
    return df


# Where Spark's Parquet writer stores the frame's schema (JSON) in every file footer.
SPARK_SCHEMA_KEY = "org.apache.spark.sql.parquet.row.metadata"


def _first_data_file(spark: SparkSession, path: str) -> tuple[str, object] | None:
    """(path relative to the table, Hadoop Path) of the first data file found under
    `path`, skipping hidden and `_`-prefixed entries as Spark does; None when there is
    none. The listing is lazy: it stops at the first file."""
    fs, hadoop_path, _ = _fs_and_path(spark, path)
    files = fs.listFiles(hadoop_path, True)
    root = path.rstrip("/")
    while files.hasNext():
        found = files.next().getPath()
        text = found.toString()
        relative = text[text.find(root) + len(root):]
        if not any(part.startswith(("_", ".")) for part in relative.split("/") if part):
            return relative, found
    return None


def _file_schema(spark: SparkSession, path: str) -> tuple[str, T.StructType] | None:
    """(relative path, schema) of one data file of a table, read from its footer on the
    driver (no Spark job, no listing of every partition); falls back to Spark's own
    inference for files another writer made. None when the table has no data file."""
    first = _first_data_file(spark, path)
    if first is None:
        return None
    relative, hadoop_file = first
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(conf, hadoop_file)
    stored = footer.getFileMetaData().getKeyValueMetaData().get(SPARK_SCHEMA_KEY)
    if stored:
        return relative, T.StructType.fromJson(json.loads(stored))
    try:
        return relative, spark.read.parquet(path).schema
    except AnalysisException:  # Spark cannot infer a schema: there is no data file
        return None


def _checked_fields(spark: SparkSession, name: str, path: str,
                    known: T.StructType) -> set[str] | None:
    """Contract columns the table's files hold (None when it has no data file); a column
    whose file type differs from the contract is an InputError."""
    found = _file_schema(spark, path)
    if found is None:
        return None
    relative, file_schema = found
    partitions = {part.split("=", 1)[0] for part in relative.split("/")[:-1] if "=" in part}
    got = {f.name: f.dataType for f in file_schema.fields}
    got.update({column: None for column in partitions if column not in got})
    wrong = [f"{f.name} is {got[f.name].simpleString()}, not {f.dataType.simpleString()}"
             for f in known.fields
             if f.name in got and f.name not in partitions and got[f.name] != f.dataType]
    if wrong:
        raise InputError(f"table '{name}' at {path} does not match its contract: "
                         + "; ".join(wrong))
    return {f.name for f in known.fields if f.name in got}


def write_table(df: DataFrame, cfg: Config, name: str, partition_by: str | None = None,
                sort_by: Iterable[str] = ()) -> None:
    """Write a whole table to staging, then swap it in by rename."""
    spark = df.sparkSession
    target = cfg.table_path(name)
    staging = cfg.table_path(f"_staging/{name.replace('/', '__')}-{uuid.uuid4().hex}")
    writer_df = df.sortWithinPartitions(*sort_by) if sort_by else df
    writer = writer_df.write.mode("overwrite").option("compression", "zstd")
    if partition_by:
        writer = writer.partitionBy(partition_by)
    writer.parquet(staging)
    _swap_in(spark, staging, target)
    _forget_listings(spark, target)


def _forget_listings(spark: SparkSession, path: str) -> None:
    """A table was replaced: any DataFrame still cached in this session that reads it
    (a persisted frame of an earlier job) holds the old file list, and would fail with
    FILE_NOT_EXIST, or silently reuse old rows, when the plan is matched again. Re-list."""
    spark.catalog.refreshByPath(path)


def _swap_in(spark: SparkSession, staging: str, target: str) -> None:
    fs, target_path, jvm = _fs_and_path(spark, target)
    staging_path = jvm.org.apache.hadoop.fs.Path(staging)
    if fs.exists(target_path):
        trash = jvm.org.apache.hadoop.fs.Path(f"{staging}.old")
        if not fs.rename(target_path, trash):
            raise OSError(f"could not move {target} aside")
        if not fs.rename(staging_path, target_path):
            fs.rename(trash, target_path)
            raise OSError(f"could not move {staging} to {target}")
        fs.delete(trash, True)
    else:
        fs.mkdirs(target_path.getParent())
        if not fs.rename(staging_path, target_path):
            raise OSError(f"could not move {staging} to {target}")


# Rows of one crawl date per writer bucket when the caller knows the date's size: a file
# far smaller than an Arrow batch makes every later read pay a file open and a Python
# batch per handful of rows (a 70-document date in 16 files read back as 16 batches).
BUCKET_ROWS = 4096


def date_bucket_count(rows: int, max_buckets: int) -> int:
    """Writer buckets for a date of `rows` rows: one per BUCKET_ROWS, 1 to max_buckets."""
    return max(1, min(max_buckets, -(-int(rows) // BUCKET_ROWS)))


def date_rows(df: DataFrame, partition_col: str = "crawl_date") -> dict:
    """{partition value: rows} of a (cheaply counted, e.g. stored) frame, to size
    `write_partitions` buckets by."""
    return {r[partition_col]: r["count"] for r in df.groupBy(partition_col).count().collect()}


def _bucket_counts(rows: Mapping | None, partition_col: str, max_buckets: int
                   ) -> tuple[Column, int | None]:
    """The per-row bucket count (a literal map lookup over the partition value) and the
    writer tasks the rows need (one per BUCKET_ROWS of all dates, at least a date's
    buckets); without `rows`, max_buckets for every date and no task bound."""
    if rows is None:
        return F.lit(max_buckets), None
    counts = {value: date_bucket_count(n, max_buckets) for value, n in rows.items()}
    known = sorted((v, n) for v, n in counts.items() if v is not None)
    column = F.lit(max_buckets)
    if known:
        lookup = F.create_map(*[F.lit(x) for pair in known for x in pair])
        column = F.coalesce(F.element_at(lookup, F.col(partition_col)), column)
    if None in counts:
        column = F.when(F.col(partition_col).isNull(), F.lit(counts[None])).otherwise(column)
    tasks = date_bucket_count(sum(rows.values()), 1 << 30)
    return column, max([tasks, *counts.values()])


def write_partitions(df: DataFrame, cfg: Config, name: str, sort_by: Iterable[str] = (),
                     partition_col: str = "crawl_date", rows: Mapping | None = None) -> None:
    """Replace exactly the `partition_col` partitions present in `df`; leave the rest.

    Rows of one date go to up to `output.date_buckets` hash buckets of their sort key, so
    a large date (a daily snapshot of a web crawl) is written by that many tasks at once
    instead of one core; with `rows` ({date: rows}, e.g. the date's documents) a date gets
    one bucket per BUCKET_ROWS rows only, so a small date is one file, and small dates
    share writer tasks (one per BUCKET_ROWS rows of the whole frame). Rows go to writer
    tasks by an explicit id (repartitionById over at most spark.sql.shuffle.partitions
    tasks), so which rows share a file depends only on the rows, `rows` and the config,
    never on the number of cores or the input's partitioning; with `sort_by` each file is
    sorted: same input + config, same files.
    """
    sort_by = tuple(sort_by)
    buckets, tasks = _bucket_counts(rows, partition_col, cfg.output.date_buckets)
    bucket = F.pmod(F.xxhash64(*[F.col(c) for c in (sort_by or df.columns[:1])]), buckets)
    parts = max(int(df.sparkSession.conf.get("spark.sql.shuffle.partitions")), 1)
    if tasks is not None:
        parts = min(parts, tasks)
    # (date, bucket) -> writer task directly: a date's buckets land on consecutive tasks,
    # so min(buckets, parts) tasks write it (a hash of (date, bucket) would collide).
    task = (F.pmod(F.xxhash64(F.col(partition_col)), F.lit(parts)) + bucket).cast("int")
    ordered = df.repartitionById(parts, task)
    if sort_by:
        ordered = ordered.sortWithinPartitions(partition_col, *sort_by)
    (
        ordered.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .option("compression", "zstd")
        .partitionBy(partition_col)
        .parquet(cfg.table_path(name))
    )
    _forget_listings(df.sparkSession, cfg.table_path(name))


def list_partitions(spark: SparkSession, cfg: Config, name: str,
                    partition_col: str = "crawl_date") -> list[str]:
    """Values of the partition directories a table has on storage (e.g. '2024-01-15')."""
    fs, path, _ = _fs_and_path(spark, cfg.table_path(name))
    if not fs.exists(path):
        return []
    prefix = f"{partition_col}="
    names = [status.getPath().getName() for status in fs.listStatus(path) if status.isDirectory()]
    return sorted(n[len(prefix):] for n in names if n.startswith(prefix))


def delete_partitions(spark: SparkSession, cfg: Config, name: str, values: Iterable[str],
                      partition_col: str = "crawl_date") -> None:
    """Remove whole partitions (e.g. ones a re-run found empty, which a dynamic overwrite
    would otherwise leave holding the previous run's rows)."""
    for value in values:
        fs, path, _ = _fs_and_path(spark, f"{cfg.table_path(name)}/{partition_col}={value}")
        if fs.exists(path):
            fs.delete(path, True)
    _forget_listings(spark, cfg.table_path(name))
