"""Acceptance of issue 39's look-up on real text: a crawl of short real pages (human text of
../shared/data/detector, never copied into the repo) on sites that wrap every page in their
furniture, then an outside dataset built from the same source and audited against it:
pre-AI pages re-published exactly, between another site's furniture, on their own site
and reflowed (`attested`); LLM continuations of pre-AI pages (Fast-DetectGPT/Glimpse rows,
which begin with their human page's first 30 tokens: never `attested`); new human pages
(`new`); copies of post-AI pages (`seen`); bad records (quarantined with their reason).
The stored index and every table the audit reads are byte-identical before and after.

The truth is what this file planted, not what MinHash says."""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared_data import SHARED_DATA
from tailguard.audit.job import run as audit_run
from tailguard.cli import JobContext
from tailguard.io import ingest
from tailguard.io.tables import read_table
from tailguard.provenance.job import run as provenance_run

pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.shared_data]  # ~2 min

PRE_DATES = (dt.date(2021, 6, 1), dt.date(2022, 3, 1))
POST_DATES = (dt.date(2023, 1, 1), dt.date(2023, 6, 1))
COMMON = ("Share this: Twitter Facebook Email", "Posted in Uncategorized | Leave a comment",
          "Skip to content", "Like this: Like Loading...", "Leave a Reply Cancel reply",
          "Related posts", "Search for:", "Powered by WordPress")
OWN = ("Copyright © {year} {site}. All rights reserved.", "Welcome to {site}",
       "{site} | Home | About | Contact", "Subscribe to the {site} newsletter")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NORM = re.compile(r"[^a-z0-9]+")


def _rows():
    rows = []
    for name in ("train.jsonl", "valid.jsonl"):
        with open(SHARED_DATA / name, encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines]
    return rows


def _sites(rng, n, prefix):
    sites = []
    for i in range(n):
        name = f"{prefix}{i}.{('com', 'org', 'net')[i % 3]}"
        own = [OWN[j].format(site=name, year=2015 + i % 7)
               for j in rng.choice(len(OWN), 2, replace=False)]
        common = [COMMON[j] for j in rng.choice(len(COMMON), 2, replace=False)]
        sites.append((name, [own[0], common[0]], [common[1], own[1]]))
    return sites


def _page(text: str, rng, least=25) -> list[str]:
    """The first sentences of a real text past ~60 words, as lines of 1-3 sentences."""
    n_words = max(least, int(np.clip(rng.lognormal(np.log(60), 0.5), 20, 300)))
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


def _reflowed(body: list[str], rng) -> list[str]:
    flat = " ".join(body).split()
    cut = int(rng.integers(1, max(2, len(flat))))
    return [" ".join(flat[:cut]).replace("'", "\u2019"), " ".join(flat[cut:])]


def _wrapped(site, body):
    _, head, foot = site
    return "\n".join([*head, *body, *foot])


def _plant(seed=39):
    """(crawl records by date, outside records with their planted kind)."""
    rng = np.random.default_rng(seed)
    rows = _rows()
    human = [r for r in rows if r["label"] == "human" and r["source"] == "DetectRL"]
    human = [human[i] for i in rng.permutation(len(human))]
    glimpse_human = {_NORM.sub("", r["text"].lower())[:60]: r for r in rows
                     if r["label"] == "human" and r["source"].startswith("Fast")}
    continuations = [r for r in rows if r["label"] == "synthetic"
                     and r["source"].startswith("Fast")
                     and _NORM.sub("", r["text"].lower())[:60] in glimpse_human]
    continuations = [continuations[i] for i in rng.permutation(len(continuations))[:100]]
    sites = _sites(rng, 12, "site")
    crawl = []

    def add(body, dates, site):
        day = dates[int(rng.integers(0, len(dates)))]
        url = f"https://{sites[site][0]}/{day:%Y/%m}/p{len(crawl)}"
        crawl.append({"url": url, "date": day, "site": site, "body": body})
        return crawl[-1]

    originals = [add(_page(r["text"], rng), PRE_DATES, int(rng.integers(0, 12)))
                 for r in human[:480]]
    sources = {_NORM.sub("", r["text"].lower())[:60] for r in continuations}
    for key in sorted(sources):  # the pages the continuations continue, before the cutoff
        add([" ".join(glimpse_human[key]["text"].split())], PRE_DATES,
            int(rng.integers(0, 12)))
    post = [add(_page(r["text"], rng), POST_DATES, int(rng.integers(0, 12)))
            for r in human[480:580]]
    for i in rng.choice(len(originals), 60, replace=False):  # attested in the crawl itself
        add(list(originals[i]["body"]), POST_DATES, int(rng.integers(0, 12)))

    outside = []
    mine = _sites(rng, 12, "vendor")

    def publish(kind, body, site=None, url=True, text=None, label="web"):
        site = int(rng.integers(0, len(mine))) if site is None else site
        record = {"text": text if text is not None else _wrapped(mine[site], body),
                  "source": label}
        if url:
            record["url"] = f"https://{mine[site][0]}/{kind}/{len(outside)}"
        outside.append((kind, record))

    picks = rng.permutation(len(originals))
    for i in picks[:150]:
        publish("furniture", originals[i]["body"])
    for i in picks[150:180]:
        publish("reflowed", _reflowed(originals[i]["body"], rng))
    for i in picks[180:220]:  # the crawl's own page, as crawled, no URL
        o = originals[i]
        publish("exact", None, url=False, text=_wrapped(sites[o["site"]], o["body"]))
    for i in picks[220:260]:  # at a new URL on its own site, between its own furniture
        o = originals[i]
        outside.append(("own_site", {"url": f"https://{sites[o['site']][0]}/archive/{i}",
                                     "text": _wrapped(sites[o["site"]], o["body"]),
                                     "source": "web"}))
    for r in continuations:
        publish("rewrite", [" ".join(r["text"].split())], label="llm")
    for r in human[600:700]:
        publish("new", _page(r["text"], rng))
    for p in post[:20]:
        publish("seen", p["body"])
    # measured, not asserted: one page per site, its own furniture unknown to the crawl and
    # to the rest of the dataset (nothing can tell it from content: docs/AUDIT.md)
    lone = _sites(rng, 20, "lone")
    for k, i in enumerate(picks[260:280]):
        outside.append(("lone", {"url": f"https://{lone[k][0]}/only",
                                 "text": _wrapped(lone[k], originals[i]["body"]),
                                 "source": "web"}))
    return crawl, sites, outside


def _write_crawl(root: Path, crawl, sites) -> None:
    by_date = {}
    for rec in crawl:
        by_date.setdefault(rec["date"], []).append(
            {"url": rec["url"], "text": _wrapped(sites[rec["site"]], rec["body"])})
    for day, rows in by_date.items():
        part = root / f"crawl_date={day.isoformat()}"
        part.mkdir(parents=True)
        with open(part / "part-0.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


BAD = ['{"url": "https://vendor0.com/x", "text": ""}', "{not json",
       '{"url": "not a url", "text": "Some words here."}', "[1, 2, 3]"]


def _write_outside(root: Path, outside) -> None:
    """A directory as a dataset arrives: most records in JSONL.gz (with four bad lines),
    the new pages in Parquet (as a Hugging Face dataset saves them), and a metadata
    file that holds no records; ten new pages repeated exactly."""
    root.mkdir(parents=True)
    lines = [json.dumps(r, ensure_ascii=False) for kind, r in outside if kind != "new"]
    lines[5:5] = BAD
    with gzip.open(root / "part-0.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    new = [r for kind, r in outside if kind == "new"]
    new += new[:10]
    pq.write_table(pa.table({"text": [r["text"] for r in new], "url": [r["url"] for r in new],
                             "source": [r["source"] for r in new]}),
                   root / "train-00000-of-00001.parquet")
    (root / "dataset_info.json").write_text("{}")


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under the tables root outside audit/."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and not str(p.relative_to(root)).startswith("audit/")}


def _plant_shards_and_tail(spark, cfg, tables: Path, crawl, outside) -> None:
    """A shard set `test` of the crawl's pre-AI originals (the first 480 pages planted), and
    a tail band of every 7th concept of the dataset's new pages and of the originals:
    what `tailguard shards` and `diversity` would leave, made here without their runs."""
    from tailguard.diversity.ngrams import hash_texts, ngrams_of

    originals = {rec["url"] for rec in crawl[:480]}
    docs = read_table(spark, cfg, "docs").select("doc_id", "crawl_date", "url", "domain",
                                                  "text").toPandas()
    shard = docs[docs.url.isin(originals)]
    (tables / "shards" / "test").mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(shard, preserve_index=False),
                   tables / "shards" / "test" / "part-00000.parquet")
    texts = [r["text"] for kind, r in outside if kind == "new"] + list(shard.text[:100])
    concepts = ngrams_of(hash_texts(pa.array(texts)), cfg.tail.max_n, cfg.tail.max_n).concepts
    keys = np.unique(concepts)[::7].view(np.int64)
    (tables / "tail_concepts").mkdir()
    pq.write_table(pa.table({"key": keys, "max_n": pa.array([cfg.tail.max_n] * len(keys),
                                                            pa.int32()),
                             "min_count": pa.array([cfg.tail.min_count] * len(keys), pa.int32()),
                             "quantile": [float(cfg.tail.quantile)] * len(keys)}),
                   tables / "tail_concepts" / "part-00000.parquet")


@pytest.fixture(scope="module")
def audited(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    crawl, sites, outside = _plant()
    _write_crawl(root / "crawl", crawl, sites)
    _write_outside(root / "outside", outside)
    from tailguard.config import load_config

    cfg = load_config([], [f"input.path={root / 'crawl'}", f"output.root={root / 'tables'}",
                           "spark.master=local[2]",
                           "spark.conf.spark.sql.shuffle.partitions=2"])
    ctx = JobContext(cfg=cfg)
    ctx.__dict__["spark"] = spark
    ingest.run(ctx)
    started = time.perf_counter()
    provenance_run(ctx)
    provenance_seconds = time.perf_counter() - started
    _plant_shards_and_tail(spark, cfg, root / "tables", crawl, outside)
    before = _hashes(root / "tables")
    ctx = JobContext(cfg=cfg, options=argparse.Namespace(
        input=str(root / "outside"), name="vendor", shards="test"))
    ctx.__dict__["spark"] = spark
    started = time.perf_counter()
    body = audit_run(ctx)
    print(f"provenance {provenance_seconds:.1f} s on {len(crawl)} pages, audit "
          f"{time.perf_counter() - started:.1f} s on {body['documents']} records")
    after = _hashes(root / "tables")
    documents = read_table(spark, cfg, "audit/vendor/documents").toPandas()
    urls = read_table(spark, cfg, "docs").select("url", "crawl_date").toPandas()
    return outside, body, documents, before, after, set(urls.url)


def _status_of(outside, documents):
    """The planted kind of each kept document (matched by URL, else by text order)."""
    by_url = {r.get("url"): kind for kind, r in outside if r.get("url")}
    kinds = []
    for row in documents.itertuples():
        if row.status == "quarantined":
            continue
        kinds.append((by_url.get(row.url, "exact" if row.url is None else None), row))
    return kinds


def test_republished_pre_ai_pages_are_attested(audited):
    outside, body, documents, *_ = audited
    kinds = _status_of(outside, documents)
    print({kind: dict(Counter(r.status for k, r in kinds if k == kind))
           for kind in sorted({k for k, _ in kinds}, key=str)}, body["stage_seconds"])
    assert len([r for k, r in kinds if k == "lone"]) == 20
    for kind, count in (("furniture", 150), ("reflowed", 30), ("exact", 40), ("own_site", 40)):
        rows = [r for k, r in kinds if k == kind]
        assert len(rows) == count, kind
        attested = np.mean([r.status == "attested" for r in rows])
        assert attested >= 0.98, (kind, Counter(r.status for r in rows))
        assert all(r.match_first_seen < dt.date(2022, 11, 30) for r in rows
                   if r.status == "attested")
    exact = [r for k, r in kinds if k == "exact"]
    assert Counter(r.match_kind for r in exact) == {"exact": 40}
    assert all(r.match_jaccard == 1.0 and r.match_url.startswith("https://site") for r in exact)


def test_llm_rewrites_are_never_attested_and_new_pages_are_new(audited):
    outside, body, documents, *_ = audited
    kinds = _status_of(outside, documents)
    rewrites = Counter(r.status for k, r in kinds if k == "rewrite")
    assert sum(rewrites.values()) == 100 and rewrites == {"new": 100}, rewrites
    new = Counter(r.status for k, r in kinds if k == "new")
    assert new == {"new": 110}, new
    seen = [r for k, r in kinds if k == "seen"]
    assert Counter(r.status for r in seen) == {"seen": 20}
    assert all(r.match_first_seen >= dt.date(2022, 11, 30) for r in seen)
    assert documents.loc[documents.status == "new", "match_doc_id"].isna().all()


def test_every_record_is_accounted_for_and_bad_ones_are_quarantined(audited):
    outside, body, documents, *_ = audited
    total = len(outside) + 10 + len(BAD)
    assert body["documents"] == total == len(documents)
    assert body["attested"] + body["seen"] + body["new"] + body["quarantined"] == total
    quarantined = documents[documents.status == "quarantined"]
    assert Counter(quarantined.reason) == {"empty_text": 1, "malformed_json": 2,
                                           "invalid_url": 1}
    assert body["quarantined"] == 4 and body["files"] == 2
    assert body["skipped_files"] == ["dataset_info.json"]
    assert body["duplicates"]["exact_duplicates"] >= 10
    assert body["duplicates"]["redundant"] >= 10
    labels = set(documents.label.dropna())
    assert labels == {"web", "llm"}


def test_overlap_with_a_shard_set_and_the_tail_it_would_add(audited):
    """Every attested document is a copy of a pre-AI original, all of which are in the
    shard set; seen and new ones are not. The dataset's new pages carry tail concepts
    the shard set lacks."""
    outside, body, documents, *_ = audited
    shards = body["shards"]
    assert shards["name"] == "test" and shards["overlap"] == body["attested"]
    tail = shards["tail"]
    assert tail["token_budget"] > 0 and tail["tail_size"] > 0
    assert 0 < tail["added"] <= tail["dataset_tail"], tail


def test_the_index_and_every_table_read_are_byte_identical(audited):
    *_, before, after, _ = audited
    assert before and before == after
    assert any(name.startswith("lsh_bands/") for name in before)
    assert any(name.startswith("signatures/") for name in before)
    assert any(name.startswith("shards/test/") for name in before)
