"""WARC and WET records (ISO 28500) -> raw records, via FastWARC and Resiliparse.

FastWARC (Bevendorff et al., "FastWARC / Resiliparse", OSSYM 2021) parses WARC several
times faster than warcio; Resiliparse's `extract_plain_text(main_content=True)` drops
navigation, footers and other boilerplate, the main-content extraction Common Crawl
derived corpora rely on (cf. FineWeb's use of trafilatura for the same step).

A WARC "record" here is a `response` record with a 2xx HTTP status and an HTML payload:
the other record types (request, metadata, warcinfo, revisit) and non-HTML responses
(images, PDFs) are not documents and are skipped, not counted. A WET record is a
`conversion` record; its payload is the text as is. A record whose payload is shorter
than its declared length means the file was cut: the reader raises and the caller
quarantines the rest of the file as `unreadable_file`.

FastWARC reads the bounded, cut-checked decompressed stream of `readers._inflate` (its
own gzip reader stops silently at a cut member, losing the record). A record or an
HTTP body (gzip / deflate Content-Encoding, inflated at most `max_record_bytes + 1`
bytes) over `max_record_bytes` is one `oversize` row, never read whole; a file with no
WARC record at all is `unreadable_file`.

With `ReadOptions.warc_dates` (the commoncrawl layout) each record carries the date of
its `WARC-Date` header (ISO 8601, dated in UTC as written: `io/dates.py`); a missing or
unusable one leaves it null, and the caller falls back to the crawl's start.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, detect_mime
from resiliparse.parse.html import HTMLTree

from tailguard.io.dates import parse_iso_date
from tailguard.io.readers import ChunkReader, Progress, ReadOptions, Record, UnreadableError

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ZLIB_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})


def _payload(record) -> bytes:
    body = record.reader.read()
    if len(body) < record.content_length:
        raise UnreadableError(
            f"record at byte {record.stream_pos} is truncated "
            f"({len(body)} of {record.content_length} bytes)")
    return body


def _is_html_response(record) -> bool:
    """A 2xx response whose declared type is HTML or missing (then sniffed on the body)."""
    status = record.http_headers.status_code if record.is_http else None
    if status is None or not 200 <= status < 300:
        return False
    content_type = (record.http_content_type or "").lower()
    return not content_type or content_type in _HTML_TYPES


def _inflate_body(body: bytes, content_encoding: str,
                  limit: int) -> tuple[bytes | None, str | None]:
    """(decoded body, reason): an HTTP body decoded with at most `limit` + 1 bytes out."""
    if content_encoding in ("", "identity"):
        return body, None
    if content_encoding not in _ZLIB_ENCODINGS:
        return None, "bad_record"
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        return None, "bad_record"
    if len(out) > limit:
        return None, "oversize"
    if not inflater.eof:  # cut short
        return None, "bad_record"
    return out, None


def _html_text(body: bytes, charset: str | None, main_content: bool) -> str:
    """The page's plain text (main content or all of it)."""
    encoding = charset or detect_encoding(body)
    tree = HTMLTree.parse_from_bytes(body, encoding)
    return extract_plain_text(tree, main_content=main_content)


def _archive(chunks: Iterator[bytes], record_types, parse_http: bool):
    """Every record of the stream (none at all: not a WARC file)."""
    seen = 0
    for record in ArchiveIterator(ChunkReader(chunks), record_types=record_types,
                                  parse_http=parse_http, stream_detect=False):
        seen += 1
        yield record
    if not seen:
        raise UnreadableError("no WARC record in the file")


def _warc_date(record, opts: ReadOptions):
    return parse_iso_date(record.headers.get("WARC-Date")) if opts.warc_dates else None


def warc_records(chunks: Iterator[bytes], opts: ReadOptions,
                 progress: Progress) -> Iterator[Record]:
    """HTML response records of a .warc / .warc.gz file (decompressed stream)."""
    limit = opts.max_record_bytes
    for record in _archive(chunks, WarcRecordType.any_type, parse_http=True):
        if record.record_type != WarcRecordType.response or not _is_html_response(record):
            continue
        url, date = record.headers.get("WARC-Target-URI"), _warc_date(record, opts)
        if record.content_length > limit:
            yield (progress.take(), url, None, None, "oversize", None, date)
            continue
        body = _payload(record)
        if not record.http_content_type and detect_mime(body) != "text/html":
            continue
        index = progress.take()
        encoding = (record.http_headers.get("Content-Encoding") or "").strip().lower()
        decoded, reason = _inflate_body(body, encoding, limit)
        text = None if decoded is None else _html_text(decoded, record.http_charset,
                                                       opts.html_main_content)
        yield (index, url, text, None, reason, body[: opts.raw_prefix_bytes], date)


def wet_records(chunks: Iterator[bytes], opts: ReadOptions,
                progress: Progress) -> Iterator[Record]:
    """Conversion records of a .wet / .wet.gz file; the payload must be UTF-8."""
    for record in _archive(chunks, WarcRecordType.any_type, parse_http=False):
        if record.record_type != WarcRecordType.conversion:
            continue
        url, date = record.headers.get("WARC-Target-URI"), _warc_date(record, opts)
        if record.content_length > opts.max_record_bytes:
            yield (progress.take(), url, None, None, "oversize", None, date)
            continue
        body = _payload(record)
        index = progress.take()
        raw = body[: opts.raw_prefix_bytes]
        try:
            text, reason = body.decode("utf-8"), None
        except UnicodeDecodeError:
            text, reason = None, "invalid_utf8"
        if text is not None and text.startswith("\ufeff"):
            text = text[1:]
        yield (index, url, text, None, reason, raw, date)
