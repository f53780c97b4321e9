"""`tailguard ingest`: crawl files -> `docs` and `quarantine` tables, partitioned by date.

Stages (each a small named function, cf. text-dedup's load -> ... -> remove):
    plan (driver, metadata only: the input layout and its files, `io/layouts.py`)
    -> file-task frame (balanced by size)
    -> read_records: ONE mapInArrow reads every file and normalises each Arrow batch
    -> with_doc_id / with_content_hash (Spark built-ins)
    -> split on `reason` -> write docs / quarantine (dynamic partition overwrite)
Every record read lands in exactly one of the two tables (datatrove-style: a dropped
record keeps its reason), and the counts returned prove it for every run: each file's
reader counts the records it produces and sends the count in a summary row of its own,
and ingest refuses to write (RecordsLost) unless every file's count equals its rows in
`docs` plus `quarantine`. When records carry their own dates (the commoncrawl and column
layouts) a file's records spread over dates, so the readers' counts are checked per
file and in total, and the per-date `read` is what reached the tables.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard import schema
from tailguard.config import Config
from tailguard.errors import InputError
from tailguard.io import dates as record_dates
from tailguard.io import layouts, listing, tables
from tailguard.io.readers import ReadOptions, read_file
from tailguard.io.records import (
    RECORDS_SCHEMA,
    RecordOptions,
    finish_batch,
    summary_batch,
    utc_today,
)

if TYPE_CHECKING:
    from tailguard.cli import JobContext

log = logging.getLogger(__name__)

TASK_SCHEMA = T.StructType([
    T.StructField("source_file", T.StringType(), False),
    T.StructField("crawl_date", T.DateType(), True),
    T.StructField("bad_partition", T.BooleanType(), False),
    T.StructField("kind", T.StringType(), False),
    T.StructField("compression", T.StringType(), True),
])
# A Spark task reads at least this much input (fewer, bigger tasks for tiny crawls).
_SLICE_BYTES = 16 << 20
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Hive/Spark's directory for a null value


class RecordsLost(RuntimeError):
    """Some file's reader produced more (or fewer) records than reached the two tables."""


@dataclass(frozen=True)
class IngestCounts:
    """Records read / kept / quarantined by reason, per crawl_date (None = bad partitions),
    and per file.

    `read` is what the readers themselves counted, file by file (their summary rows),
    while `kept` and `quarantined` are counted on the two frames that are written: so
    `read == kept + quarantined` fails if a record is lost anywhere between a reader and
    the split. With `by_record` (records dated by themselves, not by their file) the
    readers' counts are per file only: `read` per date is then what reached the tables,
    and conservation is checked per file and in total.
    """

    read: dict[dt.date | None, int] = field(default_factory=dict)
    kept: dict[dt.date | None, int] = field(default_factory=dict)
    quarantined: dict[dt.date | None, dict[str, int]] = field(default_factory=dict)
    read_files: dict[str, int] = field(default_factory=dict)
    kept_files: dict[str, int] = field(default_factory=dict)
    quarantined_files: dict[str, int] = field(default_factory=dict)
    by_record: bool = False
    first_files: dict[str, str] = field(default_factory=dict)   # reason -> first file (by name)

    @property
    def total_read(self) -> int:
        return sum(self.read.values())

    @property
    def total_kept(self) -> int:
        return sum(self.kept.values())

    def reasons(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for by_reason in self.quarantined.values():
            total.update(by_reason)
        return dict(sorted(total.items()))

    @property
    def total_quarantined(self) -> int:
        return sum(self.reasons().values())

    def lost(self) -> dict[str, int]:
        """Files whose reader count differs from their written rows: {file: read - rows}."""
        files = set(self.read_files) | set(self.kept_files) | set(self.quarantined_files)
        gaps = {f: self.read_files.get(f, 0) - self.kept_files.get(f, 0)
                - self.quarantined_files.get(f, 0) for f in sorted(files)}
        return {f: gap for f, gap in gaps.items() if gap}

    @property
    def conserved(self) -> bool:
        dates = set(self.read) | set(self.kept) | set(self.quarantined)
        if self.by_record:
            return not self.lost() and sum(self.read_files.values()) == (
                self.total_kept + self.total_quarantined) == self.total_read
        return not self.lost() and all(
            self.read.get(d, 0) == self.kept.get(d, 0)
            + sum(self.quarantined.get(d, {}).values()) for d in dates)


def options_from_config(cfg: Config, batch_records: int, layout: str = "dated",
                        dates: list[dt.date] | None = None) -> RecordOptions:
    """The readers' options; `layout` says where a record's date is, and in the layouts
    that date records a `--dates` run selects them there (`dates`)."""
    by_record = layout in layouts.RECORD_DATED
    read = ReadOptions(
        date_field=cfg.input.date_field if layout == "column" else "",
        warc_dates=layout == "commoncrawl",
        select_dates=tuple(sorted(set(dates))) if by_record and dates else (),
        url_field=cfg.input.url_field, text_field=cfg.input.text_field,
        lang_field=cfg.input.lang_field, html_main_content=cfg.ingest.html_main_content,
        raw_prefix_bytes=cfg.ingest.raw_prefix_bytes, batch_records=batch_records,
        batch_bytes=cfg.ingest.batch_bytes, max_line_bytes=cfg.ingest.max_line_bytes,
        max_record_bytes=cfg.ingest.max_record_bytes, max_file_bytes=cfg.ingest.max_file_bytes)
    return RecordOptions(read=read, max_chars=cfg.ingest.max_chars,
                         url_schemes=tuple(cfg.ingest.url_schemes))


def file_tasks_frame(spark: SparkSession, tasks: list[listing.FileTask]) -> DataFrame:
    """One row per file, spread over partitions by size (LPT), exactly one group each.

    Up to 4 tasks per core, and no more than one per 16 MiB of input."""
    total = sum(t.size for t in tasks)
    wanted = min(spark.sparkContext.defaultParallelism * 4, -(-total // _SLICE_BYTES))
    slices = listing.balance(tasks, max(1, wanted))
    rows = [[(t.source_file, t.crawl_date, t.bad_partition, t.kind, t.compression)
             for t in group] for group in slices]
    rdd = spark.sparkContext.parallelize(rows, max(1, len(rows))).flatMap(lambda group: group)
    return spark.createDataFrame(rdd, TASK_SCHEMA)


def _read_partition(batches: Iterator[pa.RecordBatch], uri: str,
                    opts: RecordOptions) -> Iterator[pa.RecordBatch]:
    fs, root = listing.filesystem(uri)
    for tasks in batches:
        for task in tasks.to_pylist():
            path = f"{root.rstrip('/')}/{task['source_file']}"
            tally = [0]
            for raw in read_file(fs, path, task["kind"], task["compression"], opts.read,
                                 tally, fallback_date=task["crawl_date"]):
                yield finish_batch(raw, task["source_file"], task["crawl_date"],
                                   task["bad_partition"], opts)
            yield summary_batch(task["source_file"], task["crawl_date"], tally[0])


_SPARK_TYPES = {pa.date32(): T.DateType(), pa.string(): T.StringType(),
                pa.int64(): T.LongType(), pa.int32(): T.IntegerType()}


def read_records(tasks_df: DataFrame, uri: str, opts: RecordOptions) -> DataFrame:
    """The one pass over the input bytes: file tasks -> normalised records (RECORDS_SCHEMA)."""
    spark_schema = T.StructType([
        T.StructField(f.name, _SPARK_TYPES[f.type], True) for f in RECORDS_SCHEMA])
    reader = functools.partial(_read_partition, uri=uri, opts=opts)
    return tasks_df.mapInArrow(reader, schema=spark_schema)


def doc_id_col(url: Column, text: Column) -> Column:
    """First 32 hex chars of sha256(url + NUL + text): `hashlib.sha256(...).hexdigest()[:32]`."""
    return F.substring(F.sha2(F.concat(url, F.lit("\u0000"), text), 256), 1, 32)


def with_doc_id(df: DataFrame) -> DataFrame:
    schema.require_columns(df, ["url", "text"], "with_doc_id")
    return df.withColumn("doc_id", doc_id_col(F.col("url"), F.col("text")))


def with_content_hash(df: DataFrame) -> DataFrame:
    """64-bit xxHash of the normalised text (Spark's xxhash64, seed 42): exact-dup key."""
    schema.require_columns(df, ["text"], "with_content_hash")
    return df.withColumn("content_hash", F.xxhash64("text"))


def with_run_dates(records: DataFrame, dates: list[dt.date]) -> DataFrame:
    """A `--dates` run writes only the partitions of its dates: a quarantined row dated
    otherwise, or not at all (a file that failed while this run read it: the rest of it
    has no date), is put under the run's first date. The readers selected every record
    by its date, so no record row moves; summary rows keep their date."""
    schema.require_columns(records, ["crawl_date", "reason"], "with_run_dates")
    first = F.lit(min(dates)).cast("date")
    elsewhere = F.col("crawl_date").isNull() | ~F.col("crawl_date").isin(*sorted(set(dates)))
    return records.withColumn(
        "crawl_date",
        F.when(F.col("reason").isNotNull() & elsewhere, first).otherwise(F.col("crawl_date")))


def select_docs(records: DataFrame) -> DataFrame:
    """Kept records, exactly the schema.DOCS columns in order."""
    kept = records.where(F.col("reason").isNull() & F.col("n_read").isNull())
    return kept.select(*[F.col(f.name).cast(f.dataType) for f in schema.DOCS.fields])


def select_quarantine(records: DataFrame) -> DataFrame:
    """Quarantined records, exactly the schema.QUARANTINE columns in order."""
    bad = records.where(F.col("reason").isNotNull())
    return bad.select(*[F.col(f.name).cast(f.dataType) for f in schema.QUARANTINE.fields])


def count_frames(records: DataFrame, docs: DataFrame, quarantine: DataFrame,
                 by_record: bool = False) -> IngestCounts:
    """The readers' per-file summary rows and the rows of the two frames that are written,
    counted by (file, date, reason) in one aggregation (one Spark job, files x dates x
    reasons rows back)."""
    reason = F.lit(None).cast("string")
    counted = (
        records.where(F.col("n_read").isNotNull())
        .select(F.lit("read").alias("kind"), "source_file", "crawl_date",
                reason.alias("reason"), F.col("n_read").alias("n"))
        .unionByName(docs.select(F.lit("kept").alias("kind"), "source_file", "crawl_date",
                                 reason.alias("reason"), F.lit(1).cast("long").alias("n")))
        .unionByName(quarantine.select(F.lit("quarantined").alias("kind"), "source_file",
                                       "crawl_date", "reason",
                                       F.lit(1).cast("long").alias("n")))
        .groupBy("kind", "source_file", "crawl_date", "reason")
        .agg(F.sum("n").alias("count"))
        .collect()
    )
    read_files: Counter[str] = Counter()
    read: Counter = Counter()
    kept_files: Counter[str] = Counter()
    kept: Counter = Counter()
    quarantined: dict[dt.date | None, dict[str, int]] = {}
    quarantined_files: Counter[str] = Counter()
    first: dict[str, str] = {}
    for r in counted:
        if r["kind"] == "read":
            read_files[r["source_file"]] += r["count"]
            read[r["crawl_date"]] += r["count"]
        elif r["kind"] == "kept":
            kept_files[r["source_file"]] += r["count"]
            kept[r["crawl_date"]] += r["count"]
        else:
            by_reason = quarantined.setdefault(r["crawl_date"], {})
            by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + r["count"]
            quarantined_files[r["source_file"]] += r["count"]
            first[r["reason"]] = min(first.get(r["reason"], r["source_file"]), r["source_file"])
    if by_record:  # the readers counted per file: per date, what reached the tables
        read = Counter(kept)
        for date, by_reason in quarantined.items():
            read[date] += sum(by_reason.values())
    return IngestCounts(read=dict(read), kept=dict(kept), quarantined=quarantined,
                        read_files=dict(read_files), kept_files=dict(kept_files),
                        quarantined_files=dict(quarantined_files), by_record=by_record,
                        first_files=dict(sorted(first.items())))


def check_conserved(counts: IngestCounts) -> None:
    """Raise RecordsLost unless every record each reader produced reached a table."""
    lost = counts.lost()
    if lost or not counts.conserved:
        shown = ", ".join(f"{f}: {gap:+d}" for f, gap in list(lost.items())[:5])
        raise RecordsLost(f"ingest: read != kept + quarantined for {len(lost)} file(s) "
                          f"(read - written: {shown}); nothing was written")


# What to set when records are quarantined for their date or place (issue 40).
_DATE_HINTS = {
    "bad_date": "no date in input.date_field (set it to the field holding each record's date)",
    "implausible_date": f"dated before {record_dates.PLAUSIBLE_FROM} or after today (check "
                        "input.date_field, or the crawl_date= directory)",
}


def _log_date_problems(counts: IngestCounts, cfg: Config) -> None:
    reasons = counts.reasons()
    for reason, hint in _DATE_HINTS.items():
        if reasons.get(reason):
            log.warning("ingest: %d record(s) %s, e.g. in %s (input.date_field=%s): "
                        "quarantined as %s", reasons[reason], hint,
                        counts.first_files.get(reason), cfg.input.date_field, reason)


def _log_counts(counts: IngestCounts) -> None:
    dates = sorted(set(counts.read), key=lambda d: (d is None, d or dt.date.min))
    for date in dates:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(counts.quarantined.get(date, {}).items()))
        log.info("ingest %s: read %d, kept %d, quarantined %d%s",
                 date or "bad partitions", counts.read[date], counts.kept.get(date, 0),
                 sum(counts.quarantined.get(date, {}).values()), f" ({reasons})" if reasons else "")
    log.info("ingest total: read %d, kept %d, quarantined %d %s", counts.total_read,
             counts.total_kept, counts.total_quarantined, counts.reasons())


def covered_dates(plan: layouts.Plan, counts: IngestCounts,
                  dates: list[dt.date] | None) -> set[dt.date]:
    """The dates this run read all the input of: their partitions mirror what it found.
    `dated`: the listed directories. Record-dated layouts: the requested dates (every
    file that can hold one was read), or on a full run every date found."""
    if not plan.by_record:
        return {t.crawl_date for t in plan.tasks if t.crawl_date is not None}
    if dates is not None:
        return set(dates)
    return {d for d in counts.read if d is not None}


def _drop_emptied(spark: SparkSession, cfg: Config, counts: IngestCounts,
                  dates: set[dt.date], full_run: bool) -> None:
    """Dynamic overwrite only replaces partitions that receive rows: remove the ones a
    re-run found empty (and, on a full run, the ones no longer in the input), so no stale
    rows from an earlier run survive."""
    empty_docs = [d.isoformat() for d in sorted(dates) if not counts.kept.get(d)]
    empty_q = [d.isoformat() for d in sorted(dates) if not counts.quarantined.get(d)]
    if full_run:
        # A full run mirrors the input: partitions whose crawl directory is gone go too.
        listed = {d.isoformat() for d in dates}
        empty_docs += [p for p in tables.list_partitions(spark, cfg, "docs") if p not in listed]
        empty_q += [p for p in tables.list_partitions(spark, cfg, "quarantine")
                    if p not in listed and p != NULL_PARTITION]
        if not counts.quarantined.get(None):
            empty_q.append(NULL_PARTITION)
    tables.delete_partitions(spark, cfg, "docs", empty_docs)
    tables.delete_partitions(spark, cfg, "quarantine", empty_q)


def check_dates(dates: list[dt.date] | None, today: dt.date) -> None:
    """A requested date outside the plausible range would write records that every
    layout quarantines (`implausible_date`): refuse it with one line."""
    bad = [d for d in dates or () if not record_dates.plausible(d, today)]
    if bad:
        raise InputError(f"--dates {bad[0]} lies outside {record_dates.PLAUSIBLE_FROM}.."
                         f"{today} (records of such dates are quarantined as implausible_date "
                         "by a run without --dates)")


def plan_run(cfg: Config, dates: list[dt.date] | None) -> tuple[str, layouts.Plan]:
    """(input URI, plan): the layout and the files to read, before Spark starts, so a
    missing input.path or an ambiguous tree fails fast with one line."""
    check_dates(dates, utc_today())
    uri = listing.root_uri(cfg.input.path)
    return uri, layouts.plan(cfg, uri, dates)


def ingest(spark: SparkSession, cfg: Config,
           dates: list[dt.date] | None = None) -> IngestCounts:
    """Plan the run (InputError when input.path is missing), then `ingest_plan`."""
    uri, plan = plan_run(cfg, dates)
    return ingest_plan(spark, cfg, uri, plan, dates)


def ingest_files(spark: SparkSession, cfg: Config, uri: str, tasks: list[listing.FileTask],
                 dates: list[dt.date] | None) -> IngestCounts:
    """`ingest_plan` for files of the dated layout."""
    return ingest_plan(spark, cfg, uri, layouts.Plan("dated", tasks), dates)


def ingest_plan(spark: SparkSession, cfg: Config, uri: str, plan: layouts.Plan,
                dates: list[dt.date] | None) -> IngestCounts:
    """Read once -> hash -> split -> write; returns the counts (see IngestCounts)."""
    tasks = plan.tasks
    missing = [] if plan.by_record else sorted(set(dates or ()) - {t.crawl_date for t in tasks})
    if missing:
        log.warning("ingest: no input partition for %s", ", ".join(map(str, missing)))
    if not tasks:
        log.warning("ingest: no input files under %s%s", uri,
                    " for these dates" if dates and plan.by_record else "")
        if dates and plan.by_record:  # nothing of these dates in the input any more
            _drop_emptied(spark, cfg, IngestCounts(by_record=True), set(dates), False)
        return IngestCounts(by_record=plan.by_record)
    batch_records = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "2048"))
    opts = options_from_config(cfg, batch_records, plan.layout, dates)
    records = read_records(file_tasks_frame(spark, tasks), uri, opts)
    if dates and plan.by_record:
        records = records.transform(lambda df: with_run_dates(df, dates))
    records = (records.transform(with_doc_id).transform(with_content_hash)
               .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        docs, quarantine = select_docs(records), select_quarantine(records)
        counts = count_frames(records, docs, quarantine, plan.by_record)
        check_conserved(counts)
        tables.write_partitions(docs, cfg, "docs", sort_by=("doc_id", "source_file", "lang"),
                                rows=counts.kept)
        tables.write_partitions(quarantine, cfg, "quarantine",
                                sort_by=("source_file", "record_index", "reason"),
                                rows={d: sum(r.values()) for d, r in counts.quarantined.items()})
        _drop_emptied(spark, cfg, counts, covered_dates(plan, counts, dates),
                      full_run=dates is None)
    finally:
        records.unpersist()
    if dates and plan.by_record:
        absent = sorted(set(dates) - set(counts.read))
        if absent:
            log.warning("ingest: no record dated %s in the input", ", ".join(map(str, absent)))
    _log_date_problems(counts, cfg)
    _log_counts(counts)
    return counts


def run(ctx: JobContext) -> IngestCounts:
    """CLI entry (`tailguard ingest`). The crawl is planned before Spark starts, so a
    missing input.path or a tree no layout fits fails fast with one line."""
    uri, plan = plan_run(ctx.cfg, ctx.dates)
    return ingest_plan(ctx.spark, ctx.cfg, uri, plan, ctx.dates)
