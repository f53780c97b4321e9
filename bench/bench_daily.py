"""`python -m bench.bench_daily [--docs 200000] [--out bench/out] [--report BENCHMARKS.md]`:
what a daily run costs against the full run it follows (issue 38), in one run.

On a 60-date real-vocabulary crawl (bench/realvocab.py, 60 monthly partitions):
1. the full pipeline over the first 59 dates (ingest .. shards, report), timed per job;
2. the daily path on the 60th (`tailguard pipeline --dates D`: the per-date jobs on D,
   the metrics and the report refreshed, no shard set), timed per job;
3. the release after it (`tailguard shards`) next to a plain Spark read of `docs` plus a
   zstd Parquet write of as many rows as the shards hold, and the shards job once more
   with another admission threshold (its attributes are current: no text is tagged).

The detector is trained untimed on hash labels (it exists to time scoring, as in
bench_score); its synthetic half is the share job's MLE reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import xxhash

from bench import realvocab
from bench.bench_shards import _plain_read_and_write
from bench.common import machine, replace_section, run_stamp
from tailguard.cli import JobContext, configure_logging, run_job
from tailguard.config import load_config
from tailguard.session import build_session

log = logging.getLogger("bench")
DETECTOR_DOCS = 4000
BEGIN, END = "<!-- bench_daily begin -->", "<!-- bench_daily end -->"


def _crawl(out: Path, docs: int, seed: int, months: int) -> Path:
    path = out / f"realvocab-{docs}-m{months}-s{seed}"
    if not (path / "_DONE").exists():
        shutil.rmtree(path, ignore_errors=True)
        realvocab.generate(path, docs, seed, months=months)
        (path / "_DONE").write_text("ok\n")
    return path


def _detector_jsonl(crawl: Path, dest: Path) -> Path:
    """Hash-labelled texts of the crawl's first partitions (labels carry no signal)."""
    rows = []
    for part in sorted(crawl.glob("crawl_date=*"))[:3]:
        rows.extend(pq.read_table(part / "part-00000.parquet").column("text").to_pylist())
    with open(dest, "w", encoding="utf-8") as out:
        for text in rows[:DETECTOR_DOCS]:
            label = "synthetic" if xxhash.xxh64_intdigest(text.encode()) & 1 else "human"
            out.write(json.dumps({"text": text, "label": label}) + "\n")
    return dest


def _timed_jobs(name: str, ctx: JobContext, jobs: list[str]) -> dict[str, float]:
    seconds = {}
    for job in jobs:
        start = time.perf_counter()
        run_job(job, ctx)
        seconds[job] = round(time.perf_counter() - start, 1)
    seconds["total"] = round(sum(seconds.values()), 1)
    log.info("bench %s: %s", name, seconds)
    return seconds


def run(out: Path, docs: int, seed: int = 1, months: int = 60) -> dict:
    crawl = _crawl(out, docs, seed, months)
    dates = [p.name.removeprefix("crawl_date=") for p in sorted(crawl.glob("crawl_date=*"))]
    tables = out / f"daily-tables-{docs}"
    shutil.rmtree(tables, ignore_errors=True)
    cfg = load_config([], [f"input.path={crawl}", f"output.root={tables}",
                           "spark.conf.spark.driver.memory=6g", "detector.lr=0.05"])
    spark = build_session(cfg)

    def ctx(dates_=None, config=cfg, **options) -> JobContext:
        context = JobContext(cfg=config, dates=dates_, options=argparse.Namespace(**options))
        context.__dict__["spark"] = spark
        return context

    with tempfile.TemporaryDirectory() as tmp:
        labelled = _detector_jsonl(crawl, Path(tmp) / "detector.jsonl")
        run_job("train-detector", ctx(input=str(labelled)))
    import datetime as dt

    old = [dt.date.fromisoformat(d) for d in dates[:-1]]
    new = [dt.date.fromisoformat(dates[-1])]
    full_jobs = ["ingest", "provenance", "score", "attributes", "share", "diversity",
                 "shards", "report"]
    daily_jobs = [j for j in full_jobs if j != "shards"]
    full = _timed_jobs("full", ctx(old, scope="eras"), full_jobs)
    daily = _timed_jobs("daily", ctx(new, scope="eras"), daily_jobs)
    new_docs = spark.read.parquet(str(tables / "docs")).where(
        f"crawl_date = '{dates[-1]}'").count()
    release = _timed_jobs("release", ctx(), ["shards"])
    manifest = json.loads((tables / "shards" / "main" / "manifest.json").read_text())
    start = time.perf_counter()
    _plain_read_and_write(spark, cfg, manifest["rows"], out / "_daily_plain_write")
    plain = round(time.perf_counter() - start, 1)
    shutil.rmtree(out / "_daily_plain_write", ignore_errors=True)
    rethreshold = _timed_jobs("rethreshold", ctx(config=cfg.with_overrides(
        "shards.max_p_synthetic=0.4")), ["shards"])
    return {"docs": docs, "dates": len(dates), "new_date": dates[-1], "new_docs": new_docs,
            "full": full, "daily": daily, "release": release["shards"],
            "rethreshold": rethreshold["shards"], "plain_read_write": plain,
            "shard_rows": manifest["rows"]}


def report(result: dict) -> str:
    full, daily = result["full"], result["daily"]
    ratio = daily["total"] / full["total"]
    jobs = [j for j in full if j != "total"]
    lines = [BEGIN, f"### Daily run against the full run ({run_stamp()})", "",
             f"Real-vocabulary crawl (bench/realvocab.py), {result['docs']:,} documents in "
             f"{result['dates']} monthly dates; the full pipeline on the first "
             f"{result['dates'] - 1}, then the daily path on {result['new_date']} "
             f"({result['new_docs']:,} new documents). One run, "
             f"{machine()['cores']} cores.", "",
             "| job | full run (s) | daily run (s) |", "|---|---|---|"]
    lines += [f"| {j} | {full[j]} | {daily.get(j, '-')} |" for j in jobs]
    lines += [f"| **total** | **{full['total']}** | **{daily['total']}** |", "",
              f"- daily / full: **{ratio:.3f}** (target <= 0.10)",
              f"- release after it (`tailguard shards`, {result['shard_rows']:,} rows): "
              f"{result['release']} s; plain read + zstd write of as many rows: "
              f"{result['plain_read_write']} s; ratio "
              f"**{result['release'] / result['plain_read_write']:.2f}x** (target <= 2x)",
              f"- the shards job again with `shards.max_p_synthetic=0.4` (attributes "
              f"current, no text tagged): {result['rethreshold']} s", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    result = run(args.out, args.docs, args.seed, args.months)
    text = report(result)
    print(text)
    if args.report:
        replace_section(args.report, BEGIN, END, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
