"""The synthetic-share evaluation on real text (issue 21): the real pipeline, leave-generators-out.

For each rotation of `tailguard.sample.realtext` this builds the date-partitioned crawl of
real human and real LLM text, runs `ingest -> provenance -> train-detector` (on the rows of
the rotation's OTHER sources and generators only) `-> score -> share`, and compares every
estimator's per-domain post-AI share with the known truth: MAE, 95% interval coverage and
the placebo (the estimator applied to the pre-AI era, which holds human text only).
Only the final metrics table (a few rows per domain) is read back to the driver.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from tailguard.cli import JobContext, run_job
from tailguard.config import load_config
from tailguard.sample import realtext as rt

log = logging.getLogger(__name__)
PIPELINE = ("ingest", "provenance", "train-detector", "score", "share")


def run_rotation(spark, rows: list[dict], spec: rt.CrawlSpec, workdir: Path,
                 sets: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict]:
    """Build the crawl of `spec` under `workdir`, run the pipeline; (share table, truth)."""
    plan = rt.plan_crawl(rows, spec)
    written = rt.write_crawl(plan, workdir / "crawl")
    cfg = load_config([], [f"input.path={written.crawl}",
                           f"output.root={workdir / 'tables'}",
                           f"eras.cutoff={spec.cutoff}", *sets])
    for job in PIPELINE:
        options = {"input": str(written.detector_train)} if job == "train-detector" else {}
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(**options))
        ctx.__dict__["spark"] = spark
        run_job(job, ctx)
    table = spark.read.parquet(cfg.table_path("metrics/synthetic_share")).toPandas()
    table.attrs["primary"] = cfg.share.primary
    return table, plan.truth


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
            })
    return pd.DataFrame(out)


def summary(per_domain: pd.DataFrame) -> pd.DataFrame:
    """MAE, bias, coverage, placebo per (rotation, estimator); None-safe.

    placebo_mean is the mean of the domains' placebo readings as the estimator reports
    them (signed for `pu`, clipped at 0 for the sum estimators' in-sample rows);
    placebo_abs_mean their mean absolute value (the noise); placebo_covers_0 the share of
    domains whose placebo interval contains 0 (about 0.95 without drift)."""
    rows = []
    for (rotation, est), g in per_domain.groupby(["rotation", "estimator"]):
        m = g[g.share.notna()]
        err = m.share - m.true
        covered = (m.lo <= m.true) & (m.true <= m.hi)
        placebo = g[g.placebo.notna()]
        spans = placebo[placebo.placebo_lo.notna() & placebo.placebo_hi.notna()]
        rows.append({"rotation": rotation, "estimator": est, "domains": len(g),
                     "measured": len(m), "mae": err.abs().mean(), "bias": err.mean(),
                     "max_err": err.abs().max(), "coverage": covered.mean(),
                     "placebo_mean": placebo.placebo.mean(),
                     "placebo_abs_mean": placebo.placebo.abs().mean(),
                     "placebo_max": placebo.placebo.abs().max(),
                     "placebo_covers_0": ((spans.placebo_lo <= 0) & (0 <= spans.placebo_hi)
                                          ).mean() if len(spans) else None})
    return pd.DataFrame(rows)


def evaluate(spark, data_dir: str | Path, workdir: str | Path, rotations=("R1", "R2"),
             spec: rt.CrawlSpec | None = None, sets: tuple[str, ...] = ()):
    """(per-domain table, summary table, primary estimator) over `rotations`."""
    rows = rt.read_rows(data_dir)
    frames, primary = [], None
    for name in rotations:
        table, truth = run_rotation(spark, rows, replace(spec or rt.CrawlSpec(), rotation=name),
                                    Path(workdir) / name, sets)
        primary = table.attrs["primary"]
        frame = score_rotation(table, truth)
        frame.insert(0, "rotation", name)
        frames.append(frame)
        log.info("rotation %s done", name)
    per_domain = pd.concat(frames, ignore_index=True)
    return per_domain, summary(per_domain), primary


def to_json(per_domain: pd.DataFrame, summ: pd.DataFrame, primary: str) -> str:
    return json.dumps({"primary": primary,
                       "summary": json.loads(summ.to_json(orient="records")),
                       "domains": json.loads(per_domain.to_json(orient="records"))}, indent=1)
