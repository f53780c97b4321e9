"""Diversity benchmarks: the whole job on the bench tables (docs / provenance / signatures
under cfg.output.root), the same job on a seeded quarter of them (so one size gives the
1x -> 4x per-document scaling), each the median of three runs (`timed_median`), and
references measured in the same run on the same documents: the three issue 6 quotes
(Spark's approx_count_distinct over exploded n-grams, ~2,000 docs/s per core there;
datasketch's per-item HLL++ updates, ~500; a numpy-vectorised HLL inside mapInArrow,
~7,000), so the targets can be read against this machine, and the select + measure stage
alone. The job is timed from scratch (its tail band refitted) and again with the band it
stored, which is what a run whose reference did not change costs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from pyspark.sql import functions as F

from bench.common import Result, force, spark_cores, timed, timed_median
from tailguard.diversity.job import kernel_params
from tailguard.diversity.job import run as diversity_run
from tailguard.diversity.kernel import OUTPUT_DDL, kernel_fn
from tailguard.io.tables import read_table, table_exists, write_table

log = logging.getLogger(__name__)
_WORD_SPLIT = r"[^\p{L}\p{N}']+"
REFERENCE_DOCS = 25000
DATASKETCH_DOCS = 500


def _ctx(cfg, spark) -> SimpleNamespace:
    return SimpleNamespace(cfg=cfg, spark=spark, dates=None,
                           options=SimpleNamespace(scope="eras"))


def _quarter_tables(spark, cfg):
    """A seeded 1/4 of docs, provenance and signatures in a sibling root (untimed)."""
    root = Path(cfg.get("output.root")).with_name(Path(cfg.get("output.root")).name
                                                  + "-quarter")
    shutil.rmtree(root, ignore_errors=True)
    quarter = cfg.with_overrides(f"output.root={root}")
    keep = F.pmod(F.xxhash64("doc_id", F.lit(11)), F.lit(4)) == 0
    for name, part in (("docs", "crawl_date"), ("provenance", None),
                       ("signatures", "crawl_date")):
        if table_exists(spark, cfg, name):
            write_table(read_table(spark, cfg, name).where(keep), quarter, name,
                        partition_by=part)
    return quarter


def _reference_sample(spark, cfg, docs: int, size: int):
    """A seeded sample of about `size` documents (the references run ~100x slower than
    the job; their per-document rate does not change with corpus size)."""
    return read_table(spark, cfg, "docs").where(
        F.pmod(F.xxhash64("doc_id", F.lit(3)), F.lit(max(1, -(-docs // size)))) == 0)


def _approx_count_distinct(spark, cfg, docs: int, cores: int) -> Result:
    """Spark built-ins only: split, MLlib's NGram (JVM, one call per row and n) for
    n = 2..4, explode, approx_count_distinct. Grouped by crawl month (24 groups): per
    domain (500 groups of HLL buffers) Spark's aggregate falls back to sorting and runs
    ~20x slower, which would flatter us. NGram is ~4x faster than building n-grams
    with SQL `transform`/`slice`, so this is the strongest built-in form."""
    from pyspark.ml.feature import NGram

    sample = _reference_sample(spark, cfg, docs, REFERENCE_DOCS)
    docs = sample.count()
    frame = sample.select(
        F.date_format("crawl_date", "yyyy-MM").alias("month"),
        F.filter(F.split(F.lower("text"), _WORD_SPLIT), lambda w: F.length(w) > 0)
        .alias("g1"))
    for n in (2, 3, 4):
        frame = NGram(n=n, inputCol="g1", outputCol=f"g{n}").transform(frame)
    grams = frame.select("month", F.explode(F.concat("g1", "g2", "g3", "g4")).alias("gram"))
    out = grams.groupBy("month").agg(F.approx_count_distinct("gram", 0.008).alias("d"))
    return timed("spark_approx_count_distinct_ngrams", docs, lambda: force(out), cores,
                 "reference: split + MLlib NGram n = 2..4 + explode + approx_count_distinct "
                 "per crawl month")


def _datasketch_per_item(spark, cfg, docs: int, cores: int) -> Result:
    """datasketch's HyperLogLogPlusPlus (p = 14) updated once per n-gram (n = 1..4) in
    one Python process: the per-item baseline issue 6 quotes. One core, so the rate is
    per core as it is."""
    from datasketch import HyperLogLogPlusPlus

    from tailguard.text.tokenize import words_arrow

    texts = _reference_sample(spark, cfg, docs, DATASKETCH_DOCS).select("text").toArrow()
    tokens = words_arrow(texts.column("text")).to_pylist()

    def update() -> None:
        sketches = [HyperLogLogPlusPlus(p=14) for _ in range(4)]
        for words in tokens:
            for n, sketch in enumerate(sketches, 1):
                for i in range(len(words) - n + 1):
                    sketch.update(" ".join(words[i:i + n]).encode("utf-8"))

    return timed("datasketch_hll_per_item", len(tokens), update, 1,
                 "reference: datasketch HLL++ update per n-gram, n = 1..4, one process")


def _numpy_hll_partitions(precision: int):
    """mapInArrow body of the numpy HLL reference: per crawl month, HLL registers of the
    n-grams n = 1..4 of a partition's documents. Words are found and hashed by tailguard's
    tokeniser (the one step numpy cannot vectorise); n-gram hashes, register index and
    rank and the register maximum (`np.maximum.at`) are numpy. One row per (month, n)."""
    import pyarrow as pa

    from tailguard.diversity.hll import index_rank
    from tailguard.diversity.ngrams import hash_texts
    from tailguard.text.hashing import fmix64

    combine = np.uint64(0x9E3779B97F4A7C15)

    def run(batches):
        rows: dict[str, int] = {}  # month -> its row of registers
        regs = np.zeros((0, 4, 1 << precision), np.int8)
        for batch in batches:
            tokens = hash_texts(batch.column("text"))
            months = batch.column("month").to_pylist()
            for month in months:
                rows.setdefault(month, len(rows))
            if len(rows) > len(regs):
                regs = np.concatenate([regs, np.zeros((len(rows) - len(regs), 4,
                                                       1 << precision), np.int8)])
            doc_row = np.array([rows[m] for m in months], np.int64)
            doc_of = np.repeat(np.arange(len(tokens.lengths)), tokens.lengths)
            starts = np.cumsum(tokens.lengths) - tokens.lengths
            left = tokens.lengths[doc_of] - (np.arange(len(doc_of)) - starts[doc_of])
            grams = tokens.hashes
            for n in range(1, 5):
                if n > 1:  # the n-gram starting at token i, if it ends inside i's document
                    grams = fmix64(grams[:-1] * combine + tokens.hashes[n - 1:])
                valid = np.flatnonzero(left[: len(grams)] >= n)
                index, rank = index_rank(grams[valid], precision)
                cell = (doc_row[doc_of[valid]] * 4 + (n - 1)) * (1 << precision) + index
                np.maximum.at(regs.reshape(-1), cell, rank)
        names = sorted(rows)
        yield pa.RecordBatch.from_pydict({
            "month": [m for m in names for _ in range(4)],
            "n": [n for _ in names for n in range(1, 5)],
            "registers": [regs[rows[m], n].tobytes() for m in names for n in range(4)]},
            schema=pa.schema([("month", pa.string()), ("n", pa.int64()),
                              ("registers", pa.binary())]))

    return run


def _numpy_hll(spark, cfg, docs: int, cores: int) -> Result:
    """The third reference issue 6 quotes (~7,000 docs/s per core there): every document's
    n-grams (n = 1..4) into per-month HLL registers with numpy inside mapInArrow, the
    partition's registers written out (their merge across partitions is a few rows)."""
    frame = read_table(spark, cfg, "docs").select(
        F.date_format("crawl_date", "yyyy-MM").alias("month"), "text")
    out = frame.mapInArrow(_numpy_hll_partitions(cfg.diversity.hll_precision),
                           "month string, n bigint, registers binary")
    return timed_median("numpy_hll_in_map_in_arrow", docs, lambda: force(out), cores,
                        "reference: read + tokenise + numpy n-gram hashes n = 1..4 + "
                        "np.maximum.at HLL registers per crawl month")


def _kernel_stage(spark, cfg, docs: int, cores: int) -> Result:
    """Select + measure alone (no tail, no writes): the small rows, the running sums
    that choose the samples, the sampled documents' text joined and shuffled by (scope,
    domain), and the kernel over them."""
    from tailguard.diversity import select
    from tailguard.diversity.job import crawl_rows, measure_input

    params = kernel_params(cfg)
    sampled = select.sampled_rows(crawl_rows(spark, cfg).select(*select.SMALL), params.budgets,
                                  params.replicates, params.replicate_max_budget,
                                  params.replicate_min_budget)
    out = (measure_input(sampled, read_table(spark, cfg, "docs"), None,
                         int(spark.sparkContext.defaultParallelism), broadcast=True)
           .mapInArrow(kernel_fn(params, np.zeros(0, np.uint64)), OUTPUT_DDL))
    return timed("diversity_kernel_stage", docs, lambda: force(out), cores,
                 "small rows + sample selection + sampled text tokenised + HLL n=1..4 + "
                 "word/concept counts + zstd, no writes")


def _job(spark, cfg, docs: int, cores: int, name: str = "diversity_job") -> list[Result]:
    """The whole job from scratch (`diversity.refresh_band`, no `reuse_samples`: the tail
    band refitted from the reference text and every sample measured, as on a first run),
    then with the stored band but every sample measured (a run whose reference did not
    change but whose samples all did), then with both reused (nothing changed: the
    floor of a daily run: small rows, fingerprints, writes)."""
    fresh = cfg.with_overrides("diversity.refresh_band=true", "diversity.reuse_samples=false")
    measured = cfg.with_overrides("diversity.reuse_samples=false")
    return [timed_median(name, docs, lambda: diversity_run(_ctx(fresh, spark)), cores,
                         "whole job from scratch: small rows, tail band refitted, samples "
                         "selected and measured, four tables written"),
            timed_median(f"{name}_band_reused", docs,
                         lambda: diversity_run(_ctx(measured, spark)), cores,
                         "whole job, the stored tail band reused, every sample measured"),
            timed_median(f"{name}_nothing_changed", docs,
                         lambda: diversity_run(_ctx(cfg, spark)), cores,
                         "whole job on unchanged tables: band and every sample reused")]


def _realvocab_tables(cfg):
    """The real-vocabulary tables bench_provenance built beside cfg's (same size), or None."""
    root = Path(cfg.get("output.root"))
    real = root.with_name(root.name.replace("tables-", "tables-realvocab-", 1))
    if not (real / "provenance").is_dir():
        return None
    return cfg.with_overrides(f"output.root={real}")


def _realvocab_rows(spark, cfg, cores: int) -> list[Result]:
    """Issue 22's acceptance 3 is on real text: the whole job against Spark's
    approx_count_distinct on the real-vocabulary pages, in the same run."""
    real = _realvocab_tables(cfg)
    if real is None:
        log.warning("no real-vocabulary tables beside %s (run with bench_provenance): skipped",
                    cfg.get("output.root"))
        return []
    docs = read_table(spark, real, "docs").count()
    rows = [_kernel_stage(spark, real, docs, cores),
            _approx_count_distinct(spark, real, docs, cores), *_job(spark, real, docs, cores)]
    job, reference = rows[2], rows[1]
    ratio = job.docs_per_s_per_core / reference.docs_per_s_per_core
    rows.append(Result("diversity_job_vs_approx_count_distinct", docs, float("nan"), cores,
                       f"throughput ratio {ratio:.2f} (issue 38 target >= 5)"))
    return [Result(f"realvocab.{r.name}", r.docs, r.seconds, r.cores, f"[real vocabulary] {r.note}")
            for r in rows]


def bench(spark, cfg) -> list[dict]:
    cores = spark_cores(spark)
    rows = _realvocab_rows(spark, cfg, cores)
    docs = read_table(spark, cfg, "docs").count()
    rows += [_kernel_stage(spark, cfg, docs, cores),
             _approx_count_distinct(spark, cfg, docs, cores),
             _datasketch_per_item(spark, cfg, docs, cores), _numpy_hll(spark, cfg, docs, cores)]
    quarter = _quarter_tables(spark, cfg)
    quarter_docs = read_table(spark, quarter, "docs").count()
    small = _job(spark, quarter, quarter_docs, cores, "diversity_job_quarter")[0]
    big, *reused = _job(spark, cfg, docs, cores)
    growth = (big.seconds / big.docs) / (small.seconds / small.docs)
    rows += [small, big, *reused,
             Result("diversity_per_doc_growth_1x_to_4x", docs, float("nan"), cores,
                    f"per-document time 4x / 1x = {growth:.2f} (target <= 1.3)")]
    for row in rows:
        log.info("%s: %.1f s, %.0f docs/s per core %s", row.name, row.seconds,
                 row.docs_per_s_per_core, row.note)
    return [r.as_row() for r in rows]
