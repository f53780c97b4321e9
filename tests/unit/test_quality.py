"""The compiled Gopher quality kernel equals a plain-Python reading of its definitions.

The reference below is written from the module docstring of `tailguard.attributes.quality`
(Gopher, Rae et al. 2021, appendix A.1.1 / table A1, with datatrove's GopherQualityFilter
and GopherRepetitionFilter as the reading of the rules) with Python strings, sets and
Counters, and none of the kernel's hashing, tables or byte tricks. Where the sources leave
room the reference follows the kernel's documented choice (noted at each such place).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from shared_data import SHARED_DATA
from tailguard.attributes.quality import (
    COUNT_COLUMNS,
    DUP_NGRAMS,
    GOPHER_STOP_WORDS,
    SCORE_COLUMNS,
    TOP_NGRAMS,
    quality_scores,
)

DATA = SHARED_DATA

# ---------------------------------------------------------------------------------------
# Reference
# ---------------------------------------------------------------------------------------

ASCII_SPACE = " \t\n\v\f\r"  # the kernel splits on ASCII whitespace only (bytes 9-13, 32)
PUNCT = frozenset(string.punctuation)  # ASCII punctuation
# Bullets a line may start with (after leading whitespace): Gopher says "a bullet point";
# datatrove checks "•" (and "-" in later versions); the kernel also takes these marks.
BULLETS = ("-", "*", "•", "‣", "◦", "●", "▪")
ELLIPSES = ("...", "…")
STOP = frozenset(GOPHER_STOP_WORDS)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ref_words(text: str) -> list[str]:
    """Runs of non-whitespace (ASCII whitespace: a no-break space is part of a word)."""
    return re.findall(f"[^{re.escape(ASCII_SPACE)}]+", text)


def is_symbol_word(word: str) -> bool:
    return all(c in PUNCT for c in word)


def has_letter(word: str) -> bool:
    # Gopher's "at least one alphabetic character", as datatrove tests it (str.isalpha).
    return any(c.isalpha() for c in word)


def ref_units(text: str, separator: str) -> list[str]:
    """Non-blank lines (split on one newline) or paragraphs (on runs of 2+ newlines),
    each without surrounding whitespace."""
    pieces = text.split("\n") if separator == "line" else re.split(r"\n{2,}", text)
    return [p.strip(ASCII_SPACE) for p in pieces if p.strip(ASCII_SPACE)]


def ref_duplicates(units: list[str]) -> tuple[int, int]:
    """(units equal to an earlier one, their characters): the first occurrence is free."""
    seen: set[str] = set()
    dups = chars = 0
    for u in units:
        if u in seen:
            dups += 1
            chars += len(u)
        seen.add(u)
    return dups, chars


def ref_top_ngram_chars(words: list[str], n: int) -> int:
    """Occurrences x characters (word characters, no separators) of the most frequent
    n-gram; a tie goes to the n-gram whose last counted occurrence comes first (the
    kernel's documented rule: "the first to reach the top count wins")."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    top = max(counts.values())
    reached_at = {}
    running: Counter = Counter()
    for i, g in enumerate(grams):
        running[g] += 1
        if running[g] == top and g not in reached_at:
            reached_at[g] = i
    winner = min(reached_at, key=reached_at.get)
    return top * sum(len(w) for w in winner)


def ref_dup_ngram_chars(words: list[str], n: int) -> int:
    """Characters of the words inside any repeat (occurrence after the first) of an
    n-gram, each word counted once however many repeats cover it (Gopher: "taking care
    not to count characters that occur in overlapping n-grams more than once")."""
    seen: set[tuple[str, ...]] = set()
    covered: set[int] = set()
    for i in range(len(words) - n + 1):
        g = tuple(words[i:i + n])
        if g in seen:
            covered.update(range(i, i + n))
        seen.add(g)
    return sum(len(words[i]) for i in covered)


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def reference_scores(text: str | None) -> dict[str, float]:
    text = text or ""
    chars = len(text)  # Unicode code points
    all_words = ref_words(text)
    words = [w for w in all_words if not is_symbol_word(w)]
    lines = ref_units(text, "line")
    paragraphs = ref_units(text, "paragraph")
    dup_lines, dup_line_chars = ref_duplicates(lines)
    dup_paras, dup_para_chars = ref_duplicates(paragraphs)
    ellipses = sum(text.count(e) for e in ELLIPSES)
    # a stop word may carry ASCII punctuation around it ("the," "(of)"), case-insensitive
    stop = sum(w.strip(string.punctuation).translate(_ASCII_LOWER) in STOP for w in words)
    out = {
        "q_words": len(words),
        "q_mean_word_length": ratio(sum(len(w) for w in words), len(words)),
        # hashes and ellipses per (non-symbol) word; the rule is the same for both, so
        # the larger is kept
        "q_symbol_word_ratio": ratio(max(text.count("#"), ellipses), len(words)),
        "q_bullet_lines": ratio(sum(u.startswith(BULLETS) for u in lines), len(lines)),
        "q_ellipsis_lines": ratio(sum(u.endswith(ELLIPSES) for u in lines), len(lines)),
        # the alphabetic fraction is over all words, symbol words included (they are what
        # the rule is for)
        "q_alpha_words": ratio(sum(map(has_letter, all_words)), len(all_words)),
        "q_stop_words": stop,
        "q_dup_lines": ratio(dup_lines, len(lines)),
        "q_dup_line_chars": ratio(dup_line_chars, chars),
        "q_dup_paragraphs": ratio(dup_paras, len(paragraphs)),
        "q_dup_paragraph_chars": ratio(dup_para_chars, chars),
    }
    # n-grams run over all words, ASCII-lower-cased, punctuation kept
    gram_words = [w.translate(_ASCII_LOWER) for w in all_words]
    for n in TOP_NGRAMS:
        out[f"q_top_{n}gram_chars"] = (
            ratio(ref_top_ngram_chars(gram_words, n), chars) if len(gram_words) >= n else 0.0)
    for n in DUP_NGRAMS:
        out[f"q_dup_{n}gram_chars"] = ratio(ref_dup_ngram_chars(gram_words, n), chars)
    assert set(out) == set(SCORE_COLUMNS)
    return out


def kernel_rows(texts: list[str | None]) -> list[dict[str, float]]:
    cols = quality_scores(pa.array(texts, pa.string()))
    return [{c: float(cols[c][i]) for c in SCORE_COLUMNS} for i in range(len(texts))]


def assert_matches_reference(texts: list[str | None]) -> None:
    got = kernel_rows(texts)
    bad = []
    for i, text in enumerate(texts):
        want = reference_scores(text)
        for c in SCORE_COLUMNS:
            same = (got[i][c] == want[c] if c in COUNT_COLUMNS
                    else np.isclose(got[i][c], want[c], rtol=1e-12, atol=1e-12))
            if not same:
                bad.append((i, c, got[i][c], want[c], (text or "")[:80]))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:5]}"


# ---------------------------------------------------------------------------------------
# Generated documents
# ---------------------------------------------------------------------------------------

VOCAB = (
    ["the", "The", "THE", "of", "and", "to", "be", "that", "have", "with", "With,", "(of)",
     "the.", "that's", "cat", "dog", "sat", "on", "mat", "a", "A", "ran", "quickly",
     "extraordinarily", "x", "42", "3.5", "#tag", "##", "#", "-", "--", "...", "....", "…",
     "wait...", "so…", "|", "*", "!?", "(", ")", ";", "naïve", "Über", "straße", "日本語",
     "Привет", "🙂", "—", "“quoted”", "no\u00a0break", "a\u2028b", "x\x1cy", "é"]
)
SEPARATORS = [" "] * 12 + ["\t", "  ", "\n", "\n", "\n\n", "\n \n", "\r\n", "\n\n\n", " \n"]
LINE_STARTS = ["- ", "* ", "• ", "‣ ", "◦ ", "● ", "▪ ", "  - ", "-", "1. ", "> "]
LINE_ENDS = ["...", "…", " ...", ".", "!", "…  ", ""]


def _soup(rng: random.Random, n_words: int, vocab: list[str]) -> str:
    parts = []
    for _ in range(n_words):
        parts.append(rng.choice(vocab))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts)


def _line(rng: random.Random, vocab: list[str]) -> str:
    body = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 8)))
    start = rng.choice(LINE_STARTS) if rng.random() < 0.4 else ""
    end = rng.choice(LINE_ENDS) if rng.random() < 0.5 else ""
    return start + body + end


def _structured(rng: random.Random, vocab: list[str]) -> str:
    """Paragraphs of lines, some paragraphs and lines repeated verbatim or re-spaced."""
    paragraphs: list[str] = []
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        if paragraphs and roll < 0.25:
            paragraphs.append(rng.choice(paragraphs))  # duplicated paragraph
        elif paragraphs and roll < 0.35:
            paragraphs.append("  " + rng.choice(paragraphs) + " \t")  # same, re-spaced
        else:
            lines = [_line(rng, vocab) for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.3:
                lines.append(rng.choice(lines))  # duplicated line
            if rng.random() < 0.2:
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", "  ", "\t"]))
            paragraphs.append("\n".join(lines))
    glue = [rng.choice(["\n\n", "\n\n\n", "\n \n\n", "\n"]) for _ in paragraphs]
    text = "".join(p + g for p, g in zip(paragraphs, glue, strict=True))
    return (rng.choice(["", "\n", "\n\n", "  "]) + text) if rng.random() < 0.3 else text


def _repeated_phrases(rng: random.Random) -> str:
    """A soup with phrases of 4-12 words pasted again, to exercise every n-gram size."""
    words = [rng.choice(VOCAB[:30]) for _ in range(rng.randint(5, 60))]
    for _ in range(rng.randint(1, 4)):
        n = rng.randint(4, 12)
        i = rng.randrange(max(1, len(words) - n))
        phrase = words[i:i + n]
        if rng.random() < 0.5:
            phrase = [w.upper() for w in phrase]  # same n-gram after ASCII lower-casing
        j = rng.randrange(len(words) + 1)
        words[j:j] = phrase
    return " ".join(words)


def generated_documents(seed: int = 18, count: int = 400) -> list[str | None]:
    rng = random.Random(seed)
    docs: list[str | None] = ["", None, " ", "\n\n\n", "...", "# # #", "…", "a", "é"]
    small = VOCAB[:12]
    while len(docs) < count:
        kind = rng.random()
        if kind < 0.3:
            docs.append(_soup(rng, rng.randint(0, 80), VOCAB))
        elif kind < 0.45:
            docs.append(_soup(rng, rng.randint(5, 120), small))  # many repeats
        elif kind < 0.75:
            docs.append(_structured(rng, VOCAB))
        else:
            docs.append(_repeated_phrases(rng))
    return docs


def real_documents(count: int = 300) -> list[str]:
    with open(DATA / "valid.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    rows = random.Random(7).sample(range(len(texts)), min(count, len(texts)))
    return [texts[i] for i in sorted(rows)]


# ---------------------------------------------------------------------------------------
# Kernel == reference
# ---------------------------------------------------------------------------------------

def test_kernel_equals_reference_on_generated_documents():
    docs = generated_documents()
    assert_matches_reference(docs)
    # the generator exercises every rule: each score is non-zero in 10%+ of the documents
    scores = quality_scores(pa.array(docs, pa.string()))
    rare = [c for c in SCORE_COLUMNS if (scores[c] > 0).mean() < 0.1]
    assert not rare, rare


def test_kernel_equals_reference_on_long_documents():
    # one batch of long documents next to tiny ones: the per-document table is sized by
    # each document's words, the buffers by the batch's longest
    rng = random.Random(11)
    long_soup = _soup(rng, 30_000, VOCAB)
    pasted = "\n\n".join(_structured(rng, VOCAB) for _ in range(300))
    one_line_per_word = "\n".join(rng.choice(VOCAB[:20]) for _ in range(20_000))
    assert_matches_reference(["x", long_soup, "", pasted, "a a", one_line_per_word, None])


@pytest.mark.shared_data
def test_kernel_equals_reference_on_real_documents():
    docs = real_documents()
    assert len(docs) == 300
    assert_matches_reference(docs)
    # the sample is not degenerate: the rules see words, lines and repeats in it
    scores = quality_scores(pa.array(docs))
    assert np.median(scores["q_words"]) > 50
    assert (scores["q_top_2gram_chars"] > 0).all()
    assert (scores["q_dup_5gram_chars"] > 0).any()


def test_a_document_scores_the_same_alone_as_in_a_batch():
    # the kernel reuses one hash table across a batch's documents (generation stamps):
    # no state may leak from one document to the next; a document next to a copy of
    # itself (short ones too: "word" has a line and a paragraph but no 2-gram) is where
    # a leak would show as a repeat
    once = ["word", "word word", "a b c d e f g h i j k"] + generated_documents(seed=3, count=60)
    docs = [d for doc in once for d in (doc, doc)]
    batch = kernel_rows(docs)
    for doc, row in zip(docs, batch, strict=True):
        assert kernel_rows([doc])[0] == row


def test_chunked_sliced_and_large_string_inputs_score_like_a_plain_array():
    docs = [d for d in generated_documents(seed=4, count=40) if d is not None]
    want = quality_scores(pa.array(docs))
    inputs = [
        pa.chunked_array([docs[:13], docs[13:]]),
        pa.array(docs, pa.large_string()),
        pa.array(["lead doc " * 40] + docs + ["tail"])[1:-1],
    ]
    for texts in inputs:
        got = quality_scores(texts)
        for c in SCORE_COLUMNS:
            np.testing.assert_array_equal(got[c], want[c], err_msg=c)


# ---------------------------------------------------------------------------------------
# One hand-computed case per rule
# ---------------------------------------------------------------------------------------

def score(text: str | None, column: str) -> float:
    return float(quality_scores(pa.array([text], pa.string()))[column][0])


def test_empty_and_null_documents_score_zero_everywhere():
    for text in ("", None, "   \n\n\t"):
        cols = quality_scores(pa.array([text], pa.string()))
        assert all(cols[c][0] == 0.0 for c in SCORE_COLUMNS), text


def test_symbol_words_are_not_counted_as_words():
    assert score("Hello , world ... ! -- x", "q_words") == 3  # Hello, world, x


def test_symbol_words_are_left_out_of_the_mean_word_length():
    assert score("ab - abcd", "q_mean_word_length") == 3.0  # (2 + 4) / 2, not 7 / 3


def test_attached_punctuation_counts_in_the_word_length():
    assert score("abc, d", "q_mean_word_length") == 2.5  # "abc," is 4 characters


def test_word_length_counts_code_points_not_bytes():
    assert score("ééé 日本語", "q_mean_word_length") == 3.0


def test_only_ascii_whitespace_separates_words():
    assert score("no\u00a0break here", "q_words") == 2


def test_hash_ratio_counts_every_hash_over_the_words():
    assert score("#a #b c d", "q_symbol_word_ratio") == 0.5  # 2 hashes, 4 words


def test_ellipsis_ratio_counts_dot_triples_and_the_ellipsis_character():
    # "...." holds one "..." (non-overlapping), "…" is one more: 2 ellipses, 3 words
    assert score("wait.... what… ok", "q_symbol_word_ratio") == pytest.approx(2 / 3)


def test_symbol_ratio_is_the_larger_of_hashes_and_ellipses():
    # 3 hashes, 1 ellipsis; "#" and "..." are symbol words, leaving 2 words
    assert score("# # # a ... b", "q_symbol_word_ratio") == 1.5


def test_bullet_lines_may_be_indented():
    assert score("- one\n• two\nthree\n   * four", "q_bullet_lines") == 0.75


def test_blank_lines_are_not_lines():
    assert score("- a\n\n \n\t\nb\n", "q_bullet_lines") == 0.5


def test_ellipsis_lines_end_with_an_ellipsis_before_trailing_space():
    assert score("wait...\nno…  \nyes.\n", "q_ellipsis_lines") == pytest.approx(2 / 3)


def test_dashes_and_arrows_are_not_letters():
    assert score("— → £100 1–0 word", "q_alpha_words") == 0.2


def test_alpha_fraction_counts_symbol_words_and_non_ascii_letters():
    # abc yes, 123 no, ... no, é yes, 42a yes: 3 of 5 words
    assert score("abc 123 ... é 42a", "q_alpha_words") == 0.6


def test_stop_words_count_occurrences_case_and_punctuation_insensitively():
    # The, the, (of), to. count; "that's" and "with-it" are other words
    assert score("The cat, the dog (of) that's with-it to.", "q_stop_words") == 4


def test_a_repeated_line_is_compared_without_surrounding_whitespace():
    text = "a b\nc\na b\n a b \n"
    assert score(text, "q_dup_lines") == 0.5  # 2 of 4 lines repeat an earlier one
    assert score(text, "q_dup_line_chars") == 6 / len(text)  # "a b" twice, 3 characters


def test_blank_lines_are_not_duplicates():
    text = "x\n\n\n\ny\n\n \n"
    assert score(text, "q_dup_lines") == 0.0
    assert score(text, "q_dup_line_chars") == 0.0


def test_a_repeated_paragraph_counts_its_characters_once_per_repeat():
    para = "para one\nline"
    text = f"{para}\n\npara two\n\n\n{para}"
    assert score(text, "q_dup_paragraphs") == pytest.approx(1 / 3)
    # the first occurrence is free: the characters of one copy, not both
    assert score(text, "q_dup_paragraph_chars") == len(para) / len(text)


def test_one_newline_or_a_whitespace_line_does_not_split_paragraphs():
    assert score("a\nb\n \na\nb", "q_dup_paragraphs") == 0.0  # one paragraph
    assert score("a\nb\n\na\nb", "q_dup_paragraphs") == 0.5


def test_top_ngram_counts_every_occurrence_of_the_most_frequent():
    text = "a B a b A b c"  # 2-grams: "a b" three times (ASCII case folded)
    assert score(text, "q_top_2gram_chars") == 6 / len(text)


def test_ties_for_the_top_ngram_go_to_the_one_that_repeats_first():
    # "c d" reaches two occurrences before "aa bb" does: 2 x 2 characters, not 2 x 4
    text = "aa bb c d c d aa bb"
    assert score(text, "q_top_2gram_chars") == 4 / len(text)


def test_overlapping_repeats_count_each_character_once():
    text = "a b c d e a b c d e a b c d e"  # 15 one-character words
    # every repeat of every n <= 10 covers words 5..14: 10 characters, whatever n
    for n in DUP_NGRAMS:
        assert score(text, f"q_dup_{n}gram_chars") == 10 / len(text), n


def test_ngrams_fold_ascii_case_but_keep_punctuation():
    folded = "The cat sat on mats and The Cat sat ON mats"
    assert score(folded, "q_dup_5gram_chars") == 15 / len(folded)
    assert score("a b c d e. a b c d e", "q_dup_5gram_chars") == 0.0


def test_ngrams_run_over_all_words_symbol_words_included():
    text = "a b - c d e a b - c d e"
    # repeats of "a b - c d" and "b - c d e" cover words 6..11, the "-" among them
    assert score(text, "q_dup_5gram_chars") == 6 / len(text)


def test_without_a_repeated_5gram_the_longer_sizes_are_zero():
    text = "w x y z one w x y z two w x y z three"  # a 4-gram repeats, no 5-gram does
    assert score(text, "q_top_4gram_chars") == 12 / len(text)
    for n in DUP_NGRAMS:
        assert score(text, f"q_dup_{n}gram_chars") == 0.0, n


def test_a_longer_repeat_shows_in_the_sizes_it_spans_only():
    # a 7-word phrase pasted twice: sizes 5-7 see it, 8-10 do not
    phrase = "one two three four five six seven"
    text = f"{phrase} gap {phrase}"
    for n in DUP_NGRAMS:
        want = (len(phrase) - 6) / len(text) if n <= 7 else 0.0
        assert score(text, f"q_dup_{n}gram_chars") == want, n
