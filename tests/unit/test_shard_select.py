"""The shard budget math (shards/select.py) and the manifest helpers, without Spark."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest

from tailguard.config import load_config
from tailguard.shards import manifest
from tailguard.shards.select import (
    ANCHOR_FLOOR,
    BUCKETS,
    bucket_of,
    find_cut,
    fresh_cap_after,
    plan_budget,
    prefix_within,
)
from tailguard.shards.writer import file_count


def test_plan_keeps_the_requested_budget_when_the_anchor_pool_suffices():
    plan = plan_budget(1000, 0.6, anchor_pool=5000, fresh_pool=5000)
    assert (plan.budget, plan.fresh_cap, plan.anchor_cap) == (1000, 400, 600)
    assert not plan.shrunk and plan.message is None


def test_plan_lets_the_anchor_fill_what_fresh_text_cannot():
    plan = plan_budget(1000, 0.6, anchor_pool=5000, fresh_pool=100)
    assert plan.anchor_cap == 900 and plan.fresh_cap == 400


def test_plan_shrinks_the_budget_to_what_the_anchor_pool_carries_and_says_so():
    plan = plan_budget(1000, 0.6, anchor_pool=300, fresh_pool=5000)
    assert plan.shrunk and plan.budget == 500
    assert "shrinks from 1,000 to 500" in plan.message
    assert Fraction(plan.anchor_cap) / plan.budget >= Fraction(6, 10)


def test_anchor_ratio_below_the_floor_is_raised_and_reported():
    plan = plan_budget(1000, 0.0, anchor_pool=5000, fresh_pool=5000)
    assert plan.ratio == ANCHOR_FLOOR and plan.fresh_cap == 900
    assert "below the floor" in plan.message


def test_budget_zero_means_as_large_as_the_anchor_allows():
    plan = plan_budget(0, 0.5, anchor_pool=700, fresh_pool=10_000)
    assert plan.budget == 1400 and plan.fresh_cap == 700 and not plan.shrunk


def test_forced_anchor_tokens_are_never_capped_away():
    plan = plan_budget(1000, 0.6, anchor_pool=5000, fresh_pool=5000, forced_anchor=800)
    assert plan.anchor_cap == 800


@pytest.mark.parametrize("seed", range(20))
def test_fresh_cap_after_keeps_the_ratio_exactly(seed):
    rng = random.Random(seed)
    ratio = rng.choice([0.1, 0.25, 0.6, 0.75, 0.9])
    plan = plan_budget(rng.randint(1, 10**9), ratio, rng.randint(0, 10**9), 10**9)
    anchor = rng.randint(0, plan.anchor_cap)
    fresh = fresh_cap_after(plan, anchor)
    assert 0 <= fresh <= plan.fresh_cap
    if anchor + fresh:
        assert Fraction(anchor, anchor + fresh) >= Fraction(str(ratio))


def test_find_cut_names_the_bucket_where_the_running_sum_crosses_the_cap():
    histogram = [(3, 10), (9, 5), (5, 20)]  # any order in; walked from the highest order
    cut = find_cut(histogram, 30)
    assert (cut.order, cut.above_tokens, cut.remaining) == (3, 25, 5)
    assert find_cut(histogram, 35).order is None
    assert find_cut(histogram, 35).above_tokens == 35


def test_prefix_within_is_a_prefix_of_key_order_with_ties_broken_by_the_data():
    rows = [(0.5, "b", 1, 4), (0.9, "c", 1, 3), (0.5, "a", 1, 4), (0.1, "d", 1, 1)]
    chosen, tokens = prefix_within(rows, 8)
    assert chosen == [("c", 1), ("a", 1)] and tokens == 7
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert prefix_within(shuffled, 8) == (chosen, tokens)


def test_prefix_within_stops_at_the_first_document_that_does_not_fit():
    rows = [(0.9, "a", 1, 5), (0.8, "b", 1, 10), (0.7, "c", 1, 1)]
    assert prefix_within(rows, 7) == ([("a", 1)], 5)


def test_bucket_of_covers_the_closed_unit_interval():
    assert bucket_of(0.0) == 0 and bucket_of(1.0) == BUCKETS - 1
    assert bucket_of(0.5) == BUCKETS // 2


def test_file_count_follows_the_target_size_and_never_exceeds_the_documents():
    assert file_count(0, 256.0, 10) == 1
    assert file_count(10 * (1 << 20) * 3, 1.0, 100) == 10
    assert file_count(10 * (1 << 20) * 3, 1.0, 4) == 4


def test_config_hash_ignores_where_a_run_happened_but_not_what_it_computes():
    base = load_config([], ["output.root=/a", "spark.master=local[1]"])
    moved = load_config([], ["output.root=/b", "spark.master=local[2]"])
    other = load_config([], ["output.root=/a", "shards.seed=2"])
    assert manifest.config_hash(base) == manifest.config_hash(moved)
    assert manifest.config_hash(base) != manifest.config_hash(other)


def test_manifest_render_rounds_floats_and_keeps_key_order():
    body = manifest.render({"b": 1 / 3, "a": {"z": [2 / 3]}})
    assert body.decode().startswith('{\n  "b": 0.333333')
    assert json.loads(body) == {"b": 0.333333, "a": {"z": [0.666667]}}


def test_comparison_is_shards_over_the_unweighted_sample():
    shards = manifest.sample_summary(100, 2, 30, 60, [50.0, 80.0])
    unweighted = manifest.sample_summary(100, 2, 20, 60, [40.0, 80.0])
    gains = manifest.comparison(shards, unweighted)
    assert gains["tail_coverage_gain"] == 1.5
    assert gains["distinct_n_gain"] == {"1": 1.25, "2": 1.0}
    assert shards["distinct_ratio_n"]["2"] == 80 / 98
