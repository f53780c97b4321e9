"""Issue 18 acceptance on the demo crawl: the anchored, tail-enriched shards.

The demo's ground truth says which documents are synthetic, so the shards' synthetic
token share is measured, not estimated. The demo text is generated (its tail density is
nearly homogeneous), so the enrichment gains asserted here are small by construction;
the manifest's numbers are what a data lead reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import zstandard

from tailguard.io.tables import read_table

REPO = Path(__file__).resolve().parents[2]
INPUT_TABLES = ("docs", "provenance", "scores", "metrics/synthetic_share", "pu_scores",
                "tail_concepts")


@pytest.fixture(scope="module")
def shard_set(demo):
    manifest = demo.run("shards")
    root = Path(demo.cfg.table_path("shards/main"))
    assert json.loads((root / "manifest.json").read_text()) == manifest
    return manifest, root


def test_measured_anchor_share_meets_the_configured_ratio(shard_set):
    manifest, _ = shard_set
    anchor = manifest["anchor"]
    assert anchor["configured_ratio"] == 0.6
    assert anchor["measured_share"] >= anchor["configured_ratio"]
    assert anchor["tokens"] == sum(manifest["tokens_by_era"].get(e, 0)
                                   for e in ("pre_ai", "attested"))
    assert manifest["budget"] == {"requested": 1_500_000, "applied": 1_500_000,
                                  "shrunk": False, "message": None}
    assert 0.99 * 1_500_000 <= manifest["tokens"] <= 1_500_000


def test_enriched_shards_beat_an_unweighted_sample_of_the_same_pool(shard_set):
    tail = shard_set[0]["tail"]
    shards, unweighted = tail["shards"], tail["unweighted_sample"]
    assert abs(shards["tokens"] - unweighted["tokens"]) <= 0.01 * shards["tokens"]
    assert tail["tail_coverage_gain"] > 1.0
    assert shards["tail_covered"] > unweighted["tail_covered"]
    # distinct-1 and -2 gain clearly; 3- and 4-grams are nearly all distinct in either
    # sample, so their gain is within the sketch's error (the manifest states it)
    gains = tail["distinct_n_gain"]
    assert gains["1"] > 1.0 and gains["2"] > 1.0
    assert all(g >= 1.0 - 2 * tail["distinct_n_rel_error"] for g in gains.values())


def _labelled(demo, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (doc_id, crawl_date, n_tokens, ...) with the ground-truth label."""
    docs = read_table(demo.spark, demo.cfg, "docs").select("doc_id", "crawl_date",
                                                           "url").toPandas()
    truth = pd.DataFrame(demo.truth("documents.jsonl"))[["url", "crawl_date", "label"]]
    truth["crawl_date"] = pd.to_datetime(truth["crawl_date"]).dt.date
    labelled = frame.merge(docs, on=["doc_id", "crawl_date"]).merge(
        truth.drop_duplicates(["url", "crawl_date"]), on=["url", "crawl_date"], how="left")
    assert len(labelled) == len(frame) and labelled["label"].notna().all()
    return labelled


def _synthetic_token_share(frame: pd.DataFrame) -> float:
    synthetic = frame.loc[frame["label"] == "synthetic", "n_tokens"].sum()
    return synthetic / frame["n_tokens"].sum()


def test_shards_hold_under_a_quarter_of_the_post_ai_pools_synthetic_share(demo, shard_set):
    pool = read_table(demo.spark, demo.cfg, "shard_pool/main").select(
        "doc_id", "crawl_date", "era", "n_tokens", "selected").toPandas()
    labelled = _labelled(demo, pool)
    post_pool = _synthetic_token_share(labelled[labelled["era"] == "post_ai"])
    shards = _synthetic_token_share(labelled[labelled["selected"]])
    assert post_pool > 0.1  # the demo's post-AI pool is far from clean
    assert shards < post_pool / 4


def test_files_read_back_with_row_group_iteration_and_match_the_manifest(shard_set):
    manifest, root = shard_set
    assert [f["name"] for f in manifest["files"]] == sorted(p.name for p in
                                                            root.glob("part-*.parquet"))
    total = 0
    for entry in manifest["files"]:
        path = root / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert path.stat().st_size == entry["bytes"]
        handle = pq.ParquetFile(path)
        assert handle.metadata.row_group(0).column(0).compression == "ZSTD"
        rows = sum(b.num_rows for b in handle.iter_batches(batch_size=256))
        assert rows == entry["rows"]
        total += rows
    assert total == manifest["rows"] == sum(manifest["docs_by_era"].values())
    columns = pq.read_schema(root / manifest["files"][0]["name"]).names
    assert columns == ["text", "doc_id", "url", "domain", "crawl_date", "era",
                       "p_synthetic", "weight"]


def test_hugging_face_datasets_streams_every_row(shard_set):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only, no hub lookups
    datasets = pytest.importorskip("datasets")
    manifest, root = shard_set
    stream = datasets.load_dataset("parquet", data_files=sorted(
        str(p) for p in root.glob("part-*.parquet")), split="train", streaming=True)
    seen = sum(1 for row in stream if row["text"])
    assert seen == manifest["rows"]


def test_manifest_counts_filters_by_reason_and_tokens_by_domain(shard_set):
    manifest, _ = shard_set
    assert manifest["filters"]["duplicate_exact"] > 0
    assert manifest["filters"]["duplicate_near"] > 0
    assert manifest["filters"]["p_synthetic"] > 0 and manifest["filters"]["domain_share"] > 0
    assert sum(manifest["tokens_by_domain"].values()) == manifest["tokens"]
    assert sum(manifest["tokens_by_era"].values()) == manifest["tokens"]
    assert sum(f["tokens"] for f in manifest["files"]) == manifest["tokens"]
    assert len(manifest["config_hash"]) == 64 and manifest["input"]["crawl_dates"]


def test_same_shards_with_other_parallelism_and_a_quiet_console(demo, shard_set, tmp_path):
    """local[1] with 7 shuffle partitions, in its own Spark, from copies of the inputs.
    The job runs as a user runs it (the CLI starts its own JVM), so it also shows what the
    console gets: tailguard's log lines, none of Spark's or the JVM's own."""
    manifest, root = shard_set
    tables = Path(demo.cfg.output.root)
    for name in INPUT_TABLES:
        shutil.copytree(tables / name, tmp_path / "tables" / name)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    command = [sys.executable, "-m", "tailguard.cli", "shards",
               "--conf", str(REPO / "conf" / "demo.yaml"), *[
                   arg for s in (*demo.sets, f"output.root={tmp_path / 'tables'}",
                                 "spark.master=local[1]",
                                 "spark.conf.spark.sql.shuffle.partitions=7")
                   for arg in ("--set", s)]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    console = (done.stdout + done.stderr).splitlines()
    noise = [line for line in console if any(mark in line for mark in (
        "WARN ", "INFO ", "incubator", "py4j", "[Stage ", "log4j", "SLF4J"))]
    assert not noise, noise[:5]
    assert any("tailguard" in line and "shards" in line for line in console)
    other = tmp_path / "tables" / "shards" / "main"
    assert (other / "manifest.json").read_bytes() == (root / "manifest.json").read_bytes()
    for entry in manifest["files"]:
        assert hashlib.sha256((other / entry["name"]).read_bytes()).hexdigest() == \
            entry["sha256"]


def test_a_pool_too_small_for_the_anchor_shrinks_the_budget_and_says_so(demo, shard_set):
    """Also writes the optional jsonl.zst copies, which must hold the same rows."""
    small = demo.run_with("shards", "shards.name=greedy", "shards.token_budget=100000000",
                          "shards.anchor_ratio=0.9", "shards.jsonl=true")
    assert small["budget"]["shrunk"] and small["budget"]["applied"] < 100_000_000
    assert "shrinks from 100,000,000" in small["budget"]["message"]
    assert small["anchor"]["measured_share"] >= 0.9
    assert small["tokens"] <= small["budget"]["applied"]
    root = Path(demo.cfg.table_path("shards/greedy"))
    for parquet, jsonl in zip(small["files"], small["jsonl_files"], strict=True):
        raw = (root / jsonl["name"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == jsonl["sha256"]
        lines = zstandard.ZstdDecompressor().decompressobj().decompress(raw).splitlines()
        ids = [json.loads(line)["doc_id"] for line in lines]
        assert ids == pq.read_table(root / parquet["name"]).column("doc_id").to_pylist()


def test_diversity_measures_a_shard_set_like_an_era(demo, shard_set):
    demo.run_with("diversity", scope="shards:main")
    rows = (read_table(demo.spark, demo.cfg, "metrics/diversity")
            .where("scope = 'shards:main'").toPandas())
    assert len(rows) and rows["n_tokens"].max() > 0
    assert set(rows["domain"]) >= {"__all__"}
    eras = (read_table(demo.spark, demo.cfg, "metrics/diversity")
            .where("scope = 'pre_ai'").count())
    assert eras > 0  # the eras' rows survive a shards-scope run


def test_shard_pool_keeps_scores_apart_from_the_decision(demo, shard_set):
    pool = ds.dataset(demo.cfg.table_path("shard_pool/main"), format="parquet",
                      partitioning="hive").to_table(columns=["q_words", "reason", "selected"])
    frame = pool.to_pandas()
    assert frame["q_words"].notna().all()
    assert not frame.loc[frame["reason"].notna(), "selected"].any()
    assert frame["selected"].sum() == shard_set[0]["rows"]


def test_another_threshold_re_scores_nothing(demo, shard_set, monkeypatch):
    """The pool is built from the stored attributes: with the taggers unable to run, a
    stricter admission still gives a shard set, and its pool's scores are the same."""
    from tailguard.attributes import taggers

    def refuse(*args, **kwargs):
        raise AssertionError("the shards job tagged text on a re-run")

    monkeypatch.setattr(taggers, "with_quality", refuse)
    monkeypatch.setattr(taggers, "with_tail", refuse)
    strict = demo.run_with("shards", "shards.name=strict", "shards.max_p_synthetic=0.2")
    assert strict["filters"]["p_synthetic"] > shard_set[0]["filters"]["p_synthetic"]
    columns = ["doc_id", "crawl_date", "q_words", "q_dup_lines", "tail_concepts"]
    main, other = (ds.dataset(demo.cfg.table_path(f"shard_pool/{name}"), format="parquet",
                              partitioning="hive").to_table(columns=columns).to_pandas()
                   .sort_values(["doc_id", "crawl_date"]).reset_index(drop=True)
                   for name in ("main", "strict"))
    pd.testing.assert_frame_equal(main, other)


def test_era_mix_recomputed_from_the_part_files_matches_the_manifest(demo, shard_set):
    """The anchor is re-measured, not re-read: the written rows' keys joined to
    `provenance` (for the era) and `docs` (for the token count), independently of the
    pool the job built."""
    manifest, root = shard_set
    parts = pq.read_table([str(root / f["name"]) for f in manifest["files"]],
                          columns=["doc_id", "crawl_date", "era"]).to_pandas()
    keys = ["doc_id", "crawl_date"]
    provenance = read_table(demo.spark, demo.cfg, "provenance").select(
        *keys, "era").toPandas().rename(columns={"era": "true_era"})
    docs = read_table(demo.spark, demo.cfg, "docs").select(*keys, "n_words").toPandas()
    rows = parts.merge(provenance, on=keys, how="left").merge(docs, on=keys, how="left")
    assert rows["true_era"].notna().all() and rows["n_words"].notna().all()
    assert (rows["era"] == rows["true_era"]).all()
    by_era = rows.groupby("true_era")["n_words"].sum().to_dict()
    assert {k: int(v) for k, v in by_era.items()} == manifest["tokens_by_era"]
    anchor = sum(v for k, v in by_era.items() if k in ("pre_ai", "attested"))
    assert anchor / rows["n_words"].sum() == pytest.approx(manifest["anchor"]["measured_share"],
                                                           abs=1e-6)
    assert anchor / rows["n_words"].sum() >= manifest["anchor"]["configured_ratio"]
