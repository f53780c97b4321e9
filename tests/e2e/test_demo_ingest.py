"""Acceptance of issue 3 on the embedded demo crawl: every format, every record accounted."""

from __future__ import annotations

from collections import Counter

import pytest
from chispa.schema_comparer import assert_schema_equality
from pyspark.sql import functions as F

from tailguard import schema
from tailguard.io.tables import read_table

pytestmark = pytest.mark.slow


def test_demo_ingest_reads_all_formats_and_accounts_for_every_record(demo):
    counts = demo.run("ingest")
    truth = demo.truth("documents.jsonl")
    assert counts.conserved
    assert counts.total_read == len(truth)
    malformed = [t for t in truth if t["kind"] == "malformed"]
    assert counts.total_kept == len(truth) - len(malformed)
    assert counts.reasons() == dict(
        sorted(Counter(t["expected_reason"] for t in malformed).items())
    )

    docs = read_table(demo.spark, demo.cfg, "docs")
    quarantine = read_table(demo.spark, demo.cfg, "quarantine")
    assert_schema_equality(docs.schema, schema.DOCS, ignore_nullable=True)
    assert_schema_equality(quarantine.schema, schema.QUARANTINE, ignore_nullable=True)
    kinds = {
        r[0]
        for r in docs.select(F.regexp_extract("source_file", r"\.([a-z]+)(\.gz|\.zst)?$", 1))
        .distinct()
        .collect()
    }
    assert {"jsonl", "parquet", "warc", "wet"} <= kinds
    assert docs.where(F.col("domain").endswith(".co.uk")).count() > 0
    assert docs.select("domain").distinct().count() >= 20
    assert (
        docs.where(
            F.col("doc_id").isNull() | F.col("text").isNull() | (F.length("text") == 0)
        ).count()
        == 0
    )


def test_demo_domains_match_ground_truth(demo):
    demo.run("ingest")
    truth = {
        (t["url"], t["domain"]) for t in demo.truth("documents.jsonl") if t["kind"] != "malformed"
    }
    docs = read_table(demo.spark, demo.cfg, "docs").select("url", "domain").distinct().collect()
    truth_domain = dict(truth)
    mismatched = [
        (r.url, r.domain) for r in docs if r.url in truth_domain and truth_domain[r.url] != r.domain
    ]
    assert not mismatched[:5]
    # every document is a truth record and every kept truth URL is a document
    assert [r.url for r in docs if r.url not in truth_domain][:5] == []
    assert set(truth_domain) == {r.url for r in docs}
