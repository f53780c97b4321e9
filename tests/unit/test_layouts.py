"""Input layouts without Spark: record dates, Common Crawl paths, auto detection, the
column layout's pushdown and its cached listing (issue 40)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tailguard.config import load_config
from tailguard.errors import ConfigError, InputError
from tailguard.io import dates, layouts, listing, listing_cache
from tailguard.io.readers import ReadOptions, read_file
from tailguard.io.records import RecordOptions, finish_batch

LOCAL = pafs.LocalFileSystem()
D = dt.date

DATE_CASES = [
    ("2013-05-18T07:24:47Z", D(2013, 5, 18)), ("2024-02-29", D(2024, 2, 29)),
    ("2024-02-29 23:59:59", D(2024, 2, 29)), ("2024-01-01T23:30:00-05:00", D(2024, 1, 1)),
    ("2024-02-30", None), ("2024-1-1", None), ("2024-01-011", None), ("May 5 2013", None),
    ("", None), (None, None), ("20240101", None),
]


@pytest.mark.parametrize(("value", "expected"), DATE_CASES)
def test_iso_dates_are_dated_as_written(value, expected):
    assert dates.parse_iso_date(value) == expected


def test_arrow_dates_agree_with_the_python_rule():
    values = [v for v, _ in DATE_CASES]
    assert dates.arrow_dates(pa.array(values, pa.string())).to_pylist() == [
        e for _, e in DATE_CASES]
    late = dt.datetime(2024, 1, 1, 23, 30, tzinfo=dt.UTC)  # 2024-01-02 04:30 in UTC+5
    zoned = pa.array([late], pa.timestamp("us", tz="Asia/Karachi"))
    assert dates.arrow_dates(zoned).to_pylist() == [D(2024, 1, 1)]  # in UTC
    assert dates.parse_iso_date(late.astimezone(dt.timezone(dt.timedelta(hours=5)))) == D(
        2024, 1, 1)
    assert dates.arrow_dates(pa.array([1, 2])).to_pylist() == [None, None]  # numbers: no date


def test_nested_fields_and_bounds():
    record = {"metadata": {"WARC-Date": "2019-04-25T12:57:54Z"}, "a.b": 1}
    assert dates.field_value(record, "metadata.WARC-Date") == "2019-04-25T12:57:54Z"
    assert dates.field_value(record, "a.b") == 1
    assert dates.field_value(record, "metadata.missing.deeper") is None
    assert dates.bound("2013-05-18T07:24:47Z") == "2013-05-18"
    assert dates.bound(dt.datetime(2020, 1, 2, 3)) == "2020-01-02"
    assert dates.can_hold("2024-01-01", "2024-01-31", [D(2024, 1, 31)])
    assert not dates.can_hold("2024-01-01", "2024-01-31", [D(2024, 2, 1), D(2023, 12, 31)])
    assert dates.can_hold(None, None, [D(2024, 2, 1)])  # unknown range: open it


def test_crawl_start_from_the_crawl_id():
    assert layouts.crawl_start(2023, 50) == D(2023, 11, 27)   # ran 2023-11-28..12-12
    assert layouts.crawl_start(2024, 10) == D(2024, 2, 19)    # ran 2024-02-20..03-05
    with pytest.raises(ValueError):
        layouts.crawl_start(2023, 53)                          # 2023 has 52 ISO weeks
    seg = "segments/1700679099281.15"
    assert layouts.cc_place(f"crawl-data/CC-MAIN-2023-50/{seg}/warc/x.warc.gz") == D(2023, 11, 27)
    assert layouts.cc_place(f"CC-MAIN-2023-50/{seg}/wet/x.warc.wet.gz") == D(2023, 11, 27)
    assert layouts.cc_place(f"{seg}/wet/x.warc.wet.gz", "CC-MAIN-2023-50") == D(2023, 11, 27)
    assert layouts.cc_place(f"CC-MAIN-2023-50/{seg}/wat/x.warc.wat.gz") is None
    assert layouts.cc_place(f"CC-MAIN-2023-50/{seg}/robotstxt/x.warc.gz") is None
    assert layouts.cc_place("data/CC-MAIN-2013-20/000_00000.parquet") is None  # FineWeb
    assert layouts.in_cc_window(D(2023, 11, 27), [D(2023, 12, 12)])
    assert not layouts.in_cc_window(D(2023, 11, 27), [D(2024, 3, 1)])


def _files(*names):
    return [listing.ListedFile(n, 10, 0) for n in names]


def test_auto_detection_picks_one_layout_or_stops_with_one_line():
    def detect(top, files=(), has_date=True):
        return layouts.detect("/in", top, list(files), lambda f: has_date)

    assert detect([("crawl_date=2024-01-01", True), ("stray.jsonl", False)]) == "dated"
    assert detect([]) == "dated"   # an empty crawl: nothing to read, as before
    cc = _files("crawl-data/CC-MAIN-2023-50/segments/1/warc/a.warc.gz")
    assert detect([("crawl-data", True)], cc) == "commoncrawl"
    fineweb = _files("data/CC-MAIN-2013-20/000_00000.parquet")
    assert detect([("data", True)], fineweb) == "column"
    stops = [
        ([("crawl_date=2024-01-01", True), ("crawl-data", True)], cc, True),
        ([("data", True)], fineweb, False),
        ([("notes", True)], _files("notes/a.txt"), True),
        ([("crawl-data", True), ("data", True)], cc + fineweb, True),
    ]
    for top, files, has_date in stops:
        with pytest.raises(InputError) as caught:
            detect(top, files, has_date)
        message = str(caught.value)
        assert "\n" not in message and "/in" in message and "input.layout" in message
    with pytest.raises(InputError, match="input.date_field"):
        detect([("data", True)], fineweb, False)


def test_layout_keys_are_validated():
    cfg = load_config((), ("input.layout=column", "input.date_field=metadata.WARC-Date"))
    assert (cfg.input.layout, cfg.input.date_field) == ("column", "metadata.WARC-Date")
    assert load_config().input.layout == "auto"
    with pytest.raises(ConfigError, match="input.layout"):
        load_config((), ("input.layout=fineweb",))
    with pytest.raises(ConfigError, match="did you mean 'input.date_field'"):
        load_config((), ("input.date_fields=date",))


# --- readers: record dates, selection, row-group pushdown -----------------------------

def _parquet(path, groups, date_type=None):
    """One row group per list of (url, date) pairs."""
    writer, date_type = None, date_type or pa.string()
    for group in groups:
        table = pa.table({"url": [u for u, _ in group],
                          "text": [f"text of {u}" for u, _ in group],
                          "date": pa.array([d for _, d in group], date_type)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def _rows(path, kind, opts, compression=None, fallback=None):
    tally = [0]
    rows = [r for b in read_file(LOCAL, str(path), kind, compression, opts, tally, fallback)
            for r in b.to_pylist()]
    assert tally[0] == len(rows)
    return rows


def test_parquet_reader_dates_records_and_skips_row_groups(tmp_path, monkeypatch):
    path = tmp_path / "part.parquet"
    _parquet(path, [[("https://a.com/0", "2024-01-01T10:00:00Z"), ("https://a.com/1", "0-bad")],
                    [("https://a.com/2", "2024-01-02T00:00:00Z"),
                     ("https://a.com/3", "2024-01-03")]])
    every = _rows(path, "parquet", ReadOptions(date_field="date"))
    assert [(r["record_index"], r["record_date"], r["reason"]) for r in every] == [
        (0, D(2024, 1, 1), None), (1, None, "bad_date"), (2, D(2024, 1, 2), None),
        (3, D(2024, 1, 3), None)]
    read_groups = []
    real = pq.ParquetFile.iter_batches
    monkeypatch.setattr(pq.ParquetFile, "iter_batches",
                        lambda self, *a, **k: read_groups.append(k["row_groups"])
                        or real(self, *a, **k))
    one = _rows(path, "parquet", ReadOptions(date_field="date", select_dates=(D(2024, 1, 3),)))
    assert [(r["record_index"], r["url"]) for r in one] == [(3, "https://a.com/3")]
    assert read_groups == [[1]]       # the first row group's statistics exclude the date
    assert _rows(path, "parquet", ReadOptions(date_field="date",
                                              select_dates=(D(2023, 1, 1),))) == []


def test_timestamp_and_nested_date_columns(tmp_path):
    stamped = tmp_path / "ts.parquet"
    _parquet(stamped, [[("https://a.com/0", dt.datetime(2019, 4, 25, 23, 0, tzinfo=dt.UTC))]],
             pa.timestamp("ms", tz="UTC"))
    assert [r["record_date"] for r in _rows(stamped, "parquet", ReadOptions(
        date_field="date"))] == [D(2019, 4, 25)]
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"url": ["https://a.com/"], "text": ["t"],
                             "metadata": [{"WARC-Date": "2019-04-25T12:57:54Z"}]}), nested)
    assert [r["record_date"] for r in _rows(nested, "parquet", ReadOptions(
        date_field="metadata.WARC-Date"))] == [D(2019, 4, 25)]
    missing = _rows(nested, "parquet", ReadOptions(date_field="date"))
    assert [r["reason"] for r in missing] == ["bad_date"]


def test_jsonl_reader_dates_and_selects_records(tmp_path):
    path = tmp_path / "c4-train.00000-of-01024.json.gz"
    import gzip
    lines = [{"url": "https://a.com/0", "text": "a", "timestamp": "2019-04-25T12:57:54Z"},
             {"url": "https://a.com/1", "text": "b"},
             {"url": "https://a.com/2", "text": "c", "timestamp": "2019-04-26T00:00:00Z"}]
    path.write_bytes(gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in lines)
                                   + b"{broken\n"))
    assert listing.file_kind(path.name) == ("jsonl", "gzip")
    opts = ReadOptions(date_field="timestamp")
    rows = _rows(path, "jsonl", opts, "gzip")
    assert [(r["record_date"], r["reason"]) for r in rows] == [
        (D(2019, 4, 25), None), (None, "bad_date"), (D(2019, 4, 26), None),
        (None, "malformed_json")]
    selected = _rows(path, "jsonl", ReadOptions(date_field="timestamp",
                                                select_dates=(D(2019, 4, 26),)), "gzip")
    assert [r["url"] for r in selected] == ["https://a.com/2"]


def _raw_dated(record_dates, reasons=None):
    n = len(record_dates)
    from tailguard.io.readers import RAW_SCHEMA
    return pa.RecordBatch.from_arrays([
        pa.array(range(n), pa.int64()), pa.array([f"https://a.com/{i}" for i in range(n)]),
        pa.array(["words"] * n), pa.nulls(n, pa.string()),
        pa.array(reasons or [None] * n, pa.string()), pa.nulls(n, pa.binary()),
        pa.array(record_dates, pa.date32())], schema=RAW_SCHEMA)


def test_finish_batch_dates_each_record_and_quarantines_implausible_dates():
    opts = RecordOptions(read=ReadOptions(), today=D(2026, 12, 7))
    raw = _raw_dated([D(2024, 1, 1), None, D(1989, 12, 31), D(2026, 12, 8), D(2026, 12, 7),
                      None], [None, None, None, None, None, "bad_date"])
    rows = finish_batch(raw, "f.warc.gz", D(2023, 11, 27), False, opts).to_pylist()
    assert [(r["crawl_date"], r["reason"]) for r in rows] == [
        (D(2024, 1, 1), None), (D(2023, 11, 27), None),   # no own date: the file's
        (None, "implausible_date"), (None, "implausible_date"), (D(2026, 12, 7), None),
        (None, "bad_date")]
    dated_dir = finish_batch(_raw_dated([None]), "f.jsonl", D(1985, 6, 1), False, opts)
    assert dated_dir.to_pylist()[0]["reason"] == "implausible_date"


# --- the column layout's listing: selection by cached ranges --------------------------

def _corpus(root, n_files=4, days_per_file=3):
    """Parquet shards by number, each holding a few consecutive dates (one row group each)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        groups = [[(f"https://s{f}.com/{d}-{i}", (D(2024, 1, 1) + dt.timedelta(
            days=f * days_per_file + d)).isoformat() + "T08:00:00Z") for i in range(3)]
            for d in range(days_per_file)]
        _parquet(root / "data" / f"train-{f:05d}-of-{n_files:05d}.parquet", groups)


def test_column_plan_opens_only_files_that_can_hold_the_date_and_caches_footers(tmp_path):
    crawl = tmp_path / "crawl"
    _corpus(crawl)
    (crawl / "README.md").write_text("dataset card")
    cfg = load_config((), (f"input.path={crawl}", f"output.root={tmp_path / 'out'}"))
    uri = listing.root_uri(str(crawl))
    full = layouts.plan(cfg, uri, None)
    assert full.layout == "column" and full.footers_read == 4
    assert len(full.tasks) == 5       # every file, README.md too (unsupported_file)
    stored = json.loads((tmp_path / "out" / listing_cache.STATE_FILE).read_text())
    assert stored["date_field"] == "date" and stored["version"] == listing_cache.VERSION
    assert stored["files"]["data/train-00001-of-00004.parquet"]["lo"] == "2024-01-04"

    daily = layouts.plan(cfg, uri, [D(2024, 1, 5)])
    assert [t.source_file for t in daily.tasks] == ["data/train-00001-of-00004.parquet"]
    assert daily.footers_read == 0    # unchanged files: ranges from the cache
    assert daily.read_bytes * 3 < daily.listed_bytes

    # a new shard: only its footer is read, and a changed one is read again
    _corpus(tmp_path / "more", n_files=5)
    os.replace(tmp_path / "more" / "data" / "train-00004-of-00005.parquet",
               crawl / "data" / "train-00004-of-00005.parquet")
    new_day = layouts.plan(cfg, uri, [D(2024, 1, 14)])
    assert new_day.footers_read == 1
    assert [t.source_file for t in new_day.tasks] == ["data/train-00004-of-00005.parquet"]
    other = cfg.with_overrides("input.layout=column", "input.date_field=dump")
    assert layouts.plan(other, uri, [D(2024, 1, 5)]).footers_read == 5  # not its listing


def test_commoncrawl_plan_places_files_and_selects_crawls(tmp_path):
    seg = "crawl-data/CC-MAIN-2023-50/segments/1700679099281.15"
    for rel in [f"{seg}/warc/a.warc.gz", f"{seg}/wet/a.warc.wet.gz", f"{seg}/wat/a.warc.wat.gz",
                "crawl-data/CC-MAIN-2024-10/segments/1/wet/b.warc.wet.gz", "notes/x.warc.gz"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    cfg = load_config((), (f"input.path={tmp_path}", f"output.root={tmp_path / 'out'}"))
    uri = listing.root_uri(str(tmp_path))
    full = layouts.plan(cfg, uri, None)
    assert full.layout == "commoncrawl"
    placed = {t.source_file: (t.crawl_date, t.bad_partition) for t in full.tasks}
    assert placed[f"{seg}/warc/a.warc.gz"] == (D(2023, 11, 27), False)
    assert placed[f"{seg}/wat/a.warc.wat.gz"] == (None, True)
    assert placed["notes/x.warc.gz"] == (None, True)
    assert full.unplaced == (f"{seg}/wat/a.warc.wat.gz", "notes/x.warc.gz")
    daily = layouts.plan(cfg, uri, [D(2023, 12, 5)])
    assert [t.source_file for t in daily.tasks] == [f"{seg}/warc/a.warc.gz",
                                                   f"{seg}/wet/a.warc.wet.gz"]
