"""The shard pool's Spark steps (shards/pool.py, shards/choose.py) on small frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tailguard.attributes.quality import SCORE_COLUMNS
from tailguard.config import load_config
from tailguard.shards import choose, pool

D1, D2 = dt.date(2020, 1, 1), dt.date(2024, 1, 1)


def _attributes(spark, keys):
    """quality and tail attribute frames for (doc_id, crawl_date, n_tokens) keys."""
    scores = [0.0] * len(SCORE_COLUMNS)
    ddl = ", ".join(["doc_id string", "crawl_date date", "n_tokens int", "n_bytes long"]
                    + [f"{c} {'int' if c in ('q_words', 'q_stop_words') else 'double'}"
                       for c in SCORE_COLUMNS])
    quality = spark.createDataFrame(
        [(d, c, n, 10 * n, *[int(v) if col in ("q_words", "q_stop_words") else v
                             for col, v in zip(SCORE_COLUMNS, scores, strict=True)])
         for d, c, n in keys], ddl)
    tail = spark.createDataFrame([(d, c, 2, [0, 1]) for d, c, _ in keys],
                                 "doc_id string, crawl_date date, tail_concepts int, "
                                 "tail_ids array<int>")
    return quality, tail


def test_canonical_pool_keeps_one_copy_per_cluster_with_its_attributes_by_key(spark):
    provenance = spark.createDataFrame(
        [("a", D1, "x.com", "pre_ai", True), ("b", D2, "x.com", "post_ai", True),
         ("c", D2, "y.com", "attested", False)],
        "doc_id string, crawl_date date, domain string, era string, is_canonical boolean")
    # attributes of another crawl date under the same doc_id must not be picked up
    quality, tail = _attributes(spark, [("a", D1, 60), ("b", D2, 70), ("c", D2, 80),
                                        ("b", D1, 999)])
    scores = spark.createDataFrame([("b", D2, 0.7)],
                                   "doc_id string, crawl_date date, p_synthetic double")
    pages = spark.createDataFrame([("b", D2, 0.35), ("b", D1, 0.9)],
                                  "doc_id string, crawl_date date, human_p double")
    got = pool.canonical_pool(provenance, quality, tail, scores, pages).select(
        "doc_id", "era", "n_tokens", "n_bytes", "p_synthetic", "human_p")
    expected = spark.createDataFrame([("a", "pre_ai", 60, 600, None, None),
                                      ("b", "post_ai", 70, 700, 0.7, 0.35)],
                                     "doc_id string, era string, n_tokens int, n_bytes long, "
                                     "p_synthetic double, human_p double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    unscored = pool.canonical_pool(provenance, quality, tail, None)
    assert unscored.where(F.col("p_synthetic").isNotNull()
                          | F.col("human_p").isNotNull()).count() == 0


def test_canonical_pool_refuses_a_canonical_document_without_attributes(spark):
    provenance = spark.createDataFrame(
        [("a", D1, "x.com", "pre_ai", True), ("b", D2, "x.com", "post_ai", True)],
        "doc_id string, crawl_date date, domain string, era string, is_canonical boolean")
    quality, tail = _attributes(spark, [("a", D1, 60)])
    with pytest.raises(Exception, match="no attributes for canonical document b"):
        pool.canonical_pool(provenance, quality, tail, None).collect()


def _scored(spark, rows):
    """Rows of (doc_id, era, p_synthetic, q_words, q_stop_words); other scores pass."""
    passing = {c: 0.0 for c in SCORE_COLUMNS}
    passing.update(q_mean_word_length=5.0, q_alpha_words=1.0)
    data = []
    for doc_id, era, p, words, stops in rows:
        scores = {**passing, "q_words": words, "q_stop_words": stops}
        data.append((doc_id, D2, "x.com", era, 100, p, *[scores[c] for c in SCORE_COLUMNS]))
    ddl = ", ".join(["doc_id string", "crawl_date date", "domain string", "era string",
                     "n_tokens int", "p_synthetic double"]
                    + [f"{c} {'int' if c in ('q_words', 'q_stop_words') else 'double'}"
                       for c in SCORE_COLUMNS])
    return spark.createDataFrame(data, ddl)


def test_quality_reason_names_the_first_rule_a_document_fails(spark):
    quality = load_config([], []).shards.quality
    df = _scored(spark, [("ok", "pre_ai", None, 60, 3), ("short", "pre_ai", None, 10, 0),
                         ("stopless", "pre_ai", None, 60, 1)])
    got = {r["doc_id"]: r["reason"] for r in pool.with_quality_reason(df, quality).collect()}
    assert got == {"ok": None, "short": "too_few_words", "stopless": "few_stop_words"}


def test_admission_needs_a_human_page_on_a_human_looking_site(spark):
    df = (_scored(spark, [("old", "pre_ai", 0.99, 60, 3), ("human", "post_ai", 0.1, 60, 3),
                          ("llm", "post_ai", 0.9, 60, 3), ("none", "post_ai", None, 60, 3),
                          ("bad", "post_ai", 0.1, 10, 3), ("odd", "post_ai", 0.1, 60, 3),
                          ("nopu", "post_ai", 0.1, 60, 3)])
          .unionByName(_scored(spark, [("site", "post_ai", 0.1, 60, 3)])
                       .withColumn("domain", F.lit("slop.com")))
          .unionByName(_scored(spark, [("small", "post_ai", 0.1, 60, 3)])
                       .withColumn("domain", F.lit("tiny.com")))
          .withColumn("reason", F.when(F.col("q_words") < 50, F.lit("too_few_words")))
          .withColumn("human_p", F.when(F.col("doc_id") == "odd", F.lit(0.05))
                      .when(F.col("doc_id") == "nopu", F.lit(None).cast("double"))
                      .otherwise(F.lit(0.5))))
    bounds = spark.createDataFrame([("x.com", 0.2), ("slop.com", 0.6), ("__all__", 0.25)],
                                   "domain string, share_hi double")
    got = {r["doc_id"]: (r["reason"], r["domain_share_hi"]) for r in
           pool.with_admission(df, bounds, 0.25, 0.5, 0.3, 0.2).collect()}
    assert got == {"old": (None, None), "human": (None, 0.2), "llm": ("p_synthetic", 0.2),
                   "none": ("unscored", 0.2), "bad": ("too_few_words", 0.2),
                   "odd": ("human_p", 0.2), "nopu": ("unscored", 0.2),
                   "site": ("domain_share", 0.6), "small": (None, 0.25)}
    # min_human_p = 0 turns the in-crawl rule off: a low or missing human_p is no reason
    off = {r["doc_id"]: r["reason"] for r in
           pool.with_admission(df, bounds, 0.25, 0.5, 0.3, 0.0).collect()}
    assert off["odd"] is None and off["nopu"] is None and off["llm"] == "p_synthetic"


def test_weight_follows_tail_density_and_is_clipped_both_ways(spark):
    df = spark.createDataFrame([("avg", 10, 100), ("rich", 20, 100), ("richest", 90, 100),
                                ("none", 0, 100)],
                               "doc_id string, tail_concepts int, n_tokens int")
    got = {r["doc_id"]: r["weight"] for r in pool.with_weight(df, 0.1, 4.0).collect()}
    assert got == pytest.approx({"avg": 1.0, "rich": 2.0, "richest": 4.0, "none": 0.25})


def test_sampling_keys_are_seeded_uniforms_raised_to_one_over_the_weight(spark):
    df = spark.createDataFrame([(f"d{i}", D1, w) for i, w in enumerate([1.0, 2.0, 4.0] * 200)],
                               "doc_id string, crawl_date date, weight double")
    rows = pool.with_sampling_keys(df, seed=1).collect()
    u = np.array([r["key_uniform"] for r in rows])
    weighted = np.array([r["key_weighted"] for r in rows])
    w = np.array([r["weight"] for r in rows])
    assert ((u > 0) & (u < 1)).all() and 0.4 < u.mean() < 0.6
    assert np.allclose(weighted, u ** (1 / w))
    again = [r["key_uniform"] for r in pool.with_sampling_keys(df, seed=1).collect()]
    other = [r["key_uniform"] for r in pool.with_sampling_keys(df, seed=2).collect()]
    assert again == u.tolist() and other != u.tolist()


def _admitted(spark, rows):
    """(doc_id, era, tokens, key, forced) rows as the choose step sees them."""
    return spark.createDataFrame(
        [(d, D1, era, t, k, k, forced) for d, era, t, k, forced in rows],
        "doc_id string, crawl_date date, era string, n_tokens int, key_weighted double, "
        "key_uniform double, forced boolean")


def test_choose_keeps_the_anchor_ratio_and_fills_by_key_order(spark):
    rows = [(f"a{i}", "pre_ai", 10, (i + 1) / 20, False) for i in range(10)]
    rows += [(f"f{i}", "post_ai", 10, (i + 1) / 20 + 0.5, False) for i in range(10)]
    ordered = choose.with_orders(_admitted(spark, rows))
    plan, choices = choose.choose(ordered, 100, 0.6)
    picked = {r["doc_id"] for r in choose.with_choice(ordered, choices)
              .where("selected").collect()}
    assert (plan.budget, plan.message) == (100, None)
    assert picked == {f"a{i}" for i in range(4, 10)} | {f"f{i}" for i in range(6, 10)}


def test_accumulated_documents_come_before_any_sampled_one(spark):
    rows = [(f"a{i}", "pre_ai", 10, (i + 1) / 20, False) for i in range(10)]
    df = _admitted(spark, rows).withColumn("reason", F.lit(None).cast("string"))
    previous = spark.createDataFrame([("a0", D1), ("a1", D1), ("gone", D1)],
                                     "doc_id string, crawl_date date")
    ordered = choose.with_orders(pool.with_accumulated(df.drop("forced"), previous))
    plan, choices = choose.choose(ordered, 50, 0.6)
    picked = {r["doc_id"] for r in choose.with_choice(ordered, choices)
              .where("selected").collect()}
    assert picked == {"a0", "a1", "a7", "a8", "a9"}


def test_a_pool_short_of_anchor_shrinks_the_budget_instead_of_the_ratio(spark):
    rows = [(f"a{i}", "pre_ai", 10, (i + 1) / 20, False) for i in range(3)]
    rows += [(f"f{i}", "post_ai", 10, (i + 1) / 20 + 0.5, False) for i in range(10)]
    ordered = choose.with_orders(_admitted(spark, rows))
    plan, choices = choose.choose(ordered, 100, 0.6)
    flagged = choose.with_choice(ordered, choices).where("selected").collect()
    anchor = sum(r["n_tokens"] for r in flagged if r["era"] == "pre_ai")
    assert plan.shrunk and plan.budget == 50 and "shrinks from 100 to 50" in plan.message
    assert anchor == 30 and anchor / sum(r["n_tokens"] for r in flagged) >= 0.6
