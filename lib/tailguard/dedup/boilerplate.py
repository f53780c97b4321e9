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
copies' attestation (docs/decisions/boilerplate-scope.md).

"Distinct pages" are distinct `content_hash` values: a page re-crawled unchanged on every
crawl date is one page, so its own lines never become boilerplate by repetition.

Small sites (`dedup.boilerplate_small_site_max_words`, scopes `domain` and
`domain+global`): a domain with fewer than `boilerplate_min_repeats` pages can never
reach the count, so its own furniture ("Welcome to small3.com", "Copyright (c) 2018
small3.com. All rights reserved.") would stay in the shingles of a page it re-published
and keep the copy from meeting its original (docs/decisions/small-site-furniture.md).
There, a line of at most that many words found on *every* page of the domain is
boilerplate: the site's template. Three choices keep it safe:
- The domain must have two URLs at least: a site of one URL re-crawled in versions (a
  changed update line) is not a site of two pages, and keeps its lines, so its versions
  still meet each other. (Its pages are distinct content hashes, as above; a domain of
  `boilerplate_min_repeats` pages or more needs no rule of its own.)
- Only short lines: a page re-published on its own small site, with an edit, shares its
  paragraphs with the original; dropping them would leave each copy only the lines that
  differ. Headings and captions it shares may go, paragraphs stay.
- Every page (distinct content hash) of the domain: a line on two of three pages may be
  content they share.
What it drops is on every page of the site, so on its pre-AI pages too when it has any;
attestation itself is unchanged (Jaccard >= the threshold on what is left), so a post-AI
page that quotes a whole pre-AI page among as much LLM text is still not attested
(tests/spark/test_provenance_real.py).

At scale the count is a Spark aggregation over a `line_index` state table (one row per
distinct (line key, page) of each crawl partition, two longs; with the small-site rule a
third, `site`, on the rows of short lines), never a Python set; the same count gives the
small-site rule its pages per line, met with each small domain's page count (`docs`,
three columns); only the resulting boilerplate keys (typically a few per site) travel to
the executors, as a sorted array broadcast once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.schema import require_columns
from tailguard.text.lines import LineWords

SCOPES = ("domain", "domain+global", "global", "none")
COMBINED = "domain+global"
BY_DOMAIN = ("domain", COMBINED)  # the scopes whose line keys name their site
LINE_INDEX_DDL = "crawl_date date, line_key bigint, page bigint, site bigint"


class LineRows(NamedTuple):
    """The line index rows of a batch, as arrays sorted by (day, key, page). `site` (the
    page's domain hash) is set where `tagged` (the rows of its short lines, for the
    small-site rule) and 0 elsewhere."""

    day: np.ndarray
    key: np.ndarray
    page: np.ndarray
    site: np.ndarray
    tagged: np.ndarray


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
                        domains: np.ndarray | None = None, global_max_words: int = 0,
                        site_max_words: int = 0) -> LineRows:
    """(day, line key, page) of every line of a batch, each triple once (a line repeated
    on one page, or on exact copies inside the batch, counts once). With
    `global_max_words`, each short line also gives a row (day, its scope-0 key, its
    document's domain hash), so counting "pages" of that key counts domains. With
    `site_max_words`, the rows of lines of at most that many words carry their
    document's domain hash (`domains`, the documents' scopes) as `site`."""
    per_doc = np.diff(words.line_offsets)
    day = np.repeat(np.asarray(days, np.int32), per_doc)
    keys = words.line_keys.view(np.int64)
    page = np.repeat(np.asarray(pages, np.int64), per_doc)
    tagged = np.zeros(len(keys), np.bool_)
    site = np.zeros(len(keys), np.int64)
    if site_max_words > 0:
        tagged = words.line_word_counts() <= site_max_words
        site = np.where(tagged, np.repeat(np.asarray(domains, np.int64), per_doc), 0)
    short = short_global_lines(words, global_max_words)
    if short.any():
        domain = np.repeat(np.asarray(domains, np.int64), per_doc)
        day = np.concatenate([day, day[short]])
        keys = np.concatenate([keys, words.global_line_keys()[short].view(np.int64)])
        page = np.concatenate([page, domain[short]])
        site = np.concatenate([site, np.zeros(short.sum(), np.int64)])
        tagged = np.concatenate([tagged, np.zeros(short.sum(), np.bool_)])
    order = np.lexsort((page, keys, day))
    day, keys, page, site, tagged = (col[order] for col in (day, keys, page, site, tagged))
    first = np.ones(len(keys), np.bool_)
    first[1:] = (day[1:] != day[:-1]) | (keys[1:] != keys[:-1]) | (page[1:] != page[:-1])
    return LineRows(day[first], keys[first], page[first], site[first], tagged[first])


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


def site_max_words(dedup) -> int:
    """The small-site rule's line bound (0: off, and always off for `global` / `none`)."""
    if dedup.boilerplate_scope not in BY_DOMAIN:
        return 0
    return dedup.boilerplate_small_site_max_words


def _line_batches(max_words: int, site_words: int):
    def explode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            scopes = batch.column("scope").to_numpy(zero_copy_only=False)
            words = LineWords(batch.column("text"), scopes)
            days = batch.column("crawl_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
            rows = distinct_line_pages(
                words, batch.column("content_hash").to_numpy(zero_copy_only=False), days,
                scopes, max_words, site_words)
            yield pa.RecordBatch.from_arrays(
                [pa.array(rows.day, pa.int32()).cast(pa.date32()), pa.array(rows.key),
                 pa.array(rows.page), pa.array(rows.site, mask=~rows.tagged)],
                names=["crawl_date", "line_key", "page", "site"])

    return explode


def explode_line_keys(docs: DataFrame, scope: str, max_words: int = 0,
                      site_words: int = 0) -> DataFrame:
    """(crawl_date, line_key, page, site) for every distinct line with a word of every
    page; with `max_words` (scope `domain+global`) also (crawl_date, scope-0 key, domain
    hash, null) for its lines of at most that many words; with `site_words`, the rows of
    lines of at most that many words carry the domain hash as `site` (else null)."""
    require_columns(docs, ["crawl_date", "domain", "text", "content_hash"],
                    "explode_line_keys")
    return (
        docs.select("crawl_date", "text", "content_hash", scope_column(scope).alias("scope"))
        .mapInArrow(_line_batches(max_words, site_words), LINE_INDEX_DDL)
    )


def small_sites(docs: DataFrame, scope: str, min_repeats: int) -> DataFrame:
    """(site, pages) of every domain of `docs` with 2 to `min_repeats` - 1 distinct pages
    (content hashes) on more than one URL: site is its line-key scope (`scope_column`).
    (A domain of more pages needs no rule of its own: a line on all of them is on
    min_repeats pages.)"""
    require_columns(docs, ["domain", "url", "content_hash"], "small_sites")
    url = F.xxhash64(F.coalesce(F.col("url"), F.lit("")))
    return (
        docs.select(scope_column(scope).alias("site"), "content_hash", url.alias("url"))
        .groupBy("site")
        .agg(F.countDistinct("content_hash").alias("pages"), F.min("url").alias("first"),
             F.max("url").alias("last"))
        .where(F.col("pages").between(2, min_repeats - 1) & (F.col("first") != F.col("last")))
        .select("site", "pages")
    )


def boilerplate_keys(line_index: DataFrame, min_repeats: int,
                     sites: DataFrame | None = None) -> DataFrame:
    """line_key of every line seen on at least `min_repeats` distinct pages; with `sites`
    (`small_sites`), also of every short line (a `site` set) found on all the pages of
    its small site.

    One shuffle by line_key serves both the distinct pages and the count per line, for
    both rules; only the lines of 2 to min_repeats - 1 pages with a site then meet the
    small sites (by (site, pages): one row per line, never one per page)."""
    require_columns(line_index, ["line_key", "page"], "boilerplate_keys")
    site = F.col("site") if sites is not None else F.lit(None).cast("long")
    counted = (
        line_index.select("line_key", "page", site.alias("site"))
        .repartition("line_key").distinct()
        .groupBy("line_key").agg(F.count(F.lit(1)).alias("pages"), F.max("site").alias("site"))
    )
    repeated = F.col("pages") >= min_repeats
    if sites is None:
        return counted.where(repeated).select("line_key")
    counted = counted.where(repeated | (F.col("site").isNotNull() & (F.col("pages") >= 2)))
    on_every_page = sites.select("site", "pages", F.lit(True).alias("small"))
    return (
        counted.join(on_every_page, on=["site", "pages"], how="left")
        .where(repeated | F.col("small").isNotNull())
        .select("line_key")
    )


def sorted_keys(keys: DataFrame) -> np.ndarray:
    """A (small) key frame collected as a sorted uint64 array of distinct keys for the
    kernels."""
    table = keys.select("line_key").toArrow()
    values = table.column("line_key").to_numpy().astype(np.int64, copy=False)
    return np.unique(values.view(np.uint64))
