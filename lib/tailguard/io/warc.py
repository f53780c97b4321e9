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
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, detect_mime
from resiliparse.parse.html import HTMLTree

from tailguard.io.readers import Progress, ReadOptions, Record, UnreadableError

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ZLIB_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})


def _payload(record) -> bytes:
    body = record.reader.read()
    if len(body) < record.content_length:
        raise UnreadableError(
            f"record at byte {record.stream_pos} is truncated "
            f"({len(body)} of {record.content_length} bytes)")
    return body


def _html_payload(record) -> bytes | None:
    """The payload of a 2xx HTML response, else None (sniffed when no type is declared)."""
    status = record.http_headers.status_code if record.is_http else None
    if status is None or not 200 <= status < 300:
        return None
    content_type = (record.http_content_type or "").lower()
    if content_type and content_type not in _HTML_TYPES:
        return None
    body = _payload(record)
    return body if content_type or detect_mime(body) == "text/html" else None


def _html_text(body: bytes, charset: str | None, content_encoding: str,
               main_content: bool) -> tuple[str | None, str | None]:
    """(text, reason): the page's plain text, or a reason it has none."""
    if content_encoding in _ZLIB_ENCODINGS:
        try:
            body = zlib.decompress(body, wbits=47)  # 32 + 15: gzip or zlib header
        except zlib.error:
            return None, "bad_record"
    elif content_encoding not in ("", "identity"):
        return None, "bad_record"
    encoding = charset or detect_encoding(body)
    tree = HTMLTree.parse_from_bytes(body, encoding)
    return extract_plain_text(tree, main_content=main_content), None


def warc_records(handle, compression: str | None, opts: ReadOptions,
                 progress: Progress) -> Iterator[Record]:
    """HTML response records of a .warc / .warc.gz file (FastWARC detects the gzip)."""
    del compression  # FastWARC detects it from the stream
    for record in ArchiveIterator(handle, record_types=WarcRecordType.response,
                                  parse_http=True):
        body = _html_payload(record)
        if body is None:
            continue
        index = progress.take()
        encoding = (record.http_headers.get("Content-Encoding") or "").strip().lower()
        text, reason = _html_text(body, record.http_charset, encoding, opts.html_main_content)
        url = record.headers.get("WARC-Target-URI")
        yield (index, url, text, None, reason, body[: opts.raw_prefix_bytes])


def wet_records(handle, compression: str | None, opts: ReadOptions,
                progress: Progress) -> Iterator[Record]:
    """Conversion records of a .wet / .wet.gz file; the payload must be UTF-8."""
    del compression
    for record in ArchiveIterator(handle, record_types=WarcRecordType.conversion,
                                  parse_http=False):
        body = _payload(record)
        index = progress.take()
        raw = body[: opts.raw_prefix_bytes]
        url = record.headers.get("WARC-Target-URI")
        try:
            text, reason = body.decode("utf-8"), None
        except UnicodeDecodeError:
            text, reason = None, "invalid_utf8"
        yield (index, url, text, None, reason, raw)

