"""Acceptance of issue 19 on real text: a crawl of short real pages (human text of
../shared/data/detector, never copied into the repo) on sites that wrap every page in
their own furniture lines, with pre-AI pages re-published after the cutoff between
another site's lines (on big sites, on two-page sites, on their own site), LLM rewrites
of pre-AI pages, edited copies, and post-AI pages that quote a pre-AI page among LLM text.

Judged independently of MinHash: the truth is what this file planted (which lines are
furniture, which page copies which), and near-duplicate pairs are checked against the
exact word-5-gram Jaccard of the furniture-free text."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from shared_data import SHARED_DATA
from tailguard.cli import JobContext
from tailguard.io import ingest
from tailguard.io.tables import read_table
from tailguard.provenance.job import run as provenance_run
from tailguard.text.tokenize import words

DATA = SHARED_DATA
pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

PRE_DATES = (dt.date(2021, 6, 1), dt.date(2022, 3, 1), dt.date(2022, 9, 1))
POST_DATES = (dt.date(2023, 1, 1), dt.date(2023, 6, 1))
# Each site is its own registrable domain (so `domain` scope counts per site).
# Site furniture: the two lines, WordPress lines many sites share, and lines that
# name their site (so they repeat only within it).
COMMON = ("Share this: Twitter Facebook Email", "Posted in Uncategorized | Leave a comment",
          "Skip to content", "Like this: Like Loading...", "Leave a Reply Cancel reply",
          "Related posts", "Search for:", "Powered by WordPress")
OWN = ("Copyright © {year} {site}. All rights reserved.", "Welcome to {site}",
       "{site} | Home | About | Contact", "Subscribe to the {site} newsletter",
       "Filed under {site} stories", "More from {site} »")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NORM = re.compile(r"[^a-z0-9]+")


def _rows():
    rows = []
    for name in ("train.jsonl", "valid.jsonl"):
        with open(DATA / name, encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines]
    return rows


def _sites(rng, n=24, prefix="site"):
    sites = []
    for i in range(n):
        name = f"{prefix}{i}.{('com', 'org', 'net')[i % 3]}"
        own = [OWN[j].format(site=name, year=2015 + i % 7)
               for j in rng.choice(len(OWN), 2, replace=False)]
        common = [COMMON[j] for j in rng.choice(len(COMMON), 2, replace=False)]
        head, foot = [common[0]], [common[1]]
        if rng.random() < 0.5:
            head.insert(0, own[0])
        if rng.random() < 0.5:
            foot.append(own[1])
        sites.append((name, head, foot))
    return sites


def _short_page(text: str, rng) -> list[str]:
    """The first sentences of a real text past ~55 words (log-normal; median page ~80),
    as paragraph lines of 1-3 sentences; 4% are captions of 2-4 words (shorter than the
    shingle window)."""
    flat = " ".join(text.split())
    if rng.random() < 0.04:
        return [" ".join(flat.split()[:int(rng.integers(2, 5))])]
    return _paragraph_lines(flat, int(np.clip(rng.lognormal(np.log(55), 0.6), 8, 400)), rng)


def _reflowed(body: list[str], rng) -> list[str]:
    """The same words re-published with other line breaks, spaces and apostrophes."""
    flat = " ".join(body).split()
    cuts = sorted(set(rng.integers(1, max(2, len(flat)), int(rng.integers(0, 3)))))
    parts = [" ".join(flat[a:b]) for a, b in zip([0, *cuts], [*cuts, len(flat)], strict=True)]
    return [p.replace("'", "\u2019").replace(" ", "  ", 1) for p in parts if p]


def _edited(body: list[str], rate: float, rng, donors: list[str]) -> list[str]:
    out = []
    for line in body:
        tokens = line.split()
        for i in np.flatnonzero(rng.random(len(tokens)) < rate):
            tokens[i] = donors[int(rng.integers(0, len(donors)))]
        out.append(" ".join(tokens))
    return out


def _paragraph_lines(text: str, n_words: int, rng) -> list[str]:
    """The first sentences of a text past `n_words` words, as paragraph lines of 1-3
    sentences."""
    lines, line, count = [], [], 0
    for sentence in _SENTENCE.split(" ".join(text.split())):
        line.append(sentence)
        count += len(sentence.split())
        if len(line) >= int(rng.integers(1, 4)):
            lines.append(" ".join(line))
            line = []
        if count >= n_words:
            break
    return lines + ([" ".join(line)] if line else [])


def _crawl(seed=19, small_sites=150, single_sites=0):
    """Records (url, crawl_date, site index, kind, body lines) and the sites.

    `small_sites`: how many two-page sites re-publish a big site's page (150 here; the
    BENCHMARKS.md variant takes 300); `single_sites`: sites whose only page is such a copy
    (none here: a site of one page cannot tell its own furniture by repetition; the
    variant measures them)."""
    rng = np.random.default_rng(seed)
    rows = _rows()
    human = [r for r in rows if r["label"] == "human"]
    paired_sources = [r for r in human if r["source"] != "DetectRL"]  # M4 and Glimpse
    glimpse = {_NORM.sub("", r["text"].lower())[:60] for r in paired_sources
               if r["source"].startswith("Fast")}
    rewrites = [r for r in rows if r["label"] == "synthetic" and (
        r["source"] == "M4" or _NORM.sub("", r["text"].lower())[:60] in glimpse)]
    others = [human[i] for i in rng.permutation(len(human)) if human[i]["source"] == "DetectRL"]
    donors = [w for r in others[:200] for w in r["text"].split()]
    sites = _sites(rng)
    records = []

    def add(kind, body, dates, source=None, site=None):
        site = int(rng.integers(0, len(sites))) if site is None else site
        day = dates[int(rng.integers(0, len(dates)))]
        url = f"https://{sites[site][0]}/{day:%Y/%m}/{kind}-{len(records)}"
        records.append({"url": url, "date": day, "site": site, "kind": kind, "body": body,
                        "source": source})
        return len(records) - 1

    originals = [add("original", _short_page(r["text"], rng), PRE_DATES)
                 for r in others[:1500]]
    for r in paired_sources:  # the pages the LLM rows rewrite, whole, before the cutoff
        add("paired_human", [" ".join(p.split()) for p in r["text"].split("\n") if p.strip()],
            PRE_DATES)
    for i in rng.choice(originals, 500, replace=False):
        body = records[i]["body"]
        add("republished", _reflowed(body, rng) if rng.random() < 0.3 else list(body),
            POST_DATES, source=int(i))
    long_enough = [i for i in originals if len(" ".join(records[i]["body"]).split()) >= 40]
    for i in rng.choice(long_enough, 300, replace=False):
        add("edited", _edited(records[i]["body"], rng.uniform(0.0, 0.08), rng, donors),
            POST_DATES, source=int(i))
    for r in [rewrites[i] for i in rng.permutation(len(rewrites))[:800]]:
        add("rewrite", [" ".join(p.split()) for p in r["text"].split("\n") if p.strip()],
            POST_DATES)
    for r in others[1500:1800]:
        add("new", _short_page(r["text"], rng), POST_DATES)
    # small sites: one pre-AI page of their own and one copy of a big site's page, so no
    # line of theirs repeats on the min_repeats pages of the domain rule; and pages
    # syndicated to six big sites
    big = len(sites)
    sites.extend(_sites(rng, small_sites, prefix="small"))
    for k, i in enumerate(rng.choice(originals, small_sites, replace=False)):
        add("small_own", _short_page(others[1800 + k]["text"], rng), PRE_DATES, site=big + k)
        add("republished_small", list(records[i]["body"]), POST_DATES, source=int(i),
            site=big + k)
    for i in rng.choice(originals, 30, replace=False):
        for site in rng.choice(big, 6, replace=False):
            add("syndicated", list(records[i]["body"]), POST_DATES, source=int(i),
                site=int(site))
    fresh = iter(others[1800 + small_sites:])
    # the same page re-published after the cutoff on its own site, at a new URL: on a big
    # site, and on two-page sites (the page and its re-publication, reflowed)
    for i in rng.choice(originals, 60, replace=False):
        body = records[i]["body"]
        add("same_site", _reflowed(body, rng) if rng.random() < 0.5 else list(body),
            POST_DATES, source=int(i), site=records[i]["site"])
    for _ in range(50):
        sites.extend(_sites(rng, 1, prefix=f"smallr{len(sites)}-"))
        own = add("small_page", _short_page(next(fresh)["text"], rng), PRE_DATES,
                  site=len(sites) - 1)
        add("small_same_site", _reflowed(records[own]["body"], rng), POST_DATES,
            source=own, site=len(sites) - 1)
    # post-AI pages that quote a pre-AI page (whole, or one paragraph of it) among at
    # least as many words of LLM text: they carry pre-AI text but are not that page
    llm = [r for r in rows if r["label"] == "synthetic" and r["source"] == "DetectRL"]
    llm = [llm[i] for i in rng.permutation(len(llm))]
    quotable = [i for i in originals if 20 <= len(words("\n".join(records[i]["body"]))) <= 150]
    for k, i in enumerate(rng.choice(quotable, 100, replace=False)):
        body = records[i]["body"]
        whole = k % 2 == 0 or len(body) == 1
        quote = list(body) if whole else [max(body, key=len)]
        text = _paragraph_lines(llm[2 * k]["text"] + " " + llm[2 * k + 1]["text"],
                          int(len(" ".join(quote).split()) * rng.uniform(1.0, 2.0)) + 10, rng)
        cut = int(rng.integers(0, len(text) + 1))
        site = None
        if k >= 60:  # 40 on two-page sites of their own, beside a pre-AI page
            sites.extend(_sites(rng, 1, prefix=f"smallq{len(sites)}-"))
            site = len(sites) - 1
            add("small_page", _short_page(next(fresh)["text"], rng), PRE_DATES, site=site)
        add("quote_whole" if whole else "quote_paragraph", [*text[:cut], *quote, *text[cut:]],
            POST_DATES, source=int(i), site=site)
    for k, i in enumerate(rng.choice(originals, single_sites, replace=False)):
        sites.extend(_sites(rng, 1, prefix=f"single{k}-"))
        add("republished_single", list(records[i]["body"]), POST_DATES, source=int(i),
            site=len(sites) - 1)
    return records, sites


def _write_crawl(root: Path, records, sites) -> None:
    by_date = {}
    for rec in records:
        _, head, foot = sites[rec["site"]]
        text = "\n".join([*head, *rec["body"], *foot])
        by_date.setdefault(rec["date"], []).append({"url": rec["url"], "text": text})
    for day, rows in by_date.items():
        part = root / f"crawl_date={day.isoformat()}"
        part.mkdir(parents=True)
        with open(part / "part-0.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _shingle_set(body: list[str], size=5) -> set[tuple[str, ...]]:
    tokens = words("\n".join(body))
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


@pytest.fixture(scope="module")
def real_crawl(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-crawl")
    records, sites = _crawl()
    _write_crawl(root / "crawl", records, sites)
    from tailguard.config import load_config

    cfg = load_config([], [f"input.path={root / 'crawl'}", f"output.root={root / 'tables'}",
                           "spark.master=local[2]",
                           "spark.conf.spark.sql.shuffle.partitions=2"])
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    ingest.run(ctx)
    provenance_run(ctx)
    docs = read_table(spark, cfg, "docs").select("doc_id", "url", "crawl_date")
    prov = read_table(spark, cfg, "provenance").select("doc_id", "crawl_date", "era",
                                                       "cluster_id")
    joined = docs.join(prov, on=["doc_id", "crawl_date"], how="inner").collect()
    by_url = {r.url: r for r in joined}
    edges = read_table(spark, cfg, "lsh_edges").select("src", "dst").distinct().collect()
    return records, by_url, [(r.src, r.dst) for r in edges]


def test_short_real_pages_republished_between_boilerplate_are_attested(real_crawl):
    records, by_url, _ = real_crawl
    republished = [r for r in records if r["kind"] == "republished"]
    attested = [by_url[r["url"]].era == "attested" for r in republished]
    short = [r for r in republished if len(words("\n".join(r["body"]))) < 5]
    assert len(republished) == 500 and short  # captions shorter than the shingle window
    assert all(by_url[r["url"]].era == "attested" for r in short)
    assert np.mean(attested) >= 0.98, np.mean(attested)
    pre = [r for r in records if r["date"] < dt.date(2022, 11, 30)]
    assert {by_url[r["url"]].era for r in pre} == {"pre_ai"}


def test_copies_on_small_sites_and_syndicated_copies_are_attested(real_crawl):
    """A site of two pages cannot tell its furniture by the min_repeats count. The short
    lines it shares with other sites (`domain+global`) go; its own ("Welcome to
    small3.com") go because they are on every page of the site (small-site rule; without
    it 0.867 here). Syndicated pages repeat across domains like furniture and must still
    be attested (`global` scope: 0.55 on a 300-site variant)."""
    records, by_url, _ = real_crawl
    small = [by_url[r["url"]].era for r in records if r["kind"] == "republished_small"]
    assert len(small) == 150
    assert np.mean([e == "attested" for e in small]) >= 0.98, Counter(small)
    syndicated = [by_url[r["url"]].era for r in records if r["kind"] == "syndicated"]
    assert len(syndicated) == 180 and Counter(syndicated) == {"attested": 180}
    own = [by_url[r["url"]].era for r in records if r["kind"] in ("small_own", "small_page")]
    assert Counter(own) == {"pre_ai": 150 + 50 + 40}


def test_a_page_republished_on_its_own_site_is_attested(real_crawl):
    """At a new URL after the cutoff, on a big site or reflowed on a two-page site (where
    the small-site rule drops the short lines both pages share, furniture and headings
    alike, and the paragraphs still meet)."""
    records, by_url, _ = real_crawl
    for kind, count in (("same_site", 60), ("small_same_site", 50)):
        eras = [by_url[r["url"]].era for r in records if r["kind"] == kind]
        assert len(eras) == count
        assert np.mean([e == "attested" for e in eras]) >= 0.98, (kind, Counter(eras))


def test_a_post_ai_page_quoting_a_pre_ai_page_among_llm_text_is_not_attested(real_crawl):
    """The page carries all of a pre-AI page's text (or one paragraph of it), but at
    least as many words are LLM text: it is not that page, whatever the site. The plant
    is checked on the furniture-free text: the source is contained whole, Jaccard < 0.8."""
    records, by_url, _ = real_crawl
    quotes = [r for r in records if r["kind"] in ("quote_whole", "quote_paragraph")]
    assert len(quotes) == 100 and sum(r["kind"] == "quote_whole" for r in quotes) >= 40
    for r in quotes:
        page, source = _shingle_set(r["body"]), _shingle_set(records[r["source"]]["body"])
        assert len(page & source) / len(page | source) < 0.8
        if r["kind"] == "quote_whole":
            assert source <= page
    eras = Counter(by_url[r["url"]].era for r in quotes)
    assert eras == {"post_ai": 100}, eras


def test_llm_rewrites_of_pre_ai_pages_are_never_attested(real_crawl):
    records, by_url, _ = real_crawl
    rewrites = [r for r in records if r["kind"] == "rewrite"]
    assert len(rewrites) == 800
    wrongly = [r["url"] for r in rewrites if by_url[r["url"]].era == "attested"]
    assert wrongly == []
    new = [r for r in records if r["kind"] == "new" and len(words("\n".join(r["body"]))) >= 5]
    assert Counter(by_url[r["url"]].era for r in new) == {"post_ai": len(new)}


def test_near_duplicate_pairs_are_precise_on_the_furniture_free_text(real_crawl):
    records, by_url, edges = real_crawl
    body_of = {}
    for rec in records:
        row = by_url[rec["url"]]
        body_of.setdefault(row.doc_id, rec["body"])  # one doc_id: one text
    sets = {doc: _shingle_set(body) for doc, body in body_of.items()}

    def jaccard(a, b):
        sa, sb = sets[a], sets[b]
        return len(sa & sb) / len(sa | sb) if sa | sb else 1.0

    lsh = [(a, b) for a, b in edges if a != b]
    assert len(lsh) > 500
    precision = np.mean([jaccard(a, b) >= 0.8 for a, b in lsh])
    assert precision >= 0.95, precision
    # and the planted copies that are near-duplicates are found (recall, for the record)
    planted = [(by_url[r["url"]].doc_id, by_url[records[r["source"]]["url"]].doc_id)
               for r in records if r["kind"] in ("republished", "edited")]
    true = [(a, b) for a, b in planted if jaccard(a, b) >= 0.8]
    cluster = {r.doc_id: r.cluster_id for r in by_url.values()}
    recall = np.mean([cluster[a] == cluster[b] for a, b in true])
    assert recall >= 0.95, recall
