"""The shard pool: canonical documents, their attributes, and why each one is left out.

Stages (each a `DataFrame -> DataFrame` step, composed in `job.py`):
- `canonical_pool`: the earliest copy of every near-duplicate cluster (exact and near
  duplicates removed, earliest kept), with its era, its per-date attributes (token count,
  size and Gopher scores from `attributes/quality`, tail concepts from `attributes/tail`),
  the detector's calibrated `p_synthetic` and the share job's `human_p` (`pu_scores`);
- `with_quality_reason`: the first quality rule a document fails (scores stay apart from
  the decision, so a data lead can re-threshold without re-reading text);
- `with_admission`: a `post_ai` document enters only when it (`p_synthetic` from the
  detector, `human_p` from the classifier learned on this crawl) and its domain (upper
  bound of the primary share estimate) look human;
- `with_weight`, `with_sampling_keys`, `with_accumulated`: the tail-enrichment weight,
  the seeded Efraimidis-Spirakis keys, and the documents an earlier shard set keeps.

No step reads text: every one runs on one small row per document, joined by key.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tailguard.attributes.quality import SCORE_COLUMNS
from tailguard.schema import require_columns

KEYS = ("doc_id", "crawl_date")
ANCHOR_ERAS = ("pre_ai", "attested")
POOL_COLUMNS = ("doc_id", "crawl_date", "domain", "era", "n_tokens", "p_synthetic",
                "human_p", "n_bytes", *SCORE_COLUMNS, "tail_concepts", "tail_ids")

# (reason, score column, "min" | "max", config key under shards.quality, list index):
# the first rule a document fails names why it is left out.
QUALITY_RULES = (
    ("too_few_words", "q_words", "min", "min_words", None),
    ("too_many_words", "q_words", "max", "max_words", None),
    ("short_words", "q_mean_word_length", "min", "min_mean_word_length", None),
    ("long_words", "q_mean_word_length", "max", "max_mean_word_length", None),
    ("symbols", "q_symbol_word_ratio", "max", "max_symbol_word_ratio", None),
    ("bullet_lines", "q_bullet_lines", "max", "max_bullet_lines", None),
    ("ellipsis_lines", "q_ellipsis_lines", "max", "max_ellipsis_lines", None),
    ("non_alpha_words", "q_alpha_words", "min", "min_alpha_words", None),
    ("few_stop_words", "q_stop_words", "min", "min_stop_words", None),
    ("dup_lines", "q_dup_lines", "max", "max_dup_lines", None),
    ("dup_line_chars", "q_dup_line_chars", "max", "max_dup_line_chars", None),
    ("dup_paragraphs", "q_dup_paragraphs", "max", "max_dup_paragraphs", None),
    ("dup_paragraph_chars", "q_dup_paragraph_chars", "max", "max_dup_paragraph_chars", None),
    *[(f"top_{n}gram", f"q_top_{n}gram_chars", "max", "max_top_ngram_chars", i)
      for i, n in enumerate((2, 3, 4))],
    *[(f"dup_{n}gram", f"q_dup_{n}gram_chars", "max", "max_dup_ngram_chars", i)
      for i, n in enumerate((5, 6, 7, 8, 9, 10))],
)
ADMISSION_REASONS = ("unscored", "p_synthetic", "human_p", "domain_share")


def canonical_pool(provenance: DataFrame, quality: DataFrame, tail: DataFrame,
                   scores: DataFrame | None, pages: DataFrame | None = None,
                   broadcast_provenance: bool = False) -> DataFrame:
    """POOL_COLUMNS of the canonical copy of every cluster (`provenance.is_canonical`:
    the earliest (crawl_date, doc_id) of its exact / near-duplicate cluster), with its
    `quality` and `tail` attributes (a canonical document without them is an error: the
    caller makes them current first). `scores` (the detector's) may be None (no detector
    run): then every `p_synthetic` is null and no `post_ai` document is admitted later.
    `pages` is the share job's `pu_scores` (doc_id, crawl_date, human_p); None leaves
    `human_p` null."""
    require_columns(provenance, ("doc_id", "crawl_date", "domain", "era", "is_canonical"),
                    "canonical_pool")
    require_columns(quality, (*KEYS, "n_tokens", "n_bytes", *SCORE_COLUMNS), "canonical_pool")
    require_columns(tail, (*KEYS, "tail_concepts", "tail_ids"), "canonical_pool")
    canonical = provenance.where(F.col("is_canonical")).select(*KEYS, "domain", "era")
    attrs = (quality.select(*KEYS, "n_tokens", "n_bytes", *SCORE_COLUMNS)
             .join(tail.select(*KEYS, "tail_concepts", "tail_ids"), on=list(KEYS), how="inner"))
    pool = (F.broadcast(canonical) if broadcast_provenance else canonical).join(
        attrs, on=list(KEYS), how="left")
    missing = F.col("n_tokens").isNull() | F.col("tail_concepts").isNull()
    pool = pool.withColumn("n_tokens", F.when(~missing, F.col("n_tokens")).otherwise(
        F.raise_error(F.concat(F.lit("shards: no attributes for canonical document "),
                               F.col("doc_id"), F.lit(" of "),
                               F.col("crawl_date").cast("string"))).cast("int")))
    if scores is None:
        pool = pool.withColumn("p_synthetic", F.lit(None).cast("double"))
    else:
        pool = pool.join(scores.select(*KEYS, "p_synthetic"), on=list(KEYS), how="left")
    if pages is None:
        pool = pool.withColumn("human_p", F.lit(None).cast("double"))
    else:
        pool = pool.join(pages.select(*KEYS, "human_p"), on=list(KEYS), how="left")
    return pool.select(*POOL_COLUMNS)


def duplicates_by_kind(provenance: DataFrame) -> dict[str, int]:
    """Crawled records left out as copies of an earlier one: count per dup_kind."""
    rows = (provenance.where(~F.col("is_canonical")).groupBy("dup_kind").count()
            .collect())
    return {f"duplicate_{r['dup_kind']}": int(r["count"]) for r in rows}


def _rule_fails(column: str, op: str, bound: float) -> Column:
    value = F.col(column)
    return value < F.lit(bound) if op == "min" else value > F.lit(bound)


def with_quality_reason(df: DataFrame, quality) -> DataFrame:
    """`reason`: the first QUALITY_RULES rule the document fails, null when it passes
    (`quality` is the `shards.quality` config section)."""
    require_columns(df, [rule[1] for rule in QUALITY_RULES], "with_quality_reason")
    reason = F.lit(None).cast("string")
    for name, column, op, key, index in reversed(QUALITY_RULES):
        bound = quality[key] if index is None else quality[key][index]
        reason = F.when(_rule_fails(column, op, float(bound)), F.lit(name)).otherwise(reason)
    return df.withColumn("reason", reason)


def with_admission(df: DataFrame, domain_bounds: DataFrame, overall_bound: float | None,
                   max_p_synthetic: float, max_domain_share: float,
                   min_human_p: float = 0.0) -> DataFrame:
    """`domain_share_hi` (the upper 95% bound of the domain's primary share estimate,
    else the crawl-wide `__all__` one, for a domain too small for its own) and, for a
    `post_ai` document still without a reason, the first admission reason it meets:
    `unscored` (no p_synthetic, or no human_p while the rule is on), `p_synthetic` (the
    detector says synthetic), `human_p` (the page scores higher on this crawl's
    post-AI-vs-pre-AI classifier than all but a `min_human_p` share of its site's human
    pages: pu_share.page_scores), `domain_share` (its site looks synthetic). The
    detector was trained on other generators and is weak on new text; the in-crawl
    score and the site-level evidence are stronger (docs/decisions/shards-admission.md).
    `domain_bounds` has columns domain, share_hi; `overall_bound` is the `__all__` one;
    `min_human_p` = 0 turns the human_p rule off."""
    require_columns(df, ("domain", "era", "p_synthetic", "human_p", "reason"),
                    "with_admission")
    require_columns(domain_bounds, ("domain", "share_hi"), "with_admission")
    own = domain_bounds.where(F.col("domain") != "__all__").select(
        "domain", F.col("share_hi").alias("_own_hi"))
    bound = F.coalesce(F.col("_own_hi"), F.lit(overall_bound).cast("double"))
    fresh = F.col("era") == "post_ai"
    in_crawl = min_human_p > 0
    unscored = F.col("p_synthetic").isNull()
    if in_crawl:
        unscored = unscored | F.col("human_p").isNull()
    admission = (F.when(unscored, F.lit("unscored"))
                 .when(F.col("p_synthetic") > F.lit(max_p_synthetic), F.lit("p_synthetic")))
    if in_crawl:
        admission = admission.when(F.col("human_p") < F.lit(min_human_p), F.lit("human_p"))
    admission = admission.when(bound.isNull() | (bound > F.lit(max_domain_share)),
                               F.lit("domain_share"))
    return (df.join(F.broadcast(own), on="domain", how="left")
            .withColumn("domain_share_hi", F.when(fresh, bound))
            .withColumn("reason", F.when(F.col("reason").isNull() & fresh, admission)
                        .otherwise(F.col("reason")))
            .drop("_own_hi"))


def with_weight(df: DataFrame, mean_density: float, max_weight: float) -> DataFrame:
    """`tail_density` (distinct tail concepts per token) and `weight` = density / the
    pool's mean density, clipped to [1 / max_weight, max_weight]: a document as rich in
    rare concepts as the average one weighs 1, one twice as rich 2, and no document
    counts more than `max_weight` times the average or less than its inverse (so every
    admitted document can still be drawn). The mean is token-weighted, from exact integer
    sums, so the weight does not depend on partitioning."""
    require_columns(df, ("tail_concepts", "n_tokens"), "with_weight")
    density = F.col("tail_concepts") / F.greatest(F.col("n_tokens"), F.lit(1))
    relative = density / F.lit(mean_density) if mean_density > 0 else F.lit(1.0)
    cap = float(max_weight)
    return (df.withColumn("tail_density", density)
            .withColumn("weight", F.least(F.greatest(relative, F.lit(1.0 / cap)), F.lit(cap))))


def uniform_from_hash(seed: int, *columns: Column) -> Column:
    """A seeded uniform number in (0, 1) from a 64-bit hash of the columns: 53 bits of
    xxhash64, offset by half a step so it is never 0 or 1."""
    bits = F.pmod(F.xxhash64(*columns, F.lit(seed)), F.lit(1 << 53)).cast("double")
    return (bits + F.lit(0.5)) / F.lit(float(1 << 53))


def with_sampling_keys(df: DataFrame, seed: int) -> DataFrame:
    """Efraimidis-Spirakis keys (2006, "Weighted random sampling with a reservoir"):
    key = u^(1/w) with u uniform from a seeded hash of (doc_id, crawl_date); the
    documents with the largest keys are a weighted sample without replacement.
    `key_weighted` uses the tail weight, `key_uniform` weight 1 (the unweighted sample
    the manifest compares against, from the same u)."""
    require_columns(df, ("doc_id", "crawl_date", "weight"), "with_sampling_keys")
    u = uniform_from_hash(seed, F.col("doc_id"), F.col("crawl_date").cast("string"))
    return (df.withColumn("_u", u)
            .withColumn("key_weighted", F.exp(F.log(F.col("_u")) / F.col("weight")))
            .withColumn("key_uniform", F.col("_u")).drop("_u"))


def with_accumulated(df: DataFrame, previous: DataFrame | None) -> DataFrame:
    """`forced`: the document is in the earlier shard set `previous` (doc_id,
    crawl_date) and still in the pool, so it is kept ahead of every sampled one."""
    if previous is None:
        return df.withColumn("forced", F.lit(False))
    marked = previous.select(*KEYS).distinct().withColumn("_prev", F.lit(True))
    return (df.join(marked, on=list(KEYS), how="left")
            .withColumn("forced", F.coalesce(F.col("_prev"), F.lit(False))
                        & F.col("reason").isNull())
            .drop("_prev"))


def is_anchor() -> Column:
    return F.col("era").isin(*ANCHOR_ERAS)
