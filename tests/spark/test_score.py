"""score: mapInArrow scoring with the shipped detector matches local scoring; --dates."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json

import numpy as np
import pyarrow as pa
import pytest
from chispa import assert_df_equality

from tailguard import schema
from tailguard.cli import JobContext
from tailguard.detector import model as det
from tailguard.detector import score, train
from tailguard.detector.features import normalize_arrow
from tailguard.detector.markers import marker_rate_arrow
from tailguard.io.tables import write_table

_WORDS = ["".join(p) + "o" for p in itertools.product("bdfgklmnprst", repeat=2)]


def _doc(rng, synthetic: bool) -> str:
    p = np.roll(np.arange(1, len(_WORDS) + 1, dtype=float) ** -1.0, 5 if synthetic else 0)
    words = list(rng.choice(_WORDS, size=50, p=p / p.sum()))
    return " ".join(words + (["delve", "tapestry"] if synthetic else [])) + "."


@pytest.fixture(scope="module")
def detector_cfg(tmp_path_factory):
    from tailguard.config import load_config

    root = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(0)
    path = root / "lab.jsonl"
    with open(path, "w") as out:
        for i in range(400):
            out.write(json.dumps({"text": _doc(rng, i % 2 == 1),
                                  "label": "synthetic" if i % 2 else "human"}) + "\n")
    cfg = load_config([], [f"output.root={root / 'tables'}", "spark.master=local[2]"])
    train.run(JobContext(cfg=cfg, options=argparse.Namespace(input=str(path))))
    return cfg


def _docs(spark, rng):
    rows = []
    for i, day in enumerate([dt.date(2023, 1, 1)] * 3 + [dt.date(2023, 2, 1)] * 3):
        text = "" if i == 2 else _doc(rng, i % 2 == 1)
        rows.append((f"d{i}", f"https://a.com/{i}", "a.com", "a.com", day, "f", text,
                     len(text), 10, i, None))
    return spark.createDataFrame(rows, schema.DOCS)


def test_with_scores_matches_local_scoring(spark, detector_cfg):
    docs = _docs(spark, np.random.default_rng(1))
    names = score.ship_detector(spark, detector_cfg.detector_dir)
    scored = score.with_scores(docs, names)
    local = det.Detector.load(detector_cfg.detector_dir)
    texts = [r.text for r in docs.orderBy("doc_id").collect()]
    lines = normalize_arrow(pa.array(texts))
    raw, calibrated = local.score_lines(lines.to_pylist())
    rates = marker_rate_arrow(lines)
    expected = spark.createDataFrame(
        [(f"d{i}", r.crawl_date, float(calibrated[i]), float(raw[i]), local.version,
          float(rates[i]), 0 if i == 2 else len(lines[i].as_py().split()))
         for i, r in enumerate(docs.orderBy("doc_id").collect())], score.SCORES)
    assert_df_equality(scored, expected, ignore_row_order=True, ignore_nullable=True)
    assert scored.where("doc_id = 'd1'").first().p_synthetic > scored.where(
        "doc_id = 'd0'").first().p_synthetic


def test_run_writes_only_requested_dates(spark, detector_cfg):
    cfg = detector_cfg
    write_table(_docs(spark, np.random.default_rng(2)), cfg, "docs", partition_by="crawl_date")
    score.run(JobContext(cfg=cfg, dates=[dt.date(2023, 2, 1)]))
    written = spark.read.parquet(cfg.table_path("scores"))
    assert sorted(r.doc_id for r in written.collect()) == ["d3", "d4", "d5"]
    score.run(JobContext(cfg=cfg))
    assert spark.read.parquet(cfg.table_path("scores")).count() == 6
    versions = {r.detector_version for r in spark.read.parquet(cfg.table_path("scores"))
                .select("detector_version").distinct().collect()}
    assert versions == {det.read_meta(cfg.detector_dir)["version"]}
