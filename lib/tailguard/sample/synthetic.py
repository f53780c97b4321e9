"""Synthetic ("LLM-written") documents: bigram-model text plus LLM-style markers.

Two signals are built in, both documented for real LLM output: a truncated tail (the
bigram model samples only top-k successors at low temperature, see markov.py) and the
over-use of marker vocabulary ("delve", "tapestry", "it is important to note", "in
conclusion"; Kobak et al. 2024, Liang et al. 2024). Each document gets its own marker
intensity in [0.1, 1], so some synthetic pages are full of markers and some are caught
only by their lower diversity: a detector that keys on one template will not do.
"""

from __future__ import annotations

import numpy as np

from tailguard.sample import lexicon
from tailguard.sample.human import MEDIAN_DOC_WORDS, render_sentence
from tailguard.sample.markov import BigramLM, split_sentences

_DETERMINERS = frozenset({"the", "a", "this", "these", "their", "our", "its", "every"})
_PLAIN = frozenset(w.lower() for w in lexicon.FUNCTION_WORDS) | frozenset(
    lexicon.GENERAL_VERBS + lexicon.GENERAL_ADJECTIVES + lexicon.ADVERBS)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _content_words(sentences: list[list[str]]) -> list[str]:
    words = sorted({t for s in sentences for t in s
                    if t.isalpha() and t.lower() not in _PLAIN and len(t) > 3})
    return words or ["work", "time"]


def _marker_sentence(rng: np.random.Generator, content: list[str]) -> list[str]:
    a, b = (content[int(i)] for i in rng.integers(0, len(content), size=2))
    text = _pick(rng, lexicon.MARKER_SENTENCES).format(
        a=a, b=b, adj=_pick(rng, lexicon.MARKER_ADJECTIVES))
    return text[:-1].replace(",", " ,").split()


def _decorate(tokens: list[str], rng: np.random.Generator, intensity: float) -> list[str]:
    """Insert marker adjectives after determiners ("the pivotal ...", "an intricate ...")."""
    out: list[str] = []
    for token in tokens:
        out.append(token)
        if token in _DETERMINERS and rng.random() < 0.12 * intensity:
            adjective = _pick(rng, lexicon.MARKER_ADJECTIVES)
            if token == "a" and adjective[0] in "aeiou":
                out[-1] = "an"
            out.append(adjective)
    return out


def _with_opener(tokens: list[str], opener: str) -> list[str]:
    first = tokens[0] if tokens[0] == "I" else tokens[0].lower()
    return [*opener.replace(",", " ,").split(), first, *tokens[1:]]


def llm_style(sentences: list[list[str]], rng: np.random.Generator, intensity: float) -> str:
    """Render sampled sentences as an LLM-like document with markers at `intensity`."""
    content = _content_words(sentences)
    rendered: list[list[str]] = []
    if rng.random() < 0.4 * intensity:
        rendered.append(_marker_sentence(rng, content))
    for i, tokens in enumerate(sentences):
        tokens = _decorate(tokens, rng, intensity)
        if i > 0 and rng.random() < 0.25 * intensity:
            tokens = _with_opener(tokens, _pick(rng, lexicon.MARKER_OPENERS))
        rendered.append(tokens)
        if rng.random() < 0.08 * intensity:
            rendered.append(_marker_sentence(rng, content))
    paragraphs: list[list[str]] = []
    cursor = 0
    while cursor < len(rendered):   # LLM paragraphs are even: 3-5 sentences each
        step = int(rng.integers(3, 6))
        paragraphs.append([render_sentence(t) for t in rendered[cursor:cursor + step]])
        cursor += step
    if rng.random() < 0.3 + 0.6 * intensity:
        closing = _with_opener(_marker_sentence(rng, content), _pick(rng, lexicon.MARKER_CLOSERS))
        paragraphs.append([render_sentence(closing)])
    return "\n\n".join(" ".join(p) for p in paragraphs)


def synthetic_documents(lm: BigramLM, rng: np.random.Generator, n_docs: int,
                        median_words: int = MEDIAN_DOC_WORDS) -> tuple[list[str], np.ndarray]:
    """`n_docs` documents from `lm` and the marker intensity each was written with.

    Lengths are log-normal like human pages but narrower (sigma 0.3 vs 0.5): chat models
    answer at a typical length.
    """
    if n_docs == 0:
        return [], np.zeros(0)
    targets = np.clip(rng.lognormal(np.log(median_words), 0.3, size=n_docs), 80, 1500)
    intensity = 0.1 + 0.9 * rng.beta(2.0, 2.0, size=n_docs)
    streams = lm.sample(rng, n_docs, int(targets.max() * 1.3) + 60)
    docs = []
    for i in range(n_docs):
        sentences = split_sentences(streams[i], lm, int(targets[i])) or [["work"]]
        docs.append(llm_style(sentences, rng, float(intensity[i])))
    return docs, intensity
