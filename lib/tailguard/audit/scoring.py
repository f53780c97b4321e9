"""The outside documents scored as the crawl's were: the detector (`p_synthetic`, and the
raw score `p_raw` the classifier stacks) and the stored in-crawl classifier (`pu_score`).

The stored classifier is used only under the settings it was fitted with: its
vectorizer (share.pu_features), folds and seed come from the config, so a config that
disagrees with `state/pu_model` would score with another model. That, or a detector of
another version than the one it stacked, is an InputError naming the key, as in the
share job (pu_state.stored_state_reason); the audit never refits.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard.errors import InputError
from tailguard.io.records import utc_today
from tailguard.share import pu_state
from tailguard.share.pu_classifier import with_pu_score

log = logging.getLogger(__name__)


def detector_version(cfg) -> str | None:
    from tailguard.detector.model import read_meta

    try:
        return read_meta(cfg.detector_dir)["version"]
    except (InputError, OSError, KeyError):
        return None


def score_documents(spark: SparkSession, cfg, targets: DataFrame
                    ) -> tuple[DataFrame | None, str | None]:
    """((rid, p_synthetic, pu_score) of `targets` (rid, doc_id, text), None) or (None,
    the reason there is no score)."""
    from tailguard.detector.score import ship_detector, with_scores

    model = pu_state.load(spark, cfg)
    if model is None:
        return None, "no stored pu classifier (state/pu_model): run `tailguard share` first"
    version = detector_version(cfg)
    stored = model.fitted_on["settings"]
    if version is None:
        if model.classifier.stacked:
            return None, (f"the stored pu classifier stacks detector "
                          f"{stored.get('detector.version')}, and {cfg.detector_dir} holds none")
    key = pu_state.differing_setting(
        stored, pu_state.state_settings(cfg, version or stored.get("detector.version")))
    if key is not None:
        raise InputError(f"{pu_state.STATE_TABLE} was fitted with {key}: audit with the "
                         "settings the crawl's share run used")
    rows = targets.select("rid", "doc_id", "text")
    if version is not None:
        names = ship_detector(spark, cfg.detector_dir)
        detected = with_scores(
            rows.select(F.col("rid").cast("string").alias("doc_id"),
                        F.lit(utc_today()).alias("crawl_date"), "text"), names)
        rows = rows.join(detected.select(F.col("doc_id").cast("long").alias("rid"),
                                         "p_synthetic", "p_raw"), on="rid", how="inner")
    else:
        rows = rows.withColumn("p_synthetic", F.lit(None).cast("double"))
    scored = with_pu_score(rows, model.classifier, cfg)
    log.info("audit: scoring with pu classifier %s and detector %s",
             model.fingerprint[:12], version)
    return scored.select("rid", "p_synthetic", "pu_score"), None
