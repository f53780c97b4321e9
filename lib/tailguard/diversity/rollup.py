"""Merge the kernel's per-partition partials of the cross-domain groups (and of the groups
of a domain measured in parts, which merge the same way).

The (scope, `__all__`, era, month) and (scope, `__all__`, era, `__all__`) groups span
partitions, so the kernel emits them as partials that merge exactly: sums add, HLL
registers take the elementwise max, word counts add (entropy needs N = sum c and
S = sum c log2 c over the merged counts), and the homogenization sample is the first k
okeys of the union of each partition's first k.

All four kinds of partial meet in one exchange by gid, sorted by (gid, kind, key, okey),
and one streaming pass merges them. Word counts come packed (`blobs`), one row per
partition, group and key bucket (`key` holds the bucket), so the exchange moves a few
thousand rows, not one per distinct word; a bucket's rows arrive next to each other and
are summed and folded into N and S as soon as the next bucket starts. Memory per task:
one register set and one sample per group, and one key bucket of one group's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.diversity import hll
from tailguard.diversity.accum import DISTINCT_N
from tailguard.diversity.blobs import BucketSums, unpack
from tailguard.diversity.estimators import entropy_bits, mean_pairwise_jaccard
from tailguard.diversity.rows import (
    KIND_REGISTERS,
    KIND_SAMPLE,
    KIND_SUMS,
    KIND_WORDS,
    SUM_FIELDS,
)

DISTINCT_COLUMNS = [f"distinct_n_{n}" for n in range(1, DISTINCT_N + 1)]
LABELS = ("scope", "domain", "era", "month")
OUTPUT_SCHEMA = pa.schema(
    [("gid", pa.int64()), *[(c, pa.string()) for c in LABELS],
     *[(f, pa.int64()) for f in SUM_FIELDS], *[(c, pa.float64()) for c in DISTINCT_COLUMNS],
     ("entropy_unigram", pa.float64()), ("homogenization", pa.float64()),
     ("homogenization_sample", pa.int64())])
_DDL_TYPES = {pa.int64(): "bigint", pa.string(): "string", pa.float64(): "double"}
OUTPUT_DDL = ", ".join(f"{f.name} {_DDL_TYPES[f.type]}" for f in OUTPUT_SCHEMA)
_PARTIAL_COLUMNS = ("kind", "gid", *LABELS, *SUM_FIELDS, "n", "key", "registers", "okey",
                    "signature", "word_keys", "word_counts")


@dataclass
class _Group:
    precision: int
    labels: dict = field(default_factory=dict)
    sums: dict = field(default_factory=lambda: {f: 0 for f in SUM_FIELDS})
    regs: np.ndarray | None = None
    total: float = 0.0        # N = sum of word counts
    clogc: float = 0.0        # S = sum of c log2 c
    sample: list = field(default_factory=list)

    def add_words(self, counts: np.ndarray) -> None:
        c = counts.astype(np.float64)
        self.total += float(c.sum())
        self.clogc += float((c * np.log2(np.maximum(c, 1.0))).sum())

    def row(self, gid: int, sample_size: int) -> dict:
        regs = self.regs if self.regs is not None else np.zeros(
            (DISTINCT_N, 1 << self.precision), np.int8)
        blobs = [b for b in self.sample if b is not None]
        homog = (mean_pairwise_jaccard(np.frombuffer(b"".join(blobs), "<u4")
                                       .reshape(len(blobs), -1)) if len(blobs) > 1 else None)
        entropy = float(entropy_bits(self.total, self.clogc)) if self.total > 0 else None
        return {"gid": gid, **self.labels, **self.sums,
                **dict(zip(DISTINCT_COLUMNS, hll.estimate_many(regs).tolist(), strict=True)),
                "entropy_unigram": entropy, "homogenization": homog,
                "homogenization_sample": len(blobs)}


def _merge_partials(precision: int, sample_size: int):
    """mapInArrow body over rows sorted by (gid, kind, key, okey): a group's rows are
    contiguous, so each group is finished as soon as the next one starts and memory holds
    one group (a partition may hold thousands: the groups of domains measured in parts)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        words = BucketSums("word rows of group and bucket")  # one bucket of a group at a time
        gid, group, done, rows = None, None, set(), []
        for batch in batches:
            for row in batch.to_pylist():
                if row["gid"] != gid:
                    if group is not None:
                        rows += _finished(gid, group, words.close(), sample_size)
                    if row["gid"] in done:
                        raise ValueError(f"rows of group {row['gid']} are not contiguous: the "
                                         "input must be sorted by (gid, kind, key)")
                    gid, group = row["gid"], _Group(precision)
                    done.add(gid)
                if row["kind"] == KIND_WORDS:
                    summed = words.add((gid, row["key"]),
                                       *unpack(row["word_keys"], row["word_counts"]))
                    if summed is not None:
                        group.add_words(summed[2])
                else:
                    _fold_row(group, row, precision, sample_size)
            if len(rows) >= 1024:
                yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)
                rows = []
        if group is not None:
            rows += _finished(gid, group, words.close(), sample_size)
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)

    return run


def _finished(gid: int, group: _Group, last_words, sample_size: int) -> list[dict]:
    """The group's row, its last word bucket folded in, if it has one (a group is
    labelled by its SUMS rows)."""
    if last_words is not None:
        group.add_words(last_words[2])
    return [group.row(gid, sample_size)] if group.labels else []


def _fold_row(group: _Group, row: dict, precision: int, sample_size: int) -> None:
    if row["kind"] == KIND_SUMS:
        group.labels = {c: row[c] for c in LABELS}
        for f in SUM_FIELDS:
            group.sums[f] += row[f]
    elif row["kind"] == KIND_REGISTERS:
        if group.regs is None:
            group.regs = np.zeros((DISTINCT_N, 1 << precision), np.int8)
        n = row["n"] - 1
        np.maximum(group.regs[n], hll.decode(row["registers"], precision), out=group.regs[n])
    elif row["kind"] == KIND_SAMPLE and len(group.sample) < sample_size:
        group.sample.append(row["signature"])  # rows come in okey order: the first k


def rollup_metrics(partials: DataFrame, precision: int, sample_size: int,
                   partitions: int) -> DataFrame:
    """One row per cross-domain group: gid, labels, sums, distinct_n_k, entropy_unigram,
    homogenization(_sample). partials: the kernel's output (kinds SUMS, REGISTERS,
    WORDS, SAMPLE are read). The groups are few (eras x months, plus the groups of the
    domains measured in parts), so they merge in `partitions` tasks, not one Python
    worker per shuffle partition."""
    kinds = [KIND_SUMS, KIND_REGISTERS, KIND_WORDS, KIND_SAMPLE]
    return (
        partials.where(F.col("kind").isin(kinds)).select(*_PARTIAL_COLUMNS)
        .repartition(partitions, "gid")
        .sortWithinPartitions("gid", "kind", "key", "okey")
        .mapInArrow(_merge_partials(precision, sample_size), OUTPUT_DDL)
        .withColumn("token_budget", F.lit(None).cast("long"))
    )
