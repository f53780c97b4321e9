"""`ingest` on each input layout (issue 40): Common Crawl's tree with WARC-Dates, a
FineWeb-style Parquet export sharded by dump, a Hugging Face dataset directory; the
daily run of the column layout against the dated layout of the same records."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tailguard import cli
from tailguard.cli import JobContext
from tailguard.io import ingest as ingest_mod
from tailguard.io.ingest import ingest
from tailguard.io.tables import read_table

D = dt.date
SEG = "crawl-data/CC-MAIN-2023-50/segments/1700679099281.15"
HTML = "<html><body><article><p>{}</p></article></body></html>"


def _warc(path: Path, kind: str, items) -> None:
    """items: (url, WARC-Date or None, text); None writes a record without WARC-Date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for url, date, text in items:
        if date is None:  # warcio always dates a record: write this one by hand
            body = text.encode()
            head = (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {url}\r\n"
                    "WARC-Record-ID: <urn:uuid:3f0e8f4a-1c1b-4d55-9a43-6c2d8a1f0b11>\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n")
            out.write(gzip.compress(head.encode() + body + b"\r\n\r\n"))
            continue
        headers = {"WARC-Date": date}
        if kind == "response":
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(HTML.format(text).encode()),
                http_headers=http, warc_headers_dict=headers)
        else:
            record = writer.create_warc_record(url, "conversion", payload=io.BytesIO(text.encode()),
                                               warc_content_type="text/plain",
                                               warc_headers_dict=headers)
        writer.write_record(record)
    path.write_bytes(out.getvalue())


def _rows(spark, cfg, name, *columns):
    return sorted(tuple(r) for r in read_table(spark, cfg, name).select(*columns).collect())


def _expected(spark, rows):
    return spark.createDataFrame(rows, "url string, crawl_date date")


def test_commoncrawl_tree_dates_each_record_by_its_warc_date(spark, make_cfg, tmp_path):
    crawl = tmp_path / "cc"
    _warc(crawl / SEG / "warc" / "CC-MAIN-20231128-00000.warc.gz", "response", [
        ("https://a.example/1", "2023-11-28T09:41:06Z", "Tide pools hold life."),
        ("https://a.example/2", "2023-11-30T23:59:59Z", "Kelp forests sway."),
        ("https://a.example/3", "2023-12-01T00:00:00Z", "Anemones close at noon."),
        ("https://a.example/old", "1985-06-01T00:00:00Z", "A date before the web.")])
    _warc(crawl / SEG / "wet" / "CC-MAIN-20231128-00000.warc.wet.gz", "conversion", [
        ("https://b.example/1", "2023-11-28T10:00:00Z", "Converted text one."),
        ("https://b.example/2", "2023-12-02T08:00:00Z", "Converted text two."),
        ("https://b.example/nodate", None, "A record without WARC-Date.")])
    _warc(crawl / "crawl-data/CC-MAIN-2024-10/segments/1/wet/x.warc.wet.gz", "conversion", [
        ("https://c.example/1", "2024-02-21T12:00:00Z", "March crawl text.")])
    _warc(crawl / "extra" / "misplaced.warc.wet.gz", "conversion", [
        ("https://d.example/1", "2023-11-28T10:00:00Z", "Outside the tree.")])
    cfg = make_cfg(f"input.path={crawl}")
    counts = ingest(spark, cfg)
    assert counts.conserved and counts.by_record and counts.total_read == 9
    expected = [("https://a.example/1", D(2023, 11, 28)), ("https://a.example/2", D(2023, 11, 30)),
                ("https://a.example/3", D(2023, 12, 1)), ("https://b.example/1", D(2023, 11, 28)),
                ("https://b.example/2", D(2023, 12, 2)),
                ("https://b.example/nodate", D(2023, 11, 27)),   # the crawl's start
                ("https://c.example/1", D(2024, 2, 21))]
    docs = read_table(spark, cfg, "docs").select("url", "crawl_date")
    assert_df_equality(docs, _expected(spark, expected), ignore_row_order=True,
                       ignore_nullable=True)
    assert _rows(spark, cfg, "quarantine", "source_file", "reason", "crawl_date") == [
        (f"{SEG}/warc/CC-MAIN-20231128-00000.warc.gz", "implausible_date", None),
        ("extra/misplaced.warc.wet.gz", "bad_partition", None)]

    # a --dates run reads the crawls whose window holds the date, keeps that date only
    before = read_table(spark, cfg, "docs").where(F.col("crawl_date") != D(2023, 12, 2))
    before_rows = sorted(map(tuple, before.collect()))
    daily = ingest(spark, cfg, [D(2023, 12, 2)])
    assert daily.kept == {D(2023, 12, 2): 1} and daily.conserved
    after = read_table(spark, cfg, "docs")
    assert sorted(map(tuple, after.where(F.col("crawl_date") != D(2023, 12, 2)).collect())) == (
        before_rows)
    assert after.count() == len(expected)


def _fineweb(root: Path) -> list[tuple[str, dt.date | None]]:
    """A FineWeb-style export: data/<dump>/000_0000N.parquet with FineWeb's columns."""
    expected = []
    dumps = {"CC-MAIN-2013-20": ["2013-05-18T07:24:47Z", "2013-05-19T10:00:00Z", ""],
             "CC-MAIN-2023-50": ["2023-11-29T01:02:03Z", "2099-01-01T00:00:00Z",
                                 "2023-12-03T20:00:00Z"]}
    for dump, stamps in dumps.items():
        (root / "data" / dump).mkdir(parents=True)
        for shard in range(2):
            urls = [f"https://{dump.lower()}.org/{shard}/{i}" for i in range(len(stamps))]
            pq.write_table(pa.table({
                "text": [f"Page {u} of {dump}." for u in urls],
                "id": [f"<urn:uuid:{shard}-{i}>" for i in range(len(stamps))],
                "dump": [dump] * len(stamps), "url": urls, "date": stamps,
                "language": ["en"] * len(stamps)}),
                root / "data" / dump / f"000_0000{shard}.parquet")
            expected += [(u, D.fromisoformat(s[:10])) for u, s in zip(urls, stamps, strict=True)
                         if s and not s.startswith("2099")]
    return expected


def test_fineweb_export_sharded_by_dump(spark, make_cfg, tmp_path, caplog):
    crawl = tmp_path / "fineweb"
    expected = _fineweb(crawl)
    cfg = make_cfg(f"input.path={crawl}", "input.lang_field=language")   # layout: auto
    with caplog.at_level("WARNING", logger="tailguard.io.ingest"):
        counts = ingest(spark, cfg)
    bad = [r.getMessage() for r in caplog.records if "as bad_date" in r.getMessage()]
    assert len(bad) == 1 and "data/CC-MAIN-2013-20/000_00000.parquet" in bad[0]
    assert "input.date_field" in bad[0]
    assert counts.conserved and counts.total_read == 12 and counts.total_kept == 8
    docs = read_table(spark, cfg, "docs")
    assert_df_equality(docs.select("url", "crawl_date"), _expected(spark, expected),
                       ignore_row_order=True, ignore_nullable=True)
    assert {r.lang for r in docs.collect()} == {"en"}
    assert counts.reasons() == {"bad_date": 2, "implausible_date": 2}
    assert {r.crawl_date for r in read_table(spark, cfg, "quarantine").collect()} == {None}


def test_hugging_face_dataset_directory_with_a_timestamp_column(spark, make_cfg, tmp_path):
    crawl = tmp_path / "hf"
    (crawl / "data").mkdir(parents=True)
    expected = []
    for shard in range(3):
        stamps = [dt.datetime(2021, 3, 1 + shard, 23, 30, tzinfo=dt.UTC),
                  dt.datetime(2021, 3, 10, 0, 15, tzinfo=dt.UTC)]
        urls = [f"https://hf.example/{shard}/{i}" for i in range(2)]
        pq.write_table(pa.table({"url": urls, "text": [f"Row {u}" for u in urls],
                                 "timestamp": pa.array(stamps, pa.timestamp("ms", tz="UTC"))}),
                       crawl / "data" / f"train-0000{shard}-of-00003.parquet")
        expected += [(u, s.date()) for u, s in zip(urls, stamps, strict=True)]
    (crawl / "README.md").write_text("---\nlicense: odc-by\n---\n")
    (crawl / ".gitattributes").write_text("*.parquet filter=lfs\n")   # hidden: ignored
    cfg = make_cfg(f"input.path={crawl}", "input.date_field=timestamp")
    counts = ingest(spark, cfg)
    assert counts.conserved and counts.total_kept == 6
    assert counts.reasons() == {"unsupported_file": 1}               # README.md
    docs = read_table(spark, cfg, "docs").select("url", "crawl_date")
    assert_df_equality(docs, _expected(spark, expected), ignore_row_order=True,
                       ignore_nullable=True)

    # provenance runs unchanged on what the column layout ingested
    from tailguard.provenance.job import run as provenance

    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    provenance(ctx)
    prov = read_table(spark, cfg, "provenance")
    assert prov.count() == 6 and prov.where("era = 'pre_ai'").count() == 6


# --- the daily run of the column layout equals the dated layout's -------------------

N_DAYS, PER_DAY, DAYS_PER_FILE = 12, 4, 3
FIRST = D(2024, 3, 1)


def _records():
    return [(FIRST + dt.timedelta(days=d), f"https://site{i % 3}.com/{d}/{i}",
             f"Record {i} of day {d}: words about tide pools and kelp {d * i}.")
            for d in range(N_DAYS) for i in range(PER_DAY)]


def _both_layouts(root: Path) -> tuple[Path, Path]:
    """The same records as crawl_date=/ JSONL directories and as Parquet shards by
    number (one row group per day, DAYS_PER_FILE days a file, shuffled within)."""
    dated, column = root / "dated", root / "column" / "data"
    column.mkdir(parents=True)
    by_day: dict[dt.date, list] = {}
    for day, url, text in _records():
        by_day.setdefault(day, []).append((url, text))
    for day, rows in by_day.items():
        (dated / f"crawl_date={day}").mkdir(parents=True)
        (dated / f"crawl_date={day}" / "part.jsonl").write_text(
            "".join(json.dumps({"url": u, "text": t}) + "\n" for u, t in rows))
    days = sorted(by_day)
    n_files = N_DAYS // DAYS_PER_FILE
    for f in range(n_files):
        with pq.ParquetWriter(column / f"train-{f:05d}-of-{n_files:05d}.parquet", pa.schema(
                [("url", pa.string()), ("text", pa.string()), ("date", pa.string())])) as w:
            for day in days[f * DAYS_PER_FILE:(f + 1) * DAYS_PER_FILE]:
                rows = by_day[day][::-1]
                w.write_table(pa.table({"url": [u for u, _ in rows], "text": [t for _, t in rows],
                                        "date": [f"{day}T12:00:00Z"] * len(rows)}))
    return dated, column.parent


def test_daily_column_run_reads_only_files_that_can_hold_the_date(spark, make_cfg, tmp_path):
    dated_root, column_root = _both_layouts(tmp_path)
    day = FIRST + dt.timedelta(days=7)
    dated_cfg = make_cfg(f"input.path={dated_root}", f"output.root={tmp_path / 'dated_out'}")
    column_cfg = make_cfg(f"input.path={column_root}", f"output.root={tmp_path / 'col_out'}")
    ingest(spark, column_cfg)                                  # the first (full) run
    untouched = sorted(map(tuple, read_table(spark, column_cfg, "docs")
                           .where(F.col("crawl_date") != day).collect()))

    # a shard that arrived broken: no footer, so no range, so the daily run opens it
    (column_root / "data" / "zz-broken.parquet").write_bytes(b"not parquet at all")
    uri, plan = ingest_mod.plan_run(column_cfg, [day])
    assert [t.source_file for t in plan.tasks] == ["data/train-00002-of-00004.parquet",
                                                   "data/zz-broken.parquet"]
    assert plan.footers_read == 1                               # the others: cached ranges
    assert plan.read_bytes * 3 < plan.listed_bytes              # 1 shard of 4
    counts = ingest_mod.ingest_plan(spark, column_cfg, uri, plan, [day])
    assert counts.kept == {day: PER_DAY} and counts.total_read == PER_DAY + 1  # others unread
    assert counts.quarantined == {day: {"unreadable_file": 1}}  # under the run's date
    ingest(spark, dated_cfg, [day])

    columns = ["doc_id", "url", "host", "domain", "crawl_date", "text", "n_chars", "n_words",
               "content_hash", "lang"]
    from_column = read_table(spark, column_cfg, "docs").where(F.col("crawl_date") == day)
    from_dated = read_table(spark, dated_cfg, "docs")
    assert from_dated.count() == PER_DAY
    assert_df_equality(from_column.select(*columns), from_dated.select(*columns),
                       ignore_row_order=True)
    assert sorted(map(tuple, read_table(spark, column_cfg, "docs")
                      .where(F.col("crawl_date") != day).collect())) == untouched


def test_with_run_dates_keeps_quarantine_rows_inside_the_run(spark):
    frame = spark.createDataFrame(
        [(D(2024, 1, 2), None, "kept"), (None, "unreadable_file", "failed file"),
         (D(2023, 11, 27), "unreadable_file", "cc file failed"), (D(2024, 1, 3), "oversize", "x"),
         (None, None, "summary row")],
        "crawl_date date, reason string, note string")
    out = ingest_mod.with_run_dates(frame, [D(2024, 1, 3), D(2024, 1, 2)])
    expected = spark.createDataFrame(
        [(D(2024, 1, 2), None, "kept"), (D(2024, 1, 2), "unreadable_file", "failed file"),
         (D(2024, 1, 2), "unreadable_file", "cc file failed"),
         (D(2024, 1, 3), "oversize", "x"), (None, None, "summary row")],
        "crawl_date date, reason string, note string")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_tree_no_layout_fits_stops_with_one_line(tmp_path, capsys):
    (tmp_path / "crawl" / "notes").mkdir(parents=True)
    (tmp_path / "crawl" / "notes" / "a.txt").write_text("x")
    code = cli.main(["ingest", "--set", f"input.path={tmp_path / 'crawl'}",
                     "--set", f"output.root={tmp_path / 'out'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "input.layout" in err[0] and str(tmp_path / "crawl") in err[0]


@pytest.mark.parametrize("date", ["1989-12-31", "2999-01-01"])
def test_implausible_dates_are_refused_before_reading(tmp_path, date):
    cfg_sets = ("--set", f"input.path={tmp_path}", "--set", f"output.root={tmp_path / 'o'}")
    assert cli.main(["ingest", *cfg_sets, "--dates", date]) == 2
