"""`python -m bench.run [--docs 50000,200000] [--out bench/out]`: generate the benchmark
crawl (cached by size and seed), build its docs table, time every job next to reference
numbers measured in the same run, and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from bench.common import machine, timed
from bench.generate import generate
from tailguard.cli import JobContext
from tailguard.config import load_config
from tailguard.io import ingest
from tailguard.session import build_session

log = logging.getLogger("bench")
MODULES = ("bench.bench_provenance", "bench.bench_score", "bench.bench_diversity",
           "bench.bench_shards", "bench.bench_write", "bench.bench_audit")


def _crawl(out: Path, docs: int, seed: int) -> Path:
    path = out / f"crawl-{docs}-s{seed}"
    if not (path / "_DONE").exists():
        shutil.rmtree(path, ignore_errors=True)
        generate(path, docs, seed)
        (path / "_DONE").write_text("ok\n")
    return path


def _build_docs(spark, cfg, docs: int, cores: int) -> dict:
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    return timed("ingest_job", docs, lambda: ingest.run(ctx), cores,
                 "tailguard ingest on the Parquet crawl").as_row()


def run_size(out: Path, docs: int, seed: int, sets: list[str],
             modules: tuple[str, ...] = MODULES) -> list[dict]:
    crawl = _crawl(out, docs, seed)
    cfg = load_config([], [f"input.path={crawl}", f"output.root={out / f'tables-{docs}'}",
                           "spark.conf.spark.driver.memory=6g", "spark.log_level=ERROR", *sets])
    started = time.perf_counter()
    spark = build_session(cfg)
    # what "including Spark start" adds (bench_provenance's ratio)
    spark.conf.set("tailguard.bench.session_seconds", f"{time.perf_counter() - started:.3f}")
    cores = int(spark.sparkContext.defaultParallelism)
    rows = [_build_docs(spark, cfg, docs, cores)]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            log.info("%s not present: skipped", name)
            continue
        try:
            rows.extend(module.bench(spark, cfg))
        except Exception as exc:  # one broken benchmark must not lose the others' rows
            log.exception("%s failed", name)
            rows.append({"name": f"{name} FAILED", "docs": docs, "seconds": float("nan"),
                         "docs_per_s_per_core": float("nan"), "note": repr(exc)[:200]})
    return [{**row, "size": docs} for row in rows]


def _per_doc_ratio(results: dict[int, list[dict]]) -> str:
    sizes = sorted(results)
    if len(sizes) < 2:
        return "(run two sizes to get the scaling ratio)"
    small, big = sizes[0], sizes[-1]
    def per_doc(size):
        row = next((r for r in results[size] if r["name"] == "provenance_job"), None)
        return row["seconds"] / row["docs"] if row else float("nan")
    return (f"provenance_job per-document time at {big} / at {small}: "
            f"{per_doc(big) / per_doc(small):.2f} (target <= 1.3)")


# BENCHMARKS.md = this generated table, the marker, then hand-written sections (analyses,
# real-text evaluations) that a new `make bench` must not erase
GENERATED_END = "<!-- end of the `make bench` table; the sections below are kept by it -->"


def write_report(path: Path, results: dict[int, list[dict]], argv: list[str]) -> None:
    """Rewrite the generated table at the top of `path`, keeping what follows the marker."""
    info = machine()
    lines = ["# Benchmarks", "", "Written by `make bench` (`python -m bench.run`); numbers are "
             "from one run on this machine, references measured in the same run.", "",
             f"- machine: {info['cores']} cores, {info['ram']} RAM, {info['cpu']}, "
             f"Python {info['python']}",
             f"- command: `python -m bench.run {' '.join(argv)}`", "",
             "| size | benchmark | docs | seconds | docs/s per core | note |",
             "|---:|---|---:|---:|---:|---|"]
    for size in sorted(results):
        for r in results[size]:
            lines.append(f"| {size} | {r['name']} | {r['docs']} | {r['seconds']} | "
                         f"{r['docs_per_s_per_core']} | {r['note']} |")
    lines += ["", "- " + _per_doc_ratio(results), "", GENERATED_END]
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    kept = old.split(GENERATED_END, 1)[1] if GENERATED_END in old else "\n"
    path.write_text("\n".join(lines) + kept, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="50000,200000", help="sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--report", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--only", default="provenance,score,diversity,shards,write,audit",
                        help="benchmark modules to run, comma-separated")
    parser.add_argument("--set", action="append", default=[], dest="sets",
                        help="config override key=value (e.g. spark.conf.* tuning)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results: dict[int, list[dict]] = {}
    for size in sorted(int(s) for s in args.docs.split(",")):
        modules = tuple(f"bench.bench_{name.strip()}" for name in args.only.split(","))
        results[size] = run_size(args.out, size, args.seed, args.sets, modules)
        (args.out / f"results-{size}.json").write_text(json.dumps(results[size], indent=1))
        write_report(args.report, results, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
