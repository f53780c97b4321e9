"""The audit's cost against the provenance job's (issue 39, done-when 3): the crawl's own
documents written out as an outside dataset (Parquet, url + text) and audited against the
index of the same crawl, next to the provenance job on the same documents, same run.
Every document is then a copy (the look-up's worst case: every one has candidates to
verify and a match to join), so the ratio is an upper bound for a dataset that is
mostly new. Target: audit / provenance <= 1.5.

Runs after bench.bench_provenance (its index is reused; provenance is timed again here
so both rows come from the same minutes of a shared machine)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bench.common import Result, spark_cores, timed
from tailguard.audit.job import run as audit_run
from tailguard.cli import JobContext
from tailguard.io.tables import read_table
from tailguard.provenance.job import run as provenance_run

log = logging.getLogger(__name__)


def bench(spark, cfg) -> list[dict]:
    cores = spark_cores(spark)
    docs = read_table(spark, cfg, "docs")
    n = docs.count()
    dataset = Path(cfg.output.root).parent / f"audit-input-{n}"
    if not (dataset / "_DONE").exists():
        docs.select("url", "text").write.mode("overwrite").parquet(str(dataset))
        (dataset / "_DONE").write_text("ok\n")
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    prov_stages: dict[str, float] = {}
    prov = timed("provenance_job", n, lambda: prov_stages.update(provenance_run(ctx)), cores,
                 "the provenance job again, for the ratio below (same run)")
    audit_ctx = JobContext(cfg=cfg, options=argparse.Namespace(
        input=str(dataset), name="bench", shards=None))
    audit_ctx.__dict__["spark"] = spark
    body: dict = {}
    audit = timed("audit_job", n, lambda: body.update(audit_run(audit_ctx)), cores,
                  "tailguard audit of the crawl's own documents against its index")
    rows = [prov, audit]
    rows += [Result(f"audit_job.{name}", n, secs, cores, "stage of the audit_job row")
             for name, secs in body.get("stage_seconds", {}).items()]
    share = "share stage ran" if body.get("synthetic_share", {}).get("estimate") is not None \
        else "no share stage (the crawl has no pu_scores)"
    rows.append(Result("audit_job_vs_provenance_job", 0, float("nan"), 1,
                       f"{audit.seconds / prov.seconds:.2f} (target <= 1.5); {share}; "
                       f"attested {body.get('attested')} of {body.get('documents')}"))
    for row in rows:
        log.info("%s: %.1f s (%s)", row.name, row.seconds, row.note)
    return [r.as_row() for r in rows]
