"""share: estimators as Spark aggregations agree with the numpy reference math."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from tailguard import schema
from tailguard.detector.model import META_FILE, REFERENCE_FILE
from tailguard.share import bootstrap as bs
from tailguard.share import estimators as est
from tailguard.share import job as share
from tailguard.share import mle

_COMMON = ["".join(p) + "e" for p in itertools.product("bdfgklmnprst", repeat=2)]
SHARES = {"big.com": 0.3, "mid.com": 0.7, "tiny.com": 0.5}
OP = {"threshold": 0.5, "tpr": 0.8, "fpr": 0.1}


def _text(rng, synthetic: bool, domain: int) -> str:
    p = np.arange(1, len(_COMMON) + 1, dtype=float) ** -1.0
    p = np.roll(p, 11) ** 0.8 if synthetic else p
    topic = [f"topic{'xyz'[domain]}{c}" for c in "abcdefgh"]
    words = list(rng.choice(_COMMON, size=70, p=p / p.sum())) + list(rng.choice(topic, 10))
    return " ".join(words) + "."


@pytest.fixture(scope="module")
def frames(spark, tmp_path_factory):
    rng = np.random.default_rng(5)
    docs, prov, scores = [], [], []
    for d, (domain, truth) in enumerate(SHARES.items()):
        n_pre, n_post = (60, 60) if domain != "tiny.com" else (5, 10)
        for era, n in (("pre_ai", n_pre), ("post_ai", n_post), ("attested", 3)):
            for i in range(n):
                synthetic = era == "post_ai" and i < round(truth * n)
                k = len(docs)
                day = dt.date(2021 if era == "pre_ai" else 2023, 1 + i % 2, 1)
                text = _text(rng, synthetic, d)
                docs.append((f"d{k}", "u", domain, domain, day, "f", text, 1, 1, k, None))
                prov.append((f"d{k}", k, f"c{k}", day, era, i != 1 or era != "post_ai",
                             "none", day, domain))
                p = float(np.clip(rng.normal(0.8 if synthetic else 0.2, 0.15), 0, 1))
                scores.append((f"d{k}", day, p))
    root = tmp_path_factory.mktemp("share")
    with open(root / REFERENCE_FILE, "w") as out:
        for _ in range(300):
            out.write(json.dumps({"text": _text(rng, True, int(rng.integers(3))),
                                  "label": "synthetic"}) + "\n")
    (root / META_FILE).write_text(json.dumps({"version": "ft-test", "operating_point": OP}))
    return (spark.createDataFrame(docs, schema.DOCS),
            spark.createDataFrame(prov, schema.PROVENANCE),
            spark.createDataFrame(scores, "doc_id string, crawl_date date, p_synthetic double"),
            root)


@pytest.fixture(scope="module")
def result(spark, frames, tmp_path_factory):
    from tailguard.config import load_config

    docs, prov, scores, root = frames
    cfg = load_config([], [f"output.root={tmp_path_factory.mktemp('out')}",
                           f"detector.dir={root}", "share.bootstrap=40",
                           "share.min_reference_docs=20", "share.mle_min_df=3",
                           "share.min_docs=20"])
    meta = json.loads((root / META_FILE).read_text())
    share_df, monthly_df, pages_df, cached = share.compute_share(spark, cfg, prov, scores, docs,
                                                                 meta)
    out = (share_df.toPandas(), monthly_df.toPandas(), pages_df.toPandas())
    for frame in cached:
        frame.unpersist()
    return cfg, out


def _post(prov, scores):
    base = share.base_documents(prov, scores, OP["threshold"], canonical_only=True)
    return base.where("era = 'post_ai'").toPandas()


def test_classify_and_count_estimators_match_numpy(frames, result):
    _, prov, scores, _ = frames
    cfg, (table, _, _) = result
    assert set(table[table.is_primary].estimator) == {cfg.share.primary}
    base = _post(prov, scores)
    for domain, group in [*base.groupby("domain"), ("__all__", base)]:
        rows = table[(table.domain == domain) & (table.era == "post_ai")].set_index("estimator")
        cc = group.pred.mean()
        assert rows.loc["cc", "n_docs"] == len(group)
        if domain == "tiny.com":
            assert rows.share.isna().all() and rows.reason.str.contains("min_docs").all()
            continue
        assert rows.loc["cc", "share"] == pytest.approx(cc)
        assert rows.loc["pcc", "share"] == pytest.approx(group.p_synthetic.mean())
        assert rows.loc["acc", "share"] == pytest.approx(est.acc_share(cc, OP["tpr"], OP["fpr"]))
        assert (rows.share_lo <= rows.share + 1e-12).all()
        assert (rows.share_hi >= rows.share - 1e-12).all()


def test_mle_matches_numpy_and_tracks_truth(spark, frames, result):
    docs, prov, scores, root = frames
    cfg, (table, monthly, _) = result
    base = share.base_documents(prov, scores, OP["threshold"], True)
    words = mle.with_words(docs.join(base.select("doc_id"), "doc_id", "left_semi"))
    bw = base.join(words, "doc_id")
    ref = mle.reference_tables(bw, share.synthetic_reference_words(spark, cfg), cfg)
    rows = mle.with_log_ratio(bw, ref).toPandas()
    post = table[(table.era == "post_ai") & (table.estimator == "mle")].set_index("domain")
    for domain in ("big.com", "mid.com"):
        lr = rows[(rows.domain == domain) & (rows.era == "post_ai")].log_ratio.to_numpy()
        expected = est.mle_share(lr, points=cfg.share.mle_grid_points)
        # the sums are fixed point (2^-24 per document), so not to the last float bit
        assert post.loc[domain, "share"] == pytest.approx(expected, abs=1e-6)
        assert post.loc[domain, "share"] == pytest.approx(SHARES[domain], abs=0.12)
        assert post.loc[domain, "is_primary"] == (cfg.share.primary == "mle")
    pre = table[(table.era == "pre_ai") & (table.estimator == "mle") & table.share.notna()]
    assert len(pre) >= 2 and pre.share.mean() < 0.1
    assert set(monthly.month.dropna().map(lambda m: m.day)) == {1}
    assert {"__all__", "big.com"} <= set(monthly.domain)


def test_log_ratio_is_the_word_occurrence_likelihood_ratio(spark):
    """log Q(d)/P(d) from the sparse reference equals the textbook sum over the whole
    vocabulary, per document: P shrunk toward all pre-AI text for a domain with its own
    reference, all pre-AI text (Laplace) for one without, leave-one-out for pre-AI pages."""
    from tailguard.config import load_config

    cfg = load_config([], ["share.min_reference_docs=3", "share.mle_min_df=1",
                           "share.mle_min_domain_fraction=0", "share.mle_prior_docs=2"])
    docs = [("a1", "own.com", "pre_ai", ["alpha", "beta"]),
            ("a2", "own.com", "pre_ai", ["alpha", "gamma"]),
            ("a3", "own.com", "pre_ai", ["beta", "zeta"]),
            ("a4", "own.com", "post_ai", ["delta", "alpha"]),
            ("b1", "small.com", "pre_ai", ["gamma"]),
            ("b2", "small.com", "post_ai", ["beta", "delta", "omega"]),
            ("c1", "new.com", "post_ai", ["gamma", "delta"])]
    synthetic = [["delta", "alpha"], ["delta", "beta"], ["delta"], ["gamma", "omega"]]
    base_words = spark.createDataFrame(docs, "doc_id string, domain string, era string, "
                                             "words array<string>")
    syn = spark.createDataFrame([(str(i), w) for i, w in enumerate(synthetic)],
                                "doc_id string, words array<string>")
    got = {r.doc_id: r.log_ratio for r in mle.with_log_ratio(
        base_words, mle.reference_tables(base_words, syn, cfg)).collect()}

    vocab = sorted({w for ws in synthetic for w in ws})
    q = {w: (sum(w in ws for ws in synthetic) + 0.5) / (len(synthetic) + 1) for w in vocab}
    pre = [d for d in docs if d[2] == "pre_ai"]
    df_glob = {w: sum(w in d[3] for d in pre) for w in vocab}
    n_total, k, eps = len(pre), 2.0, 1e-6

    def p_word(domain, w, leave_out):
        own = [d for d in pre if d[1] == domain]
        loo_cnt = 1 if leave_out is not None and w in leave_out else 0
        loo_tot = 1 if leave_out is not None else 0
        if len(own) >= 3:
            p_glob = (df_glob[w] + 0.5) / (n_total + 1)
            cnt, tot = sum(w in d[3] for d in own) + k * p_glob, len(own) + k
        else:
            cnt, tot = df_glob[w] + 0.5, n_total + 1
        return min(max((cnt - loo_cnt) / (tot - loo_tot), eps), 1 - eps)

    for doc_id, domain, era, words in docs:
        expected = 0.0
        for w in vocab:
            pw = p_word(domain, w, words if era == "pre_ai" else None)
            qw = min(max(q[w], eps), 1 - eps)
            expected += math.log(qw / pw) if w in words else math.log((1 - qw) / (1 - pw))
        assert got[doc_id] == pytest.approx(expected, abs=1e-9), doc_id


def test_replicate_sums_match_a_per_document_loop(spark):
    """Every group's sums, recomputed document by document from the same Poisson weights:
    replicates 1..B only for groups of >= min_docs documents, `__all__` always; the sums
    are exact (fixed point: within 2^-25 per document of the float sums) and so identical,
    bit for bit, however the rows are partitioned."""
    rng = np.random.default_rng(2)
    months = [dt.date(2023, m, 1) for m in (1, 2, 3)]
    rows = []
    for i in range(300):
        domain = "big.com" if i < 200 else ("mid.com" if i < 280 else "small.com")
        p = float(rng.random())
        lr = None if i % 17 == 0 else float(rng.normal(0, 3))
        rows.append((f"d{i}", "post_ai" if i % 4 else "pre_ai", domain,
                     months[int(rng.integers(3))], p >= 0.5, p, lr))
    # a month of one document: its `__all__` group is replicated, and the replicates that
    # do not draw the document have no row (no division by n = 0 downstream)
    rows.append(("lone", "post_ai", "small.com", dt.date(2023, 9, 1), True, 0.9, 1.0))
    df = (spark.createDataFrame(rows, "doc_id string, era string, domain string, month date, "
                                      "pred boolean, p_synthetic double, log_ratio double")
          .withColumn("doc_hash", F.xxhash64("doc_id", F.lit(7))))
    min_docs, replicates, points = 15, 6, 5
    frame = df.toPandas()
    got = bs.replicate_sums(df, replicates, points, min_docs).toPandas()
    again = bs.replicate_sums(df.repartition(7), replicates, points, min_docs).toPandas()
    cols = [*bs.SUM_COLUMNS, *bs.ll_columns(points)]
    grid = est.alpha_grid(points)

    def expected(group: pd.DataFrame, replicated: bool) -> np.ndarray:
        out = np.zeros((replicates + 1 if replicated else 1, len(cols)))
        for doc in group.itertuples():
            w = est.replicate_weights(np.array([doc.doc_hash]), replicates)[:, 0]
            lr = 0.0 if doc.log_ratio is None or np.isnan(doc.log_ratio) else doc.log_ratio
            ll = [math.log((1 - a) + a * math.exp(lr)) for a in grid]
            out += np.outer(w[:len(out)], [1.0, float(doc.pred), doc.p_synthetic, *ll])
        return out

    groups = [((era, dom, None), g, len(g) >= min_docs)
              for (era, dom), g in frame.groupby(["era", "domain"])]
    groups += [((era, dom, m), g, len(g) >= min_docs)
               for (era, dom, m), g in frame.groupby(["era", "domain", "month"])]
    groups += [((era, "__all__", None), g, True) for era, g in frame.groupby("era")]
    groups += [((era, "__all__", m), g, True) for (era, m), g in frame.groupby(["era", "month"])]
    assert {g[2] for g in groups} == {True, False}       # both kinds of group are tested
    lone = expected(frame[frame.doc_id == "lone"], True)
    assert 0 < (lone[:, 0] == 0).sum() < replicates      # some replicates miss the document
    for result in (got, again):
        rows_expected = 0
        for (era, dom, month), group, replicated in groups:
            mine = result[(result.era == era) & (result.domain == dom)
                          & (result.month.isna() if month is None else result.month == month)]
            mine = mine.sort_values("r")
            want = expected(group, replicated)
            drawn = np.flatnonzero(want[:, 0] > 0)
            rows_expected += len(drawn)
            assert list(mine.r) == drawn.tolist()
            per_doc = 2.0 ** -(bs.FIXED_BITS + 1) * len(group) * est.POISSON_MAX
            np.testing.assert_allclose(mine[cols].to_numpy(), want[drawn], rtol=0, atol=per_doc)
        assert len(result) == rows_expected
    order = ["era", "domain", "month", "r"]
    ordered = [f.sort_values(order, na_position="first").reset_index(drop=True)
               for f in (got, again)]
    assert ordered[0].equals(ordered[1])                 # bit-identical, any partitioning
    for era, n in frame.era.value_counts().items():  # replicate sizes: n Poisson(1) draws
        totals = got[(got.era == era) & (got.domain == "__all__") & got.month.isna()
                     & (got.r > 0)].n
        assert (abs(totals - n) < 5 * math.sqrt(n)).all() and totals.nunique() > 1


def test_run_refuses_scores_from_another_detector(spark, frames, tmp_path):
    from tailguard.cli import JobContext
    from tailguard.config import load_config
    from tailguard.errors import InputError
    from tailguard.io.tables import write_table

    _, _, scores, root = frames
    cfg = load_config([], [f"output.root={tmp_path}", f"detector.dir={root}"])
    stale = scores.select("doc_id", F.lit(dt.date(2023, 1, 1)).alias("crawl_date"),
                          F.lit("ft-other").alias("detector_version"))
    write_table(stale, cfg, "scores")
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    with pytest.raises(InputError, match="re-run `tailguard score`"):
        share.run(ctx)


def test_unchanged_recrawl_keeping_its_doc_id_is_counted_once(spark):
    """doc_id hashes url + text, so a page re-crawled unchanged repeats its doc_id on a
    later date; the base of the estimators must still hold one row per document."""
    early, late = dt.date(2021, 3, 1), dt.date(2023, 3, 1)
    prov = spark.createDataFrame([
        ("same", 1, "same", early, "pre_ai", True, "exact", early, "a.com"),
        ("same", 1, "same", early, "attested", False, "exact", late, "a.com"),
        ("new", 2, "new", late, "post_ai", True, "none", late, "a.com"),
        ("again", 3, "again", late, "post_ai", True, "none", late, "a.com"),
        ("again", 3, "again", late, "post_ai", False, "none", dt.date(2023, 4, 1), "a.com"),
    ], schema.PROVENANCE)
    scores = spark.createDataFrame(
        [("same", early, 0.1), ("same", late, 0.1), ("new", late, 0.9), ("again", late, 0.2),
         ("again", dt.date(2023, 4, 1), 0.2)], "doc_id string, crawl_date date, p_synthetic double")
    for canonical_only in (True, False):
        rows = share.base_documents(prov, scores, 0.5, canonical_only).collect()
        assert sorted((r.doc_id, r.era) for r in rows) == [
            ("again", "post_ai"), ("new", "post_ai"), ("same", "pre_ai")]


def test_pu_rows_are_mixture_fits_of_the_cross_fitted_scores(spark, frames, result):
    """The `pu` rows recomputed in numpy from the cross-fitted scores: the grid of score
    percentiles, the crawl's synthetic CDF, each domain's binned likelihood fit; near the
    truth's order (two domains of 60 + 60 documents are too few for its accuracy, which the
    real-text evaluation measures), and a placebo row."""
    from tailguard.share import pu, pu_share

    docs, prov, scores, _ = frames
    cfg, (table, monthly, _) = result
    base = share.base_documents(prov, scores, OP["threshold"], True)
    keys = ["doc_id", "crawl_date"]
    texts = docs.select(*keys, "text").join(base.select(*keys, "domain", "era", "month"), keys)
    sc = pu_share.cross_fitted_scores(texts, cfg).toPandas()
    assert sc.pu_score.notna().all() and len(sc) == base.count()
    points = cfg.share.pu_grid_points
    grid = np.unique(np.quantile(sc.pu_score, [(i + 1) / (points + 1) for i in range(points)]))
    summaries = pd.DataFrame([pu_share.domain_summary(g, grid) for _, g in sc.groupby("domain")])
    f_syn, pooled = pu_share.crawl_components(summaries, cfg)
    rows = table[table.estimator == "pu"].set_index(["era", "domain"])
    cuts = pu.fit_bins(len(grid), cfg.share.pu_fit_bins)
    for domain in ("big.com", "mid.com"):
        own = sc[sc.domain == domain]
        post, pre = own[own.era == "post_ai"].pu_score, own[own.era == "pre_ai"].pu_score
        fit = pu.binned_ml_shares(pu.weighted_cdf(post, grid)[None], np.array([len(post)]),
                                  pu.weighted_cdf(pre, grid)[None], np.array([len(pre)]),
                                  f_syn, pooled, cuts, cfg.share.pu_reference_prior_docs)[0]
        row = rows.loc[("post_ai", domain)]
        assert row.share == pytest.approx(min(max(fit, 0.0), 1.0), abs=1e-9)
        assert row.share_lo <= row.share <= row.share_hi
        assert row.is_primary == (cfg.share.primary == "pu")
    assert rows.loc[("post_ai", "big.com")].share < rows.loc[("post_ai", "mid.com")].share
    tiny = rows.loc[("post_ai", "tiny.com")]  # 5 pre-AI documents < min_reference_docs = 20
    assert "min_docs" in tiny.reason and np.isnan(tiny.share)
    assert rows.loc[("pre_ai", "big.com")].reason.startswith("placebo")
    assert rows.loc[("post_ai", "__all__")].n_docs == (sc.era == "post_ai").sum()
    assert set(monthly[monthly.estimator == "pu"].era) == {"post_ai"}


def test_pu_scores_give_each_post_ai_page_its_p_value_against_its_site(spark, frames, result):
    """`pu_scores` (the shards' admission reads it): one row per base document with the
    cross-fitted score; a post-AI page's human_p is the conformal p-value against its own
    site's pre-AI scores (big.com, 60 of them) or the pooled reference's CDF (tiny.com,
    5 < side_min_docs)."""
    from tailguard.share import pu_share

    docs, prov, scores, _ = frames
    cfg, (_, _, pages) = result
    base = share.base_documents(prov, scores, OP["threshold"], True)
    assert len(pages) == base.count() and pages.pu_score.notna().all()
    assert pages[pages.era == "pre_ai"].human_p.isna().all()
    post = pages[pages.era == "post_ai"]
    # against the pooled CDF (tiny.com) a higher score never reads more human
    tiny = post[post.domain == "tiny.com"].sort_values("pu_score")
    assert (np.diff(tiny.human_p.to_numpy()) <= 1e-12).all() and tiny.human_p.nunique() > 1
    big = pages[pages.domain == "big.com"]
    big_post = big[big.era == "post_ai"]
    want = pu_share.human_p_values(big[big.era == "pre_ai"].pu_score.to_numpy(),
                                   big_post.pu_score.to_numpy())
    assert np.allclose(big_post.human_p.to_numpy(), want)
    assert set(big_post.reference) == {"own"}
    assert set(post[post.domain == "tiny.com"].reference) == {"pooled"}


def _spark_summary(reps, cfg):
    """The per-replicate definition of the pu rows, in Spark over REPLICATES rows (one per
    replicate): the reference the summaries made beside the fits must equal. The interval
    holds the point (F.least / F.greatest skip nulls)."""
    from tailguard.share import pu_share

    keys = ["era", "domain", "month"]
    main = F.col("reference") == "main"
    overall = (reps.where(main & F.col("value").isNotNull())
               .groupBy("era", "month", "r")
               .agg((F.sum(F.col("n") * F.col("value")) / F.sum("n")).alias("value"),
                    F.sum("n").alias("n"))
               .select("era", F.lit(pu_share.ALL_DOMAINS).alias("domain"), "month",
                       F.lit("main").alias("reference"), "r", "n", "value",
                       F.lit(None).cast("string").alias("reason")))
    reported = F.when(F.col("era") == "pre_ai", F.col("value")).otherwise(
        F.least(F.greatest(F.col("value"), F.lit(0.0)), F.lit(1.0)))
    r = F.col("r")
    per_ref = reps.unionByName(overall).groupBy(*keys, "reference").agg(
        F.max(F.when(r == 0, F.col("n"))).alias("n"),
        F.max(F.when(r == 0, reported)).alias("point"),
        F.percentile(F.when(r > 0, reported), F.lit(0.025)).alias("lo"),
        F.percentile(F.when(r > 0, reported), F.lit(0.975)).alias("hi"),
        F.first("reason", ignorenulls=True).alias("reason"))
    merged = per_ref.groupBy(*keys).agg(
        F.max(F.when(main, F.col("n"))).cast("long").alias("n_docs"),
        F.max(F.when(main, F.col("point"))).alias("point"),
        F.least(F.min("lo"), F.max(F.when(main, F.col("point")))).alias("lo"),
        F.greatest(F.max("hi"), F.max(F.when(main, F.col("point")))).alias("hi"),
        F.first("reason", ignorenulls=True).alias("reason"))
    few = (F.col("era") == "post_ai") & (F.col("n_docs") < cfg.share.min_docs)
    keep = lambda c: F.when(~few, F.col(c))  # noqa: E731
    return merged.select(
        *keys, "n_docs", keep("point").alias("share"), keep("lo").alias("share_lo"),
        keep("hi").alias("share_hi"),
        F.when(few, F.lit(f"fewer than {cfg.share.min_docs} documents (share.min_docs)"))
        .otherwise(F.col("reason")).alias("reason"))


def _summaries(blocks_by_domain: dict, cfg, buckets: list[list[str]]) -> dict:
    """The pu rows the job makes from each domain's fits, with the domains grouped into
    `buckets` (partitions), keyed by (era, domain, month)."""
    from tailguard.share import pu_share

    out = []
    for bucket in buckets:
        out += pu_share.bucket_sums([pu_share.domain_rows(d, blocks_by_domain[d], cfg)
                                     for d in bucket])
    frame = pd.concat(out, ignore_index=True)
    is_all = frame.domain == pu_share.ALL_DOMAINS
    # NaN in a float column is null once Arrow carries the frame to Spark
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            for r in frame[~is_all][list(pu_share.ROWS.names)].to_dict("records")]
    rows += pu_share.all_domains_rows(frame[is_all].to_dict("records"), cfg.share.min_docs)
    return {(r["era"], r["domain"], r["month"]): r for r in rows}


def test_pu_summary_clips_shares_but_keeps_the_placebo_signed():
    """Post-AI fits are clipped to [0, 1]; the placebo (pre_ai) is reported signed, so
    noise around 0 does not read as drift; a 'wider' or 'mismatch' reference only widens
    the interval (and the `__all__` mean uses the 'main' fits alone)."""
    from tailguard.config import load_config

    cfg = load_config([], ["share.min_docs=1", "share.bootstrap=40"])
    noise = np.array([0.0] + [(r - 20) / 200 for r in range(1, 41)])  # -0.1 .. 0.1
    n = [50.0] * 41
    blocks = {
        "a.com": [("post_ai", None, "main", n, list(-0.05 + noise), None),
                  ("pre_ai", None, "main", [30.0] * 41, list(-0.05 + noise), "placebo: x")],
        "b.com": [("post_ai", None, "main", n, list(0.30 + noise), "small"),
                  ("post_ai", None, "wider", n, list(0.60 + noise), "small")],
        "c.com": [("post_ai", None, "main", n, list(0.20 + noise), None),
                  ("post_ai", None, "mismatch", n, list(0.35 + noise), None)],
        # every replicate above the point: the interval is widened down to hold it
        "d.com": [("post_ai", None, "main", n, [0.5] + list(0.7 + noise[1:] / 2), None)]}
    out = {(k[0], k[1]): r for k, r in
           _summaries(blocks, cfg, [sorted(blocks)]).items()}
    assert out[("post_ai", "a.com")]["share"] == 0.0
    assert out[("post_ai", "a.com")]["share_lo"] == 0.0
    assert out[("pre_ai", "a.com")]["share"] == pytest.approx(-0.05)
    assert out[("pre_ai", "a.com")]["share_lo"] == pytest.approx(-0.05 - 0.0901, abs=0.001)
    b = out[("post_ai", "b.com")]
    assert b["share"] == pytest.approx(0.30) and b["share_lo"] < 0.25 and b["share_hi"] > 0.65
    assert b["reason"] == "small"
    c = out[("post_ai", "c.com")]  # point and lower end from 'main', upper end 'mismatch'
    assert c["share"] == pytest.approx(0.20)
    assert c["share_lo"] == pytest.approx(0.20 - 0.0901, abs=0.001)
    assert c["share_hi"] == pytest.approx(0.35 + 0.0951, abs=0.001)  # noise -0.095 .. 0.1
    d = out[("post_ai", "d.com")]
    assert d["share"] == d["share_lo"] == 0.5 and d["share_hi"] > 0.7
    overall = out[("post_ai", "__all__")]  # mean of signed fits (-0.05, .3, .2, .5), clipped once
    assert overall["share"] == pytest.approx(0.2375) and overall["n_docs"] == 200


def test_pu_summaries_made_beside_the_fits_equal_the_per_replicate_definition(spark):
    """The rows summarised where the fits are made (percentiles in numpy, `__all__` from
    fixed-point sums) equal Spark's summary of one row per replicate, on fits of domains
    of every kind (small and tiny references, too few documents, a short placebo); and
    `__all__` has the same bits however the domains are bucketed."""
    from tailguard.config import load_config
    from tailguard.share import pu, pu_share

    cfg = load_config([], ["share.bootstrap=60", "share.min_docs=20",
                           "share.min_reference_docs=40"])
    grid = np.linspace(0.01, 0.99, 99)
    rng = np.random.default_rng(11)
    months = [dt.date(2019 + i // 12, i % 12 + 1, 1) for i in range(36)]
    blocks, frames = {}, []
    for i, (n_pre, n_post, syn_share) in enumerate([(300, 200, 0.4), (30, 120, 0.2),
                                                (8, 90, 0.5), (200, 12, 0.3),
                                                (18, 40, 0.0), (150, 0, 0.0)]):
        n_syn = int(round(syn_share * n_post))
        pre = pd.DataFrame({"era": "pre_ai", "month": [months[j % 36] for j in range(n_pre)],
                            "pu_score": rng.beta(2, 5, n_pre)})
        post = pd.DataFrame({"era": "post_ai",
                             "month": [dt.date(2023, 1 + j % 3, 1) for j in range(n_post)],
                             "pu_score": np.concatenate([rng.beta(2, 5, n_post - n_syn),
                                                         rng.beta(5, 2, n_syn)])})
        frame = pd.concat([pre, post], ignore_index=True)
        frame["domain"] = f"d{i}.com"
        frame["doc_hash"] = rng.integers(-(1 << 62), 1 << 62, len(frame))
        frames.append(frame)
    every = pd.concat(frames, ignore_index=True)
    f_syn = pu.weighted_cdf(rng.beta(5, 2, 5000), grid)
    pooled = pu.weighted_cdf(every[every.era == "pre_ai"].pu_score.to_numpy(), grid)
    reps = []
    for frame in frames:
        domain, blocks[domain] = pu_share.domain_blocks(frame, grid, f_syn, pooled, cfg)
        reps.append(pu_share._replicate_frame(domain, blocks[domain]))
    replicates = spark.createDataFrame(pd.concat(reps, ignore_index=True),
                                       pu_share.REPLICATES)
    want = {(r.era, r.domain, r.month): r.asDict()
            for r in _spark_summary(replicates, cfg).collect()}
    domains = sorted(blocks)
    got = _summaries(blocks, cfg, [domains])
    assert set(got) == set(want)
    for key, row in want.items():
        for column in ("n_docs", "reason"):
            assert got[key][column] == row[column], (key, column)
        for column in ("share", "share_lo", "share_hi"):
            if row[column] is None:
                assert got[key][column] is None, (key, column)
            else:
                assert got[key][column] == pytest.approx(row[column], abs=1e-9), (key, column)
    regrouped = _summaries(blocks, cfg, [domains[::2], domains[1::2]])
    alone = _summaries(blocks, cfg, [[d] for d in reversed(domains)])
    for key in got:
        if key[1] == pu_share.ALL_DOMAINS:
            assert got[key] == regrouped[key] == alone[key]


def _stack_docs(spark, seed: int):
    """Two domains whose synthetic pages read like their human ones (same words) but carry
    a detector score that tells them apart: only the stack can see them."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain in ("a.com", "b.com"):
        for era, n in (("pre_ai", 120), ("post_ai", 120)):
            for i in range(n):
                synthetic = era == "post_ai" and i % 5 < 2
                day = dt.date(2021 if era == "pre_ai" else 2023, 1 + i % 12, 1)
                p_raw = float(np.clip(rng.normal(0.75 if synthetic else 0.3, 0.12), 0, 1))
                rows.append((f"{domain}-{era}-{i}", day, domain, era, day.replace(day=1),
                             _text(rng, False, 0 if domain == "a.com" else 1), p_raw,
                             synthetic))
    return spark.createDataFrame(rows, "doc_id string, crawl_date date, domain string, "
                                 "era string, month date, text string, p_raw double, "
                                 "synthetic boolean")


@pytest.mark.parametrize("stack", [True, False])
def test_pu_score_stacks_the_detector_when_the_scores_carry_it(spark, stack):
    """With share.pu_stack_detector the cross-fitted score learns from the crawl's eras
    how much the detector's p_raw is worth: synthetic post-AI pages whose words are
    human-like get high scores (AUC against the human post-AI pages > 0.9); the text
    score alone cannot tell them apart (AUC < 0.7). Scores stay probabilities and are the
    same on a second run over other partitions."""
    from sklearn.metrics import roc_auc_score

    from tailguard.config import load_config
    from tailguard.share import pu_share

    cfg = load_config([], ["share.pu_folds=3", f"share.pu_stack_detector={str(stack).lower()}"])
    docs = _stack_docs(spark, 21)
    labels = docs.select("doc_id", "synthetic").toPandas()
    scored = pu_share.cross_fitted_scores(docs.drop("synthetic"), cfg).toPandas()
    again = pu_share.cross_fitted_scores(docs.drop("synthetic").repartition(5), cfg).toPandas()
    assert set(scored.columns) == {"doc_id", "crawl_date", "domain", "era", "month", "pu_score"}
    assert len(scored) == 480 and scored.pu_score.notna().all()
    assert scored.sort_values("doc_id").pu_score.tolist() == \
        again.sort_values("doc_id").pu_score.tolist()
    post = scored[scored.era == "post_ai"].merge(labels, on="doc_id")
    auc = roc_auc_score(post.synthetic, post.pu_score)
    assert auc > 0.9 if stack else auc < 0.7


def test_mle_word_model_is_stored_and_a_rerun_reads_ratios_not_text(spark, frames, result):
    """The word model and the per-document log ratios are kept (mle_state): a second run
    refits nothing, tokenises no date and writes the same tables; a domain the model has
    no row for is scored as the pooled domain (as one with too few pre-AI pages is); a
    model fitted under another setting is refused by name."""
    from tailguard.errors import InputError
    from tailguard.share import mle_state

    docs, prov, scores, root = frames
    cfg, (table, monthly, _) = result
    meta = json.loads((root / META_FILE).read_text())
    model = mle_state.load(spark, cfg)
    assert model is not None and model.fitted_on["n_pre"] == 60 + 60 + 5
    base = share.base_documents(prov, scores, OP["threshold"], True)
    era_docs = base.select("doc_id", "crawl_date", "domain", "era")
    assert mle_state.refresh_ratios(model, era_docs, share.words_of(docs), cfg) == []
    again, again_monthly, _, cached = share.compute_share(spark, cfg, prov, scores, docs, meta)
    key = ["era", "domain", "estimator"]
    pd.testing.assert_frame_equal(
        again.toPandas().sort_values(key, ignore_index=True),
        table.sort_values(key, ignore_index=True), check_like=True)
    for frame in cached:
        frame.unpersist()
    # tiny.com (5 pre-AI pages) has no own reference: renamed to a domain the model has
    # never seen, its pages keep their ratios
    words = share.words_of(docs)
    tiny = era_docs.where("domain = 'tiny.com'")
    renamed = tiny.withColumn("domain", F.lit("never-seen.org"))
    other = cfg.with_overrides(f"output.root={root / 'renamed'}")
    for frame, conf in ((tiny, cfg), (renamed, other)):
        mle_state.refresh_ratios(model, frame, words, conf)
    dates = sorted({str(r[0]) for r in tiny.select("crawl_date").distinct().collect()})
    got = [mle_state.read_ratios(model, spark, conf, dates).toPandas()
           .sort_values(["doc_id", "crawl_date"], ignore_index=True) for conf in (cfg, other)]
    got[0] = got[0][got[0].doc_id.isin(got[1].doc_id)].reset_index(drop=True)
    assert len(got[1]) == 5 + 9  # its canonical pages
    pd.testing.assert_frame_equal(got[0], got[1])
    changed = cfg.with_overrides("share.mle_vocab_size=10")
    with pytest.raises(InputError, match=r"share.mle_vocab_size=5000 \(this run: 10\)"):
        share.compute_share(spark, changed, prov, scores, docs, meta)
