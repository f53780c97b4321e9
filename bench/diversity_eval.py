"""`python -m bench.diversity_eval [--rotations R1,R2] [--seeds S1,S2] [--work DIR]
[--report docs/DIVERSITY.md]`: diversity deltas vs the true synthetic share on the real-text
crawls (`bench/diversity_realeval.py`); prints one JSON line per (rotation, crawl draw)
(Spearman), writes the per-domain scatter data as CSV and, with `--report`, a summary
block between the diversity-eval markers of that file (`make bench` does).

A Spearman rank correlation over 10-20 domains moves by ~0.2 from one draw of the crawl
to the next (which human and synthetic rows land in which domain), so each rotation is
drawn once per crawl seed (CrawlSpec.seed) and every draw is reported."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import diversity_realeval as realeval
from bench.common import replace_section, run_stamp
from tailguard.config import load_config
from tailguard.sample import realtext as rt
from tailguard.session import build_session

BEGIN, END = "<!-- diversity-eval:begin -->", "<!-- diversity-eval:end -->"
TARGETS = {"delta_compression_ratio": ">= 0.6", "delta_distinct_ratio_n_2": "<= -0.4"}


def section(results: list[dict], command: str) -> str:
    """The markdown block: Spearman per rotation, each draw and their mean."""
    lines = [BEGIN, "",
             f"Diversity deltas vs true synthetic share on real text (`{command}`, {run_stamp()}): "
             "the leave-generators-out crawls of "
             "`tailguard.sample.realtext`, ingest -> provenance -> diversity, pre_ai -> "
             "post_ai deltas at each domain's matched budget; one row per rotation, "
             "Spearman over its domains for each crawl draw (seed) and their mean.", "",
             "| rotation | draws | domains matched (per draw) | Spearman(share, Δ compression "
             f"ratio), target {TARGETS['delta_compression_ratio']} | Spearman(share, Δ "
             f"distinct-2 ratio), target {TARGETS['delta_distinct_ratio_n_2']} | "
             "Spearman(share, Δ tail coverage), no target | domains with an interval |",
             "|---|---:|---|---|---|---|---|"]
    for rotation in sorted({r["rotation"] for r in results}):
        rows = [r for r in results if r["rotation"] == rotation]

        def cell(signal: str, rows=rows) -> str:
            values = [r[f"spearman_{signal}"] for r in rows]
            each = ", ".join(f"{v:+.2f}" for v in values)
            return f"mean {np.nanmean(values):+.2f} ({each})"

        matched = ", ".join(f"{r['matched']}/{r['domains']}" for r in rows)
        intervals = ", ".join(f"{r['with_interval']}/{r['matched']}" for r in rows)
        lines.append(f"| {rotation} | {len(rows)} | {matched} | "
                     f"{cell('delta_compression_ratio')} | "
                     f"{cell('delta_distinct_ratio_n_2')} | {cell('delta_coverage')} | "
                     f"{intervals} |")
    return "\n".join([*lines, "", END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/detector")
    parser.add_argument("--rotations", default="R1,R2")
    parser.add_argument("--seeds", default=str(rt.CrawlSpec().seed),
                        help="crawl seeds (CrawlSpec.seed), comma-separated")
    parser.add_argument("--work", type=Path, default=Path("bench/out/diversity-realtext"))
    parser.add_argument("--report", default="", help="write the summary block into this file")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    spark = build_session(load_config([], ["spark.log_level=ERROR"]))
    rows = rt.read_rows(args.data)
    results = []
    for name in args.rotations.split(","):
        for seed in (int(s) for s in args.seeds.split(",") if s.strip()):
            work = args.work / f"{name}-{seed}"
            per_domain = realeval.run_crawl(
                spark, rows, replace(rt.CrawlSpec(), rotation=name, seed=seed), work)
            cols = ["domain", "true_share", "base_tokens", "target_tokens", "token_budget",
                    "reason", *realeval.SIGNALS, "base_coverage", "half_compression_ratio",
                    "half_distinct_ratio_n_2", "half_coverage", "interval_budget"]
            per_domain[cols].sort_values("true_share").to_csv(
                args.work / f"{name}-{seed}.csv", index=False)
            result = {"rotation": name, "seed": seed, **realeval.spearman(per_domain)}
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.report:
        command = "python -m bench.diversity_eval " + " ".join(argv)
        replace_section(Path(args.report), BEGIN, END, section(results, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
