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

`domain+global` (the default) adds the furniture that small sites share: a line of at most
`dedup.boilerplate_global_max_words` words found in at least `boilerplate_min_repeats`
distinct *domains* ("Share this: Twitter Facebook Email" on a blog of two pages). A site
of two pages cannot tell its furniture from its content by repetition, but the crawl can:
the same short line wrapped around other sites' different texts. Counting domains, not
pages, and only short lines keeps syndicated content out: an article re-published on
many sites repeats across domains too, but its paragraphs are long, and a page that the
shared short lines would empty keeps them (`skipped_lines`). `global` (every line,
distinct pages of the crawl) skips such syndicated paragraphs as well and loses those
copies' attestation (55% attested against 100%, docs/ARCHITECTURE.md).

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

SCOPES = ("domain", "domain+global", "global", "none")
COMBINED = "domain+global"
LINE_INDEX_DDL = "crawl_date date, line_key bigint, page bigint"


def scope_column(scope: str) -> Column:
    """The per-document scope of its line keys: a hash of its domain, or 0 for all."""
    if scope in ("domain", COMBINED):
        return F.xxhash64(F.coalesce(F.col("domain"), F.lit("")))
    if scope == "global":
        return F.lit(0).cast("long")
    raise ValueError(f"no line keys for boilerplate scope {scope!r}")


def short_global_lines(words: LineWords, global_max_words: int) -> np.ndarray:
    """bool per line: does it count crawl-wide (`domain+global`: at most
    `global_max_words` words)? All False when global_max_words is 0."""
    if global_max_words <= 0:
        return np.zeros(len(words.line_keys), np.bool_)
    return words.line_word_counts() <= global_max_words


def distinct_line_pages(words: LineWords, pages: np.ndarray, days: np.ndarray,
                        domains: np.ndarray | None = None, global_max_words: int = 0
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day, line key, page) of every line of a batch, each triple once (a line repeated
    on one page, or on exact copies inside the batch, counts once), as int arrays sorted
    by (day, key, page). With `global_max_words`, each short line also gives a row
    (day, its scope-0 key, its document's domain hash), so counting "pages" of that key
    counts domains."""
    per_doc = np.diff(words.line_offsets)
    day = np.repeat(np.asarray(days, np.int32), per_doc)
    keys = words.line_keys.view(np.int64)
    page = np.repeat(np.asarray(pages, np.int64), per_doc)
    short = short_global_lines(words, global_max_words)
    if short.any():
        domain = np.repeat(np.asarray(domains, np.int64), per_doc)
        day = np.concatenate([day, day[short]])
        keys = np.concatenate([keys, words.global_line_keys()[short].view(np.int64)])
        page = np.concatenate([page, domain[short]])
    order = np.lexsort((page, keys, day))
    day, keys, page = day[order], keys[order], page[order]
    first = np.ones(len(keys), np.bool_)
    first[1:] = (day[1:] != day[:-1]) | (keys[1:] != keys[:-1]) | (page[1:] != page[:-1])
    return day[first], keys[first], page[first]


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.searchsorted(sorted_keys, keys)
    return sorted_keys[np.minimum(at, len(sorted_keys) - 1)] == keys


def skipped_lines(words: LineWords, boilerplate: np.ndarray, global_max_words: int = 0
                  ) -> np.ndarray:
    """bool per line of `words.line_keys`: is it a boilerplate key, or (with
    `global_max_words`) a short line whose scope-0 key is one? (`boilerplate` is a
    sorted uint64 array.)

    A page that the short cross-domain lines would empty keeps them and loses only its
    domain's boilerplate: a short page re-published on many sites repeats across domains
    like furniture, and its copies must still meet each other. (A page whose every line
    is its domain's boilerplate keeps all its words: `minhash.signatures_of_words`.)"""
    if len(boilerplate) == 0 or len(words.line_keys) == 0:
        return np.zeros(len(words.line_keys), np.bool_)
    skip = _member(boilerplate, words.line_keys)
    short = short_global_lines(words, global_max_words)
    if short.any():
        shared = np.zeros_like(skip)
        shared[short] = _member(boilerplate, words.global_line_keys()[short])
        per_doc = np.diff(words.line_offsets)
        doc = np.repeat(np.arange(len(per_doc)), per_doc)
        combined = skip | shared
        emptied = np.bincount(doc, weights=combined, minlength=len(per_doc)) == per_doc
        skip = np.where(emptied[doc], skip, combined)
    return skip


def global_max_words(dedup) -> int:
    """The short-line bound of the dedup config's scope (0 unless `domain+global`)."""
    return dedup.boilerplate_global_max_words if dedup.boilerplate_scope == COMBINED else 0


def _line_batches(max_words: int):
    def explode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            scopes = batch.column("scope").to_numpy(zero_copy_only=False)
            words = LineWords(batch.column("text"), scopes)
            days = batch.column("crawl_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
            day, keys, pages = distinct_line_pages(
                words, batch.column("content_hash").to_numpy(zero_copy_only=False), days,
                scopes, max_words)
            yield pa.RecordBatch.from_arrays(
                [pa.array(day, pa.int32()).cast(pa.date32()), pa.array(keys),
                 pa.array(pages)], names=["crawl_date", "line_key", "page"])

    return explode


def explode_line_keys(docs: DataFrame, scope: str, max_words: int = 0) -> DataFrame:
    """(crawl_date, line_key, page) for every distinct line with a word of every page;
    with `max_words` (scope `domain+global`) also (crawl_date, scope-0 key, domain hash)
    for its lines of at most that many words."""
    require_columns(docs, ["crawl_date", "domain", "text", "content_hash"], "explode_line_keys")
    return (
        docs.select("crawl_date", "text", "content_hash", scope_column(scope).alias("scope"))
        .mapInArrow(_line_batches(max_words), LINE_INDEX_DDL)
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
