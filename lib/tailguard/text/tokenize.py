"""Word tokenisation shared by every job (MinHash shingles, diversity, share estimators).

One definition of a "word" keeps the numbers comparable across tables: lower-cased
maximal runs of Unicode letters and digits (RE2 `\\pL`, `\\pN`), with apostrophes kept
only between two such characters ("don't", "l'eau", "rock'n'roll"). The whole batch is
tokenised by pyarrow compute kernels, with no Python loop per document.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# An apostrophe not squeezed between two word characters is a separator.
_LONE_APOSTROPHE = r"(^|[^\pL\pN])'+|'+($|[^\pL\pN])|'{2,}"
_SEPARATOR = r"[^\pL\pN']+"


def words_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Tokenise a batch of texts into a list<string> array; nulls become empty lists."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    lowered = pc.utf8_lower(pc.fill_null(texts.cast(pa.large_string()), ""))
    lowered = pc.replace_substring(lowered, "\u2019", "'")
    # Applied twice: one pass cannot see overlapping matches like "a''b" followed by "'c".
    lowered = pc.replace_substring_regex(lowered, _LONE_APOSTROPHE, r"\1 \2")
    lowered = pc.replace_substring_regex(lowered, _LONE_APOSTROPHE, r"\1 \2")
    pieces = pc.split_pattern_regex(lowered, _SEPARATOR)
    flat = pc.list_flatten(pieces)
    parents = pc.list_parent_indices(pieces)
    keep = pc.not_equal(flat, "")
    kept_words = pc.filter(flat, keep).cast(pa.string())
    kept_parents = pc.filter(parents, keep).to_numpy(zero_copy_only=False)
    counts = np.bincount(kept_parents, minlength=len(texts)).astype(np.int32)
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), kept_words)


def words(text: str | None) -> list[str]:
    """Words of one text: the batch tokeniser on a batch of one, so both always agree."""
    return words_arrow(pa.array([text], type=pa.string()))[0].as_py()
