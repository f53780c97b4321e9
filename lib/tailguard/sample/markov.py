"""A word-bigram language model with top-k, low-temperature sampling: the demo's "LLM".

It is fitted on a domain's human documents and then sampled with the two truncations
that make real LLM text lose the tail of its training distribution: top-k (Fan et al.
2018) and temperature < 1 both remove low-probability continuations, which is the
mechanism behind model collapse in Shumailov et al. 2024 (Nature) and the lower lexical
diversity of LLM text measured by Guo et al. 2024 ("The curious decline of linguistic
diversity"). Sampling advances every document of a batch one token per numpy step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

BOUNDARY = "</s>"
_TOKEN = re.compile(r"[A-Za-z0-9']+|[,.?!]")


def lm_tokens(text: str) -> list[str]:
    """Words and commas of a text; sentence ends become BOUNDARY, sentence-initial
    capitals are undone (except "I") so the model does not learn case as a word."""
    out = [BOUNDARY]
    for token in _TOKEN.findall(text):
        if token in ".?!":
            if out[-1] != BOUNDARY:
                out.append(BOUNDARY)
            continue
        if out[-1] == BOUNDARY and token != "I":
            token = token.lower()
        out.append(token)
    if out[-1] != BOUNDARY:
        out.append(BOUNDARY)
    return out


@dataclass(frozen=True)
class BigramLM:
    """successors[v, j]: j-th most likely next token after v; cum[v, j]: their CDF."""

    vocab: tuple[str, ...]
    successors: np.ndarray   # int32 [V, k]
    cum: np.ndarray          # float64 [V, k], rows end at 1.0

    def sample(self, rng: np.random.Generator, n_streams: int, length: int) -> np.ndarray:
        """`n_streams` token-id sequences of `length`, each starting after a boundary."""
        out = np.empty((n_streams, length), dtype=np.int32)
        current = np.zeros(n_streams, dtype=np.int32)   # id 0 is BOUNDARY
        k = self.successors.shape[1]
        for step in range(length):
            u = rng.random(n_streams)
            choice = np.minimum((self.cum[current] < u[:, None]).sum(axis=1), k - 1)
            current = self.successors[current, choice]
            out[:, step] = current
        return out


def fit_bigram(texts: Iterable[str], top_k: int, temperature: float) -> BigramLM:
    """Count bigrams, keep each context's `top_k` successors, sharpen by 1/temperature."""
    vocab: dict[str, int] = {BOUNDARY: 0}
    ids: list[int] = []
    for text in texts:
        ids.extend(vocab.setdefault(tok, len(vocab)) for tok in lm_tokens(text))
    stream = np.asarray(ids, dtype=np.int64)
    size = len(vocab)
    prev, nxt = stream[:-1], stream[1:]
    keep = ~((prev == 0) & (nxt == 0))          # document joins are not transitions
    codes, counts = np.unique(prev[keep] * size + nxt[keep], return_counts=True)
    ctx, succ = codes // size, codes % size
    order = np.lexsort((succ, -counts, ctx))    # by context, then count desc, then id
    ctx, succ, counts = ctx[order], succ[order], counts[order].astype(np.float64)
    starts = np.searchsorted(ctx, ctx, side="left")
    rank = np.arange(len(ctx)) - starts
    top = rank < top_k
    ctx, succ, rank, weight = ctx[top], succ[top], rank[top], counts[top] ** (1.0 / temperature)
    successors = np.zeros((size, top_k), dtype=np.int32)
    probs = np.zeros((size, top_k), dtype=np.float64)
    successors[ctx, rank] = succ
    probs[ctx, rank] = weight
    totals = probs.sum(axis=1, keepdims=True)
    probs[totals[:, 0] == 0, 0] = 1.0            # unseen context: end the sentence
    totals[totals == 0] = 1.0
    cum = np.cumsum(probs / totals, axis=1)
    cum[:, -1] = 1.0
    return BigramLM(tuple(vocab), successors, cum)


def split_sentences(ids: np.ndarray, lm: BigramLM, max_words: int) -> list[list[str]]:
    """Cut a sampled stream at boundaries into sentences, up to about `max_words` tokens."""
    sentences: list[list[str]] = []
    current: list[str] = []
    total = 0
    for token_id in ids.tolist():
        if token_id == 0:
            if current:
                sentences.append(current)
                total += len(current)
                current = []
                if total >= max_words:
                    break
            continue
        current.append(lm.vocab[token_id])
    return sentences
