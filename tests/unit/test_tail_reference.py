"""The reference pass's blobs (tail.py map and reduce sides) against plain Python counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from tailguard.diversity import blobs, tail
from tailguard.diversity import ngrams as ng
from tailguard.text.tokenize import words

TEXTS = [
    "The quokka and the zymurgy of state of the art quokka",
    "quokka quokka of syzygy, state of the art!",
    None,
    "",
    "the of and",  # only stop words: no concept at all
    "zymurgy syzygy quokka zymurgy syzygy quokka",
    "Art state: quokka; the quokka and zymurgy",
]
TOP_BIT = 1 << 63


def expected_concepts(texts, max_n: int) -> Counter:
    """Concept hashes of `texts` from the pure-Python word and n-gram hashes."""
    return Counter(h for text in texts for h in ng.concept_hashes_py(words(text), max_n))


def _text_batches(texts, size: int):
    return [pa.RecordBatch.from_arrays([pa.array(texts[i:i + size], pa.string())],
                                       names=["text"]) for i in range(0, len(texts), size)]


def _decode(batches) -> Counter:
    got = Counter()
    for batch in batches:
        for keys, counts in tail.read_blobs(batch):
            for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
                got[k] += c
    return got


def _exchange(batches, partitions: int) -> list[list[pa.RecordBatch]]:
    """What the exchange does to blob rows: bucket b to partition b % partitions
    (repartitionById), then sortWithinPartitions("bucket"); one batch per partition."""
    rows = pa.Table.from_batches(batches)
    part = np.mod(rows.column("bucket").to_numpy(), partitions)
    out = []
    for p in range(partitions):
        mine = rows.filter(pa.array(part == p)).sort_by("bucket").combine_chunks()
        out.append(mine.to_batches())
    return out


def _frequent(batches) -> dict[int, int]:
    out = pa.Table.from_batches(batches)
    return dict(zip(out.column("key").to_numpy().view(np.uint64).tolist(),
                    out.column("count").to_pylist(), strict=True))


@pytest.mark.parametrize("window", [1 << 22, 3])
def test_map_blobs_sum_to_python_concept_counts(window):
    """Decoded and summed, a task's blobs are its exact concept counts, with one window
    or with a window per batch (window=3)."""
    expected = expected_concepts(TEXTS, 3)
    assert expected[ng.word_hash("quokka")] == 8
    assert expected[ng.ngram_hash_py(["state", "of", "the", "art"])] == 0  # a 4-gram
    assert expected[ng.ngram_hash_py(["state", "of", "the"])] == 0  # stop-word edge
    assert any(k >= TOP_BIT for k in expected)  # keys that are negative as bigint
    out = list(tail._concept_blobs(3, 16, window)(iter(_text_batches(TEXTS, 2))))
    assert len(out) == (1 if window > 100 else 3)  # batch 2 has no concept: no window
    for batch in out:
        assert batch.schema.names == ["bucket", "keys", "counts"]
        assert 0 < batch.num_rows <= 16  # a row per bucket, not per key
    assert _decode(out) == expected


def test_map_side_emits_nothing_without_concepts():
    fn = tail._concept_blobs(3, 16, 1 << 22)
    assert list(fn(iter([]))) == []
    assert list(fn(iter(_text_batches([None, "", "the of and"], 2)))) == []


def test_split_puts_every_key_in_exactly_one_bucket():
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 2**63, 5000, dtype=np.int64).view(np.uint64)
                     * np.uint64(2) + rng.integers(0, 2, 5000).astype(np.uint64))
    counts = rng.integers(1, 1000, len(keys)).astype(np.int64)
    assert (keys >= np.uint64(TOP_BIT)).any()
    batch = tail.split_blobs(keys, counts, 24)
    assert batch.column("bucket").to_pylist() == list(range(24))  # 5000 keys fill all 24
    seen = {}
    for bucket, (k, c) in zip(batch.column("bucket").to_pylist(), tail.read_blobs(batch),
                              strict=True):
        assert (k % np.uint64(24) == np.uint64(bucket)).all()
        for key, count in zip(k.tolist(), c.tolist(), strict=True):
            assert key not in seen
            seen[key] = count
    assert seen == dict(zip(keys.tolist(), counts.tolist(), strict=True))
    assert tail.split_blobs(keys[:0], counts[:0], 24).num_rows == 0


@pytest.mark.parametrize(("big", "width"), [(255, 1), (256, 2), (2**32 - 1, 4),
                                            (2**32, 8), (2**62, 8)])
def test_counts_are_never_clipped(big, width):
    assert blobs.count_width(big) == width
    keys = np.array([3, TOP_BIT + 5, 2**64 - 1], np.uint64)
    batch = tail.split_blobs(keys, np.array([1, big, 2], np.int64), 8)
    assert all(len(c) * 8 == width * len(k) for k, c in
               zip(batch.column("keys").to_pylist(), batch.column("counts").to_pylist(),
                   strict=True))
    assert _decode([batch]) == {3: 1, TOP_BIT + 5: big, 2**64 - 1: 2}


def test_reducer_keeps_keys_whose_partials_reach_min_count():
    """Partial counts of one key from several blobs (tasks, flushes, count widths) are
    summed before min_count applies: no blob alone reaches it for `a` or `b`."""
    a, b, c, d = TOP_BIT + 11, 22, 2**64 - 3, 44
    parts = [({a: 1, b: 2, c: 1}), ({a: 1, d: 1}), ({a: 1, b: 1, c: 300}), ({d: 1})]
    batches = [tail.split_blobs(np.array(list(p), np.uint64),
                                np.array(list(p.values()), np.int64), 8) for p in parts]
    assert sum(batch.num_rows for batch in batches) > len(parts)  # keys in several buckets
    [exchanged] = _exchange(batches, 1)
    assert _frequent(list(tail._sum_frequent(3)(iter(exchanged)))) == {a: 3, b: 3, c: 301}
    split = [exchanged[0].slice(i, 1) for i in range(exchanged[0].num_rows)]  # row batches
    assert _frequent(list(tail._sum_frequent(2)(iter(split)))) == {a: 3, b: 3, c: 301, d: 2}
    with pytest.raises(ValueError, match="not contiguous"):  # the exchange must sort
        list(tail._sum_frequent(2)(iter(batches)))
    empty = list(tail._sum_frequent(3)(iter([])))
    assert [batch.num_rows for batch in empty] == [0]
    assert empty[0].schema.names == ["key", "count"]


def test_map_and_reduce_give_exact_frequent_concepts():
    """Blobs of three tasks with tiny flushes, regrouped by bucket label as the exchange
    would, reduce to exactly the concepts seen at least min_count times."""
    expected = expected_concepts(TEXTS, 2)
    blobs = [batch for task in (TEXTS[:3], TEXTS[3:5], TEXTS[5:])
             for batch in tail._concept_blobs(2, 16, 2)(iter(_text_batches(task, 1)))]
    got = {}
    for batches in _exchange(blobs, 2):
        got.update(_frequent(list(tail._sum_frequent(2)(iter(batches)))))
    assert got == {k: c for k, c in expected.items() if c >= 2}
    assert len(got) > 5


def test_exact_quantile_bound():
    assert tail.quantile_bound([(3, 5), (4, 3), (9, 2)], 0.5) == 3
    assert tail.quantile_bound([(3, 5), (4, 3), (9, 2)], 0.6) == 4
    assert tail.quantile_bound([(9, 2), (3, 5)], 1.0) == 9
    assert tail.quantile_bound([], 0.5) is None


def test_a_band_is_current_only_for_the_same_reference_and_definition():
    """The stored band is reused only when the reference's documents (count and
    fingerprint), the `tail.*` values and the seed all match; its size does not matter."""
    from types import SimpleNamespace

    from tailguard.diversity import tail

    cfg = SimpleNamespace(max_n=3, min_count=3, quantile=0.5)
    stored = tail.fit_record(100, -42, cfg, 1, concepts=900)
    assert tail.band_is_current(stored, tail.fit_record(100, -42, cfg, 1, concepts=0))
    assert not tail.band_is_current(None, stored)
    for changed in (tail.fit_record(101, -42, cfg, 1, 0), tail.fit_record(100, 7, cfg, 1, 0),
                    tail.fit_record(100, -42, SimpleNamespace(max_n=3, min_count=2,
                                                              quantile=0.5), 1, 0),
                    tail.fit_record(100, -42, cfg, 2, 0)):
        assert not tail.band_is_current(stored, changed)


def test_the_sample_stamp_names_the_band_and_the_parameters():
    import numpy as np

    from tailguard.diversity.kernel import KernelParams
    from tailguard.diversity.reuse import stamp

    band = np.array([3, 1, 2], np.uint64)
    assert stamp(KernelParams(), band, 1) == stamp(KernelParams(), band.copy(), 1)
    assert stamp(KernelParams(), band, 1) != stamp(KernelParams(), band[:2], 1)
    assert stamp(KernelParams(), band, 1) != stamp(KernelParams(replicates=3), band, 1)
    assert stamp(KernelParams(), band, 1) != stamp(KernelParams(), band, 2)
