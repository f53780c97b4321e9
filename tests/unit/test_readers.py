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
    rows = [row + (None,) * (len(RAW_SCHEMA) - len(row)) for row in rows]  # no record_date
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
        "raw_prefix": None, "n_read": None}
    assert all(r[c] is None for r in rows[1:] for c in ("url", "host", "domain", "text",
                                                         "n_chars", "n_words", "lang"))
    assert rows[5]["raw_prefix"] == '{"url": "https:/'  # Parquet-style rows render as JSON
    assert rows[6]["raw_prefix"] == "{oops \\xff"
    assert rows[7]["raw_prefix"] is None
    bad = finish_batch(raw, "x/f.jsonl", None, True, opts).to_pylist()
    assert [r["reason"] for r in bad] == ["bad_partition"] * 7 + ["unreadable_file"]
    assert {r["crawl_date"] for r in bad} == {None}


# --- hostile input (issue 20): every case quarantines with a reason, neighbours survive ---

def _good(i):
    return {"url": f"https://a.com/{i}", "text": f"good record {i}"}


def _reasons(rows):
    return [(r["record_index"], r["reason"]) for r in rows]


def test_utf8_bom_at_file_start_and_before_a_record_is_not_an_error(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl_bytes([_good(0)])
                     + b"\xef\xbb\xbf" + jsonl_bytes([_good(1)]))
    rows = read_rows(path, "jsonl")
    assert _reasons(rows) == [(0, None), (1, None)]
    assert [r["url"] for r in rows] == ["https://a.com/0", "https://a.com/1"]
    packed = tmp_path / "bom.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert _reasons(read_rows(packed, "jsonl", "gzip")) == [(0, None), (1, None)]


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"url": "https://a.com/x", "text": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "malformed_json"),
    (b"[" * 100_000, "malformed_json"),
    (b"NaN", "malformed_json"),
    (b'"just a string"', "malformed_json"),
    (b'["a", "list"]', "malformed_json"),
    (b'{"url": "https://a.com/x", "text": NaN}', "bad_record"),
    (b'{"url": "https://a.com/x", "text": 12}', "bad_record"),
    (b'{"url": "https://a.com/x", "text": ["a"]}', "bad_record"),
    (b'{"url": "https://a.com/x", "text": {"a": 1}}', "bad_record"),
    (b'{"url": "https://a.com/x", "text": "' + b"9" * 5000 + b'", "n": ' + b"9" * 5000 + b"}",
     "malformed_json"),
])
def test_hostile_json_values_get_a_reason_and_neighbours_survive(tmp_path, line, reason):
    path = tmp_path / "h.jsonl"
    path.write_bytes(jsonl_bytes([_good(0), line, _good(2), _good(3)]))
    assert _reasons(read_rows(path, "jsonl")) == [(0, None), (1, reason), (2, None), (3, None)]


def test_memory_error_is_not_disguised_as_an_unreadable_file(tmp_path, monkeypatch):
    """A MemoryError says the executor is too small, not that the file is bad: it must fail
    the task (Spark retries it) instead of quarantining data depending on free memory."""
    from tailguard.io import readers

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(readers.json, "loads", exhausted)
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl_bytes([_good(0)]))
    with pytest.raises(MemoryError):
        read_rows(path, "jsonl")


def _many_good(n, size=200):
    return jsonl_bytes([dict(_good(i), text=f"doc {i} " + "w" * size) for i in range(n)])


def test_truncated_zstd_keeps_good_records_and_quarantines_the_rest(tmp_path):
    data = zstandard.ZstdCompressor(level=1).compress(_many_good(3000))
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    rows = read_rows(path, "jsonl", "zstd")
    good, last = rows[:-1], rows[-1]
    assert good and all(r["reason"] is None for r in good)
    assert [r["record_index"] for r in good] == list(range(len(good)))
    assert (last["record_index"], last["reason"]) == (len(good), "unreadable_file")


def test_zstd_cut_before_its_first_block_ends_is_still_a_row(tmp_path):
    data = zstandard.ZstdCompressor().compress(_many_good(10) * 50)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    assert _reasons(read_rows(path, "jsonl", "zstd")) == [(None, "unreadable_file")]


def test_zstd_frame_concatenation_is_read_whole(tmp_path):
    one = zstandard.ZstdCompressor().compress(jsonl_bytes([GOOD]))
    path = tmp_path / "multi.jsonl.zst"
    path.write_bytes(one + one + one)
    assert _reasons(read_rows(path, "jsonl", "zstd")) == [(0, None), (1, None), (2, None)]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_concatenated_members_larger_than_a_chunk_are_read_exactly_once(tmp_path, compression):
    """Members / frames that each inflate to several `max_length`-bounded steps: the bytes
    past a gzip member's end sit in both `unused_data` and `unconsumed_tail`, and joining
    the two read the next member twice (a CRC error on a 2 x 64 MiB bomb, an endless loop
    on 2 x 1 MiB members)."""
    from tailguard.io.readers import _inflate

    body = jsonl_bytes([_good(0)]) + b'{"text": "' + b"a" * (3 << 20) + b'"}\n'
    pack = ((lambda b: gzip.compress(b, compresslevel=9)) if compression == "gzip"
            else zstandard.ZstdCompressor(level=19).compress)
    members = [pack(body), pack(jsonl_bytes([_good(1)])), pack(body), pack(body)]
    path = tmp_path / "multi.jsonl"
    path.write_bytes(b"".join(members))
    expected = body + jsonl_bytes([_good(1)]) + body + body
    with open(path, "rb") as handle:  # a limit, so re-reading fails fast instead of looping
        out = b"".join(_inflate(handle, compression, 2 * len(expected)))
    assert out == expected
    rows = read_rows(path, "jsonl", compression,
                     ReadOptions(max_line_bytes=1 << 20, max_file_bytes=2 * len(expected)))
    assert _reasons(rows) == [(0, None), (1, "oversize"), (2, None), (3, None),
                              (4, "oversize"), (5, None), (6, "oversize")]


def test_zero_padding_after_a_gzip_member_is_skipped_like_gzip_does(tmp_path):
    """Tape / block-device copies pad gzip files with NULs; gzip(1) ignores them."""
    one = gzip.compress(jsonl_bytes([_good(0)]))
    path = tmp_path / "padded.jsonl.gz"
    path.write_bytes(one + b"\x00" * 70000 + one + b"\x00" * 512)
    assert _reasons(read_rows(path, "jsonl", "gzip")) == [(0, None), (1, None)]
    path.write_bytes(one + b"\x00" * 10 + b"\x1f\x8b\x08")  # a member that starts, then ends
    assert _reasons(read_rows(path, "jsonl", "gzip")) == [(0, None), (1, "unreadable_file")]


def _gzip_stream(pieces, level=1):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level) as gz:
        for piece in pieces:
            gz.write(piece)
    return out.getvalue()


def test_gzip_bomb_line_is_one_oversize_row_in_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.jsonl.gz"
    block = b"a" * (1 << 20)
    path.write_bytes(_gzip_stream([jsonl_bytes([_good(0)]), b'{"text": "',
                                   *([block] * 64), b'"}\n', jsonl_bytes([_good(2)])]))
    opts = ReadOptions(raw_prefix_bytes=16, max_line_bytes=1 << 20)
    tracemalloc.start()
    try:
        rows = read_rows(path, "jsonl", "gzip", opts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _reasons(rows) == [(0, None), (1, "oversize"), (2, None)]
    assert rows[1]["raw"] == b'{"text": "aaaaaa'
    assert peak < 24 << 20  # a 64 MiB line is never held whole


def test_file_past_max_file_bytes_keeps_the_records_before_and_one_oversize_row(tmp_path):
    data = _many_good(2000)  # ~440 KB
    for name, payload, compression in (
            ("a.jsonl", data, None), ("a.jsonl.gz", gzip.compress(data), "gzip"),
            ("a.jsonl.zst", zstandard.ZstdCompressor().compress(data), "zstd")):
        path = tmp_path / name
        path.write_bytes(payload)
        rows = read_rows(path, "jsonl", compression, ReadOptions(max_file_bytes=200_000))
        good, last = rows[:-1], rows[-1]
        assert 0 < len(good) < 2000 and all(r["reason"] is None for r in good), name
        assert (last["record_index"], last["reason"]) == (len(good), "oversize"), name


def test_line_splitting_scans_every_byte_once():
    """Linear, counted rather than timed: a line delivered in many chunks is split chunk by
    chunk, each byte scanned by `split` exactly once (the old `(pending + chunk).split`
    rescanned the whole pending line per chunk: 77 s for a 256 MB line without newline)."""
    from tailguard.io.readers import _lines

    scanned = [0]

    class Counted(bytes):
        def split(self, *args, **kwargs):
            scanned[0] += len(self)
            return super().split(*args, **kwargs)

    for n_chunks in (1, 7, 2048):
        scanned[0] = 0
        chunks = [Counted(b"x" * 4096)] * n_chunks + [Counted(b"\nnext\nlast")]
        lines = list(_lines(iter(chunks), 1 << 30))
        assert lines == [b"x" * 4096 * n_chunks, b"next", b"last"]
        assert scanned[0] == sum(len(c) for c in chunks)


def test_line_over_max_line_bytes_is_oversize_and_the_next_line_survives(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl_bytes([_good(0), {"url": "https://a.com/x", "text": "y" * 5000},
                                  _good(2)]) + b"z" * 9000)
    rows = read_rows(path, "jsonl", opts=ReadOptions(max_line_bytes=4096))
    assert _reasons(rows) == [(0, None), (1, "oversize"), (2, None), (3, "oversize")]


def _http_gzip_warc(path, bodies):
    """Response records whose HTTP bodies are gzip-encoded (Content-Encoding: gzip)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, body in bodies:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                                  ("Content-Encoding", "gzip")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))


def test_warc_http_gzip_bomb_body_is_oversize_and_neighbours_survive(tmp_path):
    page = gzip.compress(PAGE.format(body="Sea urchins.").encode())
    bomb = _gzip_stream([b"<html><body><p>" + b"a" * (1 << 20)] + [b"a" * (1 << 20)] * 63)
    path = tmp_path / "bomb.warc.gz"
    _http_gzip_warc(path, [("http://e.com/1", page), ("http://e.com/2", bomb),
                           ("http://e.com/3", page)])
    rows = read_rows(path, "warc", "gzip", ReadOptions(max_record_bytes=1 << 20))
    assert _reasons(rows) == [(0, None), (1, "oversize"), (2, None)]
    assert "Sea urchins." in rows[2]["text"]


def test_warc_record_over_max_record_bytes_is_oversize(tmp_path):
    path = tmp_path / "big.warc.gz"
    write_warc(path, [("http://e.com/1", "200 OK", "text/html", b"<p>small</p>"),
                      ("http://e.com/2", "200 OK", "text/html", b"<p>" + b"b" * 50_000),
                      ("http://e.com/3", "200 OK", "text/html", b"<p>small too</p>")])
    rows = read_rows(path, "warc", "gzip", ReadOptions(max_record_bytes=10_000))
    assert _reasons(rows) == [(0, None), (1, "oversize"), (2, None)]


def test_truncated_warc_gz_quarantines_the_cut_record(tmp_path):
    pages = [(f"http://example.com/{i}", "200 OK", "text/html",
              PAGE.format(body=f"Page {i} " * 50).encode()) for i in range(3)]
    path = tmp_path / "a.warc.gz"
    write_warc(path, pages)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[:-300])
    rows = read_rows(cut, "warc", "gzip")
    assert rows[-1]["reason"] == "unreadable_file"
    assert all(r["reason"] is None for r in rows[:-1])
    assert rows[-1]["record_index"] == len(rows) - 1


def test_garbage_named_warc_is_an_unreadable_row(tmp_path):
    path = tmp_path / "junk.warc"
    path.write_bytes(b"this is not a WARC file\r\n" * 100)
    assert [r["reason"] for r in read_rows(path, "warc")] == ["unreadable_file"]


def test_parquet_columns_of_other_types_are_bad_records_and_dictionary_strings_read(tmp_path):
    path = tmp_path / "types.parquet"
    pq.write_table(pa.table({
        "url": pa.array(["https://a.com/0", "https://a.com/1", "https://a.com/2"]
                        ).dictionary_encode(),
        "text": pa.array(["zero", "one", "two"]).dictionary_encode(),
    }), path)
    assert [(r["url"], r["text"], r["reason"]) for r in read_rows(path, "parquet")] == [
        ("https://a.com/0", "zero", None), ("https://a.com/1", "one", None),
        ("https://a.com/2", "two", None)]
    for i, column in enumerate([pa.array([[1], [2]]), pa.array([{"a": 1}, {"a": 2}]),
                                pa.array([1.5, None]), pa.array([True, False])]):
        wrong = tmp_path / f"wrong{i}.parquet"
        pq.write_table(pa.table({"url": ["https://a.com/0", "https://a.com/1"],
                                 "text": column}), wrong)
        reasons = [r["reason"] for r in read_rows(wrong, "parquet")]
        assert reasons == ["bad_record", "bad_record" if i != 2 else None], column.type


def test_quarantined_raw_prefix_never_holds_url_credentials():
    opts = RecordOptions(read=ReadOptions(raw_prefix_bytes=200))
    raw = _raw([
        (0, "https://alice:PASSWORD@a.com/x", "", None, None,
         b'{"url": "https://alice:PASSWORD@a.com/x", "text": ""}'),
        (1, None, None, None, "malformed_json", b'{"url": "ftp:\\/\\/bob:PASSWORD@b.org/'),
        (2, None, None, None, "malformed_json", b'{"u": "http://carol:PASSW'),
        (3, "https://alice:PASSWORD@a.com/y", "", None, None, None),
    ])
    rows = finish_batch(raw, "f.jsonl", None, False, opts).to_pylist()
    assert [r["reason"] for r in rows] == ["empty_text", "malformed_json", "malformed_json",
                                           "empty_text"]
    for r in rows:
        assert "PASSW" not in r["raw_prefix"] and "alice" not in r["raw_prefix"], r
    assert rows[0]["raw_prefix"].startswith('{"url": "https://a.com/x"')


def test_read_partition_tallies_each_file_independently_of_the_rows(tmp_path, monkeypatch):
    """The reader's own count travels in a per-file summary row, so a row lost after the
    reader (here: finish_batch drops one) shows up as read != kept + quarantined."""
    from tailguard.io import ingest as ingest_mod

    (tmp_path / "a.jsonl").write_bytes(jsonl_bytes([_good(0), b"{bad", _good(2)]))
    tasks = pa.RecordBatch.from_pylist([{"source_file": "a.jsonl", "crawl_date": None,
                                         "bad_partition": False, "kind": "jsonl",
                                         "compression": None}])
    opts = RecordOptions(read=ReadOptions())
    out = pa.Table.from_batches(list(
        ingest_mod._read_partition(iter([tasks]), str(tmp_path), opts))).to_pylist()
    summary = [r for r in out if r["n_read"] is not None]
    assert [(r["source_file"], r["n_read"]) for r in summary] == [("a.jsonl", 3)]
    assert len(out) - len(summary) == 3

    real = ingest_mod.finish_batch
    monkeypatch.setattr(ingest_mod, "finish_batch",
                        lambda raw, *a, **k: real(raw.slice(1), *a, **k))
    out = pa.Table.from_batches(list(
        ingest_mod._read_partition(iter([tasks]), str(tmp_path), opts))).to_pylist()
    assert [r["n_read"] for r in out if r["n_read"] is not None] == [3]
    assert len([r for r in out if r["n_read"] is None]) == 2
