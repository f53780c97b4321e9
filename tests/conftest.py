"""Shared fixtures: one local SparkSession for the whole run, and configs in tmp dirs."""

from __future__ import annotations

import os
import sys

import pytest

from shared_data import SHARED_DATA
from tailguard.config import Config, load_config


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_runtest_setup(item):
    """A test marked `shared_data` skips without the shared data, except under CI
    (`CI=true`), where the missing path fails the run: real-text evidence must not vanish
    from a green run."""
    if item.get_closest_marker("shared_data") is None or (SHARED_DATA / "train.jsonl").is_file():
        return
    message = (f"the shared real-text data is missing: {SHARED_DATA}/train.jsonl (set "
               "TAILGUARD_SHARED_DATA to its directory)")
    if _under_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for every Spark test (starting one costs ~3 s)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("tailguard-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "512")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def make_cfg(tmp_path):
    """Build a Config whose output.root is a fresh tmp dir; extra `key=value` overrides."""

    def build(*sets: str, conf_files: tuple[str, ...] = ()) -> Config:
        base = (f"output.root={tmp_path / 'tables'}", "spark.master=local[2]",
                "spark.conf.spark.sql.shuffle.partitions=2")
        return load_config(conf_files, base + sets)

    return build
