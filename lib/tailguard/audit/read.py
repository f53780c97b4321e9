"""The outside dataset's records: JSONL(.gz/.zst) / Parquet files, or a directory of them
(a Hugging Face dataset saved as Parquet included), read by ingest's readers.

Why the same readers: every bound on hostile input (line, record and file sizes, cut
compressed streams) and every reader-level reason (`malformed_json`, `invalid_utf8`,
`bad_record`, `unreadable_file`, ...) then holds for an outside dataset as for the crawl.
What differs from ingest (`io/records.py`):
- the URL is optional: a record without one is kept (its `domain` is null); a URL that
  is present but not an absolute http(s) URL is still `invalid_url`, as in ingest;
- no date: nothing is partitioned, so no `bad_partition` / `implausible_date`;
- the source / label column (`audit.label_field`) travels in the readers' `lang` slot
  (a string field; a non-string value reads as null);
- files of a kind no reader knows (a dataset's `dataset_info.json`, `README.md`) hold no
  records: they are listed in the log and skipped, not quarantined.
Every record a reader produced ends as exactly one row, kept (reason null) or
quarantined (a reason), and `check_conserved` proves it from the readers' own counts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.errors import InputError
from tailguard.io import listing
from tailguard.io.ingest import RecordsLost, doc_id_col, file_tasks_frame
from tailguard.io.readers import ReadOptions, read_file
from tailguard.io.records import redact_credentials
from tailguard.io.urls import normalize_urls, registrable_domains
from tailguard.text.normalize import (
    count_chars,
    count_words,
    escape_prefix,
    normalize_text,
    text_reasons,
)

log = logging.getLogger(__name__)

RECORDS = T.StructType([
    T.StructField("source_file", T.StringType(), True),
    T.StructField("record_index", T.LongType(), True),
    T.StructField("url", T.StringType(), True),
    T.StructField("domain", T.StringType(), True),
    T.StructField("label", T.StringType(), True),
    T.StructField("text", T.StringType(), True),
    T.StructField("n_chars", T.IntegerType(), True),
    T.StructField("n_words", T.IntegerType(), True),
    T.StructField("reason", T.StringType(), True),
    T.StructField("raw_prefix", T.StringType(), True),
    T.StructField("n_read", T.LongType(), True),   # the per-file summary rows only
])
_NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class AuditInput:
    """Where the dataset is and its data files (relative to `root`)."""

    root: str
    tasks: list[listing.FileTask]
    skipped: list[str]


def plan_input(path: str) -> AuditInput:
    """The data files of `path` (one file, or every file under a directory); driver
    metadata only. A missing path or one without a data file is an InputError."""
    uri = listing.root_uri(path)
    fs, inner = listing.filesystem(uri)
    info = fs.get_file_info(inner)
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"audit --input {path}: no such file or directory")
    if info.type == pafs.FileType.File:
        root = uri.rsplit("/", 1)[0]
        files = [listing.ListedFile(info.base_name, int(info.size or 0), info.mtime_ns)]
    else:
        root, files = uri, listing.list_files(uri)
    tasks, skipped = [], []
    for f in files:
        kind, compression = listing.file_kind(f.relative)
        if kind not in ("jsonl", "parquet"):
            skipped.append(f.relative)
            continue
        tasks.append(listing.FileTask(f.relative, None, False, kind, compression, f.size))
    if skipped:
        log.info("audit: %d file(s) are not JSONL or Parquet and hold no records: %s",
                 len(skipped), ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not tasks:
        raise InputError(f"audit --input {path}: no JSONL(.gz/.zst) or Parquet file found")
    return AuditInput(root, tasks, skipped)


def _prefixes(raw: pa.RecordBatch, keep: pa.Array, opts: ReadOptions) -> pa.Array:
    """Escaped raw bytes (credentials removed) of the quarantined rows; a Parquet row's is
    its text's first bytes."""
    out: list[str | None] = [None] * raw.num_rows
    for row in pc.indices_nonzero(pc.invert(keep)).to_pylist():
        value = raw.column("raw")[row].as_py()
        if value is None:
            value = (raw.column("text")[row].as_py() or "").encode("utf-8")
        out[row] = escape_prefix(redact_credentials(value), opts.raw_prefix_bytes)
    return pa.array(out, pa.string())


def finish_batch(raw: pa.RecordBatch, source_file: str, opts: ReadOptions,
                 max_chars: int, schemes: tuple[str, ...]) -> pa.RecordBatch:
    """One RAW_SCHEMA batch -> RECORDS rows: the reason of each record (reader's first,
    then an invalid URL that is present, then the text's), normalised text and URL for
    the kept ones."""
    n = raw.num_rows
    text = normalize_text(raw.column("text"))
    urls = normalize_urls(raw.column("url"), schemes)
    given = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(raw.column("url")), ""), False)
    reader = raw.column("reason")
    reason = pc.coalesce(
        reader, pc.if_else(pc.and_(given, pc.invert(urls.valid)), "invalid_url", _NULL),
        text_reasons(text, max_chars))
    keep = pc.is_null(reason)

    def kept(values: pa.Array) -> pa.Array:
        return pc.if_else(keep, values, pa.scalar(None, values.type))

    text = kept(text)
    return pa.RecordBatch.from_arrays([
        pa.array([source_file] * n, pa.string()), raw.column("record_index"),
        kept(urls.url), kept(registrable_domains(urls.host)), kept(raw.column("lang")),
        text, count_chars(text), count_words(text), reason, _prefixes(raw, keep, opts),
        pa.nulls(n, pa.int64())], names=RECORDS.names)


def _summary(source_file: str, n_read: int) -> pa.RecordBatch:
    columns = {"source_file": pa.array([source_file], pa.string()),
               "n_read": pa.array([n_read], pa.int64())}
    types = {"record_index": pa.int64(), "n_chars": pa.int32(), "n_words": pa.int32(),
             "n_read": pa.int64()}
    return pa.RecordBatch.from_arrays(
        [columns.get(name, pa.nulls(1, types.get(name, pa.string()))) for name in RECORDS.names],
        names=RECORDS.names)


def _read_partition(batches: Iterator[pa.RecordBatch], uri: str, opts: ReadOptions,
                    max_chars: int, schemes: tuple[str, ...]) -> Iterator[pa.RecordBatch]:
    fs, root = listing.filesystem(uri)
    for tasks in batches:
        for task in tasks.to_pylist():
            tally = [0]
            path = f"{root.rstrip('/')}/{task['source_file']}"
            for raw in read_file(fs, path, task["kind"], task["compression"], opts, tally):
                yield finish_batch(raw, task["source_file"], opts, max_chars, schemes)
            yield _summary(task["source_file"], tally[0])


def read_options(cfg, batch_records: int) -> ReadOptions:
    """ingest's reader options with the audit's field names (`audit.*`, falling back to
    `input.*` when empty)."""
    a, i = cfg.audit, cfg.input
    return ReadOptions(
        url_field=a.url_field or i.url_field, text_field=a.text_field or i.text_field,
        lang_field=a.label_field or "\u0000no label field", html_main_content=False,
        raw_prefix_bytes=cfg.ingest.raw_prefix_bytes, batch_records=batch_records,
        batch_bytes=cfg.ingest.batch_bytes, max_line_bytes=cfg.ingest.max_line_bytes,
        max_record_bytes=cfg.ingest.max_record_bytes, max_file_bytes=cfg.ingest.max_file_bytes)


def read_records(spark: SparkSession, cfg, plan: AuditInput) -> DataFrame:
    """RECORDS plus `rid` (a 64-bit key of (source_file, record_index)), `doc_id`
    (ingest's: sha256 of url + NUL + text, the url empty when absent) and `content_hash`
    (ingest's xxhash64 of the normalised text). Not cached: the caller persists it."""
    batch_records = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "2048"))
    reader = functools.partial(_read_partition, uri=plan.root,
                               opts=read_options(cfg, batch_records),
                               max_chars=cfg.ingest.max_chars,
                               schemes=tuple(cfg.ingest.url_schemes))
    records = file_tasks_frame(spark, plan.tasks).mapInArrow(reader, RECORDS)
    kept = F.col("reason").isNull()
    return records.select(
        *RECORDS.names,
        F.xxhash64("source_file", "record_index").alias("rid"),
        F.when(kept, doc_id_col(F.coalesce("url", F.lit("")), F.col("text"))).alias("doc_id"),
        F.when(kept, F.xxhash64("text")).alias("content_hash"))


def check_conserved(records: DataFrame) -> dict[str, int]:
    """{'read', 'kept', 'quarantined'} from the readers' counts and the rows; RecordsLost
    when a file's reader produced another number of records than reached the rows."""
    rows = (records.groupBy("source_file")
            .agg(F.sum("n_read").alias("read"),
                 F.sum(F.when(F.col("n_read").isNull() & F.col("reason").isNull(), 1)
                       .otherwise(0)).alias("kept"),
                 F.sum(F.when(F.col("reason").isNotNull(), 1).otherwise(0)).alias("bad"))
            .collect())
    lost = {r.source_file: int(r.read or 0) - int(r.kept) - int(r.bad) for r in rows
            if int(r.read or 0) != int(r.kept) + int(r.bad)}
    if lost:
        shown = ", ".join(f"{f}: {gap:+d}" for f, gap in list(lost.items())[:5])
        raise RecordsLost(f"audit: read != kept + quarantined for {len(lost)} file(s) "
                          f"({shown}); nothing was written")
    return {"read": sum(int(r.read or 0) for r in rows), "kept": sum(int(r.kept) for r in rows),
            "quarantined": sum(int(r.bad) for r in rows)}
