"""The detector on real human vs LLM text (shared/data/detector, never copied here)."""

from __future__ import annotations

import tempfile

import pyarrow as pa
import pytest

from shared_data import SHARED_DATA
from tailguard.detector import model as det
from tailguard.detector.evaluate import evaluate_scores
from tailguard.detector.features import normalize_arrow
from tailguard.detector.train import read_labelled, train_detector

DATA = SHARED_DATA


@pytest.mark.slow
@pytest.mark.shared_data
def test_auc_on_real_validation_text_is_well_above_chance(make_cfg):
    cfg = make_cfg()
    texts, labels = read_labelled([str(DATA / "train.jsonl")], cfg)
    with tempfile.TemporaryDirectory() as workdir:
        model, calibration, metrics, _ = train_detector(texts, labels, cfg, workdir)
    valid_texts, valid_labels = read_labelled([str(DATA / "valid.jsonl")], cfg)
    lines = normalize_arrow(pa.array(valid_texts, type=pa.string())).to_pylist()
    raw = det.raw_synthetic_probability(model, lines)
    scores = evaluate_scores(raw, det.apply_calibration(calibration, raw), valid_labels, 0.05)
    assert metrics["roc_auc"] > 0.9
    assert scores["roc_auc"] > 0.9
    assert scores["tpr_at_5pct_fpr"] > 0.6
