"""Hadoop filesystem URIs stay URIs: output.root, detector.dir and table paths."""

from __future__ import annotations

import pytest

from tailguard import paths
from tailguard.config import load_config


@pytest.mark.parametrize(("root", "name", "expected"), [
    ("s3a://bucket/x", "docs", "s3a://bucket/x/docs"),
    ("s3a://bucket/x/", "metrics/diversity", "s3a://bucket/x/metrics/diversity"),
    ("s3a://bucket", "docs", "s3a://bucket/docs"),
    ("hdfs:///tailguard", "docs", "hdfs:///tailguard/docs"),
    ("hdfs://nn:8020/t", "shards/main", "hdfs://nn:8020/t/shards/main"),
    ("gs://b/p", "docs", "gs://b/p/docs"),
    ("file:///tmp/t", "docs", "file:///tmp/t/docs"),
    ("file:///", "docs", "file:///docs"),
    ("out/tables", "docs", "out/tables/docs"),
    ("/abs/tables/", "docs", "/abs/tables/docs"),
])
def test_join_keeps_scheme_and_authority(root, name, expected):
    assert paths.join(root, name) == expected


def test_config_table_path_and_detector_dir_keep_uris():
    cfg = load_config((), ["output.root=s3a://bucket/corpus", "input.path=hdfs:///crawl"])
    assert cfg.table_path("docs") == "s3a://bucket/corpus/docs"
    assert cfg.table_path("_staging/docs-1") == "s3a://bucket/corpus/_staging/docs-1"
    assert cfg.detector_dir == "s3a://bucket/corpus/detector"
    cfg = load_config((), ["output.root=hdfs:///tailguard"])
    assert cfg.table_path("metrics/diversity") == "hdfs:///tailguard/metrics/diversity"
    assert cfg.detector_dir == "hdfs:///tailguard/detector"
    assert load_config((), ["output.root=hdfs:///t", "detector.dir=gs://m/det"]).detector_dir \
        == "gs://m/det"


def test_local_path_of_file_uris_and_plain_paths_only():
    assert paths.local_path("file:///tmp/a%20b/x") == "/tmp/a b/x"
    assert paths.local_path("file://localhost/tmp/x") == "/tmp/x"
    assert paths.local_path("out/t") == "out/t"
    assert paths.local_path("hdfs:///t") is None
    assert paths.local_path("s3a://b/t") is None
    assert paths.local_path("file://otherhost/tmp/x") is None


def test_pyarrow_spelling_of_hadoop_schemes():
    assert paths.for_pyarrow("s3a://bucket/k/crawl") == "s3://bucket/k/crawl"
    assert paths.for_pyarrow("s3n://bucket/k") == "s3://bucket/k"
    assert paths.for_pyarrow("hdfs://nn:8020/c") == "hdfs://nn:8020/c"
    assert paths.for_pyarrow("gs://b/c") == "gs://b/c"
    assert paths.for_pyarrow("file:///tmp/c") == "file:///tmp/c"
    assert paths.for_pyarrow("rel/c").startswith("/") and paths.for_pyarrow("rel/c").endswith(
        "/rel/c")


def test_credentials_never_reach_a_log_line():
    assert paths.without_credentials("s3a://AKIA:secret@bucket/x") == "s3a://bucket/x"
    assert paths.without_credentials("hdfs://nn/x") == "hdfs://nn/x"
    assert paths.without_credentials("out/t") == "out/t"


def test_scheme_detection():
    assert paths.scheme("S3A://b/x") == "s3a"
    assert paths.scheme("/tmp/x") is None
    assert paths.scheme("c:/x") is None
    assert paths.is_uri("gs://b") and not paths.is_uri("gs:/b")
