"""Acceptance of issue 39's synthetic share on REAL text, leave-generators-out: a rotation
crawl of shared/data/detector (bench/share_realeval.py's pipeline: ingest, provenance,
train-detector on other sources' other generators only, score, share), then two outside
datasets drawn from the rows of the crawl's own cells that the crawl did not use:
- `mixed`: per crawl site, human rows and rows of the rotation's generators (the
  detector never saw them) at a known share, URLs on the site; a tenth without a URL
  (the pooled reference);
- `placebo`: held-out human rows only, audited as if they came from outside (truth 0).
Both are `new` (no row is in the crawl), so their whole is the not-attested part."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from bench import share_realeval as realeval

from shared_data import SHARED_DATA
from tailguard.audit.job import run as audit_run
from tailguard.cli import JobContext
from tailguard.config import load_config
from tailguard.sample import realtext as rt

pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.shared_data]

PER_SITE = 40
SHARE = 0.3


def _leftovers(rows, plan):
    """{site: (human rows, synthetic rows)} of the rotation's rows of each site's cell
    that the crawl does not hold, dealt out so that no row serves two sites."""
    used = {d.text for d in plan.docs}
    cells = defaultdict(lambda: ([], []))
    for row in rows:
        if plan.rotation.crawl_uses(row) and row["text"] not in used:
            cells[(row["source"], row["domain"])][row["label"] != rt.HUMAN].append(row)
    by_site, taken = {}, defaultdict(int)
    for site, truth in sorted(plan.truth.items()):
        human, synthetic = cells[(truth["source"], truth["content_domain"])]
        k = taken[(truth["source"], truth["content_domain"])]
        taken[(truth["source"], truth["content_domain"])] += 1
        by_site[site] = (human[k::2], synthetic[k::2])
    return by_site


def _write(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    "utf-8")


def _datasets(rows, plan, root: Path):
    rng = np.random.default_rng(39)
    mixed, placebo, truth = [], [], defaultdict(lambda: [0, 0])
    for site, (human, synthetic) in _leftovers(rows, plan).items():
        n_syn = int(round(PER_SITE * SHARE))
        if len(human) < PER_SITE - n_syn + 30 or len(synthetic) < n_syn:
            continue
        picked = ([(r, False) for r in human[:PER_SITE - n_syn]]
                  + [(r, True) for r in synthetic[:n_syn]])
        for i, (row, is_syn) in enumerate(picked):
            label = "vendor-a" if i % 2 else "vendor-b"
            record = {"text": row["text"], "source": label}
            if rng.random() >= 0.1:
                record["url"] = f"https://www.{site}/bought/{len(mixed)}"
            mixed.append(record)
            truth[label][0] += 1
            truth[label][1] += is_syn
        for row in human[PER_SITE - n_syn:PER_SITE - n_syn + 30]:
            placebo.append({"text": row["text"], "url": f"https://www.{site}/old/{len(placebo)}"})
    _write(root / "mixed.jsonl", mixed)
    _write(root / "placebo.jsonl", placebo)
    return mixed, placebo, {k: v[1] / v[0] for k, v in truth.items()}


@pytest.mark.parametrize("rotation", ["R1"])
def test_share_of_an_outside_dataset_from_unseen_generators(spark, tmp_path, rotation):
    rows = rt.read_rows(SHARED_DATA)
    spec = rt.CrawlSpec(rotation=rotation, domains_per_cell=2)
    workdir = tmp_path / rotation
    realeval.run_rotation(spark, rows, spec, workdir, ("share.bootstrap=100",))
    plan = rt.plan_crawl(rows, spec)
    mixed, placebo, by_label = _datasets(rows, plan, tmp_path / "outside")
    cfg = load_config([], [f"input.path={workdir / 'crawl' / 'crawl'}",
                           f"output.root={workdir / 'tables'}", f"eras.cutoff={spec.cutoff}",
                           "share.bootstrap=100"])
    results = {}
    for name in ("mixed", "placebo"):
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(
            input=str(tmp_path / "outside" / f"{name}.jsonl"), name=name, shards=None))
        ctx.__dict__["spark"] = spark
        results[name] = audit_run(ctx)
    share = results["mixed"]["synthetic_share"]
    truth = sum(by_label.values()) / len(by_label)  # equal halves by construction
    print(json.dumps({"truth": truth, "by_label_truth": by_label, "mixed": share,
                      "placebo": results["placebo"]["synthetic_share"]}, indent=1))
    assert results["mixed"]["new"] == len(mixed) and results["placebo"]["new"] == len(placebo)
    assert share["reference"] == "own+pooled"
    assert abs(share["estimate"] - truth) <= 0.05, share
    assert share["lo"] <= truth <= share["hi"], share
    outside = results["placebo"]["synthetic_share"]
    assert abs(outside["estimate"]) <= 0.05 and outside["lo"] <= 0.0, outside
    inside = share["placebo"]
    assert abs(inside["estimate"]) <= 0.05 and inside["lo"] <= 0.0 <= inside["hi"], inside
