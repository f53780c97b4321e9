"""The kernel's merged partials equal exact per-group computations."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from tailguard.diversity import hll
from tailguard.diversity import kernel as K
from tailguard.diversity import ngrams as ng
from tailguard.diversity.estimators import ChunkCompressor
from tailguard.text.tokenize import words

DOCS = [  # gid, concept_gid, okey, text
    (10, 0, 1, "The quick brown fox jumps over the lazy dog."),
    (11, None, 2, "A lazy dog sleeps; the fox is quick."),
    (12, 0, 3, "Rare words: zymurgy, quokka, syzygy, the quokka again."),
    (10, None, 4, None),
    (13, None, 5, "Templated text. Templated text. Templated text."),
    (11, 0, 6, ""),
]


def _batch(rows):
    cols = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(cols[0], pa.int64()), pa.array(cols[1], pa.int64()),
         pa.array(cols[2], pa.int64()), pa.array(cols[3], pa.string())],
        names=list(K.INPUT_COLUMNS))


def _merged(params, batches):
    run = K.kernel_fn(params)
    out = pa.Table.from_batches(list(run(iter(batches))), schema=K.OUTPUT_SCHEMA).to_pandas()
    return out.groupby(["kind", "gid", "n", "key"]).agg(vsum=("value", "sum")).reset_index(), out


def _registers(raw, gid, n, p):
    reg = np.zeros(1 << p, np.int8)
    for blob in raw[(raw.kind == K.KIND_HLL) & (raw.gid == gid) & (raw.n == n)].registers:
        reg = np.maximum(reg, hll.decode(blob, p))
    return reg


@pytest.mark.parametrize("open_groups", [1, 2, 64])
def test_partials_equal_exact_values(open_groups):
    params = K.KernelParams(precision=8, concept_max_n=3, chunk_bytes=32, level=3,
                            max_open_groups=open_groups)
    merged, raw = _merged(params, [_batch(DOCS[:3]), _batch(DOCS[3:])])
    for gid in {d[0] for d in DOCS}:
        docs = [d for d in DOCS if d[0] == gid]
        toks = [words(d[3]) for d in docs]
        mine = merged[merged.gid == gid]
        doc_rows = mine[mine.kind == K.KIND_DOC]
        assert dict(zip(doc_rows.key, doc_rows.vsum, strict=True)) == {
            d[2]: len(t) for d, t in zip(docs, toks, strict=True)}
        word_rows = mine[mine.kind == K.KIND_WORD]
        expected_words = Counter(ng.word_hash(w) for t in toks for w in t)
        got = dict(zip(word_rows.key.to_numpy().view(np.uint64).tolist(), word_rows.vsum,
                       strict=True))
        assert got == dict(expected_words)
        for n in range(1, 5):
            grams = [ng.ngram_hash_py(t[i:i + n]) for t in toks for i in range(len(t) - n + 1)]
            np.testing.assert_array_equal(_registers(raw, gid, n, 8),
                                          hll.registers(np.array(grams, np.uint64), 8))
        if open_groups == 64:  # one flush per group: chunk sums are exact
            comp = ChunkCompressor(32, 3)
            for d in docs:
                comp.add(((d[3] or "") + "\n").encode())
            sizes = mine[mine.kind == K.KIND_BYTES].sort_values("n").vsum.tolist()
            assert sizes == list(comp.finish())


def test_reference_concepts_counted_only_for_concept_docs():
    params = K.KernelParams(precision=6, concept_max_n=2)
    merged, _ = _merged(params, [_batch(DOCS)])
    rows = merged[merged.kind == K.KIND_CONCEPT]
    assert set(rows.gid) == {0}
    got = Counter()
    for key, count in zip(rows.key.to_numpy().view(np.uint64).tolist(), rows.vsum,
                          strict=True):
        got[key] += count
    expected = Counter()
    for d in DOCS:
        if d[1] is None:
            continue
        t = words(d[3])
        for n in (1, 2):
            for i in range(len(t) - n + 1):
                if t[i] not in ng.STOP_WORDS and t[i + n - 1] not in ng.STOP_WORDS:
                    expected[ng.ngram_hash_py(t[i:i + n])] += 1
    assert got == expected
    assert expected[ng.word_hash("quokka")] == 2


def test_empty_input_gives_no_rows():
    params = K.KernelParams(precision=6)
    assert list(K.kernel_fn(params)(iter([]))) == []
