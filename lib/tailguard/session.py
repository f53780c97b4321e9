"""SparkSession from config: the one place a session is built, so every job gets the same
settings (UTC time zone, dynamic partition overwrite, Arrow batch size) on a laptop and on
a cluster alike."""

from __future__ import annotations

import os
import sys
from importlib import resources

from pyspark.sql import DataFrame, SparkSession

from tailguard import paths
from tailguard.config import Config


def build_session(cfg: Config) -> SparkSession:
    """Create (or reuse) the SparkSession described by `cfg.spark`.

    Under spark-submit the master is already set by the launcher and wins over
    `spark.master`. Python workers run the driver's interpreter unless the user set
    PYSPARK_PYTHON, so the executors see the same pinned libraries.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if not _launched_by_spark_submit():
        builder = builder.master(cfg.spark.master)
    for key, value in sorted(cfg.spark.conf.items()):
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    if not cfg.spark.verbose:
        for key, value in quiet_conf(cfg, launched=_launched_by_spark_submit()).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.spark.log_level if cfg.spark.verbose else "ERROR")
    directory = checkpoint_dir(cfg, spark.sparkContext.master)
    if directory:
        spark.sparkContext.setCheckpointDir(directory)
    return spark


def checkpoint_dir(cfg: Config, master: str) -> str:
    """Where reliable checkpoints go: spark.checkpoint_dir, or on a cluster master
    `<output.root>/_checkpoints`; "" on local masters (executor-local checkpoints)."""
    configured = cfg.spark.checkpoint_dir
    if configured == "none":
        return ""
    if configured:
        return configured
    return "" if master.startswith("local") else paths.join(cfg.get("output.root"), "_checkpoints")


def checkpoint(df: DataFrame, eager: bool) -> DataFrame:
    """Cut a DataFrame's lineage. With a checkpoint dir (clusters) the data goes to shared
    storage and survives the loss of the executor that computed it; without one (local
    masters) it is `localCheckpoint`, kept in executor storage, which is faster but fails
    the job when that executor dies (its blocks cannot be recomputed)."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=eager)
    return df.localCheckpoint(eager=eager)


def quiet_conf(cfg: Config, launched: bool) -> dict[str, str]:
    """Spark settings for `spark.verbose: false`: no console progress bars and, when this
    process starts the JVM, a log4j2 config that keeps Spark's start-up chatter (and every
    WARN) off the console. Under spark-submit the JVM is already up: setLogLevel only."""
    conf = {"spark.ui.showConsoleProgress": "false"}
    if not launched:
        quiet = resources.files("tailguard").joinpath("resources/log4j2-quiet.properties")
        if os.path.isfile(str(quiet)):  # not inside a zip
            extra = str(cfg.spark.conf.get("spark.driver.extraJavaOptions", "")).strip()
            conf["spark.driver.extraJavaOptions"] = (
                f"{extra} -Dlog4j2.configurationFile=file:{quiet}".strip())
    return conf


def _launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands the Python driver its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
