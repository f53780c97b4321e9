"""Each document's log Q(d)/P(d) (mle.py) in one Arrow pass over its text.

`mle.with_log_ratio` defines the ratio with Spark joins: every (document, word) pair is
exploded, joined to the vocabulary, to the domain's word counts and to the domain, then
summed per document. On the 200k bench crawl that was ~110 s of the share job, on top of
~60 s of tokenising into Spark arrays. Here the word model (at most
`share.mle_vocab_size` words, each domain's counts of them, the constants) is collected
once and shipped to the tasks; a batch is normalised and split with pyarrow, its words
looked up in the vocabulary (`index_in`), and each document's sum is a bincount over its
distinct vocabulary words of the score vector of its domain (computed once per domain
per task from the same formulas). Equal to the Spark definition up to the order of the
floating-point sum (a test holds them within 1e-9).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.detector.features import WORD_TOKEN, normalize_arrow
from tailguard.schema import require_columns
from tailguard.share import mle

RATIO_SCHEMA = T.StructType([
    T.StructField("doc_id", T.StringType(), False),
    T.StructField("crawl_date", T.DateType(), False),
    T.StructField("log_ratio", T.DoubleType(), False),
])
MAX_ABS = 700.0   # as mle.with_log_ratio: exp() of the ratio stays finite downstream


@dataclass(frozen=True)
class WordModel:
    """A mle.Reference as arrays (driver-collected, shipped to the tasks): the vocabulary
    in word order with q and df_glob; per domain (n_dom, own, c, c_loo); per own-reference
    domain the vocabulary indices it has counts for and those counts."""

    words: pa.Array
    q: np.ndarray
    df_glob: np.ndarray
    n_total: int
    prior_docs: float
    domains: dict[str, tuple[int, bool, float, float]]
    domain_words: dict[str, tuple[np.ndarray, np.ndarray]]


def word_model(ref: mle.Reference) -> WordModel:
    """Collect `ref` (vocabulary, domains, and the domains' vocabulary counts: a few rows per
    vocabulary word and own-reference domain) into a WordModel."""
    vocab = sorted((r["word"], float(r["q"]), int(r["df_glob"])) for r in ref.vocab.collect())
    index = {w: i for i, (w, _, _) in enumerate(vocab)}
    domains = {r["domain"]: (int(r["n_dom"]), bool(r["own"]), float(r["c"]), float(r["c_loo"]))
               for r in ref.domains.collect()}
    pairs: dict[str, list[tuple[int, int]]] = {}
    for r in ref.domain_words.collect():
        pairs.setdefault(r["domain"], []).append((index[r["word"]], int(r["df_dom"])))
    domain_words = {d: (np.array([i for i, _ in sorted(p)], np.int64),
                        np.array([c for _, c in sorted(p)], np.float64))
                    for d, p in pairs.items()}
    return WordModel(pa.array([w for w, _, _ in vocab], pa.string()),
                     np.array([q for _, q, _ in vocab], np.float64),
                     np.array([df for _, _, df in vocab], np.float64),
                     int(ref.n_total), float(ref.prior_docs), domains, domain_words)


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, mle._EPS, 1 - mle._EPS)


def _log_odds_terms(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mle._log_odds_terms on arrays: (s_w, log((1-q)/(1-p)))."""
    p, q = _clip(p), _clip(q)
    out = np.log(1 - q) - np.log(1 - p)
    return np.log(q) - np.log(p) - out, out


def domain_scores(model: WordModel, domain: str) -> tuple[np.ndarray, np.ndarray]:
    """(score of each vocabulary word for a document of `domain`, the same for a pre-AI
    document scored leave-one-out): mle.with_log_ratio's `score` column for every word."""
    n_dom, own, _, _ = model.domains[domain]
    k = model.prior_docs
    p_glob = (model.df_glob + 0.5) / (model.n_total + 1)
    if own:
        df_dom = np.zeros(len(model.q))
        idx, counts = model.domain_words.get(domain, (np.zeros(0, np.int64), np.zeros(0)))
        df_dom[idx] = counts
        cnt, tot = df_dom + k * p_glob, float(n_dom) + k
    else:
        cnt, tot = model.df_glob + 0.5, model.n_total + 1.0
    s_w, _ = _log_odds_terms(cnt / tot, model.q)
    s_in, c_in = _log_odds_terms((cnt - 1) / (tot - 1), model.q)
    _, c_out = _log_odds_terms(cnt / (tot - 1), model.q)
    return s_w, s_in + c_in - c_out


def vocabulary_words(texts: pa.Array, words: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(document index, vocabulary index) of every distinct vocabulary word of each text,
    sorted: the texts normalised and split as mle.with_words does."""
    lines = normalize_arrow(texts)
    tokens = pc.split_pattern(lines, " ")
    offsets = tokens.offsets.to_numpy()
    doc = np.repeat(np.arange(len(tokens), dtype=np.int64), np.diff(offsets))
    values = tokens.flatten()
    ids = pc.index_in(values, value_set=words)
    keep = pc.and_(pc.match_substring_regex(values, WORD_TOKEN), pc.is_valid(ids))
    keep = keep.to_numpy(zero_copy_only=False)
    doc, word = doc[keep], ids.filter(pa.array(keep)).to_numpy().astype(np.int64)
    pairs = np.unique(doc * len(words) + word)
    return pairs // max(len(words), 1), pairs % max(len(words), 1)


def log_ratios(model: WordModel, texts: pa.Array, domains: list[str], pre: np.ndarray,
               scores=None) -> np.ndarray:
    """log Q(d)/P(d) of each text (mle.with_log_ratio): the constant of its domain (c, or
    c_loo for a pre-AI document) plus the scores of its distinct vocabulary words; a
    domain the model does not hold scores 0. `scores(domain)` is domain_scores, cached
    by the caller across batches."""
    scores = scores or (lambda d: domain_scores(model, d))
    n = len(domains)
    doc, word = vocabulary_words(texts, model.words)
    names, code = np.unique(np.asarray(domains, dtype=object), return_inverse=True)
    known = np.array([d in model.domains for d in names], bool)
    const = np.zeros(n)
    values = np.zeros(len(doc))
    for j, name in enumerate(names):
        if not known[j]:
            continue
        rows = code == j
        _, _, c, c_loo = model.domains[name]
        const[rows] = np.where(pre[rows], c_loo, c)
        s_w, loo = scores(name)
        on = rows[doc]
        values[on] = np.where(pre[doc[on]], loo[word[on]], s_w[word[on]])
    sums = np.bincount(doc, weights=values, minlength=n)
    sums[~known[code]] = 0.0
    return np.clip(const + sums, -MAX_ABS, MAX_ABS)


def with_log_ratio(rows: DataFrame, model: WordModel) -> DataFrame:
    """(doc_id, crawl_date, domain, era, text) -> RATIO_SCHEMA: each document's log ratio,
    one mapInArrow pass (the word model travels with the function)."""
    require_columns(rows, ["doc_id", "crawl_date", "domain", "era", "text"], "with_log_ratio")
    arrow_schema = pa.schema([("doc_id", pa.string()), ("crawl_date", pa.date32()),
                              ("log_ratio", pa.float64())])

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cached = lru_cache(maxsize=512)(lambda d: domain_scores(model, d))
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pre = pc.equal(batch.column("era"), "pre_ai").to_numpy(zero_copy_only=False)
            values = log_ratios(model, batch.column("text"),
                                batch.column("domain").to_pylist(), pre, cached)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id"), batch.column("crawl_date"), pa.array(values)],
                schema=arrow_schema)

    return (rows.select("doc_id", F.col("crawl_date").cast("date"), "domain", "era", "text")
            .mapInArrow(kernel, RATIO_SCHEMA))
