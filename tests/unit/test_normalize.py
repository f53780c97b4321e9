"""Canonical text: NFC, unified newlines, trimming, counts and text-level reasons."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest

from tailguard.text.normalize import (
    count_chars,
    count_words,
    escape_prefix,
    normalize_text,
    text_reasons,
)
from tailguard.text.tokenize import words


def _norm(values):
    return normalize_text(pa.array(values, pa.string())).to_pylist()


def test_nfc_composes_combining_marks():
    decomposed = "Cafe\u0301 na\u0131\u0308ve"
    (out,) = _norm([decomposed])
    assert out == unicodedata.normalize("NFC", decomposed)
    assert "\u00e9" in out and "\u0301" not in out


def test_nfc_keeps_compatibility_characters():
    assert _norm(["\ufb01ne \u00b2"]) == ["\ufb01ne \u00b2"]  # NFKC would give "fine 2"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb", "a\nb"),
        ("a\rb\rc", "a\nb\nc"),
        ("a\u2028b\u2029c\u0085d", "a\nb\nc\nd"),
        ("a\r\n\r\nb", "a\n\nb"),
        ("  \t\n text here \n\u3000 ", "text here"),
        ("inner   spaces\tkept", "inner   spaces\tkept"),
    ],
)
def test_newlines_unified_and_trimmed(raw, expected):
    assert _norm([raw]) == [expected]


def test_nulls_and_empty_pass_through():
    assert _norm([None, "", "   "]) == [None, "", ""]


def test_counts_agree_with_tokenizer_and_code_points():
    texts = pa.array(["Don't stop \u00e9t\u00e9 2024!", "", None, "\U0001f600 a"], pa.string())
    assert count_chars(texts).to_pylist() == [20, 0, None, 3]
    assert count_words(texts).to_pylist() == [
        len(words("Don't stop \u00e9t\u00e9 2024!")), 0, None, 1]
    assert count_words(texts).type == pa.int32() and count_chars(texts).type == pa.int32()


def test_text_reasons_precedence():
    texts = pa.array(["ok", "", None, "a\x00b", "x" * 11, "\x00" + "y" * 20, "x" * 10])
    assert text_reasons(texts, 10).to_pylist() == [
        None, "empty_text", "empty_text", "nul_bytes", "oversize", "nul_bytes", None]


def test_escape_prefix_is_valid_utf8_and_bounded():
    raw = "h\u00e9llo".encode() + b"\xff\x00tail"
    assert escape_prefix(raw, 100) == "h\u00e9llo\\xff\x00tail"
    assert escape_prefix(raw, 2) == "h\\xc3"  # a character cut by the limit shows as escapes
    assert escape_prefix(None, 10) is None
    assert escape_prefix(b"", 10) == ""
