"""frequent_concepts in Spark equals the concept counts computed in plain Python."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tailguard.diversity import ngrams as ng
from tailguard.diversity import tail
from tailguard.text.tokenize import words

VOCAB = [f"w{i}" for i in range(60)] + ["the", "of", "and", "a"]


def _texts():
    rng = np.random.default_rng(11)
    docs = [" ".join(rng.choice(VOCAB, size=int(rng.integers(0, 40)))) for _ in range(120)]
    return docs + [None, "", "the of and", "State of the art, w1 w2!"]


def expected_concepts(texts, max_n: int) -> Counter:
    """Concept hashes of `texts` from the pure-Python word and n-gram hashes."""
    return Counter(h for text in texts for h in ng.concept_hashes_py(words(text), max_n))


def _frequent(df) -> dict[int, int]:
    return {r["key"] & (2**64 - 1): r["count"] for r in df.collect()}


@pytest.mark.parametrize(("partitions", "window"), [(2, 1 << 22), (3, 50)])
def test_frequent_concepts_equal_python_counts(spark, monkeypatch, partitions, window):
    """Several map tasks (and, with window=50, several windows per task) whose partial
    counts of a key meet in one reducer."""
    monkeypatch.setattr(tail, "FLUSH_OCCURRENCES", window)
    texts = _texts()
    ref = spark.createDataFrame([(t,) for t in texts], "text string").repartition(3)
    expected = expected_concepts(texts, 3)
    want = {k: c for k, c in expected.items() if c >= 3}
    assert len(want) > 100 and any(k >= 1 << 63 for k in want)
    assert len(want) < len(expected)  # some concepts are too rare
    conf = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(conf)
    spark.conf.set(conf, "8")  # several batches, so several windows, per task
    try:
        got = _frequent(tail.frequent_concepts(ref, 3, 3, partitions))
    finally:
        spark.conf.set(conf, before)
    assert got == want


def test_empty_reference_gives_no_rows(spark):
    empty = spark.createDataFrame([], "text string")
    assert tail.frequent_concepts(empty, 3, 2, 2).collect() == []
    assert len(tail.tail_concepts(tail.frequent_concepts(empty, 3, 2, 2), 2, 0.5)) == 0
    no_concepts = spark.createDataFrame([(None,), ("",), ("the of",)], "text string")
    assert tail.frequent_concepts(no_concepts.repartition(2), 3, 1, 2).collect() == []


def test_tail_band_is_the_lower_quantile_of_eligible_counts(spark):
    """The band is read off the (key, count) rows on the driver: keys seen fewer than
    min_count times never enter it (nor its quantile), the bound is the exact quantile of
    the eligible counts, and the keys come back as uint64 sorted by that order (a
    negative int64 key is a hash above 2^63)."""
    rows = [(-5, 3), (7, 3), (9, 4), (11, 9), (13, 2), (15, 2), (17, 2)]
    frequent = spark.createDataFrame(rows, "key bigint, count bigint").repartition(3)
    # eligible counts 3, 3, 4, 9: P(count <= 3) = 0.5, so the 0.5 band ends at 3
    band = tail.tail_concepts(frequent, 3, 0.5)
    assert band.dtype == np.uint64
    assert band.tolist() == [7, 2**64 - 5]
    # the 0.75 band ends at 4; with min_count 2 the three 2s are eligible and are the band
    assert tail.tail_concepts(frequent, 3, 0.75).tolist() == [7, 9, 2**64 - 5]
    assert tail.tail_concepts(frequent, 2, 0.4).tolist() == [13, 15, 17]
    assert len(tail.tail_concepts(frequent, 10, 0.5)) == 0
