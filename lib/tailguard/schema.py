"""Table contracts (see docs/ARCHITECTURE.md). Jobs select exactly these columns on write,
and readers validate them on read, so a drifting producer fails loudly at the boundary."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from tailguard.errors import InputError

DOCS = T.StructType(
    [
        T.StructField("doc_id", T.StringType(), False),
        T.StructField("url", T.StringType(), False),
        T.StructField("host", T.StringType(), False),
        T.StructField("domain", T.StringType(), False),
        T.StructField("crawl_date", T.DateType(), False),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("text", T.StringType(), False),
        T.StructField("n_chars", T.IntegerType(), False),
        T.StructField("n_words", T.IntegerType(), False),
        T.StructField("content_hash", T.LongType(), False),
        T.StructField("lang", T.StringType(), True),
    ]
)

QUARANTINE = T.StructType(
    [
        T.StructField("crawl_date", T.DateType(), True),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("record_index", T.LongType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("raw_prefix", T.StringType(), True),
    ]
)

# Fixed vocabulary of quarantine reasons: reports group by it, so it only grows on purpose.
QUARANTINE_REASONS = (
    "malformed_json",     # a JSONL line that does not parse as a JSON object
    "invalid_utf8",       # bytes that do not decode as UTF-8
    "missing_url",        # no url field, or null / blank
    "invalid_url",        # not an absolute http(s) URL with a host
    "empty_text",         # no text left after normalisation
    "oversize",           # normalised text longer than ingest.max_chars; a line / record / file
                          # past ingest.max_line_bytes / max_record_bytes / max_file_bytes
    "nul_bytes",          # text holding NUL characters (binary payload, not prose)
    "bad_partition",      # file under a crawl_date=... directory whose value is not a date,
                          # or outside the paths its input.layout reads (e.g. commoncrawl:
                          # not under CC-MAIN-YYYY-WW/segments/*/{warc,wet}/)
    "unreadable_file",    # a file that cannot be opened or decoded (e.g. says .gz, is not),
                          # or the rest of a file cut short (gzip member, zstd frame, WARC record)
    "unsupported_file",   # a file whose kind ingest does not read
    "bad_record",         # a record of the wrong shape (e.g. url is not a string)
    "bad_date",           # input.layout=column: input.date_field missing or not a date
    "implausible_date",   # a record's date before 1990-01-01 or after the run's day (UTC)
)

PROVENANCE = T.StructType(
    [
        T.StructField("doc_id", T.StringType(), False),
        T.StructField("content_hash", T.LongType(), False),
        T.StructField("cluster_id", T.StringType(), False),
        T.StructField("first_seen", T.DateType(), False),
        T.StructField("era", T.StringType(), False),
        T.StructField("is_canonical", T.BooleanType(), False),
        T.StructField("dup_kind", T.StringType(), False),
        T.StructField("crawl_date", T.DateType(), False),
        T.StructField("domain", T.StringType(), False),
    ]
)


# Provenance state (see provenance/job.py): what incremental `--dates` runs build on.
SIGNATURES = T.StructType(
    [
        T.StructField("doc_id", T.StringType(), False),
        T.StructField("crawl_date", T.DateType(), False),
        T.StructField("signature", T.BinaryType(), False),  # num_perm little-endian uint32
    ]
)
LSH_BANDS = T.StructType(
    [
        T.StructField("doc_id", T.StringType(), False),
        T.StructField("crawl_date", T.DateType(), False),
        T.StructField("band", T.IntegerType(), False),      # -1: the content_hash band
        T.StructField("band_hash", T.LongType(), False),
    ]
)
LSH_EDGES = T.StructType(
    [
        T.StructField("band", T.IntegerType(), False),
        T.StructField("band_hash", T.LongType(), False),
        T.StructField("src", T.StringType(), False),        # src < dst
        T.StructField("dst", T.StringType(), False),
    ]
)
# One row per distinct (line, page) of a crawl partition: the boilerplate line count.
LINE_INDEX = T.StructType(
    [
        T.StructField("crawl_date", T.DateType(), False),
        T.StructField("line_key", T.LongType(), False),     # text/lines.py key, scoped
        T.StructField("page", T.LongType(), False),         # the page's content_hash
        # the page's domain (its line-key scope) on the rows of lines of at most
        # dedup.boilerplate_small_site_max_words words, else null
        T.StructField("site", T.LongType(), True),
    ]
)
BOILERPLATE = T.StructType([T.StructField("line_key", T.LongType(), False)])
# The parameters the state was built with (dedup/state.py), one row per parameter.
DEDUP_PARAMS = T.StructType(
    [
        T.StructField("parameter", T.StringType(), False),
        T.StructField("value", T.StringType(), False),
    ]
)
PROVENANCE_STATE = {"signatures": SIGNATURES, "lsh_bands": LSH_BANDS, "lsh_edges": LSH_EDGES,
                    "line_index": LINE_INDEX, "boilerplate": BOILERPLATE,
                    "dedup_params": DEDUP_PARAMS}


def _fields(*specs: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, kind, True) for name, kind in specs])


_DISTINCT = [(f"distinct_n_{k}", T.LongType()) for k in range(1, 5)]
_RATIOS = [(f"distinct_ratio_n_{k}", T.DoubleType()) for k in range(1, 5)]
# The diversity job's tables (partitioned by scope); see diversity/job.py for meanings.
DIVERSITY_METRICS = _fields(
    ("scope", T.StringType()), ("domain", T.StringType()), ("era", T.StringType()),
    ("month", T.StringType()), ("token_budget", T.LongType()), ("n_docs", T.LongType()),
    ("n_tokens", T.LongType()), *_DISTINCT, *_RATIOS, ("distinct_ratio_sum", T.DoubleType()),
    ("entropy_unigram", T.DoubleType()), ("compression_ratio", T.DoubleType()),
    ("homogenization", T.DoubleType()), ("homogenization_sample", T.LongType()))
TAIL_COVERAGE = _fields(
    ("scope", T.StringType()), ("domain", T.StringType()), ("token_budget", T.LongType()),
    ("n_tokens", T.LongType()), ("tail_concepts", T.LongType()), ("covered", T.LongType()),
    ("coverage", T.DoubleType()))
RAREFACTION = _fields(
    ("scope", T.StringType()), ("domain", T.StringType()), ("token_budget", T.LongType()),
    ("n_tokens", T.LongType()), ("distinct_concepts", T.LongType()),
    ("concept_occurrences", T.LongType()), ("f1", T.LongType()), ("f2", T.LongType()),
    ("good_turing_missing_mass", T.DoubleType()), ("chao1", T.DoubleType()))
DELTA_METRICS = ("compression_ratio", *[f"distinct_ratio_n_{k}" for k in range(1, 5)],
                 "coverage")
# One comparison per (domain, base era, target era) at the matched budget (diversity/deltas.py).
DIVERSITY_DELTAS = _fields(
    ("scope", T.StringType()), ("domain", T.StringType()), ("base", T.StringType()),
    ("target", T.StringType()), ("base_tokens", T.LongType()), ("target_tokens", T.LongType()),
    ("token_budget", T.LongType()), ("reason", T.StringType()),
    *[(f"base_{m}", T.DoubleType()) for m in DELTA_METRICS],
    *[(f"delta_{m}", T.DoubleType()) for m in DELTA_METRICS],
    *[(f"half_{m}", T.DoubleType()) for m in DELTA_METRICS],
    ("interval_budget", T.LongType()), ("replicates", T.LongType()))

# The diversity job's tail band (eras scope), read by the shards job: one row per tail
# concept, with the `tail.*` values that defined it.
TAIL_CONCEPTS = T.StructType([
    T.StructField("key", T.LongType(), False),
    T.StructField("max_n", T.IntegerType(), False),
    T.StructField("min_count", T.IntegerType(), False),
    T.StructField("quantile", T.DoubleType(), False),
])

# Tables read with their declared schema (an empty table still has its columns).
TABLE_SCHEMAS = {"docs": DOCS, "quarantine": QUARANTINE, "provenance": PROVENANCE,
                 "metrics/diversity": DIVERSITY_METRICS, "metrics/tail_coverage": TAIL_COVERAGE,
                 "metrics/rarefaction": RAREFACTION, "metrics/diversity_deltas": DIVERSITY_DELTAS,
                 "tail_concepts": TAIL_CONCEPTS, **PROVENANCE_STATE}

ERAS = ("pre_ai", "attested", "post_ai")
DUP_KINDS = ("none", "exact", "near")


def require_columns(df: DataFrame, columns: list[str] | tuple[str, ...], what: str) -> None:
    """Fail with one clear line when a step's input lacks the columns it needs."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} needs columns {missing}; got {sorted(df.columns)}")

# `share`'s in-crawl classifier kept between runs (share/pu_state.py): one row per fold
# model ('text': hashed-feature coefficients; 'stack': the stack on the two logits), each
# carrying `fitted_on`, the JSON of what it was fitted on (settings, era counts, dates).
PU_MODEL_STATE = T.StructType([
    T.StructField("kind", T.StringType(), False),
    T.StructField("model", T.IntegerType(), False),
    T.StructField("coef", T.BinaryType(), True),        # float64 little-endian ('text')
    T.StructField("intercept", T.DoubleType(), False),
    T.StructField("w_text", T.DoubleType(), True),      # 'stack' only
    T.StructField("w_detector", T.DoubleType(), True),  # 'stack' only
    T.StructField("fitted_on", T.StringType(), False),
])
TABLE_SCHEMAS["state/pu_model"] = PU_MODEL_STATE

# `share`'s mle word model kept between runs (share/mle_state.py): 'vocab' rows (word,
# df = pre-AI document frequency, q), 'domain' rows (domain, n_dom, own, c, c_loo) and
# 'word' rows (domain, word, df = the domain's pre-AI document frequency), each carrying
# `fitted_on`, the JSON of what it was fitted on.
MLE_REFERENCE_STATE = T.StructType([
    T.StructField("kind", T.StringType(), False),
    T.StructField("word", T.StringType(), True),
    T.StructField("domain", T.StringType(), True),
    T.StructField("df", T.LongType(), True),
    T.StructField("q", T.DoubleType(), True),
    T.StructField("n_dom", T.LongType(), True),
    T.StructField("own", T.BooleanType(), True),
    T.StructField("c", T.DoubleType(), True),
    T.StructField("c_loo", T.DoubleType(), True),
    T.StructField("fitted_on", T.StringType(), False),
])
TABLE_SCHEMAS["state/mle_reference"] = MLE_REFERENCE_STATE
