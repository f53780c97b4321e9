"""`tailguard JOB [--conf FILE ...] [--set key=value ...] [--dates D1,D2|D1..D2]`.

The same arguments work for `spark-submit jobs/JOB.py ...`: each file in jobs/ calls
`main()` with its job name. Job code lives in the package; this module only parses,
builds the one Config, and hands a JobContext to the job's `run`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tailguard import paths
from tailguard.config import Config, load_config
from tailguard.errors import TailguardError
from tailguard.progress import rate_line

log = logging.getLogger("tailguard")


@dataclass(frozen=True)
class JobSpec:
    target: str                      # "module:function" taking a JobContext
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    needs_spark: bool = True


def _sample_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory to write the sample into")
    parser.add_argument("--docs", type=int, help="number of crawl documents (sample.docs)")
    parser.add_argument("--seed", type=int, help="random seed (sample.seed)")


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True,
                        help="labelled JSONL file(s), comma-separated: {text, label}")


def _diversity_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scope", default="eras",
                        help="'eras' (default) or 'shards:NAME' to measure a shard set")


def _audit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True,
                        help="JSONL(.gz/.zst) / Parquet file, or a directory of them")
    parser.add_argument("--name", help="audit name: output under audit/NAME/ "
                        "(default: the input's base name)")
    parser.add_argument("--shards", help="shard set to measure overlap and added tail against")


JOBS: dict[str, JobSpec] = {
    "ingest": JobSpec("tailguard.io.ingest:run", "read crawl partitions into docs/quarantine"),
    "provenance": JobSpec("tailguard.provenance.job:run",
                          "exact + near-duplicate clusters, first-seen dates, eras"),
    "train-detector": JobSpec("tailguard.detector.train:run",
                              "train and calibrate the fastText detector", _train_args,
                              needs_spark=False),
    "score": JobSpec("tailguard.detector.score:run", "per-document synthetic probability"),
    "attributes": JobSpec("tailguard.attributes.job:run",
                          "per-date document attributes (quality scores, tail concepts)"),
    "share": JobSpec("tailguard.share.job:run", "synthetic share per domain"),
    "diversity": JobSpec("tailguard.diversity.job:run",
                         "n-gram diversity, tail coverage, rarefaction", _diversity_args),
    "shards": JobSpec("tailguard.shards.job:run",
                      "anchored, tail-enriched training shards + manifest.json"),
    "report": JobSpec("tailguard.report.job:run",
                      "self-contained <output.root>/report/index.html"),
    "audit": JobSpec("tailguard.audit.job:run",
                     "look an outside dataset up in the crawl (read-only): attested / seen / "
                     "new, synthetic share", _audit_args),
    "sample": JobSpec("tailguard.sample.job:run", "write the embedded demo crawl",
                      _sample_args, needs_spark=False),
}
# `pipeline` runs these in order; each must be importable for the pipeline to include it.
# With --dates (what `make daily` runs) the per-date jobs process only those partitions,
# the metrics and the report are refreshed, and no shard set is written: a training
# corpus is a release (`tailguard shards`, `make shards`), not a daily by-product.
PIPELINE = ("ingest", "provenance", "score", "attributes", "share", "diversity", "shards",
            "report")
RELEASE_JOBS = frozenset({"shards"})
# Jobs whose --dates limits the documents they process (the rest read every date).
DATED_JOBS = frozenset({"ingest", "provenance", "score", "attributes"})


def parse_dates(spec: str | None) -> list[dt.date] | None:
    """`2024-01-01,2024-02-01` (a list) or `2024-01-01..2024-03-31` (an inclusive range)."""
    if spec is None or not spec.strip():
        return None
    try:
        if ".." in spec:
            start_text, end_text = spec.split("..", 1)
            start, end = dt.date.fromisoformat(start_text.strip()), dt.date.fromisoformat(
                end_text.strip())
            if end < start:
                raise TailguardError(f"--dates range ends before it starts: {spec}")
            return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        return sorted({dt.date.fromisoformat(part.strip()) for part in spec.split(",")
                       if part.strip()})
    except ValueError as exc:
        raise TailguardError(f"--dates must be YYYY-MM-DD[,..] or D1..D2: {exc}") from exc


@dataclass
class JobContext:
    """What a job gets: the config, the dates it is limited to, its own CLI options."""

    cfg: Config
    dates: list[dt.date] | None = None
    options: argparse.Namespace = field(default_factory=argparse.Namespace)

    @cached_property
    def spark(self):
        from tailguard.session import build_session

        return build_session(self.cfg)


def _resolve(target: str) -> Callable[[JobContext], Any]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def available_pipeline(daily: bool = False) -> list[str]:
    """Pipeline jobs whose modules exist in this build (later jobs arrive over time);
    `daily` leaves out the release jobs."""
    present = []
    for name in PIPELINE:
        if daily and name in RELEASE_JOBS:
            continue
        module_name = JOBS[name].target.split(":")[0]
        if importlib.util.find_spec(module_name) is not None:
            present.append(name)
    return present


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailguard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="job", required=True, metavar="JOB")
    specs = dict(JOBS)
    specs["pipeline"] = JobSpec("", "run " + " -> ".join(PIPELINE))
    for name, spec in specs.items():
        job_parser = sub.add_parser(name, help=spec.help)
        job_parser.add_argument("--conf", action="append", default=[], metavar="FILE",
                                help="YAML config; later files override earlier ones")
        job_parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                                dest="sets", help="override one key (wins over --conf)")
        job_parser.add_argument("--dates", help="D1,D2 or D1..D2: limit to these partitions")
        spec.add_arguments(job_parser)
    return parser


def describe_run(name: str, ctx: JobContext) -> str:
    """The line a run starts with: job, config hash, dates and where it reads and writes."""
    cfg = ctx.cfg
    if ctx.dates:
        dates = (f"{ctx.dates[0]}..{ctx.dates[-1]} ({len(ctx.dates)} dates)"
                 if len(ctx.dates) > 1 else str(ctx.dates[0]))
    else:
        dates = "all"
    return (f"tailguard {name}: config {cfg.fingerprint()[:12]}, dates {dates}, "
            f"input {paths.without_credentials(cfg.input.path)}, "
            f"output {paths.without_credentials(cfg.get('output.root'))}, "
            f"detector {paths.without_credentials(cfg.detector_dir)}")


def _docs_processed(name: str, ctx: JobContext) -> int | None:
    """Documents a job went through (for its docs/s): the dated partitions for the dated
    jobs, every stored document for the rest. A metadata-only count of `docs`."""
    from tailguard.io.tables import read_table, table_exists

    if not JOBS[name].needs_spark or not table_exists(ctx.spark, ctx.cfg, "docs"):
        return None
    dates = ctx.dates if name in DATED_JOBS else None
    key = tuple(dates) if dates else None
    cache = ctx.__dict__.setdefault("_doc_counts", {})
    if name in DATED_JOBS or key not in cache:  # dated jobs may have just written them
        cache[key] = read_table(ctx.spark, ctx.cfg, "docs", dates).count()
    return cache[key]


def run_job(name: str, ctx: JobContext) -> Any:
    """Run one job (or the pipeline) and return what the job returns (e.g. its counts)."""
    if name == "pipeline":
        log.info(describe_run(name, ctx))
        results = {step: run_job(step, ctx) for step in available_pipeline(bool(ctx.dates))}
        from tailguard.report.summary import pipeline_summary

        print(pipeline_summary(ctx.spark, ctx.cfg), flush=True)
        return results
    log.info(describe_run(name, ctx))
    start = time.perf_counter()
    if JOBS[name].needs_spark:
        from tailguard.progress import StageMonitor

        with StageMonitor(ctx.spark, name):
            result = _resolve(JOBS[name].target)(ctx)
    else:
        result = _resolve(JOBS[name].target)(ctx)
    elapsed = time.perf_counter() - start
    log.info(rate_line(name, elapsed, _docs_processed(name, ctx)))
    return result


def configure_logging(verbose: bool = False) -> None:
    """tailguard's own loggers at INFO on stdout; everything else (py4j's per-call
    'Closing down clientserver connection', numba, ...) at WARNING unless verbose."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s",
                        stream=sys.stdout)
    logging.getLogger("tailguard").setLevel(logging.INFO)
    logging.getLogger("py4j").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.conf, args.sets)
        configure_logging(cfg.spark.verbose)
        ctx = JobContext(cfg=cfg, dates=parse_dates(args.dates), options=args)
        run_job(args.job, ctx)
    except TailguardError as exc:
        print(f"tailguard {args.job}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
