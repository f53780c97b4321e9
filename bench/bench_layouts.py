"""`python -m bench.bench_layouts [--docs 200000] [--dates 60] [--report BENCHMARKS.md]`:
the daily run of a `column`-layout corpus against the `dated` layout of the same records
(issue 40, acceptance 2).

1. bench/generate.py writes the `dated` crawl: `--dates` partitions `crawl_date=D/`.
2. The same records become a FineWeb-style export: every record with its `date`
   (an ISO timestamp string), in date order, cut into shards of a fixed number of rows
   (`data/train-NNNNN-of-MMMMM.parquet`, row groups of ROW_GROUP rows): shards by number,
   not by date, as corpora are published.
3. A full `column` ingest (it lists the files and reads every footer once), then the
   daily run on the last date from the cached listing: the files it opens, their bytes
   against the corpus's, the footers it reads (0), its time, and its `docs` rows against
   a `dated` ingest of the same date (every column but source_file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench import generate
from bench.common import machine, replace_section, run_stamp
from tailguard.cli import configure_logging
from tailguard.config import load_config
from tailguard.io import ingest as ingest_mod
from tailguard.io.tables import read_table
from tailguard.session import build_session

log = logging.getLogger("bench")
ROW_GROUP = 2_000
BEGIN, END = "<!-- bench_layouts begin -->", "<!-- bench_layouts end -->"
COLUMNS = ["doc_id", "url", "host", "domain", "crawl_date", "text", "n_chars", "n_words",
           "content_hash", "lang"]


def _dated(out: Path, docs: int, months: int) -> Path:
    path = out / f"layouts-dated-{docs}-m{months}"
    if not (path / "_DONE").exists():
        shutil.rmtree(path, ignore_errors=True)
        generate.generate(path, docs, seed=1, months=months)
        (path / "_DONE").write_text("ok\n")
    return path


def _column(dated: Path, out: Path, shard_rows: int) -> Path:
    """The dated crawl's records as Parquet shards by number, in date order."""
    path = out / f"{dated.name}-column-{shard_rows}"
    if (path / "_DONE").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    parts = []
    for part in sorted(dated.glob("crawl_date=*")):
        table = pq.read_table(part / "part-00000.parquet")
        stamp = part.name.removeprefix("crawl_date=") + "T12:00:00Z"
        parts.append(table.append_column("date", pa.array([stamp] * table.num_rows)))
    records = pa.concat_tables(parts)
    n_files = -(-records.num_rows // shard_rows)
    (path / "data").mkdir(parents=True)
    for f in range(n_files):
        shard = records.slice(f * shard_rows, shard_rows)
        pq.write_table(shard, path / "data" / f"train-{f:05d}-of-{n_files:05d}.parquet",
                       row_group_size=ROW_GROUP, compression="zstd")
    (path / "_DONE").write_text("ok\n")
    return path


def _docs_rows(spark, cfg, day: dt.date):
    return read_table(spark, cfg, "docs").where(f"crawl_date = '{day}'").select(*COLUMNS)


def run(out: Path, docs: int, months: int, shard_rows: int) -> dict:
    dated = _dated(out, docs, months)
    column = _column(dated, out, shard_rows)
    day = max(dt.date.fromisoformat(p.name.removeprefix("crawl_date="))
              for p in dated.glob("crawl_date=*"))
    tables = out / f"layouts-tables-{docs}"
    shutil.rmtree(tables, ignore_errors=True)
    base = ["spark.conf.spark.driver.memory=6g"]
    column_cfg = load_config([], [*base, f"input.path={column}",
                                  f"output.root={tables / 'column'}"])
    dated_cfg = load_config([], [*base, f"input.path={dated}", f"output.root={tables / 'dated'}"])
    spark = build_session(column_cfg)

    start = time.perf_counter()
    full = ingest_mod.ingest(spark, column_cfg)
    full_seconds = time.perf_counter() - start

    start = time.perf_counter()
    uri, plan = ingest_mod.plan_run(column_cfg, [day])
    daily = ingest_mod.ingest_plan(spark, column_cfg, uri, plan, [day])
    daily_seconds = time.perf_counter() - start
    dated_daily = ingest_mod.ingest(spark, dated_cfg, [day])

    mine, theirs = _docs_rows(spark, column_cfg, day), _docs_rows(spark, dated_cfg, day)
    differ = mine.exceptAll(theirs).count() + theirs.exceptAll(mine).count()
    n_files = len(list((column / "data").glob("*.parquet")))
    groups = sum(1 for t in plan.tasks for g in _groups_holding(column / t.source_file, day))
    result = {
        "docs": full.total_read, "dates": months, "day": day.isoformat(),
        "files": n_files, "files_read": len(plan.tasks), "row_groups_read": groups,
        "bytes": plan.listed_bytes, "bytes_read": plan.read_bytes,
        "footers_read_daily": plan.footers_read, "daily_docs": daily.total_kept,
        "dated_docs": dated_daily.total_kept, "rows_that_differ": differ,
        "full_seconds": round(full_seconds, 1), "daily_seconds": round(daily_seconds, 1),
        "machine": machine(),
    }
    spark.stop()
    log.info("bench layouts: %s", result)
    return result


def _groups_holding(path: Path, day: dt.date) -> list[int]:
    """Row groups of a shard whose statistics can hold `day` (what its reader reads)."""
    from tailguard.io.dates import can_hold, row_group_bounds

    metadata = pq.ParquetFile(path).metadata
    return [g for g in range(metadata.num_row_groups)
            if can_hold(*row_group_bounds(metadata, g, "date"), [day])]


def report(result: dict) -> str:
    share = result["bytes_read"] / max(result["bytes"], 1)
    return "\n".join([
        BEGIN,
        "## Daily run on a column-layout corpus (bench/bench_layouts.py)",
        "",
        f"{run_stamp()}; {result['machine']['cores']} cores. {result['docs']:,} documents over "
        f"{result['dates']} dates as {result['files']} Parquet shards by number (date order, "
        f"row groups of {ROW_GROUP:,}); the daily run on {result['day']} from the cached "
        "listing:",
        "",
        "| files read | bytes read | footers read | row groups read | docs | full run | daily run "
        "| rows differing from `dated` |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['files_read']} of {result['files']} | {result['bytes_read']:,} of "
        f"{result['bytes']:,} ({share:.1%}) | {result['footers_read_daily']} | "
        f"{result['row_groups_read']} | {result['daily_docs']:,} (dated: "
        f"{result['dated_docs']:,}) | {result['full_seconds']} s | {result['daily_seconds']} s "
        f"| {result['rows_that_differ']} |",
        END,
    ])


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--shard-rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    result = run(args.out, args.docs, args.dates, args.shard_rows)
    print(json.dumps(result, indent=1))
    if args.report:
        replace_section(args.report, BEGIN, END, report(result))
    return 0 if result["rows_that_differ"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
