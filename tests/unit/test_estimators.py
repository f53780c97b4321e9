"""Estimator math: Poisson bootstrap weights, the Liang et al. MLE, ACC, ECE."""

from __future__ import annotations

import numpy as np
import pytest

from tailguard.share import estimators as est


def test_poisson_weights_have_poisson1_moments():
    u = np.random.default_rng(0).random(200_000)
    w = est.poisson_weights(u)
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)
    assert (w == 0).mean() == pytest.approx(np.exp(-1), abs=0.005)


def test_replicate_uniforms_are_uniform_and_differ_by_replicate():
    h = np.arange(20000, dtype=np.int64) * 7919
    u1, u2 = est.replicate_uniforms(h, 1), est.replicate_uniforms(h, 2)
    assert 0 <= u1.min() and u1.max() < 1
    assert abs(u1.mean() - 0.5) < 0.01 and abs(np.corrcoef(u1, u2)[0, 1]) < 0.03
    assert np.array_equal(u1, est.replicate_uniforms(h, 1))
    assert (est.replicate_weights(h[:10], 3)[0] == 1).all()


def test_parabolic_argmax_is_exact_for_a_parabola():
    grid = est.alpha_grid(11)
    values = -((grid - 0.437) ** 2)
    assert est.parabolic_argmax(values, grid) == pytest.approx(0.437, abs=1e-9)
    assert est.parabolic_argmax(-grid, grid) == 0.0          # maximum at the boundary
    assert est.parabolic_argmax(grid, grid) == 1.0


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.35, 0.8])
def test_mle_recovers_mixture_weight(alpha):
    rng = np.random.default_rng(3)
    n, m = 4000, 200
    p = rng.uniform(0.02, 0.4, m)
    q = np.clip(p * rng.lognormal(0, 0.6, m), 0.01, 0.9)
    synthetic = rng.random(n) < alpha
    x = np.where(synthetic[:, None], rng.random((n, m)) < q, rng.random((n, m)) < p)
    log_ratio = x @ np.log(q / p) + (~x) @ np.log((1 - q) / (1 - p))
    assert est.mle_share(log_ratio, points=41) == pytest.approx(alpha, abs=0.03)


def test_mle_weights_act_like_repeated_documents():
    lr = np.array([3.0, -2.0, 0.5, -4.0, 2.0])
    w = np.array([2.0, 0.0, 1.0, 3.0, 1.0])
    repeated = np.repeat(lr, w.astype(int))
    assert est.mle_share(lr, w) == pytest.approx(est.mle_share(repeated), abs=1e-12)


def test_mixture_terms_are_finite_for_extreme_ratios():
    terms = est.mixture_loglik_terms(np.array([-700.0, 700.0]), est.alpha_grid(5))
    assert np.isfinite(terms).all()
    assert terms[1, -1] == pytest.approx(700.0)
    assert terms[0, 0] == 0.0


def test_acc_adjusts_and_clips():
    assert est.acc_share(0.5, tpr=0.9, fpr=0.1) == pytest.approx(0.5)
    assert est.acc_share(0.05, tpr=0.9, fpr=0.1) == 0.0
    assert est.acc_share(0.99, tpr=0.9, fpr=0.1) == 1.0
    assert est.acc_share(0.5, tpr=0.1, fpr=0.1) is None


def test_percentile_interval_and_ece():
    lo, hi = est.percentile_interval(np.arange(1001) / 1000)
    assert (lo, hi) == pytest.approx((0.025, 0.975))
    prob = np.array([0.1, 0.1, 0.9, 0.9])
    assert est.expected_calibration_error(prob, np.array([0, 0, 1, 1.0])) == pytest.approx(0.1)
    assert est.expected_calibration_error(np.full(4, 0.5), np.array([0, 1, 0, 1.0])) == 0.0
