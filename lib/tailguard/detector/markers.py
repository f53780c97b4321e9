"""Marker-word rate: a cheap, model-free signal of LLM-style prose.

The lexicon lists words and phrases whose frequency jumped after ChatGPT's release far
beyond their historical trend:
- Kobak et al. 2024, "Delving into ChatGPT usage in academic writing through excess
  vocabulary" (arXiv:2406.07016): excess-frequency style words in PubMed abstracts, e.g.
  delves, showcasing, underscores, intricate, pivotal, meticulous, commendable;
- Liang et al. 2024, "Mapping the Increasing Use of LLMs in Scientific Papers" and
  "Monitoring AI-Modified Content at Scale" (arXiv:2403.07183): the adjectives and adverbs
  most over-represented in LLM reviews (commendable, innovative, meticulous, intricate,
  notable, versatile);
- chat-assistant stock phrases ("it is important to note", "a testament to", "in the
  realm of", "plays a crucial role") that appear in practically every public detector
  dataset's machine side.
The rate is a signal for reports and estimators, not a verdict: humans use these words too.
It is computed on detector-normalised lines (lower case, one space between tokens).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MARKER_WORDS = frozenset("""
delve delves delved delving tapestry intricate intricacies showcase showcases showcasing
showcased underscore underscores underscoring pivotal meticulous meticulously commendable
realm realms multifaceted nuanced nuances noteworthy notably versatile versatility
seamless seamlessly vibrant bustling testament unwavering invaluable paramount
comprehensive crucial crucially foster fosters fostering garner garnered bolster
bolstering elevate elevates elevating embark embarked embarking enhance enhances
enhancing leverage leveraging harness harnessing navigate navigating navigates
additionally furthermore moreover ultimately overall profound profoundly insightful
captivating enthralling groundbreaking innovative transformative endeavor endeavors
landscape resonate resonates resonated poignant evocative exemplify exemplifies
meticulous holistic robust streamline streamlined streamlining intriguing
""".split())

MARKER_PHRASES = (
    "it is important to note",
    "it's important to note",
    "it is worth noting",
    "it's worth noting",
    "a testament to",
    "in the realm of",
    "plays a crucial role",
    "play a crucial role",
    "plays a pivotal role",
    "a rich tapestry",
    "in today's fast-paced world",
    "in conclusion ,",
    "overall ,",
    "as an ai",
    "a myriad of",
    "navigate the complexities",
    "stands as a",
    "serves as a reminder",
    "delve into",
    "shed light on",
    "a deeper understanding",
    "whether you're",
)
_PHRASE_PATTERN = "|".join(rf"(?:^| ){re.escape(phrase)}(?: |$)" for phrase in MARKER_PHRASES)


def marker_rate_arrow(lines: pa.Array) -> np.ndarray:
    """Marker hits per word for a batch of normalised lines (0.0 for an empty line).

    A hit is one marker word or one marker phrase occurrence; the denominator counts word
    tokens only, so punctuation density does not move the rate.
    """
    lines = pc.fill_null(lines, "")
    tokens = pc.split_pattern(lines, " ")
    flat = pc.list_flatten(tokens)
    parents = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    is_word = pc.match_substring_regex(flat, r"^[\pL0]").to_numpy(zero_copy_only=False)
    is_marker = pc.is_in(flat, value_set=pa.array(sorted(MARKER_WORDS)))
    is_marker = pc.fill_null(is_marker, False).to_numpy(zero_copy_only=False)
    n = len(lines)
    n_words = np.bincount(parents, weights=is_word, minlength=n)
    word_hits = np.bincount(parents, weights=is_marker, minlength=n)
    # Phrase matches may share their edge space with the next one; count_substring_regex
    # counts non-overlapping matches, which undercounts back-to-back phrases only.
    phrase_hits = pc.count_substring_regex(lines, _PHRASE_PATTERN).to_numpy(
        zero_copy_only=False)
    return np.where(n_words > 0, (word_hits + phrase_hits) / np.maximum(n_words, 1), 0.0)


def marker_rate(line: str) -> float:
    """One normalised line through the batch kernel."""
    return float(marker_rate_arrow(pa.array([line], type=pa.string()))[0])
