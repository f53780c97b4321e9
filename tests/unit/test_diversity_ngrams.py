"""Batch n-gram hashes agree with a plain per-document reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tailguard.diversity import ngrams as ng
from tailguard.text.tokenize import words, words_arrow

TEXTS = ["The cat sat on the mat.", None, "", "state of the art", "Cat!"]


def _tokens():
    return ng.hash_texts(pa.array(TEXTS, pa.string()))


def test_word_hashes_and_documents():
    tokens = _tokens()
    flat = [w for t in TEXTS for w in words(t)]
    assert tokens.lengths.tolist() == [len(words(t)) for t in TEXTS]
    assert tokens.hashes.tolist() == [ng.word_hash(w) for w in flat]
    assert tokens.is_stop.tolist() == [w in ng.STOP_WORDS for w in flat]


def test_ngrams_stay_inside_documents():
    table = ng.ngrams_of(_tokens(), 4, 3)
    for n in range(1, 5):
        for d, text in enumerate(TEXTS):
            ws = words(text)
            expected = [ng.ngram_hash_py(ws[i:i + n]) for i in range(len(ws) - n + 1)]
            assert table.doc_grams(d, d + 1)[n - 1].tolist() == expected
        assert table.bounds[n - 1, -1] == len(table.grams[n - 1])


def test_document_ranges_slice_ngrams_and_concepts():
    table = ng.ngrams_of(_tokens(), 4, 3)
    for lo, hi in [(0, 2), (2, 5), (0, 5), (3, 3)]:
        for n in range(4):
            assert table.doc_grams(lo, hi)[n].tolist() == [
                h for d in range(lo, hi) for h in table.doc_grams(d, d + 1)[n].tolist()]
        assert table.doc_concepts(lo, hi).tolist() == [
            h for d in range(lo, hi) for h in table.doc_concepts(d, d + 1).tolist()]


def test_concepts_drop_stop_word_edges():
    cat_sat = ng.ngram_hash_py(["cat", "sat"])
    bigrams = set(ng.ngrams_of(_tokens(), 2, 2).concepts.tolist()) - set(
        ng.ngrams_of(_tokens(), 1, 1).concepts.tolist())
    assert bigrams == {cat_sat}
    four = ng.ngrams_of(_tokens(), 4, 4).concepts.tolist()
    assert [h for h in four if h in {ng.ngram_hash_py(["sat", "on", "the", "mat"]),
                                      ng.ngram_hash_py(["state", "of", "the", "art"])}] == [
        ng.ngram_hash_py(["sat", "on", "the", "mat"]),
        ng.ngram_hash_py(["state", "of", "the", "art"])]
    unigrams = ng.ngrams_of(_tokens(), 1, 1).concepts
    assert sorted(unigrams.tolist()) == sorted(
        ng.word_hash(w) for w in ["cat", "sat", "mat", "state", "art", "cat"])


def test_empty_batch():
    tokens = ng.hash_texts(pa.array([None, ""], pa.string()))
    assert tokens.lengths.tolist() == [0, 0]
    table = ng.ngrams_of(tokens, 2, 2)
    assert [len(h) for h in table.grams] == [0, 0] and len(table.concepts) == 0
    assert tokens.hashes.dtype == np.uint64


def test_concept_hashes_py_equals_the_batch_concepts():
    """The Python reference and the compiled concept rule agree, stop-word edges included."""
    texts = ["the state of the art in quokka research", "of the", "", "quokka quokka"]
    table = ng.ngrams_of(ng.hash_texts(pa.array(texts)), 4, 3)
    for row, text in enumerate(texts):
        got = table.doc_concepts(row, row + 1).tolist()
        assert sorted(got) == sorted(ng.concept_hashes_py(words(text), 3))
    assert len(ng.concept_hashes_py(words(texts[0]), 3)) > 5


def test_every_stop_word_and_no_other_word_is_flagged():
    import random

    rng = random.Random(3)
    others = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzé'") for _ in range(rng.randint(1, 9)))
              for _ in range(3000)]
    text = " ".join(sorted(ng.STOP_WORDS) + others)
    vocab = words(text)
    assert vocab[:len(ng.STOP_WORDS)] == sorted(ng.STOP_WORDS)  # each is one token
    tokens = ng.hash_texts(pa.array([text]))
    assert tokens.is_stop.tolist() == [w in ng.STOP_WORDS for w in vocab]
    assert tokens.hashes.tolist() == [ng.word_hash(w) for w in vocab]
    assert len(set(tokens.hashes.tolist())) == len(set(vocab))  # no collision here


def test_hash_texts_equals_tokenising_then_hashing():
    """The one-pass `hash_texts` gives the hashes, stop flags and lengths of the
    tokeniser's words hashed one by one, on text with Unicode, apostrophes and nulls."""
    texts = [*TEXTS, "Ça va—très BIEN’s, don't", "x'y 42 it's", "'", "the of and", "é"]
    fused = ng.hash_texts(pa.array(texts, pa.string()))
    flat = [w for ws in words_arrow(pa.array(texts, pa.string())).to_pylist() for w in ws]
    assert fused.hashes.tolist() == [ng.word_hash(w) for w in flat]
    assert fused.is_stop.tolist() == [w in ng.STOP_WORDS for w in flat]
    assert fused.lengths.tolist() == [len(words(t)) for t in texts]
    assert fused.is_stop.any() and not fused.is_stop.all()
