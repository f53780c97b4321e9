"""Provenance benchmarks on two corpora of the same size, each next to references measured
in the same run on the same documents (Spark SQL read + tokenise, MLlib MinHashLSH with
128 tables on the same 5-gram shingles, datasketch MinHash.bulk, our kernel in-process).

- the real-vocabulary corpus (bench/realvocab.py: real human sentences of
  ../shared/data/detector recombined into web pages with site furniture): the headline
  rows (`provenance_job`, ...), the ones the README quotes;
- the generated corpus the other benchmarks use (bench/generate.py, a ~31k-word Zipf
  vocabulary): the same rows prefixed `generated.`, for comparison with earlier runs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pyspark.sql import functions as F

from bench import realvocab
from bench.common import Result, force, spark_cores, timed
from tailguard.cli import JobContext
from tailguard.dedup.boilerplate import (
    boilerplate_keys,
    explode_line_keys,
    global_max_words,
    site_max_words,
    small_sites,
    sorted_keys,
)
from tailguard.dedup.minhash import shingle_hash, shingles
from tailguard.dedup.signatures import hasher_from_config, signatures_of
from tailguard.io import ingest
from tailguard.io.tables import read_table
from tailguard.provenance.job import run as provenance_run
from tailguard.text.lines import LineWords
from tailguard.text.tokenize import words_arrow

log = logging.getLogger(__name__)
SESSION_SECONDS = "tailguard.bench.session_seconds"  # set by bench/run.py
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
    texts = texts.combine_chunks()
    hasher = hasher_from_config(cfg.dedup)
    items = [shingles(w, cfg.dedup.shingle_size) for w in words_arrow(texts).to_pylist()]
    hashed = [[shingle_hash(s) for s in doc] for doc in items if doc]
    from datasketch import MinHash

    batches = [texts.slice(i, 2048) for i in range(0, len(texts), 2048)]
    ref = timed("datasketch_minhash_bulk", len(hashed), lambda: MinHash.bulk(
        hashed, num_perm=cfg.dedup.num_perm, seed=cfg.dedup.seed, hashfunc=int,
        scheme=cfg.dedup.scheme), 1,
        f"in-process, {len(hashed)} docs, shingles tokenised and hashed before timing")
    hasher.signatures_of_texts(batches[0].slice(0, 8))  # compiled code loaded, not timed
    words = [LineWords(b) for b in batches]
    ours = timed("tailguard_kernel_in_process", len(hashed),
                 lambda: [hasher.signatures_of_words(w) for w in words],
                 1, "same docs, same permutations, words found and hashed before timing")
    full = timed("tailguard_tokenise_and_kernel_in_process", len(texts),
                 lambda: [hasher.signatures_of_texts(b) for b in batches], 1,
                 "compiled word pass (LineWords) + kernel")
    return [ref, ours, full]


def _ratio(name: str, value: float, target: str, note: str) -> Result:
    return Result(name, 0, float("nan"), 1, f"{value:.2f} ({target}); {note}")


def _rows(spark, cfg, docs: int) -> list[Result]:
    cores = spark_cores(spark)
    dedup = cfg.dedup
    rows: list[Result] = [_spark_lower_bound(spark, cfg, docs, cores)]
    short = global_max_words(dedup)
    docs_df = read_table(spark, cfg, "docs")
    sites = (small_sites(docs_df, dedup.boilerplate_scope, dedup.boilerplate_min_repeats)
             if site_max_words(dedup) else None)
    lines = boilerplate_keys(explode_line_keys(docs_df, dedup.boilerplate_scope, short,
                                               site_max_words(dedup)),
                             dedup.boilerplate_min_repeats, sites)
    keys = []
    rows.append(timed("provenance_boilerplate_stage", docs,
                      lambda: keys.append(sorted_keys(lines)), cores,
                      "read + line hashes + distinct (line, page) count, small sites' "
                      "pages from docs, keys collected (the job also writes line_index)"))
    sigs = signatures_of(read_table(spark, cfg, "docs"), hasher_from_config(dedup),
                         dedup.boilerplate_scope, keys[0], short)
    rows.append(timed("provenance_signature_stage", docs, lambda: force(sigs), cores,
                      f"read + tokenise + skip {len(keys[0])} boilerplate lines + "
                      "MinHash(128) in mapInArrow"))
    rows.append(_mllib_minhash(spark, cfg, docs, cores))
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    stages: dict[str, float] = {}
    rows.append(timed("provenance_job", docs, lambda: stages.update(provenance_run(ctx)),
                      cores, "whole job: boilerplate + signatures + bands + pairs + "
                      "components + eras, written"))
    rows += [Result(f"provenance_job.{name}", docs, secs, cores,
                    "stage of the provenance_job row (its own timing)")
             for name, secs in stages.items()]
    rows.extend(_in_process(spark, cfg, sample=min(docs, 4000)))
    got = {r.name: r.seconds for r in rows}
    start = session_seconds(spark)
    rows.append(_ratio("provenance_job_vs_mllib", got["mllib_minhashlsh_transform_128"]
                       / got["provenance_job"], "target >= 4", "throughput ratio, same docs"))
    rows.append(_ratio("provenance_job_with_spark_start_vs_mllib",
                       got["mllib_minhashlsh_transform_128"] / (got["provenance_job"] + start),
                       ">= 2.5 at 50k, >= 5 at 200k",
                       f"the job plus this run's Spark session start ({start:.1f} s)"))
    rows.append(_ratio("provenance_boilerplate_share", stages.get("boilerplate", 0.0)
                       / got["provenance_job"], "target < 0.2",
                       "the job's boilerplate stage / the whole job"))
    rows.append(_ratio("signature_stage_vs_read_tokenise", got["spark_sql_read_tokenise"]
                       / got["provenance_signature_stage"], "target >= 0.5",
                       "throughput ratio, same docs"))
    prov = read_table(spark, cfg, "provenance")
    counts = {(r["era"], r["dup_kind"]): r["count"]
              for r in prov.groupBy("era", "dup_kind").count().collect()}
    rows.append(Result("provenance_dup_kinds", docs, float("nan"), cores,
                       ", ".join(f"{e}/{k}={v}" for (e, k), v in sorted(counts.items()))))
    for row in rows:
        log.info("%s: %.1f s, %.0f docs/s per core (%s)", row.name, row.seconds,
                 row.docs_per_s_per_core, row.note)
    return rows


def session_seconds(spark) -> float:
    """The Spark session start of this benchmark run, as bench/run.py recorded it (0 when
    the session was started elsewhere)."""
    return float(spark.conf.get(SESSION_SECONDS, "0"))


def _realvocab_cfg(spark, cfg, docs: int, seed: int = 1):
    """Build (cached) the real-vocabulary crawl of `docs` pages and its docs table."""
    bench_out = Path(cfg.output.root).parent
    crawl = bench_out / f"realvocab-{docs}-s{seed}"
    if not (crawl / "_DONE").exists():
        shutil.rmtree(crawl, ignore_errors=True)
        realvocab.generate(crawl, docs, seed)
        (crawl / "_DONE").write_text("ok\n")
    real = cfg.with_overrides(f"input.path={crawl}",
                              f"output.root={bench_out / f'tables-realvocab-{docs}'}")
    ctx = JobContext(cfg=real)
    ctx.__dict__["spark"] = spark
    ingested = timed("ingest_job", docs, lambda: ingest.run(ctx), spark_cores(spark),
                     "tailguard ingest on the real-vocabulary Parquet crawl")
    return real, ingested


def bench(spark, cfg) -> list[dict]:
    docs = read_table(spark, cfg, "docs").count()
    out = []
    if (realvocab.DATA / "train.jsonl").is_file():
        real, ingested = _realvocab_cfg(spark, cfg, docs)
        real_docs = read_table(spark, real, "docs").count()
        rows = [ingested, *_rows(spark, real, real_docs)]
        out += [Result(f"realvocab.{r.name}" if r.name == "ingest_job" else r.name, r.docs,
                       r.seconds, r.cores, f"[real vocabulary] {r.note}") for r in rows]
    else:
        log.warning("no %s: the real-vocabulary rows are skipped", realvocab.DATA)
    out += [Result(f"generated.{r.name}", r.docs, r.seconds, r.cores, f"[generated] {r.note}")
            for r in _rows(spark, cfg, docs)]
    return [r.as_row() for r in out]
