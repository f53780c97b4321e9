"""Per-document log Q(d)/P(d) for the distributional estimator (Liang et al. 2024).

Liang et al. ("Monitoring AI-Modified Content at Scale", arXiv:2403.07183, section 3) model
a document as the set of words it contains, each word w present independently with
probability p_w under human writing and q_w under LLM writing. Then

    log Q(d)/P(d) = C + sum_{w in d} s_w,   s_w = log(q_w/p_w) - log((1-q_w)/(1-p_w)),
    C = sum_{w in V} log((1-q_w)/(1-p_w)),

a linear score over the vocabulary V. The word model is fitted here with Spark
(`reference_tables`); `with_log_ratio` defines each document's ratio with Spark joins,
and the job computes the same ratios in one Arrow pass (`mle_kernel.py`).

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

from dataclasses import dataclass, replace

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tailguard.config import Config
from tailguard.detector.features import WORD_TOKEN, normalize_arrow
from tailguard.schema import require_columns

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


@dataclass(frozen=True)
class Reference:
    """The word model of every domain, kept sparse: nothing is domains x |V| in size.

    vocab: word, df_glob, q (at most share.mle_vocab_size rows, broadcast);
    domains: domain, n_dom (pre-AI documents), own (n_dom >= share.min_reference_docs),
      c, c_loo (the constant C, normal and leave-one-out);
    domain_words: domain, word, df_dom: the vocabulary words of an own-reference domain's
      pre-AI text (a word a domain never used has the prior's count, derived on the fly).
    """

    vocab: DataFrame
    domains: DataFrame
    domain_words: DataFrame
    n_total: int
    prior_docs: float
    cached: tuple[DataFrame, ...] = ()   # to unpersist once the log ratios are written


def reference_tables(base_words: DataFrame, synthetic_words: DataFrame, cfg: Config
                     ) -> Reference:
    """The vocabulary, per-domain word counts and constants (normal and leave-one-out).

    base_words: doc_id, domain, era, words (the canonical documents being measured);
    synthetic_words: words of the synthetic reference documents. Only scalars and the
    vocabulary (at most share.mle_vocab_size words) reach the driver.
    """
    s = cfg.share
    spark = base_words.sparkSession
    human = base_words.where(F.col("era") == "pre_ai")
    n_dom = human.groupBy("domain").agg(F.count("*").alias("n_dom")).persist()
    # read twice (the vocabulary's spread, then the domains' counts of its words)
    df_dom = (human.select("domain", F.explode("words").alias("word"))
              .groupBy("domain", "word").agg(F.count("*").alias("df_dom")).persist())
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
        "word string, df_glob long, q double")
    domains = (base_words.select("domain").distinct().join(n_dom, "domain", "left")
               .fillna(0, ["n_dom"])
               .withColumn("own", F.col("n_dom") >= s.min_reference_docs))
    domain_words = (df_dom.join(F.broadcast(vocab.select("word")), "word", "inner")
                    .join(ref_domains, "domain", "left_semi"))
    ref = Reference(vocab, domains, domain_words, n_total, float(s.mle_prior_docs),
                    (n_dom, df_dom))
    return replace(ref, domains=_with_constants(ref))


def _count_and_total(ref: Reference, df_dom: Column) -> tuple[Column, Column]:
    """A word's (count, total) under P for rows holding df_glob, n_dom and own: the domain's
    count shrunk toward all pre-AI text by prior_docs pseudo-documents, or for a domain
    without its own reference, all pre-AI text (Laplace-smoothed)."""
    k, n_total = ref.prior_docs, ref.n_total
    p_glob = (F.col("df_glob") + 0.5) / (n_total + 1)
    own = F.col("own")
    cnt = F.when(own, df_dom + k * p_glob).otherwise(F.col("df_glob") + 0.5)
    tot = F.when(own, F.col("n_dom") + k).otherwise(F.lit(n_total + 1.0))
    return cnt, tot


def _with_constants(ref: Reference) -> DataFrame:
    """domains + (c, c_loo): C = sum over V of log((1-q)/(1-p_w)), where a pre-AI document
    scored leave-one-out sees every total one smaller (its own words are handled in the
    word scores). Sum over V at zero domain count, once per (own, n_dom) shape, plus a
    correction for each word the domain's pre-AI text holds."""
    vocab = F.broadcast(ref.vocab)
    q = F.col("q")

    def terms(df_dom: Column) -> tuple[Column, Column]:
        cnt, tot = _count_and_total(ref, df_dom)
        return (_log_odds_terms(cnt / tot, q)[1], _log_odds_terms(cnt / (tot - 1), q)[1])

    shape = F.when(F.col("own"), F.col("n_dom")).otherwise(F.lit(-1)).alias("shape")
    shapes = ref.domains.select("own", "n_dom", shape).dropDuplicates(["shape"])
    c0, c0_out = terms(F.lit(0.0))
    base = (shapes.crossJoin(vocab).groupBy("shape")
            .agg(F.sum(c0).alias("c0"), F.sum(c0_out).alias("c0_out")))
    c1, c1_out = terms(F.col("df_dom").cast("double"))
    corrections = (ref.domain_words.join(vocab, "word")
                   .join(ref.domains.select("domain", "n_dom", "own"), "domain")
                   .groupBy("domain").agg(F.sum(c1 - c0).alias("dc"),
                                          F.sum(c1_out - c0_out).alias("dc_out")))
    return (ref.domains.select("*", shape).join(base, "shape")
            .join(corrections, "domain", "left").fillna(0.0, ["dc", "dc_out"])
            .select("domain", "n_dom", "own", (F.col("c0") + F.col("dc")).alias("c"),
                    (F.col("c0_out") + F.col("dc_out")).alias("c_loo")))


def with_log_ratio(base_words: DataFrame, ref: Reference) -> DataFrame:
    """Add log_ratio = log Q(d)/P(d) to each (doc_id, domain, era, words) row.

    Pre-AI documents are scored leave-one-out: their words lose one count and every total
    one document. The ratio is clipped to +-700 so exp() of it stays finite downstream.
    """
    require_columns(base_words, ["doc_id", "domain", "era", "words"], "with_log_ratio")
    pre = F.col("era") == "pre_ai"
    cnt, tot = _count_and_total(ref, F.coalesce(F.col("df_dom"), F.lit(0)).cast("double"))
    q = F.col("q")
    s_w, _ = _log_odds_terms(cnt / tot, q)
    s_in, c_in = _log_odds_terms((cnt - 1) / (tot - 1), q)
    _, c_out = _log_odds_terms(cnt / (tot - 1), q)
    score = F.when(pre, s_in + c_in - c_out).otherwise(s_w)
    sums = (base_words.select("doc_id", "domain", "era", F.explode("words").alias("word"))
            .join(F.broadcast(ref.vocab), "word", "inner")
            .join(ref.domain_words, ["domain", "word"], "left")
            .join(ref.domains.select("domain", "n_dom", "own"), "domain", "inner")
            .groupBy("doc_id").agg(F.sum(score).alias("word_sum")))
    consts = ref.domains.select("domain", "c", "c_loo")
    return (base_words.join(sums, "doc_id", "left").join(consts, "domain", "left")
            .withColumn("log_ratio", F.coalesce(F.when(pre, F.col("c_loo"))
                                                .otherwise(F.col("c")), F.lit(0.0))
                        + F.coalesce(F.col("word_sum"), F.lit(0.0)))
            .withColumn("log_ratio", F.least(F.greatest("log_ratio", F.lit(-700.0)),
                                             F.lit(700.0)))
            .drop("word_sum", "c", "c_loo", "words"))
