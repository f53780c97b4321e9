"""Executor-side readers: one crawl file -> Arrow batches of raw records (no Spark import).

Every format yields the same RAW_SCHEMA, one row per record: where it is in the file, the
url / text / lang as found, a reader-level quarantine `reason` (or null), the first
bytes of the raw record for quarantine and the record's own date (`record_date`: its
WARC-Date, or its `date_field`, when the input layout dates records, `io/layouts.py`).
A run of selected dates (`ReadOptions.select_dates`) produces only the records of those
dates, so the reader's count is of what the run selected; row groups of a Parquet file
whose statistics exclude every selected date are not read at all.

Readers never raise on bad input: a file that cannot be opened or decoded becomes one
`unreadable_file` row (for the whole file, or for the rest of it after the last good
record), a file of an unknown kind one `unsupported_file` row. Files are opened
through pyarrow.fs, so the same code reads local disk, HDFS and S3.

Crawl input is hostile, so every read is bounded (ReadOptions.max_*): decompression is
streamed in bounded steps (`_inflate`: zlib's `max_length`, zstd fed in small input
pieces) and checked for a cut stream; lines are split in linear time and a line over
`max_line_bytes` is skipped without being held (`_lines`); a WARC/WET record or HTTP body
over `max_record_bytes` and the rest of a file past `max_file_bytes` become `oversize`
rows. A MemoryError is not bad input (it depends on the executor, not the bytes), so it
fails the task instead of quarantining records nondeterministically.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import zstandard

from tailguard.io.dates import arrow_dates, can_hold, field_value, parse_iso_date, row_group_bounds

log = logging.getLogger(__name__)

RAW_SCHEMA = pa.schema([
    ("record_index", pa.int64()), ("url", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("reason", pa.string()), ("raw", pa.binary()),
    ("record_date", pa.date32()),
])
# (record_index, url, text, lang, reason, raw, record_date)
Record = tuple[int | None, str | None, str | None, str | None, str | None, bytes | None,
               dt.date | None]
FILE_REASONS = ("unreadable_file", "unsupported_file")
_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20      # decompressed bytes handed on per step (at most)
_READ = 1 << 16       # compressed bytes read from the file per step
# zstd has no output bound per call: feed it pieces this small, so one call yields at
# most ~32 MiB (a 4-byte RLE block expands to 128 KiB, the largest ratio the format has).
_ZSTD_PIECE = 1 << 10


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
    max_line_bytes: int = 16 << 20     # ingest.max_line_bytes
    max_record_bytes: int = 32 << 20   # ingest.max_record_bytes
    max_file_bytes: int = 16 << 30     # ingest.max_file_bytes
    date_field: str = ""               # column layout: input.date_field dates each record
    warc_dates: bool = False           # commoncrawl layout: WARC-Date dates each record
    select_dates: tuple[dt.date, ...] = ()  # only records of these dates ( () = all)


class UnreadableError(Exception):
    """The bytes of a file are not what its name says (e.g. .gz that is not gzip), or
    they stop in the middle of a compressed stream or a record (a cut file)."""


class FileTooLarge(Exception):
    """A file decompresses to more than `max_file_bytes`: the rest of it is `oversize`."""


@dataclass(frozen=True)
class Oversize:
    """Stands for a line longer than `max_line_bytes`, which is never held: its prefix."""

    prefix: bytes


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
        return (record[0], None, None, None, record[4] or "invalid_utf8", record[5], record[6])
    return record


def _selected(record: Record, fallback: dt.date | None, select: frozenset) -> bool:
    """Whether a run of `select` dates takes this record (all of them when empty); a
    file-level row always counts."""
    if not select or record[4] in FILE_REASONS:
        return True
    return (record[6] or fallback) in select


def read_file(fs: pafs.FileSystem, path: str, kind: str, compression: str | None,
              opts: ReadOptions, tally: list[int] | None = None,
              fallback_date: dt.date | None = None) -> Iterator[pa.RecordBatch]:
    """All records of one file as RAW_SCHEMA batches; never raises on bad content.

    `tally`, when given, is a one-element list that ends holding how many records the
    reader produced, counted here as they are produced and not from the batches, so a
    caller can check that every one of them reached the output. `fallback_date` dates a
    record without its own date when `opts.select_dates` selects.
    """
    from tailguard.io import warc  # resiliparse / fastwarc load only where WARCs are read

    batcher, progress, head = _Batcher(opts), Progress(), None
    select = frozenset(opts.select_dates)
    count = tally if tally is not None else [0]
    count[0] = 0
    try:
        with fs.open_input_file(path) as handle:
            head = handle.read(opts.raw_prefix_bytes)
            handle.seek(0)
            if kind in ("warc", "wet") and compression is None:  # sniffed: FastWARC's own
                compression = next((c for c, m in _MAGIC.items() if head.startswith(m)), None)
            if kind == "unsupported":
                records = iter([(None, None, None, None, "unsupported_file", head, None)])
            elif compression and not head.startswith(_MAGIC[compression]):
                raise UnreadableError(f"named {compression} but is not")
            elif kind == "parquet":
                for batch in _parquet_batches(handle, opts, progress, fallback_date):
                    count[0] += batch.num_rows
                    yield batch
                records = iter(())
            else:
                reader = {"jsonl": _jsonl_records, "warc": warc.warc_records,
                          "wet": warc.wet_records}[kind]
                records = reader(_inflate(handle, compression, opts.max_file_bytes),
                                 opts, progress)
            for record in records:
                if not _selected(record, fallback_date, select):
                    continue
                count[0] += 1
                yield from _some(batcher.add(record))
    except BaseException as exc:  # noqa: BLE001 - fastwarc panics derive from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit | MemoryError):
            raise
        reason = "oversize" if isinstance(exc, FileTooLarge) else "unreadable_file"
        log.warning("%s: %s after %d records: %s", reason, path, progress.next_index, exc)
        index = progress.next_index if progress.started else None
        count[0] += 1
        yield from _some(batcher.add(
            (index, None, None, None, reason, head if index is None else None, None)))
    yield from _some(batcher.flush())


def _some(batch: pa.RecordBatch | None) -> list[pa.RecordBatch]:
    return [] if batch is None else [batch]


def _inflate(handle, compression: str | None, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of a file in chunks of at most _CHUNK bytes, streamed.

    Never more than one chunk (plus one compressed read) is held, whatever the ratio, so a
    gzip bomb costs time in proportion to `limit` and no memory. A stream that ends
    inside a gzip member or a zstd frame raises UnreadableError (zstd's own stream reader
    just stops there, which made a cut .zst file vanish without a row); concatenated
    members / frames are read whole, and zero padding after a gzip member is skipped as
    gzip(1) does. More than `limit` bytes raises FileTooLarge.
    """
    chunks = {None: _plain_chunks, "gzip": _gzip_chunks, "zstd": _zstd_chunks}[compression]
    total = 0
    for chunk in chunks(handle):
        if total + len(chunk) > limit:  # the whole lines before the limit still count
            yield chunk[: limit - total]
            raise FileTooLarge(f"decompresses to more than {limit} bytes")
        total += len(chunk)
        if chunk:
            yield chunk


def _plain_chunks(handle) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def _gzip_chunks(handle) -> Iterator[bytes]:
    """Decompressed gzip members, each call bounded by `max_length` = _CHUNK.

    At a member's end only `unused_data` carries on: when the call was fed a previous
    `unconsumed_tail`, CPython leaves the bytes past the end in *both* attributes, and
    joining them re-read the next member twice (a CRC error, or with small members an
    endless loop). A `max_length` stop can also leave output inside zlib after the last
    input byte, so the end of the file drains it before calling the stream cut.
    """
    inflater, fed, data = zlib.decompressobj(wbits=31), False, b""
    while True:
        if not data:
            data = handle.read(_READ)
            if not data:
                while fed and not inflater.eof and (rest := inflater.decompress(b"", _CHUNK)):
                    yield rest
                if fed and not inflater.eof:
                    raise UnreadableError("gzip stream is cut short")
                return
        if not fed:  # between members: skip zero padding
            data = data.lstrip(b"\x00")
            if not data:
                continue
        fed = True
        yield inflater.decompress(data, _CHUNK)
        data = inflater.unconsumed_tail
        if inflater.eof:
            data = inflater.unused_data
            inflater, fed = zlib.decompressobj(wbits=31), False


def _zstd_chunks(handle) -> Iterator[bytes]:
    decompressor = zstandard.ZstdDecompressor()
    inflater, fed, out, held = decompressor.decompressobj(), False, [], 0
    while data := handle.read(_READ):
        view = memoryview(data)
        for start in range(0, len(view), _ZSTD_PIECE):
            piece = view[start:start + _ZSTD_PIECE]
            while piece:
                fed = True
                produced = inflater.decompress(piece)
                out.append(produced)
                held += len(produced)
                piece = b""
                if inflater.eof:  # a frame ended inside this piece: the rest starts a new one
                    piece = inflater.unused_data
                    inflater, fed = decompressor.decompressobj(), False
            if held >= _CHUNK:
                yield b"".join(out)
                out, held = [], 0
    if out:
        yield b"".join(out)
    if fed:
        raise UnreadableError("zstd frame is cut short")


class ChunkReader(io.RawIOBase):
    """A forward-only file over `_inflate`'s chunks (FastWARC reads our bounded,
    cut-checked stream instead of decompressing by itself). `seek` moves forward only
    (by reading), which is how FastWARC skips the records it is not asked for."""

    def __init__(self, chunks: Iterator[bytes]):
        super().__init__()
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = memoryview(chunk)
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("ChunkReader only seeks forward")
        while self._pos < target:
            if not self._buf:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buf = memoryview(chunk)
            n = min(target - self._pos, len(self._buf))
            self._buf = self._buf[n:]
            self._pos += n
        return self._pos


def _lines(chunks: Iterator[bytes], max_line: int) -> Iterator[bytes | Oversize]:
    """Lines without their terminator, in time linear in the bytes.

    Each chunk is split once and a line spanning chunks is joined once from its pieces
    (re-copying `pending + chunk` per chunk was quadratic: 77 s for a 256 MB line). A line
    longer than `max_line` stops being collected as soon as it is too long and comes out
    as an Oversize holding its first bytes.
    """
    pending: list[bytes] = []
    size, over = 0, None
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:  # no line ends in this chunk
            if over is None:
                pending.append(chunk)
                size += len(chunk)
                if size > max_line:
                    over, pending, size = Oversize(b"".join(pending)[:4096]), [], 0
            continue
        first = pieces[0]
        if over is not None:
            yield over
        elif pending:
            yield b"".join([*pending, first])
        else:
            yield first
        over, pending, size = None, [], 0
        yield from pieces[1:-1]
        last = pieces[-1]
        if last:
            pending, size = [last], len(last)
    if over is not None:
        yield over
    elif pending:
        yield b"".join(pending)


def _jsonl_records(chunks: Iterator[bytes], opts: ReadOptions,
                   progress: Progress) -> Iterator[Record]:
    """One record per non-blank line; record_index is the 0-based line number."""
    limit = opts.max_line_bytes
    for line in _lines(chunks, limit):
        index = progress.take()
        if isinstance(line, Oversize):
            yield (index, None, None, None, "oversize", line.prefix[: opts.raw_prefix_bytes],
                   None)
        elif len(line) > limit:
            yield (index, None, None, None, "oversize", line[: opts.raw_prefix_bytes], None)
        elif line and not line.isspace():
            if line.startswith(_BOM):  # a BOM before a record (or a file) is not content
                line = line[3:]
            yield _json_record(index, line.rstrip(b"\r"), opts)


def _json_record(index: int, line: bytes, opts: ReadOptions) -> Record:
    raw = line[: opts.raw_prefix_bytes]
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        return (index, None, None, None, "invalid_utf8", raw, None)
    try:
        obj = json.loads(decoded)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than ~1,000
        return (index, None, None, None, "malformed_json", raw, None)
    if not isinstance(obj, dict):
        return (index, None, None, None, "malformed_json", raw, None)
    url, text, lang = obj.get(opts.url_field), obj.get(opts.text_field), obj.get(opts.lang_field)
    date = parse_iso_date(field_value(obj, opts.date_field)) if opts.date_field else None
    if not isinstance(url, str | None) or not isinstance(text, str | None):
        return (index, None, None, None, "bad_record", raw, date)
    reason = "bad_date" if opts.date_field and date is None else None
    return (index, url, text, lang if isinstance(lang, str) else None, reason, raw, date)


def first_json_record(fs: pafs.FileSystem, path: str, compression: str | None,
                      limit: int = 1 << 20) -> dict | None:
    """The first JSON object of a JSONL file, reading at most `limit` decompressed bytes
    (the auto layout peeks at one record); None when there is none."""
    with fs.open_input_file(path) as handle:
        try:
            for line in _lines(_inflate(handle, compression, limit), limit):
                if isinstance(line, Oversize) or not line.strip():
                    continue
                obj = json.loads(line.removeprefix(_BOM).decode("utf-8"))
                return obj if isinstance(obj, dict) else None
        except (FileTooLarge, UnreadableError, ValueError, zlib.error, zstandard.ZstdError):
            return None
    return None


def _string_column(batch: pa.RecordBatch, name: str) -> tuple[pa.Array, pa.Array]:
    """(values as string, reason) for one Parquet column; a wrong type is `bad_record`."""
    null_str = pa.scalar(None, pa.string())
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string()), pa.nulls(batch.num_rows, pa.string())
    column = batch.column(name)
    kind = column.type
    if pa.types.is_dictionary(kind) and (pa.types.is_string(kind.value_type)
                                         or pa.types.is_large_string(kind.value_type)
                                         or pa.types.is_string_view(kind.value_type)):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
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


def _date_column(batch: pa.RecordBatch, dotted: str) -> pa.Array | None:
    """The (possibly nested: `metadata.WARC-Date`) date column of a batch, or None."""
    if dotted in batch.schema.names:
        return batch.column(dotted)
    head, *rest = dotted.split(".")
    if head not in batch.schema.names:
        return None
    column = batch.column(head)
    for part in rest:
        if not pa.types.is_struct(column.type) or column.type.get_field_index(part) < 0:
            return None
        column = pc.struct_field(column, part)
    return column


def _record_dates(batch: pa.RecordBatch, opts: ReadOptions) -> tuple[pa.Array, pa.Array]:
    """(record_date, reason) of a batch: `bad_date` where the date field has no date."""
    n, no_reason = batch.num_rows, pa.nulls(batch.num_rows, pa.string())
    if not opts.date_field:
        return pa.nulls(n, pa.date32()), no_reason
    column = _date_column(batch, opts.date_field)
    found = pa.nulls(n, pa.date32()) if column is None else arrow_dates(column)
    return found, pc.if_else(pc.is_null(found), "bad_date", pa.scalar(None, pa.string()))


def _parquet_groups(parquet: pq.ParquetFile, opts: ReadOptions) -> list[int]:
    """The row groups a run reads: all, or those whose date statistics can hold a
    selected date (Parquet predicate pushdown on min / max)."""
    groups = range(parquet.metadata.num_row_groups)
    if not (opts.select_dates and opts.date_field):
        return list(groups)
    return [g for g in groups if can_hold(*row_group_bounds(parquet.metadata, g, opts.date_field),
                                          opts.select_dates)]


def _parquet_columns(parquet: pq.ParquetFile, opts: ReadOptions) -> list[str]:
    wanted = [opts.url_field, opts.text_field, opts.lang_field]
    names = parquet.schema_arrow.names
    columns = [c for c in dict.fromkeys(wanted) if c in names]
    leaves = {parquet.schema.column(i).path for i in range(len(parquet.schema))}
    if opts.date_field and opts.date_field not in columns and (
            opts.date_field in names or opts.date_field in leaves):
        columns.append(opts.date_field)
    return columns


def _parquet_batches(handle, opts: ReadOptions, progress: Progress,
                     fallback: dt.date | None = None) -> Iterator[pa.RecordBatch]:
    """Columnar: whole row batches at once; record_index is the row number in the file.
    A run of selected dates skips the row groups that cannot hold one and keeps only
    the rows of those dates."""
    parquet = pq.ParquetFile(handle)
    metadata = parquet.metadata
    declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if declared > opts.max_file_bytes:
        raise FileTooLarge(f"row groups declare {declared} bytes")
    columns = _parquet_columns(parquet, opts)
    firsts = [0]
    for g in range(metadata.num_row_groups):
        firsts.append(firsts[-1] + metadata.row_group(g).num_rows)
    select = pa.array(sorted(opts.select_dates), pa.date32())
    for group in _parquet_groups(parquet, opts):
        start = firsts[group]
        for batch in parquet.iter_batches(batch_size=opts.batch_records, row_groups=[group],
                                          columns=columns):
            url, url_reason = _string_column(batch, opts.url_field)
            text, text_reason = _string_column(batch, opts.text_field)
            lang, lang_reason = _string_column(batch, opts.lang_field)
            lang = pc.if_else(pc.is_null(lang_reason), lang, pa.scalar(None, pa.string()))
            record_date, date_reason = _record_dates(batch, opts)
            reason = pc.coalesce(url_reason, text_reason, date_reason)
            index = pa.array(range(start, start + batch.num_rows), pa.int64())
            start += batch.num_rows
            progress.next_index, progress.started = start, True
            raw = pa.RecordBatch.from_arrays(
                [index, url, text, lang, reason, pa.nulls(batch.num_rows, pa.binary()),
                 record_date], schema=RAW_SCHEMA)
            if opts.select_dates:
                dated = pc.coalesce(record_date, pa.scalar(fallback, pa.date32()))
                raw = raw.filter(pc.fill_null(pc.is_in(dated, value_set=select), False))
            if raw.num_rows:
                yield raw
