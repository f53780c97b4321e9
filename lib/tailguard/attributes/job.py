"""`tailguard attributes [--dates D]`: the per-date taggers, for the dates that need them.

Stages (each logged):
1. inputs: the `docs` partitions asked for (every stored date without `--dates`) and the
   id of the files each one holds;
2. quality: `attributes/quality` for the dates whose partition is missing or stale;
3. tail: `attributes/tail` likewise, once the diversity job has written the tail band
   (`tail_concepts`); until then the shards job makes it when it first runs.

A date whose attributes are current costs a scan of two small columns: running the job on
every date after a daily ingest computes the new date only. The shards job calls the same
`ensure_*` steps, so a stale partition is recomputed there rather than mixed in.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np
from pyspark.sql import SparkSession

from tailguard.attributes import store, taggers
from tailguard.config import Config
from tailguard.errors import InputError
from tailguard.io.tables import date_rows, list_partitions, read_table, table_exists

log = logging.getLogger(__name__)


def docs_inputs(spark: SparkSession, cfg: Config, dates=None) -> dict[str, str]:
    """{crawl_date: input id of its docs files} of the stored docs partitions (of
    `dates`, when given)."""
    stored = list_partitions(spark, cfg, "docs")
    if dates is not None:
        wanted = {str(d) for d in dates}
        stored = [d for d in stored if d in wanted]
    return store.input_ids(spark, cfg, "docs", stored)


def ensure_quality(spark: SparkSession, cfg: Config, inputs: dict[str, str]) -> list[str]:
    """Make `attributes/quality` current for the dates of `inputs`; the dates recomputed."""
    maker = taggers.quality_maker()
    stale = store.stale_dates(spark, cfg, maker, inputs)
    if stale:
        docs = read_table(spark, cfg, "docs", [_date(d) for d in stale])
        store.write(taggers.with_quality(docs), cfg, maker, {d: inputs[d] for d in stale},
                    rows=date_rows(docs))
    return stale


def read_band(spark: SparkSession, cfg: Config) -> np.ndarray | None:
    """The diversity job's tail band (sorted uint64), checked against `tail.*`; None when
    it has not been written yet."""
    if not table_exists(spark, cfg, "tail_concepts"):
        return None
    table = read_table(spark, cfg, "tail_concepts").toArrow()
    for key in ("max_n", "min_count", "quantile"):
        made = set(table.column(key).to_pylist())
        if made and made != {cfg.tail[key]}:
            raise InputError(f"tail_concepts was made with tail.{key}={sorted(made)[0]}, "
                             f"this run has {cfg.tail[key]}: re-run `tailguard diversity`")
    return np.sort(table.column("key").to_numpy().view(np.uint64))


def ensure_tail(spark: SparkSession, cfg: Config, inputs: dict[str, str],
                band: np.ndarray) -> list[str]:
    """Make `attributes/tail` current for the dates of `inputs` against `band`; the
    dates recomputed (every one, after the band was refreshed)."""
    maker = taggers.tail_maker(band, cfg.tail.max_n)
    stale = store.stale_dates(spark, cfg, maker, inputs)
    if stale:
        docs = read_table(spark, cfg, "docs", [_date(d) for d in stale])
        band_broadcast = spark.sparkContext.broadcast(band)
        store.write(taggers.with_tail(docs, band_broadcast, cfg.tail.max_n), cfg, maker,
                    {d: inputs[d] for d in stale}, rows=date_rows(docs))
        band_broadcast.unpersist()
    return stale


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def run(ctx) -> dict:
    cfg, spark = ctx.cfg, ctx.spark
    start = time.perf_counter()
    inputs = docs_inputs(spark, cfg, ctx.dates)
    if not inputs:
        raise InputError("attributes: no docs partition to tag: run `tailguard ingest` first")
    quality = ensure_quality(spark, cfg, inputs)
    log.info("attributes: quality for %d of %d dates (%.1f s)", len(quality), len(inputs),
             time.perf_counter() - start)
    band = read_band(spark, cfg)
    tail: list[str] = []
    if band is None:
        log.info("attributes: no tail band yet (the diversity job writes it): the tail "
                 "attribute is made by the shards job")
    else:
        tail = ensure_tail(spark, cfg, inputs, band)
        log.info("attributes: tail for %d of %d dates (%.1f s)", len(tail), len(inputs),
                 time.perf_counter() - start)
    return {"dates": len(inputs), "quality": quality, "tail": tail}
