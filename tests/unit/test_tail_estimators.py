"""Estimators against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import zstandard

from tailguard.diversity import estimators as est


def test_entropy_of_uniform_and_skewed_counts():
    assert est.entropy_from_counts([5, 5, 5, 5]) == pytest.approx(2.0)
    # p = (1/2, 1/4, 1/4): H = 0.5*1 + 2 * 0.25*2 = 1.5 bits
    assert est.entropy_from_counts([2, 1, 1]) == pytest.approx(1.5)
    assert est.entropy_from_counts([7]) == pytest.approx(0.0)
    assert np.isnan(est.entropy_bits(np.array([0.0]), np.array([0.0]))[0])


def test_good_turing_missing_mass():
    # counts 1,1,1,2,5: f1 = 3, n = 10
    assert est.good_turing_missing_mass(3, 10) == pytest.approx(0.3)
    assert np.isnan(est.good_turing_missing_mass(0, 0))


def test_chao1_bias_corrected_by_hand():
    # counts 1,1,1,2,5: S_obs 5, f1 3, f2 1, n 10 -> 5 + (9/10) * 3*2 / (2*2) = 6.35
    assert est.chao1(5, 3, 1, 10) == pytest.approx(6.35)
    # f2 = 0 is defined: counts 1,1,3: 3 + (4/5) * 2*1 / 2 = 3.8
    assert est.chao1(3, 2, 0, 5) == pytest.approx(3.8)
    # no singletons: no unseen concepts
    assert est.chao1(4, 0, 2, 12) == pytest.approx(4.0)


def test_mean_pairwise_jaccard_by_hand():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [1, 7, 3, 8]], dtype=np.uint32)
    # pairs: (0,1) 2/4, (0,2) 2/4, (1,2) 1/4 -> mean 5/12
    assert est.mean_pairwise_jaccard(sig) == pytest.approx(5 / 12)
    assert math.isnan(est.mean_pairwise_jaccard(sig[:1]))
    blobs = [row.astype("<u4").tobytes() for row in sig]
    np.testing.assert_array_equal(est.unpack_signatures(blobs, 4), sig)


@pytest.mark.parametrize("k", [2, est.SMALL_SAMPLE, est.SMALL_SAMPLE + 1, 60])
def test_mean_pairwise_jaccard_equals_every_pair_compared(k):
    """Both counting paths (all pairs at once; sorted columns and their runs of equal
    values) equal the mean over pairs, also with long runs of equal values."""
    rng = np.random.default_rng(k)
    sig = rng.integers(0, 3, size=(k, 16)).astype(np.uint32)
    sig[k // 2:] = sig[: k - k // 2]  # duplicated documents: every column has long runs
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    want = np.mean([np.mean(sig[i] == sig[j]) for i, j in pairs])
    assert est.mean_pairwise_jaccard(sig) == pytest.approx(want, rel=1e-12)


def test_chunk_compressor_sums_fixed_chunks():
    data = (b"abc" * 100) + bytes(range(256))
    comp = est.ChunkCompressor(chunk_bytes=128, level=3)
    comp.add(data[:50])
    comp.add(data[50:])
    raw, compressed = comp.finish()
    z = zstandard.ZstdCompressor(level=3, write_checksum=False, write_content_size=False)
    expected = sum(len(z.compress(data[i:i + 128])) for i in range(0, len(data), 128))
    assert raw == len(data)
    assert compressed == expected
    assert est.ChunkCompressor(64, 3).finish() == (0, 0)


@pytest.mark.parametrize("k", [2, 7, est.SMALL_SAMPLE, est.SMALL_SAMPLE + 1, 90])
def test_mean_pairwise_jaccard_equals_a_loop_over_pairs_on_both_paths(k):
    """Small samples compare all pairs at once, larger ones count equal values per
    permutation: both equal the definition."""
    sig = np.random.default_rng(k).integers(0, 4, size=(k, 16)).astype(np.uint32)
    pairs = [(sig[i] == sig[j]).mean() for i in range(k) for j in range(i + 1, k)]
    assert est.mean_pairwise_jaccard(sig) == pytest.approx(float(np.mean(pairs)), rel=1e-12)
