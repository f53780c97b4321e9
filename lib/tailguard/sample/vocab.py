"""Per-domain concept vocabularies with a long (Zipfian) tail.

Web text about a topic reuses a few head concepts constantly and touches thousands of rare
ones a handful of times: concept frequency follows Zipf's law, p(rank) ~ rank^-s with s
near 1 (Zipf 1949; Piantadosi 2014, "Zipf's word frequency law in natural language").
Model collapse removes exactly that tail first (Shumailov et al. 2024, Nature, "AI models
collapse when trained on recursively generated data"), so the demo needs a tail to lose.
Concepts are 1-3 words ("thornwick", "brellow moss", "quoria drip line") so that word
2- and 3-grams carry tail concepts too, as the diversity job's tail definition expects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailguard.sample import lexicon

RESERVED = frozenset(lexicon.FUNCTION_WORDS | set(lexicon.GENERAL_NOUNS)
                     | set(lexicon.GENERAL_VERBS) | set(lexicon.GENERAL_ADJECTIVES)
                     | set(lexicon.ADVERBS) | set(lexicon.MARKER_ADJECTIVES)
                     | set(lexicon.MARKER_NOUNS) | set(lexicon.MARKER_VERBS))


def made_up_words(rng: np.random.Generator, n: int, exclude: frozenset[str] = RESERVED,
                  ) -> list[str]:
    """`n` distinct English-looking invented words (1-3 syllables and an optional suffix)."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        batch = 2 * (n - len(out)) + 16
        n_syll = rng.choice([1, 2, 3], size=batch, p=[0.45, 0.45, 0.1])
        parts = [rng.integers(0, len(pool), size=(batch, 3))
                 for pool in (lexicon.ONSETS, lexicon.NUCLEI, lexicon.CODAS)]
        suffix = rng.integers(0, len(lexicon.SUFFIXES), size=batch)
        for i in range(batch):
            word = "".join(lexicon.ONSETS[parts[0][i, j]] + lexicon.NUCLEI[parts[1][i, j]]
                           + lexicon.CODAS[parts[2][i, j]] for j in range(n_syll[i]))
            word += lexicon.SUFFIXES[suffix[i]]
            if 3 <= len(word) <= 11 and word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == n:
                    break
    return out


@dataclass(frozen=True)
class DomainVocab:
    """A domain's concepts in Zipf-rank order and the cumulative distribution over them."""

    concepts: tuple[str, ...]
    cdf: np.ndarray          # cumulative Zipf probabilities, cdf[-1] == 1
    focus_cdf: np.ndarray    # flatter Zipf for a document's own focus concepts (burstiness)

    def draw(self, rng: np.random.Generator, size: int, focus: bool = False) -> np.ndarray:
        """Concept indices drawn by inverse-CDF sampling (vectorised)."""
        cdf = self.focus_cdf if focus else self.cdf
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"),
                          len(self.concepts) - 1)


def zipf_cdf(n: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def build_vocab(rng: np.random.Generator, head_words: tuple[str, ...], n_concepts: int = 3000,
                exponent: float = 1.05, focus_exponent: float = 0.6) -> DomainVocab:
    """Head words first, then invented concepts of 1 (55%), 2 (33%) or 3 (12%) words.

    Multi-word concepts are modifier(s) + a noun, where the noun is invented or one of the
    topic's head words ("brellow moss"), like real compound terms.
    """
    pool = made_up_words(rng, n_concepts)
    sizes = rng.choice([1, 2, 3], size=n_concepts, p=[0.55, 0.33, 0.12])
    modifiers = rng.integers(0, len(pool), size=(n_concepts, 2)).tolist()
    head_noun = (rng.random(n_concepts) < 0.3).tolist()
    heads = rng.integers(0, len(head_words), size=n_concepts).tolist()
    concepts: list[str] = list(head_words)
    seen = set(concepts)
    for i, size in enumerate(sizes.tolist()):
        noun = head_words[heads[i]] if size > 1 and head_noun[i] else pool[i]
        concept = " ".join([*(pool[j] for j in modifiers[i][: size - 1]), noun])
        if concept not in seen:
            seen.add(concept)
            concepts.append(concept)
    return DomainVocab(tuple(concepts), zipf_cdf(len(concepts), exponent),
                       zipf_cdf(len(concepts), focus_exponent))
