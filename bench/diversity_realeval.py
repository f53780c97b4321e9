"""Diversity on real text (issue 22): do the per-domain deltas track the true synthetic share?

`tailguard.sample.realtext` builds a date-partitioned crawl of real human and real LLM
text (shared/data/detector, leave-generators-out rotations) with a known synthetic share
per web domain. This runs `ingest -> provenance -> diversity` on it (diversity needs no
detector) and compares, across web domains, the true post-AI share with the pre_ai ->
post_ai deltas of metrics/diversity_deltas at their matched budgets: Spearman rank
correlation (rank-based, so it asks only "more synthetic text, larger change", not a
linear law). Expected directions: LLM text is more repetitive, so compression ratio rises
(rho > 0) and the distinct-2 ratio falls (rho < 0); it names fewer of the human text's
rare concepts, so tail coverage falls (rho < 0). Only the deltas table (a few rows per
domain) is read back to the driver.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from tailguard.cli import JobContext, run_job
from tailguard.config import load_config
from tailguard.sample import realtext as rt

PIPELINE = ("ingest", "provenance", "diversity")
SIGNALS = ("delta_compression_ratio", "delta_distinct_ratio_n_2", "delta_coverage")


def run_crawl(spark, rows: list[dict], spec: rt.CrawlSpec, workdir: Path,
              sets: tuple[str, ...] = ()) -> pd.DataFrame:
    """Build the crawl of `spec` under `workdir`, run the pipeline; one row per web domain:
    its truth (share, counts) joined with its pre_ai -> post_ai delta row."""
    plan = rt.plan_crawl(rows, spec)
    written = rt.write_crawl(plan, workdir / "crawl")
    cfg = load_config([], [f"input.path={written.crawl}", f"output.root={workdir / 'tables'}",
                           f"eras.cutoff={spec.cutoff}", *sets])
    for job in PIPELINE:
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(scope="eras"))
        ctx.__dict__["spark"] = spark
        run_job(job, ctx)
    deltas = (spark.read.parquet(cfg.table_path("metrics/diversity_deltas"))
              .where("base = 'pre_ai' AND target = 'post_ai'").toPandas())
    truth = pd.DataFrame([{"domain": name, "true_share": t["share"]}
                          for name, t in plan.truth.items()])
    return truth.merge(deltas, on="domain", how="left")


def spearman(per_domain: pd.DataFrame) -> dict:
    """Spearman(true share, signal) over the domains with a matched-budget delta, for each
    of SIGNALS; also how many domains were compared, how many had a matched row and how
    many of those an interval."""
    matched = per_domain[per_domain.token_budget.notna()]
    out = {"domains": len(per_domain), "matched": len(matched),
           "with_interval": int(matched.half_compression_ratio.notna().sum())}
    for signal in SIGNALS:
        usable = matched[matched[signal].notna()]
        rho = spearmanr(usable.true_share, usable[signal]).statistic if len(usable) > 2 \
            else float("nan")
        out[f"spearman_{signal}"] = float(rho)
    return out
