"""Raw record batch -> canonical record batch, all in Arrow (no Spark import).

This is the per-batch half of ingest that runs inside the one `mapInArrow`: text
normalisation, URL normalisation, registrable domain, counts, and the quarantine reason
of every record. Each record ends with exactly one of: reason null (a document) or one
reason from schema.QUARANTINE_REASONS, decided by a fixed precedence so that re-runs and
reports agree on why a record was set aside:

    file-level (unreadable_file, unsupported_file) > bad_partition
    > reader-level (invalid_utf8, malformed_json, bad_record, bad_date)
    > implausible_date > missing_url > invalid_url > nul_bytes > empty_text > oversize

A record's crawl_date is its own date when its reader found one (the commoncrawl and
column layouts), else its file's (the `crawl_date=` directory, or the Common Crawl
crawl's start). A date before 1990 or after the run's day is `implausible_date`; rows
quarantined for their date or partition have a null crawl_date (no partition of theirs).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from tailguard.io.dates import PLAUSIBLE_FROM
from tailguard.io.readers import FILE_REASONS, ReadOptions
from tailguard.io.urls import normalize_urls, registrable_domains
from tailguard.text.normalize import (
    count_chars,
    count_words,
    escape_prefix,
    normalize_text,
    text_reasons,
)

RECORDS_SCHEMA = pa.schema([
    ("crawl_date", pa.date32()), ("source_file", pa.string()), ("record_index", pa.int64()),
    ("url", pa.string()), ("host", pa.string()), ("domain", pa.string()),
    ("text", pa.string()), ("n_chars", pa.int32()), ("n_words", pa.int32()),
    ("lang", pa.string()), ("reason", pa.string()), ("raw_prefix", pa.string()),
    ("n_read", pa.int64()),
])
# `n_read` is null on record rows; each file adds one summary row holding only
# crawl_date, source_file and n_read: how many records its reader produced (see ingest).
_NULL = pa.scalar(None, pa.string())
_UNDATED = pa.array(["bad_partition", "bad_date", "implausible_date"])
# The userinfo of any URL in a raw prefix ("scheme://user:pass@", JSON's "\/" escapes
# too), and a URL authority cut by the prefix's end, which may be userinfo cut short.
_USERINFO = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*:(?:\\?/){2})(?:[^/\\?#\s\"'<>]|\\(?!/))*@")
_CUT_AUTHORITY = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*:(?:\\?/){2})(?:[^/\\?#\s\"'<>]|\\(?!/))*$")


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def redact_credentials(raw: bytes) -> bytes:
    """Raw bytes with every URL's `user:password@` removed (never stored, cf. RFC 3986
    section 7.5), and an authority the prefix cut short dropped too."""
    return _CUT_AUTHORITY.sub(rb"\1", _USERINFO.sub(rb"\1", raw))


@dataclass(frozen=True)
class RecordOptions:
    """Everything the per-batch step needs, picklable for the executors."""

    read: ReadOptions
    max_chars: int = 1_000_000
    url_schemes: Sequence[str] = ("http", "https")
    # the last plausible crawl date: the run's day (UTC), fixed once on the driver
    today: dt.date = field(default_factory=lambda: utc_today())


def record_dates(raw: pa.RecordBatch, crawl_date: dt.date | None) -> pa.Array:
    """Each record's own date, or its file's."""
    return pc.coalesce(raw.column("record_date"), pa.scalar(crawl_date, pa.date32()))


def _implausible(dates: pa.Array, opts: RecordOptions) -> pa.Array:
    outside = pc.or_(pc.less(dates, pa.scalar(PLAUSIBLE_FROM, pa.date32())),
                     pc.greater(dates, pa.scalar(opts.today, pa.date32())))
    return pc.if_else(pc.fill_null(outside, False), "implausible_date", _NULL)


def _reasons(raw: pa.RecordBatch, url_ok: pa.Array, text: pa.Array, bad_partition: bool,
             dates: pa.Array, opts: RecordOptions) -> pa.Array:
    reader = raw.column("reason")
    file_level = pc.if_else(pc.is_in(reader, value_set=pa.array(FILE_REASONS)), reader, _NULL)
    partition = pa.array([("bad_partition" if bad_partition else None)] * raw.num_rows,
                         pa.string())
    url = pc.utf8_trim_whitespace(raw.column("url"))
    missing = pc.fill_null(pc.equal(url, ""), True)
    return pc.coalesce(
        file_level, partition, reader, _implausible(dates, opts),
        pc.if_else(missing, "missing_url", _NULL),
        pc.if_else(url_ok, _NULL, "invalid_url"),
        text_reasons(text, opts.max_chars),
    )


def _raw_prefixes(raw: pa.RecordBatch, keep: pa.Array, opts: ReadOptions) -> pa.Array:
    """Escaped raw bytes for quarantined rows only (a Python loop over the few bad rows).

    Columnar inputs (Parquet) have no raw line; their prefix is the record rendered as
    JSON with the configured field names, which is what a JSONL line would have held.
    """
    prefixes: list[str | None] = [None] * raw.num_rows
    bad_rows = pc.indices_nonzero(pc.invert(keep)).to_pylist()
    if not bad_rows:
        return pa.array(prefixes, pa.string())
    limit = opts.raw_prefix_bytes
    picked = raw.take(pa.array(bad_rows, pa.int64())).to_pylist()
    for row, record in zip(bad_rows, picked, strict=True):
        if record["raw"] is not None:
            prefixes[row] = escape_prefix(redact_credentials(record["raw"]), limit)
        elif record["url"] is not None or record["text"] is not None:
            rendered = json.dumps({opts.url_field: record["url"],
                                   opts.text_field: (record["text"] or "")[:limit]},
                                  ensure_ascii=False)
            prefixes[row] = escape_prefix(redact_credentials(rendered.encode("utf-8")), limit)
    return pa.array(prefixes, pa.string())


def finish_batch(raw: pa.RecordBatch, source_file: str, crawl_date: dt.date | None,
                 bad_partition: bool, opts: RecordOptions) -> pa.RecordBatch:
    """Normalise one RAW_SCHEMA batch of one file into RECORDS_SCHEMA.

    Document columns (url .. n_words) are filled only for kept rows, raw_prefix only for
    quarantined rows, so a quarantined multi-megabyte text is not carried any further.
    """
    n = raw.num_rows
    text = normalize_text(raw.column("text"))
    urls = normalize_urls(raw.column("url"), opts.url_schemes)
    dates = record_dates(raw, crawl_date)
    reason = _reasons(raw, urls.valid, text, bad_partition, dates, opts)
    keep = pc.is_null(reason)
    undated = pc.or_(pc.fill_null(pc.is_in(reason, value_set=_UNDATED), False),
                     pc.is_valid(_implausible(dates, opts)))

    def kept(values: pa.Array) -> pa.Array:
        return pc.if_else(keep, values, pa.scalar(None, values.type))

    text, host = kept(text), kept(urls.host)
    return pa.RecordBatch.from_arrays([
        pc.if_else(undated, pa.scalar(None, pa.date32()), dates),
        pa.array([source_file] * n, pa.string()),
        raw.column("record_index"),
        kept(urls.url), host, registrable_domains(host), text,
        count_chars(text), count_words(text),
        kept(raw.column("lang")), reason,
        _raw_prefixes(raw, keep, opts.read), pa.nulls(n, pa.int64()),
    ], schema=RECORDS_SCHEMA)


def summary_batch(source_file: str, crawl_date: dt.date | None, n_read: int) -> pa.RecordBatch:
    """The one row per file that carries its reader's record count (all else null)."""
    columns = {"crawl_date": pa.array([crawl_date], pa.date32()),
               "source_file": pa.array([source_file], pa.string()),
               "n_read": pa.array([n_read], pa.int64())}
    return pa.RecordBatch.from_arrays(
        [columns.get(f.name, pa.nulls(1, f.type)) for f in RECORDS_SCHEMA],
        schema=RECORDS_SCHEMA)
