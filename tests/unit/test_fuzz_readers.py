"""Property-based fuzzing of the readers and the per-batch step (Hypothesis, no Spark).

Random and mutated files (truncations, bit flips, inserted random bytes, BOMs, CRLF,
gzip / zstd framing, random bytes named as any kind) go through `read_file` and
`finish_batch`. Properties: nothing raises; every row is accounted for (distinct,
increasing record indexes, at most one file-level row and only last); every good record
of an unmutated file survives intact, and of a truncated plain file every good record
before the cut. `derandomize=True` keeps the suite deterministic run to run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pyarrow.fs as pafs
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.io.readers import FILE_REASONS, ReadOptions, read_file
from tailguard.io.records import RecordOptions, finish_batch
from tailguard.schema import QUARANTINE_REASONS

LOCAL = pafs.LocalFileSystem()
OPTS = ReadOptions(raw_prefix_bytes=64, batch_records=7, max_line_bytes=4096,
                   max_record_bytes=8192, max_file_bytes=1 << 20)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SUFFIX = {None: "jsonl", "gzip": "jsonl.gz", "zstd": "jsonl.zst"}

# prose without NUL (NUL text is quarantined as nul_bytes on purpose) and not all blank
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=80).filter(lambda t: t.strip())
good_records = st.builds(lambda n, t: {"url": f"https://fuzz.example.com/{n}", "text": t},
                         st.integers(0, 10**6), texts)
bad_lines = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"NaN", b'"str"', b"[1]", b"{", b'{"url": 1, "text": "x"}',
                     b'{"url": "https://a.com/", "text": 5}', b"[" * 3000,
                     b'{"url": "https://a.com/", "text": "' + b"z" * 5000 + b'"}',
                     b"\xff\xfe\x00{", b'{"text": "\\ud800"}']),
)
lines = st.lists(st.one_of(good_records, bad_lines), min_size=0, max_size=25)


def _encode(items, crlf: bool, bom: bool) -> tuple[bytes, dict[int, dict]]:
    out, good = [], {}
    for i, item in enumerate(items):
        if isinstance(item, dict):
            good[i] = item
            out.append(json.dumps(item, ensure_ascii=bool(i % 2)).encode())
        else:
            out.append(item)
    data = (b"\r\n" if crlf else b"\n").join(out) + (b"\n" if out else b"")
    return (b"\xef\xbb\xbf" if bom else b"") + data, good


def _compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(data)
    return data


def _read(path, kind, compression):
    rows = [r for b in read_file(LOCAL, str(path), kind, compression, OPTS) for r in b.to_pylist()]
    indexes = [r["record_index"] for r in rows if r["record_index"] is not None]
    assert indexes == sorted(set(indexes)), "record indexes repeat or go backwards"
    file_rows = [i for i, r in enumerate(rows) if r["reason"] in FILE_REASONS
                 or (r["record_index"] is None)]
    assert len(file_rows) <= 1 and (not file_rows or file_rows[0] == len(rows) - 1)
    assert all(r["reason"] is None or r["reason"] in QUARANTINE_REASONS for r in rows)
    return rows


def _finish(rows_batches):
    for batch in rows_batches:
        out = finish_batch(batch, "f", dt.date(2024, 1, 1), False, RecordOptions(read=OPTS))
        assert out.num_rows == batch.num_rows
        for row in out.to_pylist():
            assert (row["reason"] is None) == (row["text"] is not None)


@FUZZ
@given(items=lines, crlf=st.booleans(), bom=st.booleans(),
       compression=st.sampled_from([None, "gzip", "zstd"]))
def test_unmutated_files_keep_every_good_record(tmp_path_factory, items, crlf, bom,
                                                compression):
    data, good = _encode(items, crlf, bom)
    path = tmp_path_factory.mktemp("f") / f"fïle name ☃.{SUFFIX[compression]}"
    path.write_bytes(_compress(data, compression))
    rows = _read(path, "jsonl", compression)
    by_index = {r["record_index"]: r for r in rows}
    for i, record in good.items():
        row = by_index[i]
        assert (row["reason"], row["url"], row["text"]) == (None, record["url"], record["text"])
    assert not [r for r in rows if r["reason"] in FILE_REASONS]
    _finish(read_file(LOCAL, str(path), "jsonl", compression, OPTS))


@FUZZ
@given(items=lines, cut=st.integers(0, 4000))
def test_truncated_plain_files_keep_the_good_records_before_the_cut(tmp_path_factory, items,
                                                                    cut):
    data, good = _encode(items, False, False)
    cut = min(cut, len(data))
    path = tmp_path_factory.mktemp("f") / "cut.jsonl"
    path.write_bytes(data[:cut])
    rows = {r["record_index"]: r for r in _read(path, "jsonl", None)}
    ends = {}
    offset = 0
    for i, line in enumerate(data.split(b"\n")):
        offset += len(line) + 1
        ends[i] = offset
    for i, record in good.items():
        if ends[i] <= cut:
            assert (rows[i]["reason"], rows[i]["text"]) == (None, record["text"])


@FUZZ
@given(items=lines, compression=st.sampled_from([None, "gzip", "zstd"]),
       mutations=st.lists(st.tuples(st.sampled_from(["flip", "insert", "cut"]),
                                    st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
                          min_size=1, max_size=4))
def test_mutated_files_never_raise(tmp_path_factory, items, compression, mutations):
    data = bytearray(_compress(_encode(items, False, False)[0], compression))
    for kind, where, payload in mutations:
        at = where % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] ^= 1 << (payload[0] % 8)
        elif kind == "insert":
            data[at:at] = payload
        else:
            del data[at:]
    path = tmp_path_factory.mktemp("f") / f"m.{SUFFIX[compression]}"
    path.write_bytes(bytes(data))
    _read(path, "jsonl", compression)
    _finish(read_file(LOCAL, str(path), "jsonl", compression, OPTS))


@FUZZ
@given(data=st.binary(max_size=3000),
       kind=st.sampled_from([("jsonl", None), ("jsonl", "gzip"), ("jsonl", "zstd"),
                             ("parquet", None), ("warc", None), ("warc", "gzip"),
                             ("wet", None), ("wet", "gzip")]),
       prefix=st.sampled_from([b"", b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PAR1",
                               b"WARC/1.0\r\n", b"WARC/1.1\r\nContent-Length: 99999999\r\n\r\n"]))
def test_random_bytes_of_any_kind_never_raise(tmp_path_factory, data, kind, prefix):
    path = tmp_path_factory.mktemp("f") / "random.bin"
    path.write_bytes(prefix + data)
    _read(path, *kind)
