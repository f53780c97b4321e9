"""The one output schema of the diversity kernels, and its row builders (no Spark import).

Every kind of output (final group metrics, cross-domain partials, homogenization samples,
scope-wide budget candidates) is a row of one wide schema, nulls where a kind has no
value, so one `mapInArrow` pass can emit them all and Spark splits them by `kind`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from tailguard.diversity.accum import DISTINCT_N

KIND_METRICS, KIND_SUMS, KIND_REGISTERS, KIND_WORDS, KIND_SAMPLE, KIND_CANDIDATE, KIND_REPLICATE = (
    range(7))
ALL = "__all__"
ERAS = ("pre_ai", "attested", "post_ai")
LABELS = ("scope", "domain", "era", "month", "token_budget")
SUM_FIELDS = ("n_docs", "n_tokens", *[f"ngrams_{n}" for n in range(1, DISTINCT_N + 1)],
              "raw_bytes", "compressed_bytes")
ESTIMATE_FIELDS = (*[f"distinct_n_{n}" for n in range(1, DISTINCT_N + 1)], "entropy_unigram")
CONCEPT_FIELDS = ("distinct_concepts", "concept_occurrences", "f1", "f2", "covered")
INPUT_COLUMNS = ("scope", "domain", "era", "month", "okey", "text", "signature", "is_sig",
                 "stop", "defines_tail")
OUTPUT_SCHEMA = pa.schema(
    [("kind", pa.int8()), ("gid", pa.int64()), ("scope", pa.string()), ("domain", pa.string()),
     ("era", pa.string()), ("month", pa.string()), ("token_budget", pa.int64())]
    + [(f, pa.int64()) for f in SUM_FIELDS] + [(f, pa.float64()) for f in ESTIMATE_FIELDS]
    + [(f, pa.int64()) for f in CONCEPT_FIELDS]
    + [("homogenization", pa.float64()), ("homogenization_sample", pa.int64())]
    + [("n", pa.int8()), ("key", pa.int64()), ("registers", pa.binary()),
       ("okey", pa.int64()), ("text", pa.string()), ("signature", pa.binary()),
       ("stop", pa.bool_()), ("word_keys", pa.binary()), ("word_counts", pa.binary()),
       ("defines_tail", pa.bool_())])
_SPARK_TYPES = {pa.int8(): "tinyint", pa.int64(): "bigint", pa.string(): "string",
                pa.float64(): "double", pa.binary(): "binary", pa.bool_(): "boolean"}
OUTPUT_DDL = ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in OUTPUT_SCHEMA)


def group_key(scope, domain, era, month, token_budget) -> int:
    """Stable signed 64-bit id of a group's labels (None kept distinct from any text)."""
    parts = ["\x00" if v is None else str(v) for v in (scope, domain, era, month, token_budget)]
    value = xxhash.xxh64_intdigest("\x1f".join(parts).encode("utf-8"))
    return value - (1 << 64) if value >= 1 << 63 else value


def budget_era(scope: str) -> str:
    """Budget samples cover a whole scope: its era in scope `eras`, every era in a shard set."""
    return scope if scope in ERAS else ALL


def bulk_rows(kind: int, size: int, **cols) -> pa.RecordBatch:
    arrays = []
    for f in OUTPUT_SCHEMA:
        if f.name == "kind":
            arrays.append(pa.array(np.full(size, kind, np.int8)))
        elif f.name in cols:
            arrays.append(pa.array(cols[f.name], type=f.type))
        else:
            arrays.append(pa.nulls(size, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=OUTPUT_SCHEMA)


def dict_rows(kind: int, rows: list[dict]) -> list[pa.RecordBatch]:
    if not rows:
        return []
    table = pa.Table.from_pylist([{**r, "kind": kind} for r in rows], schema=OUTPUT_SCHEMA)
    return table.to_batches()
