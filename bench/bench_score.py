"""Scoring throughput on the benchmark `docs` table: `bench(spark, cfg) -> list[dict]`.

Times `with_scores` (normalise + fastText + calibration + marker rate, in mapInArrow)
into Spark's `noop` sink, so the number is the scoring cost without Parquet writing, and
the full `score` job (read + score + partitioned write) beside it, then the `share` job
(every estimator, incl. the cross-fitted `pu` classifier) on those scores when the
provenance table exists (bench_provenance ran first). When cfg.detector_dir
holds no detector, one is trained first on a sample of the benchmark docs with
hash-assigned labels: useless as a detector, but of realistic vocabulary and model size,
which is what throughput depends on.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import xxhash

from tailguard.cli import JobContext
from tailguard.detector import model as det
from tailguard.detector import score
from tailguard.detector.train import train_detector, write_detector
from tailguard.io.tables import read_table, table_exists
from tailguard.share import job as share

log = logging.getLogger(__name__)
TRAIN_SAMPLE = 4000


def _ensure_detector(spark, cfg) -> str:
    if (Path(cfg.detector_dir) / det.META_FILE).is_file():
        return "existing detector"
    texts = [r.text for r in read_table(spark, cfg, "docs").select("text")
             .orderBy("doc_id").limit(TRAIN_SAMPLE).collect()]
    labels = np.array([xxhash.xxh64_intdigest(t.encode("utf-8")) & 1 for t in texts], np.int8)
    # Random labels carry no signal: a low learning rate keeps fastText from diverging
    # to NaN on them (this model exists only to time scoring).
    with tempfile.TemporaryDirectory() as workdir:
        model, calibration, metrics, train = train_detector(
            texts, labels, cfg.with_overrides("detector.lr=0.05"), workdir)
    reference = [t for t, label in zip(texts, labels, strict=True) if label]  # mle's Q texts
    write_detector(cfg.detector_dir, model, calibration, metrics, reference, cfg)
    return f"detector trained on {len(texts)} bench docs with hash labels"


def bench(spark, cfg) -> list[dict]:
    note = _ensure_detector(spark, cfg)
    cores = spark.sparkContext.defaultParallelism
    docs = read_table(spark, cfg, "docs").cache()
    n_docs = docs.count()
    names = score.ship_detector(spark, cfg.detector_dir)
    results = []
    start = time.perf_counter()
    score.with_scores(docs, names).write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - start
    results.append({"name": "score.with_scores", "docs": n_docs, "seconds": round(seconds, 3),
                    "docs_per_s_per_core": round(n_docs / seconds / cores, 1),
                    "note": f"noop sink, {cores} cores; {note}"})
    start = time.perf_counter()
    score.run(JobContext(cfg=cfg))
    seconds = time.perf_counter() - start
    results.append({"name": "score.run", "docs": n_docs, "seconds": round(seconds, 3),
                    "docs_per_s_per_core": round(n_docs / seconds / cores, 1),
                    "note": "read docs + score + write scores partitions"})
    docs.unpersist()
    if table_exists(spark, cfg, "provenance"):
        start = time.perf_counter()
        share.run(JobContext(cfg=cfg))
        seconds = time.perf_counter() - start
        results.append({"name": "share.run", "docs": n_docs, "seconds": round(seconds, 3),
                        "docs_per_s_per_core": round(n_docs / seconds / cores, 1),
                        "note": f"all estimators, share.bootstrap={cfg.share.bootstrap}, "
                                f"pu with {cfg.share.pu_folds} folds"})
    for row in results:
        log.info("bench %s", row)
    return results
