"""Per-date taggers: the per-document signals the shards read, computed once per crawl date.

- `quality`: the product's token count (`docs.n_words`: whitespace-separated words of the
  normalised text, the count every budget in the shards is in), the UTF-8 size, and the
  Gopher quality scores (`quality.py`). They depend on the text alone, so a partition is
  made once and stays valid until the tagger's version changes.
- `tail`: how many distinct tail concepts a document holds and their indices into the
  sorted tail band (`tail_concepts`, written by the diversity job). The band is
  whole-crawl state: the stamp holds its fingerprint, so a refreshed band makes every
  partition stale and they are recomputed, never mixed with the old band's indices.

Each tagger is one Arrow pass over the text of the dates it is asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tailguard.attributes.quality import COUNT_COLUMNS, SCORE_COLUMNS, quality_scores
from tailguard.attributes.store import KEYS, Maker
from tailguard.diversity.compiled import contains_each, key_table
from tailguard.diversity.ngrams import hash_texts, ngrams_of
from tailguard.schema import require_columns

# Bump when a tagger's output changes for the same text: stored partitions become stale.
QUALITY_VERSION = 1
TAIL_VERSION = 1

QUALITY_COLUMNS = (*KEYS, "n_tokens", "n_bytes", *SCORE_COLUMNS)
QUALITY_DDL = ", ".join(
    ["doc_id string", "crawl_date date", "n_tokens int", "n_bytes long"]
    + [f"{c} {'int' if c in COUNT_COLUMNS else 'double'}" for c in SCORE_COLUMNS])
TAIL_COLUMNS = (*KEYS, "tail_concepts", "tail_ids")
TAIL_DDL = "doc_id string, crawl_date date, tail_concepts int, tail_ids array<int>"


def quality_maker() -> Maker:
    return Maker("quality", QUALITY_VERSION, {})


def band_fingerprint(tail: np.ndarray) -> str:
    """sha256 (16 hex digits) of the sorted tail band's keys."""
    return hashlib.sha256(np.ascontiguousarray(tail, np.uint64).tobytes()).hexdigest()[:16]


def tail_maker(tail: np.ndarray, max_n: int) -> Maker:
    return Maker("tail", TAIL_VERSION, {"tail.max_n": int(max_n),
                                        "tail band": band_fingerprint(tail),
                                        "tail band size": int(len(tail))})


def tail_members(texts: pa.Array, table: np.ndarray, tail: np.ndarray, max_n: int
                 ) -> tuple[np.ndarray, pa.ListArray]:
    """Per document: how many distinct tail concepts it holds, and their indices into the
    sorted tail (so coverage of any sample is a distinct count of small integers)."""
    n_docs = len(texts)
    if not len(tail):
        return np.zeros(n_docs, np.int32), pa.array([[]] * n_docs, pa.list_(pa.int32()))
    grams = ngrams_of(hash_texts(texts), max_n, max_n)
    hits = np.flatnonzero(contains_each(table, grams.concepts))
    doc_of = np.searchsorted(grams.concept_bounds, hits, side="right") - 1
    index = np.searchsorted(tail, grams.concepts[hits]).astype(np.int64)
    pairs = np.unique(doc_of.astype(np.int64) * len(tail) + index)  # sorted by doc
    docs, ids = pairs // len(tail), (pairs % len(tail)).astype(np.int32)
    counts = np.bincount(docs, minlength=n_docs).astype(np.int32)
    offsets = np.zeros(n_docs + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return counts, pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids))


def quality_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """QUALITY_COLUMNS of one batch of (doc_id, crawl_date, n_tokens, text)."""
    texts = batch.column("text")
    scores = quality_scores(texts)
    sizes = pc.binary_length(texts.cast(pa.large_string()).fill_null(""))
    columns = {name: batch.column(name) for name in (*KEYS, "n_tokens")}
    columns["n_bytes"] = sizes.cast(pa.int64())
    for name in SCORE_COLUMNS:
        values = scores[name]
        columns[name] = pa.array(values.astype(np.int32) if name in COUNT_COLUMNS else values)
    return pa.RecordBatch.from_pydict(columns)


def _quality_fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield quality_batch(batch)


def with_quality(docs: DataFrame) -> DataFrame:
    """QUALITY_COLUMNS per document of `docs` (doc_id, crawl_date, n_words, text)."""
    require_columns(docs, (*KEYS, "n_words", "text"), "with_quality")
    return (docs.select(*KEYS, F.col("n_words").alias("n_tokens"), "text")
            .mapInArrow(_quality_fn, QUALITY_DDL))


def _tail_fn(tail_broadcast, max_n: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tail = np.asarray(tail_broadcast.value, np.uint64)
        table = key_table(tail)
        for batch in batches:
            counts, ids = tail_members(batch.column("text"), table, tail, max_n)
            yield pa.RecordBatch.from_pydict({
                "doc_id": batch.column("doc_id"), "crawl_date": batch.column("crawl_date"),
                "tail_concepts": pa.array(counts), "tail_ids": ids})

    return run


def with_tail(docs: DataFrame, tail_broadcast, max_n: int) -> DataFrame:
    """TAIL_COLUMNS per document of `docs` (doc_id, crawl_date, text); the band is a
    broadcast sorted uint64 array."""
    require_columns(docs, (*KEYS, "text"), "with_tail")
    return docs.select(*KEYS, "text").mapInArrow(_tail_fn(tail_broadcast, max_n), TAIL_DDL)
