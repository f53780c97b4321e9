"""The provenance job on tiny docs tables: eras, duplicates, accuracy, incremental runs."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tailguard.cli import JobContext
from tailguard.dedup.minhash import shingles
from tailguard.io.tables import read_table, write_partitions
from tailguard.provenance.job import run
from tailguard.text.lines import line_key
from tailguard.text.tokenize import words

D = dt.date
CUTOFF = D(2022, 11, 30)


def _write_docs(spark, cfg, rows):
    """rows: (doc_id, domain, crawl_date, text[, path]) -> a docs table as ingest would
    write it; the url is https://domain/path (path defaults to the doc_id)."""
    rows = [(*row, row[0]) if len(row) == 4 else row for row in rows]
    df = spark.createDataFrame(
        rows, "doc_id string, domain string, crawl_date date, text string, path string")
    docs = df.select(
        "doc_id", F.concat(F.lit("https://"), "domain", F.lit("/"), "path").alias("url"),
        F.col("domain").alias("host"), "domain", "crawl_date",
        F.lit("part-0.jsonl").alias("source_file"), "text",
        F.length("text").alias("n_chars"), F.size(F.split("text", " ")).alias("n_words"),
        F.xxhash64("text").alias("content_hash"), F.lit(None).cast("string").alias("lang"))
    write_partitions(docs, cfg, "docs")


def _run(spark, cfg, dates=None):
    ctx = JobContext(cfg=cfg, dates=dates)
    ctx.__dict__["spark"] = spark  # the shared test session (cached_property slot)
    run(ctx)
    return read_table(spark, cfg, "provenance")


def _text(rng, n=80):
    return " ".join(f"v{i}" for i in rng.integers(0, 20000, n))


def test_eras_boundaries_duplicates_and_empty_rows(spark, make_cfg):
    rng = np.random.default_rng(1)
    old, fresh, lone = _text(rng), _text(rng), _text(rng)
    wrapped = "Home | Login " + old + " Cookie policy"
    rows = [
        ("a1", "a.com", D(2022, 11, 29), old),          # pre-cutoff original
        ("a2", "b.com", CUTOFF, old),                   # exact re-crawl on the cutoff day
        ("a3", "c.com", D(2023, 5, 1), wrapped),        # boilerplate-wrapped re-crawl
        ("f1", "a.com", CUTOFF, fresh),                 # new text on the cutoff day
        ("f2", "b.com", D(2023, 1, 1), fresh),
        ("s1", "a.com", D(2021, 1, 1), lone),
        ("e1", "a.com", D(2023, 1, 1), ""),
        ("e2", "b.com", D(2023, 1, 1), ""),
        ("n1", "a.com", D(2023, 1, 1), None),
    ]
    cfg = make_cfg()
    _write_docs(spark, cfg, rows)
    got = _run(spark, cfg).select("doc_id", "cluster_id", "first_seen", "era", "is_canonical",
                                  "dup_kind")
    expected = spark.createDataFrame([
        ("a1", "a1", D(2022, 11, 29), "pre_ai", True, "exact"),
        ("a2", "a1", D(2022, 11, 29), "attested", False, "exact"),
        ("a3", "a1", D(2022, 11, 29), "attested", False, "near"),
        ("f1", "f1", CUTOFF, "post_ai", True, "exact"),
        ("f2", "f1", CUTOFF, "post_ai", False, "exact"),
        ("s1", "s1", D(2021, 1, 1), "pre_ai", True, "none"),
        ("e1", "e1", D(2023, 1, 1), "post_ai", True, "none"),
        ("e2", "e2", D(2023, 1, 1), "post_ai", True, "none"),
        ("n1", "n1", D(2023, 1, 1), "post_ai", True, "none"),
    ], "doc_id string, cluster_id string, first_seen date, era string, is_canonical boolean, "
       "dup_kind string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    sigs = read_table(spark, cfg, "signatures")
    assert dict(sigs.dtypes)["signature"] == "binary"
    assert len(sigs.where("doc_id = 'a1'").first().signature) == 128 * 4
    assert sigs.where("doc_id in ('e1', 'e2', 'n1')").count() == 0


def _mutate(rng, tokens, rate):
    out = list(tokens)
    for i in np.flatnonzero(rng.random(len(out)) < rate):
        out[i] = f"x{rng.integers(0, 10**9)}"
    return out


def _planted_corpus(seed=7, bases=60, length=150):
    """Bases plus variants at edit rates that put Jaccard on both sides of 0.8."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(bases):
        tokens = [f"v{i}" for i in rng.integers(0, 50000, length)]
        rows.append((f"b{b:03d}", "base.org", D(2022, 1, 1), " ".join(tokens)))
        rate = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05][b % 6]
        rows.append((f"m{b:03d}", "copy.org", D(2023, 1, 1), " ".join(_mutate(rng, tokens, rate))))
    return rows


def _jaccard(a, b):
    sa, sb = set(shingles(words(a), 5)), set(shingles(words(b), 5))
    return len(sa & sb) / len(sa | sb)


def test_near_duplicate_pairs_precision_and_recall(spark, make_cfg):
    rows = _planted_corpus()
    cfg = make_cfg()
    _write_docs(spark, cfg, rows)
    prov = _run(spark, cfg).select("doc_id", "cluster_id").collect()  # tiny test table
    cluster = {r.doc_id: r.cluster_id for r in prov}
    truth, found = set(), set()
    for (ida, _, _, ta), (idb, _, _, tb) in itertools.combinations(rows, 2):
        if _jaccard(ta, tb) >= 0.8:
            truth.add((ida, idb))
        if cluster[ida] == cluster[idb]:
            found.add((ida, idb))
    assert len(truth) >= 30
    precision = len(truth & found) / len(found)
    recall = len(truth & found) / len(truth)
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.90, (precision, recall)


def test_incremental_runs_equal_a_full_run(spark, make_cfg, tmp_path):
    rng = np.random.default_rng(3)
    texts = [_text(rng, 60) for _ in range(8)]
    dates = [D(2022, 10, 1), D(2022, 12, 1), D(2023, 1, 1)]
    rows = []
    for i, text in enumerate(texts):           # copies and variants spread over the dates
        for k, day in enumerate(dates):
            if (i + k) % 3 != 2:
                body = text if k == 0 else text + (f" extra{k}" if i % 2 else "")
                rows.append((f"t{i}-{k}", f"d{i % 3}.com", day, body))
    rows += [(f"hub{k}", "hub.com", dates[k % 3], texts[0]) for k in range(6)]  # big bucket
    rows += [("empty", "e.com", dates[1], ""), ("null", "e.com", dates[2], None)]
    sets = ("dedup.max_bucket_size=3",)
    full_cfg = make_cfg(*sets, f"output.root={tmp_path / 'full'}")
    inc_cfg = make_cfg(*sets, f"output.root={tmp_path / 'inc'}")
    _write_docs(spark, full_cfg, rows)
    _write_docs(spark, inc_cfg, rows)
    full = _run(spark, full_cfg)
    for day in dates:
        incremental = _run(spark, inc_cfg, [day])
    assert full.where("dup_kind != 'none'").count() >= 20
    assert_df_equality(incremental, full, ignore_row_order=True)
    assert_df_equality(read_table(spark, inc_cfg, "lsh_edges"),
                       read_table(spark, full_cfg, "lsh_edges"), ignore_row_order=True)
    # re-running a date is idempotent
    assert_df_equality(_run(spark, inc_cfg, [dates[1]]), full, ignore_row_order=True)


SHARE = "Share this: Twitter Facebook Email"
FOOTER = "Posted in Uncategorized | Leave a comment"


WELCOME = "Welcome to small.com"
SMALL_FOOTER = "Copyright 2019 small.com. All rights reserved."


def _site_rows(rng):
    """a.com wraps every page in two furniture lines; its 6 pages are spread over three
    dates, so the lines reach 5 pages (boilerplate_min_repeats) only with the last one.
    A short b.com page from before the cutoff is re-published on a.com after it.
    Small sites (fewer pages than boilerplate_min_repeats): small.com has two lines of
    its own on its first two pages, so both are its boilerplate after the second date;
    its third page, a copy of c.com's short page, has only the footer: the welcome line
    goes back to content (on two of three pages), the footer stays furniture. two.com
    re-publishes its page at a new URL with an edit: only their short shared line goes,
    the paragraphs stay, so the two still meet (were every shared line furniture, each
    would keep only its edited paragraph). one.com is one URL crawled twice, a list of
    short lines whose update line changed: a site of one URL is no small site, so nothing
    goes and the versions meet (as a site of two pages, every line but the update would
    be furniture)."""
    short = "The harbour bridge reopened to traffic on Monday after repairs."
    rows = [("orig", "b.com", D(2022, 1, 1), short)]
    dates = [D(2022, 1, 1), D(2022, 6, 1), D(2023, 3, 1)]
    for k in range(5):
        body = _text(rng, 40)
        rows.append((f"page{k}", "a.com", dates[k // 2], f"{SHARE}\n{body}\n{FOOTER}"))
    rows.append(("copy", "a.com", dates[2], f"{SHARE}\n{short}\n{FOOTER}"))
    rows.append(("blank", "a.com", dates[2], ""))
    quote = "The council said the new timetable would add two trains an hour from May."
    rows.append(("sorig", "c.com", dates[0], quote))
    for k in range(2):
        rows.append((f"small{k}", "small.com", dates[k],
                     f"{WELCOME}\n{_text(rng, 40)}\n{SMALL_FOOTER}"))
    rows.append(("scopy", "small.com", dates[2], f"{quote}\n{SMALL_FOOTER}"))
    paragraphs = [_text(rng, 30) for _ in range(3)]
    edited = [paragraphs[0], paragraphs[1].replace(paragraphs[1].split()[3], "changed"),
              paragraphs[2]]
    rows.append(("article", "two.com", dates[0], "\n".join(["Welcome to two.com",
                                                             *paragraphs])))
    rows.append(("moved", "two.com", dates[2], "\n".join(["Welcome to two.com", *edited])))
    items = [" ".join(f"item{k} w{j}" for j in range(4)) for k in range(8)]
    rows.append(("v1", "one.com", dates[1], "\n".join([*items, "Updated 2022-06-01"]),
                 "list"))
    rows.append(("v2", "one.com", dates[2],
                 "\n".join([*items, "Updated 2023-03-01 | 2 comments"]), "list"))
    return rows, dates


def test_a_short_page_republished_between_boilerplate_lines_is_attested(spark, make_cfg):
    rows, _ = _site_rows(np.random.default_rng(8))
    cfg = make_cfg()
    _write_docs(spark, cfg, rows)
    era = {r.doc_id: (r.era, r.cluster_id) for r in _run(spark, cfg).collect()}
    assert era["copy"] == ("attested", "orig")
    assert era["scopy"] == ("attested", "sorig")
    assert era["moved"] == ("attested", "article")
    assert era["v2"] == ("attested", "v1")
    assert {era[f"page{k}"][0] for k in range(5)} <= {"pre_ai", "post_ai"}
    # a.com's two lines, small.com's footer (on 3 pages: the small-site rule's) and
    # two.com's welcome line
    keys = {r.line_key for r in read_table(spark, cfg, "boilerplate").collect()}
    small = spark.range(1).select(F.xxhash64(F.lit("small.com")).alias("s")).first().s
    footer = int(np.uint64(line_key(words(SMALL_FOOTER), small)).view(np.int64))
    assert len(keys) == 4 and footer in keys
    # without the boilerplate rule the copy is a different page (3 lines, ~60% furniture)
    off = make_cfg("dedup.boilerplate_scope=none", f"output.root={cfg.get('output.root')}-off")
    _write_docs(spark, off, rows)
    got = {r.doc_id: r.era for r in _run(spark, off).collect()}
    assert got["copy"] == got["scopy"] == "post_ai"


def test_incremental_runs_refingerprint_dates_whose_lines_became_boilerplate(spark, make_cfg,
                                                                              tmp_path):
    rows, dates = _site_rows(np.random.default_rng(9))
    full_cfg = make_cfg(f"output.root={tmp_path / 'full'}")
    inc_cfg = make_cfg(f"output.root={tmp_path / 'inc'}")
    _write_docs(spark, full_cfg, rows)
    _write_docs(spark, inc_cfg, rows)
    full = _run(spark, full_cfg)
    for day in dates:
        incremental = _run(spark, inc_cfg, [day])
    assert_df_equality(incremental, full, ignore_row_order=True)
    for table in ("signatures", "lsh_edges", "boilerplate"):
        assert_df_equality(read_table(spark, inc_cfg, table), read_table(spark, full_cfg, table),
                           ignore_row_order=True)
    assert incremental.where("doc_id = 'copy'").first().era == "attested"
    assert incremental.where("doc_id = 'scopy'").first().era == "attested"


def test_small_sites_have_two_urls_and_two_to_min_repeats_minus_one_pages(spark):
    from tailguard.dedup.boilerplate import small_sites

    docs = spark.createDataFrame(
        [("a.com", "u1", 1), ("a.com", "u2", 2), ("a.com", "u2", 2),  # 2 URLs, 2 pages
         ("b.com", "u1", 1), ("b.com", "u1", 2),                      # one URL, 2 versions
         ("c.com", "x", 1), ("c.com", "y", 1),                        # 2 URLs, one page
         *[("d.com", f"p{k}", k) for k in range(5)],                  # 5 pages: min_repeats
         (None, None, None)],
        "domain string, url string, content_hash long")
    expected = spark.createDataFrame([("a.com", 2)], "domain string, pages long").select(
        F.xxhash64(F.coalesce("domain", F.lit(""))).alias("site"), "pages")
    assert_df_equality(small_sites(docs, "domain+global", 5), expected, ignore_nullable=True)


def test_a_dates_run_with_other_dedup_parameters_fails_naming_the_parameter(spark, make_cfg):
    import pytest

    from tailguard.dedup.state import StateMismatch

    rng = np.random.default_rng(4)
    rows = [(f"r{i}", "a.com", D(2022, 1 + i, 1), _text(rng)) for i in range(3)]
    cfg = make_cfg()
    _write_docs(spark, cfg, rows)
    _run(spark, cfg)
    _run(spark, cfg, [D(2022, 2, 1)])  # same parameters: fine
    root = cfg.get("output.root")
    for change, named in [("dedup.shingle_size=4", "dedup.shingle_size=5"),
                          ("dedup.num_perm=64", "dedup.num_perm=128"),
                          ("dedup.threshold=0.7", "dedup.threshold=0.8"),
                          ("dedup.false_positive_weight=0.5", "lsh.bands_x_rows=16x8"),
                          ("dedup.boilerplate_scope=global", "dedup.boilerplate_scope=domain"),
                          ("dedup.boilerplate_min_repeats=3",
                           "dedup.boilerplate_min_repeats=5"),
                          ("dedup.boilerplate_small_site_max_words=0",
                           "dedup.boilerplate_small_site_max_words=12")]:
        other = make_cfg(change, *(["dedup.false_negative_weight=0.5"]
                                   if "positive" in change else []), f"output.root={root}")
        with pytest.raises(StateMismatch, match=named.replace(".", r"\.")) as failure:
            _run(spark, other, [D(2022, 2, 1)])
        assert "\n" not in str(failure.value) and "without --dates" in str(failure.value)
    signatures = read_table(spark, cfg, "signatures").collect()
    _run(spark, make_cfg("dedup.shingle_size=4", f"output.root={root}"))  # a full run rebuilds
    assert read_table(spark, cfg, "signatures").collect() != signatures
    with pytest.raises(StateMismatch, match="dedup.shingle_size=4"):
        _run(spark, cfg, [D(2022, 2, 1)])
