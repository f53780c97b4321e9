"""Boilerplate lines: lines that repeat across many pages, skipped before shingling.

Why: sites wrap every page in a few lines of furniture ("Share this: Twitter Facebook
Email", "Posted in Uncategorized | Leave a comment"). On a short page those lines carry
as many 5-gram shingles as the text, so a pre-AI page re-published between them falls
below Jaccard 0.8 with its original and is not attested. Following CCNet's line-level
deduplication (Wenzek et al., LREC 2020, section 3.3) and the "lines seen on many pages"
rule of C4 / Gopher-style cleaning, a line (its words, see `text/lines.py`) that occurs on
at least `dedup.boilerplate_min_repeats` distinct pages of its domain
(`dedup.boilerplate_scope: domain`) or of the whole crawl (`global`) is boilerplate. Its
words are left out of the MinHash shingles only; `docs.text` is unchanged.

"Distinct pages" are distinct `content_hash` values: a page re-crawled unchanged on every
crawl date is one page, so its own lines never become boilerplate by repetition.

At scale the count is a Spark aggregation over a `line_index` state table (one row per
distinct (line key, page) of each crawl partition, two longs), never a Python set; only
the resulting boilerplate keys (typically a few per site) travel to the executors, as a
sorted array broadcast once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.schema import require_columns
from tailguard.text.lines import LineWords

SCOPES = ("domain", "global", "none")
LINE_INDEX_DDL = "crawl_date date, line_key bigint, page bigint"


def scope_column(scope: str) -> Column:
    """The per-document scope of its line keys: a hash of its domain, or 0 for all."""
    if scope == "domain":
        return F.xxhash64(F.coalesce(F.col("domain"), F.lit("")))
    if scope == "global":
        return F.lit(0).cast("long")
    raise ValueError(f"no line keys for boilerplate scope {scope!r}")


def distinct_line_pages(words: LineWords, pages: np.ndarray, days: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day, line key, page) of every line of a batch, each triple once (a line repeated
    on one page, or on exact copies inside the batch, counts once), as int arrays sorted
    by (day, key, page)."""
    per_doc = np.diff(words.line_offsets)
    day = np.repeat(np.asarray(days, np.int32), per_doc)
    keys = words.line_keys.view(np.int64)
    page = np.repeat(np.asarray(pages, np.int64), per_doc)
    order = np.lexsort((page, keys, day))
    day, keys, page = day[order], keys[order], page[order]
    first = np.ones(len(keys), np.bool_)
    first[1:] = (day[1:] != day[:-1]) | (keys[1:] != keys[:-1]) | (page[1:] != page[:-1])
    return day[first], keys[first], page[first]


def skipped_lines(words: LineWords, boilerplate: np.ndarray) -> np.ndarray:
    """bool per line of `words.line_keys`: is it a boilerplate key? (`boilerplate` is a
    sorted uint64 array.)"""
    if len(boilerplate) == 0 or len(words.line_keys) == 0:
        return np.zeros(len(words.line_keys), np.bool_)
    at = np.searchsorted(boilerplate, words.line_keys)
    return boilerplate[np.minimum(at, len(boilerplate) - 1)] == words.line_keys


def _line_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        words = LineWords(batch.column("text"),
                          batch.column("scope").to_numpy(zero_copy_only=False))
        days = batch.column("crawl_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        day, keys, pages = distinct_line_pages(
            words, batch.column("content_hash").to_numpy(zero_copy_only=False), days)
        yield pa.RecordBatch.from_arrays(
            [pa.array(day, pa.int32()).cast(pa.date32()), pa.array(keys), pa.array(pages)],
            names=["crawl_date", "line_key", "page"])


def explode_line_keys(docs: DataFrame, scope: str) -> DataFrame:
    """(crawl_date, line_key, page) for every distinct line with a word of every page."""
    require_columns(docs, ["crawl_date", "domain", "text", "content_hash"], "explode_line_keys")
    return (
        docs.select("crawl_date", "text", "content_hash", scope_column(scope).alias("scope"))
        .mapInArrow(_line_batches, LINE_INDEX_DDL)
    )


def boilerplate_keys(line_index: DataFrame, min_repeats: int) -> DataFrame:
    """line_key of every line seen on at least `min_repeats` distinct pages."""
    require_columns(line_index, ["line_key", "page"], "boilerplate_keys")
    # one shuffle by line_key serves both the distinct pages and the count per line
    return (
        line_index.select("line_key", "page").repartition("line_key").distinct()
        .groupBy("line_key").count()
        .where(F.col("count") >= min_repeats)
        .select("line_key")
    )


def sorted_keys(keys: DataFrame) -> np.ndarray:
    """A (small) key frame collected as a sorted uint64 array for the kernels."""
    table = keys.select("line_key").toArrow()
    values = table.column("line_key").to_numpy().astype(np.int64, copy=False)
    return np.sort(values.view(np.uint64))
