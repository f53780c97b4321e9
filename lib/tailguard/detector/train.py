"""`tailguard train-detector --input A.jsonl[,B.jsonl]`: fastText detector + calibration.

Stages: read labelled records -> normalise (the scorer's own function) -> split by a hash
of the normalised text (duplicates never straddle the split) -> train fastText
(Joulin et al. 2017, "Bag of Tricks for Efficient Text Classification") -> calibrate on
the held-out split (isotonic: Zadrozny & Elkan 2002; platt: Platt 1999) -> evaluate ->
write the detector directory atomically. No Spark: the data is a labelled sample, small
enough for one process, and fastText trains single-threaded for byte-identical models.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from tailguard import paths
from tailguard.config import Config
from tailguard.detector import model as det
from tailguard.detector.evaluate import evaluate_scores, fit_calibration
from tailguard.detector.features import normalize_arrow
from tailguard.errors import InputError
from tailguard.io import remote

log = logging.getLogger(__name__)


def read_labelled(paths: Iterable[str], cfg: Config) -> tuple[list[str], np.ndarray]:
    """Texts and labels (1 = synthetic) from JSONL files; other labels are an error."""
    d = cfg.detector
    names = {d.human_label: 0, d.synthetic_label: 1}
    texts: list[str] = []
    labels: list[int] = []
    for path in paths:
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read labelled data {path}: {exc.strerror}") from exc
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    text, label = record[d.text_field], record[d.label_field]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(f"{path}:{number}: not a record with "
                                     f"'{d.text_field}' and '{d.label_field}'") from exc
                if label not in names:
                    raise InputError(f"{path}:{number}: label {label!r} is neither "
                                     f"{d.human_label!r} nor {d.synthetic_label!r}")
                texts.append(text if isinstance(text, str) else "")
                labels.append(names[label])
    return texts, np.asarray(labels, dtype=np.int8)


def split_mask(lines: list[str], fraction: float, seed: int) -> np.ndarray:
    """True for held-out rows: a seeded hash of the normalised text below `fraction`."""
    hashes = np.fromiter((xxhash.xxh64_intdigest(line.encode("utf-8"), seed=seed)
                          for line in lines), dtype=np.uint64, count=len(lines))
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53) < fraction


def train_fasttext(lines: list[str], labels: np.ndarray, cfg: Config, workdir: str):
    """Supervised fastText on normalised lines; deterministic with detector.threads = 1.

    Training runs in a fresh child process (spawned, not forked) and hands back the model
    file. Why: in a long-lived driver that had run Spark jobs and compiled code, the same
    data and seed diverged to NaN on some runs and not others, while a fresh process
    trains it reliably; a clean process makes the model depend on data and config alone."""
    import fasttext

    train_file = Path(workdir) / "train.txt"
    with open(train_file, "w", encoding="utf-8") as out:
        for line, label in zip(lines, labels, strict=True):
            out.write(f"{det.SYNTHETIC if label else det.HUMAN} {line}\n")
    d = cfg.detector
    params = dict(input=str(train_file), epoch=d.epoch, lr=d.lr, wordNgrams=d.word_ngrams,
                  dim=d.dim, minCount=d.min_count, bucket=d.bucket, thread=d.threads,
                  seed=d.seed, verbose=0)
    model_file = Path(workdir) / "trained.bin"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        error = pool.apply(_train_to_file, (params, str(model_file)))
    if error is not None:  # fastText's only failure mode here: divergence to NaN
        raise InputError(f"fastText training failed ({error}); with {len(lines)} examples "
                         f"try a lower detector.lr (now {d.lr}) or more data")
    return fasttext.load_model(str(model_file))


def _train_to_file(params: dict, model_file: str) -> str | None:
    """Child-process side of `train_fasttext`: train, save; the error text on failure."""
    import fasttext

    try:
        fasttext.train_supervised(**params).save_model(model_file)
    except RuntimeError as exc:
        return str(exc)
    return None


def train_detector(texts: list[str], labels: np.ndarray, cfg: Config, workdir: str):
    """Train + calibrate + evaluate; returns (model, calibration, metrics, train mask)."""
    lines = normalize_arrow(pa.array(texts, type=pa.string())).to_pylist()
    valid = split_mask(lines, cfg.detector.valid_fraction, cfg.detector.seed)
    train = ~valid
    for name, mask in (("training", train), ("validation", valid)):
        if len(set(labels[mask].tolist())) < 2:
            raise InputError(f"the {name} split needs both labels; got {mask.sum()} rows")
    model = train_fasttext([lines[i] for i in np.flatnonzero(train)], labels[train], cfg,
                           workdir)
    raw_valid = det.raw_synthetic_probability(model, [lines[i] for i in np.flatnonzero(valid)])
    calibration = fit_calibration(raw_valid, labels[valid], cfg.detector.calibration)
    metrics = evaluate_scores(raw_valid, det.apply_calibration(calibration, raw_valid),
                              labels[valid], cfg.detector.target_fpr)
    counts = {
        "train_human": int((labels[train] == 0).sum()),
        "train_synthetic": int((labels[train] == 1).sum()),
        "valid_human": int((labels[valid] == 0).sum()),
        "valid_synthetic": int((labels[valid] == 1).sum()),
    }
    return model, calibration, {"counts": counts, **metrics}, train


def write_detector(directory: str, model, calibration: dict[str, Any], metrics: dict[str, Any],
                   synthetic_texts: Iterable[str], cfg: Config) -> dict[str, Any]:
    """Write all detector files into a staging dir, then swap it in by rename."""
    local = paths.local_path(directory)
    if local is None:  # hdfs://, s3a://, gs://: write locally, then upload (meta last)
        with tempfile.TemporaryDirectory(prefix="tailguard-detector-") as tmp:
            meta = write_detector(os.path.join(tmp, "detector"), model, calibration, metrics,
                                  synthetic_texts, cfg)
            remote.publish_dir(os.path.join(tmp, "detector"), directory, last=det.META_FILE)
        return meta
    target = Path(local)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".detector-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the detector is read by other users
    try:
        model.save_model(str(staging / det.MODEL_FILE))
        (staging / det.CALIBRATION_FILE).write_text(json.dumps(calibration, indent=1), "utf-8")
        with open(staging / det.REFERENCE_FILE, "w", encoding="utf-8") as out:
            for text in synthetic_texts:
                out.write(json.dumps({cfg.detector.text_field: text,
                                      cfg.detector.label_field: cfg.detector.synthetic_label},
                                     ensure_ascii=False) + "\n")
        hyper = {k: cfg.get(f"detector.{k}") for k in
                 ("epoch", "lr", "word_ngrams", "dim", "min_count", "bucket", "seed", "threads",
                  "calibration", "valid_fraction", "target_fpr")}
        meta = {"version": det.content_version(staging / det.MODEL_FILE, calibration),
                **metrics, "hyperparameters": hyper}
        (staging / det.META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True),
                                             "utf-8")
        if target.exists():
            old = target.with_name(target.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def run(ctx) -> None:
    """Train on `--input` (comma-separated JSONL paths) and write cfg.detector_dir."""
    cfg = ctx.cfg
    paths = [p.strip() for p in ctx.options.input.split(",") if p.strip()]
    texts, labels = read_labelled(paths, cfg)
    log.info("train-detector: %d records (%d synthetic) from %s", len(texts),
             int(labels.sum()), paths)
    with tempfile.TemporaryDirectory(prefix="tailguard-ft-") as workdir:
        model, calibration, metrics, train = train_detector(texts, labels, cfg, workdir)
    synthetic_train = (texts[i] for i in np.flatnonzero(train & (labels == 1)))
    meta = write_detector(cfg.detector_dir, model, calibration, metrics, synthetic_train, cfg)
    log.info("train-detector: %s in %s: auc=%.4f acc=%.4f tpr@fpr%.2f=%.3f ece=%.4f",
             meta["version"], cfg.detector_dir, meta["roc_auc"], meta["accuracy"],
             meta["operating_point"]["fpr"], meta["operating_point"]["tpr"], meta["ece"])
