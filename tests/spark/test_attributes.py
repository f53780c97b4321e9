"""Attribute tables (attributes/store.py, taggers.py, job.py): stamped per-date
partitions, stale ones found by stamp or by input files, taggers equal to their kernels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from tailguard.attributes import job as attributes_job
from tailguard.attributes import store, taggers
from tailguard.attributes.quality import SCORE_COLUMNS, quality_scores
from tailguard.diversity.compiled import key_table
from tailguard.diversity.ngrams import hash_texts, ngrams_of
from tailguard.errors import InputError
from tailguard.io.tables import write_partitions

JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
TEXTS = [
    "The river bank was quiet that morning.\nA heron stood in the reeds.",
    "Prices rose again.\n\n- one\n- two\n- three\nThe end...",
    "Une phrase en français, avec des accents: été, où, déjà.",
    "the the the the the the the the the the the the",
]


def _values(spark, rows):
    return spark.createDataFrame(rows, "doc_id string, crawl_date date, value long")


def test_store_marks_a_partition_stale_by_stamp_or_by_its_input_files(spark, make_cfg):
    cfg = make_cfg()
    maker = store.Maker("things", 1, {"tail.max_n": 3})
    inputs = {"2024-01-01": "files-a", "2024-02-01": "files-b"}
    store.write(_values(spark, [("a", JAN, 1), ("b", FEB, 2)]), cfg, maker, inputs)
    assert store.stale_dates(spark, cfg, maker, inputs) == []
    got = store.read(spark, cfg, maker, inputs).select("doc_id", "value").orderBy("doc_id")
    assert [tuple(r) for r in got.collect()] == [("a", 1), ("b", 2)]
    # February re-ingested: new docs files, so its attributes are stale, January is not
    moved = {**inputs, "2024-02-01": "files-c"}
    assert store.stale_dates(spark, cfg, maker, moved) == ["2024-02-01"]
    with pytest.raises(InputError, match="crawl_date=2024-02-01 was made from other docs"):
        store.read(spark, cfg, maker, moved)
    # another setting: every date is stale, and reading names the key and both values
    other = store.Maker("things", 1, {"tail.max_n": 4})
    assert store.stale_dates(spark, cfg, other, inputs) == sorted(inputs)
    with pytest.raises(InputError, match=r"attributes/things: crawl_date=2024-01-01 was made "
                                         r"with tail.max_n=3 \(this run: 4\)"):
        store.read(spark, cfg, other, inputs)
    with pytest.raises(InputError, match="tagger version 1"):
        store.read(spark, cfg, store.Maker("things", 2, {"tail.max_n": 3}), inputs)
    with pytest.raises(InputError, match="no partition crawl_date=2024-03-01"):
        store.read(spark, cfg, maker, {**inputs, "2024-03-01": "x"})


def test_store_rewrite_of_a_date_replaces_its_rows_and_drops_an_emptied_date(spark, make_cfg):
    cfg = make_cfg()
    maker = store.Maker("things", 1)
    store.write(_values(spark, [("a", JAN, 1), ("b", FEB, 2)]), cfg, maker,
                {"2024-01-01": "x", "2024-02-01": "y"})
    # February re-tagged with no rows left (e.g. every record quarantined on re-ingest)
    store.write(_values(spark, [("z", JAN, 9)]), cfg, maker,
                {"2024-01-01": "x2", "2024-02-01": "y2"})
    assert store.stamps_by_date(spark, cfg, maker) == {"2024-01-01": {(maker.stamp, "x2")}}
    rows = store.read(spark, cfg, maker, {"2024-01-01": "x2"}).collect()
    assert [(r["doc_id"], r["value"]) for r in rows] == [("z", 9)]


def _docs(spark, texts, dates):
    rows = [(f"d{i}", dates[i % len(dates)], len(t.split()), t) for i, t in enumerate(texts)]
    return spark.createDataFrame(rows, "doc_id string, crawl_date date, n_words int, "
                                       "text string")


def test_quality_tagger_is_the_kernel_on_each_document(spark):
    got = {r["doc_id"]: r for r in taggers.with_quality(_docs(spark, TEXTS, [JAN])).collect()}
    want = quality_scores(pa.array(TEXTS, pa.string()))
    for i, text in enumerate(TEXTS):
        row = got[f"d{i}"]
        assert row["n_tokens"] == len(text.split())
        assert row["n_bytes"] == len(text.encode("utf-8"))
        for column in SCORE_COLUMNS:
            assert row[column] == pytest.approx(float(want[column][i]), abs=0, rel=1e-12)


def test_tail_tagger_counts_distinct_band_members_by_index(spark):
    grams = ngrams_of(hash_texts(pa.array(TEXTS, pa.string())), 2, 2)
    band = np.unique(grams.concepts)[::3].astype(np.uint64)  # every third concept
    rows = taggers.with_tail(_docs(spark, TEXTS, [JAN]), spark.sparkContext.broadcast(band), 2)
    got = {r["doc_id"]: r for r in rows.collect()}
    in_band = set(band.tolist())
    for i in range(len(TEXTS)):
        lo, hi = grams.concept_bounds[i], grams.concept_bounds[i + 1]
        members = sorted({int(np.searchsorted(band, c)) for c in grams.concepts[lo:hi].tolist()
                          if c in in_band})
        assert got[f"d{i}"]["tail_concepts"] == len(members)
        assert sorted(got[f"d{i}"]["tail_ids"]) == members
    empty = taggers.tail_members(pa.array(TEXTS), key_table(band[:0]), band[:0], 2)
    assert empty[0].tolist() == [0] * len(TEXTS)


def test_attributes_job_tags_only_dates_that_lack_them(spark, make_cfg):
    cfg = make_cfg()
    docs = _docs(spark, TEXTS, [JAN, FEB]).select(
        "doc_id", "crawl_date", "n_words", "text", F.lit("x.com").alias("domain"))
    write_partitions(docs, cfg, "docs", sort_by=["doc_id"])
    inputs = attributes_job.docs_inputs(spark, cfg)
    assert sorted(inputs) == ["2024-01-01", "2024-02-01"]
    assert attributes_job.ensure_quality(spark, cfg, inputs) == sorted(inputs)
    assert attributes_job.ensure_quality(spark, cfg, inputs) == []  # current: nothing to do
    # February re-ingested with the same rows: the same files, nothing to tag
    write_partitions(docs.where(F.col("crawl_date") == FEB), cfg, "docs", sort_by=["doc_id"])
    assert attributes_job.docs_inputs(spark, cfg) == inputs
    # ... and with other rows: only it is tagged again
    write_partitions(docs.where((F.col("crawl_date") == FEB) & (F.col("doc_id") != "d1")),
                     cfg, "docs", sort_by=["doc_id"])
    again = attributes_job.docs_inputs(spark, cfg)
    assert again["2024-01-01"] == inputs["2024-01-01"]
    assert again["2024-02-01"] != inputs["2024-02-01"]
    assert attributes_job.ensure_quality(spark, cfg, again) == ["2024-02-01"]
    band = np.array([1, 2, 3], np.uint64)
    assert attributes_job.ensure_tail(spark, cfg, again, band) == sorted(again)
    assert attributes_job.ensure_tail(spark, cfg, again, band) == []
    # a refreshed band makes every date's tail attribute stale
    assert attributes_job.ensure_tail(spark, cfg, again, band[:2]) == sorted(again)
