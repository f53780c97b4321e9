"""Best Bin Estimation and the cross-fitted in-domain classifier (tailguard.synthetic.pu)."""

import numpy as np

from tailguard.synthetic import pu


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


def test_bbe_bootstrap_weights_widen_with_fewer_reference_docs():
    rng = np.random.default_rng(1)

    def spread(n_ref):
        ref = rng.beta(2, 5, n_ref)
        tgt = np.concatenate([rng.beta(2, 5, 300), rng.beta(5, 2, 200)])
        rows = pu.domain_share(ref, tgt, [f"r{i}" for i in range(n_ref)],
                               [f"t{i}" for i in range(len(tgt))], replicates=40, seed=3)
        values = np.array([s for r, _, s in rows if r > 0])
        return np.quantile(values, 0.975) - np.quantile(values, 0.025)

    assert spread(40) > spread(800)


def test_cross_fitted_classifier_finds_the_new_kind_of_text():
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(300)]
    human = [" ".join(rng.choice(words, 40)) for _ in range(200)]
    llm = [" ".join(rng.choice(words, 30)) + " delve tapestry moreover" for _ in range(60)]
    texts = human + llm
    is_target = np.array([0] * 100 + [1] * 160)  # 100 reference, 100 human + 60 llm targets
    ids = [f"d{i}" for i in range(len(texts))]
    scores = pu.cross_fitted_scores(texts, np.zeros(len(texts)), is_target, ids, folds=5)
    share = pu.bbe_share(scores[is_target == 0], scores[is_target == 1])
    assert abs(share - 60 / 160) < 0.1
