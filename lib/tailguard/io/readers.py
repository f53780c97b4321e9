"""Executor-side readers: one crawl file -> Arrow batches of raw records (no Spark import).

Every format yields the same RAW_SCHEMA, one row per record: where it is in the file, the
url / text / lang as found, a reader-level quarantine `reason` (or null) and the first
bytes of the raw record for quarantine. Readers never raise on bad input: a file that
cannot be opened or decoded becomes one `unreadable_file` row (for the whole file, or for
the rest of it after the last good record), a file of an unknown kind one
`unsupported_file` row. Files are opened through pyarrow.fs, so the same code reads
local disk, HDFS and S3.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import zstandard

log = logging.getLogger(__name__)

RAW_SCHEMA = pa.schema([
    ("record_index", pa.int64()), ("url", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("reason", pa.string()), ("raw", pa.binary()),
])
# (record_index, url, text, lang, reason, raw)
Record = tuple[int | None, str | None, str | None, str | None, str | None, bytes | None]
FILE_REASONS = ("unreadable_file", "unsupported_file")
_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ReadOptions:
    """The config values readers need, as a small picklable value for the executors."""

    url_field: str = "url"
    text_field: str = "text"
    lang_field: str = "lang"
    html_main_content: bool = True
    raw_prefix_bytes: int = 512
    batch_records: int = 2048
    batch_bytes: int = 64 << 20


class UnreadableError(Exception):
    """The bytes of a file are not what its name says (e.g. .gz that is not gzip)."""


@dataclass
class Progress:
    """How far a reader got, so a failure can quarantine exactly the rest of the file."""

    next_index: int = 0
    started: bool = False

    def take(self) -> int:
        index = self.next_index
        self.next_index += 1
        self.started = True
        return index


class _Batcher:
    """Collects records into RAW_SCHEMA batches bounded by record count and bytes."""

    def __init__(self, opts: ReadOptions):
        self._opts = opts
        self._rows: list[Record] = []
        self._bytes = 0

    def add(self, record: Record) -> pa.RecordBatch | None:
        self._rows.append(record)
        self._bytes += len(record[2] or "") + len(record[5] or b"")
        if len(self._rows) >= self._opts.batch_records or self._bytes >= self._opts.batch_bytes:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        rows, self._rows, self._bytes = self._rows, [], 0
        if not rows:
            return None
        try:
            return _records_to_batch(rows)
        except UnicodeEncodeError:  # lone surrogates, e.g. from a JSON "\ud800" escape
            return _records_to_batch([_drop_surrogates(r) for r in rows])


def _records_to_batch(rows: list[Record]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(col, type=field.type) for col, field in zip(columns, RAW_SCHEMA, strict=True)],
        schema=RAW_SCHEMA)


def _drop_surrogates(record: Record) -> Record:
    try:
        for value in record[1:4]:
            if value is not None:
                value.encode("utf-8")
    except UnicodeEncodeError:
        return (record[0], None, None, None, record[4] or "invalid_utf8", record[5])
    return record


def read_file(fs: pafs.FileSystem, path: str, kind: str, compression: str | None,
              opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    """All records of one file as RAW_SCHEMA batches; never raises on bad content."""
    from tailguard.io import warc  # resiliparse / fastwarc load only where WARCs are read

    batcher, progress, head = _Batcher(opts), Progress(), None
    try:
        with fs.open_input_file(path) as handle:
            head = handle.read(opts.raw_prefix_bytes)
            handle.seek(0)
            if kind == "unsupported":
                records = iter([(None, None, None, None, "unsupported_file", head)])
            elif compression and not head.startswith(_MAGIC[compression]):
                raise UnreadableError(f"named {compression} but is not")
            elif kind == "parquet":
                yield from _parquet_batches(handle, opts, progress)
                records = iter(())
            else:
                reader = {"jsonl": _jsonl_records, "warc": warc.warc_records,
                          "wet": warc.wet_records}[kind]
                records = reader(handle, compression, opts, progress)
            for record in records:
                yield from _some(batcher.add(record))
    except BaseException as exc:  # noqa: BLE001 - fastwarc panics derive from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        log.warning("unreadable %s after %d records: %s", path, progress.next_index, exc)
        index = progress.next_index if progress.started else None
        yield from _some(batcher.add(
            (index, None, None, None, "unreadable_file", head if index is None else None)))
    yield from _some(batcher.flush())


def _some(batch: pa.RecordBatch | None) -> list[pa.RecordBatch]:
    return [] if batch is None else [batch]


def _decompressed(handle, compression: str | None):
    if compression == "gzip":
        return gzip.GzipFile(fileobj=handle, mode="rb")
    if compression == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
    return handle


def _lines(stream) -> Iterator[bytes]:
    """Lines without their terminator, read in 1 MiB chunks (any file-like with read())."""
    pending = b""
    # read1: what one decompression step yields, so the records before a corrupt or cut
    # stretch of a compressed file are still returned before the error surfaces.
    read = getattr(stream, "read1", stream.read)
    while chunk := read(_CHUNK):
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        yield from pieces
    if pending:
        yield pending


def _jsonl_records(handle, compression: str | None, opts: ReadOptions,
                   progress: Progress) -> Iterator[Record]:
    """One record per non-blank line; record_index is the 0-based line number."""
    for line in _lines(_decompressed(handle, compression)):
        index = progress.take()
        if line.strip():
            yield _json_record(index, line.rstrip(b"\r"), opts)


def _json_record(index: int, line: bytes, opts: ReadOptions) -> Record:
    raw = line[: opts.raw_prefix_bytes]
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        return (index, None, None, None, "invalid_utf8", raw)
    try:
        obj = json.loads(decoded)
    except ValueError:
        return (index, None, None, None, "malformed_json", raw)
    if not isinstance(obj, dict):
        return (index, None, None, None, "malformed_json", raw)
    url, text, lang = obj.get(opts.url_field), obj.get(opts.text_field), obj.get(opts.lang_field)
    if not isinstance(url, str | None) or not isinstance(text, str | None):
        return (index, None, None, None, "bad_record", raw)
    return (index, url, text, lang if isinstance(lang, str) else None, None, raw)


def _string_column(batch: pa.RecordBatch, name: str) -> tuple[pa.Array, pa.Array]:
    """(values as string, reason) for one Parquet column; a wrong type is `bad_record`."""
    null_str = pa.scalar(None, pa.string())
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string()), pa.nulls(batch.num_rows, pa.string())
    column = batch.column(name)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string()), pa.nulls(batch.num_rows, pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        try:  # validates the whole column at once; per value only when some are bad
            return column.cast(pa.string()), pa.nulls(batch.num_rows, pa.string())
        except pa.ArrowInvalid:
            decoded = pa.array([_utf8_or_none(v) for v in column.to_pylist()], pa.string())
        bad = pc.and_(pc.is_valid(column), pc.is_null(decoded))
        return decoded, pc.if_else(bad, "invalid_utf8", null_str)
    reason = pc.if_else(pc.is_valid(column), "bad_record", null_str)
    return pa.nulls(batch.num_rows, pa.string()), reason


def _utf8_or_none(value: bytes | None) -> str | None:
    try:
        return None if value is None else value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _parquet_batches(handle, opts: ReadOptions, progress: Progress) -> Iterator[pa.RecordBatch]:
    """Columnar: whole row batches at once; record_index is the row number in the file."""
    parquet = pq.ParquetFile(handle)
    wanted = [opts.url_field, opts.text_field, opts.lang_field]
    columns = [c for c in dict.fromkeys(wanted) if c in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(batch_size=opts.batch_records, columns=columns):
        start = progress.next_index
        url, url_reason = _string_column(batch, opts.url_field)
        text, text_reason = _string_column(batch, opts.text_field)
        lang, lang_reason = _string_column(batch, opts.lang_field)
        lang = pc.if_else(pc.is_null(lang_reason), lang, pa.scalar(None, pa.string()))
        reason = pc.coalesce(url_reason, text_reason)
        index = pa.array(range(start, start + batch.num_rows), pa.int64())
        progress.next_index, progress.started = start + batch.num_rows, True
        yield pa.RecordBatch.from_arrays(
            [index, url, text, lang, reason, pa.nulls(batch.num_rows, pa.binary())],
            schema=RAW_SCHEMA)
