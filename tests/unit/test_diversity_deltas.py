"""deltas.py: matched budgets, reasons and intervals of the per-domain comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tailguard.diversity.deltas import delta_rows, replicate_metrics, t975
from tailguard.schema import DELTA_METRICS


def _budget(rows):
    """(era, domain, budget, compression) -> budget rows with every metric."""
    out = []
    for era, domain, budget, comp in rows:
        out.append({"scope": era, "domain": domain, "token_budget": budget,
                    "compression_ratio": comp, **{f"distinct_ratio_n_{k}": 0.5 for k in
                                                  range(1, 5)}, "coverage": 0.1})
    return pd.DataFrame(out)


def _totals(rows):
    return pd.DataFrame(rows, columns=["scope", "domain", "n_tokens"])


def _reps(rows):
    """(era, domain, replicate, budget, compression)."""
    out = [{"scope": e, "domain": d, "key": r, "token_budget": b, "compression_ratio": c,
            **{f"distinct_ratio_n_{k}": 0.5 for k in range(1, 5)}, "coverage": 0.1}
           for e, d, r, b, c in rows]
    return pd.DataFrame(out, columns=["scope", "domain", "key", "token_budget",
                                      *DELTA_METRICS])


def test_the_largest_budget_both_eras_fill_is_compared():
    budget = _budget([("pre_ai", "a.com", 2000, 2.0), ("pre_ai", "a.com", 4000, 2.1),
                      ("pre_ai", "a.com", 8000, 2.2), ("post_ai", "a.com", 2000, 2.5),
                      ("post_ai", "a.com", 4000, 2.7)])
    totals = _totals([("pre_ai", "a.com", 9000), ("post_ai", "a.com", 5000)])
    (row,) = delta_rows(budget, totals, _reps([]), 2000, pairs=(("pre_ai", "post_ai"),))
    assert row["token_budget"] == 4000 and row["reason"] is None
    assert row["delta_compression_ratio"] == pytest.approx(0.6)
    assert row["base_compression_ratio"] == pytest.approx(2.1)
    assert row["half_compression_ratio"] is None and row["interval_budget"] is None
    assert (row["base_tokens"], row["target_tokens"]) == (9000, 5000)


def test_an_era_below_the_floor_gets_a_reason_row():
    budget = _budget([("pre_ai", "a.com", 2000, 2.0)])
    totals = _totals([("pre_ai", "a.com", 3000), ("post_ai", "a.com", 1500)])
    (row,) = delta_rows(budget, totals, _reps([]), 2000, pairs=(("pre_ai", "post_ai"),))
    assert row["token_budget"] is None and row["delta_compression_ratio"] is None
    assert row["reason"] == "post_ai has 1500 tokens, below the 2000-token floor"
    # a domain with no post_ai text at all is still a row
    (row,) = delta_rows(budget, totals[totals.scope == "pre_ai"], _reps([]), 2000,
                        pairs=(("pre_ai", "post_ai"),))
    assert row["reason"] == "post_ai has 0 tokens, below the 2000-token floor"


def test_interval_from_replicates_scaled_to_the_matched_budget():
    budget = _budget([("pre_ai", "a.com", b, 2.0) for b in (2000, 4000, 8000)]
                     + [("post_ai", "a.com", b, 2.4) for b in (2000, 4000, 8000)])
    totals = _totals([("pre_ai", "a.com", 9000), ("post_ai", "a.com", 9000)])
    pre = [1.9, 2.0, 2.1, 2.2]
    post = [2.3, 2.5, 2.4, 2.6]
    reps = _reps([("pre_ai", "a.com", r, 2000, c) for r, c in enumerate(pre)]
                 + [("post_ai", "a.com", r, 2000, c) for r, c in enumerate(post)]
                 + [("post_ai", "a.com", 0, 4000, 9.0)])  # one replicate: not a spread
    (row,) = delta_rows(budget, totals, reps, 2000, pairs=(("pre_ai", "post_ai"),))
    assert row["token_budget"] == 8000 and row["interval_budget"] == 2000
    assert row["replicates"] == 4
    # each era's coefficient of variation scaled by sqrt(2000 / 8000)
    expected = t975(6) * np.sqrt(2000 / 8000) * np.hypot(
        np.std(pre, ddof=1) * 2.0 / np.mean(pre), np.std(post, ddof=1) * 2.4 / np.mean(post))
    assert row["half_compression_ratio"] == pytest.approx(expected)
    assert row["half_distinct_ratio_n_2"] == pytest.approx(0.0)  # no spread: zero width


def test_a_small_era_gets_its_interval_from_replicate_rungs_below_the_floor():
    """Eras of 3,000 tokens: matched at the 2,000 floor, their 4 replicates of ~750 tokens
    fill only the 500 rung, which gives the spread (scaled by sqrt(500 / 2000))."""
    budget = _budget([("pre_ai", "a.com", 2000, 2.0), ("post_ai", "a.com", 2000, 2.4)])
    totals = _totals([("pre_ai", "a.com", 3000), ("post_ai", "a.com", 3000)])
    pre, post = [1.8, 2.0, 2.1, 1.9], [2.2, 2.6, 2.4, 2.5]
    reps = _reps([("pre_ai", "a.com", r, 500, c) for r, c in enumerate(pre)]
                 + [("post_ai", "a.com", r, 500, c) for r, c in enumerate(post)]
                 + [("post_ai", "a.com", 0, 1000, 2.3)])  # one replicate fills 1,000
    (row,) = delta_rows(budget, totals, reps, 2000, pairs=(("pre_ai", "post_ai"),))
    assert row["token_budget"] == 2000 and row["interval_budget"] == 500
    expected = t975(6) * np.sqrt(500 / 2000) * np.hypot(
        np.std(pre, ddof=1) * 2.0 / np.mean(pre), np.std(post, ddof=1) * 2.4 / np.mean(post))
    assert row["half_compression_ratio"] == pytest.approx(expected)


def test_a_count_like_metric_keeps_its_relative_spread():
    """Tail coverage triples from the 500-token replicates (0.02) to the 2,000-token
    sample (0.06): its sd grows with it, times sqrt(500 / 2000) for the larger sample."""
    budget = _budget([("pre_ai", "a.com", 2000, 2.0), ("post_ai", "a.com", 2000, 2.0)])
    budget["coverage"] = 0.06
    totals = _totals([("pre_ai", "a.com", 3000), ("post_ai", "a.com", 3000)])
    reps = _reps([(e, "a.com", r, 500, 2.0) for e in ("pre_ai", "post_ai") for r in range(4)])
    reps["coverage"] = [0.01, 0.02, 0.03, 0.02] * 2
    (row,) = delta_rows(budget, totals, reps, 2000, pairs=(("pre_ai", "post_ai"),))
    sd = np.std([0.01, 0.02, 0.03, 0.02], ddof=1) * (0.06 / 0.02) * np.sqrt(500 / 2000)
    assert row["half_coverage"] == pytest.approx(t975(6) * np.hypot(sd, sd))
    assert row["half_compression_ratio"] == pytest.approx(0.0)


def test_replicate_metrics_from_sums():
    rows = pd.DataFrame([{"scope": "pre_ai", "domain": "a", "key": 0, "token_budget": 2000,
                          "raw_bytes": 300, "compressed_bytes": 100,
                          **{f"ngrams_{k}": 100 - k for k in range(1, 5)},
                          **{f"distinct_n_{k}": 50.0 * k for k in range(1, 5)},
                          "covered": 7}])
    got = replicate_metrics(rows, tail_size=70).iloc[0]
    assert got.compression_ratio == 3.0 and got.coverage == pytest.approx(0.1)
    assert got.distinct_ratio_n_1 == pytest.approx(50 / 99)
    assert got.distinct_ratio_n_3 == 1.0  # an HLL estimate above the count is clipped


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706) and t975(6) == pytest.approx(2.447)
    assert t975(1000) == 1.96
