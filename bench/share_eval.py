"""Synthetic share on real text, leave-generators-out (issue 21): prints MAE / coverage / placebo.

    .venv/bin/python -m bench.share_eval --data ../shared/data/detector [--rotation R1]
        [--seeds 20240917,1,2] [--oracle] [--max-words 80] [--shards] [--report docs/SHARE.md]
        [--shards-report docs/SHARDS.md]

Builds each rotation's crawl from shared/data/detector (read in place), runs the real
pipeline on it (see bench.share_realeval) and prints every estimator's numbers.
`--seeds` draws each rotation's crawl several times (CrawlSpec.seed) and pools the
domains; `--oracle` adds `pu`'s oracle floor (its fit with each domain's true synthetic
score distribution); `--max-words N` cuts every page of the crawls after N words (short
web pages); `--shards` also runs diversity and shards on every crawl and measures the
shard set against the labels (its synthetic token share against the post-AI pool's, the
human post-AI text it keeps); `--report` writes the summary into that file between the
share-eval markers, one block per page length, and with `--shards` a shards block, into
`--shards-report` when given (`make bench` does: docs/SHARE.md and docs/SHARDS.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench import share_realeval as realeval
from bench.common import replace_section, run_stamp
from tailguard.sample import realtext as rt


def markers(max_words: int) -> tuple[str, str]:
    """The report block's begin / end markers: one block per page length."""
    name = "share-eval" + (f"-{max_words}w" if max_words else "")
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _number(value, digits: int = 3) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def section(summ: pd.DataFrame, primary: str, command: str, max_words: int = 0) -> str:
    """The markdown block `--report` writes: one row per (rotation, estimator)."""
    begin, end = markers(max_words)
    pages = f"every page cut after {max_words} words" if max_words else "whole rows as pages"
    lines = [begin, "",
             f"Real text, leave-generators-out (`{command}`, {run_stamp()}): "
             "crawls of `tailguard.sample.realtext` built from `../shared/data/detector`, "
             f"{pages}, each rotation drawn once per crawl seed, domains pooled over the "
             "draws. "
             f"Primary estimator: `{primary}`. Placebo: `pu`'s out-of-sample placebo "
             "(signed), the others' in-sample pre-AI rows. Oracle floor: `pu`'s fit with "
             "each domain's true synthetic score distribution (what a perfect F_syn would "
             "leave).", "",
             "| rotation | estimator | seeds | domains measured | MAE | worst seed MAE | "
             "bias | 95% interval covers truth (worst seed) | placebo mean (mean abs) | "
             "oracle floor MAE |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in summ.sort_values(["rotation", "estimator"]).itertuples():
        name = f"**`{row.estimator}`**" if row.estimator == primary else f"`{row.estimator}`"
        lines.append(
            f"| {row.rotation} | {name} | {row.seeds} | {row.measured} / {row.domains} | "
            f"{_number(row.mae)} | {_number(row.mae_worst_seed)} | {_number(row.bias)} | "
            f"{_number(row.coverage, 2)} ({_number(row.coverage_worst_seed, 2)}) | "
            f"{_number(row.placebo_mean)} "
            f"({_number(row.placebo_abs_mean)}) | {_number(row.oracle_mae)} |")
    return "\n".join([*lines, "", end])


def shards_markers(max_words: int) -> tuple[str, str]:
    """The shards block's markers: one block per page length."""
    name = "shards-eval" + (f"-{max_words}w" if max_words else "")
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def shards_section(mixes: pd.DataFrame, command: str, max_words: int = 0) -> str:
    """The markdown block of the shard sets' ground-truth mix, one row per crawl draw."""
    begin, end = shards_markers(max_words)
    pages = f"every page cut after {max_words} words" if max_words else "whole rows as pages"
    lines = [begin, "",
             f"Shards on real text (`{command}`, {run_stamp()}): the same leave-generators-out "
             f"crawls ({pages}), diversity and shards run after share with the default "
             "config; synthetic token shares by the crawl's labels. Human / synthetic "
             "admitted: the share of the post-AI tokens that passed the quality rules and "
             "entered the pool the shards draw from.", "",
             "| rotation | seed | post-AI pool synthetic | admitted post-AI synthetic | "
             "shards synthetic | shards / pool | human post-AI admitted | "
             "synthetic post-AI admitted | anchor share | shard tokens |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in mixes.sort_values(["rotation", "seed"]).itertuples():
        ratio = (row.shards_synthetic / row.pool_post_synthetic
                 if row.pool_post_synthetic else None)
        lines.append(
            f"| {row.rotation} | {row.seed} | {_number(row.pool_post_synthetic)} | "
            f"{_number(row.admitted_post_synthetic)} | {_number(row.shards_synthetic)} | "
            f"{_number(ratio)} | {_number(row.human_post_admitted, 2)} | "
            f"{_number(row.synthetic_post_admitted)} | {_number(row.anchor_share)} | "
            f"{row.shard_tokens:,} |")
    return "\n".join([*lines, "", end])


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/detector")
    parser.add_argument("--rotation", action="append", default=None)
    parser.add_argument("--seeds", default=str(rt.CrawlSpec().seed),
                        help="crawl seeds (CrawlSpec.seed), comma-separated")
    parser.add_argument("--oracle", action="store_true", help="add pu's oracle floor")
    parser.add_argument("--max-words", type=int, default=0,
                        help="cut every page after this many words (0: whole rows)")
    parser.add_argument("--shards", action="store_true",
                        help="also run diversity + shards and measure the shard mix")
    parser.add_argument("--json", default="", help="also write the numbers here")
    parser.add_argument("--report", default="", help="write the summary section into this file")
    parser.add_argument("--shards-report", default="",
                        help="write the shards block into this file (default: --report)")
    parser.add_argument("--work", default="", help="keep crawls and tables here (else a temp dir)")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("share-eval")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    with tempfile.TemporaryDirectory() as tmp:
        per_domain, summ, primary, mixes = realeval.evaluate(
            spark, args.data, Path(args.work or tmp), tuple(args.rotation or ("R1", "R2")),
            rt.CrawlSpec(max_words=args.max_words), tuple(args.sets), seeds, args.oracle,
            args.shards)
    print(f"primary estimator: {primary}")
    print(summ.round(4).to_string(index=False))
    cols = ["rotation", "seed", "domain", "true", "share", "lo", "hi", "placebo", "oracle",
            "n_pre", "n_post"]
    print(per_domain[per_domain.estimator == primary][cols].round(3).to_string(index=False))
    if len(mixes):
        print(mixes.round(4).to_string(index=False))
    if args.json:
        Path(args.json).write_text(realeval.to_json(per_domain, summ, primary), "utf-8")
    if args.report:
        command = "python -m bench.share_eval " + " ".join(sys.argv[1:])
        replace_section(Path(args.report), *markers(args.max_words),
                        section(summ, primary, command, args.max_words))
        if len(mixes):
            replace_section(Path(args.shards_report or args.report),
                            *shards_markers(args.max_words),
                            shards_section(mixes, command, args.max_words))


if __name__ == "__main__":
    main()
