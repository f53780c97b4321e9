"""Detector text normalisation: the one function used at training and at scoring time.

A bag-of-n-grams detector learns whatever separates its two labels most cheaply, and in
public human-vs-LLM corpora that is often formatting, not style (see the caveats of
shared/data/detector/README.md and Doughman et al. 2024 on DetectRL's "Here is ..."
contamination): PTB tokenisation (`do n't`, ` , `) on the human side, literal `nn` where a
paragraph break was stripped, sentences glued by deleted newlines (`ago.An`), leading
spaces, chat preambles ("Sure, here is ...:", "Title: ..."), cp1252 mojibake and
`_URL_n_` placeholders. Web text has none of these regularities, so every one of them is
undone here, on both sides, before the text reaches fastText.

The output is one line of lower-cased tokens separated by single spaces: words (letters,
digits folded to `0`, inner apostrophes kept) and sentence punctuation as tokens of their
own. Everything runs as pyarrow compute kernels (RE2) over a whole batch.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

# (pattern, replacement) pairs applied in order; each undoes one artefact or formatting cue.
_BEFORE_COLLAPSE = (
    (r"\r\n?", "\n"),
    # Chat preambles at the very start: "Sure! Here is a 9 sentence abstract:" ...
    (r"^\s*(?i:sure|certainly|absolutely|of course|okay)\s*[!,.]\s*", ""),
    (r"^\s*(?i:i'd be happy to|i would be happy to|i'll)\b[^\n.!?:]{0,200}[.!?:]\s*", ""),
    (r"^\s*(?i:here is|here's|here are|below is|the following is)\b[^\n:]{0,200}:\s*", ""),
    (r"^\s*[*#]*\s*(?i:title)\s*:[^\n]*\n", ""),
    (r"^\s*[*#]*\s*(?i:title)\s*:\s*", ""),
    (r"_URL_\d+_", " "),
    (r"https?://\S+|www\.\S+", " "),
    # Literal 'nn' where "\n\n" lost its backslashes: "great.nnThe" -> "great. The".
    (r"([.!?:;\"')\]])nn(\S)", r"\1 \2"),
    (r"\s+", " "),
)
_DETOKENISE = (
    # PTB / WritingPrompts tokenisation back to running text.
    (r" n't\b", "n't"),
    (r"(\pL) ' ?(s|re|ve|ll|d|m|t)\b", r"\1'\2"),
    (r"(\pL)' (s|re|ve|ll|d|m|t)\b", r"\1'\2"),
    (r"``|''", '"'),
    (r" ([.,!?;:%)\]])", r"\1"),
    (r"([(\[]) ", r"\1"),
)
_TOKENISE = (
    (r"\pN+(?:[.,]\pN+)*", "0"),
    (r"([.,!?;:])", r" \1 "),
    # Apostrophes only survive between two letters ("don't"); quotes become separators.
    (r"(^|[^\pL])'+|'+($|[^\pL])", r"\1 \2"),
    (r"[^\pL0'.,!?;: ]+", " "),
    (r"\s+", " "),
)
# Characters whose UTF-8 bytes, mis-decoded as cp1252, give the usual mojibake.
_MOJIBAKE_SOURCE = "éèêëáàâäãåçíìîïñóòôöõøúùûüýÿÉÈÁÀÂÄÇÍÑÓÖÚÜßæœ’‘“”–—…•€£°±²³·"


@functools.cache
def _mojibake_pairs() -> tuple[tuple[str, str], ...]:
    def as_cp1252(byte: int) -> str:
        # Bytes cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d) come out as the
        # Latin-1 control character of the same value, as Windows decoders emit them.
        try:
            return bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            return chr(byte)

    pairs = [("".join(as_cp1252(b) for b in char.encode("utf-8")), char)
             for char in _MOJIBAKE_SOURCE]
    # Longest first, so a three-byte sequence is not half-replaced by a two-byte one.
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def _fix_mojibake(texts: pa.Array) -> pa.Array:
    if not pc.any(pc.match_substring_regex(texts, "[ÃÂâÅ]")).as_py():
        return texts
    for garbled, char in _mojibake_pairs():
        texts = pc.replace_substring(texts, garbled, char)
    return texts


def _apply(texts: pa.Array, rules) -> pa.Array:
    for pattern, replacement in rules:
        texts = pc.replace_substring_regex(texts, pattern, replacement)
    return texts


def normalize_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Normalise a batch of raw texts into detector token lines (nulls become "")."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    out = pc.fill_null(texts.cast(pa.large_string()), "")
    out = pc.utf8_normalize(out, "NFC")
    out = _fix_mojibake(out)
    out = pc.replace_substring(out, "\u2019", "'")
    out = pc.replace_substring(out, "\u2018", "'")
    out = _apply(out, _BEFORE_COLLAPSE[:1])
    # Preambles can stack ("Sure! Here is the review:\n\nTitle: ..."): two passes.
    out = _apply(out, _BEFORE_COLLAPSE[1:6])
    out = _apply(out, _BEFORE_COLLAPSE[1:6])
    out = _apply(out, _BEFORE_COLLAPSE[6:])
    out = _apply(out, _DETOKENISE)
    out = pc.utf8_lower(out)
    out = _apply(out, _TOKENISE)
    return pc.utf8_trim_whitespace(out).cast(pa.string())


def normalize(text: str | None) -> str:
    """One text through the batch normaliser, so the two can never disagree."""
    return normalize_arrow(pa.array([text], type=pa.string()))[0].as_py()


# A normalised token that counts as a word for the distributional estimator (Liang et al.
# 2024 model a document as the set of words it contains): letters and inner apostrophes.
# Valid in RE2 and in Java regex, so Spark's `rlike` and pyarrow agree.
WORD_TOKEN = r"^\pL[\pL']*$"
