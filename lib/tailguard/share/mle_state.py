"""The `mle` estimator's word model as stored whole-crawl state, and each document's
log Q(d)/P(d) as the attribute table `attributes/mle_ratio`.

A document's log ratio (mle.py) is a function of its words and of the word model: the
vocabulary and q_w (from the synthetic reference), and each domain's pre-AI word counts
and constants. Only the word model depends on the whole crawl, so it is fitted once and
kept in `<output.root>/state/mle_reference` (one table, written whole: vocabulary rows,
domain rows with the constants, and the vocabulary words of each own-reference domain),
with what it was fitted on. A run then tokenises only the dates whose `mle_ratio`
partitions are missing or were made by another word model, and the bootstrap reads the
ratio column of every date: the text of old dates is not read again.

Refresh rule (the one `pu_state` states for the classifier): refit when there is no
stored model, on `share.refit: true`, or when the scored pre-AI documents grew by more
than `share.refit_growth` since the fit; a setting it depends on that differs is an
error naming the key. Post-AI dates never change the word model (it is fitted on pre-AI
text and the synthetic reference), so a daily run on post-AI dates never refits it. A
domain the model has no pre-AI text for is scored against all pre-AI text, as a domain
with too few pre-AI documents is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard import __version__
from tailguard.attributes import store
from tailguard.io.tables import date_rows, read_table, table_exists, write_table
from tailguard.schema import MLE_REFERENCE_STATE
from tailguard.share import mle, mle_kernel
from tailguard.share.pu_state import stored_state_reason

log = logging.getLogger(__name__)

STATE_TABLE = "state/mle_reference"
ATTRIBUTE = "mle_ratio"
VERSION = 1
# the domain every domain without its own stored row is scored as (all pre-AI text)
POOLED = "\u0000pooled"
SETTING_KEYS = ("share.mle_min_df", "share.mle_min_domain_fraction", "share.mle_vocab_size",
                "share.mle_prior_docs", "share.min_reference_docs", "share.canonical_only",
                "share.synthetic_reference", "eras.cutoff")
KEYS = ["doc_id", "crawl_date"]


def state_settings(cfg, detector_version: str) -> dict[str, Any]:
    """What the word model depends on besides the pre-AI documents: config values, the
    detector (its saved synthetic training text is the default synthetic reference) and
    this code's VERSION."""
    values = json.loads(json.dumps({key: cfg.get(key) for key in SETTING_KEYS}, default=str))
    return {"mle_reference.version": VERSION, "detector.version": detector_version, **values}


def refit_reason(fitted_on: dict | None, settings: dict[str, Any], n_pre: int,
                 growth: float, requested: bool) -> str | None:
    """Why the word model must be refitted: its pre-AI documents grew (post-AI text never
    enters it)."""
    grown = [] if fitted_on is None else [("pre-AI", n_pre, fitted_on["n_pre"])]
    return stored_state_reason(STATE_TABLE, fitted_on, settings, grown, growth, requested)


@dataclass(frozen=True)
class StoredReference:
    reference: mle.Reference
    fitted_on: dict[str, Any]
    fingerprint: str   # of the stored rows and settings: two models score alike iff equal

    def maker(self) -> store.Maker:
        return store.Maker(ATTRIBUTE, VERSION, {"mle_reference": self.fingerprint}, job="share")


def state_frame(ref: mle.Reference, fitted_on: dict[str, Any]) -> DataFrame:
    """MLE_REFERENCE_STATE rows of a word model."""
    meta = F.lit(json.dumps(fitted_on, sort_keys=True))
    null = {c: F.lit(None) for c in ("word", "domain", "df", "q", "n_dom", "own", "c", "c_loo")}

    def rows(kind: str, frame: DataFrame, **cols) -> DataFrame:
        out = {**null, **cols}
        return frame.select(F.lit(kind).alias("kind"),
                         *[out[c].cast(f.dataType).alias(c)
                           for c, f in zip(null, MLE_REFERENCE_STATE.fields[1:-1], strict=True)],
                         meta.alias("fitted_on"))

    return (rows("vocab", ref.vocab, word=F.col("word"), df=F.col("df_glob"), q=F.col("q"))
            .unionByName(rows("domain", ref.domains, domain=F.col("domain"),
                              n_dom=F.col("n_dom"), own=F.col("own"), c=F.col("c"),
                              c_loo=F.col("c_loo")))
            .unionByName(rows("word", ref.domain_words, domain=F.col("domain"),
                              word=F.col("word"), df=F.col("df_dom"))))


def _fingerprint(state: DataFrame, settings: dict[str, Any]) -> str:
    """Rows (order-free: xor of row hashes, and their count) and settings."""
    row = state.agg(F.count(F.lit(1)).alias("n"), F.expr(
        "bit_xor(xxhash64(kind, word, domain, df, q, n_dom, own, c, c_loo))").alias("x")).first()
    body = json.dumps({"settings": settings, "rows": int(row["n"]), "xor": int(row["x"] or 0)},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def load(spark: SparkSession, cfg) -> StoredReference | None:
    if not table_exists(spark, cfg, STATE_TABLE):
        return None
    state = read_table(spark, cfg, STATE_TABLE).persist()
    first = state.select("fitted_on").limit(1).collect()
    if not first:
        return None
    fitted_on = json.loads(first[0]["fitted_on"])
    kind = F.col("kind")
    vocab = state.where(kind == "vocab").select("word", F.col("df").alias("df_glob"), "q")
    domains = state.where(kind == "domain").select("domain", "n_dom", "own", "c", "c_loo")
    words = state.where(kind == "word").select("domain", "word", F.col("df").alias("df_dom"))
    ref = mle.Reference(vocab, domains, words, int(fitted_on["n_total"]),
                        float(fitted_on["prior_docs"]), (state,))
    return StoredReference(ref, fitted_on, _fingerprint(state, fitted_on["settings"]))


def pre_ai_count(base: DataFrame) -> int:
    return base.where(F.col("era") == "pre_ai").count()


def current_reference(base: DataFrame, words_of: Callable[[DataFrame], DataFrame],
                      synthetic_words: Callable[[], DataFrame], cfg,
                      detector_version: str) -> tuple[StoredReference, bool]:
    """(the stored word model, whether it was refitted now). `base`: the share job's
    rows (doc_id, crawl_date, domain, era); `words_of(rows)` adds their documents' words;
    `synthetic_words()` the synthetic reference's. Refitted (and stored) when
    `refit_reason` says so: the pre-AI text is tokenised only then."""
    spark, s = base.sparkSession, cfg.share
    settings = state_settings(cfg, detector_version)
    stored = load(spark, cfg)
    n_pre = pre_ai_count(base)
    reason = refit_reason(stored.fitted_on if stored else None, settings, n_pre,
                          float(s.refit_growth), bool(s.refit))
    if reason is None:
        log.info("share: mle word model %s (fitted on %s pre-AI documents) kept",
                 stored.fingerprint[:12], stored.fitted_on["n_pre"])
        return stored, False
    log.info("share: fitting the mle word model: %s", reason)
    pre = words_of(base.where(F.col("era") == "pre_ai")).select("domain", "era", "words")
    # the pooled domain: no pre-AI text of its own, so it gets the all-pre-AI constants
    pooled = spark.createDataFrame([(POOLED, "none", [])], "domain string, era string, "
                                   "words array<string>")
    ref = mle.reference_tables(pre.unionByName(pooled), synthetic_words(), cfg)
    fitted_on = {"settings": settings, "n_pre": n_pre, "n_total": ref.n_total,
                 "prior_docs": ref.prior_docs, "tailguard": __version__,
                 "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    write_table(state_frame(ref, fitted_on).coalesce(1), cfg, STATE_TABLE,
                sort_by=("kind", "domain", "word"))
    for frame in ref.cached:
        frame.unpersist()
    return load(spark, cfg), True


def with_reference_domain(rows: DataFrame, domains: DataFrame) -> DataFrame:
    """`domain` replaced by POOLED where the word model has no row for it (keeps the
    original as `site`)."""
    known = F.broadcast(domains.select("domain", F.lit(True).alias("_known")))
    return (rows.withColumnRenamed("domain", "site")
            .join(known, F.col("site") == known["domain"], "left")
            .select(*[c for c in rows.columns if c != "domain"], "site",
                    F.when(F.col("_known"), F.col("site")).otherwise(F.lit(POOLED))
                    .alias("domain")))


def refresh_ratios(model: StoredReference, rows: DataFrame,
                   texts_of: Callable[[DataFrame], DataFrame], cfg,
                   dates: list[str] | None = None) -> list[str]:
    """Write `mle_ratio` for every date of `rows` (doc_id, crawl_date, domain, era: every
    scored document) whose partition is missing or stale; returns those dates.
    `texts_of(rows)` adds each row's text. A document's ratio depends on its words and the
    word model only, so a date scored alone equals the same date scored in a run over all
    dates. The ratios are computed in one Arrow pass (mle_kernel)."""
    spark = rows.sparkSession
    maker = model.maker()
    if dates is None:
        dates = sorted({str(r[0]) for r in rows.select("crawl_date").distinct().collect()})
    inputs = store.input_ids(spark, cfg, "docs", dates)
    stale = store.stale_dates(spark, cfg, maker, inputs)
    if not stale:
        return []
    wanted = rows.where(F.col("crawl_date").isin([dt.date.fromisoformat(d) for d in stale]))
    keyed = with_reference_domain(wanted, model.reference.domains)
    out = mle_kernel.with_log_ratio(texts_of(keyed), mle_kernel.word_model(model.reference))
    store.write(out, cfg, maker, {d: inputs[d] for d in stale}, sort_by=("doc_id",),
                rows=date_rows(wanted))
    log.info("share: mle log ratios of %d date(s) with word model %s", len(stale),
             model.fingerprint[:12])
    return stale


def read_ratios(model: StoredReference, spark: SparkSession, cfg, dates: list[str]
                ) -> DataFrame:
    """(doc_id, crawl_date, log_ratio) of `dates`, all made by `model` (else an error)."""
    inputs = store.input_ids(spark, cfg, "docs", dates)
    return store.read(spark, cfg, model.maker(), inputs).select(*KEYS, "log_ratio")
