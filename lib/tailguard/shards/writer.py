"""Writing a shard set: the chosen documents as zstd Parquet (and optionally jsonl.zst)
files of about `shards.target_mb`, in a seeded pseudo-random order, plus the n-gram
sketches the manifest compares with an unweighted sample of the same pool.

Why the layout is what it is:
- Each document goes to file `xxhash64(doc_id, crawl_date, seed) mod F` and is placed
  inside its file by another seeded hash (`okey`), so a file's content depends only on
  which documents were chosen, never on how Spark split the work: two runs with
  different parallelism write byte-identical files. Hash buckets are also what a trainer
  wants: every file is a uniform random slice of the mix (no file of one domain).
- F comes from the chosen text's UTF-8 size over `target_mb`, assuming zstd shrinks web
  text about TEXT_COMPRESSION times; the manifest records the real sizes.
- Row groups close once they hold `row_group_mb` of text (the row that crosses the
  threshold included), cut by the data, not by Spark's batch boundaries: small enough
  that a streaming reader (pyarrow `iter_batches`, Hugging Face `datasets` streaming)
  holds one at a time, large enough for zstd.
- Files go to a staging directory through pyarrow's filesystem layer, so an executor
  writes them where it runs (local disk, HDFS, S3, GCS); `job.py` renames the staging
  directory into place once the manifest is written.

The distinct-n sketches are computed where the text already is, before the shuffle:
each input task folds the n-grams of its chosen and of its unweighted-sample documents
into two sets of HyperLogLog registers (bit-compatible with datasketch, hll.py) and sends
them on as one extra row; only the chosen documents' text is shuffled to the writers.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import zstandard
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard import paths
from tailguard.diversity.accum import DISTINCT_N, update_registers
from tailguard.diversity.ngrams import hash_texts, ngrams_of

TEXT_COMPRESSION = 3.0  # zstd on web text: ~3-4x (the manifest says what it really was)
SKETCH_PRECISION = 18   # HLL precision of the manifest's distinct-n (0.2% standard error)
SAMPLES = ("shards", "unweighted")
SHARD_SCHEMA = pa.schema([
    ("text", pa.string()), ("doc_id", pa.string()), ("url", pa.string()),
    ("domain", pa.string()), ("crawl_date", pa.date32()), ("era", pa.string()),
    ("p_synthetic", pa.float64()), ("weight", pa.float64()),
])
SHARD_COLUMNS = tuple(SHARD_SCHEMA.names)
WRITE_INPUT = (*SHARD_COLUMNS, "n_tokens", "file", "okey", "selected", "sampled")
ROUTED_DDL = ("kind int, file int, okey long, text string, doc_id string, url string, "
              "domain string, crawl_date date, era string, p_synthetic double, "
              "weight double, n_tokens int, blob binary")
WRITTEN_DDL = ("kind int, file int, rows long, tokens long, bytes long, sha256 string, "
               "jsonl_bytes long, jsonl_sha256 string, blob binary")
KIND_DOC, KIND_SKETCH = 0, 1


@dataclass(frozen=True)
class WriteOptions:
    staging: str             # directory URI or absolute path the files go to
    compression_level: int
    row_group_bytes: int
    jsonl: bool


def file_count(text_bytes: int, target_mb: float, n_docs: int) -> int:
    """Files for `text_bytes` of UTF-8 text at about `target_mb` on disk each (at least
    one, and never more files than documents)."""
    per_file = target_mb * (1 << 20) * TEXT_COMPRESSION
    return max(1, min(n_docs, int(np.ceil(text_bytes / per_file))))


def with_file_layout(chosen: DataFrame, n_files: int, seed: int) -> DataFrame:
    """`file` (seeded hash bucket) and `okey` (seeded order inside the file)."""
    date = F.col("crawl_date").cast("string")
    return (chosen.withColumn("file", F.pmod(F.xxhash64("doc_id", date, F.lit(seed)),
                                             F.lit(n_files)).cast("int"))
            .withColumn("okey", F.xxhash64("doc_id", date, F.lit(seed + 1))))


def _sketch_fn():
    """Map side: per input task, registers of the chosen (`selected`) and the unweighted
    sample (`sampled`) documents; only chosen documents continue, plus one sketch row.

    A document in both samples is folded once: the registers are kept for three groups
    (both, chosen only, sampled only) and each sample is the max of two of them."""
    m = 1 << SKETCH_PRECISION

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        regs = np.zeros((3, DISTINCT_N, m), np.int8)
        for batch in batches:
            selected = batch.column("selected").to_numpy(zero_copy_only=False)
            sampled = batch.column("sampled").to_numpy(zero_copy_only=False)
            grams = ngrams_of(hash_texts(batch.column("text")), DISTINCT_N, 1)
            groups = np.where(selected & sampled, 0, np.where(selected, 1, 2))
            update_registers(regs, grams.grams, grams.bounds, groups, SKETCH_PRECISION)
            chosen = batch.filter(pc.equal(batch.column("selected"), True))
            if chosen.num_rows:
                yield _routed(chosen)
        samples = np.stack([np.maximum(regs[0], regs[1]), np.maximum(regs[0], regs[2])])
        yield _sketch_row(samples.tobytes())

    return run


def _routed(chosen: pa.RecordBatch) -> pa.RecordBatch:
    n = chosen.num_rows
    columns = {"kind": pa.array(np.full(n, KIND_DOC, np.int32)),
               **{name: chosen.column(name) for name in
                  ("file", "okey", *SHARD_COLUMNS, "n_tokens")},
               "blob": pa.nulls(n, pa.binary())}
    return pa.RecordBatch.from_pydict(columns)


def _sketch_row(blob: bytes) -> pa.RecordBatch:
    fields = {"kind": pa.array([KIND_SKETCH], pa.int32()), "file": pa.array([0], pa.int32()),
              "okey": pa.array([0], pa.int64())}
    for field in SHARD_SCHEMA:
        fields[field.name] = pa.nulls(1, field.type)
    fields["n_tokens"] = pa.nulls(1, pa.int32())
    fields["blob"] = pa.array([blob], pa.binary())
    return pa.RecordBatch.from_pydict(fields)


def routed_rows(joined: DataFrame) -> DataFrame:
    """The chosen documents (and one sketch row per input task), ROUTED_DDL."""
    return joined.select(*WRITE_INPUT).mapInArrow(_sketch_fn(), ROUTED_DDL)


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:  # Hadoop's s3a:// is s3:// to pyarrow (tailguard.paths)
        return pafs.FileSystem.from_uri(paths.for_pyarrow(path))
    return pafs.LocalFileSystem(), path


def _sha256(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open_input_stream(path, compression=None) as stream:  # raw bytes, no '.zst' detection
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class _FileWriter:
    """One shard file of one writer task: rows in arrival (okey) order, row groups cut
    at `row_group_bytes` of text, then optionally the same rows as jsonl.zst."""

    def __init__(self, fs: pafs.FileSystem, options: WriteOptions, file: int):
        self.fs, self.options, self.file = fs, options, file
        self.path = f"{options.staging}/bucket-{file:05d}.parquet"
        self.jsonl_path = f"{options.staging}/bucket-{file:05d}.jsonl.zst"
        self.sink = fs.open_output_stream(self.path, compression=None)
        self.writer = pq.ParquetWriter(
            self.sink, SHARD_SCHEMA, compression="zstd",
            compression_level=options.compression_level,
            use_dictionary=["domain", "era", "crawl_date"], write_statistics=True)
        self.jsonl = None
        if options.jsonl:
            # compression=None: pyarrow would otherwise detect '.zst' in the name and
            # compress the already-compressed stream a second time
            self.jsonl_sink = fs.open_output_stream(self.jsonl_path, compression=None)
            self.jsonl = zstandard.ZstdCompressor(
                level=options.compression_level).stream_writer(self.jsonl_sink, closefd=False)
        self.pending: list[pa.RecordBatch] = []
        self.pending_bytes = 0
        self.rows = self.tokens = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        self.tokens += int(pc.sum(batch.column("n_tokens")).as_py() or 0)
        shard = pa.RecordBatch.from_arrays([batch.column(n) for n in SHARD_COLUMNS],
                                           schema=SHARD_SCHEMA)
        sizes = pc.binary_length(shard.column("text")).to_numpy(zero_copy_only=False)
        start = 0
        running = np.cumsum(sizes) + self.pending_bytes
        while start < shard.num_rows:
            crossing = np.flatnonzero(running[start:] >= self.options.row_group_bytes)
            if not len(crossing):
                self.pending.append(shard.slice(start))
                self.pending_bytes = int(running[-1])
                return
            end = start + int(crossing[0]) + 1
            self.pending.append(shard.slice(start, end - start))
            self._flush()
            running = running - running[end - 1]
            start = end

    def _flush(self) -> None:
        if not self.pending:
            return
        table = pa.Table.from_batches(self.pending, SHARD_SCHEMA).combine_chunks()
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        if self.jsonl is not None:
            buffer = io.BytesIO()
            frame = table.to_pandas()
            frame["crawl_date"] = frame["crawl_date"].astype("string")
            frame.to_json(buffer, orient="records", lines=True, force_ascii=False,
                          double_precision=15)
            self.jsonl.write(buffer.getvalue())
        self.pending, self.pending_bytes = [], 0

    def close(self) -> dict:
        self._flush()
        self.writer.close()
        self.sink.close()
        row = {"kind": KIND_DOC, "file": self.file, "rows": self.rows, "tokens": self.tokens,
               "bytes": self.fs.get_file_info(self.path).size,
               "sha256": _sha256(self.fs, self.path), "jsonl_bytes": None,
               "jsonl_sha256": None, "blob": None}
        if self.jsonl is not None:
            self.jsonl.close()
            self.jsonl_sink.close()
            row["jsonl_bytes"] = self.fs.get_file_info(self.jsonl_path).size
            row["jsonl_sha256"] = _sha256(self.fs, self.jsonl_path)
        return row


def _write_fn(options: WriteOptions):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs, staging = _filesystem(options.staging)  # pyarrow wants its own path, not a URI
        local = replace(options, staging=staging)
        writer: _FileWriter | None = None
        out = []
        for batch in batches:
            kinds = batch.column("kind").to_numpy()
            for blob in batch.filter(pc.equal(batch.column("kind"), KIND_SKETCH)).column(
                    "blob").to_pylist():
                out.append({"kind": KIND_SKETCH, "file": 0, "rows": 0, "tokens": 0,
                            "bytes": 0, "sha256": None, "jsonl_bytes": None,
                            "jsonl_sha256": None, "blob": blob})
            if not (kinds == KIND_DOC).any():
                continue
            docs = batch.filter(pc.equal(batch.column("kind"), KIND_DOC))
            files = docs.column("file").to_numpy()
            for file in np.unique(files):  # a partition holds one file (repartitionById)
                part = docs.filter(pc.equal(docs.column("file"), int(file)))
                if writer is not None and writer.file != file:
                    out.append(writer.close())
                    writer = None
                if writer is None:
                    writer = _FileWriter(fs, local, int(file))
                writer.add(part)
        if writer is not None:
            out.append(writer.close())
        if out:
            yield pa.RecordBatch.from_pylist(out, schema=_written_schema())

    return run


def _written_schema() -> pa.Schema:
    return pa.schema([("kind", pa.int32()), ("file", pa.int32()), ("rows", pa.int64()),
                      ("tokens", pa.int64()), ("bytes", pa.int64()), ("sha256", pa.string()),
                      ("jsonl_bytes", pa.int64()), ("jsonl_sha256", pa.string()),
                      ("blob", pa.binary())])


def write_files(routed: DataFrame, n_files: int, options: WriteOptions) -> list[dict]:
    """Shuffle the chosen documents to their file's writer (partition i writes file i),
    in okey order, and write. Returns the writers' rows (files and sketches)."""
    written = (routed.repartitionById(n_files, "file")
               .sortWithinPartitions("file", "kind", "okey")
               .mapInArrow(_write_fn(options), WRITTEN_DDL))
    return [row.asDict() for row in written.collect()]


def merge_sketches(blobs: list[bytes]) -> np.ndarray:
    """(samples, 4, m) registers: elementwise max of every task's sketch."""
    m = 1 << SKETCH_PRECISION
    merged = np.zeros((len(SAMPLES), DISTINCT_N, m), np.int8)
    for blob in blobs:
        np.maximum(merged, np.frombuffer(blob, np.int8).reshape(merged.shape), out=merged)
    return merged
