"""Provenance benchmarks: our signature stage and whole job next to references measured
in the same run on the same documents (Spark SQL read + tokenise, MLlib MinHashLSH with
128 tables on the same 5-gram shingles, datasketch MinHash.bulk, our kernel in-process)."""

from __future__ import annotations

import logging

from pyspark.sql import functions as F

from bench.common import Result, force, spark_cores, timed
from tailguard.cli import JobContext
from tailguard.dedup.minhash import shingle_hash, shingles
from tailguard.dedup.signatures import hasher_from_config, signatures_of
from tailguard.io.tables import read_table
from tailguard.provenance.job import run as provenance_run
from tailguard.text.tokenize import words_arrow

log = logging.getLogger(__name__)
_WORD_SPLIT = r"[^\p{L}\p{N}']+"


def _spark_lower_bound(spark, cfg, docs: int, cores: int) -> Result:
    text = read_table(spark, cfg, "docs").select("text")
    tokens = text.select(F.split(F.lower("text"), _WORD_SPLIT).alias("w"))
    return timed("spark_sql_read_tokenise", docs, lambda: tokens.agg(F.sum(F.size("w"))).collect(),
                 cores, "lower bound: Parquet read + built-in lower/split, no hashing")


def _mllib_minhash(spark, cfg, docs: int, cores: int) -> Result:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import HashingTF, MinHashLSH, NGram

    text = read_table(spark, cfg, "docs").select(
        "doc_id", F.split(F.lower("text"), _WORD_SPLIT).alias("words"))
    stages = [NGram(n=cfg.dedup.shingle_size, inputCol="words", outputCol="shingles"),
              HashingTF(inputCol="shingles", outputCol="tf", numFeatures=1 << 24, binary=True),
              MinHashLSH(inputCol="tf", outputCol="hashes", numHashTables=128, seed=1)]
    model = Pipeline(stages=stages).fit(text.limit(10))
    out = model.transform(text).where(F.size("words") > 0).select("doc_id", "hashes")
    return timed("mllib_minhashlsh_transform_128", docs, lambda: force(out), cores,
                 "reference: NGram + HashingTF + MinHashLSH(128 tables).transform")


def _in_process(spark, cfg, sample: int) -> list[Result]:
    """datasketch MinHash.bulk vs our kernel in one plain Python process (one core)."""
    texts = read_table(spark, cfg, "docs").select("text").limit(sample).toArrow()["text"]
    hasher = hasher_from_config(cfg.dedup)
    words = words_arrow(texts)
    items = [shingles(w, cfg.dedup.shingle_size) for w in words.to_pylist()]
    items = [i for i in items if i]
    from datasketch import MinHash

    ref = timed("datasketch_minhash_bulk", len(items), lambda: MinHash.bulk(
        items, num_perm=cfg.dedup.num_perm, seed=cfg.dedup.seed, hashfunc=shingle_hash,
        scheme=cfg.dedup.scheme), 1, f"in-process, {len(items)} docs, tokenised before timing")
    ours = timed("tailguard_kernel_in_process", len(items),
                 lambda: [hasher.signatures(words.slice(i, 2048))
                          for i in range(0, len(words), 2048)],
                 1, "same docs, same permutations, tokenised before timing")
    full = timed("tailguard_tokenise_and_kernel_in_process", len(texts),
                 lambda: [hasher.signatures_of_texts(texts.slice(i, 2048))
                          for i in range(0, len(texts), 2048)], 1,
                 "tokeniser (words_arrow) + kernel")
    return [ref, ours, full]


def bench(spark, cfg) -> list[dict]:
    cores = spark_cores(spark)
    docs = read_table(spark, cfg, "docs").count()
    rows: list[Result] = [_spark_lower_bound(spark, cfg, docs, cores)]
    sigs = signatures_of(read_table(spark, cfg, "docs"), hasher_from_config(cfg.dedup))
    rows.append(timed("provenance_signature_stage", docs, lambda: force(sigs), cores,
                      "read + tokenise + MinHash(128) in mapInArrow"))
    rows.append(_mllib_minhash(spark, cfg, docs, cores))
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    rows.append(timed("provenance_job", docs, lambda: provenance_run(ctx), cores,
                      "whole job: signatures + bands + pairs + components + eras, written"))
    rows.extend(_in_process(spark, cfg, sample=min(docs, 4000)))
    for row in rows:
        log.info("%s: %.1f s, %.0f docs/s per core", row.name, row.seconds,
                 row.docs_per_s_per_core)
    prov = read_table(spark, cfg, "provenance")
    kinds = {r["dup_kind"]: r["count"] for r in prov.groupBy("dup_kind").count().collect()}
    rows.append(Result("provenance_dup_kinds", docs, float("nan"), cores,
                       ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))))
    return [r.as_row() for r in rows]
