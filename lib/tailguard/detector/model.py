"""The trained detector as files, and how to score with it.

A detector directory holds:
- `model.bin`: the fastText supervised model (labels `__label__human` / `__label__synthetic`);
- `calibration.json`: the map from raw fastText probability to calibrated probability
  (isotonic: a monotone piecewise-linear table; platt: a logistic on the raw logit);
- `detector.json`: version (content hash of model.bin and calibration), training counts and
  validation metrics, including the TPR/FPR at the operating threshold used by `acc`;
- `synthetic_reference.jsonl`: the synthetic training texts, the default Q reference of the
  distributional share estimator.

fastText 0.9.3's `model.predict` calls `np.array(..., copy=False)`, which numpy 2 rejects,
so scoring goes through the low-level `model.f.multilinePredict` (one call per batch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailguard.errors import InputError

MODEL_FILE = "model.bin"
CALIBRATION_FILE = "calibration.json"
META_FILE = "detector.json"
REFERENCE_FILE = "synthetic_reference.jsonl"
DETECTOR_FILES = (MODEL_FILE, CALIBRATION_FILE, META_FILE)
SYNTHETIC = "__label__synthetic"
HUMAN = "__label__human"


def apply_calibration(calibration: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """Calibrated P(synthetic) from raw fastText P(synthetic)."""
    raw = np.asarray(raw, dtype=np.float64)
    if calibration["method"] == "isotonic":
        return np.interp(raw, calibration["x"], calibration["y"])
    if calibration["method"] == "platt":
        clipped = np.clip(raw, 1e-6, 1 - 1e-6)
        logit = np.log(clipped / (1 - clipped))
        return 1.0 / (1.0 + np.exp(-(calibration["a"] * logit + calibration["b"])))
    raise InputError(f"unknown calibration method {calibration['method']!r}")


def raw_synthetic_probability(model, lines: list[str]) -> np.ndarray:
    """P(synthetic) from fastText for normalised one-line texts (0.5 for an empty text)."""
    if not lines:
        return np.zeros(0, dtype=np.float64)
    labels, probs = model.f.multilinePredict([line + "\n" for line in lines], 2, 0.0,
                                             "strict")
    out = np.full(len(lines), 0.5, dtype=np.float64)
    for i, (names, values) in enumerate(zip(labels, probs, strict=True)):
        for name, value in zip(names, values, strict=True):
            if name == SYNTHETIC:
                out[i] = float(value)
            elif name == HUMAN and len(names) == 1:
                out[i] = 1.0 - float(value)
    # fastText's softmax output is (1 + 1e-5)-normalised; keep probabilities in [0, 1].
    return np.clip(out, 0.0, 1.0)


@dataclass
class Detector:
    """A loaded model with its calibration and metadata."""

    model: Any
    calibration: dict[str, Any]
    meta: dict[str, Any]

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def threshold(self) -> float:
        return float(self.meta["operating_point"]["threshold"])

    @classmethod
    def load(cls, directory: str | Path) -> Detector:
        import fasttext

        from tailguard.io.remote import local_dir

        directory = Path(local_dir(str(directory)))  # a remote detector.dir is fetched first
        missing = [name for name in DETECTOR_FILES if not (directory / name).is_file()]
        if missing:
            raise InputError(f"detector in {directory} lacks {missing}: run train-detector")
        model = fasttext.load_model(str(directory / MODEL_FILE))
        calibration = json.loads((directory / CALIBRATION_FILE).read_text("utf-8"))
        meta = json.loads((directory / META_FILE).read_text("utf-8"))
        return cls(model, calibration, meta)

    def score_lines(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(raw, calibrated) P(synthetic) for normalised lines."""
        raw = raw_synthetic_probability(self.model, lines)
        return raw, apply_calibration(self.calibration, raw)


def content_version(model_path: str | Path, calibration: dict[str, Any]) -> str:
    """The version train-detector writes: xxh3-128 of model.bin and the calibration."""
    import xxhash

    digest = xxhash.xxh3_128()
    with open(model_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(calibration, sort_keys=True).encode("utf-8"))
    return "ft-" + digest.hexdigest()[:16]


def verify_version(model_path: str | Path, calibration_path: str | Path, version: str) -> None:
    """InputError unless the model and calibration files are the ones `version` names, so
    a file swapped in a staging or cache directory is never loaded."""
    calibration = json.loads(Path(calibration_path).read_text("utf-8"))
    found = content_version(model_path, calibration)
    if found != version:
        raise InputError(f"detector model {model_path} does not match its version "
                         f"{version} (its content hashes to {found}): retrain or re-copy it")


def read_meta(directory: str | Path) -> dict[str, Any]:
    from tailguard.io.remote import local_dir

    path = Path(local_dir(str(directory))) / META_FILE
    if not path.is_file():
        raise InputError(f"no {META_FILE} in {directory}: run train-detector first")
    return json.loads(path.read_text("utf-8"))
