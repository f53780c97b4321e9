"""Calibration fitting and validation metrics of a detector (numpy + scikit-learn, no Spark).

The calibration is stored as plain numbers (a monotone table or two logistic
coefficients), so executors apply it with numpy and no pickled estimator ever crosses a
version boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tailguard.share.estimators import expected_calibration_error


def fit_calibration(raw: np.ndarray, labels: np.ndarray, method: str) -> dict[str, Any]:
    """Isotonic (Zadrozny & Elkan 2002) or Platt (1999) map from raw to calibrated score."""
    raw = np.asarray(raw, dtype=np.float64)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, labels)
        return {"method": "isotonic", "x": [float(v) for v in iso.X_thresholds_],
                "y": [float(v) for v in iso.y_thresholds_]}
    clipped = np.clip(raw, 1e-6, 1 - 1e-6)
    logit = np.log(clipped / (1 - clipped)).reshape(-1, 1)
    lr = LogisticRegression(C=1e6).fit(logit, labels)
    return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def operating_threshold(prob: np.ndarray, labels: np.ndarray, target_fpr: float) -> float:
    """Lowest score t whose validation FPR, P(score >= t | human), is at most target_fpr."""
    human = np.sort(prob[labels == 0])
    candidates = np.unique(prob)
    # FPR at each candidate: share of human scores >= t (one searchsorted for all).
    fpr = 1.0 - np.searchsorted(human, candidates, side="left") / max(len(human), 1)
    ok = candidates[fpr <= target_fpr]
    return float(ok.min()) if ok.size else float(np.nextafter(candidates.max(), np.inf))


def evaluate_scores(raw: np.ndarray, prob: np.ndarray, labels: np.ndarray,
                    target_fpr: float) -> dict[str, Any]:
    """Validation metrics: accuracy at 0.5, ROC AUC, TPR/FPR at the operating threshold, ECE.

    AUC is computed on the raw score: isotonic calibration ties neighbouring scores and
    would understate the ranking quality that the threshold and estimators rely on.
    """
    labels = np.asarray(labels)
    threshold = operating_threshold(prob, labels, target_fpr)
    predicted = prob >= threshold
    synthetic, human = labels == 1, labels == 0
    return {
        "accuracy": float(((prob >= 0.5) == synthetic).mean()),
        "roc_auc": float(roc_auc_score(labels, raw)),
        "ece": expected_calibration_error(prob, labels.astype(np.float64)),
        "ece_raw": expected_calibration_error(np.asarray(raw), labels.astype(np.float64)),
        "operating_point": {
            "target_fpr": float(target_fpr),
            "threshold": threshold,
            "tpr": float(predicted[synthetic].mean()),
            "fpr": float(predicted[human].mean()),
        },
        "tpr_at_5pct_fpr": tpr_at_fpr(raw, labels, 0.05),
    }


def tpr_at_fpr(raw: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """TPR at the raw-score threshold whose FPR is at most `fpr`."""
    raw = np.asarray(raw, dtype=np.float64)
    threshold = operating_threshold(raw, labels, fpr)
    return float((raw[labels == 1] >= threshold).mean())
