"""diversity_tables on tiny frames, checked against exact Python computations."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from datasketch import MinHash

from tailguard.diversity import hll
from tailguard.diversity.estimators import chao1, entropy_from_counts, good_turing_missing_mass
from tailguard.diversity.job import run
from tailguard.io.tables import read_table, write_table
from tailguard.text.tokenize import words

VOCAB = [f"w{i}" for i in range(400)]


def _docs():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):  # diverse human text, two domains, two months
        text = " ".join(rng.choice(VOCAB, size=60))
        rows.append((f"h{i}", "pre_ai", f"d{i % 2}.com", dt.date(2021, 1 + i % 2, 1), text))
    for i in range(40):  # templated text: few distinct n-grams
        text = " ".join(["the", "model", "says", VOCAB[i % 3]] * 15)
        rows.append((f"s{i}", "post_ai", f"d{i % 2}.com", dt.date(2023, 1, 1), text))
    rows.append(("empty", "post_ai", "d0.com", dt.date(2023, 1, 1), ""))
    return rows


def _flatten_parts(path):
    """Move Spark's part files to `<path>/part-*.parquet`, the shard set layout."""
    for i, part in enumerate(sorted(Path(path, "tmp").glob("part-*.parquet"))):
        part.rename(Path(path, f"part-{i:05d}.parquet"))
    shutil.rmtree(Path(path, "tmp"))


def _signatures(spark, rows):
    out = []
    for doc_id, _, _, crawl_date, text in rows:
        m = MinHash(num_perm=16, seed=1)
        for w in words(text):
            m.update(w.encode())
        out.append((doc_id, crawl_date, np.array(m.hashvalues, dtype="<u4").tobytes()))
    return spark.createDataFrame(out, "doc_id string, crawl_date date, signature binary")


# the ladder 500/1000/2000: each (era, domain) holds 1,200 tokens, each era of __all__ 2,400
TEST_OVERRIDES = ("diversity.token_budgets=[500,1000,2000]", "diversity.hll_precision=12",
                  "tail.min_count=2", "diversity.homogenization_sample=10")


def _measure(spark, root, *overrides):
    """One run of the job on tables written by hand (docs, provenance, signatures)."""
    from tailguard.config import load_config

    cfg = load_config((), (f"output.root={root}", *TEST_OVERRIDES, *overrides))
    rows = _docs()
    docs = spark.createDataFrame([(d, dom, c, t, len(words(t))) for d, _, dom, c, t in rows],
                                 "doc_id string, domain string, crawl_date date, text string, "
                                 "n_words int")
    prov = spark.createDataFrame([(d, d, c, e, True, dom) for d, e, dom, c, _ in rows],
                                 "doc_id string, cluster_id string, crawl_date date, "
                                 "era string, is_canonical boolean, domain string")
    write_table(docs, cfg, "docs")
    write_table(prov, cfg, "provenance")
    write_table(_signatures(spark, rows), cfg, "signatures", partition_by="crawl_date")
    for scope in ("eras", "shards:mix"):
        if scope != "eras":  # a hand-made shard set: the templated docs of d0.com
            shard = [(t, d, f"https://{dom}/{d}", dom, c, e, 0.9, 1.0)
                     for d, e, dom, c, t in rows if e == "post_ai" and dom == "d0.com"]
            spark.createDataFrame(shard, "text string, doc_id string, url string, "
                                  "domain string, crawl_date date, era string, "
                                  "p_synthetic double, weight double").coalesce(1) \
                .write.parquet(f"{cfg.table_path('shards/mix')}/tmp")
            _flatten_parts(cfg.table_path("shards/mix"))
        run(SimpleNamespace(cfg=cfg, spark=spark, dates=None,
                            options=SimpleNamespace(scope=scope)))
    return rows, *(read_table(spark, cfg, f"metrics/{name}").toPandas()
                   for name in ("diversity", "tail_coverage", "rarefaction"))


@pytest.fixture(scope="module")
def tables_root(tmp_path_factory):
    return tmp_path_factory.mktemp("div")


@pytest.fixture(scope="module")
def tables(spark, tables_root):
    return _measure(spark, tables_root)


def _row(df, **labels):
    sel = df if "scope" in labels else df[~df.scope.str.startswith("shards:")]
    for k, v in labels.items():
        sel = sel[sel[k].isna()] if v is None else sel[sel[k] == v]
    assert len(sel) == 1, labels
    return sel.iloc[0]


def _okey_order(spark, rows):
    """The rows in the job's seeded order (xxhash64 of doc_id and crawl_date, seed 1)."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([(r[0], r[3]) for r in rows], "doc_id string, d date")
    okeys = {r.doc_id: r.okey for r in frame.select(
        "doc_id", F.xxhash64("doc_id", F.col("d").cast("string"), F.lit(1)).alias("okey"))
        .collect()}
    return sorted(rows, key=lambda r: okeys[r[0]])


def test_samples_are_the_okey_prefixes_of_their_group(spark, tables):
    """Budget rows measure exactly the ladder rule's prefix of the group in okey order
    (`ladder.prefix_members`), per (era, domain), per month and across domains; size
    rows (token_budget null) count whole groups and measure nothing."""
    from tailguard.diversity.ladder import prefix_members

    rows, div, _, _ = tables
    ordered = _okey_order(spark, rows)
    for era, domain, month in [("pre_ai", "d0.com", "__all__"), ("post_ai", "__all__", "__all__"),
                               ("pre_ai", "d1.com", "2021-02"), ("post_ai", "__all__", "2023-01")]:
        group = [r for r in ordered if r[1] == era and domain in ("__all__", r[2])
                 and month in ("__all__", f"{r[3]:%Y-%m}")]
        toks = [words(r[4]) for r in group]
        size = _row(div, era=era, domain=domain, month=month, token_budget=None)
        assert (size.n_docs, size.n_tokens) == (len(toks), sum(map(len, toks)))
        assert pd.isna(size.distinct_n_2) and pd.isna(size.compression_ratio)
        top, inside = prefix_members([len(t) for t in toks], (500, 1000, 2000))
        sample = [t for t, yes in zip(toks, inside, strict=True) if yes]
        got = _row(div, era=era, domain=domain, month=month, token_budget=top)
        assert (got.n_docs, got.n_tokens) == (len(sample), sum(map(len, sample)))
        for n in range(1, 5):
            exact = len({tuple(t[i:i + n]) for t in sample for i in range(len(t) - n + 1)})
            assert abs(got[f"distinct_n_{n}"] - exact) <= max(4 * hll.relative_error(12) * exact, 1)
        counts = Counter(w for t in sample for w in t)
        assert got.entropy_unigram == pytest.approx(entropy_from_counts(list(counts.values())))


def test_templated_text_is_less_diverse(tables):
    _, div, cov, rare = tables
    for budget in (500, 1000):
        human = _row(div, era="pre_ai", domain="d1.com", month="__all__", token_budget=budget)
        synth = _row(div, era="post_ai", domain="d1.com", month="__all__", token_budget=budget)
        assert human.n_tokens <= budget and synth.n_tokens <= budget
        assert synth.distinct_ratio_n_2 < human.distinct_ratio_n_2
        assert synth.compression_ratio > human.compression_ratio
        assert synth.homogenization > human.homogenization
        h_cov = _row(cov, scope="pre_ai", domain="d1.com", token_budget=budget)
        s_cov = _row(cov, scope="post_ai", domain="d1.com", token_budget=budget)
        assert s_cov.coverage < h_cov.coverage
        assert _row(rare, scope="post_ai", domain="d1.com", token_budget=budget) \
            .distinct_concepts < _row(rare, scope="pre_ai", domain="d1.com",
                                      token_budget=budget).distinct_concepts
    # groups with fewer tokens than a budget get no row at that budget, the others one
    # (a budget sample is drawn per scope and domain, over all of its eras)
    full = div[div.token_budget.isna() & (div.month == "__all__")]
    tokens = full.groupby(["scope", "domain"]).n_tokens.sum()
    for budget in (500, 1000, 2000):
        at = div[(div.token_budget == budget) & (div.month == "__all__")]
        assert sorted(zip(at.scope, at.domain, strict=True)) == sorted(
            tokens[tokens >= budget].index), budget
    assert (tokens < 2000).any() and (tokens >= 2000).any()  # both cases are exercised


def test_homogenization_is_exact_on_small_groups(spark, tables):
    rows, div, _, _ = tables
    got = _row(div, era="post_ai", domain="d0.com", month="2023-01", token_budget=1000)
    assert got.homogenization_sample == 10  # 16 sampled documents, bounded at 10
    human = _row(div, era="pre_ai", domain="d0.com", month="2021-01", token_budget=1000)
    assert human.homogenization_sample == 10
    # exactly the mean pairwise MinHash Jaccard of the group's first 10 documents in the
    # seeded order (xxhash64 of doc_id and crawl_date, seed 1), computed pair by pair
    for group, era, month in ((got, "post_ai", 1), (human, "pre_ai", 1)):
        members = [r for r in rows if r[1] == era and r[2] == "d0.com" and r[3].month == month]
        assert group.homogenization == pytest.approx(_exact_homogenization(spark, members, 10),
                                                     abs=1e-12)
    # templated documents share most shingles; random ones share few
    assert got.homogenization > 0.5 > human.homogenization


def _exact_homogenization(spark, members, k):
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([(r[0], r[3]) for r in members], "doc_id string, d date")
    order = frame.select("doc_id", F.xxhash64("doc_id", F.col("d").cast("string"),
                                              F.lit(1)).alias("okey")).collect()
    first = {r.doc_id for r in sorted(order, key=lambda r: r.okey)[:k]}
    sigs = [np.array(_minhash(r[4]).hashvalues, dtype="<u4") for r in members if r[0] in first]
    pairs = [(a, b) for i, a in enumerate(sigs) for b in sigs[i + 1:]]
    return sum(float(np.mean(a == b)) for a, b in pairs) / len(pairs)


def _minhash(text):
    m = MinHash(num_perm=16, seed=1)
    for w in words(text):
        m.update(w.encode())
    return m


def test_rarefaction_counts_are_consistent(tables):
    _, _, cov, rare = tables
    assert (rare.f1 <= rare.distinct_concepts).all()
    assert (rare.chao1 >= rare.distinct_concepts - 1e-9).all()
    # the Spark columns are the numpy estimators of record
    np.testing.assert_allclose(rare.chao1, chao1(rare.distinct_concepts, rare.f1, rare.f2,
                                                 rare.concept_occurrences))
    np.testing.assert_allclose(rare.good_turing_missing_mass,
                               good_turing_missing_mass(rare.f1, rare.concept_occurrences))
    assert (cov.covered <= cov.tail_concepts).all()
    assert set(cov.columns) >= {"scope", "domain", "token_budget", "coverage"}


def test_tables_are_partitioned_by_scope(tables):
    _, div, cov, rare = tables
    for df in (div, cov, rare):
        assert set(df.scope) == {"pre_ai", "post_ai", "shards:mix"}
    assert (div[div.scope == "pre_ai"].era == "pre_ai").all()


def test_shard_scope_is_measured_against_the_crawl_tail(tables):
    _, div, cov, _ = tables
    shard = _row(div, scope="shards:mix", domain="d0.com", era="post_ai", month="2023-01",
                 token_budget=None)
    crawl = _row(div, scope="post_ai", domain="d0.com", era="post_ai", month="2023-01",
                 token_budget=None)
    assert shard.n_docs == crawl.n_docs == 21  # the same documents, the empty one included
    shard = _row(div, scope="shards:mix", domain="d0.com", month="2023-01", token_budget=1000)
    crawl = _row(div, scope="post_ai", domain="d0.com", month="2023-01", token_budget=1000)
    assert shard.era == "__all__" and shard.n_docs == crawl.n_docs
    assert shard.distinct_n_2 == crawl.distinct_n_2
    same = _row(cov, scope="shards:mix", domain="d0.com", token_budget=500)
    crawl_cov = _row(cov, scope="post_ai", domain="d0.com", token_budget=500)
    # the same documents fall in the same half of the tail split (looked up by doc)
    assert (same.tail_concepts, same.covered) == (crawl_cov.tail_concepts, crawl_cov.covered)
    assert _row(div, scope="shards:mix", domain="d0.com", month="__all__",
                token_budget=500).era == "__all__"


def test_human_text_on_both_sides_of_the_cutoff_covers_the_tail_alike(spark, tmp_path):
    """Both eras drawn from one human distribution (Zipf words; a page repeats some of its
    own words, as real pages repeat names): tail coverage must not fall across the
    cutoff. Defining the tail on the pre-AI pages it then measured made it fall in every
    domain (the page-specific repeats are tail concepts only those pages have)."""
    from tailguard.config import load_config

    rng = np.random.default_rng(11)
    vocab = [f"v{i}" for i in range(4000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    rows = []
    for i in range(360):
        era, domain = ("pre_ai", "post_ai")[i % 2], f"h{i % 3}.com"
        own = list(rng.choice(vocab, size=3, p=weights))  # the page's repeated words
        text = " ".join(list(rng.choice(vocab, size=50, p=weights)) + own * 3)
        day = dt.date(2021, 1 + i % 12, 1) if era == "pre_ai" else dt.date(2023, 1 + i % 12, 1)
        rows.append((f"p{i}", era, domain, day, text))
    cfg = load_config((), (f"output.root={tmp_path}", "diversity.token_budgets=[2000,4000]",
                           "diversity.hll_precision=12", "tail.min_count=2"))
    write_table(spark.createDataFrame([(d, dom, c, t, len(words(t)))
                                       for d, _, dom, c, t in rows],
                                      "doc_id string, domain string, crawl_date date, "
                                      "text string, n_words int"), cfg, "docs")
    write_table(spark.createDataFrame([(d, d, c, e, True, dom) for d, e, dom, c, _ in rows],
                                      "doc_id string, cluster_id string, crawl_date date, "
                                      "era string, is_canonical boolean, domain string"),
                cfg, "provenance")
    run(SimpleNamespace(cfg=cfg, spark=spark, dates=None, options=SimpleNamespace(scope="eras")))
    deltas = read_table(spark, cfg, "metrics/diversity_deltas").toPandas()
    post = deltas[deltas.target == "post_ai"].set_index("domain")
    assert set(post.index) == {"h0.com", "h1.com", "h2.com", "__all__"}
    assert post.token_budget.to_dict() == {"h0.com": 2000, "h1.com": 2000, "h2.com": 2000,
                                           "__all__": 4000}
    assert (post.base_coverage > 0.02).all(), post.base_coverage.to_dict()
    # relative to the level: within sampling noise (here -0.03 to +0.37), not the
    # systematic fall the in-sample tail gave (-0.63 to -0.64 in every row)
    relative = post.delta_coverage / post.base_coverage
    assert (relative > -0.3).all() and abs(relative.mean()) < 0.25, relative.to_dict()


def test_an_empty_crawl_gives_empty_readable_tables(spark, tmp_path):
    """No documents: the job finishes and each table reads back empty with its columns."""
    from tailguard.config import load_config
    from tailguard.diversity.job import COVERAGE_COLUMNS, DIVERSITY_COLUMNS, RAREFACTION_COLUMNS
    from tailguard.schema import DIVERSITY_DELTAS, DOCS, PROVENANCE

    cfg = load_config((), (f"output.root={tmp_path}",))
    write_table(spark.createDataFrame([], DOCS), cfg, "docs")
    write_table(spark.createDataFrame([], PROVENANCE), cfg, "provenance")
    run(SimpleNamespace(cfg=cfg, spark=spark, dates=None, options=SimpleNamespace(scope="eras")))
    for name, columns in (("diversity", DIVERSITY_COLUMNS), ("tail_coverage", COVERAGE_COLUMNS),
                          ("rarefaction", RAREFACTION_COLUMNS),
                          ("diversity_deltas", DIVERSITY_DELTAS.fieldNames())):
        table = read_table(spark, cfg, f"metrics/{name}")
        assert table.count() == 0
        assert sorted(table.columns) == sorted(columns)
        # a readable table: a Parquet file with the schema, not a directory without files
        assert list(Path(cfg.table_path(f"metrics/{name}")).glob("scope=*/*.parquet")), name


def test_deltas_compare_eras_at_the_largest_budget_both_fill(spark, tables, tables_root):
    """Every domain gets a pre_ai -> post_ai row at the largest rung both eras fill
    (1,000 of [500, 1000, 2000] for a domain's 1,200 tokens per era, 2,000 for __all__'s
    2,400), templated post_ai text compresses better and repeats its 2-grams; no domain
    has attested text, so that comparison is a reason."""
    from tailguard.config import load_config

    cfg = load_config((), (f"output.root={tables_root}",))
    rows = read_table(spark, cfg, "metrics/diversity_deltas").toPandas()
    post = rows[rows.target == "post_ai"].set_index("domain")
    assert set(post.index) == {"d0.com", "d1.com", "__all__"}
    assert post.token_budget.to_dict() == {"d0.com": 1000, "d1.com": 1000, "__all__": 2000}
    assert post.reason.isna().all()
    assert (post.delta_compression_ratio > 0).all()
    assert (post.delta_distinct_ratio_n_2 < 0).all() and (post.delta_coverage < 0).all()
    attested = rows[rows.target == "attested"]
    assert attested.token_budget.isna().all()
    assert attested.reason.str.startswith("attested has 0 tokens").all()


def _table_files(root: Path, name: str) -> dict[str, list[bytes]]:
    """The bytes of a table's part files, per partition directory, in byte order (file
    names carry a random job id, so only their contents are compared)."""
    files: dict[str, list[bytes]] = {}
    for part in Path(root, "metrics", name).glob("scope=*/part-*"):
        files.setdefault(part.parent.name, []).append(part.read_bytes())
    return {scope: sorted(contents) for scope, contents in files.items()}


def test_same_input_writes_byte_identical_tables(spark, tmp_path, tables, tables_root):
    """A second run on the same tables and config (its writes and small steps run from
    several driver threads) writes the same bytes, partition by partition."""
    _measure(spark, tmp_path)
    for name in ("diversity", "tail_coverage", "rarefaction"):
        first, second = _table_files(tables_root, name), _table_files(tmp_path, name)
        assert {"scope=pre_ai", "scope=post_ai"} <= set(first)
        assert any(scope.startswith("scope=shards") for scope in first)
        assert first == second, name


def test_dates_run_writes_what_a_full_run_writes(spark, tables, tables_root):
    """`--dates` does not restrict the samples (a new date may enter any sample whose
    prefix its keys fall into): on unchanged tables a run with dates writes the same."""
    from tailguard.config import load_config

    names = ("diversity", "tail_coverage", "rarefaction", "diversity_deltas")
    before = {name: _table_files(tables_root, name) for name in names}
    cfg = load_config((), (f"output.root={tables_root}", *TEST_OVERRIDES))
    run(SimpleNamespace(cfg=cfg, spark=spark, dates=[dt.date(2023, 1, 1)],
                        options=SimpleNamespace(scope="eras")))
    for name in names:
        assert _table_files(tables_root, name) == before[name], name


def test_the_band_is_refitted_only_when_the_reference_changes(spark, tmp_path, caplog):
    """A second run on the same reference reads the band back (the same keys, no pass
    over text); `diversity.refresh_band` refits it, to the same keys; a new pre-AI
    document changes the reference's fingerprint, and the band is refitted."""
    import logging

    from tailguard.config import load_config

    _measure(spark, tmp_path)
    cfg = load_config((), (f"output.root={tmp_path}", *TEST_OVERRIDES))
    first = sorted(r.key for r in read_table(spark, cfg, "tail_concepts").collect())
    fit = read_table(spark, cfg, "tail_fit").first()
    assert fit.concepts == len(first) > 0 and 0 < fit.reference_docs < 40  # half the clusters
    for sets, refit in (((), False), (("diversity.refresh_band=true",), True)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tailguard.diversity.job"):
            run(SimpleNamespace(cfg=cfg.with_overrides(*sets), spark=spark, dates=None,
                                options=SimpleNamespace(scope="eras")))
        assert ("tail band reused" in caplog.text) != refit
        assert sorted(r.key for r in read_table(spark, cfg, "tail_concepts").collect()) == first
    from tailguard.diversity.job import defines_tail

    raw = spark.read.parquet(cfg.table_path("provenance"))  # the hand-made columns only
    prov = raw.withColumn("half", defines_tail(1)).toPandas()
    moved = prov[prov.doc_id.str.startswith("s") & prov.half].doc_id.iloc[0]
    prov.loc[prov.doc_id == moved, "era"] = "pre_ai"  # one more reference document
    prov = prov.drop(columns="half")
    write_table(spark.createDataFrame(prov, raw.schema), cfg, "provenance")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tailguard.diversity.job"):
        run(SimpleNamespace(cfg=cfg, spark=spark, dates=None,
                            options=SimpleNamespace(scope="eras")))
    assert "tail band reused" not in caplog.text
    assert read_table(spark, cfg, "tail_fit").first().reference_docs == fit.reference_docs + 1


def _write_crawl(spark, cfg, rows):
    write_table(spark.createDataFrame([(d, dom, c, t, len(words(t))) for d, _, dom, c, t in rows],
                                      "doc_id string, domain string, crawl_date date, "
                                      "text string, n_words int"), cfg, "docs")
    write_table(spark.createDataFrame([(d, d, c, e, True, dom) for d, e, dom, c, _ in rows],
                                      "doc_id string, cluster_id string, crawl_date date, "
                                      "era string, is_canonical boolean, domain string"),
                cfg, "provenance")
    write_table(_signatures(spark, rows), cfg, "signatures", partition_by="crawl_date")


def test_a_new_date_measures_only_the_samples_it_changes(spark, tmp_path, caplog):
    """A crawl grows by one post-AI date of one domain. The run after it keeps every
    sample the date does not touch and measures only the ones it does, and it leaves
    byte for byte the tables of a run that measures everything."""
    import logging
    import re

    from tailguard.config import load_config

    rng = np.random.default_rng(7)
    new = [(f"n{i}", "post_ai", "d1.com", dt.date(2023, 3, 1),
            " ".join(rng.choice(VOCAB, size=60))) for i in range(12)]
    roots = {"daily": tmp_path / "daily", "full": tmp_path / "full"}
    cfgs = {k: load_config((), (f"output.root={v}", *TEST_OVERRIDES)) for k, v in roots.items()}
    ctx = SimpleNamespace(spark=spark, dates=[dt.date(2023, 3, 1)],
                          options=SimpleNamespace(scope="eras"))
    _write_crawl(spark, cfgs["daily"], _docs())
    run(SimpleNamespace(**vars(ctx), cfg=cfgs["daily"]))  # yesterday's run
    _write_crawl(spark, cfgs["daily"], _docs() + new)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tailguard.diversity.job"):
        run(SimpleNamespace(**vars(ctx), cfg=cfgs["daily"]))
    measured, unchanged = map(int, re.search(
        r"measuring (\d+) \(document, run\) rows.*?(\d+) samples unchanged", caplog.text).groups())
    _write_crawl(spark, cfgs["full"], _docs() + new)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tailguard.diversity.job"):
        run(SimpleNamespace(**vars(ctx), cfg=cfgs["full"].with_overrides(
            "diversity.reuse_samples=false")))
    everything = int(re.search(r"measuring (\d+) \(document, run\)", caplog.text).group(1))
    assert unchanged > 0 and 0 < measured < everything / 2, (measured, unchanged, everything)
    for name in ("diversity", "tail_coverage", "rarefaction", "diversity_deltas"):
        assert _table_files(roots["daily"], name) == _table_files(roots["full"], name), name


def test_selection_windows_follow_the_ladder_rule(spark):
    """`select.sampled_rows` on small rows equals `ladder.prefix_members` applied to each
    group in okey order: per domain, per month, per replicate and across domains, where
    the cross-domain candidates stop at the first document past the largest rung in any
    domain (here a huge document early in one domain, and a zero-word one)."""
    from tailguard.diversity import select
    from tailguard.diversity.ladder import prefix_members, replicate_rungs

    rng = np.random.default_rng(4)
    budgets, reps = (50, 100, 200), 3
    rows = []
    for i in range(300):
        domain = None if i % 17 == 0 else f"x{i % 5}.com"
        words_ = 0 if i == 7 else int(rng.integers(1, 30))
        rows.append((f"d{i}", dt.date(2021, 1, 1), ("pre_ai", "post_ai")[i % 2], domain,
                     ("pre_ai", "post_ai")[i % 2], f"2021-0{1 + i % 3}", words_,
                     int(rng.integers(-2**62, 2**62)), bool(i % 4)))
    rows.append(("huge", dt.date(2021, 1, 1), "pre_ai", "x1.com", "pre_ai", "2021-01", 500,
                 -2**62 - 5, False))
    small = spark.createDataFrame(rows, "doc_id string, crawl_date date, scope string, "
                                  "domain string, era string, month string, n_words long, "
                                  "okey long, defines_tail boolean")
    got = {(r.doc_id, r.domain): (r.whole_top, r.month_top, r.rep_top) for r in
           select.sampled_rows(small, budgets, reps, 100, 25).collect()}
    ordered = sorted(rows, key=lambda r: (r[7], r[0]))
    expected: dict = {}

    def mark(members, key, slot, rungs):
        top, inside = prefix_members([m[6] for m in members], rungs)
        for m, yes in zip(members, inside, strict=True):
            if yes:
                expected.setdefault((m[0], key(m)), [None, None, None])[slot] = top
    for scope in ("pre_ai", "post_ai"):
        mine = [r for r in ordered if r[2] == scope]
        mark(mine, lambda m: "__all__", 0, budgets)
        for month in {r[5] for r in mine}:
            mark([r for r in mine if r[5] == month], lambda m: "__all__", 1, budgets)
        for domain in {r[3] for r in mine}:
            own = [r for r in mine if r[3] == domain]
            mark(own, lambda m: m[3], 0, budgets)
            for month in {r[5] for r in own}:
                mark([r for r in own if r[5] == month], lambda m: m[3], 1, budgets)
            for k in range(reps):
                mark([r for r in own if r[7] % reps == k], lambda m: m[3], 2,
                     replicate_rungs(budgets, 100, 25))
    assert got == {k: tuple(v) for k, v in expected.items()}
    assert any(d == "__all__" for _, d in got) and ("huge", "x1.com") not in got
