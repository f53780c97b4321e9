"""Human-like documents: a small phrase grammar over real function words and a domain's
Zipfian concepts.

Not a language model of English, just enough structure for the downstream jobs: sentence
lengths spread like web prose (log-normal, median ~15 words, 3 to 70), paragraphs, and
documents that return to a few focus concepts of their own (burstiness; Church & Gale
1995, "Poisson mixtures") drawn from a flatter Zipf, so rare concepts appear in clumps,
as they do on real pages. Random choices are drawn in a few numpy calls per document.
"""

from __future__ import annotations

import numpy as np

from tailguard.sample import lexicon
from tailguard.sample.vocab import DomainVocab

POOLS: dict[str, tuple[str, ...]] = {
    "D": lexicon.DETERMINERS, "P": lexicon.PREPOSITIONS, "PR": lexicon.PRONOUNS,
    "J": lexicon.CONJUNCTIONS, "S": lexicon.SUBORDINATORS, "X": lexicon.AUXILIARIES,
    "N": lexicon.GENERAL_NOUNS, "V": lexicon.GENERAL_VERBS, "A": lexicon.GENERAL_ADJECTIVES,
    "R": lexicon.ADVERBS,
}
_POOL_SIZES = np.array([len(pool) for pool in POOLS.values()])
# Clause shapes: D determiner, C concept, N noun, V verb, A adjective, P preposition,
# PR pronoun, X auxiliary, R adverb, # number.
CLAUSES: tuple[tuple[str, ...], ...] = tuple(t.split() for t in (
    "D C V D C", "D A C X R A", "PR V D C P D C", "PR X V D A C", "D C P D C X V P D N",
    "P D N , PR V D C", "D N P C X A", "PR V # N P D C", "D C V R", "PR X R V C P D C",
    "PR X A", "D C X A", "D C , D C and D C X V P D N", "PR V D C X A P D C",
    "D A C P D C V D N P D C", "P # N PR V D C", "D C X V P C", "PR R V D C and D C",
))
MEDIAN_SENTENCE_WORDS = 15
MEDIAN_DOC_WORDS = 320


def render_sentence(tokens: list[str], end: str = ".") -> str:
    """Join tokens, attach commas, capitalise the first letter, close the sentence."""
    text = " ".join(tokens).replace(" ,", ",")
    return text[:1].upper() + text[1:] + end


def doc_length_words(rng: np.random.Generator, median: int = MEDIAN_DOC_WORDS,
                     sigma: float = 0.5) -> int:
    """Web page lengths are roughly log-normal; clipped to keep the demo small."""
    return int(np.clip(rng.lognormal(np.log(median), sigma), 60, 2500))


class _Draws:
    """Pre-drawn random indices for one document, consumed in order."""

    def __init__(self, rng: np.random.Generator, vocab: DomainVocab, budget: int):
        # A pool fills at most 40% of any clause shape, and a clause has >= 3 tokens.
        half = budget // 2 + 20
        picks = rng.integers(0, _POOL_SIZES[:, None], size=(len(POOLS), half)).tolist()
        self.pools = {k: iter(row) for k, row in zip(POOLS, picks, strict=True)}
        focus = vocab.draw(rng, int(rng.integers(4, 9)), focus=True)
        use_focus = rng.random(budget) < 0.3
        concepts = np.where(use_focus, focus[rng.integers(0, len(focus), budget)],
                            vocab.draw(rng, budget))
        self.concepts = iter(concepts.tolist())
        self.numbers = iter(rng.integers(2, 60, size=half).tolist())
        self.clauses = iter(rng.integers(0, len(CLAUSES), size=half).tolist())
        self.uniform = iter(rng.random(2 * budget).tolist())
        self.sentence_lengths = iter(np.clip(
            rng.lognormal(np.log(MEDIAN_SENTENCE_WORDS), 0.55, size=half), 3, 70).tolist())


def _clause(draws: _Draws, vocab: DomainVocab) -> list[str]:
    out = []
    for slot in CLAUSES[next(draws.clauses)]:
        if slot == "C":
            out.append(vocab.concepts[next(draws.concepts)])
        elif slot == "#":
            out.append(str(next(draws.numbers)))
        elif slot in POOLS:
            out.append(POOLS[slot][next(draws.pools[slot])])
        else:
            out.append(slot)
    return out


def _sentence(draws: _Draws, vocab: DomainVocab) -> tuple[list[str], str]:
    target = next(draws.sentence_lengths)
    tokens = []
    if next(draws.uniform) < 0.15:
        tokens += [POOLS["S"][next(draws.pools["S"])], *_clause(draws, vocab), ","]
    tokens += _clause(draws, vocab)
    while len(tokens) < target:
        joiner = POOLS["J"][next(draws.pools["J"])]
        tokens += ([",", joiner] if next(draws.uniform) < 0.5 else [joiner])
        tokens += _clause(draws, vocab)
    roll = next(draws.uniform)
    return tokens, "?" if roll < 0.04 else "!" if roll < 0.06 else "."


def human_document(rng: np.random.Generator, vocab: DomainVocab, n_words: int | None = None,
                   ) -> str:
    """One document: paragraphs of 1-7 sentences, separated by blank lines."""
    n_words = n_words or doc_length_words(rng)
    draws = _Draws(rng, vocab, n_words + 100)
    paragraphs: list[str] = []
    words = 0
    while words < n_words:
        sentences = []
        n_sentences = 1 + min(6, int(next(draws.uniform) * 5.5))
        for _ in range(n_sentences):
            tokens, end = _sentence(draws, vocab)
            sentences.append(render_sentence(tokens, end))
            words += len(tokens)
            if words >= n_words:
                break
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)
