"""Canonical document text, batch-at-a-time in Arrow (no Spark import).

Every later signal (content hash, MinHash shingles, n-gram diversity) is computed on this
form, so two crawls of the same page that differ only in Unicode composition, line-ending
convention or surrounding whitespace hash and shingle identically:
- Unicode NFC (canonical composition, UAX #15): "e" + U+0301 and U+00E9 are one text;
  NFC rather than NFKC so that compatibility characters (ligatures, full-width forms,
  superscripts) that carry meaning are kept.
- every line break (CRLF, CR, NEL, U+2028, U+2029) becomes "\\n";
- leading and trailing Unicode whitespace is trimmed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tailguard.text.tokenize import words_arrow

# Literal replacements, CRLF first: ~5x faster than one RE2 alternation over the batch.
_LINE_BREAKS = ("\r\n", "\r", "\u0085", "\u2028", "\u2029")
_NULL_REASON = pa.scalar(None, pa.string())


def normalize_text(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """NFC, unified newlines, trimmed; nulls stay null."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    out = pc.utf8_normalize(texts.cast(pa.string()), form="NFC")
    for line_break in _LINE_BREAKS:
        out = pc.replace_substring(out, line_break, "\n")
    return pc.utf8_trim_whitespace(out)


def count_chars(texts: pa.Array) -> pa.Array:
    """Unicode code points per text (int32; null text -> null)."""
    return pc.utf8_length(texts.cast(pa.string())).cast(pa.int32())


def count_words(texts: pa.Array) -> pa.Array:
    """Words per text by the shared tokenizer (int32; null text -> null)."""
    lengths = pc.list_value_length(words_arrow(texts)).cast(pa.int32())
    return pc.if_else(pc.is_valid(texts), lengths, pa.scalar(None, pa.int32()))


def text_reasons(texts: pa.Array, max_chars: int) -> pa.Array:
    """Quarantine reason implied by a normalised text, or null when the text is usable.

    Checked in this order, first match wins: `nul_bytes` (a NUL character means a binary
    payload, not prose), `empty_text` (null or nothing left after trimming), `oversize`
    (more than `max_chars` code points).
    """
    has_nul = pc.fill_null(pc.match_substring(texts, "\x00"), False)
    empty = pc.fill_null(pc.equal(pc.utf8_length(texts), 0), True)
    oversize = pc.fill_null(pc.greater(pc.utf8_length(texts), max_chars), False)
    return pc.coalesce(
        pc.if_else(has_nul, "nul_bytes", _NULL_REASON),
        pc.if_else(empty, "empty_text", _NULL_REASON),
        pc.if_else(oversize, "oversize", _NULL_REASON),
    )


def escape_prefix(raw: bytes | None, limit: int) -> str | None:
    """First `limit` bytes of a raw record as valid UTF-8: undecodable bytes become `\\xNN`.

    A multi-byte character cut by the limit shows as escapes too, so the prefix is always
    exactly the stored bytes, inspectable in any viewer.
    """
    if raw is None:
        return None
    return bytes(raw[:limit]).decode("utf-8", "backslashreplace")
