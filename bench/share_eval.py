"""Synthetic share on real text, leave-generators-out (issue 21): prints MAE / coverage / placebo.

    .venv/bin/python -m bench.share_eval --data ../shared/data/detector [--rotation R1]

Builds each rotation's crawl from shared/data/detector (read in place), runs the real
pipeline on it (see tailguard.synthetic.realeval) and prints every estimator's numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from tailguard.synthetic import realeval


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/detector")
    parser.add_argument("--rotation", action="append", default=None)
    parser.add_argument("--json", default="", help="also write the numbers here")
    parser.add_argument("--work", default="", help="keep crawls and tables here (else a temp dir)")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("share-eval")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        per_domain, summ, primary = realeval.evaluate(
            spark, args.data, Path(args.work or tmp), tuple(args.rotation or ("R1", "R2")),
            sets=tuple(args.sets))
    print(f"primary estimator: {primary}")
    print(summ.round(4).to_string(index=False))
    cols = ["rotation", "domain", "true", "share", "lo", "hi", "placebo", "n_pre", "n_post"]
    print(per_domain[per_domain.estimator == primary][cols].round(3).to_string(index=False))
    if args.json:
        Path(args.json).write_text(realeval.to_json(per_domain, summ, primary), "utf-8")


if __name__ == "__main__":
    main()
