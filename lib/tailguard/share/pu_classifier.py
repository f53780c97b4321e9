"""`pu`'s in-crawl classifier: fitted once on a capped seeded sample, then a function of
each document alone.

Stage 1 of pu_share.py: a logistic regression of post-AI vs pre-AI documents over hashed
word uni- and bigrams, cross-fitted in `share.pu_folds` folds (a document's fold is a
seeded hash of its doc_id; fold model k trains on the sample outside fold k and scores
fold k), optionally stacked with the detector's raw score (a second cross-fitted
regression on the two logits). Fitting reads the text of the sample only (at most
`share.pu_max_train_docs` documents, chosen by a seeded hash of doc_id from the small
rows), so it costs the same at any crawl size. Scoring applies the fold models to any
document: its score depends on its text, its p_raw and the fitted `Classifier` only,
never on which other documents are scored with it, so a new date scored with a stored
classifier gets exactly the score a run over every date gives it.

Each model is fitted in its own partition (spread.py), its rows sorted by doc_id, with
single-threaded lbfgs: the same sample gives the same coefficients whatever the
partitioning of the input (MLlib's distributed L-BFGS sums gradients in task-completion
order and was not reproducible bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from tailguard.errors import InputError
from tailguard.schema import require_columns
from tailguard.share.spread import repartition_by_bucket

# Scores are rounded so that a platform's last-bit difference in a dot product cannot move
# a score across a grid value (the grid is made of the scores' own percentiles).
SCORE_DIGITS = 6
LOGIT_EPS = 1e-4  # fastText's probabilities reach 1.00001; scores are rounded to 1e-6
SAMPLE_MODULUS = 1_000_003

MODEL = T.StructType([
    T.StructField("model", T.IntegerType(), False),
    T.StructField("coef", T.BinaryType(), False),       # float64 little-endian, n_features
    T.StructField("intercept", T.DoubleType(), False),
])
STACK = T.StructType([
    T.StructField("model", T.IntegerType(), False),
    T.StructField("intercept", T.DoubleType(), False),
    T.StructField("w_text", T.DoubleType(), False),
    T.StructField("w_detector", T.DoubleType(), False),
])


@dataclass(frozen=True)
class Classifier:
    """The fitted fold models {fold: (coefficients, intercept)} and, when stacked, one
    STACK row per fold ({model, intercept, w_text, w_detector})."""

    text: dict[int, tuple[np.ndarray, float]]
    stack: tuple[dict, ...] = ()

    @property
    def stacked(self) -> bool:
        return bool(self.stack)


def with_fold(df: DataFrame, folds: int, seed: int) -> DataFrame:
    """fold in [0, folds) from a seeded hash of doc_id: the same document, the same fold."""
    return df.withColumn("fold", F.pmod(F.xxhash64("doc_id", F.lit(seed)), F.lit(folds)))


def sample_cut(cap: int, n: int) -> int:
    """Hash values below this cut (of SAMPLE_MODULUS) keep about `cap` of `n` rows."""
    return int(min(1.0, cap / max(n, 1)) * SAMPLE_MODULUS)


def in_sample(seed: int, cut: int) -> F.Column:
    """The seeded training sample: a hash of doc_id below `cut` (`sample_cut`), so the
    same documents whatever the partitioning or the date they arrived on."""
    return F.pmod(F.xxhash64("doc_id", F.lit(seed + 1)), F.lit(SAMPLE_MODULUS)) < F.lit(cut)


def _vectorizer(num_features: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=num_features, ngram_range=(1, 2), alternate_sign=False,
                             norm="l2", lowercase=False, token_pattern=r"\S+")


def era_balanced_weights(domains: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sample weights n_domain / (2 n_(domain, era)): within every domain both eras carry
    half of its weight (so the domain itself predicts nothing) and each domain keeps its
    size, so the classes are balanced over the domains that have both eras. A domain
    with pages of one era only keeps weight 1 per page."""
    frame = pd.DataFrame({"domain": domains, "label": labels})
    cell = frame.groupby(["domain", "label"]).label.transform("size").to_numpy(np.float64)
    domain = frame.groupby("domain").label.transform("size").to_numpy(np.float64)
    eras = frame.groupby("domain").label.transform("nunique").to_numpy(np.float64)
    return domain / (eras * cell)


def fit_fold_model(texts: list[str], labels: np.ndarray, weights: np.ndarray,
                   num_features: int, c: float, max_iter: int) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of a weighted ridge logistic regression of post-AI (1) vs
    pre-AI (0) on L2-normalised hashed word uni- and bigrams (`fit_on_features`)."""
    return fit_on_features(_vectorizer(num_features).transform(texts), labels, weights, c,
                           max_iter)


def fit_on_features(x, labels: np.ndarray, weights: np.ndarray, c: float, max_iter: int
                    ) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of the weighted ridge logistic regression on the feature
    matrix `x` (scikit-learn lbfgs). BLAS runs on one thread: the same rows in the same
    order then give the same model on any machine, and lbfgs over 2^18 coefficients ran
    5.7x faster than with OpenBLAS's threads (2 cores, 4k documents, measured)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        model = LogisticRegression(C=c, max_iter=max_iter)
        model.fit(x, labels, sample_weight=weights)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


FEATURES = (T.StructField("f_idx", T.ArrayType(T.IntegerType(), False), False),
            T.StructField("f_val", T.ArrayType(T.DoubleType(), False), False))


def feature_arrays(texts: list[str], num_features: int) -> tuple[list, list]:
    """Each text's row of the hashed feature matrix as (indices, values) arrays: the
    vectorizer's output row by row (its rows do not depend on one another)."""
    x = _vectorizer(num_features).transform(texts)
    bounds = x.indptr
    return ([x.indices[bounds[i]:bounds[i + 1]] for i in range(len(texts))],
            [x.data[bounds[i]:bounds[i + 1]] for i in range(len(texts))])


def feature_matrix(indices: list, values: list, num_features: int):
    """The CSR matrix whose rows are `feature_arrays`' rows (identical to the
    vectorizer's transform of the same texts)."""
    import scipy.sparse as sp

    lengths = np.array([len(i) for i in indices], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    flat_i = np.concatenate(indices).astype(np.int32) if len(indices) else np.zeros(0, np.int32)
    flat_v = np.concatenate(values).astype(np.float64) if len(values) else np.zeros(0)
    return sp.csr_matrix((flat_v, flat_i, indptr), shape=(len(indices), num_features))


def with_features(df: DataFrame, num_features: int) -> DataFrame:
    """`df` with its text replaced by its hashed feature row (f_idx, f_val): each sampled
    document is tokenised once, not once per fold model that trains on it."""
    carried = [c for c in df.columns if c != "text"]
    schema = T.StructType([*[df.schema[c] for c in carried], *FEATURES])
    arrow_schema = to_arrow_schema(schema)

    def featurise(batches):
        for batch in batches:
            frame = batch.to_pandas()
            idx, val = feature_arrays(frame.text.tolist(), num_features)
            frame = frame[carried].assign(f_idx=idx, f_val=val)
            yield pa.RecordBatch.from_pandas(frame, schema=arrow_schema, preserve_index=False)

    return df.mapInArrow(featurise, schema)


def fit_stack_model(features: np.ndarray, labels: np.ndarray, weights: np.ndarray
                    ) -> tuple[float, float, float]:
    """(intercept, w_text, w_detector) of a weighted logistic regression of post-AI (1)
    vs pre-AI (0) on the two logits (scikit-learn lbfgs, default ridge C = 1)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        model = LogisticRegression().fit(features, labels, sample_weight=weights)
    return (float(model.intercept_[0]), float(model.coef_[0][0]), float(model.coef_[0][1]))


def logit_column(column: str) -> F.Column:
    """log(p / (1 - p)) of a probability column clipped to [LOGIT_EPS, 1 - LOGIT_EPS]."""
    p = F.least(F.greatest(F.col(column), F.lit(LOGIT_EPS)), F.lit(1.0 - LOGIT_EPS))
    return F.log(p / (F.lit(1.0) - p))


def explode_to_models(sample: DataFrame, folds: int, *columns: str | F.Column) -> DataFrame:
    """(doc_id, domain, *columns, label, model): each sampled row (with `fold`) once for
    every one of the K - 1 fold models that train on it (all but its own fold's); label 1
    for post-AI."""
    return sample.select(
        "doc_id", "domain", *columns, (F.col("era") == "post_ai").cast("int").alias("label"),
        F.explode(F.filter(F.sequence(F.lit(0), F.lit(folds - 1)),
                           lambda k: k != F.col("fold"))).alias("model"))


def fit_per_model(rows: DataFrame, folds: int, fit: Callable, schema: T.StructType) -> list:
    """One row of `schema` per fold model of `explode_to_models`, collected: each model's
    rows in a partition of their own (so the K fits run in parallel), sorted by doc_id
    (the same input whatever the partitioning), weighted by `era_balanced_weights`;
    `fit(frame, labels, weights)` returns the row's fields other than `model`. A model
    without both eras gets none."""
    def fit_partition(frames):
        parts = [f for f in frames if len(f)]
        if not parts:
            return
        whole = pd.concat(parts, ignore_index=True)
        for model, frame in sorted(whole.groupby("model", sort=False), key=lambda kv: kv[0]):
            frame = frame.sort_values("doc_id", kind="stable")
            labels = frame.label.to_numpy(np.int8)
            if len(np.unique(labels)) < 2:
                continue
            weights = era_balanced_weights(frame.domain.to_numpy(), labels)
            yield pd.DataFrame([{"model": int(model), **fit(frame, labels, weights)}],
                               columns=schema.names)

    spread = repartition_by_bucket(rows, "model", folds)
    return spread.mapInPandas(fit_partition, schema).collect()


def fit_text_models(sample: DataFrame, cfg) -> dict[int, tuple[np.ndarray, float]]:
    """One model per fold k, trained on the rows of `sample` (doc_id, domain, era, fold,
    text) outside fold k; only the coefficients (pu_features doubles each) reach the
    driver."""
    s = cfg.share

    def fit(frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray) -> dict:
        x = feature_matrix(frame.f_idx.tolist(), frame.f_val.tolist(), s.pu_features)
        coef, intercept = fit_on_features(x, labels, weights, s.pu_c, s.pu_max_iter)
        return {"coef": coef.astype("<f8").tobytes(), "intercept": intercept}

    rows = explode_to_models(with_features(sample, s.pu_features), s.pu_folds, "f_idx", "f_val")
    fitted = fit_per_model(rows, s.pu_folds, fit, MODEL)
    return {r["model"]: (np.frombuffer(r["coef"], dtype="<f8"), r["intercept"]) for r in fitted}


def fit_stack_models(text_scored: DataFrame, cfg) -> tuple[dict, ...]:
    """STACK rows, one per fold: per fold k, a logistic regression of post-AI vs pre-AI on
    (logit text score, logit p_raw) of the sampled rows outside fold k, eras balanced per
    domain as for the text models.

    Why: the two see different synthetic text. On the leave-generators-out real-text
    crawls the detector (trained on other sources and generators) separates
    human-prefixed continuations that the in-crawl words miss (news: AUC 0.97 against
    0.68-0.75) and the in-crawl classifier the rest; the stack learns from the crawl's
    own eras how much the detector is worth there, so a detector that does not transfer
    gets little weight (docs/DETECTOR.md)."""
    rows = explode_to_models(text_scored, cfg.share.pu_folds,
                             logit_column("pu_score").alias("z_text"),
                             logit_column("p_raw").alias("z_detector"))

    def fit(frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray) -> dict:
        intercept, w_text, w_detector = fit_stack_model(
            frame[["z_text", "z_detector"]].to_numpy(np.float64), labels, weights)
        return {"intercept": intercept, "w_text": w_text, "w_detector": w_detector}

    models = fit_per_model(rows, cfg.share.pu_folds, fit, STACK)
    return tuple(sorted((r.asDict() for r in models), key=lambda r: r["model"]))


def fit_classifier(texts: DataFrame, cfg) -> Classifier:
    """Fit the classifier on `texts` (doc_id, domain, era, text [, p_raw]; usually a lazy
    join of the small rows with the text): the text models on the seeded sample of at
    most share.pu_max_train_docs rows, then (with share.pu_stack_detector and p_raw) the
    stack on the same-sized sample of the rows the text models score. Only the sampled
    rows' text is read and tokenised."""
    require_columns(texts, ["doc_id", "domain", "era", "text"], "fit_classifier")
    s = cfg.share
    rows = with_fold(texts, s.pu_folds, s.seed)
    per_fold = {int(r["fold"]): int(r["count"])
                for r in rows.groupBy("fold").count().collect()}
    cut = sample_cut(s.pu_max_train_docs, sum(per_fold.values()))
    sample = rows.where(in_sample(s.seed, cut)).persist()
    try:
        text = fit_text_models(sample, cfg)
        if not (s.pu_stack_detector and "p_raw" in texts.columns):
            return Classifier(text)
        scored_cut = sample_cut(s.pu_max_train_docs, sum(per_fold.get(k, 0) for k in text))
        stack_sample = sample if scored_cut == cut else rows.where(in_sample(s.seed, scored_cut))
        scored = with_text_score(stack_sample, Classifier(text), cfg)
        return Classifier(text, fit_stack_models(scored.where(F.col("pu_score").isNotNull()),
                                                 cfg))
    finally:
        sample.unpersist()


def with_text_score(df: DataFrame, clf: Classifier, cfg) -> DataFrame:
    """df's columns but text, plus pu_score: P(post-AI | text) from the fold model of the
    document's fold (`fold`, added when missing; null where that fold has no model). A
    mapInArrow over the documents with the fold models broadcast."""
    require_columns(df, ["doc_id", "text"], "with_text_score")
    s = cfg.share
    with_folds = df if "fold" in df.columns else with_fold(df, s.pu_folds, s.seed)
    carried = [c for c in with_folds.columns if c != "text"]
    shared = df.sparkSession.sparkContext.broadcast(clf.text)
    num_features = s.pu_features
    schema = T.StructType([*[with_folds.schema[c] for c in carried],
                           T.StructField("pu_score", T.DoubleType(), True)])
    arrow_schema = to_arrow_schema(schema)

    def score(batches):
        vectorizer = _vectorizer(num_features)
        fitted = shared.value
        for batch in batches:
            frame = batch.to_pandas()
            out = np.full(len(frame), np.nan)
            if len(frame):
                x = vectorizer.transform(frame.text.tolist())
                folds = frame.fold.to_numpy()
                for k, (coef, intercept) in fitted.items():
                    rows = np.flatnonzero(folds == k)
                    if len(rows):
                        z = x[rows] @ coef + intercept
                        out[rows] = np.round(1.0 / (1.0 + np.exp(-z)), SCORE_DIGITS)
            frame = frame[carried].assign(pu_score=out)  # NaN (no model): null
            yield pa.RecordBatch.from_pandas(frame, schema=arrow_schema, preserve_index=False)

    return with_folds.mapInArrow(score, schema)


def with_stacked_score(text_scored: DataFrame, clf: Classifier) -> DataFrame:
    """pu_score replaced by the stack of fold `fold` applied to (logit pu_score, logit
    p_raw): a Spark expression, the same for a row whatever else is scored with it."""
    if not clf.stacked:
        return text_scored
    require_columns(text_scored, ["fold", "pu_score", "p_raw"], "with_stacked_score")
    z = F.lit(None).cast("double")
    for m in clf.stack:
        z = F.when(F.col("fold") == m["model"],
                   F.lit(m["intercept"]) + F.lit(m["w_text"]) * logit_column("pu_score")
                   + F.lit(m["w_detector"]) * logit_column("p_raw")).otherwise(z)
    stacked = F.round(F.lit(1.0) / (F.lit(1.0) + F.exp(-z)), SCORE_DIGITS)
    return text_scored.withColumn("pu_score", F.when(F.col("pu_score").isNotNull(), stacked))


def with_pu_score(docs: DataFrame, clf: Classifier, cfg) -> DataFrame:
    """docs' columns but text and p_raw, plus pu_score (text score, stacked when `clf`
    is). A stacked classifier needs p_raw: scores without it are an error."""
    if clf.stacked and "p_raw" not in docs.columns:
        raise InputError("the stored pu classifier stacks the detector's p_raw, but the "
                         "scores have no p_raw: re-run `tailguard score`")
    scored = with_stacked_score(with_text_score(docs, clf, cfg), clf)
    return scored.drop("fold", "p_raw")
