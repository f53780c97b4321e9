"""The kernel's input columns and its one output schema, with row builders (no Spark import).

Both kinds of output (a sample's metrics, a replicate sample's sums) are rows of one
schema, nulls where a kind has no value, so one `mapInArrow` pass emits both and Spark
splits them by `kind`.
"""

from __future__ import annotations

import pyarrow as pa

from tailguard.diversity.accum import DISTINCT_N

KIND_METRICS, KIND_REPLICATE = 0, 1
ALL = "__all__"
ERAS = ("pre_ai", "attested", "post_ai")
LABELS = ("scope", "domain", "era", "month", "token_budget")
SUM_FIELDS = ("n_docs", "n_tokens", *[f"ngrams_{n}" for n in range(1, DISTINCT_N + 1)],
              "raw_bytes", "compressed_bytes")
ESTIMATE_FIELDS = (*[f"distinct_n_{n}" for n in range(1, DISTINCT_N + 1)], "entropy_unigram")
CONCEPT_FIELDS = ("distinct_concepts", "concept_occurrences", "f1", "f2", "covered")
INPUT_COLUMNS = ("scope", "domain", "month", "okey", "n_words", "text", "signature", "is_sig",
                 "defines_tail", "whole_top", "month_top", "rep_top")
OUTPUT_SCHEMA = pa.schema(
    [("kind", pa.int8()), ("scope", pa.string()), ("domain", pa.string()),
     ("era", pa.string()), ("month", pa.string()), ("token_budget", pa.int64())]
    + [(f, pa.int64()) for f in SUM_FIELDS] + [(f, pa.float64()) for f in ESTIMATE_FIELDS]
    + [(f, pa.int64()) for f in CONCEPT_FIELDS]
    + [("homogenization", pa.float64()), ("homogenization_sample", pa.int64())]
    + [("key", pa.int64())])
_SPARK_TYPES = {pa.int8(): "tinyint", pa.int64(): "bigint", pa.string(): "string",
                pa.float64(): "double", pa.binary(): "binary", pa.bool_(): "boolean"}
OUTPUT_DDL = ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in OUTPUT_SCHEMA)


def budget_era(scope: str) -> str:
    """Budget samples cover a whole scope: its era in scope `eras`, every era in a shard set."""
    return scope if scope in ERAS else ALL


def dict_rows(kind: int, rows: list[dict]) -> list[pa.RecordBatch]:
    if not rows:
        return []
    table = pa.Table.from_pylist([{**r, "kind": kind} for r in rows], schema=OUTPUT_SCHEMA)
    return table.to_batches()
