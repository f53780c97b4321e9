"""The bootstrap-sum kernel: one matrix product per group equals the per-document sum."""

from __future__ import annotations

import numpy as np

from tailguard.share import bootstrap as bs
from tailguard.share import estimators as est


def test_group_sums_are_exact_weighted_document_sums_in_any_chunking(monkeypatch):
    rng = np.random.default_rng(4)
    n, replicates = 500, 9
    group = rng.integers(0, 6, n)
    values = bs.fixed_point(rng.normal(scale=300, size=(n, 4)))
    doc_hash = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    replicate = np.isin(group, [0, 2, 3])            # groups 1, 4, 5: replicate 0 only
    weights = est.replicate_weights(doc_hash, replicates)
    monkeypatch.setattr(est, "REPLICATE_CELLS", 37)   # a few documents per weight chunk
    sums = bs.group_sums(group, values, doc_hash, replicate, replicates)
    assert sorted(sums) == sorted(set(group.tolist()))
    for g, block in sums.items():
        rows = replicates + 1 if g in (0, 2, 3) else 1
        expected = np.array([[sum(int(weights[r, d]) * int(values[d, c])
                                  for d in np.flatnonzero(group == g))
                              for c in range(4)] for r in range(rows)])
        assert block.dtype == np.int64 and np.array_equal(block, expected)


def test_fixed_point_keeps_values_to_a_2_to_the_minus_24th():
    x = np.array([0.1, -699.9999, 1e-9, 0.5])
    q = bs.fixed_point(x)
    assert q.dtype == np.int64
    assert np.abs(q / 2.0**bs.FIXED_BITS - x).max() <= 2.0 ** -(bs.FIXED_BITS + 1)


def test_value_matrix_columns():
    values = bs.value_matrix(np.array([True, False]), np.array([0.9, 0.2]),
                             np.array([2.0, np.nan]), points=3)
    np.testing.assert_allclose(values[:, :3], [[1, 1, 0.9], [1, 0, 0.2]])
    # ll at a = 0, 0.5, 1: 0, log((1 + e^L) / 2), L; a missing ratio counts as L = 0
    np.testing.assert_allclose(values[0, 3:], [0.0, np.log((1 + np.exp(2.0)) / 2), 2.0])
    np.testing.assert_allclose(values[1, 3:], [0.0, 0.0, 0.0], atol=1e-15)
