"""Poisson-bootstrap sums per group, made in Arrow batches: every estimator's inputs.

Each document carries, per replicate r = 1..B, a Poisson(1) weight w from its doc hash
(estimators.replicate_weights, the same weights as `pu`; replicate 0 is the sample itself,
w = 1). Every estimator of share.py is a function of weighted sums over a group:
  n = sum w, n_pred = sum w [p >= threshold], sum_p = sum w p,
  ll_j = sum w log((1 - a_j) + a_j exp(L_d))   for the MLE alpha grid a_j.

The groups are (era, domain), (era, domain, month), (era, `__all__`) and (era, `__all__`,
month). A batch of documents holds a (documents x columns) value matrix V and a
(replicates x documents) weight matrix W, and a group's replicate sums are W[:, g] @ V[g],
one matrix product: nothing is exploded per (document, replicate), and the rows that leave
a task are per group, not per document. Replicates are made only for groups of at least
`share.min_docs` documents (and always for `__all__`): a smaller group's share is null
anyway, and on a web crawl most (domain, month) groups are small, so most of the work the
replicates would cost goes. Documents are clustered by (era, domain) first, so a group's
partial sums leave a task once (or once per batch it spans), and Spark adds the partials.

The sums are exact: every value is fixed point (integer units of 2^-FIXED_BITS, per
document an error under 3e-8) and every sum an int64 sum, so a group's totals do not
depend on how its documents fall into tasks and batches. Floating-point sums do, in their
last bits, and a re-run on other files then printed another last digit (a killed and
re-run daily job differed from a clean one). Overflow would need sum(w |ll|) over a group
above 5e11, e.g. 10^10 documents whose log ratio is 50; Spark's ANSI mode fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from tailguard.schema import require_columns
from tailguard.share import estimators as est

ALL_DOMAINS = "__all__"
FIXED_BITS = 24
_SCALE = float(1 << FIXED_BITS)
# |log ratio| is clipped to this (as mle.with_log_ratio does), so each fixed-point value
# of a document is below 700 * 2^24 and its weighted replicate sums fit int64 by far
MAX_ABS_LOG_RATIO = 700.0
SUM_COLUMNS = ("n", "n_pred", "sum_p")
INPUT_COLUMNS = ("doc_hash", "era", "domain", "month", "pred", "p_synthetic", "log_ratio")


def ll_columns(points: int) -> list[str]:
    return [f"ll_{j}" for j in range(points)]


def sums_schema(points: int) -> T.StructType:
    """One row per (era, domain, month, r); month is null for the whole domain."""
    return T.StructType([
        T.StructField("era", T.StringType(), False),
        T.StructField("domain", T.StringType(), False),
        T.StructField("month", T.DateType(), True),
        T.StructField("r", T.IntegerType(), False),
        *[T.StructField(c, T.LongType(), False) for c in [*SUM_COLUMNS, *ll_columns(points)]],
    ])


def value_matrix(pred: np.ndarray, p_synthetic: np.ndarray, log_ratio: np.ndarray,
                 points: int) -> np.ndarray:
    """(documents x (3 + points)): 1, pred, p, then the MLE's log-likelihood terms (a
    document without a log ratio, no vocabulary word, has ratio 1)."""
    lr = np.clip(np.nan_to_num(log_ratio.astype(np.float64), nan=0.0), -MAX_ABS_LOG_RATIO,
                 MAX_ABS_LOG_RATIO)
    return np.column_stack([np.ones(len(pred)), pred.astype(np.float64),
                            p_synthetic.astype(np.float64),
                            est.mixture_loglik_terms(lr, est.alpha_grid(points))])


def fixed_point(values: np.ndarray) -> np.ndarray:
    """Values in integer units of 2^-FIXED_BITS (int64)."""
    return np.rint(values * _SCALE).astype(np.int64)


def group_sums(group: np.ndarray, values: np.ndarray, doc_hash: np.ndarray,
               replicate: np.ndarray, replicates: int) -> dict[int, np.ndarray]:
    """{group id: (rows x columns) int64 sums} of int64 `values`: replicates 0..B for a
    group whose `replicate` flag is set, only replicate 0 for the others. Integer
    arithmetic, so exact in any order. Weights are made REPLICATE_CELLS at a time, so a
    batch of any size needs bounded memory."""
    out: dict[int, np.ndarray] = {}
    order = np.argsort(group, kind="stable")
    ids, starts = np.unique(group[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    step = max(1, est.REPLICATE_CELLS // (replicates + 1))
    for g, start, end in zip(ids.tolist(), starts, ends, strict=True):
        idx = order[start:end]
        if not replicate[idx[0]]:
            out[g] = values[idx].sum(axis=0, keepdims=True)
            continue
        total = np.zeros((replicates + 1, values.shape[1]), np.int64)
        for lo in range(0, len(idx), step):
            part = idx[lo:lo + step]
            weights = est.replicate_weights(doc_hash[part], replicates).astype(np.int64)
            total += weights @ values[part]
        out[g] = total
    return out


Block = tuple[str, str, object, np.ndarray]   # era, domain, month (None: all months), sums


def level_sums(frame: pd.DataFrame, values: np.ndarray, keys: list[str], flag: str | None,
               replicates: int, domain: str | None = None) -> list[Block]:
    """Sums of one grouping of a batch. `domain` replaces the domain key (`__all__`);
    without a 'month' key, month is None; flag names the per-document replicate flag
    (None: replicate every group)."""
    codes, uniques = pd.MultiIndex.from_frame(frame[keys]).factorize()
    flags = np.ones(len(frame), bool) if flag is None else frame[flag].to_numpy(bool)
    sums = group_sums(codes, values, frame.doc_hash.to_numpy(np.int64), flags, replicates)
    out = []
    for g, block in sums.items():
        key = dict(zip(keys, uniques[g], strict=True))
        out.append((key["era"], domain or key["domain"], key.get("month"), block))
    return out


def blocks_to_arrow(blocks: list[Block], schema: pa.Schema, points: int) -> pa.RecordBatch:
    """Stack (era, domain, month, sums) blocks into one batch of sums_schema rows. A
    replicate that drew none of a group's documents (n = 0: a small `__all__` month) has
    no row, as a resample without documents has no estimate."""
    lengths = [len(b[3]) for b in blocks]
    sums = np.vstack([b[3] for b in blocks])
    keys = [np.repeat(np.array([b[i] for b in blocks], dtype=object), lengths) for i in range(3)]
    r = np.concatenate([np.arange(k, dtype=np.int32) for k in lengths])
    drawn = sums[:, 0] > 0
    keys, r, sums = [k[drawn] for k in keys], r[drawn], sums[drawn]
    arrays = [pa.array(keys[0], pa.string()), pa.array(keys[1], pa.string()),
              pa.array(keys[2], pa.date32()), pa.array(r, pa.int32()),
              *[pa.array(sums[:, j]) for j in range(3 + points)]]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def replicate_sums(rows: DataFrame, replicates: int, points: int, min_docs: int) -> DataFrame:
    """Per-group bootstrap sums from per-document rows (INPUT_COLUMNS): sums_schema's
    columns, the sums as doubles. `__all__` sums are added up per task and leave it once."""
    require_columns(rows, list(INPUT_COLUMNS), "replicate_sums")
    schema = sums_schema(points)
    arrow_schema = to_arrow_schema(schema)

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        crawl: dict[tuple, np.ndarray] = {}   # (era, month or None) -> replicate sums
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = batch.to_pandas(date_as_object=True)
            values = fixed_point(value_matrix(
                frame.pred.to_numpy(bool), frame.p_synthetic.to_numpy(float),
                frame.log_ratio.to_numpy(float, na_value=np.nan), points))
            blocks = (level_sums(frame, values, ["era", "domain"], "replicate_domain", replicates)
                      + level_sums(frame, values, ["era", "domain", "month"], "replicate_month",
                                   replicates))
            for keys in (["era"], ["era", "month"]):
                for era, _, month, block in level_sums(frame, values, keys, None, replicates,
                                                       ALL_DOMAINS):
                    crawl[(era, month)] = crawl[(era, month)] + block if (era, month) in crawl \
                        else block
            yield blocks_to_arrow(blocks, arrow_schema, points)
        if crawl:
            yield blocks_to_arrow([(era, ALL_DOMAINS, month, block)
                                   for (era, month), block in crawl.items()], arrow_schema, points)

    partials = (with_replicate_flags(rows.select(*INPUT_COLUMNS), min_docs)
                .sortWithinPartitions("era", "domain", "month").mapInArrow(kernel, schema))
    cols = [*SUM_COLUMNS, *ll_columns(points)]
    return partials.groupBy("era", "domain", "month", "r").agg(
        *[(F.sum(c) / F.lit(_SCALE)).alias(c) for c in cols])


def with_replicate_flags(rows: DataFrame, min_docs: int) -> DataFrame:
    """Flag the documents whose (era, domain) / (era, domain, month) group has at least
    `min_docs` documents: only those groups get bootstrap replicates. Window counts, so
    the rows are read once (a count joined back would recompute the word model) and come
    out clustered by (era, domain), as the kernel wants them."""
    require_columns(rows, ["era", "domain", "month"], "with_replicate_flags")
    domain = Window.partitionBy("era", "domain")
    month = Window.partitionBy("era", "domain", "month")
    return rows.select(
        "*", (F.count(F.lit(1)).over(domain) >= min_docs).alias("replicate_domain"),
        (F.count(F.lit(1)).over(month) >= min_docs).alias("replicate_month"))
