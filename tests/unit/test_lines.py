"""Word hashes with their lines: the shared tokeniser's words, hashed as the diversity
kernel hashes tokens, and line keys equal to the per-line Python reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tailguard.diversity.compiled import bytes_hash
from tailguard.text.lines import LineWords, line_key, word_hash
from tailguard.text.tokenize import word_fnv, words

TEXTS = ["Share this: Twitter Facebook\nHello world, don't  go\n\n!!!\nÜber straße — ok",
         None, "", "one", "a\nb\nc'", "\n\nx y\n", "rock'n'roll\n'quoted'\nl’eau"]
SCOPES = [0, 5, -3, 7, 2**62, -1, 123456789]


def test_words_and_hashes_are_the_tokenisers():
    column = pa.array(TEXTS, type=pa.string())
    batch = LineWords(column, np.array(SCOPES))
    _, lengths = word_fnv(column)
    assert np.diff(batch.word_offsets).tolist() == lengths.tolist()
    flat = [w for t in TEXTS for w in words(t)]
    assert [int(h) for h in batch.hashes] == [bytes_hash(w.encode("utf-8")) for w in flat]
    assert [word_hash(w) for w in flat] == [int(h) for h in batch.hashes]


def test_line_keys_equal_the_per_line_reference():
    batch = LineWords(pa.array(TEXTS, type=pa.string()), np.array(SCOPES))
    expected, per_doc, word_line = [], [0], []
    for text, scope in zip(TEXTS, SCOPES, strict=True):
        for line in (text or "").split("\n"):
            tokens = words(line)
            if tokens:
                word_line += [len(expected)] * len(tokens)
                expected.append(line_key(tokens, scope))
        per_doc.append(len(expected))
    assert [int(k) for k in batch.line_keys] == expected
    assert batch.line_offsets.tolist() == per_doc
    assert batch.word_line.tolist() == word_line


def test_a_line_is_its_words_and_its_scope():
    batch = LineWords(pa.array(["Share this: Twitter", "share THIS twitter!", "share this"]))
    assert batch.line_keys[0] == batch.line_keys[1] != batch.line_keys[2]
    scoped = LineWords(pa.array(["Share this: Twitter"] * 2), np.array([1, 2]))
    assert scoped.line_keys[0] != scoped.line_keys[1]
    assert line_key(["share", "this", "twitter"]) == int(batch.line_keys[0])


def test_a_sliced_batch_reads_its_own_texts():
    column = pa.array(["x\ny", "first doc\nhere", "second\ndoc"])
    whole, tail = LineWords(column), LineWords(column.slice(1))
    assert np.array_equal(tail.line_keys, whole.line_keys[2:])
    assert np.array_equal(tail.hashes, whole.hashes[2:])


def test_global_keys_and_word_counts_of_scoped_lines():
    batch = LineWords(pa.array(TEXTS, type=pa.string()), np.array(SCOPES))
    expected_keys, expected_counts = [], []
    for text in TEXTS:
        for line in (text or "").split("\n"):
            tokens = words(line)
            if tokens:
                expected_keys.append(line_key(tokens, 0))
                expected_counts.append(len(tokens))
    assert [int(k) for k in batch.global_line_keys()] == expected_keys
    assert batch.line_word_counts().tolist() == expected_counts
    unscoped = LineWords(pa.array(TEXTS, type=pa.string()))
    assert np.array_equal(unscoped.line_keys, batch.global_line_keys())
