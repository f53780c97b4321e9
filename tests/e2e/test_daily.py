"""`make daily` (= `tailguard pipeline --dates D`) after a full run, on `file://` URIs.

A small demo crawl is run without its last date and a shard set released, then the last
date arrives:
- the daily run changes only what it should: the stored partitions of every earlier
  date are byte-identical, the new date's partitions appear, and it writes no shard set
  (a release is `tailguard shards`);
- what it leaves is correct, not merely changed: every table equals the one a single run
  over all dates writes from the same whole-crawl state (the stored classifier), and the
  shard set released after it is byte-identical to that run's;
- a daily run killed (SIGKILL, mid-job) and then re-run gives the same tables and
  byte-identical shards as the clean daily run.
Everything is addressed as `file:///...` URIs (input.path, output.root, the detector).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tailguard.cli import JobContext, run_job
from tailguard.config import load_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.heavy]
PARTITIONED = ("docs", "quarantine", "scores", "signatures", "attributes/quality",
               "attributes/pu_score")
COMPARED = ("docs", "quarantine", "scores", "provenance", "metrics/synthetic_share",
            "metrics/synthetic_share_monthly", "metrics/diversity", "metrics/tail_coverage",
            "metrics/rarefaction", "pu_scores", "attributes/quality", "attributes/tail",
            "attributes/pu_score")
# names the docs files a row was computed from (new file names on every write)
RUN_COLUMNS = ("input_id",)


def _sets(root: Path, out: Path) -> list[str]:
    return [f"input.path={(root / 'sample' / 'crawl').as_uri()}", f"output.root={out.as_uri()}",
            "spark.master=local[2]", "spark.conf.spark.sql.shuffle.partitions=2",
            "sample.docs=3000", "sample.domains=8", "sample.detector_docs=1000",
            "shards.token_budget=300000", "share.bootstrap=50",
            "diversity.token_budgets=[10000,30000]"]


def _context(spark, sets: list[str], dates=None, **options) -> JobContext:
    cfg = load_config([str(REPO / "conf" / "demo.yaml")], sets)
    ctx = JobContext(cfg=cfg, dates=dates, options=argparse.Namespace(**options))
    ctx.__dict__["spark"] = spark
    return ctx


def _files(table: Path) -> dict[str, str]:
    """sha256 of every data file under a table (hidden and _-prefixed names skipped)."""
    found = {}
    for path in sorted(table.rglob("*")):
        rel = path.relative_to(table)
        if path.is_file() and not any(p.startswith((".", "_")) for p in rel.parts):
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _partition_contents(table: Path) -> dict[str, tuple]:
    """{partition: (its data files' count, their rows)}. Rows, not bytes: a partition the
    killed run finished in its own JVM is kept, and Spark's Parquet writer (parquet-mr)
    orders each column chunk's encoding list by a hash set, which differs from one JVM to
    another while every page is the same (seen: attributes/quality of the new date)."""
    import pyarrow.parquet as pq

    out = {}
    for part in sorted({p.parent for p in table.rglob("*.parquet")
                        if not any(x.startswith((".", "_")) for x in p.relative_to(table).parts)}):
        files = sorted(part.glob("*.parquet"))
        rows = sorted(tuple(map(str, r.values())) for f in files
                      for r in pq.read_table(f).to_pylist())
        out[str(part.relative_to(table))] = (len(files), tuple(rows))
    return out


def _rows(spark, out: Path, name: str) -> list:
    """A table's rows, sorted; floats to 12 significant digits (the share bootstrap's sums
    differ in the last bits from run to run: summation order, not the data)."""
    df = spark.read.parquet((out / name).as_uri())
    df = df.drop(*[c for c in RUN_COLUMNS if c in df.columns])

    def norm(value) -> str:
        return f"{value:.12g}" if isinstance(value, float) else str(value)

    return sorted(tuple(norm(v) for v in row) for row in df.select(sorted(df.columns)).collect())


def _shards(out: Path) -> dict[str, str]:
    return _files(out / "shards" / "main")


@pytest.fixture(scope="module")
def daily(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("daily")
    clean, killed = root / "clean", root / "killed"
    sets = _sets(root, clean)
    run_job("sample", _context(spark, sets, out=str(root / "sample"), docs=None, seed=None))
    crawl = root / "sample" / "crawl"

    dates = []
    for part in crawl.iterdir():  # the demo crawl also holds a bad crawl_date=... partition
        try:
            dates.append(dt.date.fromisoformat(part.name.removeprefix("crawl_date=")))
        except ValueError:
            continue
    dates.sort()
    new_date, old_dates = dates[-1], dates[:-1]
    run_job("train-detector", _context(spark, sets,
                                       input=str(root / "sample" / "detector_train.jsonl")))
    run_job("pipeline", _context(spark, sets, dates=old_dates))
    assert not (clean / "shards").exists(), "a dated pipeline run wrote a shard set"
    run_job("shards", _context(spark, sets))  # the release before the new date
    shutil.copytree(clean, killed)
    before = {name: _files(clean / name) for name in PARTITIONED}
    before_shards = _shards(clean)
    before_share = _rows(spark, clean, "metrics/synthetic_share")
    run_job("pipeline", _context(spark, sets, dates=[new_date]))
    after_daily_shards = _shards(clean)
    run_job("shards", _context(spark, sets))  # the next release
    # the same crawl in one run over every date, from the whole-crawl state the daily run
    # used (the stored in-crawl classifier: a daily run refits it only by its rule)
    full = root / "full"
    shutil.copytree(clean / "state", full / "state")
    shutil.copytree(clean / "detector", full / "detector")
    run_job("pipeline", _context(spark, _sets(root, full)))
    return {"root": root, "clean": clean, "killed": killed, "full": full, "new": new_date,
            "old": old_dates, "before": before, "before_shards": before_shards,
            "after_daily_shards": after_daily_shards, "before_share": before_share,
            "sets_killed": _sets(root, killed)}


def test_daily_run_changes_only_the_new_date_and_refreshes_the_rest(spark, daily):
    clean, new = daily["clean"], f"crawl_date={daily['new']}"
    for name in PARTITIONED:
        after = _files(clean / name)
        old_before = {k: v for k, v in daily["before"][name].items() if not k.startswith(new)}
        old_after = {k: v for k, v in after.items() if not k.startswith(new)}
        assert old_after == old_before, f"{name}: an earlier date's files changed"
        if name != "quarantine":
            assert any(k.startswith(new) for k in after), f"{name}: no partition for {new}"
    new_docs = spark.read.parquet((clean / "docs").as_uri()).where(
        f"crawl_date = '{daily['new']}'").count()
    assert new_docs > 0
    provenance = spark.read.parquet((clean / "provenance").as_uri())
    assert provenance.where(f"crawl_date = '{daily['new']}'").count() == new_docs
    assert provenance.count() == spark.read.parquet((clean / "docs").as_uri()).count()
    # refreshed from everything: the new documents reach the share and the report
    assert _rows(spark, clean, "metrics/synthetic_share") != daily["before_share"]
    report = (clean / "report" / "index.html").read_text("utf-8")
    assert f"to {daily['new']}" in report  # the ingest section names the new last date
    # a daily run is not a release: the shard set is the one released before it
    assert daily["after_daily_shards"] == daily["before_shards"]


def test_daily_run_leaves_what_one_run_over_every_date_leaves(spark, daily):
    clean, full = daily["clean"], daily["full"]
    for name in COMPARED:
        if name == "quarantine":  # a dated run never reads a partition it was not given:
            # the crawl's `crawl_date=not-a-date` is quarantined by the full run only
            dated = [r for r in _rows(spark, full, name) if r[0] != "None"]
            assert _rows(spark, clean, name) == dated, name
            continue
        assert _rows(spark, clean, name) == _rows(spark, full, name), name
    # the release after the daily run is the shard set of the one full run, byte for byte
    assert _shards(clean) == _shards(full)
    assert _shards(clean) != daily["before_shards"]


def test_killed_daily_run_then_rerun_equals_a_clean_daily_run(spark, daily):
    killed, sets = daily["killed"], daily["sets_killed"]
    conf = daily["root"] / "daily-killed.yaml"
    conf.write_text("{}\n")
    command = [str(Path(sys.executable).parent / "tailguard"), "pipeline", "--conf",
               str(REPO / "conf" / "demo.yaml"), "--conf", str(conf),
               *[arg for s in sets for arg in ("--set", s)], "--dates", str(daily["new"])]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    seen = []
    try:
        deadline = time.time() + 300
        for line in proc.stdout:
            seen.append(line)
            if "tailguard score:" in line:  # ingest + provenance of the new date are written
                time.sleep(3)  # ... and the scores are being computed
                break
            assert time.time() < deadline, "".join(seen[-20:])
        else:
            pytest.fail("the daily run ended before it reached score:\n" + "".join(seen[-30:]))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its JVM, nothing else
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run_job("pipeline", _context(spark, sets, dates=[daily["new"]]))
    run_job("shards", _context(spark, sets))
    clean = daily["clean"]
    for name in COMPARED:
        assert _rows(spark, killed, name) == _rows(spark, clean, name), name
    assert _shards(killed) == _shards(clean)
    for name in PARTITIONED:  # one set of files per partition: no duplicate left behind
        assert _partition_contents(killed / name) == _partition_contents(clean / name), name
