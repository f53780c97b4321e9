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
    for n, (hashes, doc, _) in enumerate(ng.ngram_levels(tokens, 4), 1):
        expected = [(ng.ngram_hash_py(ws[i:i + n]), d) for d, t in enumerate(TEXTS)
                    for ws in [words(t)] for i in range(len(ws) - n + 1)]
        assert list(zip(hashes.tolist(), doc.tolist(), strict=True)) == expected


def _concepts(tokens, n):
    hashes, doc, start = ng.ngram_levels(tokens, n)[n - 1]
    edge = ng.concept_edges(tokens, start, n)
    return hashes[edge], doc[edge]


def test_concepts_drop_stop_word_edges():
    tokens = _tokens()
    hashes, _ = _concepts(tokens, 2)
    assert set(hashes.tolist()) == {ng.ngram_hash_py(["cat", "sat"])}
    hashes4, _ = _concepts(tokens, 4)
    assert hashes4.tolist() == [ng.ngram_hash_py(["sat", "on", "the", "mat"]),
                                ng.ngram_hash_py(["state", "of", "the", "art"])]
    unigrams, _ = _concepts(tokens, 1)
    assert sorted(unigrams.tolist()) == sorted(
        ng.word_hash(w) for w in ["cat", "sat", "mat", "state", "art", "cat"])


def test_empty_batch():
    tokens = ng.hash_words(words_arrow(pa.array([None, ""], pa.string())))
    assert tokens.lengths.tolist() == [0, 0]
    assert [len(h) for h, _, _ in ng.ngram_levels(tokens, 2)] == [0, 0]
    assert tokens.hashes.dtype == np.uint64



def test_concept_hashes_py_equals_the_batch_concepts():
    """The Python reference and the vectorised concept rule agree, stop-word edges included."""
    texts = ["the state of the art in quokka research", "of the", "", "quokka quokka"]
    tokens = ng.hash_words(words_arrow(pa.array(texts)))
    levels = [_concepts(tokens, n) for n in (1, 2, 3)]
    for row, text in enumerate(texts):
        got = [h for hashes, doc in levels for h in hashes[doc == row].tolist()]
        assert sorted(got) == sorted(ng.concept_hashes_py(words(text), 3))
    assert len(ng.concept_hashes_py(words(texts[0]), 3)) > 5
