"""Detector quality on real human vs LLM text; writes the numbers section of docs/DETECTOR.md.

    .venv/bin/python -m bench.detector_eval --data ../shared/data/detector --out docs/DETECTOR.md

In-distribution: train on train.jsonl, evaluate on valid.jsonl. Cross-source: train on the
train rows of two `source`s, evaluate on every row (train + valid) of the third, which the
model never saw: the number that predicts behaviour on a new crawl. The data is read in
place and never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.common import replace_section
from tailguard.config import load_config
from tailguard.detector import model as det
from tailguard.detector.evaluate import evaluate_scores
from tailguard.detector.features import normalize_arrow
from tailguard.detector.train import train_detector

log = logging.getLogger(__name__)
BEGIN, END = "<!-- detector-eval:begin -->", "<!-- detector-eval:end -->"


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _labels(rows: list[dict]) -> np.ndarray:
    return np.array([r["label"] == "synthetic" for r in rows], dtype=np.int8)


def evaluate(train_rows: list[dict], test_rows: list[dict], cfg) -> dict:
    """Train on `train_rows`, score `test_rows`; metrics on the test rows."""
    with tempfile.TemporaryDirectory() as workdir:
        model, calibration, _, _ = train_detector([r["text"] for r in train_rows],
                                                  _labels(train_rows), cfg, workdir)
    lines = normalize_arrow(pa.array([r["text"] for r in test_rows], pa.string())).to_pylist()
    raw = det.raw_synthetic_probability(model, lines)
    labels = _labels(test_rows)
    metrics = evaluate_scores(raw, det.apply_calibration(calibration, raw), labels, 0.05)
    return {"n": len(test_rows), "human": int((labels == 0).sum()),
            "synthetic": int(labels.sum()), **metrics}


def _row(name: str, m: dict) -> str:
    op = m["operating_point"]
    return (f"| {name} | {m['n']} ({m['human']} / {m['synthetic']}) | {m['roc_auc']:.3f} | "
            f"{m['tpr_at_5pct_fpr']:.3f} | {m['accuracy']:.3f} | {op['tpr']:.3f} / "
            f"{op['fpr']:.3f} |")


def report(data: Path, sets: list[str]) -> str:
    cfg = load_config([], sets)
    train, valid = _read(data / "train.jsonl"), _read(data / "valid.jsonl")
    lines = ["| evaluation | test rows (human / synthetic) | ROC AUC | TPR @ 5% FPR | "
             "accuracy @ 0.5 | TPR / FPR at calibrated threshold |", "|---|---|---|---|---|---|"]
    lines.append(_row("train.jsonl -> valid.jsonl (all sources)", evaluate(train, valid, cfg)))
    for source in sorted({r["source"] for r in train}):
        seen = [r for r in train if r["source"] != source]
        unseen = [r for r in train + valid if r["source"] == source]
        lines.append(_row(f"cross-source: held-out `{source}`", evaluate(seen, unseen, cfg)))
        log.info("cross-source %s done", source)
    hyper = {k: cfg.get(f"detector.{k}") for k in ("epoch", "lr", "word_ngrams", "dim",
                                                   "min_count", "bucket", "calibration")}
    return "\n".join([BEGIN, "", *lines, "",
                      f"Hyper-parameters (default.yaml `detector:`): `{json.dumps(hyper)}`. "
                      "TPR @ 5% FPR uses the raw score's ROC curve on the test rows; the "
                      "calibrated threshold is the one chosen on the training run's own "
                      "held-out split, as `acc` uses it.", "", END])


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/detector")
    parser.add_argument("--out", default="docs/DETECTOR.md")
    parser.add_argument("--set", action="append", default=[], dest="sets",
                        metavar="KEY=VALUE", help="config override, e.g. detector.dim=100")
    args = parser.parse_args()
    section = report(Path(args.data), args.sets)
    out = Path(args.out)
    replace_section(out, BEGIN, END, section)
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
