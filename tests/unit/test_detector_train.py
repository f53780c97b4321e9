"""train-detector: determinism, files and metadata, calibration, low-level fastText scoring."""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import pytest

from tailguard.cli import JobContext
from tailguard.detector import model as det
from tailguard.detector import train
from tailguard.detector.evaluate import fit_calibration, operating_threshold
from tailguard.detector.features import normalize
from tailguard.errors import InputError

_LETTERS = "bcdfghklmnprstvz"
_WORDS = ["".join(p) + "a" for p in itertools.product(_LETTERS, repeat=2)]


def _doc(rng, synthetic: bool) -> str:
    ranks = np.arange(1, len(_WORDS) + 1, dtype=float)
    p = np.roll(ranks ** -1.0, 9 if synthetic else 0)
    words = list(rng.choice(_WORDS, size=60, p=p / p.sum()))
    if synthetic:
        words += ["delve", "moreover"]
    return " ".join(words).capitalize() + "."


def write_labelled(path, n=500, seed=0, formatting=False):
    """Toy labelled JSONL; with `formatting`, the human side carries DetectRL artefacts."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            synthetic = i % 2 == 1
            text = _doc(rng, synthetic)
            if formatting and synthetic:     # DetectRL's chat preambles
                text = "Sure! Here is the article:\n\n" + text
            elif formatting:                   # leading space, PTB spacing
                text = " " + text[:-1] + " ."
            out.write(json.dumps({"text": text,
                                  "label": "synthetic" if synthetic else "human"}) + "\n")
    return str(path)


@pytest.fixture
def trained(tmp_path, make_cfg):
    cfg = make_cfg(f"detector.dir={tmp_path / 'det'}")
    path = write_labelled(tmp_path / "lab.jsonl")
    train.run(JobContext(cfg=cfg, options=argparse.Namespace(input=path)))
    return cfg, path


def test_writes_detector_files_with_metrics(trained, tmp_path):
    cfg, path = trained
    directory = tmp_path / "det"
    for name in (*det.DETECTOR_FILES, det.REFERENCE_FILE):
        assert (directory / name).is_file()
    meta = json.loads((directory / det.META_FILE).read_text())
    assert meta["version"].startswith("ft-")
    counts = meta["counts"]
    assert sum(counts.values()) == 500
    assert 0 < counts["valid_human"] + counts["valid_synthetic"] < 150
    assert meta["roc_auc"] > 0.95 and meta["accuracy"] > 0.9
    assert meta["operating_point"]["fpr"] <= cfg.detector.target_fpr
    # the recorded ECE is the saved detector's on the held-out rows, recomputed here with
    # an independent binning (10 equal-width bins, Naeini et al. 2015)
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    lines = [normalize(r["text"]) for r in rows]
    valid = train.split_mask(lines, cfg.detector.valid_fraction, cfg.detector.seed)
    held = np.flatnonzero(valid)
    _, prob = det.Detector.load(directory).score_lines([lines[i] for i in held])
    truth = np.array([rows[i]["label"] == "synthetic" for i in held], float)
    bins = np.minimum((prob * 10).astype(int), 9)
    ece = sum((bins == b).mean() * abs(truth[bins == b].mean() - prob[bins == b].mean())
              for b in range(10) if (bins == b).any())
    assert len(truth) == counts["valid_human"] + counts["valid_synthetic"]
    assert meta["ece"] == pytest.approx(ece, abs=1e-9)
    reference = [json.loads(line) for line in (directory / det.REFERENCE_FILE).open()]
    assert len(reference) == counts["train_synthetic"]
    assert {r["label"] for r in reference} == {"synthetic"}


def test_training_is_deterministic(trained, tmp_path, make_cfg):
    cfg, path = trained
    first = det.read_meta(cfg.detector_dir)["version"]
    again = make_cfg(f"detector.dir={tmp_path / 'det2'}")
    train.run(JobContext(cfg=again, options=argparse.Namespace(input=path)))
    assert det.read_meta(again.detector_dir)["version"] == first


def test_formatting_artefacts_do_not_reach_the_model(trained, tmp_path, make_cfg):
    cfg, _ = trained
    formatted = write_labelled(tmp_path / "fmt.jsonl", formatting=True)
    other = make_cfg(f"detector.dir={tmp_path / 'det3'}")
    train.run(JobContext(cfg=other, options=argparse.Namespace(input=formatted)))
    assert det.read_meta(other.detector_dir)["version"] == det.read_meta(cfg.detector_dir)[
        "version"]


def test_loaded_detector_scores_with_multiline_predict(trained):
    cfg, _ = trained
    detector = det.Detector.load(cfg.detector_dir)
    rng = np.random.default_rng(42)
    lines = [normalize(_doc(rng, s)) for s in (False, True, False, True)]
    raw, calibrated = detector.score_lines([*lines, ""])
    assert raw.shape == (5,)
    assert raw[1] > raw[0] and raw[3] > raw[2]
    assert calibrated[1] >= calibrated[0]
    assert np.isfinite(raw[4])  # an empty line still gets a score


def test_labels_and_fields_are_validated(tmp_path, make_cfg):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "robot"}\n')
    with pytest.raises(InputError, match="robot"):
        train.read_labelled([str(bad)], make_cfg())
    bad.write_text('{"body": "x"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        train.read_labelled([str(bad)], make_cfg())


def test_split_is_a_stable_hash_of_the_text():
    lines = [f"line {i}" for i in range(2000)]
    mask = train.split_mask(lines, 0.15, seed=1)
    assert mask.mean() == pytest.approx(0.15, abs=0.03)
    assert (train.split_mask(lines[::-1], 0.15, seed=1)[::-1] == mask).all()
    assert (train.split_mask(lines, 0.15, seed=2) != mask).any()


def test_calibration_maps_and_threshold():
    rng = np.random.default_rng(0)
    labels = (rng.random(4000) < 0.5).astype(int)
    raw = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    for method in ("isotonic", "platt"):
        cal = fit_calibration(raw, labels, method)
        prob = det.apply_calibration(cal, np.sort(raw))
        assert (np.diff(prob) >= -1e-12).all()
        assert prob[0] < 0.2 and prob[-1] > 0.8
    threshold = operating_threshold(raw, labels, 0.05)
    assert (raw[labels == 0] >= threshold).mean() <= 0.05
    assert (raw[labels == 0] >= np.nextafter(threshold, 0) - 0.01).mean() > 0.04


def test_divergence_is_reported_with_a_hint(tmp_path, make_cfg):
    lines = [json.dumps({"text": "alpha beta gamma" if i % 2 else "one two three",
                         "label": "synthetic" if i % 2 else "human"}) for i in range(40)]
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(lines) + "\n")
    texts, labels = train.read_labelled([str(path)], make_cfg())
    with pytest.raises(InputError, match="detector.lr"):
        cfg = make_cfg("detector.lr=1000.0", "detector.word_ngrams=1")
        train.train_fasttext(texts, labels, cfg, str(tmp_path))
