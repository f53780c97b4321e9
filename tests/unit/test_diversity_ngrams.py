"""Batch n-gram hashes agree with a plain per-document reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tailguard.diversity import ngrams as ng
from tailguard.text.tokenize import words, words_arrow

TEXTS = ["The cat sat on the mat.", None, "", "state of the art", "Cat!"]


def _tokens():
    return ng.hash_words(words_arrow(pa.array(TEXTS, pa.string())))


def test_word_hashes_and_documents():
    tokens = _tokens()
    flat = [w for t in TEXTS for w in words(t)]
    assert tokens.lengths.tolist() == [len(words(t)) for t in TEXTS]
    assert tokens.hashes.tolist() == [ng.word_hash(w) for w in flat]
    assert tokens.is_stop.tolist() == [w in ng.STOP_WORDS for w in flat]
    assert tokens.doc.tolist() == [i for i, t in enumerate(TEXTS) for _ in words(t)]


def test_ngrams_stay_inside_documents():
    tokens = _tokens()
    for n in (1, 2, 3, 4):
        hashes, doc, _ = ng.ngrams(tokens, n)
        expected = [(ng.ngram_hash_py(ws[i:i + n]), d) for d, t in enumerate(TEXTS)
                    for ws in [words(t)] for i in range(len(ws) - n + 1)]
        assert list(zip(hashes.tolist(), doc.tolist(), strict=True)) == expected


def test_concepts_drop_stop_word_edges():
    tokens = _tokens()
    hashes, _ = ng.concept_ngrams(tokens, 2)
    assert set(hashes.tolist()) == {ng.ngram_hash_py(["cat", "sat"])}
    hashes4, _ = ng.concept_ngrams(tokens, 4)
    assert hashes4.tolist() == [ng.ngram_hash_py(["sat", "on", "the", "mat"]),
                                ng.ngram_hash_py(["state", "of", "the", "art"])]
    unigrams, _ = ng.concept_ngrams(tokens, 1)
    assert sorted(unigrams.tolist()) == sorted(
        ng.word_hash(w) for w in ["cat", "sat", "mat", "state", "art", "cat"])


def test_empty_batch():
    tokens = ng.hash_words(words_arrow(pa.array([None, ""], pa.string())))
    assert tokens.lengths.tolist() == [0, 0]
    assert len(ng.ngrams(tokens, 2)[0]) == 0
    assert tokens.hashes.dtype == np.uint64
