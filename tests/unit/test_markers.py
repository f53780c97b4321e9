"""Marker-word rate over normalised lines."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tailguard.detector.markers import MARKER_PHRASES, MARKER_WORDS, marker_rate, marker_rate_arrow


def test_counts_words_and_phrases_per_word():
    # 10 word tokens (the comma is not one). Hits: the words delve, pivotal, testament
    # and the phrases "delve into", "a testament to": 5 / 10.
    line = "we delve into a pivotal topic , a testament to care"
    assert marker_rate(line) == pytest.approx(5 / 10)


def test_plain_text_empty_and_null():
    rates = marker_rate_arrow(pa.array(["the cat sat on the mat .", "", None]))
    assert list(rates) == [0.0, 0.0, 0.0]


def test_punctuation_does_not_count_as_words():
    assert marker_rate("delve , , , . !") == pytest.approx(1.0)


def test_phrase_needs_token_boundaries():
    assert marker_rate("overall , it works") == pytest.approx(2 / 3)  # word + phrase
    assert marker_rate("overalls are blue") == 0.0


def test_lexicon_is_lower_case_and_normalised():
    assert all(w == w.lower() and " " not in w for w in MARKER_WORDS)
    assert all(p == p.lower() and "  " not in p for p in MARKER_PHRASES)
