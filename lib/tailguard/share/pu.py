"""Mixture-proportion math of the `pu` share estimator (positive-unlabelled), in numpy.

A domain's post-AI documents are a mixture (1 - a) H + a S of that domain's human
distribution H, known from its own pre-AI documents (a labelled human sample), and an
unknown synthetic one S; a is the class prior of the unlabelled sample. The scores come
from the cross-fitted classifier of pu_share.py; this module holds what is done with them:
- Best Bin Estimation (Garg et al. 2021, "Mixture Proportion Estimation and PU Learning:
  A Modern Approach"): with F_R, F_T the fractions of reference / target scores at or
  below t, (1 - a) <= F_T(t) / F_R(t) for every t, tight where synthetic text is rare;
  1 - a is that ratio at the t minimising it plus a confidence penalty (their
  Algorithm 1; 1 - a is the PU "positive" proportion here, human the labelled class).
  It starts the crawl's synthetic CDF below.
- The crawl's synthetic CDF from every domain's least-squares CDF fit (`weighted_cdf`,
  `mixture_share`, `synthetic_cdf`), and the norm ratio that widens intervals.
- Each domain's share: the binned maximum-likelihood fit against that CDF
  (`binned_ml_shares`), signed.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


def bbe_share(ref_scores: np.ndarray, tgt_scores: np.ndarray, ref_w: np.ndarray | None = None,
              tgt_w: np.ndarray | None = None, delta: float = 0.1,
              gamma: float = 0.01) -> float | None:
    """Synthetic share 1 - F_T(t*) / F_R(t*), t* minimising the ratio plus Garg et al.'s
    confidence penalty (1 + gamma) / F_R(t) (sqrt(log(4/delta)/2n_R) + sqrt(.../2n_T))."""
    ref_w = np.ones(len(ref_scores)) if ref_w is None else np.asarray(ref_w, float)
    tgt_w = np.ones(len(tgt_scores)) if tgt_w is None else np.asarray(tgt_w, float)
    n_r, n_t = ref_w.sum(), tgt_w.sum()
    if n_r <= 0 or n_t <= 0:
        return None
    cuts = np.unique(np.concatenate([ref_scores, tgt_scores]))
    order_r, order_t = np.argsort(ref_scores), np.argsort(tgt_scores)
    cum_r = np.concatenate([[0.0], np.cumsum(ref_w[order_r])])
    cum_t = np.concatenate([[0.0], np.cumsum(tgt_w[order_t])])
    below_r = cum_r[np.searchsorted(ref_scores[order_r], cuts, side="right")]
    below_t = cum_t[np.searchsorted(tgt_scores[order_t], cuts, side="right")]
    ok = below_r > 0
    if not ok.any():
        return None
    f_r = below_r[ok] / n_r
    ratio = (below_t[ok] / n_t) / f_r
    slack = math.sqrt(math.log(4.0 / delta) / (2.0 * n_r)) + math.sqrt(
        math.log(4.0 / delta) / (2.0 * n_t))
    best = int(np.argmin(ratio + (1.0 + gamma) / f_r * slack))
    return float(np.clip(1.0 - ratio[best], 0.0, 1.0))


# --- Known-component mixture fit by least squares (the crawl's F_syn) ----------------------
# BBE's minimum over thresholds is biased upward on small samples (on two human samples of
# 30 and 60 documents it reads ~0.1, a placebo far from 0). The share job therefore fitted
# every domain's target CDF as (1 - a) F_ref + a F_syn by least squares over a grid of
# scores, with F_ref the domain's own pre-AI CDF and F_syn ONE synthetic CDF for the whole
# crawl (the classifier is pooled, so synthetic text of every domain lands in the same
# region). F_syn comes from the domains' target-minus-human residuals, starting from
# their BBE shares and refitting a few times. The fit uses the whole distribution, not
# one bin, and its signed value is unbiased when target and reference are both human.
# It still learns F_syn; the domains' shares now come from the likelihood fit below.


def weighted_cdf(scores: np.ndarray, grid: np.ndarray, weights: np.ndarray | None = None
                 ) -> np.ndarray:
    """Fraction of (weighted) scores <= each grid value (sorted, unique); zeros for an
    empty sample."""
    weights = np.ones(len(scores)) if weights is None else weights
    return weighted_cdfs(scores, grid, weights)[0]


def weighted_cdfs(scores: np.ndarray, grid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fraction of weighted scores <= each grid value (sorted, unique), for every row of
    `weights` (replicates x documents) at once: each score's grid bin found once, one
    bincount for all rows (bin j holds the scores in (grid[j-1], grid[j]]), cumulative
    sums along the grid; zeros for a row of no weight. With integer weights (Poisson
    replicates, ones) the float sums are exact, so the result does not depend on order."""
    grid = np.asarray(grid, dtype=np.float64)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    rows, size = weights.shape[0], len(grid) + 1
    bins = np.searchsorted(grid, np.asarray(scores, dtype=np.float64), side="left")
    cells = (bins[None, :] + size * np.arange(rows)[:, None]).ravel()
    counts = np.bincount(cells, weights=weights.ravel(), minlength=rows * size)
    counts = counts.reshape(rows, size).astype(np.float64)  # an empty sample gives ints
    at = np.cumsum(counts, axis=1)[:, :-1]
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(at, total, out=np.zeros_like(at), where=total > 0)


def mixture_shares(cdf_targets: np.ndarray, cdf_references: np.ndarray,
                   cdf_synthetic: np.ndarray) -> list[float | None]:
    """Signed least-squares a of each target row ~ (1 - a) reference + a synthetic, for
    (replicates x grid) targets and references (one reference row serves all); None
    where reference and synthetic cannot be told apart."""
    tgt = np.atleast_2d(cdf_targets)
    ref = np.broadcast_to(np.atleast_2d(cdf_references), tgt.shape)
    gap = np.asarray(cdf_synthetic)[None, :] - ref
    den = np.einsum("ij,ij->i", gap, gap)
    num = np.einsum("ij,ij->i", tgt - ref, gap)
    return [float(n / d) if d > 1e-12 else None for n, d in zip(num, den, strict=True)]


def norm_ratio_shares(cdf_targets: np.ndarray, cdf_references: np.ndarray,
                      cdf_synthetic: np.ndarray) -> list[float | None]:
    """||F_T - F_R|| / ||F_syn - F_R|| of each target row (None where reference and
    synthetic cannot be told apart): the share if the domain's own synthetic text is as
    far from its human text as the crawl's F_syn but lies in another direction.

    The least-squares fit projects F_T - F_R = a (S_d - F_R) onto F_syn - F_R and reads
    a cos(theta) when the domain's synthetic CDF S_d is not the crawl's (another
    generator, another topic, short pages whose synthetic scores overlap the human ones
    differently); the norm ratio reads a there. It is >= the fit's absolute value
    (Cauchy-Schwarz) and carries the sampling noise of F_T - F_R in full, so it only
    raises the upper end of an interval (`pu_share.domain_replicates`), never the point.
    """
    tgt = np.atleast_2d(cdf_targets)
    ref = np.broadcast_to(np.atleast_2d(cdf_references), tgt.shape)
    gap = np.linalg.norm(np.asarray(cdf_synthetic)[None, :] - ref, axis=1)
    rise = np.linalg.norm(tgt - ref, axis=1)
    return [float(r / g) if g * g > 1e-12 else None for r, g in zip(rise, gap, strict=True)]


def mixture_share(cdf_target: np.ndarray, cdf_reference: np.ndarray,
                  cdf_synthetic: np.ndarray) -> float | None:
    """Signed least-squares a of cdf_target ~ (1 - a) cdf_reference + a cdf_synthetic;
    None when the two components cannot be told apart."""
    return mixture_shares(cdf_target, cdf_reference, cdf_synthetic)[0]


def synthetic_cdf(cdf_reference: np.ndarray, cdf_target: np.ndarray, n_target: np.ndarray,
                  shares: np.ndarray, iterations: int = 4) -> np.ndarray:
    """The crawl's synthetic CDF from (domains x grid) CDFs and initial shares.

    F_syn = sum_d n_d (F_T,d - (1 - a_d) F_R,d) / sum_d n_d a_d, made a CDF (clipped to
    [0, 1], non-decreasing); then a_d is refitted by `mixture_share` and F_syn again.
    The fit cannot tell a larger share of a more human-like F_syn from a smaller share of
    a less human-like one, so the scale comes from the start (the domains' BBE shares).
    Rescaling to one pooled BBE of the whole crawl was tried and not kept: 0.039 -> 0.032
    MAE on one real-text crawl, 0.029 -> 0.061 on another.
    """
    ref, tgt = np.atleast_2d(cdf_reference), np.atleast_2d(cdf_target)
    n = np.asarray(n_target, dtype=np.float64)
    a = np.clip(np.nan_to_num(np.asarray(shares, dtype=np.float64)), 0.0, 1.0)
    f_syn = np.zeros(ref.shape[1])
    for _ in range(iterations):
        mass = float(n @ a)
        if mass <= 0:
            break
        raw = (n[:, None] * (tgt - (1.0 - a)[:, None] * ref)).sum(axis=0) / mass
        f_syn = np.maximum.accumulate(np.clip(raw, 0.0, 1.0))
        a = np.array([np.clip(mixture_share(t, r, f_syn) or 0.0, 0.0, 1.0)
                      for t, r in zip(tgt, ref, strict=True)])
    return f_syn


# --- Binned maximum-likelihood fit (the point and the replicates of `pu`) ------------------
# The least-squares CDF fit above weighs every grid value alike, so where a domain's human
# scores simply wander (30 reference documents against 60 target ones) it counts as much
# as the top of the score range, where synthetic pages sit and human ones are rare. The
# likelihood of the target's binned scores under (1 - a) p_ref + a p_syn weighs each bin
# by what it says about a. On the real-text crawls, same scores and F_syn, nine draws:
# MAE 0.040 -> 0.033 (R1), 0.043 -> 0.040 (R1, 80-word pages), 0.115 -> 0.096 (R2); with
# each domain's true synthetic scores (the oracle floor) R2 0.076 -> 0.056
# (BENCHMARKS.md, 2026-12-06, second session).


def fit_bins(grid_size: int, bins: int) -> np.ndarray:
    """Indices of `bins - 1` grid values, evenly spread, that cut the score range into at
    most `bins` bins for the likelihood fit (all grid values when there are fewer)."""
    if grid_size <= 0:
        return np.zeros(0, dtype=np.int64)
    if bins - 1 >= grid_size:
        return np.arange(grid_size)
    return np.unique(np.linspace(0, grid_size - 1, max(bins - 1, 1)).round().astype(np.int64))


def bin_masses(cdfs: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """(rows x bins) probability of each bin from (rows x grid) CDFs read at grid indices
    `cuts` (bin 0 below the first cut, the last bin above the last)."""
    at = np.atleast_2d(np.asarray(cdfs, dtype=np.float64))[:, cuts]
    full = np.concatenate([np.zeros((at.shape[0], 1)), np.clip(at, 0.0, 1.0),
                           np.ones((at.shape[0], 1))], axis=1)
    return np.maximum(np.diff(np.maximum.accumulate(full, axis=1), axis=1), 0.0)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _slope(counts, p_ref, gap, a):
    total = 0.0
    for k in range(counts.shape[0]):
        if counts[k] > 0:
            total += counts[k] * gap[k] / (p_ref[k] + a * gap[k])
    return total


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _ml_shares(counts, p_ref, p_syn, iterations):
    out = np.empty(counts.shape[0])
    for i in range(counts.shape[0]):
        gap = p_syn - p_ref[i]
        if _slope(counts[i], p_ref[i], gap, 0.0) <= 0:
            out[i] = 0.0
        elif _slope(counts[i], p_ref[i], gap, 1.0) >= 0:
            out[i] = 1.0
        else:
            lo, hi = 0.0, 1.0
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                if _slope(counts[i], p_ref[i], gap, mid) > 0:
                    lo = mid
                else:
                    hi = mid
            out[i] = 0.5 * (lo + hi)
    return out


def nonnegative_ml_shares(counts: np.ndarray, p_ref: np.ndarray, p_syn: np.ndarray,
                          iterations: int = 60) -> np.ndarray:
    """argmax over a in [0, 1] of sum_k c_k log((1 - a) p_ref,k + a p_syn,k) for every row
    of (rows x bins) `counts` and `p_ref` (one p_syn): the log-likelihood is concave in
    a, so it is 0 where the slope at 0 is <= 0, 1 where the slope at 1 is >= 0, and
    otherwise the slope's root, found by bisection.

    Compiled (numba), one loop per row: a domain's fits are thousands of rows (months x
    bootstrap replicates), and numpy's whole-array bisection cost ~2/3 of the share
    job's per-domain stage on the daily bench crawl (12k documents, 500 sites)."""
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    p_ref = np.ascontiguousarray(np.broadcast_to(p_ref, counts.shape), dtype=np.float64)
    return _ml_shares(counts, p_ref, np.ascontiguousarray(p_syn, dtype=np.float64),
                      iterations)


def binned_ml_shares(cdf_targets: np.ndarray, n_targets: np.ndarray,
                     cdf_references: np.ndarray, n_references: np.ndarray | None,
                     cdf_synthetic: np.ndarray, cdf_prior: np.ndarray, cuts: np.ndarray,
                     prior_docs: float, synthetic_floor: float = 0.01) -> list[float | None]:
    """Signed maximum-likelihood share of each target row: the a in [0, 1] of its binned
    scores under (1 - a) p_ref + a p_syn, or, where that is 0, minus the same fit with
    the roles swapped (the reference's scores against the target); None for a target
    of no weight or when p_ref and p_syn cannot be told apart.

    A distribution's masses (p_ref; p_tgt when swapped) are its bin masses shrunk toward
    the prior's (the crawl's pooled pre-AI CDF) with `prior_docs` pseudo-documents,
    (counts + prior_docs p_prior) / (n + prior_docs), so that a bin a small sample
    happens to leave empty is not impossible for human text. With `n_references` None
    the reference is used as it is (the pooled reference itself) and has no swapped fit.
    p_syn is floored by mixing `synthetic_floor` of the prior into it.

    Why swapped rather than the likelihood below 0: (1 - a) p_ref + a p_syn stays a
    distribution only for a >= -min p_ref / (p_syn - p_ref), which is ~0 where the
    reference has almost no text in the bins synthetic text fills; a placebo (human
    against human) would then read >= 0 always, its noise a positive mean. Swapped, a
    target that looks less synthetic than its reference reads the share of synthetic-
    looking text its reference holds over it, negated: the two sides are symmetric, so
    the placebo centres on 0.
    """
    n_tgt = np.asarray(n_targets, dtype=np.float64)
    tgt_mass = bin_masses(cdf_targets, cuts)
    prior = bin_masses(cdf_prior, cuts)[0]
    syn = (1.0 - synthetic_floor) * bin_masses(cdf_synthetic, cuts)[0] + synthetic_floor * prior
    ref_mass = np.broadcast_to(bin_masses(cdf_references, cuts), tgt_mass.shape)

    def shrunk(mass: np.ndarray, n: np.ndarray) -> np.ndarray:
        return (mass * n[:, None] + prior_docs * prior) / (n[:, None] + prior_docs)

    if n_references is None:
        p_ref = ref_mass
    else:
        n_ref = np.broadcast_to(np.asarray(n_references, dtype=np.float64), n_tgt.shape)
        p_ref = shrunk(ref_mass, n_ref)
    a = nonnegative_ml_shares(tgt_mass * n_tgt[:, None], p_ref, syn)
    if n_references is not None:
        swapped = nonnegative_ml_shares(ref_mass * n_ref[:, None], shrunk(tgt_mass, n_tgt), syn)
        a = np.where(a > 0, a, -swapped)
    usable = (n_tgt > 0) & (np.abs(syn[None, :] - p_ref).sum(axis=1) > 1e-9)
    return [float(v) if ok else None for v, ok in zip(a, usable, strict=True)]
