"""Hypothesis through the whole ingest (shared Spark session; few examples, each a crawl).

Each example is a small crawl of random files — good and bad records, CRLF, BOMs, gzip /
zstd, truncations and bit flips — under file names with spaces and non-ASCII. Ingest must
finish (it raises if any file's reader tally != kept + quarantined), every good record of
an unmutated file must be in `docs`, and every reason must be in the vocabulary.
"""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.io.ingest import ingest
from tailguard.schema import QUARANTINE_REASONS

names = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd", "Zs", "Lo"),
                              blacklist_characters="/\\\x00"),
                min_size=1, max_size=12).map(str.strip).filter(
                    lambda s: s and not s.startswith((".", "_")))
records = st.lists(st.one_of(
    st.builds(lambda n: {"url": f"https://fz.example.org/{n}", "text": f"kept text {n}"},
              st.integers(0, 10**9)),
    st.sampled_from([b"{", b"NaN", b'"s"', b"\xff", b'{"url": 3}', b"[" * 2000])),
    max_size=12)
files = st.lists(st.tuples(names, records, st.sampled_from([None, "gzip", "zstd"]),
                           st.booleans(), st.booleans(), st.integers(0, 10**6)),
                 min_size=1, max_size=4, unique_by=lambda f: f[0])


def _bytes(items, crlf, bom):
    lines = [json.dumps(i).encode() if isinstance(i, dict) else i for i in items]
    data = (b"\r\n" if crlf else b"\n").join(lines) + b"\n"
    return (b"\xef\xbb\xbf" if bom else b"") + data


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(crawl=files)
def test_random_crawls_ingest_and_account_for_every_record(spark, make_cfg, tmp_path_factory,
                                                           crawl):
    root = tmp_path_factory.mktemp("fz")
    day = root / "crawl" / "crawl_date=2024-05-01" / "sub dír"
    day.mkdir(parents=True)
    expected = set()
    for name, items, compression, crlf, bom, mutation in crawl:
        data = _bytes(items, crlf, bom)
        suffix = {None: ".jsonl", "gzip": ".jsonl.gz", "zstd": ".jsonl.zst"}[compression]
        if compression == "gzip":
            data = gzip.compress(data)
        elif compression == "zstd":
            data = zstandard.ZstdCompressor().compress(data)
        if mutation % 3 == 0:  # a third of the files get a bit flip or a cut
            data = bytearray(data)
            if mutation % 2 and data:
                data[mutation % len(data)] ^= 0x10
            else:
                del data[mutation % (len(data) + 1):]
            data = bytes(data)
        else:
            expected |= {i["text"] for i in items if isinstance(i, dict)}
        (day / f"{name}{suffix}").write_bytes(data)
    cfg = make_cfg(f"input.path={root / 'crawl'}", f"output.root={root / 'tables'}")
    counts = ingest(spark, cfg)
    assert counts.conserved
    if counts.total_kept:
        texts = {r["text"] for r in pq.read_table(cfg.table_path("docs")).to_pylist()}
        assert expected <= texts
    else:
        assert not expected
    assert set(counts.reasons()) <= set(QUARANTINE_REASONS)
