"""`tailguard score [--dates ...]`: per-document synthetic probability and cheap signals.

load docs -> ship the detector (SparkContext.addFile under version-named file names) ->
score Arrow batches in `mapInArrow` (the model is loaded once per Python worker and
cached) -> write the `scores` partitions present in the input (`write_partitions`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from tailguard.detector import model as det
from tailguard.detector.features import normalize_arrow
from tailguard.detector.markers import marker_rate_arrow
from tailguard.io.tables import date_rows, read_table, write_partitions
from tailguard.schema import require_columns

log = logging.getLogger(__name__)

SCORES = T.StructType([
    T.StructField("doc_id", T.StringType(), False),
    T.StructField("crawl_date", T.DateType(), False),
    T.StructField("p_synthetic", T.DoubleType(), False),   # calibrated P(LLM-written)
    T.StructField("p_raw", T.DoubleType(), False),         # fastText probability, uncalibrated
    T.StructField("detector_version", T.StringType(), False),
    T.StructField("marker_rate", T.DoubleType(), False),   # lexicon hits per word (markers.py)
    T.StructField("n_tokens", T.IntegerType(), False),     # detector tokens after normalising
])

_ARROW_SCORES = pa.schema([
    pa.field("doc_id", pa.string(), False), pa.field("crawl_date", pa.date32(), False),
    pa.field("p_synthetic", pa.float64(), False), pa.field("p_raw", pa.float64(), False),
    pa.field("detector_version", pa.string(), False),
    pa.field("marker_rate", pa.float64(), False), pa.field("n_tokens", pa.int32(), False),
])
# Detectors already loaded in this Python worker, by version (workers are reused by tasks).
_LOADED: dict[str, det.Detector] = {}


def ship_detector(spark, directory: str) -> dict[str, str]:
    """Register the detector files with SparkContext.addFile under version-named names.

    Names carry the version, so two detectors in one application never collide and a
    worker's cache key is the content hash. The files are copied into a private
    `mkdtemp` directory (mode 0700, unpredictable name) and checked against the version
    there, never into a shared, guessable /tmp path whose existing contents would be
    trusted; a second call in the same application reuses its registered copies.
    Returns {file role: shipped name}.
    """
    from tailguard.io.remote import local_dir

    directory = local_dir(directory)  # a remote detector.dir (hdfs://, s3a://) is fetched
    version = det.read_meta(directory)["version"]
    names = {role: f"{version}-{role}" for role in det.DETECTOR_FILES}
    registered = {Path(p.split("://", 1)[-1]).name: p for p in spark.sparkContext.listFiles}
    if all(name in registered for name in names.values()):
        return {**names, "version": version}
    det.verify_version(Path(directory) / det.MODEL_FILE,
                       Path(directory) / det.CALIBRATION_FILE, version)
    staging = Path(tempfile.mkdtemp(prefix="tailguard-detector-"))
    for role, name in names.items():
        shutil.copyfile(Path(directory) / role, staging / name)
    det.verify_version(staging / names[det.MODEL_FILE],
                       staging / names[det.CALIBRATION_FILE], version)
    for name in names.values():
        spark.sparkContext.addFile(str(staging / name))
    return {**names, "version": version}


def _worker_detector(names: dict[str, str]) -> det.Detector:
    from pyspark import SparkFiles

    version = names["version"]
    if version not in _LOADED:
        local = Path(SparkFiles.get(names[det.MODEL_FILE])).parent
        det.verify_version(local / names[det.MODEL_FILE],
                           local / names[det.CALIBRATION_FILE], version)
        staged = Path(tempfile.mkdtemp(prefix="tailguard-detector-"))
        for role in det.DETECTOR_FILES:
            os.symlink(local / names[role], staged / role)
        _LOADED[version] = det.Detector.load(staged)
    return _LOADED[version]


def _score_batch(batch: pa.RecordBatch, detector: det.Detector) -> pa.RecordBatch:
    lines = normalize_arrow(batch.column("text"))
    raw, calibrated = detector.score_lines(lines.to_pylist())
    n_tokens = pc.list_value_length(pc.split_pattern(lines, " ")).to_numpy(
        zero_copy_only=False)
    n_tokens = np.where(pc.equal(lines, "").to_numpy(zero_copy_only=False), 0, n_tokens)
    return pa.RecordBatch.from_arrays(
        [batch.column("doc_id"), batch.column("crawl_date"),
         pa.array(calibrated, pa.float64()), pa.array(raw, pa.float64()),
         pa.array([detector.version] * batch.num_rows, pa.string()),
         pa.array(marker_rate_arrow(lines), pa.float64()),
         pa.array(n_tokens.astype(np.int32), pa.int32())],
        schema=_ARROW_SCORES)


def with_scores(docs_df: DataFrame, names: dict[str, str]) -> DataFrame:
    """Score documents with the shipped detector `names` (see ship_detector)."""
    require_columns(docs_df, ["doc_id", "crawl_date", "text"], "score")

    def score_partition(batches):
        detector = _worker_detector(names)
        for batch in batches:
            yield _score_batch(batch, detector)

    return docs_df.select("doc_id", "crawl_date", "text").mapInArrow(score_partition, SCORES)


def run(ctx) -> None:
    cfg, spark = ctx.cfg, ctx.spark
    names = ship_detector(spark, cfg.detector_dir)
    docs = read_table(spark, cfg, "docs", dates=ctx.dates)
    scores = with_scores(docs, names).select(*SCORES.fieldNames())
    write_partitions(scores, cfg, "scores", sort_by=["doc_id"], rows=date_rows(docs))
    log.info("score: wrote scores with detector %s (dates=%s)", names["version"],
             "all" if ctx.dates is None else len(ctx.dates))
