"""The per-partition diversity kernel run by `mapInArrow`: text in, mergeable partials out.

One pass over a document batch tokenises once and emits every partial the diversity
tables need, as rows of one narrow schema (kind, gid, n, key, value, registers): count
rows merge by one Spark `groupBy(kind, gid, n, key).sum(value)`, register rows by an
elementwise max (`sketch.merge_registers`):

| kind    | n       | key                  | value            | merged by       |
|---------|---------|----------------------|------------------|-----------------|
| HLL     | 1..4    | 0                    | 0 (+ registers)  | elementwise max |
| WORD    | 1       | word hash            | occurrences      | sum             |
| CONCEPT | 1..max  | concept n-gram hash  | occurrences      | sum             |
| BYTES   | 0 / 1   | 0                    | raw / zstd bytes | sum             |
| DOC     | 0       | document order key   | tokens           | sum             |

HLL registers are dense per open group (`max_open_groups` x 4 x 2^p int8, 4 MiB at the
defaults) and live across batches, so a partition emits one register set per group and n
(`hll.encode`d bytes; the caller sorts partitions by gid so each group opens once);
when more groups are open than fit, the least recently used one
is flushed early (registers merge by max, so an early flush is only extra rows, never a
wrong answer). WORD and CONCEPT rows are summed by Arrow's hash aggregation (`CountBuffer`).
Memory is bounded by the batch size and `max_open_groups`, not by the data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.diversity.estimators import ChunkCompressor
from tailguard.diversity.hll import encode, index_rank
from tailguard.diversity.ngrams import TokenBatch, concept_ngrams, hash_words, ngrams
from tailguard.text.tokenize import words_arrow

KIND_HLL, KIND_WORD, KIND_CONCEPT, KIND_BYTES, KIND_DOC = 0, 1, 2, 3, 4
DISTINCT_N = 4  # distinct-n is reported for n = 1..4
OUTPUT_SCHEMA = pa.schema([("kind", pa.int8()), ("gid", pa.int64()), ("n", pa.int8()),
                           ("key", pa.int64()), ("value", pa.int64()),
                           ("registers", pa.binary())])
OUTPUT_DDL = "kind tinyint, gid bigint, n tinyint, key bigint, value bigint, registers binary"
INPUT_COLUMNS = ("gid", "concept_gid", "okey", "text")


@dataclass(frozen=True)
class KernelParams:
    precision: int = 14          # HLL precision p
    concept_max_n: int = 3       # concepts are n-grams with n = 1..concept_max_n
    chunk_bytes: int = 65536     # compression chunk size
    level: int = 3               # zstd level
    max_open_groups: int = 64    # dense register sets kept per partition


def _rows(kind: int, gid, n, key, value, registers=None) -> pa.RecordBatch:
    size = len(key)
    cols = [np.full(size, kind, np.int8), np.broadcast_to(np.asarray(gid, np.int64), size),
            np.full(size, n, np.int8) if np.isscalar(n) else np.asarray(n, np.int8),
            np.asarray(key).view(np.int64) if np.asarray(key).dtype == np.uint64
            else np.asarray(key, np.int64), np.asarray(value, np.int64)]
    arrays = [pa.array(np.ascontiguousarray(c)) for c in cols]
    arrays.append(pa.array(registers, pa.binary()) if registers is not None
                  else pa.nulls(size, pa.binary()))
    return pa.RecordBatch.from_arrays(arrays, schema=OUTPUT_SCHEMA)


def _count_table(gids: np.ndarray, n: int, hashes: np.ndarray) -> pa.Table:
    return pa.table({"g": gids.astype(np.int64), "n": np.full(len(hashes), n, np.int8),
                     "k": hashes.view(np.int64), "c": np.ones(len(hashes), np.int64)})


class CountBuffer:
    """Occurrences per (gid, n, hash), summed across batches by Arrow's hash aggregation.

    Zipf's law makes the distinct keys of a partition far fewer than its tokens, so
    summing before emitting shrinks the rows Spark has to shuffle several-fold. Bounded:
    once the summed rows still exceed `max_rows`, they are emitted and the buffer restarts.
    """

    def __init__(self, kind: int, max_rows: int = 1 << 19):
        self.kind, self.max_rows = kind, max_rows
        self.parts: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> list[pa.RecordBatch]:
        self.parts.append(table)
        self.rows += table.num_rows
        if self.rows <= self.max_rows:
            return []
        summed = self._sum()
        if summed.num_rows > self.max_rows // 2:
            return self._emit(summed)
        self.parts, self.rows = [summed], summed.num_rows
        return []

    def finish(self) -> list[pa.RecordBatch]:
        return self._emit(self._sum()) if self.parts else []

    def _sum(self) -> pa.Table:
        table = pa.concat_tables(self.parts)
        agg = table.group_by(["g", "n", "k"], use_threads=False).aggregate([("c", "sum")])
        return agg.rename_columns(["g", "n", "k", "c"])

    def _emit(self, table: pa.Table) -> list[pa.RecordBatch]:
        self.parts, self.rows = [], 0
        if table.num_rows == 0:
            return []
        return [_rows(self.kind, table["g"].to_numpy(), table["n"].to_numpy(),
                      table["k"].to_numpy(), table["c"].to_numpy())]


class SketchKernel:
    """Stateful over one partition's batches; `process` each, then `finish` once."""

    def __init__(self, params: KernelParams):
        self.p = params
        self.regs = np.zeros((params.max_open_groups, DISTINCT_N, 1 << params.precision),
                             dtype=np.int8)
        self.slots: OrderedDict[int, int] = OrderedDict()
        self.free = list(range(params.max_open_groups - 1, -1, -1))
        self.compressors: dict[int, ChunkCompressor] = {}
        self.word_counts = CountBuffer(KIND_WORD)
        self.concept_counts = CountBuffer(KIND_CONCEPT)

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        if batch.num_rows == 0:
            return []
        groups = np.unique(batch.column("gid").to_numpy())
        if len(groups) <= self.p.max_open_groups:
            return self._process(batch, groups)
        out: list[pa.RecordBatch] = []
        for part in np.array_split(groups, -(-len(groups) // self.p.max_open_groups)):
            sub = batch.filter(pc.is_in(batch.column("gid"), pa.array(part)))
            out += self._process(sub, part)
        return out

    def finish(self) -> list[pa.RecordBatch]:
        out: list[pa.RecordBatch] = []
        for gid in list(self.slots):
            out += self._flush(gid)
        return out + self.word_counts.finish() + self.concept_counts.finish()

    def _process(self, batch: pa.RecordBatch, groups: np.ndarray) -> list[pa.RecordBatch]:
        gid = batch.column("gid").to_numpy()
        tokens = hash_words(words_arrow(batch.column("text")))
        out = [_rows(KIND_DOC, gid, 0, batch.column("okey").to_numpy(), tokens.lengths)]
        out += self.word_counts.add(_count_table(gid[tokens.doc], 1, tokens.hashes))
        out += self._open(groups)
        slot_of_doc = np.array([self.slots[g] for g in groups], np.int64)[
            np.searchsorted(groups, gid)]
        self._update_registers(tokens, slot_of_doc)
        out += self._concepts(batch, tokens)
        self._compress(batch, gid, groups)
        return [b for b in out if b.num_rows]

    def _update_registers(self, tokens: TokenBatch, slot_of_doc: np.ndarray) -> None:
        flat_regs = self.regs.reshape(-1)
        for n in range(1, DISTINCT_N + 1):
            hashes, doc, _ = ngrams(tokens, n)
            index, rank = index_rank(hashes, self.p.precision)
            where = ((slot_of_doc[doc] * DISTINCT_N + (n - 1)) << self.p.precision) + index
            np.maximum.at(flat_regs, where, rank)

    def _concepts(self, batch: pa.RecordBatch, tokens: TokenBatch) -> list[pa.RecordBatch]:
        cgid = batch.column("concept_gid")
        if cgid.null_count == len(cgid):
            return []
        has = pc.is_valid(cgid).to_numpy(zero_copy_only=False)
        cg = pc.fill_null(cgid, 0).to_numpy()
        out = []
        for n in range(1, self.p.concept_max_n + 1):
            hashes, doc = concept_ngrams(tokens, n)
            keep = has[doc]
            out += self.concept_counts.add(_count_table(cg[doc][keep], n, hashes[keep]))
        return out

    def _compress(self, batch: pa.RecordBatch, gid: np.ndarray, groups: np.ndarray) -> None:
        texts = batch.column("text").to_pylist()
        for g in groups:
            rows = np.flatnonzero(gid == g) if len(groups) > 1 else range(len(texts))
            joined = "\n".join(texts[i] or "" for i in rows) + "\n"
            self.compressors[int(g)].add(joined.encode("utf-8"))

    def _open(self, groups: np.ndarray) -> list[pa.RecordBatch]:
        """Give every group of the batch a register slot, flushing the LRU ones if needed."""
        out: list[pa.RecordBatch] = []
        for g in groups:
            if int(g) in self.slots:
                self.slots.move_to_end(int(g))
        for g in map(int, groups):
            if g in self.slots:
                continue
            if not self.free:
                out += self._flush(next(iter(self.slots)))
            self.slots[g] = self.free.pop()
            self.compressors[g] = ChunkCompressor(self.p.chunk_bytes, self.p.level)
        return out

    def _flush(self, gid: int) -> list[pa.RecordBatch]:
        slot = self.slots.pop(gid)
        blobs = [encode(self.regs[slot, n]) for n in range(DISTINCT_N)]
        out = [_rows(KIND_HLL, gid, np.arange(1, DISTINCT_N + 1), np.zeros(DISTINCT_N),
                     np.zeros(DISTINCT_N), blobs)]
        self.regs[slot] = 0
        self.free.append(slot)
        raw, compressed = self.compressors.pop(gid).finish()
        out.append(_rows(KIND_BYTES, gid, np.array([0, 1]), np.zeros(2), [raw, compressed]))
        return [b for b in out if b.num_rows]


def kernel_fn(params: KernelParams) -> Callable[[Iterator[pa.RecordBatch]],
                                                Iterator[pa.RecordBatch]]:
    """The function to hand `DataFrame.mapInArrow` (picklable closure over `params`)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        kernel = SketchKernel(params)
        for batch in batches:
            yield from kernel.process(batch)
        yield from kernel.finish()

    return run
