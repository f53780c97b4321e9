"""Best Bin Estimation (tailguard.share.pu) and the cross-fitted classifier (pu_share)."""

import numpy as np

from tailguard.share import estimators as est
from tailguard.share import pu, pu_classifier


def test_bbe_recovers_a_known_mixture_and_reads_zero_on_pure_human():
    rng = np.random.default_rng(0)
    human = lambda n: rng.beta(2, 5, n)  # noqa: E731
    synthetic = lambda n: rng.beta(5, 2, n)  # noqa: E731
    ref = human(2000)
    for share in (0.0, 0.3, 0.7):
        n_syn = int(share * 2000)
        tgt = np.concatenate([human(2000 - n_syn), synthetic(n_syn)])
        assert abs(pu.bbe_share(ref, tgt) - share) < 0.06, share
    assert pu.bbe_share(ref, human(2000)) < 0.03


def test_bootstrap_intervals_widen_with_fewer_reference_docs():
    """The share job's intervals (Poisson weights over reference and target, the mixture
    fit per replicate) are wider for a domain with 40 pre-AI documents than with 800."""
    rng = np.random.default_rng(1)
    grid = np.linspace(0.01, 0.99, 99)
    f_syn = pu.weighted_cdf(rng.beta(5, 2, 20000), grid)

    def spread(n_ref):
        ref = rng.beta(2, 5, n_ref)
        tgt = np.concatenate([rng.beta(2, 5, 300), rng.beta(5, 2, 200)])
        w_ref = est.replicate_weights(np.arange(n_ref, dtype=np.int64) * 7919, 40)
        w_tgt = est.replicate_weights(np.arange(len(tgt), dtype=np.int64) * 104729 + 1, 40)
        values = np.array([pu.mixture_share(pu.weighted_cdf(tgt, grid, w_tgt[r]),
                                            pu.weighted_cdf(ref, grid, w_ref[r]), f_syn)
                           for r in range(1, 41)])
        return np.quantile(values, 0.975) - np.quantile(values, 0.025)

    assert spread(40) > spread(800)


def test_cross_fitted_classifier_finds_the_new_kind_of_text():
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(300)]
    human = [" ".join(rng.choice(words, 40)) for _ in range(200)]
    llm = [" ".join(rng.choice(words, 30)) + " delve tapestry moreover" for _ in range(60)]
    texts = human + llm
    is_target = np.array([0] * 100 + [1] * 160)  # 100 reference, 100 human + 60 llm targets
    fold = np.arange(len(texts)) % 5
    scores = np.zeros(len(texts))
    for k in range(5):  # cross-fitted as pu_classifier does, one model per fold
        coef, intercept = pu_classifier.fit_fold_model(
            [t for t, f in zip(texts, fold, strict=True) if f != k], is_target[fold != k],
            np.ones(int((fold != k).sum())), 1 << 18, c=10.0, max_iter=200)
        held_out = [t for t, f in zip(texts, fold, strict=True) if f == k]
        x = pu_classifier._vectorizer(1 << 18).transform(held_out)
        scores[fold == k] = x @ coef + intercept
    share = pu.bbe_share(scores[is_target == 0], scores[is_target == 1])
    assert abs(share - 60 / 160) < 0.1


def _ml_shares_numpy(counts, p_ref, p_syn, iterations=60):
    """The whole-array bisection the compiled kernel replaced (its reference)."""
    gap = p_syn[None, :] - p_ref

    def slope(a):
        mix = p_ref + a[:, None] * gap
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, counts * gap / mix, 0.0).sum(axis=1)

    lo, hi = np.zeros(len(counts)), np.ones(len(counts))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = slope(mid) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(slope(np.zeros(len(counts))) <= 0, 0.0,
                    np.where(slope(np.ones(len(counts))) >= 0, 1.0, 0.5 * (lo + hi)))


def test_compiled_ml_shares_equal_the_numpy_bisection_and_find_planted_mixtures():
    rng = np.random.default_rng(3)
    bins = 20
    p_syn = rng.dirichlet(np.full(bins, 0.5))
    p_ref = rng.dirichlet(np.ones(bins), size=400)
    truth = rng.uniform(0, 1, size=400)
    mix = (1 - truth)[:, None] * p_ref + truth[:, None] * p_syn
    counts = np.vstack([rng.multinomial(5000, m) for m in mix]).astype(float)
    counts[:50, :3] = 0.0  # empty bins are skipped, not 0 * log 0
    got = pu.nonnegative_ml_shares(counts, p_ref, p_syn)
    np.testing.assert_allclose(got, _ml_shares_numpy(counts, p_ref, p_syn), atol=1e-12)
    assert np.abs(got - truth).mean() < 0.03
    # the ends: pure reference text reads 0, pure synthetic text reads 1
    assert pu.nonnegative_ml_shares(p_ref[:5] * 1e6, p_ref[:5], p_syn).max() < 0.01
    assert pu.nonnegative_ml_shares(np.tile(p_syn * 1e6, (5, 1)), p_ref[:5], p_syn).min() > 0.99
