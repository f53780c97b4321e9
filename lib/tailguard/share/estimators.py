"""Population estimators of the synthetic share: the math, in numpy, without Spark.

The share job evaluates the same formulas as Spark aggregations (sums per group and
bootstrap replicate); these functions are the reference those aggregations are tested
against and hold the constants both use.

- cc / pcc: classify-and-count and probabilistic classify-and-count (Forman 2008; Bella
  et al. 2010).
- acc: adjusted classify-and-count, p = (cc - fpr) / (tpr - fpr), clipped to [0, 1]
  (Forman 2008, "Quantifying counts and costs via classification").
- mle: the distributional estimator of Liang et al. 2024 ("Monitoring AI-Modified Content
  at Scale", arXiv:2403.07183): with P the human and Q the synthetic word-occurrence
  distribution, alpha = argmax_a sum_d w_d log((1 - a) + a Q(d)/P(d)). The objective is
  concave in a (a sum of logs of affine functions), so a grid plus one parabolic step
  around the best grid point finds the maximum to well under the bootstrap noise.
- Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012): each document gets an
  independent Poisson(1) weight per replicate, drawn from a hash of (doc_id, replicate),
  so replicates are sums over documents and need no resampling shuffle.
"""

from __future__ import annotations

import math

import numpy as np

from tailguard.text.hashing import GOLDEN64, fmix64

# Poisson(1) weights above this are so rare (p < 1e-9) they are folded into it.
POISSON_MAX = 12


def poisson_cdf_thresholds(max_k: int = POISSON_MAX) -> list[float]:
    """P(K <= k) for k = 0..max_k-1 of Poisson(1): weight = #thresholds below u ~ U(0,1)."""
    cdf, term, out = 0.0, math.exp(-1.0), []
    for k in range(max_k):
        cdf += term
        out.append(cdf)
        term /= k + 1
    return out


def poisson_weights(uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF Poisson(1) draws for uniforms in [0, 1)."""
    thresholds = np.asarray(poisson_cdf_thresholds())
    return np.searchsorted(thresholds, uniforms, side="right").astype(np.float64)


def _salts(replicates) -> np.ndarray:
    return np.array([(int(GOLDEN64) * r) & 0xFFFFFFFFFFFFFFFF for r in replicates], np.uint64)


def replicate_uniforms(doc_hash: np.ndarray, replicate) -> np.ndarray:
    """Uniform [0, 1) per document for a bootstrap replicate (53 high bits of
    fmix64(hash ^ GOLDEN64 * replicate)); for a sequence of replicates, one row each."""
    rows = [replicate] if isinstance(replicate, int) else list(replicate)
    mixed = fmix64(doc_hash.astype(np.uint64)[None, :] ^ _salts(rows)[:, None])
    out = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out[0] if isinstance(replicate, int) else out


def replicate_weights(doc_hash: np.ndarray, replicates: int | range) -> np.ndarray:
    """Poisson(1) weights, one row per replicate of `replicates` (an int R: rows 0..R);
    replicate 0 is the sample itself (all ones)."""
    rows = range(replicates + 1) if isinstance(replicates, int) else replicates
    out = np.ones((len(rows), len(doc_hash)))
    drawn = [i for i, r in enumerate(rows) if r > 0]
    if drawn and len(doc_hash):
        uniforms = replicate_uniforms(doc_hash, [rows[i] for i in drawn])
        out[drawn] = poisson_weights(uniforms.ravel()).reshape(uniforms.shape)
    return out


# replicate weights are made this many (replicate, document) cells at a time, so a domain
# of millions of documents needs tens of MB for its bootstrap, not replicates x documents
REPLICATE_CELLS = 4_000_000


def alpha_grid(points: int) -> np.ndarray:
    """Evenly spaced mixing weights 0..1 inclusive."""
    return np.linspace(0.0, 1.0, points)


def mixture_loglik_terms(log_ratio: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """log((1 - a) + a exp(L)) for every document (rows) and grid point (columns).

    Computed as logaddexp(log(1 - a), log(a) + L), which stays finite for |L| in the
    hundreds (word-occurrence likelihood ratios are that large).
    """
    with np.errstate(divide="ignore"):
        log_a = np.log(grid)[None, :]
        log_1ma = np.log1p(-grid)[None, :]
    return np.logaddexp(log_1ma, log_a + log_ratio[:, None])


def parabolic_argmax(values: np.ndarray, grid: np.ndarray) -> float:
    """Argmax of a concave function sampled on an even grid, refined by one parabola."""
    i = int(np.argmax(values))
    if i == 0 or i == len(grid) - 1:
        return float(grid[i])
    left, mid, right = values[i - 1], values[i], values[i + 1]
    curvature = left - 2.0 * mid + right
    if not np.isfinite(curvature) or curvature >= 0:
        return float(grid[i])
    step = grid[1] - grid[0]
    offset = 0.5 * (left - right) / curvature
    return float(np.clip(grid[i] + offset * step, 0.0, 1.0))


def mle_share(log_ratio: np.ndarray, weights: np.ndarray | None = None,
              points: int = 101) -> float:
    """Liang et al.'s alpha for documents with log Q(d)/P(d) = `log_ratio`."""
    grid = alpha_grid(points)
    w = np.ones_like(log_ratio) if weights is None else weights
    return parabolic_argmax(w @ mixture_loglik_terms(log_ratio, grid), grid)


def acc_share(cc: float, tpr: float, fpr: float) -> float | None:
    """Adjusted classify-and-count; None when the detector does not separate the labels."""
    if not tpr > fpr:
        return None
    return float(np.clip((cc - fpr) / (tpr - fpr), 0.0, 1.0))


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13)."""
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(replicates, [tail, 1.0 - tail])
    return float(lo), float(hi)


def expected_calibration_error(prob: np.ndarray, label: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins (Naeini et al. 2015): sum_b |B|/n |acc_b - conf_b|."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(label[mask].mean() - prob[mask].mean())
    return float(total)
