"""A new date touches only the samples it changes: stored rows of unchanged samples are kept.

A sample is a set of documents (the prefix of its group in okey order) measured under a
tail band and kernel parameters. `diversity_samples` (partitioned by scope) records per
sample: scope, domain, month (`__all__` for the whole (scope, domain) ladder), rep (the
replicate, -1 for none), top (its largest rung), n_docs, a fingerprint of its documents
(xor of xxhash64(doc_id, crawl_date, defines_tail): a document in or out, or moved to
the other tail half, changes it) and the stamp of what measured it (`stamp`). A run
recomputes the fingerprints from the small rows; a sample whose (top, n_docs,
fingerprint, stamp) equals the stored one keeps its stored rows (metrics/diversity,
tail_coverage, rarefaction, `diversity_replicates`), and its documents are not sent to
the kernel for it. New documents of a date enter the samples of their (domain, era,
month) and, only when their keys fall inside the prefix, the (domain, era) and
scope-wide ones; everything else is reused.

The state is written after the metrics tables, so a run that fails between writes
leaves state that no longer matches and the next run recomputes those samples.
"""

from __future__ import annotations

import hashlib

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.diversity.rows import ALL
from tailguard.schema import require_columns

STATE = "diversity_samples"
REPLICATES = "diversity_replicates"
SAMPLE_KEY = ("scope", "domain", "month", "rep")
STATE_COLUMNS = (*SAMPLE_KEY, "top", "n_docs", "fingerprint", "stamp")
STATE_DDL = ("scope string, domain string, month string, rep int, top long, n_docs long, "
             "fingerprint long, stamp string")
REPLICATE_DDL = ("scope string, domain string, key long, token_budget long, raw_bytes long, "
                 "compressed_bytes long, " + ", ".join(f"ngrams_{k} long" for k in range(1, 5))
                 + ", " + ", ".join(f"distinct_n_{k} double" for k in range(1, 5))
                 + ", covered long")
MEASURE_VERSION = 1  # bump when the kernel's measures change: every stored row is stale
_NULL = "\x00"       # a null domain, for the joins (a null key never equals itself)


def stamp(params, band_keys: np.ndarray, seed: int) -> str:
    """What measured a sample: the kernel parameters, the seed and the band's content."""
    digest = hashlib.sha256(np.asarray(band_keys, np.uint64).tobytes()).hexdigest()[:16]
    return f"v{MEASURE_VERSION}|{params!r}|seed={seed}|band={digest}"


def sample_fingerprints(sampled: DataFrame, replicates: int, stamp_value: str) -> DataFrame:
    """STATE_COLUMNS of every sample of the sampled rows (`select.SAMPLED`)."""
    require_columns(sampled, ("doc_id", "crawl_date", "defines_tail", "okey", "scope",
                              "domain", "month", "whole_top", "month_top", "rep_top"),
                    "sample_fingerprints")
    doc = F.xxhash64("doc_id", F.col("crawl_date").cast("string"), "defines_tail")
    rep = F.pmod("okey", F.lit(max(replicates, 1))).cast("int")
    ladders = [("whole_top", F.lit(ALL), F.lit(-1)), ("month_top", F.col("month"), F.lit(-1)),
               ("rep_top", F.lit(ALL), rep)]
    members = None
    for top, month, which in ladders:
        part = sampled.where(F.col(top).isNotNull()).select(
            "scope", "domain", month.alias("month"), which.cast("int").alias("rep"),
            F.col(top).alias("top"), doc.alias("doc"))
        members = part if members is None else members.unionByName(part)
    return (members.groupBy(*SAMPLE_KEY)
            .agg(F.max("top").alias("top"), F.count(F.lit(1)).alias("n_docs"),
                 F.bit_xor("doc").alias("fingerprint"))
            .withColumn("stamp", F.lit(stamp_value)).select(*STATE_COLUMNS))


def unchanged_samples(current: DataFrame, stored: DataFrame | None) -> DataFrame:
    """SAMPLE_KEY of the samples whose stored state equals the current one."""
    if stored is None:
        return current.select(*SAMPLE_KEY).limit(0)
    same = [c for c in STATE_COLUMNS if c not in ("domain",)]
    return (current.withColumn("_d", F.coalesce("domain", F.lit(_NULL)))
            .join(stored.withColumn("_d", F.coalesce("domain", F.lit(_NULL))).drop("domain"),
                  on=["_d", *same], how="left_semi")
            .select(*SAMPLE_KEY))


def _keyed(df: DataFrame) -> DataFrame:
    return df.withColumn("_d", F.coalesce("domain", F.lit(_NULL)))


def filter_to_measure(sampled: DataFrame, unchanged: DataFrame, replicates: int) -> DataFrame:
    """The sampled rows with the tops of unchanged samples cleared, and rows left in no
    changed sample dropped: only these documents are read and tokenised."""
    keep = _keyed(sampled).withColumn("_r", F.pmod("okey", F.lit(max(replicates, 1))))
    flags = _keyed(unchanged)
    whole = flags.where((F.col("month") == ALL) & (F.col("rep") < 0)).select(
        "scope", "_d", F.lit(True).alias("_w"))
    month = flags.where((F.col("month") != ALL) & (F.col("rep") < 0)).select(
        "scope", "_d", "month", F.lit(True).alias("_m"))
    rep = flags.where(F.col("rep") >= 0).select(
        "scope", "_d", F.col("rep").alias("_r"), F.lit(True).alias("_p"))
    cleared = (keep.join(F.broadcast(whole), on=["scope", "_d"], how="left")
               .join(F.broadcast(month), on=["scope", "_d", "month"], how="left")
               .join(F.broadcast(rep), on=["scope", "_d", "_r"], how="left")
               .withColumn("whole_top", F.when(F.col("_w").isNull(), F.col("whole_top")))
               .withColumn("month_top", F.when(F.col("_m").isNull(), F.col("month_top")))
               .withColumn("rep_top", F.when(F.col("_p").isNull(), F.col("rep_top"))))
    return (cleared.where(F.col("whole_top").isNotNull() | F.col("month_top").isNotNull()
                          | F.col("rep_top").isNotNull())
            .select(*sampled.columns))


def kept_rows(stored: DataFrame, unchanged: DataFrame, by_month: bool,
              rep_column: str | None = None) -> DataFrame:
    """Stored rows of the unchanged samples: metrics/diversity budget rows (`by_month`:
    keyed by scope, domain, month), tail_coverage / rarefaction rows (month `__all__`)
    or replicate rows (`rep_column` holds the replicate)."""
    flags = _keyed(unchanged)
    if rep_column is not None:
        flags = flags.where(F.col("rep") >= 0).select("scope", "_d", F.col("rep").alias("_r"))
        rows = _keyed(stored).withColumn("_r", F.col(rep_column).cast("int"))
        keys = ["scope", "_d", "_r"]
    elif by_month:
        flags = flags.where(F.col("rep") < 0).select("scope", "_d", "month")
        rows, keys = _keyed(stored), ["scope", "_d", "month"]
    else:
        flags = flags.where((F.col("rep") < 0) & (F.col("month") == ALL)).select("scope", "_d")
        rows, keys = _keyed(stored), ["scope", "_d"]
    return rows.join(F.broadcast(flags), on=keys, how="left_semi").select(*stored.columns)
