"""LSH parameters come from datasketch's optimal search and behave like an S-curve."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from tailguard.config import load_config
from tailguard.dedup.lsh import LshSpec, candidate_probability, estimated_jaccard, lsh_params


def test_params_match_datasketch_and_fit_num_perm():
    assert lsh_params(0.8, 128) == _optimal_param(0.8, 128, 0.5, 0.5)
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128
    assert lsh_params(0.8, 128, 0.2, 0.8) == _optimal_param(0.8, 128, 0.2, 0.8)


def test_s_curve_is_steep_around_the_threshold():
    bands, rows = lsh_params(0.8, 128)
    p = candidate_probability(np.array([0.5, 0.7, 0.8, 0.9, 0.95]), bands, rows)
    assert np.all(np.diff(p) > 0)
    assert p[0] < 0.01 and p[-1] > 0.99
    assert 0.6 < (1 / bands) ** (1 / rows) < 0.9


def test_favouring_recall_moves_the_curve_left():
    strict = lsh_params(0.8, 128, 0.5, 0.5)
    lenient = lsh_params(0.8, 128, 0.1, 0.9)
    assert candidate_probability(0.8, *lenient) > candidate_probability(0.8, *strict)


def test_spec_from_config():
    dedup = load_config([], ["dedup.num_perm=64"]).dedup
    spec = LshSpec.from_config(dedup)
    assert (spec.bands, spec.rows) == lsh_params(
        0.8, 64, dedup.false_positive_weight, dedup.false_negative_weight)
    with pytest.raises(ValueError, match="exceed"):
        LshSpec(num_perm=16, bands=5, rows=4)


def test_band_hashes_agree_exactly_on_equal_bands():
    spec = LshSpec(num_perm=16, bands=3, rows=4)  # values 12..15 belong to no band
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, (5, 16), dtype=np.uint64).astype(np.uint32)
    sig[1] = sig[0]
    sig[1, 12:] += 1                 # outside every band: same hashes
    sig[2] = sig[0]
    sig[2, 5] ^= 1                   # one value of band 1 differs
    sig[3] = sig[0, [4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]]  # bands 0, 1 swapped
    h = spec.band_hashes(sig)
    assert h.shape == (5, 3) and h.dtype == np.int64
    assert (h[1] == h[0]).all()
    assert h[2, 0] == h[0, 0] and h[2, 2] == h[0, 2] and h[2, 1] != h[0, 1]
    assert h[3, 0] == h[0, 1] and h[3, 1] == h[0, 0]  # a band's hash depends on its values only
    assert len(np.unique(h[[0, 4]])) == 6
    assert spec.band_hashes(np.zeros((0, 16), np.uint32)).shape == (0, 3)
    with pytest.raises(ValueError, match="signature matrix"):
        spec.band_hashes(sig[:, :8])


def test_band_hashes_rarely_collide():
    spec = LshSpec(num_perm=128, bands=16, rows=8)
    rng = np.random.default_rng(1)
    sig = rng.integers(0, 2**32, (20000, 128), dtype=np.uint64).astype(np.uint32)
    sig[:, :8] = rng.integers(0, 4, (20000, 8))  # low-entropy band 0: 4^8 distinct values
    h = spec.band_hashes(sig)
    assert len(np.unique(h[:, 1:])) == h[:, 1:].size
    distinct_values = len(np.unique(sig[:, :8], axis=0))
    assert len(np.unique(h[:, 0])) == distinct_values


def test_bad_weights_and_threshold_are_rejected():
    with pytest.raises(ValueError, match="must equal 1"):
        lsh_params(0.8, 128, 0.5, 0.6)
    with pytest.raises(ValueError, match="threshold"):
        lsh_params(1.0, 128)


def test_estimated_jaccard():
    a = np.array([[1, 2, 3, 4]], dtype=np.uint32)
    b = np.array([[1, 2, 0, 0]], dtype=np.uint32)
    assert estimated_jaccard(a, b).tolist() == [0.5]
