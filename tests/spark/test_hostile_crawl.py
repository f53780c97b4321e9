"""Issue 20's hostile crawl, all at once: `tailguard ingest` exits 0, keeps every good
record, quarantines every bad one with a reason, stores no password anywhere, and its
largest process stays under 6 GB.

Peak memory is measured from outside: a thread polls /proc every 50 ms for every process
descending from the CLI (the Python driver, the Spark JVM, the PySpark daemon and its
workers) and keeps the largest VmHWM (the kernel's per-process peak resident set size);
`getrusage(RUSAGE_CHILDREN).ru_maxrss` (the largest reaped descendant) backs it up.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tailguard.schema import QUARANTINE_REASONS

pytestmark = pytest.mark.slow

DAY = "crawl_date=2024-03-01"
SECRET = "PASSWORD"
PEAK_LIMIT = 6 << 30


def _line(n: int, url: str | None = None) -> bytes:
    return json.dumps({"url": url or f"https://good.example.com/{n}",
                       "text": f"GOOD-{n} a record that must be kept"}).encode() + b"\n"


def _warc(path: Path, records) -> None:
    """records: (url, body bytes, extra HTTP headers)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, body, extra in records:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), *extra],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))


def build_hostile_crawl(root: Path) -> tuple[set[int], set[tuple[str, int | None, str]]]:
    """Every hostile case of issue 20 in one partition; returns (good record numbers,
    expected quarantine rows as (file, record_index, reason))."""
    day = root / DAY
    (day / "dír with space").mkdir(parents=True)
    good: set[int] = set()
    bad: set[tuple[str, int | None, str]] = set()

    def keep(*numbers):
        good.update(numbers)

    # a JSONL.gz starting with a UTF-8 BOM, and a record with its own BOM
    (day / "bom.jsonl.gz").write_bytes(gzip.compress(
        b"\xef\xbb\xbf" + _line(1) + b"\xef\xbb\xbf" + _line(2) + _line(3)))
    keep(1, 2, 3)
    # credentials in URLs: kept without them; quarantined ones do not keep them either
    (day / "creds.jsonl").write_bytes(
        _line(4, f"https://alice:{SECRET}@host.example.com/a")
        + _line(5, f"http://{SECRET}@host.example.com/b")
        + json.dumps({"url": f"https://alice:{SECRET}@host.example.com/c",
                      "text": ""}).encode() + b"\n"
        + json.dumps({"url": f"ftp://bob:{SECRET}@host.example.com/d",
                      "text": "x"}).encode() + b"\n")
    keep(4, 5)
    bad |= {("creds.jsonl", 2, "empty_text"), ("creds.jsonl", 3, "invalid_url")}
    # one line nested 5,000 deep, then 5 good records
    (day / "deep.jsonl").write_bytes(
        b'{"url": "https://a.com/", "text": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
        + b"".join(_line(n) for n in range(6, 11)))
    keep(*range(6, 11))
    bad.add(("deep.jsonl", 0, "malformed_json"))
    # a 2 MB gzip file that expands to 2 GB on one unterminated line, after a good record
    member = gzip.compress(b"a" * (64 << 20), compresslevel=9)
    with open(day / "bomb.jsonl.gz", "wb") as out:
        out.write(gzip.compress(_line(11) + b'{"url": "https://a.com/", "text": "'))
        for _ in range(32):
            out.write(member)
    keep(11)
    bad.add(("bomb.jsonl.gz", 1, "oversize"))
    # a 256 MB file without a newline
    with open(day / "long.jsonl", "wb") as out:
        out.write(b'{"url": "https://a.com/", "text": "')
        block = b"x" * (1 << 20)
        for _ in range(256):
            out.write(block)
    bad.add(("long.jsonl", 0, "oversize"))
    # a zstd JSONL cut in half: the records of its whole blocks before the cut are kept,
    # the rest is one row
    lines = [_line(n) for n in range(100, 20100)]  # many zstd blocks: a cut after some
    packed = zstandard.ZstdCompressor(level=1).compress(b"".join(lines))
    (day / "cut.jsonl.zst").write_bytes(packed[: len(packed) // 2])
    # hostile values between good records, CRLF line ends
    values = [b"NaN", b'"a bare string"', b"[1, 2]",
              b'{"url": "https://a.com/n", "text": 12}',
              b'{"url": "https://a.com/l", "text": ["a", "list"]}',
              b'{"url": "https://a.com/nan", "text": NaN}']
    reasons = ["malformed_json"] * 3 + ["bad_record"] * 3
    body = b""
    for i, value in enumerate(values):
        body += _line(20 + i).rstrip(b"\n") + b"\r\n" + value + b"\r\n"
        keep(20 + i)
        bad.add(("values.jsonl", 2 * i + 1, reasons[i]))
    (day / "values.jsonl").write_bytes(body)
    # Parquet whose url / text columns have other types, and one with credentials
    pq.write_table(pa.table({"url": pa.array([1, 2]), "text": ["a", "b"]}),
                   day / "wrong-url.parquet")
    pq.write_table(pa.table({"url": ["https://a.com/1", "https://a.com/2"],
                             "text": pa.array([[1], [2]])}), day / "wrong-text.parquet")
    bad |= {("wrong-url.parquet", 0, "bad_record"), ("wrong-url.parquet", 1, "bad_record"),
            ("wrong-text.parquet", 0, "bad_record"), ("wrong-text.parquet", 1, "bad_record")}
    pq.write_table(pa.table({"url": [f"https://carol:{SECRET}@pq.example.com/1"],
                             "text": ["GOOD-30 parquet with credentials"]}),
                   day / "creds.parquet")
    keep(30)
    # WARC: a record cut short, an HTTP gzip bomb body, credentials in the target URI
    page = b"<html><body><article><p>GOOD-%d a page to keep</p></article></body></html>"
    bomb = gzip.compress(b"<html><body><p>" + b"a" * (256 << 20), compresslevel=9)
    _warc(day / "pages.warc.gz", [
        (f"https://dave:{SECRET}@warc.example.com/1", page % 40, []),
        ("https://warc.example.com/bomb", bomb, [("Content-Encoding", "gzip")]),
        ("https://warc.example.com/2", gzip.compress(page % 41), [("Content-Encoding", "gzip")])])
    keep(40, 41)
    bad.add(("pages.warc.gz", 1, "oversize"))
    _warc(day / "cut.warc.gz", [(f"https://warc.example.com/c{i}", (page % (50 + i)) * 40, [])
                                for i in range(3)])
    whole = (day / "cut.warc.gz").read_bytes()
    (day / "cut.warc.gz").write_bytes(whole[:-200])
    # file names with spaces and non-ASCII
    (day / "dír with space" / "fïle ☃.jsonl").write_bytes(_line(60) + b"{oops\n" + _line(61))
    keep(60, 61)
    bad.add(("dír with space/fïle ☃.jsonl", 1, "malformed_json"))
    return good, bad


class PeakMemory:
    """Largest VmHWM over a process tree, polled from /proc while it runs."""

    def __init__(self, root_pid: int):
        self.root, self.peak, self.by_name = root_pid, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree, frontier = {self.root}, [self.root]
        while frontier:
            pid = frontier.pop()
            children = [p for p, parent in parents.items() if parent == pid and p not in tree]
            tree.update(children)
            frontier.extend(children)
        return sorted(tree)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            for pid in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if "VmHWM" in fields:
                    hwm = int(fields["VmHWM"].split()[0]) << 10
                    name = fields.get("Name", "?").strip()
                    self.by_name[name] = max(self.by_name.get(name, 0), hwm)
                    self.peak = max(self.peak, hwm)


def _all_values(root: Path) -> str:
    """Every value of every table file (decoded) plus every other file's bytes, as text."""
    parts = []
    for path in root.rglob("*"):
        if path.is_file() and path.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        elif path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_hostile_crawl_all_at_once(tmp_path):
    good, bad = build_hostile_crawl(tmp_path / "crawl")
    out = tmp_path / "tables"
    cli = Path(sys.executable).with_name("tailguard")
    proc = subprocess.Popen(
        [str(cli), "ingest", "--set", f"input.path={tmp_path / 'crawl'}",
         "--set", f"output.root={out}", "--set", "spark.master=local[2]",
         "--set", "spark.conf.spark.sql.shuffle.partitions=2", "--set", "spark.log_level=ERROR"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    with PeakMemory(proc.pid) as memory:
        stdout, stderr = proc.communicate(timeout=900)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss << 10
    print(f"peak RSS of the largest process: {max(memory.peak, reaped) / 2**30:.2f} GiB; "
          f"by name: { {k: round(v / 2**30, 2) for k, v in memory.by_name.items()} }")
    assert proc.returncode == 0, stderr[-3000:]

    docs = pq.read_table(out / "docs").to_pylist()
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    kept = {int(d["text"].split()[0][5:]) for d in docs if d["text"].startswith("GOOD-")}
    cut_zstd = {int(d["text"].split()[0][5:]) for d in docs
                if d["source_file"].endswith("cut.jsonl.zst")}
    cut_warc = {int(d["text"].split()[0][5:]) for d in docs
                if d["source_file"].endswith("cut.warc.gz")}
    assert len(docs) == len(good) + len(cut_zstd) + len(cut_warc)
    assert kept == good | cut_zstd | cut_warc
    # the records before each cut survive, in order
    assert cut_zstd and cut_zstd == set(range(100, 100 + len(cut_zstd)))
    assert cut_warc == set(range(50, 50 + len(cut_warc))) and len(cut_warc) < 3
    got = {(q["source_file"][len(DAY) + 1:], q["record_index"], q["reason"])
           for q in quarantine}
    assert bad <= got
    extra = got - bad
    assert extra == {("cut.jsonl.zst", len(cut_zstd), "unreadable_file"),
                     ("cut.warc.gz", len(cut_warc), "unreadable_file")}
    assert {q["reason"] for q in quarantine} <= set(QUARANTINE_REASONS)
    assert len(quarantine) == len(got)  # one row per bad record, no duplicates
    urls = {d["url"] for d in docs}
    assert {"https://host.example.com/a", "http://host.example.com/b",
            "https://pq.example.com/1", "https://warc.example.com/1"} <= urls
    assert SECRET not in _all_values(out)
    assert SECRET not in stdout and SECRET not in stderr
    assert max(memory.peak, reaped) < PEAK_LIMIT
