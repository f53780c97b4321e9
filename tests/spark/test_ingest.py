"""`ingest` on tiny crawls in every format and every bad-input case (shared local session)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
import zstandard
from chispa import assert_df_equality
from chispa.schema_comparer import assert_schema_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tailguard import cli, schema
from tailguard.errors import InputError
from tailguard.io import ingest as ingest_mod
from tailguard.io.ingest import ingest
from tailguard.text.tokenize import words

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
MAX_CHARS = 300
HTML = ("<html><body><nav>Menu Login</nav><article><p>{}</p></article>"
        "<footer>Footer links</footer></body></html>")


def _jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n"
                    for r in records)


def _warc(path: Path, kind: str, items) -> None:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, ctype, body in items:
            if kind == "response":
                headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)],
                                           protocol="HTTP/1.1")
                record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                   http_headers=headers)
            else:
                record = writer.create_warc_record(url, "conversion", payload=io.BytesIO(body),
                                                   warc_content_type="text/plain")
            writer.write_record(record)


def build_crawl(root: Path) -> None:
    """Every input format and every bad-input case; EXPECTED_* below follow from it."""
    d1, d2, bad = (root / f"crawl_date={d}" for d in (D1, D2, "2024-13-45"))
    for d in (d1, d2, bad):
        d.mkdir(parents=True)
    (d1 / "a.jsonl").write_bytes(_jsonl([
        {"url": "https://www.bbc.co.uk/news/1", "text": "Tide  pools\r\nhold life. ",
         "lang": "en"},
        {"url": "HTTPS://Blog.Example.com.au:443/post#c", "text": "Cafe\u0301 culture"},
        b"{this is not json",
        {"text": "no url here"},
        {"url": "   ", "text": "blank url"},
        {"url": "mailto:x@example.com", "text": "not a web url"},
        {"url": "https://example.org/empty", "text": " \n\t "},
        {"url": "https://example.org/big", "text": "x" * (MAX_CHARS + 1)},
        {"url": "https://example.org/nul", "text": "bin\u0000ary"},
        b'{"url": "https://example.org/utf", "text": "\xc3\x28"}',
        {"url": ["a"], "text": "wrong shape"},
        b"",
    ]))
    (d1 / "b.jsonl.gz").write_bytes(gzip.compress(_jsonl([
        {"url": "https://www.bbc.co.uk/news/1", "text": "Tide pools hold life again."},
        {"url": "https://www.bbc.co.uk/news/1", "text": "Tide  pools\nhold life."}])))
    (d1 / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl([
        {"url": "https://news.bbc.co.uk/x", "text": "Zstd compressed line."}])))
    (d1 / "fake.jsonl.gz").write_bytes(_jsonl([{"url": "https://a.com/", "text": "plain"}]))
    pq.write_table(pa.table({"url": ["https://shop.example.com.au/p", None],
                             "text": ["Parquet document.", "no url"],
                             "lang": ["en", None]}), d1 / "d.parquet")
    _warc(d1 / "e.warc.gz", "response", [
        ("http://www.example.com/a", "text/html", HTML.format("Anemones in rock pools.").encode()),
        ("http://www.example.com/logo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("http://www.example.com/b", "text/html", HTML.format("Kelp forests.").encode())])
    _warc(d1 / "f.wet.gz", "conversion", [
        ("https://wet.example.net/1", "text/plain", b"Converted text one."),
        ("https://wet.example.net/2", "text/plain", b"\xff\xfe broken")])
    (d1 / "notes.csv").write_text("a,b\n")
    (d1 / "_SUCCESS").write_text("")
    (d1 / ".d.parquet.crc").write_text("crc")
    (d2 / "a.jsonl").write_bytes(_jsonl([{"url": "https://www.bbc.co.uk/news/2", "text": "Two."},
                                         {"url": "https://example.org/", "text": "Three."}]))
    (bad / "a.jsonl").write_bytes(_jsonl([{"url": "https://a.com/", "text": "fine"},
                                          b"{broken"]))


EXPECTED_READ = {D1: 11 + 2 + 1 + 1 + 2 + 2 + 2 + 1, D2: 2, None: 2}
EXPECTED_REASONS = {
    D1: {"malformed_json": 1, "missing_url": 3, "invalid_url": 1, "empty_text": 1,
         "oversize": 1, "nul_bytes": 1, "invalid_utf8": 2, "bad_record": 1,
         "unreadable_file": 1, "unsupported_file": 1},
    None: {"bad_partition": 2},
}


@pytest.fixture(scope="module")
def crawl_run(spark, tmp_path_factory):
    """One ingest of the full crawl; tests below only read its outputs."""
    from tailguard.config import load_config

    tmp = tmp_path_factory.mktemp("ingest")
    build_crawl(tmp / "crawl")
    cfg = load_config((), (f"output.root={tmp / 'tables'}", f"input.path={tmp / 'crawl'}",
                           f"ingest.max_chars={MAX_CHARS}", "ingest.raw_prefix_bytes=40"))
    return cfg, ingest(spark, cfg)


def _table(spark, cfg, name):
    return spark.read.parquet(cfg.table_path(name))


def test_counts_are_conserved_and_match_the_input(spark, crawl_run):
    cfg, counts = crawl_run
    assert counts.read == EXPECTED_READ
    assert counts.quarantined == EXPECTED_REASONS
    assert counts.conserved
    assert counts.total_kept == 9 + 2
    assert counts.total_read == counts.total_kept + counts.total_quarantined
    assert _table(spark, cfg, "docs").count() == counts.total_kept
    assert _table(spark, cfg, "quarantine").count() == counts.total_quarantined


def test_docs_table_matches_contract(spark, crawl_run):
    cfg, _ = crawl_run
    docs = _table(spark, cfg, "docs").select(*schema.DOCS.fieldNames())
    assert_schema_equality(docs.schema, schema.DOCS, ignore_nullable=True)
    required = [f.name for f in schema.DOCS.fields if not f.nullable]
    assert docs.where(F.greatest(*[F.col(c).isNull() for c in required])).count() == 0
    rows = {(r.url, r.source_file): r for r in docs.collect()}
    first = rows[("https://www.bbc.co.uk/news/1", "crawl_date=2024-01-01/a.jsonl")]
    assert (first.host, first.domain, first.crawl_date, first.lang) == (
        "www.bbc.co.uk", "bbc.co.uk", D1, "en")
    assert first.text == "Tide  pools\nhold life."
    blog = rows[("https://blog.example.com.au/post", "crawl_date=2024-01-01/a.jsonl")]
    assert (blog.domain, blog.text) == ("example.com.au", "Caf\u00e9 culture")
    warc = rows[("http://www.example.com/a", "crawl_date=2024-01-01/e.warc.gz")]
    assert warc.text == "Anemones in rock pools." and warc.domain == "example.com"
    for r in rows.values():
        digest = hashlib.sha256(f"{r.url}\u0000{r.text}".encode()).hexdigest()[:32]
        assert r.doc_id == digest
        unsigned = xxhash.xxh64_intdigest(r.text.encode(), seed=42)
        assert r.content_hash == (unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned)
        assert (r.n_chars, r.n_words) == (len(r.text), len(words(r.text)))
    # the gzip re-crawl with CRLF-vs-LF and spacing differences is the same document
    recrawls = [r for r in docs.collect() if r.source_file.endswith("b.jsonl.gz")]
    assert [r.doc_id == first.doc_id for r in recrawls].count(True) == 1
    assert {r.content_hash == first.content_hash for r in recrawls} == {True, False}


def test_quarantine_table_matches_contract(spark, crawl_run):
    cfg, _ = crawl_run
    q = _table(spark, cfg, "quarantine").select(*schema.QUARANTINE.fieldNames())
    assert_schema_equality(q.schema, schema.QUARANTINE, ignore_nullable=True)
    rows = q.collect()
    assert {r.reason for r in rows} <= set(schema.QUARANTINE_REASONS)
    got = {(r.source_file.split("/")[-1], r.record_index, r.reason) for r in rows
           if r.crawl_date == D1}
    assert ("a.jsonl", 2, "malformed_json") in got and ("a.jsonl", 4, "missing_url") in got
    assert ("fake.jsonl.gz", None, "unreadable_file") in got
    assert ("notes.csv", None, "unsupported_file") in got
    assert ("f.wet.gz", 1, "invalid_utf8") in got and ("d.parquet", 1, "missing_url") in got
    bad = [r for r in rows if r.reason == "bad_partition"]
    assert {(r.crawl_date, r.source_file) for r in bad} == {
        (None, "crawl_date=2024-13-45/a.jsonl")}
    prefixes = {r.reason: r.raw_prefix for r in rows}
    assert prefixes["malformed_json"] == "{this is not json"
    assert prefixes["oversize"] == '{"url": "https://example.org/big", "text'  # 40 bytes
    assert all(len(r.raw_prefix.encode("utf-8", "surrogatepass")) <= 40 * 4 for r in rows)


def test_rerun_gives_identical_tables(spark, crawl_run):
    cfg, counts = crawl_run
    before = {n: _table(spark, cfg, n).collect() for n in ("docs", "quarantine")}
    assert ingest(spark, cfg) == counts
    for name, rows in before.items():
        assert _table(spark, cfg, name).collect() == rows  # same rows in the same order


def _partition_files(table: Path, date: dt.date) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (table / f"crawl_date={date}").iterdir()}


def test_dates_replace_only_their_partitions(spark, make_cfg, tmp_path):
    crawl = tmp_path / "crawl"
    (crawl / f"crawl_date={D1}").mkdir(parents=True)
    (crawl / f"crawl_date={D1}" / "a.jsonl").write_bytes(_jsonl([
        {"url": "https://a.com/1", "text": "one"}, {"url": "bad", "text": "two"}]))
    cfg = make_cfg(f"input.path={crawl}")
    ingest(spark, cfg)
    docs_root, q_root = Path(cfg.table_path("docs")), Path(cfg.table_path("quarantine"))
    untouched = (_partition_files(docs_root, D1), _partition_files(q_root, D1))

    (crawl / f"crawl_date={D2}").mkdir()
    (crawl / f"crawl_date={D2}" / "b.jsonl").write_bytes(_jsonl([
        {"url": "https://b.com/1", "text": "new"}]))
    counts = ingest(spark, cfg, [D2])
    assert counts.read == {D2: 1} and counts.kept == {D2: 1}
    assert (_partition_files(docs_root, D1), _partition_files(q_root, D1)) == untouched
    docs = _table(spark, cfg, "docs")
    assert sorted(r.crawl_date for r in docs.collect()) == [D1, D2]

    # re-running D1 after its only good record went bad leaves no stale D1 docs behind
    (crawl / f"crawl_date={D1}" / "a.jsonl").write_bytes(_jsonl([{"url": "bad", "text": "x"}]))
    d2_files = _partition_files(docs_root, D2)
    counts = ingest(spark, cfg, [D1])
    assert counts.kept == {} and counts.quarantined == {D1: {"invalid_url": 1}}
    assert sorted(r.crawl_date for r in _table(spark, cfg, "docs").collect()) == [D2]
    assert _partition_files(docs_root, D2) == d2_files
    assert _table(spark, cfg, "quarantine").where(F.col("crawl_date") == D1).count() == 1


def test_full_run_mirrors_the_input_and_drops_vanished_partitions(spark, make_cfg, tmp_path):
    crawl = tmp_path / "crawl"
    for date, url in ((D1, "https://a.com/1"), (D2, "https://b.com/1")):
        (crawl / f"crawl_date={date}").mkdir(parents=True)
        (crawl / f"crawl_date={date}" / "a.jsonl").write_bytes(_jsonl([
            {"url": url, "text": "words"}, {"url": "bad", "text": "x"}]))
    cfg = make_cfg(f"input.path={crawl}")
    ingest(spark, cfg)
    for path in (crawl / f"crawl_date={D2}").iterdir():
        path.unlink()
    (crawl / f"crawl_date={D2}").rmdir()
    ingest(spark, cfg)
    assert {r.crawl_date for r in _table(spark, cfg, "docs").collect()} == {D1}
    assert {r.crawl_date for r in _table(spark, cfg, "quarantine").collect()} == {D1}


def test_missing_input_path_is_an_input_error(spark, make_cfg, tmp_path, capsys):
    cfg = make_cfg(f"input.path={tmp_path / 'absent'}")
    with pytest.raises(InputError, match="does not exist"):
        ingest(spark, cfg)
    code = cli.main(["ingest", "--set", f"input.path={tmp_path / 'absent'}",
                     "--set", f"output.root={tmp_path / 'out'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "does not exist" in err[0]


RECORD_TYPES = T.StructType([T.StructField("url", T.StringType()),
                             T.StructField("text", T.StringType())])


def test_with_doc_id_and_content_hash(spark):
    df = spark.createDataFrame([("https://a.com/", "hello"), (None, None), ("", "")],
                               RECORD_TYPES)
    out = df.transform(ingest_mod.with_doc_id).transform(ingest_mod.with_content_hash)
    expected = spark.createDataFrame(
        [("https://a.com/", "hello", hashlib.sha256(b"https://a.com/\x00hello").hexdigest()[:32],
          xxhash.xxh64_intdigest(b"hello", seed=42) - (1 << 64)
          if xxhash.xxh64_intdigest(b"hello", seed=42) >= 1 << 63
          else xxhash.xxh64_intdigest(b"hello", seed=42)),
         (None, None, None, 42),
         ("", "", hashlib.sha256(b"\x00").hexdigest()[:32],
          spark.range(1).select(F.xxhash64(F.lit(""))).first()[0])],
        "url string, text string, doc_id string, content_hash long")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    with pytest.raises(InputError, match="with_doc_id needs columns"):
        ingest_mod.with_doc_id(df.drop("text"))


def test_split_selects_exact_contract_columns(spark):
    columns = [f.name for f in ingest_mod.RECORDS_SCHEMA] + ["doc_id", "content_hash"]
    row_ok = (D1, "f", 0, "https://a.com/", "a.com", "a.com", "t", 1, 1, None, None, None,
              None, "id", 7)
    row_bad = (None, "f", None, None, None, None, None, None, None, None, "bad_partition",
               "raw", None, None, None)
    summary = (D1, "f", None, None, None, None, None, None, None, None, None, None, 2, None,
               None)
    records = spark.createDataFrame(
        [row_ok, row_bad, summary],
        "crawl_date date, source_file string, record_index long, url string, host string, "
        "domain string, text string, n_chars int, n_words int, lang string, reason string, "
        "raw_prefix string, n_read long, doc_id string, content_hash long").select(*columns)
    docs, quarantine = ingest_mod.select_docs(records), ingest_mod.select_quarantine(records)
    assert_schema_equality(docs.schema, schema.DOCS, ignore_nullable=True)
    assert_schema_equality(quarantine.schema, schema.QUARANTINE, ignore_nullable=True)
    assert [r.doc_id for r in docs.collect()] == ["id"]
    assert [(r.crawl_date, r.reason, r.raw_prefix) for r in quarantine.collect()] == [
        (None, "bad_partition", "raw")]


# --- the checks that could not fail (issue 20) ---------------------------------------

def test_counts_come_per_file_from_the_readers(crawl_run):
    _, counts = crawl_run
    assert counts.read_files["crawl_date=2024-01-01/a.jsonl"] == 11
    assert counts.read_files["crawl_date=2024-01-01/notes.csv"] == 1
    assert counts.kept_files["crawl_date=2024-01-01/e.warc.gz"] == 2
    assert counts.quarantined_files["crawl_date=2024-01-01/a.jsonl"] == 9
    assert sum(counts.read_files.values()) == counts.total_read


def test_conservation_fails_when_a_record_is_lost_before_the_split(spark, crawl_run):
    """The reader's tally is independent of the frame: drop one record between reading and
    splitting and `read == kept + quarantined` must no longer hold."""
    cfg, _ = crawl_run
    uri = ingest_mod.listing.root_uri(cfg.input.path)
    tasks = ingest_mod.listing.list_tasks(uri)
    opts = ingest_mod.options_from_config(cfg, 512)
    records = ingest_mod.read_records(ingest_mod.file_tasks_frame(spark, tasks), uri, opts)
    lost = records.where(~((F.col("source_file") == "crawl_date=2024-01-01/a.jsonl")
                           & F.col("record_index").eqNullSafe(0)))
    lost = lost.transform(ingest_mod.with_doc_id).transform(ingest_mod.with_content_hash)
    counts = ingest_mod.count_frames(lost, ingest_mod.select_docs(lost),
                                     ingest_mod.select_quarantine(lost))
    assert not counts.conserved
    assert counts.lost() == {"crawl_date=2024-01-01/a.jsonl": 1}


def test_ingest_refuses_to_write_when_records_are_lost(spark, make_cfg, tmp_path, monkeypatch):
    crawl = tmp_path / "crawl" / f"crawl_date={D1}"
    crawl.mkdir(parents=True)
    (crawl / "a.jsonl").write_bytes(_jsonl([{"url": "https://a.com/1", "text": "one"},
                                            {"url": "https://a.com/2", "text": "two"}]))
    cfg = make_cfg(f"input.path={tmp_path / 'crawl'}")
    real = ingest_mod.select_docs
    monkeypatch.setattr(ingest_mod, "select_docs",
                        lambda records: real(records).where(F.col("url") != "https://a.com/2"))
    with pytest.raises(ingest_mod.RecordsLost, match="a.jsonl"):
        ingest(spark, cfg)
    assert not Path(cfg.table_path("docs")).exists()


def test_read_table_never_reads_a_missing_column_as_nulls(spark, make_cfg):
    from tailguard.io.tables import read_table, write_table

    cfg = make_cfg()
    rows = [("d1", "https://a.com/", "a.com", "a.com", D1, "f", "text", 4, 1, 7, None)]
    full = spark.createDataFrame(rows, schema.DOCS)
    write_table(full.drop("url"), cfg, "docs", partition_by="crawl_date")
    docs = read_table(spark, cfg, "docs")
    assert docs.columns == schema.DOCS.fieldNames()  # the contract, in order
    assert [r.text for r in docs.select("text").collect()] == ["text"]  # present: fine
    with pytest.raises(Exception, match="docs.*has no column 'url'"):
        docs.select("url").collect()
    with pytest.raises(Exception, match="has no column 'url'"):
        docs.where(F.col("url").isNull()).count()
    # a column of another type is a loud error at once
    write_table(full.withColumn("n_chars", F.lit("many")), cfg, "docs")
    with pytest.raises(InputError, match="n_chars"):
        read_table(spark, cfg, "docs")
    # an empty table (no data files at all) still reads as an empty frame with its columns
    empty = spark.createDataFrame([], schema.QUARANTINE)
    ingest_mod.tables.write_partitions(empty, cfg, "quarantine")
    assert read_table(spark, cfg, "quarantine").count() == 0
    assert read_table(spark, cfg, "quarantine").columns == schema.QUARANTINE.fieldNames()
