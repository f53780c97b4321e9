"""`tailguard share`: synthetic share per domain and per (domain, month), with intervals.

Stages: load provenance + scores (+ docs for the dates without stored attributes) ->
canonical pre-AI and post-AI documents -> per-document log Q/P (mle.py; the word model is
stored state and the ratios the attribute `attributes/mle_ratio`, computed only for the
dates that lack them: mle_state.py) -> Poisson-bootstrap sums per
(era, domain or `__all__`, month or all months, replicate), replicates only for groups of
at least share.min_docs documents (bootstrap.py, Arrow batches) -> estimates (cc, pcc,
acc, mle) and percentile intervals; in parallel the `pu` estimator
(pu_share.py: a cross-fitted post-AI vs pre-AI classifier of this crawl + a per-domain
mixture fit against the domain's own pre-AI scores, with an out-of-sample placebo; the
classifier is stored state refitted by a stated rule and its per-document scores the
attribute table `attributes/pu_score`, computed only for the dates that lack them:
pu_state.py) ->
metrics tables, and `pu_scores`: each page's in-crawl score and, for post-AI pages, how
typical it is of its site's human pages (`human_p`, the shards' admission reads it).

Rows with era = 'post_ai' are the product numbers; era = 'pre_ai' rows run the same
estimators on pre-AI documents and should sit near zero (the sanity check the report
shows); for `pu` they are its placebo (latest pre-AI months against the earlier ones).
Groups under `share.min_docs` documents get a null share and a `reason`.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from tailguard import paths
from tailguard.config import SUM_ESTIMATORS
from tailguard.detector.model import REFERENCE_FILE, read_meta
from tailguard.errors import InputError
from tailguard.io.tables import read_table, write_table
from tailguard.schema import require_columns
from tailguard.share import bootstrap as bs
from tailguard.share import mle, mle_state, pu_share, pu_state

log = logging.getLogger(__name__)

SHARE_COLUMNS = ("era", "domain", "n_docs", "n_synthetic_est", "share", "share_lo", "share_hi",
                 "estimator", "is_primary", "reason")
MONTHLY_COLUMNS = ("era", "domain", "month", *SHARE_COLUMNS[2:])


def base_documents(provenance: DataFrame, scores: DataFrame, threshold: float,
                   canonical_only: bool) -> DataFrame:
    """Scored pre-AI and post-AI documents: doc_id, domain, era, month, p_synthetic,
    [p_raw,] pred.

    Attested pages are old content seen again, so they belong to neither side. With
    canonical_only, each near-duplicate cluster counts once (its earliest copy).
    """
    require_columns(provenance, ["doc_id", "domain", "era", "crawl_date", "is_canonical"],
                    "share")
    require_columns(scores, ["doc_id", "crawl_date", "p_synthetic"], "share")
    docs = provenance.where(F.col("era").isin("pre_ai", "post_ai"))
    if canonical_only:
        docs = docs.where(F.col("is_canonical"))
    else:
        # doc_id hashes url + text, so a page re-crawled unchanged keeps its doc_id: count
        # such a page once per era, at its earliest crawl.
        first = F.min("crawl_date").over(Window.partitionBy("doc_id", "era"))
        docs = (docs.withColumn("first_crawl", first)
                .where(F.col("crawl_date") == F.col("first_crawl")).drop("first_crawl"))
    # p_raw (every scores table `tailguard score` writes has it) feeds pu's stacked score
    detector = [c for c in ("p_synthetic", "p_raw") if c in scores.columns]
    return (docs.select("doc_id", "crawl_date", "domain", "era",
                        F.trunc("crawl_date", "month").alias("month"))
            .join(scores.select("doc_id", "crawl_date", *detector), ["doc_id", "crawl_date"],
                  "inner")
            .withColumn("pred", F.col("p_synthetic") >= F.lit(threshold)))


def with_estimates(sums: DataFrame, points: int, tpr: float, fpr: float) -> DataFrame:
    """cc, pcc, acc and mle per row of replicate sums (Spark built-ins only)."""
    n = F.col("n")
    cc, pcc = F.col("n_pred") / n, F.col("sum_p") / n
    acc = (F.least(F.greatest((cc - F.lit(fpr)) / F.lit(tpr - fpr), F.lit(0.0)), F.lit(1.0))
           if tpr > fpr else F.lit(None).cast("double"))
    arr = F.array(*bs.ll_columns(points))
    i = F.array_position(arr, F.array_max(arr)).cast("int")  # 1-based
    left = F.element_at(arr, F.greatest(i - 1, F.lit(1)))
    mid = F.element_at(arr, i)
    right = F.element_at(arr, F.least(i + 1, F.lit(points)))
    curvature = left - 2 * mid + right
    step = 1.0 / (points - 1)
    at_grid = (i - 1).cast("double") * step
    refined = at_grid + 0.5 * (left - right) / curvature * step
    alpha = (F.when((i == 1) | (i == points) | (curvature >= 0), at_grid)
             .otherwise(F.least(F.greatest(refined, F.lit(0.0)), F.lit(1.0))))
    return sums.select("*", cc.alias("cc"), pcc.alias("pcc"), acc.alias("acc"),
                       alpha.alias("mle"))


def summarise(estimates: DataFrame, keys: list[str], cfg) -> DataFrame:
    """Point estimate (replicate 0), 95% percentile interval (replicates 1..B), reason."""
    r = F.col("r")
    long = estimates.select(*keys, "r", "n", F.explode(F.array(*[
        F.struct(F.lit(e).alias("estimator"), F.col(e).alias("value")) for e in SUM_ESTIMATORS
    ])).alias("e")).select(*keys, "r", "n", "e.estimator", "e.value")
    boot = F.when(r > 0, F.col("value"))
    out = long.groupBy(*keys, "estimator").agg(
        F.max(F.when(r == 0, F.col("n"))).cast("long").alias("n_docs"),
        F.max(F.when(r == 0, F.col("value"))).alias("point"),
        F.percentile(boot, F.lit(0.025)).alias("lo"),
        F.percentile(boot, F.lit(0.975)).alias("hi"))
    few = F.col("n_docs") < cfg.share.min_docs
    reason = (F.when(few, F.lit(f"fewer than {cfg.share.min_docs} documents (share.min_docs)"))
              .when(F.col("point").isNull(), F.lit("detector TPR <= FPR: acc undefined")))
    keep = lambda c: F.when(~few, F.col(c))  # noqa: E731 - one-line column helper
    return out.select(
        *keys, "n_docs", (keep("point") * F.col("n_docs")).alias("n_synthetic_est"),
        keep("point").alias("share"), keep("lo").alias("share_lo"),
        keep("hi").alias("share_hi"), "estimator",
        (F.col("estimator") == cfg.share.primary).alias("is_primary"), reason.alias("reason"))


def synthetic_reference_words(spark, cfg) -> DataFrame:
    """Words of the synthetic reference documents (share.synthetic_reference or the
    detector's saved synthetic training text)."""
    path = cfg.share.synthetic_reference or paths.join(cfg.detector_dir, REFERENCE_FILE)
    d = cfg.detector
    ref = spark.read.json(path)
    if d.label_field in ref.columns:
        ref = ref.where(F.col(d.label_field) == d.synthetic_label)
    ref = ref.select(F.monotonically_increasing_id().cast("string").alias("doc_id"),
                     F.col(d.text_field).alias("text"))
    return mle.with_words(ref)


def words_of(docs: DataFrame):
    """A function adding `words` (mle.with_words of the document's text) to rows keyed by
    (doc_id, crawl_date): only the rows it is given are tokenised."""
    keys = ["doc_id", "crawl_date"]

    def add(rows: DataFrame) -> DataFrame:
        record = F.concat_ws("|", "doc_id", F.col("crawl_date").cast("string"))
        keyed = rows.withColumn("_record", record)
        texts = (docs.select(*keys, "text").join(keyed.select(*keys), keys, "left_semi")
                 .select(record.alias("doc_id"), "text"))
        words = mle.with_words(texts).withColumnRenamed("doc_id", "_record")
        return keyed.join(words, "_record", "inner").drop("_record")

    return add


def texts_of(docs: DataFrame):
    """A function adding each row's `text` to rows keyed by (doc_id, crawl_date)."""
    keys = ["doc_id", "crawl_date"]
    return lambda rows: rows.join(docs.select(*keys, "text"), keys, "inner")


def mle_rows(spark, cfg, provenance: DataFrame, scores: DataFrame, docs: DataFrame,
             base: DataFrame, meta: dict, dates: list[str]) -> tuple[DataFrame, list]:
    """The bootstrap's input rows (bootstrap.INPUT_COLUMNS) of the base documents, and
    frames to unpersist: the stored word model (refitted by mle_state's rule), its log
    ratios of the dates that lack them written to attributes/mle_ratio, then read for
    every date. Text is read for the dates it scores (and the pre-AI text on a refit)."""
    add_words = words_of(docs)
    model, _ = mle_state.current_reference(
        base, add_words, lambda: synthetic_reference_words(spark, cfg), cfg, meta["version"])
    keys = ["doc_id", "crawl_date"]
    # every scored document (whatever its era or cluster), so every scored date has a
    # partition and a document that joins the base later has its ratio
    scored = provenance.select(*keys, "domain", "era").join(scores.select(*keys), keys,
                                                            "left_semi")
    mle_state.refresh_ratios(model, scored, texts_of(docs), cfg, dates)
    ratios = mle_state.read_ratios(model, spark, cfg, dates)
    rows = (base.join(ratios, keys, "inner")
            .withColumn("doc_hash", F.xxhash64("doc_id", F.lit(cfg.share.seed))))
    return rows, list(model.reference.cached)


def compute_share(spark, cfg, provenance, scores, docs, meta):
    """(synthetic_share, synthetic_share_monthly, pu_scores (pu_share.PAGES), cached frames
    to unpersist after writing)."""
    s, points = cfg.share, cfg.share.mle_grid_points
    op = meta["operating_point"]
    base = base_documents(provenance, scores, op["threshold"], s.canonical_only).persist()
    dates = sorted({str(r[0]) for r in scores.select("crawl_date").distinct().collect()})
    rows, model_frames = mle_rows(spark, cfg, provenance, scores, docs, base, meta, dates)
    sums = bs.replicate_sums(rows, s.bootstrap, points, s.min_docs).persist()
    whole_domain = F.col("month").isNull()
    by_domain = sums.where(whole_domain).drop("month")
    by_month = sums.where(~whole_domain)
    tpr, fpr = float(op["tpr"]), float(op["fpr"])
    share = summarise(with_estimates(by_domain, points, tpr, fpr), ["era", "domain"], cfg)
    monthly = summarise(with_estimates(by_month, points, tpr, fpr),
                        ["era", "domain", "month"], cfg)
    pu_cached, pu_rows, pages = pu_estimates(base, docs, scores, cfg, meta["version"], dates)
    pu_rows = pu_rows.persist()
    share = share.select(*SHARE_COLUMNS).unionByName(
        as_share_rows(pu_rows.where(F.col("month").isNull()), cfg).select(*SHARE_COLUMNS))
    monthly = monthly.select(*MONTHLY_COLUMNS).unionByName(
        as_share_rows(pu_rows.where(F.col("month").isNotNull()), cfg).select(*MONTHLY_COLUMNS))
    return share, monthly, pages, [sums, base, *model_frames, *pu_cached, pu_rows]


def pu_texts(base: DataFrame, docs: DataFrame) -> DataFrame:
    """The base documents with their text (and the detector's raw score, when the scores
    have it): the input of `pu`'s classifier."""
    keys = ["doc_id", "crawl_date"]
    extra = ["p_raw"] if "p_raw" in base.columns else []
    return docs.select(*keys, "text").join(base.select(*keys, "domain", "era", "month", *extra),
                                           keys, "inner")


def pu_estimates(base: DataFrame, docs: DataFrame, scores: DataFrame, cfg,
                 detector_version: str, dates: list[str]
                 ) -> tuple[list[DataFrame], DataFrame, DataFrame]:
    """(cached frames, pu_share.ROWS, pu_share.PAGES) for the base
    documents: the stored classifier (refitted by pu_state's rule), its scores of the
    dates that lack them written to attributes/pu_score, then the per-domain fits on the
    score column of every date."""
    model = pu_state.current_model(base, pu_texts(base, docs), cfg, detector_version)
    pu_state.refresh_scores(model, docs, scores, cfg)
    keys = ["doc_id", "crawl_date"]
    per_doc = (base.select(*keys, "domain", "era", "month")
               .join(pu_state.read_scores(model, base.sparkSession, cfg, dates), keys, "left")
               .persist())
    fit = pu_share.crawl_fit(per_doc, cfg)
    rows, cached = pu_share.pu_share_rows(per_doc, cfg, fit)
    return [per_doc, *cached], rows, pu_share.page_scores(per_doc, fit, cfg)


def as_share_rows(rows: DataFrame, cfg) -> DataFrame:
    """pu_share.ROWS in the share tables' columns."""
    return rows.select(
        "era", "domain", "month", "n_docs",
        (F.col("share") * F.col("n_docs")).alias("n_synthetic_est"), "share", "share_lo",
        "share_hi", F.lit(pu_share.ESTIMATOR).alias("estimator"),
        (F.lit(pu_share.ESTIMATOR) == F.lit(cfg.share.primary)).alias("is_primary"), "reason")


def run(ctx) -> None:
    cfg, spark = ctx.cfg, ctx.spark
    meta = read_meta(cfg.detector_dir)
    scores = read_table(spark, cfg, "scores")
    # acc uses this detector's TPR/FPR: scores from another detector would be mis-adjusted.
    versions = {r[0] for r in scores.select("detector_version").distinct().limit(5).collect()}
    if versions - {meta["version"]}:
        raise InputError(f"scores were made by detector(s) {sorted(versions)}, but "
                         f"{cfg.detector_dir} holds {meta['version']}: re-run `tailguard score`")
    share, monthly, pages, cached = compute_share(
        spark, cfg, read_table(spark, cfg, "provenance"), scores,
        read_table(spark, cfg, "docs"), meta)
    write_table(pages, cfg, "pu_scores", sort_by=["domain", "doc_id", "crawl_date"])
    write_table(share.coalesce(1), cfg, "metrics/synthetic_share",
                sort_by=["era", "domain", "estimator"])
    write_table(monthly.coalesce(1), cfg, "metrics/synthetic_share_monthly",
                sort_by=["era", "domain", "month", "estimator"])
    for frame in cached:
        frame.unpersist()
    log.info("share: wrote metrics/synthetic_share(_monthly) and pu_scores, primary=%s, "
             "detector %s",
             cfg.share.primary, meta["version"])
