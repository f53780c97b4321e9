"""Diversity deltas on REAL text track the true synthetic share (issue 22, acceptance 2).

The crawl is built from shared/data/detector (`tailguard.sample.realtext`, rotation R2:
Glimpse and M4 human text, R2's held-out generators' text after the cutoff), read in place; the
test skips when the data is absent. It asserts the direction only (the issue's thresholds
are reported in BENCHMARKS.md from `bench/diversity_eval.py` on the full-size crawls)."""

from dataclasses import replace
from pathlib import Path

import pytest

from tailguard.diversity import realeval
from tailguard.sample import realtext as rt

pytestmark = [pytest.mark.slow, pytest.mark.heavy]
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "detector"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/detector")


@pytest.mark.skipif(not DATA.is_dir(), reason="shared/data/detector not present")
def test_deltas_track_true_share_on_real_text(spark, tmp_path):
    spec = replace(rt.CrawlSpec(), rotation="R2", pre_docs=60, post_docs=90,
                   min_human_tokens=6000)
    per_domain = realeval.run_crawl(spark, rt.read_rows(DATA), spec, tmp_path)
    stats = realeval.spearman(per_domain)
    assert stats["matched"] == stats["domains"] >= 6  # every domain fills the floor
    assert stats["spearman_delta_compression_ratio"] > 0
    assert stats["spearman_delta_distinct_ratio_n_2"] < 0
