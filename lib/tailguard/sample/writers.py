"""Writers for the crawl formats ingest reads, byte-for-byte reproducible.

Every writer takes records in a fixed order and embeds no wall-clock time: gzip headers
carry mtime 0 and no file name, zstd frames carry no timestamp, Parquet files are written
by a pinned pyarrow, and WARC record ids and dates are derived from the url and crawl
date (UUID5), so the same seed gives identical files on any machine.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Extension -> writer; the order is also the order of part numbers inside a partition.
FORMATS = ("jsonl.gz", "parquet", "jsonl.zst", "warc.gz", "wet.gz")
TEXT_FORMATS = ("jsonl.gz", "parquet", "jsonl.zst")   # records carry {url, text} verbatim


@dataclass(frozen=True)
class CrawlRecord:
    """One record as written: `raw` (a verbatim JSONL line) overrides url/text."""

    url: str | None
    text: str | None
    crawl_date: str
    raw: bytes | None = None


def jsonl_bytes(records: list[CrawlRecord]) -> bytes:
    lines = []
    for rec in records:
        if rec.raw is not None:
            lines.append(rec.raw)
            continue
        row = {"url": rec.url, "text": rec.text} if rec.url is not None else {"text": rec.text}
        lines.append(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return b"\n".join(lines) + b"\n"


def write_jsonl_gz(path: Path, records: list[CrawlRecord]) -> None:
    path.write_bytes(gzip.compress(jsonl_bytes(records), compresslevel=6, mtime=0))


def write_jsonl_zst(path: Path, records: list[CrawlRecord]) -> None:
    path.write_bytes(zstandard.ZstdCompressor(level=10).compress(jsonl_bytes(records)))


def write_parquet(path: Path, records: list[CrawlRecord]) -> None:
    table = pa.table({"url": pa.array([r.url for r in records], pa.string()),
                      "text": pa.array([r.text for r in records], pa.string())})
    pq.write_table(table, path, compression="zstd", row_group_size=1024)


def _record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(parts))}>"


def _warc_date(crawl_date: str, index: int) -> str:
    seconds = index * 7
    return f"{crawl_date}T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def html_page(url: str, text: str) -> str:
    """The text as an article page inside site chrome (nav, sidebar, footer, cookie note)
    that a main-content extractor is expected to drop."""
    host = url.split("/")[2]
    title = html.escape(" ".join(text.split()[:6]).rstrip(".,?!"))
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in text.split("\n\n"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} | {host}</title></head>\n<body>\n"
        f'<header><nav><a href="/">Home</a> <a href="/archive/">Archive</a> '
        f'<a href="/about/">About</a> <a href="/contact/">Contact</a></nav></header>\n'
        f"<main><article>\n{body}</article></main>\n"
        '<aside><h3>Popular posts</h3><ul><li><a href="/p/1">Start here</a></li>'
        '<li><a href="/p/2">Reader questions</a></li></ul></aside>\n'
        f"<footer><p>&copy; {host} &middot; <a href=\"/privacy\">Privacy</a> &middot; "
        '<a href="/terms">Terms</a></p><div class="cookie-banner">We use cookies to improve '
        "your experience.</div></footer>\n</body></html>\n"
    )


def _warcinfo(writer: WARCWriter, path: Path, crawl_date: str):
    payload = (f"software: tailguard-sample\r\nformat: WARC File Format 1.0\r\n"
               f"description: SYNTHETIC demo crawl {crawl_date}\r\n").encode()
    return writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(payload),
        warc_headers_dict={"WARC-Record-ID": _record_id(path.name, crawl_date, "warcinfo"),
                           "WARC-Date": _warc_date(crawl_date, 0), "WARC-Filename": path.name,
                           "Content-Type": "application/warc-fields"})


def write_warc_gz(path: Path, records: list[CrawlRecord]) -> None:
    """WARC/1.0 response records (HTTP 200 + HTML page), one gzip member per record."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.0")
    writer.write_record(_warcinfo(writer, path, records[0].crawl_date))
    for i, rec in enumerate(records):
        body = html_page(rec.url, rec.text).encode("utf-8")
        http_headers = StatusAndHeaders("200 OK", [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            rec.url, "response", payload=io.BytesIO(body), http_headers=http_headers,
            warc_headers_dict={"WARC-Record-ID": _record_id(rec.url, rec.crawl_date, "response"),
                               "WARC-Date": _warc_date(rec.crawl_date, i + 1)}))
    path.write_bytes(out.getvalue())


def write_wet_gz(path: Path, records: list[CrawlRecord]) -> None:
    """WET: WARC `conversion` records holding the page's extracted plain text."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.0")
    writer.write_record(_warcinfo(writer, path, records[0].crawl_date))
    for i, rec in enumerate(records):
        writer.write_record(writer.create_warc_record(
            rec.url, "conversion", payload=io.BytesIO(rec.text.encode("utf-8")),
            warc_headers_dict={
                "WARC-Record-ID": _record_id(rec.url, rec.crawl_date, "conversion"),
                "WARC-Refers-To": _record_id(rec.url, rec.crawl_date, "response"),
                "WARC-Date": _warc_date(rec.crawl_date, i + 1), "Content-Type": "text/plain"}))
    path.write_bytes(out.getvalue())


WRITERS = {"jsonl.gz": write_jsonl_gz, "parquet": write_parquet, "jsonl.zst": write_jsonl_zst,
           "warc.gz": write_warc_gz, "wet.gz": write_wet_gz}


def write_file(path: Path, fmt: str, records: list[CrawlRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[fmt](path, records)
