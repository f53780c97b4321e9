"""File readers, crawl listing and per-batch record finishing: no Spark, tiny files."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tailguard.errors import InputError
from tailguard.io import listing
from tailguard.io.readers import RAW_SCHEMA, ReadOptions, read_file
from tailguard.io.records import RECORDS_SCHEMA, RecordOptions, finish_batch

OPTS = ReadOptions(raw_prefix_bytes=64, batch_records=3)
LOCAL = pafs.LocalFileSystem()
PAGE = ("<html><head><title>T</title></head><body><nav>Home | About | Login</nav>"
        "<article><h1>Tide pools</h1><p>{body}</p></article>"
        "<footer>Copyright footer text</footer></body></html>")


def read_rows(path, kind, compression=None, opts=OPTS):
    batches = list(read_file(LOCAL, str(path), kind, compression, opts))
    assert all(b.schema == RAW_SCHEMA for b in batches)
    assert all(b.num_rows <= opts.batch_records for b in batches)
    return [row for b in batches for row in b.to_pylist()]


def jsonl_bytes(records):
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n"
                    for r in records)


def write_warc(path, pages, gzip_records=True):
    """pages: (url, status, content_type, body bytes)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip_records)
        writer.write_record(writer.create_warcinfo_record("x.warc", {"software": "test"}))
        for url, status, ctype, body in pages:
            headers = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))


def write_wet(path, docs):
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, text in docs:
            writer.write_record(writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(text),
                warc_content_type="text/plain"))


GOOD = {"url": "https://a.com/1", "text": "one", "lang": "en"}
BAD_LINES = [
    GOOD,
    b"{not json",
    b"[1, 2]",
    {"text": "no url"},
    {"url": 7, "text": "url is a number"},
    {"url": "https://a.com/2", "text": ["not", "a", "string"]},
    b'{"url": "https://a.com/3", "text": "\xff\xfe"}',
    b'{"url": "https://a.com/4", "text": "lone \\ud800 surrogate"}',
    b"",
    {"url": "https://a.com/5", "text": "five", "lang": 3},
]


def test_jsonl_reader_reasons_and_line_indexes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl_bytes(BAD_LINES).replace(b"\n", b"\r\n", 1))
    rows = read_rows(path, "jsonl")
    assert [(r["record_index"], r["reason"]) for r in rows] == [
        (0, None), (1, "malformed_json"), (2, "malformed_json"), (3, None), (4, "bad_record"),
        (5, "bad_record"), (6, "invalid_utf8"), (7, "invalid_utf8"), (9, None)]
    assert (rows[0]["url"], rows[0]["text"], rows[0]["lang"]) == ("https://a.com/1", "one", "en")
    assert rows[3]["url"] is None and rows[3]["text"] == "no url"
    assert rows[-1]["lang"] is None  # a non-string lang is dropped, not fatal
    assert rows[1]["raw"] == b"{not json"
    assert rows[0]["raw"] == json.dumps(GOOD).encode()[:64]


@pytest.mark.parametrize(("suffix", "compress"), [
    ("jsonl.gz", gzip.compress),
    ("jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
])
def test_compressed_jsonl_matches_plain(tmp_path, suffix, compress):
    plain, packed = tmp_path / "a.jsonl", tmp_path / f"a.{suffix}"
    plain.write_bytes(jsonl_bytes(BAD_LINES))
    packed.write_bytes(compress(jsonl_bytes(BAD_LINES)))
    kind, compression = listing.file_kind(packed.name)
    assert read_rows(packed, kind, compression) == read_rows(plain, "jsonl")


def test_gzip_member_concatenation_is_read_whole(tmp_path):
    path = tmp_path / "multi.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes([GOOD])) + gzip.compress(jsonl_bytes([GOOD])))
    assert [r["record_index"] for r in read_rows(path, "jsonl", "gzip")] == [0, 1]


def test_not_gzip_is_one_unreadable_row_with_file_prefix(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(jsonl_bytes([GOOD, GOOD]))
    rows = read_rows(path, "jsonl", "gzip")
    assert [(r["record_index"], r["reason"]) for r in rows] == [(None, "unreadable_file")]
    assert rows[0]["raw"] == jsonl_bytes([GOOD, GOOD])[:64]


def test_truncated_gzip_keeps_good_records_and_quarantines_the_rest(tmp_path):
    data = gzip.compress(jsonl_bytes([dict(GOOD, text=f"doc {i} " * 200) for i in range(50)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    rows = read_rows(path, "jsonl", "gzip")
    good, last = rows[:-1], rows[-1]
    assert good and all(r["reason"] is None for r in good)
    assert [r["record_index"] for r in good] == list(range(len(good)))
    assert (last["record_index"], last["reason"]) == (len(good), "unreadable_file")


def test_unsupported_file_is_one_row(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_bytes(b"a,b\n1,2\n")
    rows = read_rows(path, "unsupported")
    assert [(r["record_index"], r["reason"], r["raw"]) for r in rows] == [
        (None, "unsupported_file", b"a,b\n1,2\n")]


def test_parquet_reader_types_and_indexes(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({
        "url": ["https://a.com/1", None, "https://a.com/3", "https://a.com/4"],
        "text": pa.array([b"one", b"two", b"\xff", None], pa.binary()),
        "lang": [1, 2, None, 4],
    }), path, row_group_size=2)
    rows = read_rows(path, "parquet", opts=ReadOptions(batch_records=2))
    assert [(r["record_index"], r["url"], r["text"], r["lang"], r["reason"]) for r in rows] == [
        (0, "https://a.com/1", "one", None, None), (1, None, "two", None, None),
        (2, "https://a.com/3", None, None, "invalid_utf8"), (3, "https://a.com/4", None, None,
                                                            None)]
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"url": [1, None], "body": ["x", "y"]}), wrong)
    assert [r["reason"] for r in read_rows(wrong, "parquet")] == ["bad_record", None]


def test_corrupt_parquet_is_unreadable(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not a parquet footer")
    assert [r["reason"] for r in read_rows(path, "parquet")] == ["unreadable_file"]


def test_warc_reader_extracts_main_content_of_html_responses(tmp_path):
    path = tmp_path / "a.warc.gz"
    write_warc(path, [
        ("http://Example.com/a#top", "200 OK", "text/html; charset=utf-8",
         PAGE.format(body="Anemones live in rock pools.").encode()),
        ("http://example.com/img.png", "200 OK", "image/png", b"\x89PNG\r\n"),
        ("http://example.com/gone", "404 Not Found", "text/html", b"<p>missing</p>"),
        ("http://example.com/b", "200 OK", "text/html; charset=iso-8859-1",
         PAGE.format(body="Caf\xe9 by the sea.").encode("latin-1")),
    ])
    rows = read_rows(path, "warc", "gzip")
    assert [(r["record_index"], r["url"], r["reason"]) for r in rows] == [
        (0, "http://Example.com/a#top", None), (1, "http://example.com/b", None)]
    assert "Anemones live in rock pools." in rows[0]["text"]
    assert "Login" not in rows[0]["text"] and "footer" not in rows[0]["text"]
    assert "Caf\u00e9 by the sea." in rows[1]["text"]
    assert rows[0]["raw"].startswith(b"<html>")
    everything = read_rows(path, "warc", "gzip", ReadOptions(html_main_content=False))
    assert "Login" in everything[0]["text"]


def test_plain_and_truncated_warc(tmp_path):
    pages = [(f"http://example.com/{i}", "200 OK", "text/html",
              PAGE.format(body=f"Page {i} " * 50).encode()) for i in range(3)]
    plain = tmp_path / "a.warc"
    write_warc(plain, pages, gzip_records=False)
    assert [r["reason"] for r in read_rows(plain, "warc")] == [None, None, None]
    cut = tmp_path / "cut.warc"
    cut.write_bytes(plain.read_bytes()[:-200])
    rows = read_rows(cut, "warc")
    assert [(r["record_index"], r["reason"]) for r in rows] == [
        (0, None), (1, None), (2, "unreadable_file")]


def test_wet_reader_keeps_text_as_is(tmp_path):
    path = tmp_path / "a.wet.gz"
    write_wet(path, [("https://a.org/x", b"Line one\nLine two"),
                     ("https://a.org/y", b"bad \xff bytes")])
    rows = read_rows(path, "wet", "gzip")
    assert [(r["record_index"], r["url"], r["text"], r["reason"]) for r in rows] == [
        (0, "https://a.org/x", "Line one\nLine two", None),
        (1, "https://a.org/y", None, "invalid_utf8")]


def test_listing_partitions_hidden_files_and_dates(tmp_path):
    for rel in ["crawl_date=2024-01-01/a.jsonl", "crawl_date=2024-01-01/sub/b.wet.gz",
                "crawl_date=2024-01-01/_SUCCESS", "crawl_date=2024-01-01/.a.jsonl.crc",
                "crawl_date=2024-01-01/_temporary/x.jsonl", "crawl_date=2024-02-30/c.parquet",
                "crawl_date=2024-03-01/d.txt", "stray.jsonl", "_logs/x.jsonl"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * len(rel))
    tasks = listing.list_tasks(str(tmp_path))
    assert [(t.source_file, t.crawl_date, t.bad_partition, t.kind, t.compression)
            for t in tasks] == [
        ("crawl_date=2024-01-01/a.jsonl", dt.date(2024, 1, 1), False, "jsonl", None),
        ("crawl_date=2024-01-01/sub/b.wet.gz", dt.date(2024, 1, 1), False, "wet", "gzip"),
        ("crawl_date=2024-02-30/c.parquet", None, True, "parquet", None),
        ("crawl_date=2024-03-01/d.txt", dt.date(2024, 3, 1), False, "unsupported", None),
        ("stray.jsonl", None, True, "jsonl", None)]
    only = listing.list_tasks(str(tmp_path), [dt.date(2024, 3, 1), dt.date(2030, 1, 1)])
    assert [t.source_file for t in only] == ["crawl_date=2024-03-01/d.txt"]


def test_listing_missing_root_is_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        listing.list_tasks(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        listing.list_tasks(str(tmp_path / "file"))


@pytest.mark.parametrize("name", ["crawl_date=2024-13-01", "crawl_date=20240101",
                                  "date=2024-01-01", "crawl_date=", "crawl_date=2024-1-1"])
def test_parse_partition_rejects_non_dates(name):
    assert listing.parse_partition(name) is None


def test_balance_spreads_by_size_deterministically():
    tasks = [listing.FileTask(f"f{i}", None, True, "jsonl", None, size)
             for i, size in enumerate([100, 1, 1, 1, 50, 50])]
    groups = listing.balance(tasks, 2)
    assert [[t.source_file for t in g] for g in groups] == [["f0", "f1", "f3"],
                                                            ["f4", "f5", "f2"]]
    assert listing.balance(tasks, 2) == groups
    assert len(listing.balance(tasks[:1], 8)) == 1


def _raw(rows):
    cols = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays([pa.array(c, f.type) for c, f in zip(cols, RAW_SCHEMA,
                                                                             strict=True)],
                                      schema=RAW_SCHEMA)


def test_finish_batch_reason_precedence_and_columns():
    opts = RecordOptions(read=ReadOptions(raw_prefix_bytes=16), max_chars=10)
    raw = _raw([
        (0, " HTTPS://WWW.BBC.CO.UK/a#f ", " Cafe\u0301\r\nok ", "en", None, b"r0"),
        (1, None, "text", None, None, b"r1"),
        (2, "ftp://x.org/", "text", None, None, b"r2"),
        (3, "https://x.org/", "a\x00b", None, None, b"r3"),
        (4, "https://x.org/", "   ", None, None, b"r4"),
        (5, "https://x.org/", "y" * 11, None, None, None),
        (6, None, None, None, "malformed_json", b"{oops \xff"),
        (None, None, None, None, "unreadable_file", None),
    ])
    out = finish_batch(raw, "d/f.jsonl", dt.date(2024, 1, 1), False, opts)
    assert out.schema == RECORDS_SCHEMA
    rows = out.to_pylist()
    assert [r["reason"] for r in rows] == [None, "missing_url", "invalid_url", "nul_bytes",
                                           "empty_text", "oversize", "malformed_json",
                                           "unreadable_file"]
    assert rows[0] | {"raw_prefix": rows[0]["raw_prefix"]} == {
        "crawl_date": dt.date(2024, 1, 1), "source_file": "d/f.jsonl", "record_index": 0,
        "url": "https://www.bbc.co.uk/a", "host": "www.bbc.co.uk", "domain": "bbc.co.uk",
        "text": "Caf\u00e9\nok", "n_chars": 7, "n_words": 2, "lang": "en", "reason": None,
        "raw_prefix": None}
    assert all(r[c] is None for r in rows[1:] for c in ("url", "host", "domain", "text",
                                                         "n_chars", "n_words", "lang"))
    assert rows[5]["raw_prefix"] == '{"url": "https:/'  # Parquet-style rows render as JSON
    assert rows[6]["raw_prefix"] == "{oops \\xff"
    assert rows[7]["raw_prefix"] is None
    bad = finish_batch(raw, "x/f.jsonl", None, True, opts).to_pylist()
    assert [r["reason"] for r in bad] == ["bad_partition"] * 7 + ["unreadable_file"]
    assert {r["crawl_date"] for r in bad} == {None}
