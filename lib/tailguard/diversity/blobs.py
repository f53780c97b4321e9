"""(key, count) arrays packed as binary rows, one per key bucket (no Spark import).

Why: a Spark row per distinct key costs far more in the JVM (Arrow <-> row conversion,
shuffle, sort) than the counting itself once there are millions of keys. Packed, the
partial counts of a task cross an exchange as a few large rows, one per key bucket
(key % B), and a reducer sums one bucket at a time, so its memory is one bucket's keys.
Used by the tail reference counts (`tail.frequent_concepts`); `BucketSums` is the
reducer's side.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

import numpy as np
import pyarrow as pa

from tailguard.diversity.accum import count_keys

_WIDTHS = {1: np.dtype("u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}


def count_width(max_count: int) -> int:
    """Bytes per count in a blob: the smallest unsigned width that holds `max_count`, so
    a count is never clipped or wrapped (the reader infers the width from blob sizes)."""
    for width, dtype in _WIDTHS.items():
        if max_count <= np.iinfo(dtype).max:
            return width
    raise ValueError(f"count {max_count} does not fit in 64 bits")


def split_blobs(keys: np.ndarray, counts: np.ndarray, n_buckets: int) -> pa.RecordBatch:
    """Reduced (key, count) arrays as one row per non-empty key bucket (key % n_buckets):
    bucket, keys (little-endian uint64 bytes), counts (little-endian unsigned ints of
    `count_width` bytes, one width for the whole batch). Zero rows for no keys."""
    bucket = keys % np.uint64(n_buckets)
    bucket = bucket.astype(np.uint16 if n_buckets <= 1 << 16 else np.int64)
    order = np.argsort(bucket, kind="stable")  # radix sort for 16-bit bucket ids
    bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
    nonempty = np.flatnonzero(np.diff(bounds))
    starts = np.append(bounds[nonempty], len(keys))  # empty buckets own no bytes
    width = count_width(int(counts.max())) if len(counts) else 1
    key_bytes = keys[order].astype("<u8").tobytes()
    count_bytes = counts[order].astype(_WIDTHS[width]).tobytes()
    return pa.RecordBatch.from_arrays([
        pa.array(nonempty, pa.int32()),
        _binary(starts * 8, key_bytes),
        _binary(starts * width, count_bytes),
    ], names=["bucket", "keys", "counts"])


def _binary(offsets: np.ndarray, data: bytes) -> pa.BinaryArray:
    """Arrow binary array over one buffer. Spark's binary type has 32-bit offsets, so
    one call packs < 2 GiB (callers pack a bounded window of keys: millions, not
    hundreds of millions)."""
    if int(offsets[-1]) > np.iinfo(np.int32).max:
        raise ValueError(f"{int(offsets[-1])} bytes do not fit one Arrow binary array")
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(offsets) - 1,
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def read_blobs(batch: pa.RecordBatch) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(uint64 keys, int64 counts) of each row of a `split_blobs` batch."""
    keys_col, counts_col = batch.column("keys"), batch.column("counts")
    for i in range(batch.num_rows):
        yield unpack(keys_col[i].as_buffer(), counts_col[i].as_buffer())


def unpack(keys_blob, counts_blob) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 keys, int64 counts) of one packed row (bytes or Arrow buffers); the count
    width is what the blob sizes imply."""
    keys = np.frombuffer(keys_blob, np.dtype("<u8"))
    size = len(memoryview(counts_blob))
    width = size // len(keys) if len(keys) else 1
    if width not in _WIDTHS or width * len(keys) != size:
        raise ValueError(f"blob of {len(keys)} keys has {size} bytes of counts")
    return (keys.astype(np.uint64, copy=False),
            np.frombuffer(counts_blob, _WIDTHS[width]).astype(np.int64))


class BucketSums:
    """Exact sums of packed rows that arrive grouped by a label (a key bucket, or a group
    and its key bucket): `add` returns the previous label's summed (label, keys, counts)
    as soon as a new label starts, `close` the last one. Memory: one label's rows.

    A label seen again after another one is refused: its first sum has already been
    handed on, and summing the rest apart would count its keys twice."""

    def __init__(self, what: str = "rows of bucket") -> None:
        self.what = what  # names the rows in the error
        self.current: Hashable | None = None
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.done: set = set()

    def add(self, label: Hashable, keys: np.ndarray, counts: np.ndarray
            ) -> tuple[Hashable, np.ndarray, np.ndarray] | None:
        finished = None
        if label != self.current:
            finished = self.close()
            if label in self.done:
                raise ValueError(f"{self.what} {label} are not contiguous: the input must be "
                                 "sorted by its label")
            self.done.add(label)
            self.current = label
        self.parts.append((keys, counts))
        return finished

    def close(self) -> tuple[Hashable, np.ndarray, np.ndarray] | None:
        """The current label's sum (None when nothing is held)."""
        if not self.parts:
            return None
        keys, counts = count_keys(np.concatenate([k for k, _ in self.parts]),
                                  np.concatenate([c for _, c in self.parts]))
        label, self.current, self.parts = self.current, None, []
        return label, keys, counts
