"""share with a stored pu classifier: a run that scores only a new date leaves the tables
a run over every date leaves with the same state, and a refit run equals a run from
scratch (issue 38)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from tailguard import schema
from tailguard.detector.model import META_FILE, REFERENCE_FILE
from tailguard.share import job as share
from tailguard.share import mle_state, pu_state

pytestmark = pytest.mark.slow

NEW_DATE = dt.date(2023, 2, 1)
WORDS = [f"w{i}" for i in range(200)]
MARKERS = ["delve", "tapestry", "moreover", "pivotal", "intricate"]


def _text(rng, synthetic: bool, domain: int) -> str:
    words = list(rng.choice(WORDS, 50)) + [f"topic{domain}{rng.integers(5)}"] * 3
    if synthetic:
        words += list(rng.choice(MARKERS, 6))
    return " ".join(words) + "."


@pytest.fixture(scope="module")
def crawl(spark, tmp_path_factory):
    """docs / provenance / scores of three domains on six dates (the last post-AI date is
    the 'new' one), and a detector directory."""
    rng = np.random.default_rng(3)
    docs, prov, scores = [], [], []
    for d, domain in enumerate(("a.com", "b.org", "c.net")):
        for era, days in (("pre_ai", [dt.date(2021, m, 1) for m in (1, 4, 7)]),
                          ("post_ai", [dt.date(2023, 1, 1), dt.date(2023, 1, 15), NEW_DATE])):
            for i in range(75):
                day = days[i % 3]
                synthetic = era == "post_ai" and i % 10 < 3 + d
                k = len(docs)
                docs.append((f"d{k}", f"https://{domain}/{k}", domain, domain, day, "f",
                             _text(rng, synthetic, d), 1, 1, k, None))
                prov.append((f"d{k}", k, f"c{k}", day, era, True, "none", day, domain))
                p = float(np.clip(rng.normal(0.7 if synthetic else 0.3, 0.15), 0.001, 0.999))
                scores.append((f"d{k}", day, p, p, "ft-test"))
    root = tmp_path_factory.mktemp("detector")
    with open(root / REFERENCE_FILE, "w") as out:
        for _ in range(100):
            out.write(json.dumps({"text": _text(rng, True, int(rng.integers(3))),
                                  "label": "synthetic"}) + "\n")
    meta = {"version": "ft-test", "operating_point": {"threshold": 0.5, "tpr": 0.8, "fpr": 0.1}}
    (root / META_FILE).write_text(json.dumps(meta))
    scores_schema = ("doc_id string, crawl_date date, p_synthetic double, p_raw double, "
                     "detector_version string")
    return (spark.createDataFrame(docs, schema.DOCS),
            spark.createDataFrame(prov, schema.PROVENANCE),
            spark.createDataFrame(scores, scores_schema), root)


def _run(spark, crawl, out, *sets, until=None):
    """Write the crawl's tables (dates up to `until`) under `out` and run share there."""
    from tailguard.cli import JobContext
    from tailguard.config import load_config
    from tailguard.io.tables import write_table

    docs, prov, scores, root = crawl
    cfg = load_config([], [f"output.root={out}", f"detector.dir={root}", "share.bootstrap=20",
                           "share.min_docs=20", "share.min_reference_docs=20",
                           "share.mle_min_df=3", "share.pu_folds=3", *sets])
    keep = (lambda df: df) if until is None else (lambda df: df.where(F.col("crawl_date") < until))
    write_table(keep(docs), cfg, "docs", partition_by="crawl_date")
    write_table(keep(prov), cfg, "provenance")
    write_table(keep(scores), cfg, "scores", partition_by="crawl_date")
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    share.run(ctx)
    return cfg


def _tables(spark, out) -> dict[str, pd.DataFrame]:
    keys = {"metrics/synthetic_share": ["era", "domain", "estimator"],
            "metrics/synthetic_share_monthly": ["era", "domain", "month", "estimator"],
            "pu_scores": ["doc_id", "crawl_date"]}
    return {name: spark.read.parquet(f"{out}/{name}").toPandas()
            .sort_values(cols, ignore_index=True) for name, cols in keys.items()}


def _assert_same(left, right):
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def test_a_new_date_scored_alone_equals_a_run_over_every_date(spark, crawl, tmp_path):
    daily, full = tmp_path / "daily", tmp_path / "full"
    _run(spark, crawl, daily, "share.refit_growth=1.0", until=NEW_DATE)
    first = pu_state.load(spark, _cfg(daily, crawl))
    words_first = mle_state.load(spark, _cfg(daily, crawl))
    stored = {p: p.stat().st_mtime_ns for name in ("pu_score", "mle_ratio")
              for p in (daily / "attributes" / name).rglob("*.parquet")}
    cfg = _run(spark, crawl, daily, "share.refit_growth=1.0")
    kept = pu_state.load(spark, cfg)
    assert kept.fingerprint == first.fingerprint
    assert mle_state.load(spark, cfg).fingerprint == words_first.fingerprint
    # the old dates' attributes were not made again: only the new date was read and scored
    assert stored and all(p.stat().st_mtime_ns == t for p, t in stored.items())
    for name in ("pu_score", "mle_ratio"):
        assert (daily / "attributes" / name / f"crawl_date={NEW_DATE}").is_dir()
    assert str(NEW_DATE) not in kept.fitted_on["dates"]
    stamps = spark.read.parquet(f"{daily}/attributes/pu_score").select("made_by").distinct()
    assert [r[0] for r in stamps.collect()] == [kept.maker().stamp]
    # the same state, every date scored in one run
    shutil.copytree(daily / "state", full / "state")
    _run(spark, crawl, full, "share.refit_growth=1.0")
    _assert_same(_tables(spark, daily), _tables(spark, full))


def test_growth_refits_and_a_refit_run_equals_a_run_from_scratch(spark, crawl, tmp_path):
    grown, scratch = tmp_path / "grown", tmp_path / "scratch"
    _run(spark, crawl, grown, until=NEW_DATE)
    before = pu_state.load(spark, _cfg(grown, crawl))
    # a third more post-AI documents > share.refit_growth (0.25): refitted
    cfg = _run(spark, crawl, grown)
    after = pu_state.load(spark, cfg)
    assert after.fingerprint != before.fingerprint
    assert str(NEW_DATE) in after.fitted_on["dates"]
    _run(spark, crawl, scratch)
    _assert_same(_tables(spark, grown), _tables(spark, scratch))
    # on request, over a state that would have been kept
    _run(spark, crawl, grown, "share.refit=true")
    _assert_same(_tables(spark, grown), _tables(spark, scratch))


def test_a_state_fitted_with_other_settings_is_refused(spark, crawl, tmp_path):
    from tailguard.errors import InputError

    _run(spark, crawl, tmp_path, until=NEW_DATE)
    with pytest.raises(InputError, match=r"state/pu_model was fitted with share.pu_c=10.0"):
        _run(spark, crawl, tmp_path, "share.pu_c=2.0")


def _cfg(out, crawl):
    from tailguard.config import load_config

    return load_config([], [f"output.root={out}", f"detector.dir={crawl[3]}"])
