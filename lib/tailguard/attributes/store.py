"""Attribute tables: per-document signals kept apart from the text, keyed by
(doc_id, crawl_date), one partition per crawl date, every row stamped with what made it.

Dolma keeps attributes apart from documents so that a new threshold re-reads no text. Its
mixer pairs attribute files with document files line by line, so a file out of step mixes
one document's attributes into another's. Here attributes are joined by key, and each
row's `made_by` names the tagger, its code version and the settings it depended on (config
values and fingerprints of whole-crawl state such as the tail band), and its `input_id`
names the `docs` files of its date it was computed from (a date re-ingested with other
rows gets other files): a stale partition is found by either, then recomputed
(`stale_dates`) or refused (`read`), never mixed in.

Layout: `<output.root>/attributes/<name>/crawl_date=YYYY-MM-DD/part-*.parquet`, and
`attributes/<name>/_makers/<stamp>.json` with each stamp's settings, so that a refusal
can name the key that differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard import paths
from tailguard.config import Config
from tailguard.errors import InputError
from tailguard.io.tables import delete_partitions, list_partitions, path_exists, write_partitions

KEYS = ("doc_id", "crawl_date")
STAMP = "made_by"
INPUT = "input_id"
ROOT = "attributes"


@dataclass(frozen=True)
class Maker:
    """What makes one attribute table: its name, the tagger's code version (bump it when
    the tagger's output changes) and every setting its values depend on."""

    name: str
    version: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    job: str = "attributes"  # the job that makes it (named in errors; not in the stamp)

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


# the run id Spark writes into every file name (part-00003-<uuid>.c000.zstd.parquet)
_RUN_ID = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def input_ids(spark: SparkSession, cfg: Config, table: str,
              dates: Iterable[dt.date | str]) -> dict[str, str]:
    """{crawl_date: sha256 (16 hex digits) of the names, without Spark's run id, and
    sizes of the table's files in that partition}: what a partition of attributes was
    computed from. Rewriting a date with other rows changes its files' sizes; rewriting it
    with the same rows does not, so the id (and every attribute file) is the same
    whatever run wrote it. Attributes are joined by doc_id, a hash of url and text, so a
    row can never describe another document's text even when an id stays the same."""
    jvm = spark.sparkContext._jvm
    out = {}
    for date in sorted({str(d) for d in dates}):
        path = jvm.org.apache.hadoop.fs.Path(f"{cfg.table_path(table)}/crawl_date={date}")
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        names = (sorted(f"{_RUN_ID.sub('', s.getPath().getName())}:{s.getLen()}"
                        for s in fs.listStatus(path)
                        if not s.getPath().getName().startswith(("_", ".")))
                 if fs.exists(path) else [])
        out[date] = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return out


def stamps_by_date(spark: SparkSession, cfg: Config, maker: Maker
                   ) -> dict[str, set[tuple[str, str]]]:
    """{crawl_date: the (made_by, input_id) pairs its rows carry} for every stored
    partition (a scan of two small columns only)."""
    if not list_partitions(spark, cfg, maker.table):
        return {}
    rows = (spark.read.parquet(cfg.table_path(maker.table))
            .select(F.col("crawl_date").cast("string").alias("d"), STAMP, INPUT)
            .distinct().collect())
    found: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["d"], set()).add((row[STAMP], row[INPUT]))
    return found


def as_inputs(dates: Mapping[str, str] | Iterable[dt.date | str]) -> dict[str, str | None]:
    """{crawl_date: input_id}; plain dates carry no input id (their input is not checked:
    for attributes computed from another attribute or from state, not from `docs`)."""
    if isinstance(dates, Mapping):
        return {str(d): i for d, i in dates.items()}
    return {str(d): None for d in dates}


def stale_dates(spark: SparkSession, cfg: Config, maker: Maker,
                inputs: Mapping[str, str] | Iterable[dt.date | str]) -> list[str]:
    """Of the dates of `inputs` ({crawl_date: input_id}, or plain dates), those whose
    partition is missing, was made by another stamp or from other input files."""
    stored = stamps_by_date(spark, cfg, maker)
    return sorted(d for d, input_id in as_inputs(inputs).items()
                  if stored.get(d) != {(maker.stamp, input_id)})


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


def write(df: DataFrame, cfg: Config, maker: Maker,
          inputs: Mapping[str, str] | Iterable[dt.date | str] | None = None,
          sort_by: Iterable[str] = ("doc_id",), rows: Mapping | None = None) -> None:
    """Replace the partitions of the dates of `inputs` ({crawl_date: input_id}, plain
    dates, or None: the dates `df` holds) with the rows of `df`, stamped with `maker` and
    the input id of their date. A date of `inputs` that `df` holds no row of leaves no
    partition (its old one is removed), so a re-run never keeps old rows. `rows`
    ({date: rows}) sizes each date's files (io.tables.write_partitions)."""
    spark = df.sparkSession
    if inputs is None:
        inputs = [str(r[0]) for r in df.select("crawl_date").distinct().collect()]
    inputs = as_inputs(inputs)
    _record_maker(spark, cfg, maker)
    pairs = [x for d, i in sorted(inputs.items()) if i is not None for x in (F.lit(d), F.lit(i))]
    input_of = (F.create_map(*pairs)[F.col("crawl_date").cast("string")] if pairs
                else F.lit(None).cast("string"))
    stamped = df.withColumn(STAMP, F.lit(maker.stamp)).withColumn(INPUT, input_of)
    delete_partitions(spark, cfg, maker.table, sorted(inputs))
    write_partitions(stamped, cfg, maker.table, sort_by=tuple(sort_by), rows=rows)


def read(spark: SparkSession, cfg: Config, maker: Maker,
         inputs: Mapping[str, str] | Iterable[dt.date | str]) -> DataFrame:
    """The attribute rows of the dates of `inputs` ({crawl_date: input_id}, or plain
    dates), every one made by `maker` from those input files; a partition missing or made
    otherwise is an InputError naming the table, the date and the key that differs."""
    inputs = as_inputs(inputs)
    stored = stamps_by_date(spark, cfg, maker)
    wanted = sorted(inputs)
    if not wanted:
        raise InputError(f"{maker.table}: no crawl date to read")
    for date in wanted:
        pairs = stored.get(date)
        rerun = f"run `tailguard {maker.job} --dates {date}` to recompute it"
        if pairs is None:
            raise InputError(f"{maker.table}: no partition crawl_date={date}: {rerun}")
        other = sorted(s for s, _ in pairs if s != maker.stamp)
        if other:
            why = differing_key(_read_maker(spark, cfg, maker, other[0]), maker)
            raise InputError(f"{maker.table}: crawl_date={date} was made with {why}: {rerun}")
        if inputs[date] is not None and {i for _, i in pairs} != {inputs[date]}:
            raise InputError(f"{maker.table}: crawl_date={date} was made from other docs "
                             f"files than those stored now (the date was re-ingested): {rerun}")
    df = spark.read.parquet(cfg.table_path(maker.table))
    return df.where(F.col("crawl_date").isin([dt.date.fromisoformat(d) for d in wanted]))
