"""Acceptance of issue 6 on the embedded demo crawl: at matched token budgets, the
post-AI text of synthetic-heavy domains is less diverse than the same domains' pre-AI
text (lower distinct-n, higher compression ratio, lower tail coverage)."""

from __future__ import annotations

import math

import pytest

from tailguard.io.tables import read_table

pytestmark = pytest.mark.slow


def _heavy_domains(demo, min_share=0.5):
    shares = demo.truth("domain_share.json")["domains"]
    return sorted(d for d, v in shares.items() if (v.get("share") or 0) >= min_share)


def _by(df, *keys):
    return {tuple(getattr(r, k) for k in keys): r for r in df.collect()}


def test_synthetic_heavy_domains_lose_diversity_at_matched_budgets(demo):
    demo.run("diversity")
    heavy = _heavy_domains(demo)
    assert len(heavy) >= 3
    div = _by(read_table(demo.spark, demo.cfg, "metrics/diversity")
              .where("token_budget is not null"), "domain", "era", "token_budget")
    cov = _by(read_table(demo.spark, demo.cfg, "metrics/tail_coverage"),
              "domain", "scope", "token_budget")
    compared, gaps_4 = 0, []
    for domain in heavy:
        budgets = sorted(b for d, e, b in div if d == domain and e == "post_ai"
                         and (domain, "pre_ai", b) in div)
        assert budgets, f"{domain}: no budget reached by both eras"
        for budget in budgets:
            pre, post = div[(domain, "pre_ai", budget)], div[(domain, "post_ai", budget)]
            for row in (pre, post):  # matched: whole documents up to the budget
                assert 0.9 * budget <= row.n_tokens <= budget
            for k in (1, 2, 3):
                assert getattr(post, f"distinct_ratio_n_{k}") < getattr(
                    pre, f"distinct_ratio_n_{k}"), (domain, budget, k)
            # 4-grams are ~97% distinct in both eras at these budgets, so the generator's
            # effect (1-4%) is of the order of the HLL error (1.04 / sqrt(2^14) = 0.8%):
            # each point may not sit above pre-AI by more than that error, and on average
            # post-AI must be lower.
            hll_error = 1.04 / math.sqrt(1 << demo.cfg.diversity.hll_precision)
            assert post.distinct_ratio_n_4 < pre.distinct_ratio_n_4 * (1 + hll_error), (
                domain, budget)
            gaps_4.append(post.distinct_ratio_n_4 - pre.distinct_ratio_n_4)
            assert post.compression_ratio > pre.compression_ratio, (domain, budget)
            assert (cov[(domain, "post_ai", budget)].coverage
                    < cov[(domain, "pre_ai", budget)].coverage), (domain, budget)
            compared += 1
    assert compared >= len(heavy)
    assert sum(gaps_4) / len(gaps_4) < 0, gaps_4


def test_full_group_rows_and_rarefaction_are_complete(demo):
    demo.run("diversity")
    div = read_table(demo.spark, demo.cfg, "metrics/diversity")
    alls = div.where("domain = '__all__' and month = '__all__' and token_budget is null")
    assert {r.era for r in alls.collect()} == {"pre_ai", "attested", "post_ai"}
    docs = read_table(demo.spark, demo.cfg, "docs").count()
    assert sum(r.n_docs for r in alls.collect()) == docs
    rare = read_table(demo.spark, demo.cfg, "metrics/rarefaction").where("domain = '__all__'")
    for r in rare.collect():
        assert r.chao1 >= r.distinct_concepts
        assert 0 < r.good_turing_missing_mass < 1
