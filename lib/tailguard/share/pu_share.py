"""The `pu` estimator of the share job: in-crawl mixture-proportion estimation (issue 21).

Every domain's pre-AI documents are a labelled human sample of that domain; its post-AI
documents are a mixture (1 - a) H + a S with an unknown synthetic part S. The detector
was trained on other generators and its operating point does not transfer to new ones
(docs/DETECTOR.md, real-text numbers), so this estimator does not use its threshold or
calibration; its raw score is at most one of two inputs of a score learned on the crawl:

1. Scores learned on this crawl: one logistic regression of post-AI vs pre-AI documents
   over all domains (pu_classifier.py: scikit-learn, one partition per fold model, on a
   seeded sample of at most `share.pu_max_train_docs` documents; hashed word uni- and bigrams,
   L2-normalised, the two eras weighted equally within each domain, so that a domain's
   mix of pre- and post-AI pages cannot be learned as a label), cross-fitted: each
   document is scored (mapInArrow, models broadcast) by the model of the
   `share.pu_folds` - 1 folds it is not in. Human text after the cutoff looks like human
   text before it, so what the model learns to push up is the new, synthetic text, pooled over every
   domain (a domain's 50 synthetic pages are too few to learn from on their own).
   With `share.pu_stack_detector` (and p_raw in the scores), a second cross-fitted
   regression of the same eras on (logit text score, logit detector p_raw) gives the
   score: the crawl's own eras decide what the detector is worth there. The share job
   keeps the fitted classifier between runs and its scores as attributes (pu_state.py).
2. Per domain, a known-component mixture fit by binned maximum likelihood
   (`pu.binned_ml_shares`): the domain's post-AI scores (the target), counted in
   `share.pu_fit_bins` bins cut at the crawl's score percentiles, under
   (1 - a) p_ref + a p_syn, p_ref = the bin masses of the domain's own pre-AI scores
   (the reference) shrunk toward the pooled pre-AI ones, p_syn = one synthetic
   distribution for the crawl (`pu.synthetic_cdf` on a grid of `share.pu_grid_points`
   percentiles, started from each domain's Best Bin Estimate, Garg et al. 2021). The
   likelihood weighs the top of the score range, where synthetic pages sit, by what it
   says about a; the least-squares CDF fit it replaced weighed every grid value alike.
   A domain with fewer than
   `share.min_reference_docs` pre-AI documents keeps its own reference for the point
   (another source's human text is the larger error: +0.1 to +0.27 on real text, where
   25 own documents were within 0.09) but reports the union of its interval and the fit
   against every domain's pooled pre-AI CDF, and says so in `reason`; with fewer than
   `side_min_docs` it has no own reference and the pooled one gives the point.
   `__all__` (overall and per month) is the target-weighted mean of the domains' signed
   fits, clipped once.
3. Intervals: Poisson bootstrap over reference AND target documents, weights from
   fmix64(xxhash64(doc_id, seed) ^ replicate); the classifier and F_syn stay fixed. The
   upper end also covers each replicate's norm-ratio share (`pu.norm_ratio_shares`):
   one F_syn for the crawl is a wrong direction for a domain whose synthetic pages
   differ (another generator, short pages), and a fit against it then under-reads.
   On real text (3 crawl draws, least-squares fit) this raised coverage on 80-word
   pages from 0.83 to 0.90 and on R2 from 0.76 to 0.80 (BENCHMARKS.md).
4. Placebo (era = 'pre_ai' rows): the same estimator on the domain's latest
   `share.pu_placebo_months` pre-AI months against its earlier pre-AI months; both are
   human, so it should read ~0. It is reported signed, not clipped to [0, 1]: clipping
   would turn the noise of 30 against 60 documents into an apparent positive bias; topic
   drift read as synthetic shows as placebos that are positive domain after domain. (The
   fit is signed by swapping target and reference where its maximum is 0:
   `pu.binned_ml_shares`.)

Only scores (a few numbers per document) reach the per-domain pandas functions, whose
domains are spread over the cores in size-balanced buckets (spread.py), and only
per-domain CDFs (grid-sized arrays) and the fold models' coefficients reach the driver;
text stays in Spark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.schema import require_columns
from tailguard.share import pu
from tailguard.share.estimators import REPLICATE_CELLS, replicate_weights
from tailguard.share.pu_classifier import fit_classifier, with_pu_score
from tailguard.share.spread import by_site

ALL_DOMAINS = "__all__"
ESTIMATOR = "pu"
ROWS = T.StructType([
    T.StructField("era", T.StringType(), False),
    T.StructField("domain", T.StringType(), False),
    T.StructField("month", T.DateType(), True),        # null: the whole domain
    T.StructField("n_docs", T.LongType(), False),
    T.StructField("share", T.DoubleType(), True),
    T.StructField("share_lo", T.DoubleType(), True),
    T.StructField("share_hi", T.DoubleType(), True),
    T.StructField("reason", T.StringType(), True),
])


def cross_fitted_scores(docs: DataFrame, cfg) -> DataFrame:
    """(doc_id, [crawl_date,] domain, era, month, pu_score) of every document of `docs`
    (doc_id, domain, era, month, text [and p_raw]): the classifier fitted on them
    (pu_classifier.fit_classifier), then applied to them; cached. The share job keeps the
    fitted classifier between runs instead (pu_state.py)."""
    require_columns(docs, ["doc_id", "domain", "era", "month", "text"], "cross_fitted_scores")
    keep = [c for c in ("doc_id", "crawl_date", "domain", "era", "month") if c in docs.columns]
    classifier = fit_classifier(docs, cfg)
    return with_pu_score(docs, classifier, cfg).select(*keep, "pu_score").persist()


def replicate_cdfs(scores: np.ndarray, doc_hash: np.ndarray, grid: np.ndarray,
                   replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """((replicates + 1) x grid weighted CDFs, total weight per replicate) of one sample,
    computed in chunks of replicates (REPLICATE_CELLS)."""
    step = max(1, REPLICATE_CELLS // max(len(scores), 1))
    cdfs, totals = [], []
    for start in range(0, replicates + 1, step):
        weights = replicate_weights(doc_hash, range(start, min(start + step, replicates + 1)))
        cdfs.append(pu.weighted_cdfs(scores, grid, weights))
        totals.append(weights.sum(axis=1))
    return np.vstack(cdfs), np.concatenate(totals)


def score_grid(scores: DataFrame, points: int) -> np.ndarray:
    """`points` exact percentiles of every document's score (deterministic, one row back)."""
    probs = [(i + 1) / (points + 1) for i in range(points)]
    row = scores.agg(F.percentile("pu_score", F.array(*[F.lit(p) for p in probs]))
                     .alias("grid")).first()
    return np.unique(np.asarray(row["grid"] or [0.5], dtype=np.float64))


def side_min_docs(min_docs: int) -> int:
    """Documents a placebo side or a small domain's own reference needs: half of
    share.min_docs (at least 10). The latest pre-AI year of a domain holds a third of its
    pre-AI text at most, the placebo is a check on the estimator, not a number a reader
    acts on, and a small own reference only sets the point of an interval that also
    covers the pooled reference's fit."""
    return max(10, min_docs // 2)


def _months_before(month: dt.date, months: int) -> dt.date:
    total = month.year * 12 + month.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, 1)


def placebo_split(pre: pd.DataFrame, months: int) -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    """(earlier pre-AI documents, the latest `months` months of them, first late month)."""
    start = _months_before(max(pre.month), months - 1)
    return pre[pre.month < start], pre[pre.month >= start], start


SUMMARY = T.StructType([
    T.StructField("domain", T.StringType(), False),
    T.StructField("n_pre", T.LongType(), False),
    T.StructField("n_post", T.LongType(), False),
    T.StructField("bbe", T.DoubleType(), True),
    T.StructField("cdf_pre", T.ArrayType(T.DoubleType()), False),
    T.StructField("cdf_post", T.ArrayType(T.DoubleType()), False),
])


def domain_summary(frame: pd.DataFrame, grid: np.ndarray) -> dict:
    """One domain's sample CDFs on the grid and its Best Bin Estimate (no replicates)."""
    frame = frame[frame.pu_score.notna()]
    pre = frame[frame.era == "pre_ai"].pu_score.to_numpy(float)
    post = frame[frame.era == "post_ai"].pu_score.to_numpy(float)
    bbe = pu.bbe_share(pre, post) if len(pre) and len(post) else None
    return {"domain": frame.domain.iloc[0] if len(frame) else "", "n_pre": len(pre),
            "n_post": len(post), "bbe": bbe, "cdf_pre": pu.weighted_cdf(pre, grid).tolist(),
            "cdf_post": pu.weighted_cdf(post, grid).tolist()}


def crawl_components(summaries: pd.DataFrame, cfg) -> tuple[np.ndarray, np.ndarray]:
    """(F_syn, pooled pre-AI CDF) from the domains' summaries (driver, grid-sized).

    F_syn is learned from every domain that has its own reference (side_min_docs pre-AI
    documents) and share.min_docs post-AI ones: it rests on the synthetic pages of all of
    them, and a crawl whose big sites hold little synthetic text must not learn it from
    a handful of pages."""
    fit = summaries[(summaries.n_pre >= side_min_docs(cfg.share.min_docs))
                    & (summaries.n_post >= cfg.share.min_docs)]
    if fit.empty:
        fit = summaries[(summaries.n_pre > 0) & (summaries.n_post > 0)]
    grid_size = len(summaries.cdf_pre.iloc[0])
    weights = summaries.n_pre.to_numpy(float)
    pooled = (np.vstack(summaries.cdf_pre.to_list()).T @ weights / weights.sum()
              if weights.sum() > 0 else np.zeros(grid_size))
    if fit.empty:
        return np.ones(grid_size), pooled
    ref, tgt = np.vstack(fit.cdf_pre.to_list()), np.vstack(fit.cdf_post.to_list())
    f_syn = pu.synthetic_cdf(ref, tgt, fit.n_post.to_numpy(float),
                             fit.bbe.fillna(0.0).to_numpy(float))
    return f_syn, pooled


REPLICATES = T.StructType([
    T.StructField("era", T.StringType(), False),
    T.StructField("domain", T.StringType(), False),
    T.StructField("month", T.DateType(), True),     # null: the whole domain
    T.StructField("reference", T.StringType(), False),  # 'main' | 'wider' | 'mismatch'
    #                                                      (the last two widen only)
    T.StructField("r", T.IntegerType(), False),
    T.StructField("n", T.DoubleType(), False),       # weighted target documents
    T.StructField("value", T.DoubleType(), True),    # signed fit, before clipping
    T.StructField("reason", T.StringType(), True),
])


def domain_replicates(frame: pd.DataFrame, grid: np.ndarray, f_syn: np.ndarray,
                      pooled_ref: np.ndarray, cfg) -> pd.DataFrame:
    """Signed fits of one domain for every replicate: post-AI overall and per month
    against its reference(s), and the placebo; rows of the REPLICATES schema."""
    return _replicate_frame(*domain_blocks(frame, grid, f_syn, pooled_ref, cfg))


def domain_blocks(frame: pd.DataFrame, grid: np.ndarray, f_syn: np.ndarray,
                  pooled_ref: np.ndarray, cfg) -> tuple[str, list[tuple]]:
    """(domain, blocks): one block (era, month, reference, n per replicate, signed fit per
    replicate (None: no fit), reason) per fit of `domain_replicates`."""
    s = cfg.share
    frame = frame[frame.pu_score.notna()]
    domain = frame.domain.iloc[0]
    pre, post = frame[frame.era == "pre_ai"], frame[frame.era == "post_ai"]
    least = side_min_docs(s.min_docs)
    small = len(pre) < s.min_reference_docs
    tiny = len(pre) < least
    reason = None
    if small and not tiny:
        reason = (f"small own reference: {len(pre)} pre-AI documents < "
                  f"share.min_reference_docs ({s.min_reference_docs}); interval widened to "
                  f"cover the pooled pre-AI reference's fit")
    elif tiny:
        reason = (f"pooled reference: {len(pre)} pre-AI documents < {least}; interval "
                  f"widened to cover its own")
    blocks: list[tuple] = []  # (era, month, reference, n, value per replicate, reason)

    def cdfs(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return replicate_cdfs(part.pu_score.to_numpy(float),
                              part.doc_hash.to_numpy(np.int64), grid, s.bootstrap)

    cuts = pu.fit_bins(len(grid), s.pu_fit_bins)

    def emit(era, parts, references, why):
        """Fits of every (month, target) of `parts` against `references`; all targets of
        a reference in one batched call (the fits are row-wise, so batching only saves
        the per-call cost: a domain has a target per month)."""
        targets = [(month, *cdfs(target)) for month, target in parts]
        for name, (own_ref, n_ref) in references:
            rows, ref = len(targets[0][1]), own_ref
            tgt = np.vstack([t for _, t, _ in targets])
            n = np.concatenate([k for _, _, k in targets])
            if n_ref is not None:  # per-replicate reference rows: one copy per target
                ref, n_ref = np.tile(ref, (len(targets), 1)), np.tile(n_ref, len(targets))
            fits = pu.binned_ml_shares(tgt, n, ref, n_ref, f_syn, pooled_ref, cuts,
                                       s.pu_reference_prior_docs)
            for i, (month, t, k) in enumerate(targets):
                part = fits[i * rows:(i + 1) * rows]
                labelled = [(name, part)]
                if era == "post_ai" and name == "main":
                    ratios = pu.norm_ratio_shares(t, own_ref, f_syn)
                    labelled.append(("mismatch", [None if v is None else max(v, q or 0.0)
                                                  for v, q in zip(part, ratios, strict=True)]))
                for label, values in labelled:
                    blocks.append((era, month, label, k, values, why))

    # "main" is the reference of the point estimate; "wider" (another reference) and
    # "mismatch" (the main reference's fit if the domain's synthetic text is not the
    # crawl's F_syn: pu.norm_ratio_shares) only widen the interval
    # a reference is (replicate CDFs, replicate weights); the pooled one has no weights:
    # it is used as it is, not shrunk toward itself
    own = cdfs(pre) if len(pre) else None
    pooled = (pooled_ref, None)
    if not small:
        refs = [("main", own)]
    elif not tiny:
        refs = [("main", own), ("wider", pooled)]
    else:
        refs = [("main", pooled)] + ([("wider", own)] if own is not None else [])
    if len(post):
        emit("post_ai", [(None, post)], refs, reason)
        emit("post_ai", sorted(post.groupby("month"), key=lambda kv: kv[0]), refs[:1], reason)
    if len(pre):
        early, late, start = placebo_split(pre, s.pu_placebo_months)
        why = f"placebo: pre-AI months from {start} against the earlier ones"
        if len(early) >= least and len(late) >= least:
            emit("pre_ai", [(None, late)], [("main", cdfs(early))], why)
        else:
            blocks.append(("pre_ai", None, "main", [float(len(late))], [None],
                           f"placebo: fewer than {least} pre-AI documents before or in the "
                           f"latest {s.pu_placebo_months} months"))
    return domain, blocks


def _replicate_frame(domain: str, blocks: list[tuple]) -> pd.DataFrame:
    """REPLICATES rows of (era, month, reference, n, values, reason) blocks, one row per
    replicate r = 0.. of each block."""
    if not blocks:
        return pd.DataFrame({c: [] for c in REPLICATES.names})
    sizes = [len(b[4]) for b in blocks]
    rep = lambda i: np.repeat([b[i] for b in blocks], sizes)  # noqa: E731
    values = np.concatenate([np.array([np.nan if v is None else v for v in b[4]], np.float64)
                             for b in blocks])
    return pd.DataFrame({
        "era": rep(0), "domain": domain,
        "month": pd.Series(np.repeat(np.array([b[1] for b in blocks], dtype=object), sizes)),
        "reference": rep(2), "r": np.concatenate([np.arange(n, dtype=np.int32) for n in sizes]),
        "n": np.concatenate([np.asarray(b[3], np.float64)[:len(b[4])] for b in blocks]),
        "value": values,
        "reason": pd.Series(np.repeat(np.array([b[5] for b in blocks], dtype=object), sizes))})


# The `__all__` rows average the domains' fits replicate by replicate. Each domain's
# main fits go into that mean as fixed-point integers (n x value and n, times SUM_SCALE),
# summed per partition and then on the driver: integer sums are exact, so the mean has the
# same bits however the domains are grouped (buckets, cores). Headroom: n x 2^24 per
# domain and a crawl's total n below ~5e11 documents stay inside int64.
SUM_SCALE = float(1 << 24)

# the per-domain stage's rows: ROWS per (era, domain, month), and per partition one row
# per (era, month) with domain ALL_DOMAINS holding that partition's fixed-point sums
DOMAIN_ROWS = T.StructType(ROWS.fields + [
    T.StructField("sum_nv", T.ArrayType(T.LongType()), True),
    T.StructField("sum_n", T.ArrayType(T.LongType()), True),
])


def interval(values: np.ndarray, signed: bool) -> tuple[float, float, float]:
    """(point, lo, hi) of one fit's replicate values (r = 0 is the point, NaN no fit):
    clipped to [0, 1] unless `signed` (the placebo), the interval the 2.5th and 97.5th
    percentiles over r >= 1 with linear interpolation (Spark's `percentile`); NaN where
    there is no value."""
    reported = values if signed else np.clip(values, 0.0, 1.0)
    rest = reported[1:][~np.isnan(reported[1:])]
    lo, hi = np.percentile(rest, [2.5, 97.5]) if len(rest) else (np.nan, np.nan)
    return float(reported[0]) if len(reported) else np.nan, float(lo), float(hi)


def _finite(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def summary_row(era: str, domain: str, month, fits: list[tuple], min_docs: int) -> dict:
    """One ROWS row from the fits of one (era, domain, month): fits are (reference, n per
    replicate, values per replicate, reason). The point and n from the 'main' reference;
    the interval the lowest lo and highest hi over the references ('wider': a small
    domain's second reference; 'mismatch': the norm-ratio upper end only widen it) and
    the point; post-AI rows under `min_docs` documents have no share."""
    signed = era == "pre_ai"
    stats = {ref: interval(values, signed) for ref, _, values, _ in fits}
    main = next(f for f in fits if f[0] == "main")
    n_docs = int(main[1][0]) if len(main[1]) else 0
    # the interval also holds the point: the bootstrap percentiles of a fit that is not
    # linear in its documents can miss the fit itself (seen on 1 of 500 sites of the
    # 200k bench crawl), and a reported share outside its own interval reads as an error
    point = stats["main"][0]
    los = [v[1] for v in stats.values() if not np.isnan(v[1])]
    his = [v[2] for v in stats.values() if not np.isnan(v[2])]
    if not np.isnan(point):
        los.append(point)
        his.append(point)
    row = {"era": era, "domain": domain, "month": month, "n_docs": n_docs,
           "share": _finite(stats["main"][0]), "share_lo": min(los) if los else None,
           "share_hi": max(his) if his else None,
           "reason": next((f[3] for f in fits if f[3] is not None), None)}
    if era == "post_ai" and n_docs < min_docs:
        row.update(share=None, share_lo=None, share_hi=None,
                   reason=f"fewer than {min_docs} documents (share.min_docs)")
    return row


def fixed_point_sums(n: np.ndarray, values: np.ndarray, length: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(n x value, n) per replicate in SUM_SCALE fixed point, 0 where there is no fit,
    padded to `length` replicates."""
    v = np.full(length, np.nan)
    w = np.zeros(length)
    v[:len(values)], w[:len(n)] = values, np.asarray(n, np.float64)[:len(values)]
    ok = ~np.isnan(v)
    return (np.where(ok, np.rint(w * np.where(ok, v, 0.0) * SUM_SCALE), 0).astype(np.int64),
            np.where(ok, np.rint(w * SUM_SCALE), 0).astype(np.int64))


def domain_rows(domain: str, blocks: list[tuple], cfg) -> pd.DataFrame:
    """DOMAIN_ROWS of one domain's fits (domain_blocks): a summary row per (era, month),
    carrying its main fit's fixed-point sums for `__all__`."""
    s = cfg.share
    grouped: dict[tuple, list[tuple]] = {}
    for era, month, reference, n, values, reason in blocks:
        vals = np.array([np.nan if v is None else v for v in values], np.float64)
        grouped.setdefault((era, month), []).append((reference, np.asarray(n), vals, reason))
    rows = []
    for (era, month), fits in grouped.items():
        row = summary_row(era, domain, month, fits, s.min_docs)
        main = next(f for f in fits if f[0] == "main")
        row["sum_nv"], row["sum_n"] = fixed_point_sums(main[1], main[2], s.bootstrap + 1)
        rows.append(row)
    return pd.DataFrame(rows, columns=DOMAIN_ROWS.names)


def bucket_sums(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The per-domain frames of one partition without their sums, and one ALL_DOMAINS row
    per (era, month) holding the partition's exact sums of them."""
    sums: dict[tuple, list[np.ndarray]] = {}
    for frame in frames:
        for era, month, nv, n in zip(frame.era, frame.month, frame.sum_nv, frame.sum_n,
                                     strict=True):
            acc = sums.setdefault((era, month), [np.zeros(len(nv), np.int64),
                                                 np.zeros(len(n), np.int64)])
            acc[0] += np.asarray(nv, np.int64)
            acc[1] += np.asarray(n, np.int64)
    out = [f.assign(sum_nv=None, sum_n=None) for f in frames]
    if sums:
        keys = list(sums)
        out.append(pd.DataFrame({
            "era": [k[0] for k in keys], "domain": ALL_DOMAINS,
            "month": pd.Series([k[1] for k in keys], dtype=object), "n_docs": 0,
            "share": None, "share_lo": None, "share_hi": None, "reason": None,
            "sum_nv": [sums[k][0] for k in keys], "sum_n": [sums[k][1] for k in keys]},
            columns=DOMAIN_ROWS.names))
    return out


def all_domains_rows(partials: list, min_docs: int) -> list[dict]:
    """ROWS of `__all__` from the partitions' fixed-point sums (rows with era, month,
    sum_nv, sum_n): per replicate the target-weighted mean of the domains' signed main
    fits, then summarised like a domain (clipped once, the placebo signed)."""
    sums: dict[tuple, list[np.ndarray]] = {}
    for p in partials:
        nv, n = np.asarray(p["sum_nv"], np.int64), np.asarray(p["sum_n"], np.int64)
        acc = sums.setdefault((p["era"], p["month"]), [np.zeros_like(nv), np.zeros_like(n)])
        acc[0] += nv
        acc[1] += n
    rows = []
    # the whole-crawl row (month None) first, then the months in order
    for (era, month), (nv, n) in sorted(sums.items(), key=lambda kv: (
            kv[0][0], kv[0][1] is not None, kv[0][1] or dt.date.min)):
        if not n.any():
            continue  # no domain has a fit here
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(n > 0, nv / np.where(n > 0, n, 1), np.nan)
        weights = n / SUM_SCALE
        rows.append(summary_row(era, ALL_DOMAINS, month,
                                [("main", np.rint(weights), values, None)], min_docs))
    return rows


@dataclass(frozen=True)
class CrawlFit:
    """What every domain's fit shares: the documents' slim scores, the grid of score
    percentiles, the domains' sample CDFs (driver, grid-sized arrays), the crawl's
    synthetic CDF, the pooled pre-AI CDF, and the domains' sizes (scored documents), by
    which the per-domain stages spread them over the cores."""

    slim: DataFrame
    grid: np.ndarray
    summaries: pd.DataFrame
    f_syn: np.ndarray
    pooled: np.ndarray
    sizes: dict[str, int]

    def per_domain(self, df: DataFrame, fn, schema: T.StructType) -> DataFrame:
        """`fn(one domain's rows)` over the domains of `df` (spread.by_site)."""
        return per_domain(df, self.sizes, fn, schema)


def per_domain(df: DataFrame, sizes: dict[str, int], fn, schema: T.StructType,
               combine=None) -> DataFrame:
    """mapInPandas of `fn` per domain, the domains in size-balanced buckets, three per
    core: a per-domain stage costs its largest bucket, not the sum of all domains
    (`combine`: see spread.by_site)."""
    cores = df.sparkSession.sparkContext.defaultParallelism
    # a domain's fits cost about its documents plus a fixed part (its months, its fits)
    cost = {d: n + 200 for d, n in sizes.items()}
    return by_site(df, "domain", cost, 3 * cores, fn, schema, combine)


def crawl_fit(scores: DataFrame, cfg) -> CrawlFit | None:
    """Stages 1-3 of `pu_share_rows`: grid -> per-domain CDFs -> F_syn (None: no scores)."""
    require_columns(scores, ["doc_id", "domain", "era", "month", "pu_score"], "crawl_fit")
    slim = scores.select("domain", "era", "month", "pu_score",
                         F.xxhash64("doc_id", F.lit(cfg.share.seed)).alias("doc_hash")
                         ).where(F.col("pu_score").isNotNull())
    sizes = {r["domain"]: int(r["count"]) for r in slim.groupBy("domain").count().collect()}
    if not sizes:
        return None
    grid = score_grid(slim, cfg.share.pu_grid_points)
    summaries = (per_domain(slim, sizes, lambda f: pd.DataFrame(
        [domain_summary(f, grid)], columns=SUMMARY.names), SUMMARY)
        .toPandas().sort_values("domain", ignore_index=True))
    f_syn, pooled = crawl_components(summaries, cfg)
    return CrawlFit(slim, grid, summaries, f_syn, pooled, sizes)


def pu_share_rows(scores: DataFrame, cfg, fit: CrawlFit | None = None
                  ) -> tuple[DataFrame, list[DataFrame]]:
    """(the estimator's rows per domain, per (domain, month) and for `__all__` (ROWS),
    cached frames to unpersist once they are written).

    Stages: grid of score percentiles -> per-domain sample CDFs (`per_domain`, back to
    the driver: grid-sized arrays per domain) -> the crawl's synthetic CDF -> per-domain
    replicate fits, summarised where they are made (`per_domain`: a few rows per domain
    and month, not one per replicate) -> `__all__` on the driver from exact sums. `fit`
    is `crawl_fit(scores, cfg)` when the caller has it already.
    """
    spark = scores.sparkSession
    fit = fit or crawl_fit(scores, cfg)
    if fit is None:
        return spark.createDataFrame([], ROWS), []
    grid, f_syn, pooled = fit.grid, fit.f_syn, fit.pooled

    def summarise(frame: pd.DataFrame) -> pd.DataFrame:
        return domain_rows(*domain_blocks(frame, grid, f_syn, pooled, cfg), cfg)

    rows = per_domain(fit.slim, fit.sizes, summarise, DOMAIN_ROWS, combine=bucket_sums
                      ).persist()
    is_all = F.col("domain") == ALL_DOMAINS
    partials = rows.where(is_all).select("era", "month", "sum_nv", "sum_n").collect()
    overall = spark.createDataFrame(all_domains_rows(partials, cfg.share.min_docs), ROWS)
    return rows.where(~is_all).select(*ROWS.names).unionByName(overall), [rows]


def human_p_values(pre_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values of `scores` against a human reference sample: (1 + the number
    of reference scores >= s) / (1 + n). Under the hypothesis that a page is drawn like
    the reference (human text of its site), its p-value is (super-)uniform, so a rule
    `p >= alpha` keeps about 1 - alpha of human pages whatever the classifier's scale
    (Vovk et al. 2005; Bates et al. 2023, "Testing for outliers with conformal
    p-values")."""
    ref = np.sort(np.asarray(pre_scores, np.float64))
    above = len(ref) - np.searchsorted(ref, np.asarray(scores, np.float64), side="left")
    return (1.0 + above) / (1.0 + len(ref))


def grid_p_values(cdf: np.ndarray, grid: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The same p-value from a reference known only as its CDF on the grid (the pooled
    pre-AI reference): 1 - F(s), F interpolated linearly between grid values and to
    F(0) = 0, F(1) = 1 at the ends of the score range (scores are probabilities)."""
    xs = np.concatenate([[0.0], grid, [1.0]])
    fs = np.concatenate([[0.0], np.clip(cdf, 0.0, 1.0), [1.0]])
    return np.clip(1.0 - np.interp(np.asarray(scores, np.float64), xs, fs), 0.0, 1.0)


PAGES = T.StructType([
    T.StructField("doc_id", T.StringType(), False),
    T.StructField("crawl_date", T.DateType(), False),
    T.StructField("domain", T.StringType(), False),
    T.StructField("era", T.StringType(), False),
    T.StructField("pu_score", T.DoubleType(), True),
    T.StructField("human_p", T.DoubleType(), True),
    T.StructField("reference", T.StringType(), True),
])


def domain_pages(frame: pd.DataFrame, grid: np.ndarray, pooled: np.ndarray,
                 least: int) -> pd.DataFrame:
    """PAGES rows of one domain: every post-AI page's `human_p` against the domain's own
    pre-AI scores (reference 'own', at least `least` of them, as for the share's point)
    or else against the crawl's pooled pre-AI CDF ('pooled'); pre-AI pages and pages
    without a score have no p-value."""
    scored = frame.pu_score.notna().to_numpy()
    pre = frame[(frame.era == "pre_ai") & scored].pu_score.to_numpy(np.float64)
    post = ((frame.era == "post_ai") & scored).to_numpy()
    p = np.full(len(frame), np.nan)
    own = len(pre) >= least
    values = frame.pu_score.to_numpy(np.float64)[post]
    p[post] = human_p_values(pre, values) if own else grid_p_values(pooled, grid, values)
    reference = np.where(post, "own" if own else "pooled", None)
    return frame[["doc_id", "crawl_date", "domain", "era", "pu_score"]].assign(
        human_p=p, reference=reference)


def page_scores(scores: DataFrame, fit: CrawlFit | None, cfg) -> DataFrame:
    """PAGES: how typical each post-AI page's in-crawl score is of its site's human
    (pre-AI) pages, for the shards' admission (`shards.min_human_p`). A per-domain
    function over a few numbers per document, like the replicate fits."""
    require_columns(scores, ["doc_id", "crawl_date", "domain", "era", "pu_score"],
                    "page_scores")
    slim = scores.select(*[f.name for f in PAGES.fields if f.name not in
                           ("human_p", "reference")])
    if fit is None:
        return slim.withColumn("human_p", F.lit(None).cast("double")).withColumn(
            "reference", F.lit(None).cast("string")).select(*PAGES.fieldNames())
    grid, pooled, least = fit.grid, fit.pooled, side_min_docs(cfg.share.min_docs)
    return fit.per_domain(slim, lambda f: domain_pages(f, grid, pooled, least), PAGES)
