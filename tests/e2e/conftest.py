"""One demo crawl per test session, and each job run on it at most once.

The e2e tests check the acceptance numbers "on the demo crawl": they share this fixture
so CI generates the sample and runs every job once, not once per test module.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tailguard.cli import JobContext, run_job
from tailguard.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DemoRun:
    """The demo sample and its tables; `run(job)` runs a job once, in pipeline order."""

    spark: object
    sample_dir: Path
    cfg: Config
    sets: tuple[str, ...] = ()
    done: dict = field(default_factory=dict)

    def context(self, **options) -> JobContext:
        ctx = JobContext(cfg=self.cfg, options=argparse.Namespace(**options))
        ctx.__dict__["spark"] = self.spark  # reuse the test session (cached_property slot)
        return ctx

    def run(self, job: str):
        prerequisites = {"provenance": ["ingest"], "score": ["ingest", "train-detector"],
                         "share": ["provenance", "score"], "diversity": ["provenance"],
                         "shards": ["share", "diversity"], "report": ["shards"]}
        for before in prerequisites.get(job, []):
            self.run(before)
        if job not in self.done:
            options = {}
            if job == "train-detector":
                options["input"] = str(self.sample_dir / "detector_train.jsonl")
            if job == "diversity":
                options["scope"] = "eras"
            self.done[job] = run_job(job, self.context(**options))
        return self.done[job]

    def run_with(self, job: str, *sets: str, **options):
        """Run `job` once more with extra `--set` overrides (its prerequisites as usual)."""
        for before in {"shards": ["share", "diversity"]}.get(job, []):
            self.run(before)
        cfg = load_config([str(REPO / "conf" / "demo.yaml")], [*self.sets, *sets])
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(**options))
        ctx.__dict__["spark"] = self.spark
        return run_job(job, ctx)

    def truth(self, name: str):
        path = self.sample_dir / "ground_truth" / name
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines()]
        return json.loads(path.read_text())


@pytest.fixture(scope="session")
def demo(spark, tmp_path_factory) -> DemoRun:
    """The default-size demo sample (the one `make demo` builds), generated once."""
    root = tmp_path_factory.mktemp("demo")
    sets = (f"input.path={root / 'sample' / 'crawl'}", f"output.root={root / 'tables'}")
    cfg = load_config([str(REPO / "conf" / "demo.yaml")], list(sets))
    run = DemoRun(spark=spark, sample_dir=root / "sample", cfg=cfg, sets=sets)
    run_job("sample", JobContext(cfg=cfg, options=argparse.Namespace(
        out=str(run.sample_dir), docs=None, seed=None)))
    return run
