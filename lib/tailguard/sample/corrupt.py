"""The malformed records of the demo crawl: one or two of each way real crawls break.

Each case carries the quarantine reason ingest is expected to give it (schema.py's
QUARANTINE_REASONS), so the ingest tests can check the whole bad-input vocabulary on the
demo and the conservation law kept + quarantined = read.
"""

from __future__ import annotations

import datetime as dt
import json

from tailguard.sample.plan import Doc

BAD_PARTITION = "not-a-date"


def _line(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8")


def malformed_docs(dates: list[dt.date], host: str, text: str, oversize_chars: int,
                   ) -> list[Doc]:
    """Bad records placed in a pre-cutoff and a post-cutoff JSONL.gz file and a Parquet file.

    `text` is an ordinary document used as filler, `oversize_chars` the length of the
    record that must exceed ingest.max_chars.
    """
    early, late, mid = dates[14].isoformat(), dates[52].isoformat(), dates[30].isoformat()
    url = f"https://{host}/broken"
    reps = oversize_chars // (len(text) + 2) + 1
    big = "\n\n".join([text] * reps)[:oversize_chars]

    def doc(date: str, fmt: str, reason: str, raw: bytes | None = None, url_: str | None = None,
            text_: str | None = None) -> Doc:
        return Doc(url_, text_, date, fmt, "malformed", None, expected_reason=reason, raw=raw)

    return [
        doc(early, "jsonl.gz", "malformed_json", raw=b'{"url": "' + url.encode()
            + b'-1", "text": "an unterminated string'),
        doc(late, "jsonl.gz", "malformed_json", raw=b"<html><body>not json</body></html>"),
        doc(early, "jsonl.gz", "invalid_utf8", url_=f"{url}-2", raw=b'{"url": "' + url.encode()
            + b'-2", "text": "caf\xe9 na\xefve \xff\xfe bytes"}'),
        doc(early, "jsonl.gz", "missing_url", raw=_line({"text": text[:400]})),
        doc(mid, "parquet", "missing_url", text_=text[:300]),
        doc(early, "jsonl.gz", "invalid_url", url_="not a url",
            raw=_line({"url": "not a url", "text": text[:300]})),
        doc(late, "jsonl.gz", "invalid_url", url_="ftp://x",
            raw=_line({"url": "ftp://x", "text": text[:300]})),
        doc(late, "jsonl.gz", "empty_text", url_=f"{url}-3",
            raw=_line({"url": f"{url}-3", "text": ""})),
        doc(mid, "parquet", "empty_text", url_=f"{url}-4", text_="  \n\t "),
        doc(early, "jsonl.gz", "nul_bytes", url_=f"{url}-5",
            raw=_line({"url": f"{url}-5", "text": text[:200] + "\x00\x00\x00" + text[200:400]})),
        doc(late, "jsonl.gz", "oversize", url_=f"{url}-6",
            raw=_line({"url": f"{url}-6", "text": big})),
    ]


def bad_partition_doc(host: str, text: str) -> Doc:
    """A well-formed record under a crawl_date directory whose value is not a date."""
    url = f"https://{host}/misfiled"
    return Doc(url, text, None, "jsonl.gz", "malformed", None, expected_reason="bad_partition",
               raw=_line({"url": url, "text": text}), file=f"crawl/crawl_date={BAD_PARTITION}/"
               "part-00000.jsonl.gz", record_index=0)


def not_gzip_doc(date: dt.date, host: str, text: str) -> Doc:
    """Plain JSONL saved under a .jsonl.gz name: readers must fail on it, not guess.

    The whole file is one quarantine row (record_index None)."""
    url = f"https://{host}/not-gzip"
    return Doc(url, text, date.isoformat(), "jsonl.gz", "malformed", None,
               expected_reason="unreadable_file", raw=_line({"url": url, "text": text}) + b"\n",
               file=f"crawl/crawl_date={date.isoformat()}/part-00009.jsonl.gz")
