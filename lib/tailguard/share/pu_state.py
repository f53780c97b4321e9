"""`pu`'s in-crawl classifier as stored whole-crawl state, and its per-document scores as
the attribute table `attributes/pu_score`.

The classifier (pu_classifier.py) is fitted on the whole crawl's eras but scores each
document as a function of that document alone, so it is kept between runs:
`<output.root>/state/pu_model` holds the fold models, the stack and what they were fitted
on (the config values they depend on, the detector version, the dates, the pre-AI and
post-AI document counts, the tailguard version), written whole by staging + rename.

Refresh rule (`refit_reason`), checked at the start of every share run:
- no stored state, or `share.refit: true`: refit;
- a setting it depends on differs from this run's: an error naming the key (a model
  fitted under other settings is never silently reused), unless share.refit is true;
- the scored pre-AI or post-AI documents have grown by more than `share.refit_growth`
  (a fraction) since the fit: refit;
- otherwise the stored classifier scores only the dates whose `pu_score` partitions are
  missing or were made by another classifier (their `made_by` stamp holds its
  fingerprint), and the per-domain fits read the score column of every date.
A refit changes the fingerprint, so every date is re-scored: a refit run is a run from
scratch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard import __version__
from tailguard.attributes import store
from tailguard.errors import InputError
from tailguard.io.tables import date_rows, read_table, table_exists, write_table
from tailguard.schema import PU_MODEL_STATE
from tailguard.share.pu_classifier import Classifier, fit_classifier, with_pu_score

log = logging.getLogger(__name__)

STATE_TABLE = "state/pu_model"
ATTRIBUTE = "pu_score"
# bump when fitting or scoring changes what a stored classifier means
VERSION = 1
SETTING_KEYS = ("share.seed", "share.pu_folds", "share.pu_c", "share.pu_features",
                "share.pu_max_iter", "share.pu_max_train_docs", "share.pu_stack_detector",
                "share.canonical_only", "eras.cutoff")


def state_settings(cfg, detector_version: str) -> dict[str, Any]:
    """What a fitted classifier depends on besides the documents: config values (JSON
    types), the detector that made p_raw, and the fitting code's VERSION."""
    values = {key: cfg.get(key) for key in SETTING_KEYS}
    values = json.loads(json.dumps(values, default=str))
    return {"pu_model.version": VERSION, "detector.version": detector_version, **values}


def differing_setting(stored: dict[str, Any], settings: dict[str, Any]) -> str | None:
    """The first key whose value differs, as 'key=stored (this run: value)'; None if all agree."""
    for key in sorted(set(stored) | set(settings)):
        if stored.get(key) != settings.get(key):
            return f"{key}={stored.get(key)!r} (this run: {settings.get(key)!r})"
    return None


def stored_state_reason(table: str, fitted_on: dict | None, settings: dict[str, Any],
                        grown: list[tuple[str, int, int]], growth: float,
                        requested: bool) -> str | None:
    """The refresh rule of the share job's stored state (this classifier, mle_state's
    word model): why `table` must be refitted, or None when the stored one serves.
    `grown`: (what, count now, count at the fit) for each count the rule watches. A
    settings mismatch without `requested` is an InputError naming the key."""
    if requested:
        return "share.refit is true"
    if fitted_on is None:
        return f"no stored {table}"
    key = differing_setting(fitted_on["settings"], settings)
    if key is not None:
        raise InputError(f"{table} was fitted with {key}: set share.refit=true to refit it")
    for what, now, then in grown:
        if now > then * (1.0 + growth):
            return (f"{what} documents grew from {then} to {now}, more than "
                    f"share.refit_growth={growth}")
    return None


def refit_reason(fitted_on: dict | None, settings: dict[str, Any], n_pre: int, n_post: int,
                 growth: float, requested: bool) -> str | None:
    """Why the classifier must be refitted: its pre-AI or post-AI documents grew."""
    grown = [] if fitted_on is None else [("pre-AI", n_pre, fitted_on["n_pre"]),
                                          ("post-AI", n_post, fitted_on["n_post"])]
    return stored_state_reason(STATE_TABLE, fitted_on, settings, grown, growth, requested)


@dataclass(frozen=True)
class StoredModel:
    """A fitted classifier and what it was fitted on ({settings, n_pre, n_post, dates,
    tailguard})."""

    classifier: Classifier
    fitted_on: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        """sha256 of the settings and every coefficient: two states score alike iff equal."""
        digest = hashlib.sha256(json.dumps(self.fitted_on["settings"], sort_keys=True)
                                .encode())
        for k in sorted(self.classifier.text):
            coef, intercept = self.classifier.text[k]
            digest.update(f"text {k} {intercept!r}".encode())
            digest.update(np.asarray(coef, "<f8").tobytes())
        for row in self.classifier.stack:
            digest.update(json.dumps(row, sort_keys=True).encode())
        return digest.hexdigest()[:32]

    def maker(self) -> store.Maker:
        """The stamp of the `pu_score` attribute rows this classifier makes."""
        return store.Maker(ATTRIBUTE, VERSION, {"pu_model": self.fingerprint}, job="share")


def state_rows(model: StoredModel) -> list[tuple]:
    """PU_MODEL_STATE rows: one per text model and per stack model, each carrying the
    fitted_on JSON."""
    meta = json.dumps(model.fitted_on, sort_keys=True)
    clf = model.classifier
    rows = [("text", int(k), bytes(np.asarray(coef, "<f8").tobytes()), float(b), None, None,
             meta) for k, (coef, b) in sorted(clf.text.items())]
    rows += [("stack", int(m["model"]), None, float(m["intercept"]), float(m["w_text"]),
              float(m["w_detector"]), meta) for m in clf.stack]
    return rows


def from_rows(rows: list) -> StoredModel | None:
    """The StoredModel of PU_MODEL_STATE rows (None for no rows)."""
    if not rows:
        return None
    text = {int(r["model"]): (np.frombuffer(bytes(r["coef"]), dtype="<f8"), float(r["intercept"]))
            for r in rows if r["kind"] == "text"}
    stack = tuple(sorted(({"model": int(r["model"]), "intercept": float(r["intercept"]),
                           "w_text": float(r["w_text"]), "w_detector": float(r["w_detector"])}
                          for r in rows if r["kind"] == "stack"), key=lambda m: m["model"]))
    return StoredModel(Classifier(text, stack), json.loads(rows[0]["fitted_on"]))


def load(spark: SparkSession, cfg) -> StoredModel | None:
    if not table_exists(spark, cfg, STATE_TABLE):
        return None
    return from_rows(read_table(spark, cfg, STATE_TABLE).collect())


def save(spark: SparkSession, cfg, model: StoredModel) -> None:
    """Write the state whole (staging + rename: a reader sees the old or the new one)."""
    write_table(spark.createDataFrame(state_rows(model), PU_MODEL_STATE).coalesce(1), cfg,
                STATE_TABLE)


def era_counts(base: DataFrame) -> tuple[int, int, list[str]]:
    """(pre-AI documents, post-AI documents, crawl dates) of the share job's base rows."""
    rows = base.groupBy("era").agg(F.count(F.lit(1)).alias("n"),
                                   F.collect_set(F.col("crawl_date").cast("string"))
                                   .alias("dates")).collect()
    n = {r["era"]: int(r["n"]) for r in rows}
    dates = sorted({d for r in rows for d in r["dates"]})
    return n.get("pre_ai", 0), n.get("post_ai", 0), dates


def current_model(base: DataFrame, texts: DataFrame, cfg, detector_version: str
                  ) -> StoredModel:
    """The stored classifier, refitted on `texts` (and stored) when `refit_reason` says so.
    `base`: the share job's small rows (doc_id, crawl_date, era); `texts`: the same rows
    with domain, text [and p_raw], read only for the training sample when refitting."""
    spark = base.sparkSession
    s = cfg.share
    n_pre, n_post, dates = era_counts(base)
    settings = state_settings(cfg, detector_version)
    stored = load(spark, cfg)
    reason = refit_reason(stored.fitted_on if stored else None, settings, n_pre, n_post,
                          float(s.refit_growth), bool(s.refit))
    if reason is None:
        log.info("share: pu classifier %s (fitted on %s pre-AI / %s post-AI documents) kept",
                 stored.fingerprint[:12], stored.fitted_on["n_pre"], stored.fitted_on["n_post"])
        return stored
    log.info("share: fitting the pu classifier: %s", reason)
    fitted_on = {"settings": settings, "n_pre": n_pre, "n_post": n_post, "dates": dates,
                 "tailguard": __version__,
                 "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    model = StoredModel(fit_classifier(texts, cfg), fitted_on)
    save(spark, cfg, model)
    return model


def refresh_scores(model: StoredModel, docs: DataFrame, scores: DataFrame, cfg) -> list[str]:
    """Score, with the stored classifier, every scored document of the dates whose
    `pu_score` partition is missing or stale; returns those dates. Each document's score
    is a function of its text and p_raw, so a date scored alone equals the same date
    scored in a run over all dates."""
    spark = scores.sparkSession
    maker = model.maker()
    dates = sorted({str(r[0]) for r in scores.select("crawl_date").distinct().collect()})
    inputs = store.input_ids(spark, cfg, "docs", dates)  # a re-ingested date is stale too
    stale = store.stale_dates(spark, cfg, maker, inputs)
    if not stale:
        return []
    wanted = [dt.date.fromisoformat(d) for d in stale]
    keys = ["doc_id", "crawl_date"]
    extra = ["p_raw"] if "p_raw" in scores.columns else []
    rows = (docs.where(F.col("crawl_date").isin(wanted)).select(*keys, "text")
            .join(scores.where(F.col("crawl_date").isin(wanted)).select(*keys, *extra),
                  keys, "inner"))
    scored = with_pu_score(rows, model.classifier, cfg).select(*keys, "pu_score")
    store.write(scored, cfg, maker, {d: inputs[d] for d in stale}, sort_by=("doc_id",),
                rows=date_rows(rows))
    log.info("share: scored %d date(s) with pu classifier %s", len(stale),
             model.fingerprint[:12])
    return stale


def read_scores(model: StoredModel, spark: SparkSession, cfg, dates: list[str]) -> DataFrame:
    """(doc_id, crawl_date, pu_score) of `dates`, all made by `model` (else an error)."""
    inputs = store.input_ids(spark, cfg, "docs", dates)
    return store.read(spark, cfg, model.maker(), inputs).select("doc_id", "crawl_date",
                                                                "pu_score")
