"""The `pu` estimator's math (tailguard.share.pu and pu_share), without Spark."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tailguard.config import load_config
from tailguard.share import estimators as est
from tailguard.share import pu, pu_classifier, pu_share

GRID = np.linspace(0.01, 0.99, 99)


def _cfg(*sets):
    return load_config([], ["share.bootstrap=60", "share.min_docs=20",
                            "share.min_reference_docs=40", *sets])


def _human(rng, n):
    return rng.beta(2, 5, n)


def _synthetic(rng, n):
    return rng.beta(6, 2, n)


def _frame(rng, domain, n_pre, n_post, share):
    months = [dt.date(2019 + i // 12, i % 12 + 1, 1) for i in range(36)]
    n_syn = int(round(share * n_post))
    pre = pd.DataFrame({"era": "pre_ai", "month": [months[i % 36] for i in range(n_pre)],
                        "pu_score": _human(rng, n_pre)})
    post = pd.DataFrame({"era": "post_ai", "month": dt.date(2023, 3, 1),
                         "pu_score": np.concatenate([_human(rng, n_post - n_syn),
                                                     _synthetic(rng, n_syn)])})
    out = pd.concat([pre, post], ignore_index=True)
    out["domain"] = domain
    out["doc_hash"] = rng.integers(-(1 << 62), 1 << 62, len(out))
    return out


def test_mixture_share_recovers_the_weight_of_known_components():
    rng = np.random.default_rng(1)
    ref = pu.weighted_cdf(_human(rng, 4000), GRID)
    syn = pu.weighted_cdf(_synthetic(rng, 4000), GRID)
    for share in (0.0, 0.25, 0.8):
        n = int(share * 3000)
        tgt = pu.weighted_cdf(np.concatenate([_human(rng, 3000 - n), _synthetic(rng, n)]), GRID)
        assert pu.mixture_share(tgt, ref, syn) == pytest.approx(share, abs=0.03)
    assert pu.mixture_share(ref, ref, ref) is None  # components that cannot be told apart


def _log_likelihood(a, counts, ref, syn):
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(ref + a * (syn - ref))
        return float(np.where(counts > 0, counts * logs, 0.0).sum())  # 0 log 0 = 0


def _brute_ml(counts, ref, syn):
    """argmax of the binned log-likelihood over a fine grid of a in [0, 1]."""
    grid_a = np.linspace(0.0, 1.0, 20001)
    return grid_a[np.argmax([_log_likelihood(a, counts, ref, syn) for a in grid_a])]


def test_binned_ml_share_maximises_the_binned_likelihood_or_reads_the_swap_negated():
    """Each replicate's fit equals a brute-force maximum of sum_k c_k log((1 - a) p_ref,k
    + a p_syn,k) over a in [0, 1] (masses shrunk toward the prior, synthetic floored, as
    documented); where that maximum is 0, it equals minus the same maximum with target
    and reference swapped. Both kinds of row occur here."""
    rng = np.random.default_rng(11)
    cuts = pu.fit_bins(len(GRID), 12)
    prior = pu.weighted_cdf(_human(rng, 3000), GRID)
    ref = pu.weighted_cdf(np.concatenate([_human(rng, 36), _synthetic(rng, 4)]), GRID)
    syn = pu.weighted_cdf(_synthetic(rng, 3000), GRID)
    weights = est.replicate_weights(rng.integers(0, 1 << 62, 60), 40)
    target = np.concatenate([_human(rng, 56), _synthetic(rng, 4)])
    tgts, n = pu.weighted_cdfs(target, GRID, weights), weights.sum(axis=1)
    fits = pu.binned_ml_shares(tgts, n, ref[None], np.array([40.0]), syn, prior, cuts, 16.0)
    p_prior = pu.bin_masses(prior, cuts)[0]
    p_syn = 0.99 * pu.bin_masses(syn, cuts)[0] + 0.01 * p_prior
    ref_mass = pu.bin_masses(ref, cuts)[0]
    p_ref = (ref_mass * 40 + 16 * p_prior) / 56
    signs = set()
    for r in range(41):
        tgt_mass = pu.bin_masses(tgts[r], cuts)[0]
        forward = _brute_ml(tgt_mass * n[r], p_ref, p_syn)
        if forward > 0:
            expected = forward
        else:
            p_tgt = (tgt_mass * n[r] + 16 * p_prior) / (n[r] + 16)
            expected = -_brute_ml(ref_mass * 40, p_tgt, p_syn)
        signs.add(np.sign(expected))
        assert fits[r] == pytest.approx(expected, abs=1e-4)
    assert {-1.0, 1.0} <= signs


def test_binned_ml_placebo_centres_on_zero():
    """Human text against human text of the same domain, 30 against 60 documents, 300
    draws: the signed fit's mean is ~0 and it reads negative about as often as positive
    (a fit held at >= 0 would read a positive mean here)."""
    rng = np.random.default_rng(14)
    cuts = pu.fit_bins(len(GRID), 20)
    prior = pu.weighted_cdf(_human(rng, 20000), GRID)
    syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    values = []
    for _ in range(300):
        ref, tgt = pu.weighted_cdf(_human(rng, 60), GRID), pu.weighted_cdf(_human(rng, 30), GRID)
        values.append(pu.binned_ml_shares(tgt[None], np.array([30.0]), ref[None],
                                          np.array([60.0]), syn, prior, cuts, 16.0)[0])
    values = np.array(values)
    assert abs(values.mean()) < 0.01
    assert 0.3 < (values < 0).mean() and 0.3 < (values > 0).mean()


def test_binned_ml_share_recovers_known_weights_and_reads_signed():
    rng = np.random.default_rng(12)
    cuts = pu.fit_bins(len(GRID), 20)
    human = pu.weighted_cdf(_human(rng, 20000), GRID)
    syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    for share in (0.0, 0.25, 0.8):
        n = int(share * 3000)
        tgt = pu.weighted_cdf(np.concatenate([_human(rng, 3000 - n), _synthetic(rng, n)]), GRID)
        fit = pu.binned_ml_shares(tgt[None], np.array([3000.0]), human[None],
                                  np.array([3000.0]), syn, human, cuts, 16.0)[0]
        assert fit == pytest.approx(share, abs=0.03)
    # a target with less synthetic-looking text than its reference reads below zero
    ref = pu.weighted_cdf(np.concatenate([_human(rng, 2400), _synthetic(rng, 600)]), GRID)
    below = pu.binned_ml_shares(human[None], np.array([3000.0]), ref[None],
                                np.array([3000.0]), syn, human, cuts, 16.0)[0]
    assert below < -0.1
    # no target, or components that cannot be told apart: no fit
    assert pu.binned_ml_shares(human[None], np.array([0.0]), human[None], None, syn, human,
                               cuts, 16.0) == [None]
    assert pu.binned_ml_shares(human[None], np.array([3000.0]), human[None], None, human,
                               human, cuts, 16.0, synthetic_floor=0.0) == [None]


def test_binned_ml_share_is_closer_than_least_squares_on_small_domains():
    """Why the fit is the likelihood: a domain of 30 reference and 60 target documents,
    its synthetic text in the top of the score range. Over 200 such draws (the same
    draws for both) the binned likelihood's mean error is below the least-squares CDF
    fit's (0.037 against 0.042 here; the paired difference is ~3 standard errors)."""
    rng = np.random.default_rng(13)
    cuts = pu.fit_bins(len(GRID), 20)
    prior = pu.weighted_cdf(_human(rng, 20000), GRID)
    syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    ml_err, ls_err = [], []
    for _ in range(200):
        share = rng.uniform(0, 0.8)
        n = int(round(share * 60))
        ref = pu.weighted_cdf(_human(rng, 30), GRID)
        tgt = pu.weighted_cdf(np.concatenate([_human(rng, 60 - n), _synthetic(rng, n)]), GRID)
        truth = n / 60
        ml = pu.binned_ml_shares(tgt[None], np.array([60.0]), ref[None], np.array([30.0]),
                                 syn, prior, cuts, 16.0)[0]
        ls = pu.mixture_share(tgt, ref, syn)
        ml_err.append(abs(min(max(ml, 0), 1) - truth))
        ls_err.append(abs(min(max(ls, 0), 1) - truth))
    diff = np.array(ls_err) - np.array(ml_err)
    assert np.mean(ml_err) < 0.95 * np.mean(ls_err)
    assert diff.mean() > 2 * diff.std() / np.sqrt(len(diff))


def test_fit_bins_cut_the_grid_evenly_and_bin_masses_sum_to_one():
    assert pu.fit_bins(99, 20).tolist() == np.linspace(0, 98, 19).round().astype(int).tolist()
    assert pu.fit_bins(5, 20).tolist() == [0, 1, 2, 3, 4]
    masses = pu.bin_masses(pu.weighted_cdf(np.array([0.1, 0.5, 0.9]), GRID), pu.fit_bins(99, 4))
    assert masses.shape == (1, 4) and masses.sum() == pytest.approx(1.0)
    assert masses[0].tolist() == pytest.approx([0.0, 2 / 3, 1 / 3, 0.0])  # cuts 0.01, 0.5, 0.99


def test_weighted_cdf_counts_weights_and_handles_an_empty_sample():
    cdf = pu.weighted_cdf(np.array([0.1, 0.5, 0.9]), np.array([0.0, 0.5, 1.0]),
                          np.array([1.0, 2.0, 1.0]))
    assert cdf.tolist() == [0.0, 0.75, 1.0]
    assert pu.weighted_cdf(np.array([]), GRID).sum() == 0


def test_synthetic_cdf_is_recovered_from_domains_of_different_shares():
    rng = np.random.default_rng(2)
    shares = [0.1, 0.3, 0.5, 0.7]
    refs, tgts = [], []
    for share in shares:
        refs.append(pu.weighted_cdf(_human(rng, 3000), GRID))
        n = int(share * 3000)
        tgts.append(pu.weighted_cdf(np.concatenate([_human(rng, 3000 - n),
                                                    _synthetic(rng, n)]), GRID))
    start = np.array(shares) * 0.8  # a biased start (BBE on small samples)
    f_syn = pu.synthetic_cdf(np.vstack(refs), np.vstack(tgts), np.full(4, 3000), start)
    truth = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    # sampling bound: each CDF of 3000 documents is within 0.035 of its own (DKW, alpha
    # 0.01), and F_syn is their difference divided by the mean share (0.4): ~0.09
    assert np.abs(f_syn - truth).max() < 0.09
    fits = [pu.mixture_share(t, r, f_syn) for t, r in zip(tgts, refs, strict=True)]
    assert np.abs(np.array(fits) - shares).mean() < 0.1


def test_domain_replicates_fit_the_mixture_and_a_placebo_of_human_text():
    rng = np.random.default_rng(4)
    frame = _frame(rng, "a.com", 600, 400, 0.4)
    f_syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    pooled = pu.weighted_cdf(_human(rng, 5000), GRID)
    reps = pd.DataFrame(pu_share.domain_replicates(frame, GRID, f_syn, pooled, _cfg()))
    post = reps[(reps.era == "post_ai") & reps.month.isna()]
    assert len(post) == 122 and set(post.reference) == {"main", "mismatch"}
    by_ref = post.pivot(index="r", columns="reference", values="value")
    assert (by_ref.mismatch >= by_ref.main).all()  # the norm ratio only raises the top
    post = post[post.reference == "main"]
    point = post[post.r == 0].value.iloc[0]
    assert point == pytest.approx(0.4, abs=0.05)
    lo, hi = np.quantile(post[post.r > 0].value, [0.025, 0.975])
    assert lo < 0.4 < hi
    placebo = reps[reps.era == "pre_ai"]
    assert placebo.reason.iloc[0].startswith("placebo") and set(placebo.reference) == {"main"}
    assert abs(placebo[placebo.r == 0].value.iloc[0]) < 0.06
    assert (reps[reps.month.notna()].month == dt.date(2023, 3, 1)).all()


def test_a_small_reference_gives_the_point_and_the_pooled_one_widens_it():
    rng = np.random.default_rng(5)
    frame = _frame(rng, "small.com", 25, 200, 0.3)
    pooled = pu.weighted_cdf(rng.beta(3, 4, 5000), GRID)  # another source's human text
    f_syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    reps = pd.DataFrame(pu_share.domain_replicates(frame, GRID, f_syn, pooled, _cfg()))
    post = reps[(reps.era == "post_ai") & reps.month.isna()]
    assert set(post.reference) == {"main", "wider", "mismatch"}
    assert post.reason.iloc[0].startswith("small own reference: 25 pre-AI documents")
    points = post[post.r == 0].set_index("reference").value
    assert points["main"] == pytest.approx(0.3, abs=0.12)  # its own human text: unbiased
    # the pooled text scores higher: it reads too low, further from the truth than the main
    assert points["wider"] < 0.3 - 0.08 and abs(points["wider"] - 0.3) > abs(points["main"] - 0.3)
    # and widens the interval: summarise_replicates takes the lowest 2.5% and the highest
    # 97.5% percentile over the references (post-AI values clipped to [0, 1])
    bounds = {ref: np.percentile(group[group.r > 0].value.clip(0, 1), [2.5, 97.5])
              for ref, group in post.groupby("reference")}
    main_lo, main_hi = bounds["main"]
    lo, hi = min(b[0] for b in bounds.values()), max(b[1] for b in bounds.values())
    assert lo < main_lo - 0.05 and hi >= main_hi
    assert lo <= points["wider"] and not main_lo <= points["wider"]


def test_a_tiny_reference_is_fitted_against_the_pooled_one():
    rng = np.random.default_rng(5)
    frame = _frame(rng, "tiny.com", 8, 200, 0.3)
    pooled = pu.weighted_cdf(_human(rng, 5000), GRID)
    f_syn = pu.weighted_cdf(_synthetic(rng, 20000), GRID)
    reps = pd.DataFrame(pu_share.domain_replicates(frame, GRID, f_syn, pooled, _cfg()))
    post = reps[(reps.era == "post_ai") & reps.month.isna()]
    assert set(post.reference) == {"main", "wider", "mismatch"}
    assert post.reason.iloc[0].startswith("pooled reference: 8 pre-AI documents < 10")
    spread = post[post.r > 0].groupby("reference").value.std()
    assert spread["wider"] > spread["main"]  # own reference of 8 docs: the noisier fit


def test_norm_ratio_reads_the_share_where_the_fit_reads_it_times_cos_theta():
    ref = np.full(4, 0.5)
    f_syn = ref - np.array([0.2, 0.0, 0.0, 0.0])
    own = ref - np.array([0.2, 0.2, 0.0, 0.0]) / np.sqrt(2)  # as far, 45 degrees away
    target = 0.6 * ref + 0.4 * own
    assert pu.norm_ratio_shares(target, ref, f_syn)[0] == pytest.approx(0.4)
    assert pu.mixture_share(target, ref, f_syn) == pytest.approx(0.4 / np.sqrt(2))
    assert pu.norm_ratio_shares(ref, ref, ref) == [None]


def test_norm_ratio_is_never_below_the_fit():
    rng = np.random.default_rng(8)
    ref = np.sort(rng.random(30))
    syn = np.sort(rng.random(30)) * 0.5
    targets = np.sort(rng.random((50, 30)), axis=1)
    fits = np.array(pu.mixture_shares(targets, ref, syn))
    ratios = np.array(pu.norm_ratio_shares(targets, ref, syn))
    assert (ratios >= np.abs(fits) - 1e-12).all()


def test_era_balanced_weights_make_the_domain_uninformative():
    domains = np.array(["a"] * 10 + ["b"] * 30)
    labels = np.array([0] * 2 + [1] * 8 + [0] * 20 + [1] * 10)
    w = pu_classifier.era_balanced_weights(domains, labels)
    for d in ("a", "b"):
        sel = domains == d
        assert w[sel & (labels == 0)].sum() == pytest.approx(w[sel & (labels == 1)].sum())
        assert w[sel].sum() == pytest.approx(sel.sum())  # each domain keeps its size
    one_era = pu_classifier.era_balanced_weights(np.array(["c"] * 4), np.array([1] * 4))
    assert one_era.tolist() == [1.0] * 4


def test_placebo_needs_enough_earlier_documents():
    rng = np.random.default_rng(6)
    frame = _frame(rng, "tiny.com", 18, 12, 0.5)  # 6 pre-AI documents in the latest year
    reps = pu_share.domain_replicates(frame, GRID, GRID, GRID * 0, _cfg())
    placebo = reps[reps.era == "pre_ai"]
    assert len(placebo) == 1 and placebo.value.isna().all()
    assert "fewer than 10 pre-AI documents" in placebo.reason.iloc[0]



def test_replicate_cdfs_and_fits_at_once_equal_their_definitions():
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(300), 3)  # ties, and scores equal to grid values
    scores[:5] = GRID[:5]
    weights = est.replicate_weights(rng.integers(0, 1 << 62, 300), 5)
    weights[3] = 0  # an empty replicate
    many = pu.weighted_cdfs(scores, GRID, weights)
    for r in range(6):  # weighted fraction of scores <= each grid value, by brute force
        below = (scores[None, :] <= GRID[:, None]) @ weights[r]
        expected = below / weights[r].sum() if weights[r].sum() else np.zeros(len(GRID))
        assert np.allclose(many[r], expected, rtol=0, atol=1e-12)
    ref, syn = pu.weighted_cdf(_human(rng, 500), GRID), pu.weighted_cdf(_synthetic(rng, 500), GRID)
    fits = pu.mixture_shares(many, ref, syn)
    for r in range(6):  # least squares of (target - ref) on (syn - ref)
        solution = np.linalg.lstsq((syn - ref)[:, None], many[r] - ref, rcond=None)[0][0]
        assert fits[r] == pytest.approx(solution, abs=1e-12)
    assert pu.mixture_shares(many, syn, syn) == [None] * 6


def test_replicate_cdfs_in_chunks_equal_all_at_once(monkeypatch):
    rng = np.random.default_rng(8)
    scores, hashes = rng.random(500), rng.integers(0, 1 << 62, 500)
    whole = pu.weighted_cdfs(scores, GRID, est.replicate_weights(hashes, 30))
    monkeypatch.setattr(pu_share, "REPLICATE_CELLS", 500 * 7)  # chunks of 7 replicates
    chunked, totals = pu_share.replicate_cdfs(scores, hashes, GRID, 30)
    assert np.array_equal(chunked, whole) and totals[0] == 500 and len(totals) == 31


def test_human_p_is_the_conformal_p_value_against_the_reference():
    ref = np.array([0.1, 0.2, 0.2, 0.5, 0.9])
    got = pu_share.human_p_values(ref, np.array([0.0, 0.2, 0.3, 0.9, 0.95]))
    # (1 + #ref >= s) / (1 + n): ties count as at least as synthetic
    assert got.tolist() == pytest.approx([6 / 6, 5 / 6, 3 / 6, 2 / 6, 1 / 6])


def test_human_p_keeps_about_one_minus_alpha_of_human_pages():
    """The property the shards' admission rests on: pages drawn like the reference pass
    `p >= alpha` about 1 - alpha of the time, pages of another distribution far less."""
    rng = np.random.default_rng(3)
    ref = _human(rng, 400)
    human, llm = _human(rng, 5000), _synthetic(rng, 5000)
    for alpha in (0.1, 0.2, 0.3):
        kept = (pu_share.human_p_values(ref, human) >= alpha).mean()
        assert abs(kept - (1 - alpha)) < 0.04, (alpha, kept)
        assert (pu_share.human_p_values(ref, llm) >= alpha).mean() < 0.1


def test_grid_p_values_follow_the_reference_cdf_between_grid_points():
    grid = np.array([0.2, 0.4, 0.6])
    cdf = np.array([0.5, 0.75, 1.0])
    got = pu_share.grid_p_values(cdf, grid, np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.8, 1.0]))
    assert got.tolist() == pytest.approx([1.0, 0.75, 0.5, 0.375, 0.0, 0.0, 0.0])


def test_domain_pages_use_the_own_reference_when_large_enough_else_the_pooled_one():
    rng = np.random.default_rng(5)
    big = _frame(rng, "big.com", 60, 40, 0.5)
    small = _frame(rng, "small.com", 5, 40, 0.5)
    for frame in (big, small):
        frame["doc_id"] = [f"{frame.domain.iloc[0]}-{i}" for i in range(len(frame))]
        frame["crawl_date"] = frame.month
    pooled = pu.weighted_cdf(_human(rng, 1000), GRID)
    out = pu_share.domain_pages(big, GRID, pooled, least=15)
    post = out[out.era == "post_ai"]
    pre_scores = big[big.era == "pre_ai"].pu_score.to_numpy()
    assert (post.reference == "own").all()
    assert np.allclose(post.human_p, pu_share.human_p_values(pre_scores, post.pu_score))
    assert out[out.era == "pre_ai"].human_p.isna().all()
    tiny = pu_share.domain_pages(small, GRID, pooled, least=15)
    tiny_post = tiny[tiny.era == "post_ai"]
    assert (tiny_post.reference == "pooled").all()
    assert np.allclose(tiny_post.human_p, pu_share.grid_p_values(pooled, GRID,
                                                                 tiny_post.pu_score))
