"""SparkSession from config: the one place a session is built, so every job gets the same
settings (UTC time zone, dynamic partition overwrite, Arrow batch size) on a laptop and on
a cluster alike."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from importlib import resources
from typing import BinaryIO

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
    launched = _launched_by_spark_submit()
    options = {"spark.app.name": cfg.spark.app_name}
    if not launched:
        options["spark.master"] = cfg.spark.master
    for key, value in sorted(cfg.spark.conf.items()):
        options[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if not cfg.spark.verbose:
        options.update(quiet_conf(cfg, launched=launched))
        if not launched:
            _launch_quiet_gateway(options)
    builder = SparkSession.builder
    for key, value in options.items():
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


# Printed by the JVM itself (Spark's launcher adds --add-modules=jdk.incubator.vector), so
# no log4j setting reaches it.
JVM_NOISE = (b"WARNING: Using incubator modules",)


def _launch_quiet_gateway(options: dict[str, str]) -> None:
    """Start the driver JVM with its stderr filtered: the lines of `JVM_NOISE` dropped,
    every other line (a real JVM error) passed on. Does nothing when a JVM is already up
    in this process (its session is reused)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    conf = SparkConf(loadDefaults=False).setAll(sorted(options.items()))
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    sink = getattr(sys.__stderr__, "buffer", None) or open(os.devnull, "wb")  # noqa: SIM115
    threading.Thread(target=forward_lines, args=(gateway.proc.stderr, sink),
                     name="jvm-stderr", daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway)


def forward_lines(source: BinaryIO, sink: BinaryIO, drop: tuple[bytes, ...] = JVM_NOISE
                  ) -> None:
    """Copy `source` to `sink` line by line until EOF, leaving out lines that start with
    one of `drop`. Never raises: the JVM must not block on a full pipe because the
    reader died, so after a failed write the rest is still read (and discarded)."""
    sink_ok = True
    for line in iter(source.readline, b""):
        if not sink_ok or line.startswith(drop):
            continue
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            sink_ok = False


def _launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands the Python driver its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
