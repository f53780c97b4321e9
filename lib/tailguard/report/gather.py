"""What the report shows, read from the stored tables as small aggregates.

Only per-domain and `__all__` rows reach the driver (the metrics tables are already
aggregates; docs, quarantine and provenance are counted in Spark), so the report costs
the same on the demo and on a web crawl. A table that is not there yet leaves its
section empty with the job to run, never a failed report.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow.fs as pafs
from pyspark.sql import functions as F

import tailguard
from tailguard import paths
from tailguard.config import Config
from tailguard.io.tables import read_table, table_exists
from tailguard.share.pu_share import ESTIMATOR as PU_ESTIMATOR

ALL = "__all__"


@dataclass
class ReportData:
    """Everything the report renders; each frame is small (domains x estimators at most)."""

    config: Config
    share: pd.DataFrame | None = None            # primary estimator, post_ai, per domain
    placebo: pd.DataFrame | None = None          # primary estimator on the placebo rows
    placebo_label: str = ""
    estimators: pd.DataFrame | None = None       # every estimator, __all__
    monthly: pd.DataFrame | None = None          # primary, post_ai, largest domains + __all__
    monthly_domains: list[str] = field(default_factory=list)
    diversity: pd.DataFrame | None = None        # __all__ per era at matched budgets
    tail_coverage: pd.DataFrame | None = None
    rarefaction: pd.DataFrame | None = None
    manifest: dict[str, Any] | None = None
    eras: dict[str, int] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    quarantine: dict[str, int] = field(default_factory=dict)
    detector: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # section -> job to run
    audits: list[dict[str, Any]] = field(default_factory=list)  # audit/*/summary.json


def read_json(uri: str) -> dict[str, Any] | None:
    """A small JSON file on any file system pyarrow reaches, or None when absent."""
    fs, path = pafs.FileSystem.from_uri(paths.for_pyarrow(uri))
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def _pandas(df) -> pd.DataFrame:
    return df.toPandas()


def _share(spark, cfg: Config, data: ReportData) -> None:
    if not table_exists(spark, cfg, "metrics/synthetic_share"):
        data.missing["share"] = "share"
        return
    share = _pandas(read_table(spark, cfg, "metrics/synthetic_share"))
    primary = share[share["is_primary"]]
    data.share = primary[primary["era"] == "post_ai"].reset_index(drop=True)
    # The pre-AI rows: the placebo (pu_share.py: the estimator out of sample on the latest
    # pre-AI year against the earlier ones) when the primary has one, else the in-sample
    # pre-AI rows of the sum estimators, which must also read ~0.
    rows = primary[primary["era"] == "pre_ai"]
    if not rows.empty:
        is_placebo = (rows["estimator"] == PU_ESTIMATOR).any()
        data.placebo = rows.reset_index(drop=True)
        data.placebo_label = ("placebo: latest pre-AI year against earlier years" if is_placebo
                              else "pre-AI documents (in-sample sanity check)")
    data.estimators = share[(share["domain"] == ALL)].sort_values(["era", "estimator"])
    if not table_exists(spark, cfg, "metrics/synthetic_share_monthly"):
        return
    # The largest domains among those with monthly estimates (a month of a small domain
    # has fewer than share.min_docs documents and no estimate).
    monthly = read_table(spark, cfg, "metrics/synthetic_share_monthly").where(
        F.col("is_primary") & (F.col("era") == "post_ai") & F.col("share").isNotNull())
    sizes = (monthly.where(F.col("domain") != ALL).groupBy("domain")
             .agg(F.count("*").alias("months"), F.sum("n_docs").alias("docs"))
             .orderBy(F.desc("months"), F.desc("docs"), "domain").limit(4).collect())
    data.monthly_domains = [ALL, *[r["domain"] for r in sizes]]
    data.monthly = _pandas(monthly.where(F.col("domain").isin(data.monthly_domains)))


def _diversity(spark, cfg: Config, data: ReportData) -> None:
    if not table_exists(spark, cfg, "metrics/diversity"):
        data.missing["diversity"] = "diversity"
        return
    div = read_table(spark, cfg, "metrics/diversity").where(
        (F.col("domain") == ALL) & F.col("token_budget").isNotNull()
        & (F.col("month") == ALL) & F.col("scope").isin("pre_ai", "attested", "post_ai"))
    data.diversity = _pandas(div).sort_values(["token_budget", "era"]).reset_index(drop=True)
    for name in ("tail_coverage", "rarefaction"):
        table = f"metrics/{name}"
        if table_exists(spark, cfg, table):
            rows = _pandas(read_table(spark, cfg, table).where(F.col("domain") == ALL))
            setattr(data, name, rows.sort_values(["scope", "token_budget"]).reset_index(
                drop=True))


def _counts(spark, cfg: Config, data: ReportData) -> None:
    if table_exists(spark, cfg, "docs"):
        docs = read_table(spark, cfg, "docs")
        stats = docs.agg(F.count("*").alias("docs"), F.countDistinct("crawl_date").alias("dates"),
                         F.min("crawl_date").alias("first"), F.max("crawl_date").alias("last"),
                         F.countDistinct("domain").alias("domains"),
                         F.sum("n_words").alias("words")).first().asDict()
        data.ingest = {k: v for k, v in stats.items()}
    else:
        data.missing["ingest"] = "ingest"
    if table_exists(spark, cfg, "quarantine"):
        rows = read_table(spark, cfg, "quarantine").groupBy("reason").count().collect()
        data.quarantine = {r["reason"]: int(r["count"]) for r in rows}
    if table_exists(spark, cfg, "provenance"):
        rows = read_table(spark, cfg, "provenance").groupBy("era").count().collect()
        data.eras = {r["era"]: int(r["count"]) for r in rows}


def gather(spark, cfg: Config) -> ReportData:
    """Read every section's numbers; a missing table is noted, not an error."""
    data = ReportData(config=cfg)
    _share(spark, cfg, data)
    _diversity(spark, cfg, data)
    _counts(spark, cfg, data)
    data.manifest = read_json(paths.join(cfg.table_path("shards"), cfg.shards.name,
                                         "manifest.json"))
    if data.manifest is None:
        data.missing["shards"] = "shards"
    from tailguard.detector.model import META_FILE

    data.detector = read_json(paths.join(cfg.detector_dir, META_FILE))
    if data.detector is None:
        data.missing["detector"] = "train-detector"
    data.versions = versions(spark)
    from tailguard.audit.report import gather_audits

    data.audits = gather_audits(cfg)
    return data


def versions(spark=None) -> dict[str, str]:
    import numpy
    import pyarrow

    found = {"tailguard": tailguard.__version__, "python": platform.python_version(),
             "pyarrow": pyarrow.__version__, "numpy": numpy.__version__,
             "pandas": pd.__version__}
    if spark is not None:
        found["spark"] = spark.version
    return found
