"""`python -m bench.diversity_eval [--rotations R1,R2] [--work DIR]`: diversity deltas vs the
true synthetic share on the real-text crawl (`tailguard.diversity.realeval`); prints one
JSON line per rotation (Spearman) and writes the per-domain scatter data as CSV."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tailguard.config import load_config
from tailguard.diversity import realeval
from tailguard.sample import realtext as rt
from tailguard.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/detector")
    parser.add_argument("--rotations", default="R1,R2")
    parser.add_argument("--work", type=Path, default=Path("bench/out/diversity-realtext"))
    args = parser.parse_args(argv)
    spark = build_session(load_config([], ["spark.log_level=ERROR"]))
    rows = rt.read_rows(args.data)
    for name in args.rotations.split(","):
        per_domain = realeval.run_crawl(spark, rows, replace(rt.CrawlSpec(), rotation=name),
                                        args.work / name)
        cols = ["domain", "true_share", "base_tokens", "target_tokens", "token_budget",
                "reason", *realeval.SIGNALS, "half_compression_ratio",
                "half_distinct_ratio_n_2", "interval_budget"]
        per_domain[cols].sort_values("true_share").to_csv(args.work / f"{name}.csv",
                                                          index=False)
        print(json.dumps({"rotation": name, **realeval.spearman(per_domain)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
