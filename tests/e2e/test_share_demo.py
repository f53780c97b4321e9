"""Issue 5 acceptance on the demo crawl: the primary share estimator against the truth."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_primary_share_estimator_meets_acceptance(demo):
    demo.run("share")
    table = demo.spark.read.parquet(demo.cfg.table_path("metrics/synthetic_share")).toPandas()
    truth = demo.truth("domain_share.json")
    primary = table[table.is_primary]
    assert set(primary.estimator) == {demo.cfg.share.primary}

    post = primary[(primary.era == "post_ai") & (primary.domain != "__all__")]
    measured = post[post.share.notna()]
    pairs = [(row, truth["domains"][row.domain]["share"]) for row in measured.itertuples()
             if truth["domains"].get(row.domain, {}).get("share") is not None]
    assert len(pairs) >= 0.8 * len(truth["domains"])
    mae = sum(abs(row.share - true) for row, true in pairs) / len(pairs)
    coverage = sum(row.share_lo <= true <= row.share_hi for row, true in pairs) / len(pairs)
    assert mae <= 0.05, f"MAE {mae:.4f}"
    assert coverage >= 0.85, f"coverage {coverage:.2f}"
    # Domains too small for a number say so instead of giving one.
    small = post[post.n_docs < demo.cfg.share.min_docs]
    assert small.share.isna().all() and small.reason.notna().all()

    sanity = primary[(primary.era == "pre_ai") & (primary.domain != "__all__")]
    assert sanity.share.notna().any()
    # the pu placebo is signed (pu_share.py): it must centre on 0 from either side
    assert abs(sanity.share.mean()) <= 0.03, f"pre-AI mean {sanity.share.mean():.4f}"

    overall = primary[(primary.era == "post_ai") & (primary.domain == "__all__")]
    assert len(overall) == 1
    assert abs(overall.share.iloc[0] - truth["__all__"]["share"]) <= 0.05
