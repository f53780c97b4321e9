"""Attribute tables: per-document signals kept apart from the text, keyed by
(doc_id, crawl_date), one partition per crawl date, every row stamped with what made it.

Dolma keeps attributes apart from documents so that a new threshold re-reads no text. Its
mixer pairs attribute files with document files line by line, so a file out of step mixes
one document's attributes into another's. Here attributes are joined by key, and each
row's `made_by` names the tagger, its code version and the settings it depended on (config
values and fingerprints of whole-crawl state such as the tail band): a stale partition is
found by its stamp, then recomputed (`stale_dates`) or refused (`read`), never mixed in.

Layout: `<output.root>/attributes/<name>/crawl_date=YYYY-MM-DD/part-*.parquet`, and
`attributes/<name>/_makers/<stamp>.json` with each stamp's settings, so that a refusal
can name the key that differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard import paths
from tailguard.config import Config
from tailguard.errors import InputError
from tailguard.io.tables import (delete_partitions, list_partitions, path_exists,
                                 write_partitions)

KEYS = ("doc_id", "crawl_date")
STAMP = "made_by"
ROOT = "attributes"


@dataclass(frozen=True)
class Maker:
    """What makes one attribute table: its name, the tagger's code version (bump it when
    the tagger's output changes) and every setting its values depend on."""

    name: str
    version: int
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        body = json.dumps({"version": self.version, **dict(self.settings)}, sort_keys=True,
                          default=str, separators=(",", ":"))
        return f"{self.name}-v{self.version}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"

    @property
    def table(self) -> str:
        return f"{ROOT}/{self.name}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "settings": dict(self.settings)}


def _makers_dir(cfg: Config, maker: Maker) -> str:
    return paths.join(cfg.table_path(maker.table), "_makers")


def stamps_by_date(spark: SparkSession, cfg: Config, maker: Maker) -> dict[str, set[str]]:
    """{crawl_date: the stamps its rows carry} for every stored partition (a scan of the
    small `made_by` column only)."""
    if not list_partitions(spark, cfg, maker.table):
        return {}
    rows = (spark.read.parquet(cfg.table_path(maker.table))
            .select(F.col("crawl_date").cast("string").alias("d"), STAMP).distinct().collect())
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["d"], set()).add(row[STAMP])
    return found


def stale_dates(spark: SparkSession, cfg: Config, maker: Maker,
                dates: Iterable[dt.date | str]) -> list[str]:
    """Of `dates`, those whose partition is missing or was made by another stamp."""
    stored = stamps_by_date(spark, cfg, maker)
    return sorted({str(d) for d in dates if stored.get(str(d)) != {maker.stamp}})


def _record_maker(spark: SparkSession, cfg: Config, maker: Maker) -> None:
    """Write `_makers/<stamp>.json` (idempotent: same stamp, same content)."""
    path = paths.join(_makers_dir(cfg, maker), f"{maker.stamp}.json")
    if path_exists(spark, path):
        return
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    body = json.dumps(maker.describe(), sort_keys=True, default=str, indent=1).encode()
    out = fs.create(hadoop_path, True)
    try:
        out.write(bytearray(body))
    finally:
        out.close()


def _read_maker(spark: SparkSession, cfg: Config, maker: Maker, stamp: str) -> dict | None:
    path = paths.join(_makers_dir(cfg, maker), f"{stamp}.json")
    if not path_exists(spark, path):
        return None
    text = "\n".join(r[0] for r in spark.read.text(path, wholetext=True).collect())
    return json.loads(text)


def differing_key(stored: dict | None, maker: Maker) -> str:
    """The first setting (or the version) where a stored stamp's maker and `maker` differ,
    as 'key=stored (this run: value)'."""
    if stored is None:
        return "its settings are not recorded"
    if stored.get("version") != maker.version:
        return f"tagger version {stored.get('version')} (this run: {maker.version})"
    old, new = stored.get("settings", {}), json.loads(json.dumps(dict(maker.settings),
                                                                 default=str))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key}={old.get(key)!r} (this run: {new.get(key)!r})"
    return "an unknown setting"


def write(df: DataFrame, cfg: Config, maker: Maker, sort_by: Iterable[str] = ("doc_id",),
          dates: Iterable[str] = ()) -> None:
    """Replace the `crawl_date` partitions present in `df` (stamped with `maker`), and
    remove those of `dates` that `df` left empty, so a re-run never keeps old rows."""
    spark = df.sparkSession
    _record_maker(spark, cfg, maker)
    stamped = df.withColumn(STAMP, F.lit(maker.stamp))
    write_partitions(stamped, cfg, maker.table, sort_by=tuple(sort_by))
    written = set(list_partitions(spark, cfg, maker.table))
    emptied = [d for d in dates if d in written]
    if emptied:
        present = {str(r[0]) for r in df.select("crawl_date").distinct().collect()}
        gone = [d for d in emptied if d not in present]
        if gone:
            delete_partitions(spark, cfg, maker.table, gone)


def read(spark: SparkSession, cfg: Config, maker: Maker,
         dates: Iterable[dt.date | str] | None = None) -> DataFrame:
    """The attribute rows of `dates` (all stored ones when None), every one made by
    `maker`; a partition missing or made otherwise is an InputError naming the table,
    the date and the key that differs."""
    stored = stamps_by_date(spark, cfg, maker)
    wanted = sorted(stored) if dates is None else sorted({str(d) for d in dates})
    for date in wanted:
        stamps = stored.get(date)
        if stamps is None:
            raise InputError(f"{maker.table}: no partition crawl_date={date}: run "
                             f"`tailguard attributes --dates {date}`")
        other = sorted(stamps - {maker.stamp})
        if other:
            why = differing_key(_read_maker(spark, cfg, maker, other[0]), maker)
            raise InputError(f"{maker.table}: crawl_date={date} was made with {why}: run "
                             f"`tailguard attributes --dates {date}` to recompute it")
    df = spark.read.parquet(cfg.table_path(maker.table)) if stored else None
    if df is None:
        raise InputError(f"{maker.table} not found at {cfg.table_path(maker.table)}: run "
                         "`tailguard attributes`")
    if dates is not None:
        df = df.where(F.col("crawl_date").isin([dt.date.fromisoformat(d) for d in wanted]))
    return df
