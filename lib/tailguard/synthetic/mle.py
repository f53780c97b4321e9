"""Per-document log Q(d)/P(d) for the distributional estimator (Liang et al. 2024).

Liang et al. ("Monitoring AI-Modified Content at Scale", arXiv:2403.07183, section 3) model
a document as the set of words it contains, each word w present independently with
probability p_w under human writing and q_w under LLM writing. Then

    log Q(d)/P(d) = C + sum_{w in d} s_w,   s_w = log(q_w/p_w) - log((1-q_w)/(1-p_w)),
    C = sum_{w in V} log((1-q_w)/(1-p_w)),

a linear score over the vocabulary V, computed here with Spark joins and sums.

Choices that keep it honest on web data:
- P is the domain's own pre-AI text, shrunk toward all pre-AI text with a prior of
  `share.mle_prior_docs` documents; a domain with fewer than `share.min_reference_docs`
  pre-AI documents uses all pre-AI text (Laplace-smoothed).
- V holds words of the synthetic reference (df >= `share.mle_min_df`) that are either
  domain-general in the human reference (present in `share.mle_min_domain_fraction` of
  the reference domains) or (almost) absent from all human text. Domain topic words are
  left out: LLM text of a domain reuses them, a generic synthetic reference lacks them, so
  they would make every synthetic page look human (Liang et al. restrict V to adjectives
  for the same reason). Words humans never use but LLMs do (marker words) are the
  strongest evidence and must stay in: without them the demo estimate was off by 0.17.
- A pre-AI document is scored leave-one-out (its own words removed from P): otherwise
  the pre-AI sanity rows would be fitted to themselves and sit at zero by construction.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.config import Config
from tailguard.schema import require_columns
from tailguard.synthetic.features import WORD_TOKEN, normalize_arrow

_EPS = 1e-6
_LINE_SCHEMA = T.StructType([T.StructField("doc_id", T.StringType(), False),
                             T.StructField("line", T.StringType(), False)])


def with_words(df: DataFrame) -> DataFrame:
    """(doc_id, text) -> (doc_id, words): distinct detector-normalised words per document."""
    require_columns(df, ["doc_id", "text"], "with_words")

    def normalise(batches):
        for batch in batches:
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id"), normalize_arrow(batch.column("text"))],
                names=["doc_id", "line"])

    lines = df.select("doc_id", "text").mapInArrow(normalise, _LINE_SCHEMA)
    tokens = F.filter(F.split("line", " "), lambda w: w.rlike(WORD_TOKEN))
    return lines.select("doc_id", F.array_distinct(tokens).alias("words"))


def _log_odds_terms(p: Column, q: Column) -> tuple[Column, Column]:
    """(s_w, log((1-q)/(1-p))) for probabilities p (human) and q (synthetic).

    Both are clipped away from 0 and 1: a leave-one-out total can push a near-universal
    word's p to 1, where the log of 1 - p is undefined.
    """
    p = F.least(F.greatest(p, F.lit(_EPS)), F.lit(1 - _EPS))
    q = F.least(F.greatest(q, F.lit(_EPS)), F.lit(1 - _EPS))
    out = F.log(1 - q) - F.log(1 - p)
    return F.log(q) - F.log(p) - out, out


def reference_tables(base_words: DataFrame, synthetic_words: DataFrame, cfg: Config):
    """Per-(domain, word) scores and per-domain constants, normal and leave-one-out.

    base_words: doc_id, domain, era, words (the canonical documents being measured);
    synthetic_words: words of the synthetic reference documents. Returns
    (word_table: domain, word, s, s_loo; const_table: domain, c, c_loo), both bounded by
    domains x |V|. Only scalars and the vocabulary (at most share.mle_vocab_size words)
    reach the driver.
    """
    s = cfg.share
    spark = base_words.sparkSession
    human = base_words.where(F.col("era") == "pre_ai")
    n_dom = human.groupBy("domain").agg(F.count("*").alias("n_dom")).persist()
    df_dom = (human.select("domain", F.explode("words").alias("word"))
              .groupBy("domain", "word").agg(F.count("*").alias("df_dom")))
    totals = n_dom.agg(F.sum("n_dom").alias("n_total"), F.count(F.when(
        F.col("n_dom") >= s.min_reference_docs, 1)).alias("n_ref")).first()
    n_total, n_ref = int(totals["n_total"] or 0), int(totals["n_ref"] or 0)
    n_syn = synthetic_words.count()
    ref_domains = n_dom.where(F.col("n_dom") >= s.min_reference_docs).select("domain")
    glob = (df_dom.join(ref_domains.withColumn("ref", F.lit(1)), "domain", "left")
            .groupBy("word").agg(F.sum("df_dom").alias("df_glob"),
                                 F.count("ref").alias("spread")))
    syn = (synthetic_words.select(F.explode("words").alias("word"))
           .groupBy("word").agg(F.count("*").alias("df_syn")))
    rows = (syn.join(glob, "word", "left").fillna(0, ["df_glob", "spread"])
            .where((F.col("df_syn") >= s.mle_min_df)
                   & ((F.col("spread") >= n_ref * s.mle_min_domain_fraction)
                      | (F.col("df_glob") < s.mle_min_df)))
            .orderBy(F.desc(F.col("df_glob") / max(n_total, 1)
                            + F.col("df_syn") / max(n_syn, 1)), "word")
            .limit(s.mle_vocab_size).collect())
    vocab = spark.createDataFrame(
        [(r["word"], int(r["df_glob"]), (r["df_syn"] + 0.5) / (n_syn + 1)) for r in rows],
        "word string, df_glob long, q double").withColumn("n_total", F.lit(n_total))
    return _domain_word_scores(F.broadcast(vocab), n_dom, df_dom, base_words, cfg)


def _domain_word_scores(vocab, n_dom, df_dom, base_words, cfg):
    k = float(cfg.share.mle_prior_docs)
    domains = (base_words.select("domain").distinct()
               .join(n_dom, "domain", "left").fillna(0, ["n_dom"]))
    p_glob = (F.col("df_glob") + 0.5) / (F.col("n_total") + 1)
    own = F.col("n_dom") >= cfg.share.min_reference_docs
    grid = (domains.crossJoin(vocab).join(df_dom, ["domain", "word"], "left")
            .fillna(0, ["df_dom"])
            # (count, total) of the word under P: shrunk domain counts, or global Laplace.
            .withColumn("cnt", F.when(own, F.col("df_dom") + k * p_glob)
                        .otherwise(F.col("df_glob") + 0.5))
            .withColumn("tot", F.when(own, F.col("n_dom") + k)
                        .otherwise(F.col("n_total") + 1)))
    q = F.col("q")
    s_w, c_w = _log_odds_terms(F.col("cnt") / F.col("tot"), q)
    # Leave-one-out for a reference document: present words lose one count, and every
    # word's total loses one (so the constant changes too).
    s_in, _ = _log_odds_terms((F.col("cnt") - 1) / (F.col("tot") - 1), q)
    _, c_out = _log_odds_terms(F.col("cnt") / (F.col("tot") - 1), q)
    _, c_in = _log_odds_terms((F.col("cnt") - 1) / (F.col("tot") - 1), q)
    scored = grid.select("domain", "word", s_w.alias("s"), (s_in + c_in - c_out).alias("s_loo"),
                         c_w.alias("c"), c_out.alias("c_out"))
    words = scored.select("domain", "word", "s", "s_loo")
    consts = scored.groupBy("domain").agg(F.sum("c").alias("c"), F.sum("c_out").alias("c_loo"))
    return words, consts


def with_log_ratio(base_words: DataFrame, words: DataFrame, consts: DataFrame) -> DataFrame:
    """Add log_ratio = log Q(d)/P(d) to each (doc_id, domain, era, words) row.

    Pre-AI documents are scored leave-one-out. The ratio is clipped to +-700 so exp() of it
    stays finite downstream.
    """
    require_columns(base_words, ["doc_id", "domain", "era", "words"], "with_log_ratio")
    pre = F.col("era") == "pre_ai"
    sums = (base_words.select("doc_id", "domain", "era", F.explode("words").alias("word"))
            .join(words, ["domain", "word"], "inner")
            .groupBy("doc_id").agg(F.sum(F.when(pre, F.col("s_loo")).otherwise(F.col("s")))
                                   .alias("word_sum")))
    return (base_words.join(sums, "doc_id", "left").join(consts, "domain", "left")
            .withColumn("log_ratio", F.coalesce(F.when(pre, F.col("c_loo"))
                                                .otherwise(F.col("c")), F.lit(0.0))
                        + F.coalesce(F.col("word_sum"), F.lit(0.0)))
            .withColumn("log_ratio", F.least(F.greatest("log_ratio", F.lit(-700.0)),
                                             F.lit(700.0)))
            .drop("word_sum", "c", "c_loo", "words"))
