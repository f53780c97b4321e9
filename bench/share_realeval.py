"""The synthetic-share evaluation on real text (issue 21): the real pipeline, leave-generators-out.

For each rotation of `tailguard.sample.realtext` this builds the date-partitioned crawl of
real human and real LLM text, runs `ingest -> provenance -> train-detector` (on the rows of
the rotation's OTHER sources and generators only) `-> score -> share`, and compares every
estimator's per-domain post-AI share with the known truth: MAE, 95% interval coverage and
the placebo (the estimator applied to the pre-AI era, which holds human text only).
Only the final metrics table (a few rows per domain) is read back to the driver, and for
the oracle floor below the `pu` scores (a few numbers per document of these small crawls).
With `shards=True` the deliverable runs too (diversity, shards) and `shard_mix` compares
the shard set's synthetic token share with its post-AI pool's, by the crawl's labels.

One crawl is one draw of which human and synthetic rows land in which domain and era; a
number that holds for one draw may not hold for the next. `evaluate(seeds=...)` builds
the crawl of each rotation at several `CrawlSpec.seed`s and pools their domains.

The oracle floor (`oracle_shares`): the `pu` fit of each domain with its TRUE synthetic
score distribution (the cross-fitted scores of its own synthetic pages, which the
estimator cannot know) in place of the crawl's one estimated F_syn, against its own
pre-AI reference. Its error is what the classifier's scores and the sample sizes leave
when F_syn is perfect: a crawl whose floor is above a target cannot be brought under it
by a better F_syn, only by better scores or more documents.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from tailguard.cli import JobContext, run_job
from tailguard.config import load_config
from tailguard.io.tables import read_table
from tailguard.sample import realtext as rt
from tailguard.shards import pool as pool_module
from tailguard.share import job as share_job
from tailguard.share import pu, pu_share

log = logging.getLogger(__name__)
PIPELINE = ("ingest", "provenance", "train-detector", "score", "share")
SHARD_JOBS = ("diversity", "shards")  # `shards=True`: the deliverable on the same crawl


def run_rotation(spark, rows: list[dict], spec: rt.CrawlSpec, workdir: Path,
                 sets: tuple[str, ...] = (), oracle: bool = False, shards: bool = False
                 ) -> tuple[pd.DataFrame, dict, dict | None]:
    """Build the crawl of `spec` under `workdir`, run the pipeline; (share table, truth,
    the shard set's ground-truth mix or None). With `oracle`, each domain's truth also
    holds its oracle-floor share (`oracle`); with `shards`, diversity and shards run
    too and `shard_mix` measures what they wrote."""
    plan = rt.plan_crawl(rows, spec)
    written = rt.write_crawl(plan, workdir / "crawl")
    cfg = load_config([], [f"input.path={written.crawl}",
                           f"output.root={workdir / 'tables'}",
                           f"eras.cutoff={spec.cutoff}", *sets])
    results = {}
    for job in PIPELINE + (SHARD_JOBS if shards else ()):
        options = {"input": str(written.detector_train)} if job == "train-detector" else {}
        if job == "diversity":
            options = {"scope": "eras"}
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(**options))
        ctx.__dict__["spark"] = spark
        results[job] = run_job(job, ctx)
    table = spark.read.parquet(cfg.table_path("metrics/synthetic_share")).toPandas()
    table.attrs["primary"] = cfg.share.primary
    truth = {name: dict(t) for name, t in plan.truth.items()}
    if oracle:
        for name, value in oracle_shares(spark, cfg, written.labels).items():
            if name in truth:
                truth[name]["oracle"] = value
    mix = shard_mix(spark, cfg, written.labels, results["shards"]) if shards else None
    return table, truth, mix


def shard_mix(spark, cfg, labels: Path, manifest: dict) -> dict:
    """The shard set against the truth: token-weighted synthetic share of the post-AI
    pool (every canonical post-AI page, as the demo test counts it), of the admitted
    post-AI pages and of the shards; the share of the human and of the synthetic
    post-AI tokens that passed the quality rules and were admitted; the measured anchor
    share (from the shards job's `manifest`). Only sums by (era, admitted, selected,
    label) reach the driver."""
    name = cfg.shards.name
    pool = read_table(spark, cfg, f"shard_pool/{name}").select(
        "doc_id", "crawl_date", "era", "n_tokens", "reason", "selected")
    urls = read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "url")
    truth = spark.read.json(str(labels)).select(
        "url", (F.col("label") != F.lit(rt.HUMAN)).alias("synthetic"))
    admission = list(pool_module.ADMISSION_REASONS)
    sums = (pool.join(urls, ["doc_id", "crawl_date"]).join(truth, "url", "left")
            .groupBy("era", "synthetic", "selected",
                     F.col("reason").isNull().alias("admitted"),
                     (F.col("reason").isNull() | F.col("reason").isin(*admission))
                     .alias("quality_ok"))
            .agg(F.sum("n_tokens").alias("tokens")).toPandas())
    if sums.synthetic.isna().any():
        raise ValueError("pool pages without a label in the crawl's labels file")
    post = sums[sums.era == "post_ai"]

    def share(frame: pd.DataFrame) -> float | None:
        total = frame.tokens.sum()
        return float(frame[frame.synthetic].tokens.sum() / total) if total else None

    def kept(synthetic: bool) -> float | None:
        side = post[(post.synthetic == synthetic) & post.quality_ok]
        total = side.tokens.sum()
        return float(side[side.admitted].tokens.sum() / total) if total else None

    return {"pool_post_synthetic": share(post),
            "admitted_post_synthetic": share(post[post.admitted]),
            "shards_synthetic": share(sums[sums.selected]),
            "human_post_admitted": kept(False), "synthetic_post_admitted": kept(True),
            "anchor_share": manifest["anchor"]["measured_share"],
            "shard_tokens": int(manifest["tokens"])}


def oracle_shares(spark, cfg, labels: Path) -> dict[str, float | None]:
    """Per web domain, the `pu` fit with the domain's true synthetic score CDF (module
    docstring): the share job's own cross-fitted scores (same inputs, same config, so the
    same scores), labelled by URL from the crawl's labels file."""
    provenance, scores = read_table(spark, cfg, "provenance"), read_table(spark, cfg, "scores")
    docs = read_table(spark, cfg, "docs")
    # the threshold only sets the detector's `pred` column, which `pu` does not read
    base = share_job.base_documents(provenance, scores, 0.5, cfg.share.canonical_only)
    fitted = pu_share.cross_fitted_scores(share_job.pu_texts(base, docs), cfg)
    scored = fitted.where(F.col("pu_score").isNotNull())
    grid = pu_share.score_grid(scored, cfg.share.pu_grid_points)
    urls = docs.select("doc_id", "url").dropDuplicates(["doc_id"])  # doc_id hashes url + text
    frame = scored.join(urls, "doc_id").select("url", "domain", "era", "pu_score").toPandas()
    fitted.unpersist()
    truth = pd.read_json(labels, lines=True)[["url", "label"]]
    frame = frame.merge(truth, on="url", how="left", validate="many_to_one")
    if frame.label.isna().any():
        raise ValueError(f"{int(frame.label.isna().sum())} scored pages have no label")
    synthetic = frame.label != rt.HUMAN
    everywhere = pu.weighted_cdf(frame.pu_score[synthetic].to_numpy(float), grid)
    pooled = pu.weighted_cdf(frame.pu_score[frame.era == "pre_ai"].to_numpy(float), grid)
    cuts = pu.fit_bins(len(grid), cfg.share.pu_fit_bins)
    out: dict[str, float | None] = {}
    for name, group in frame.groupby("domain"):
        pre = group[group.era == "pre_ai"].pu_score.to_numpy(float)
        post = group[group.era == "post_ai"].pu_score.to_numpy(float)
        own = group[(group.era == "post_ai") & (group.label != rt.HUMAN)].pu_score
        f_syn = pu.weighted_cdf(own.to_numpy(float), grid) if len(own) else everywhere
        value = (pu.binned_ml_shares(
            pu.weighted_cdf(post, grid)[None], np.array([len(post)], float),
            pu.weighted_cdf(pre, grid)[None], np.array([len(pre)], float), f_syn, pooled,
            cuts, cfg.share.pu_reference_prior_docs)[0] if len(pre) and len(post) else None)
        out[name] = None if value is None else float(np.clip(value, 0.0, 1.0))
    return out


def score_rotation(table: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """One row per (estimator, web domain): estimate, interval, truth, placebo."""
    out = []
    for est, group in table[table.domain != "__all__"].groupby("estimator"):
        post = group[group.era == "post_ai"].set_index("domain")
        pre = group[group.era == "pre_ai"].set_index("domain")
        for name, t in truth.items():
            row = post.loc[name] if name in post.index else None
            placebo = pre.loc[name] if name in pre.index else None
            out.append({
                "estimator": est, "domain": name, "true": t["share"],
                "n_pre": t["n_pre"], "n_post": t["n_post"],
                "share": None if row is None else row.share,
                "lo": None if row is None else row.share_lo,
                "hi": None if row is None else row.share_hi,
                "reason": None if row is None else row.reason,
                "placebo": None if placebo is None else placebo.share,
                "placebo_lo": None if placebo is None else placebo.share_lo,
                "placebo_hi": None if placebo is None else placebo.share_hi,
                "oracle": t.get("oracle") if est == pu_share.ESTIMATOR else None,
            })
    return pd.DataFrame(out)


def summary(per_domain: pd.DataFrame) -> pd.DataFrame:
    """MAE, bias, coverage, placebo per (rotation, estimator) over every crawl draw's
    domains; None-safe.

    seeds: the crawl draws pooled; mae_worst_seed the largest MAE of one draw,
    coverage_worst_seed the lowest interval coverage of one draw.
    placebo_mean is the mean of the domains' placebo readings as the estimator reports
    them (signed for `pu`, clipped at 0 for the sum estimators' in-sample rows);
    placebo_abs_mean their mean absolute value (the noise); placebo_covers_0 the share of
    domains whose placebo interval contains 0 (about 0.95 without drift); oracle_mae the
    MAE of the oracle floor (module docstring) where it was computed."""
    frame = per_domain if "seed" in per_domain else per_domain.assign(seed=0)
    if "oracle" not in frame:
        frame = frame.assign(oracle=None)
    rows = []
    for (rotation, est), g in frame.groupby(["rotation", "estimator"]):
        m = g[g.share.notna()]
        err = m.share - m.true
        covered = (m.lo <= m.true) & (m.true <= m.hi)
        placebo = g[g.placebo.notna()]
        spans = placebo[placebo.placebo_lo.notna() & placebo.placebo_hi.notna()]
        per_seed = err.abs().groupby(m.seed).mean()
        oracle = m[m.oracle.notna()]
        rows.append({"rotation": rotation, "estimator": est, "seeds": g.seed.nunique(),
                     "domains": len(g), "measured": len(m), "mae": err.abs().mean(),
                     "mae_worst_seed": per_seed.max() if len(per_seed) else None,
                     "bias": err.mean(), "max_err": err.abs().max(),
                     "coverage": covered.mean(),
                     "coverage_worst_seed": (covered.groupby(m.seed).mean().min()
                                             if len(m) else None),
                     "placebo_mean": placebo.placebo.mean(),
                     "placebo_abs_mean": placebo.placebo.abs().mean(),
                     "placebo_max": placebo.placebo.abs().max(),
                     "placebo_covers_0": ((spans.placebo_lo <= 0) & (0 <= spans.placebo_hi)
                                          ).mean() if len(spans) else None,
                     "oracle_mae": ((oracle.oracle.astype(float) - oracle.true).abs().mean()
                                    if len(oracle) else None)})
    return pd.DataFrame(rows)


def evaluate(spark, data_dir: str | Path, workdir: str | Path, rotations=("R1", "R2"),
             spec: rt.CrawlSpec | None = None, sets: tuple[str, ...] = (),
             seeds: tuple[int, ...] | None = None, oracle: bool = False,
             shards: bool = False):
    """(per-domain table, summary table, primary estimator, shard mixes) over
    `rotations` and crawl draws (`seeds`: CrawlSpec.seed values; default the spec's
    own); `oracle` adds the oracle floor of `pu`; `shards` runs diversity and shards on
    every crawl and measures their mix (`shard_mix`, one row per crawl; else empty)."""
    rows = rt.read_rows(data_dir)
    base = spec or rt.CrawlSpec()
    frames, mixes, primary = [], [], None
    for name in rotations:
        for seed in seeds or (base.seed,):
            table, truth, mix = run_rotation(
                spark, rows, replace(base, rotation=name, seed=seed),
                Path(workdir) / f"{name}-{seed}", sets, oracle, shards)
            if mix is not None:
                mixes.append({"rotation": name, "seed": seed, **mix})
            primary = table.attrs["primary"]
            frame = score_rotation(table, truth)
            frame.insert(0, "seed", seed)
            frame.insert(0, "rotation", name)
            frames.append(frame)
            log.info("rotation %s, crawl seed %d done", name, seed)
    per_domain = pd.concat(frames, ignore_index=True)
    return per_domain, summary(per_domain), primary, pd.DataFrame(mixes)


def to_json(per_domain: pd.DataFrame, summ: pd.DataFrame, primary: str) -> str:
    return json.dumps({"primary": primary,
                       "summary": json.loads(summ.to_json(orient="records")),
                       "domains": json.loads(per_domain.to_json(orient="records"))}, indent=1)
