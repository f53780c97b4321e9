"""Synthetic share of the audited documents that are not attested, with a 95% interval
and a placebo: `pu`'s fitting machinery (share/pu.py, share/pu_share.py) with the
crawl's own pre-AI text as the human reference.

The crawl side is read, never refitted: the stored in-crawl classifier (`state/pu_model`,
pu_state.py) scores the outside documents exactly as it scored the crawl's (its text
models on hashed word n-grams, stacked with the detector's raw score when it was fitted
so), and the share job's `pu_scores` table holds the crawl documents' scores. From those
the crawl's score grid, its synthetic score distribution F_syn and its pooled pre-AI CDF
are rebuilt (`pu_share.crawl_fit`, the share job's own stage 1-3).

The dataset's documents are fitted in groups (`fit_groups`); reference `own` is the
crawl's pre-AI text of the documents' own sites, `pooled` all of it:
- `own`, one group per site: the documents whose URL is on a crawl site with at least
  `side_min_docs` pre-AI scores, when the dataset has at least that many documents on
  the site: (1 - a) p_site + a p_syn, the site's pre-AI scores as its human text;
- `own`, matched: the documents on such sites that hold fewer of them, one group against
  the mixture of their sites' pre-AI CDFs weighted by the group's documents per site (a
  group of 5 documents would make a noisy fit of its own; measured on the R2 crawl,
  fitting them against the pooled reference instead read 0.21 on held-out human text);
- `pooled`: every other document (no URL, or a site the crawl lacks or knows too
  little), one group against the crawl's pooled pre-AI CDF (the mean of the sites' CDFs,
  weighted by their pre-AI documents).
Each group is a binned maximum-likelihood fit (`pu.binned_ml_shares`, signed by the
swapped fit), replicated by the Poisson bootstrap over the dataset's documents and the
site's reference documents (`pu_share.replicate_cdfs`, weights keyed by doc_id); the
overall share is the document-weighted mean of the groups' signed fits, replicate by
replicate, clipped once, as the share job's `__all__`. The upper end also covers the
norm-ratio share (`pu.norm_ratio_shares`): when the dataset's synthetic text is not the
crawl's F_syn (another generator, another topic), the fit reads a * cos(theta) and the
norm ratio reads a; `topic_shift` reports 1 - fit / norm ratio of the point (0: the
dataset's departure from the human reference lies along the crawl's F_syn).

Placebo: the crawl's own pre-AI text audited as if it came from outside. A seeded
fifth (`held_out`, independent of the classifier's folds) of each reference site's
pre-AI documents (all sites with enough of them when the dataset used the pooled
reference only) is fitted against the other four fifths; both are human, so it should
read ~0, signed, not clipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tailguard.share import pu
from tailguard.share.pu_share import interval, replicate_cdfs, side_min_docs
from tailguard.text.hashing import fmix64

log = logging.getLogger(__name__)

POOLED = "__pooled__"
MATCHED = "__matched__"
PLACEBO_PARTS = 5
PLACEBO_SALT = np.uint64(0x5AFE_A0D1_7000_0039)


@dataclass(frozen=True)
class CrawlReference:
    """What every fit reads from the crawl: the grid, F_syn, the pooled pre-AI CDF, and
    each eligible site's pre-AI (score, doc_hash) arrays."""

    grid: np.ndarray
    f_syn: np.ndarray
    pooled: np.ndarray
    sites: dict[str, tuple[np.ndarray, np.ndarray]]
    cuts: np.ndarray
    prior_docs: float
    replicates: int
    least: int


def reference_from(grid: np.ndarray, f_syn: np.ndarray, pooled: np.ndarray,
                   pre: pd.DataFrame, share_cfg) -> CrawlReference:
    """A CrawlReference from the crawl fit's arrays and the pre-AI rows (domain,
    pu_score, doc_hash) of the sites that may serve as their own reference."""
    least = side_min_docs(share_cfg.min_docs)
    sites = {d: (g.pu_score.to_numpy(np.float64), g.doc_hash.to_numpy(np.int64))
             for d, g in pre.groupby("domain") if len(g) >= least}
    return CrawlReference(grid, f_syn, pooled, sites, pu.fit_bins(len(grid), share_cfg.pu_fit_bins),
                          float(share_cfg.pu_reference_prior_docs), int(share_cfg.bootstrap),
                          least)


def _own(ref: CrawlReference, site: str) -> tuple[np.ndarray, np.ndarray]:
    """(replicate CDFs, replicate weights) of one site's pre-AI scores."""
    scores, hashes = ref.sites[site]
    return replicate_cdfs(scores, hashes, ref.grid, ref.replicates)


def matched_reference(ref: CrawlReference, sites: pd.Series
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The reference of documents spread thinly over crawl sites (`sites`: one per
    document): the mixture of their sites' pre-AI CDFs weighted by how many of the
    documents each site holds, per replicate; its size is Kish's effective number
    1 / sum_s (w_s^2 / n_s), which shrinks and swaps like a site's own."""
    weights = sites.value_counts(normalize=True)
    cdf, inverse = 0.0, 0.0
    for site, w in weights.items():
        cdfs, n = _own(ref, site)
        cdf = cdf + w * cdfs
        inverse = inverse + w * w / np.maximum(n, 1e-9)
    return cdf, 1.0 / inverse


def _fit(ref: CrawlReference, scores: np.ndarray, hashes: np.ndarray,
         reference: tuple[np.ndarray, np.ndarray] | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target weight, signed fit, norm-ratio share) per replicate of one group against
    `reference` (replicate CDFs and weights), or the pooled pre-AI CDF when None."""
    tgt, n_tgt = replicate_cdfs(scores, hashes, ref.grid, ref.replicates)
    cdf_ref, n_ref = (ref.pooled, None) if reference is None else reference
    values = pu.binned_ml_shares(tgt, n_tgt, cdf_ref, n_ref, ref.f_syn, ref.pooled, ref.cuts,
                                 ref.prior_docs)
    ratios = pu.norm_ratio_shares(tgt, cdf_ref, ref.f_syn)
    as_array = lambda xs: np.array([np.nan if x is None else x for x in xs])  # noqa: E731
    return n_tgt, as_array(values), as_array(ratios)


def _weighted(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per replicate, the weight-averaged value of the parts that have one."""
    if not parts:
        return np.zeros(0)
    n = np.vstack([p[0] for p in parts])
    v = np.vstack([p[1] for p in parts])
    ok = ~np.isnan(v)
    total = np.where(ok, n, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.where(ok, n * np.nan_to_num(v), 0.0).sum(axis=0) / total,
                        np.nan)


def groups_of(domains: np.ndarray, ref: CrawlReference) -> np.ndarray:
    """Each document's group: its crawl site when the site is an eligible reference and
    holds at least `least` of the documents; MATCHED when it is on an eligible site with
    fewer; else POOLED."""
    domains = np.asarray([d if isinstance(d, str) else "" for d in domains], dtype=object)
    names, counts = np.unique(domains, return_counts=True) if len(domains) else ([], [])
    own = {d for d, c in zip(names, counts, strict=True) if d in ref.sites and c >= ref.least}
    return np.array([d if d in own else MATCHED if d in ref.sites else POOLED
                     for d in domains], dtype=object)


def fit_groups(frame: pd.DataFrame, ref: CrawlReference, signed: bool = False) -> dict:
    """{estimate, lo, hi, n, reference, sites, topic_shift} of the documents of `frame`
    (domain, pu_score, doc_hash), see the module docstring; estimate None without a
    scored document."""
    frame = frame[frame.pu_score.notna()]
    if frame.empty:
        return {"estimate": None, "lo": None, "hi": None, "n": 0, "reference": None,
                "sites": 0, "topic_shift": None}
    group = groups_of(frame.domain.to_numpy(), ref)
    main, ratio, used = [], [], {"own": 0, "pooled": 0}
    for name in sorted(set(group)):
        part = frame[group == name]
        reference = (None if name == POOLED else matched_reference(ref, part.domain)
                     if name == MATCHED else _own(ref, name))
        n, values, ratios = _fit(ref, part.pu_score.to_numpy(np.float64),
                                 part.doc_hash.to_numpy(np.int64), reference)
        main.append((n, values))
        ratio.append((n, np.fmax(values, ratios)))
        used["pooled" if reference is None else "own"] += len(part)
    values, widened = _weighted(main), _weighted(ratio)
    point, lo, hi = interval(values, signed)
    _, _, hi_ratio = interval(widened, signed)
    reference = ("own" if not used["pooled"] else "pooled" if not used["own"] else
                 "own+pooled")
    shift = None
    if not np.isnan(widened[0]) and widened[0] > 1e-9 and not np.isnan(values[0]):
        shift = float(np.clip(1.0 - max(values[0], 0.0) / widened[0], 0.0, 1.0))
    finite = lambda x: None if np.isnan(x) else float(x)  # noqa: E731
    on_sites = {d for d in frame.domain if isinstance(d, str) and d in ref.sites}
    return {"estimate": finite(point), "lo": finite(lo),
            "hi": finite(max(hi, hi_ratio) if not np.isnan(hi_ratio) else hi),
            "n": int(len(frame)), "reference": reference,
            "documents_own_reference": used["own"], "documents_pooled_reference": used["pooled"],
            "sites": len(on_sites), "topic_shift": shift}


def held_out(doc_hash: np.ndarray) -> np.ndarray:
    """The placebo's seeded fifth, by a mix of the documents' hashes: never `doc_hash %
    5` itself, which is the classifier's fold (pu_classifier.with_fold hashes doc_id with
    the same seed), so a fifth by it would be the documents of ONE fold model, shifted
    against the rest by that model's own offset (0.061 [0.023, 0.167] on the R1 crawl)."""
    mixed = fmix64(np.asarray(doc_hash, np.int64).view(np.uint64) ^ PLACEBO_SALT)
    return (mixed % np.uint64(PLACEBO_PARTS)) == 0


def placebo(ref: CrawlReference, sites: list[str]) -> dict:
    """The crawl's own pre-AI text as if from outside: per site, its seeded held-out
    fifth against the rest of its pre-AI scores, signed; document-weighted over `sites`
    (every eligible site when empty)."""
    parts = []
    for site in sites or sorted(ref.sites):
        scores, hashes = ref.sites[site]
        held = held_out(hashes)
        if held.sum() < ref.least // 2 or (~held).sum() < ref.least:
            continue
        rest = replicate_cdfs(scores[~held], hashes[~held], ref.grid, ref.replicates)
        n, values, _ = _fit(ref, scores[held], hashes[held], rest)
        parts.append((n, values))
    if not parts:
        return {"estimate": None, "lo": None, "hi": None, "n": 0, "sites": 0}
    point, lo, hi = interval(_weighted(parts), signed=True)
    return {"estimate": float(point), "lo": float(lo), "hi": float(hi),
            "n": int(sum(p[0][0] for p in parts)), "sites": len(parts)}


def crawl_reference(spark: SparkSession, cfg, domains: list[str]) -> CrawlReference:
    """The crawl fit from the share job's `pu_scores` (grid, F_syn, pooled) and the
    pre-AI scores of the eligible sites among `domains` (all eligible sites when the
    placebo needs them: `domains` empty)."""
    from tailguard.io.tables import read_table
    from tailguard.share.pu_share import crawl_fit

    scores = (read_table(spark, cfg, "pu_scores")
              .select("doc_id", "crawl_date", "domain", "era", "pu_score",
                      F.trunc("crawl_date", "month").alias("month")))
    fit = crawl_fit(scores, cfg)
    if fit is None:
        raise ValueError("pu_scores holds no score")
    least = side_min_docs(cfg.share.min_docs)
    eligible = set(fit.summaries[fit.summaries.n_pre >= least].domain)
    wanted = sorted(eligible & set(domains)) or sorted(eligible)
    pre = (scores.where((F.col("era") == "pre_ai") & F.col("pu_score").isNotNull()
                        & F.col("domain").isin(wanted))
           .select("domain", "pu_score",
                   F.xxhash64("doc_id", F.lit(cfg.share.seed)).alias("doc_hash"))
           .toPandas())
    return reference_from(fit.grid, fit.f_syn, fit.pooled, pre, cfg.share)


def audit_shares(targets: pd.DataFrame, ref: CrawlReference, max_labels: int) -> dict:
    """{overall, by_label, placebo}: the fits of the not-attested documents (domain,
    label, pu_score, doc_hash) overall and per label value (the `max_labels` most
    frequent), and the placebo over the sites the overall fit used as references."""
    overall = fit_groups(targets, ref)
    by_label = {}
    labels = targets.label.dropna()
    for value in labels.value_counts().index[:max_labels]:
        by_label[str(value)] = fit_groups(targets[targets.label == value], ref)
    own_sites = sorted({d for d in targets.domain if isinstance(d, str) and d in ref.sites})
    return {"overall": overall, "by_label": by_label, "placebo": placebo(ref, own_sites)}


def slim_targets(scored: DataFrame, seed: int) -> pd.DataFrame:
    """(domain, label, pu_score, doc_hash) of the scored not-attested documents, on the
    driver (a few numbers per document)."""
    return (scored.select("domain", "label", "pu_score",
                          F.xxhash64("doc_id", F.lit(seed)).alias("doc_hash"))
            .toPandas())
