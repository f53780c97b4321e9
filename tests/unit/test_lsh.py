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


def test_spec_from_config_and_byte_ranges():
    dedup = load_config([], ["dedup.num_perm=64"]).dedup
    spec = LshSpec.from_config(dedup)
    assert (spec.bands, spec.rows) == lsh_params(
        0.8, 64, dedup.false_positive_weight, dedup.false_negative_weight)
    ranges = spec.byte_ranges()
    assert ranges[0] == (1, spec.rows * 4)
    assert ranges[-1][0] + ranges[-1][1] - 1 <= 64 * 4
    with pytest.raises(ValueError, match="exceed"):
        LshSpec(num_perm=16, bands=5, rows=4)


def test_bad_weights_and_threshold_are_rejected():
    with pytest.raises(ValueError, match="must equal 1"):
        lsh_params(0.8, 128, 0.5, 0.6)
    with pytest.raises(ValueError, match="threshold"):
        lsh_params(1.0, 128)


def test_estimated_jaccard():
    a = np.array([[1, 2, 3, 4]], dtype=np.uint32)
    b = np.array([[1, 2, 0, 0]], dtype=np.uint32)
    assert estimated_jaccard(a, b).tolist() == [0.5]
