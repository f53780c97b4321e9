"""Deterministic benchmark crawl with a real vocabulary: `crawl_date=YYYY-MM-DD/part-00000.parquet`
with {url, text}, pages recombined from the real human sentences of
`../shared/data/detector` (never copied into the repo: it is read where it lies).

Why: the generated corpus (bench/generate.py) draws words from a ~31k-word Zipf
vocabulary, so a 2,048-page batch meets a few thousand distinct words; real text meets
~60k, and a kernel that pays per distinct word looks 6x faster on the generated corpus
than it is (issue 19). Here every sentence is a real human sentence (arXiv, BBC, Reddit,
Yelp, PubMedQA, ELI5, WikiHow, Wikipedia), so words, their lengths and their frequency
tail are real; only their order into pages is made up.

The page shape drives dedup cost and quality, so it mimics extracted web text:
- paragraphs of 1-5 consecutive sentences of one source text, one paragraph per line,
  so a page has ~10 lines (median 9, mean 9.8; median 21 words a line) like extracted
  web text, which is what the boilerplate stage's cost depends on;
- log-normal page lengths, median ~2.7 KB (~360 words), 20 to ~30k bytes;
- 500 sites, each with its own 1-3 header and 1-3 footer lines of furniture (share bars,
  archive notes, copyright lines naming the site; some WordPress lines are common to many
  sites), on every page of the site;
- 24 monthly partitions around the default era cutoff (2022-11-30); ~10% near duplicates
  of earlier pages (half with a few words edited, half re-published on another site,
  i.e. between that site's furniture) and ~3% exact re-crawls (same URL, same text).
The same (docs, seed, data) always gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "detector"
START = dt.date(2021, 12, 1)
SUFFIXES = ("com", "org", "net", "co.uk", "de")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_SPACE = re.compile(r"\s+")
_HEADERS = ("Skip to content", "Menu", "Home About Contact", "Search for:",
            "Home » {site} » Articles", "{site} | News, reviews and more",
            "You are here: Home / Blog", "Subscribe to {site} for updates")
_FOOTERS = ("Share this: Twitter Facebook Email", "Like this: Like Loading...",
            "Posted in Uncategorized | Leave a comment", "Related posts",
            "Copyright © {year} {site}. All rights reserved.", "Powered by WordPress",
            "Privacy Policy | Terms of Use | Cookie settings",
            "Filed under: {site} | Tags: news, stories", "Leave a Reply Cancel reply",
            "Back to top ↑")


def human_sentences(data: Path = DATA) -> list[list[str]]:
    """The human texts of the detector data as lists of sentences (whitespace collapsed),
    in file order: train.jsonl then valid.jsonl."""
    texts = []
    for name in ("train.jsonl", "valid.jsonl"):
        with open(data / name, encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                if row["label"] != "human":
                    continue
                sentences = [_SPACE.sub(" ", s).strip()
                             for part in row["text"].split("\n")
                             for s in _SENTENCE_END.split(part)]
                sentences = [s for s in sentences if s]
                if sentences:
                    texts.append(sentences)
    return texts


def site_furniture(rng: np.random.Generator, site: str) -> tuple[list[str], list[str]]:
    """A site's header and footer lines (fixed for all its pages)."""
    year = int(rng.integers(2012, 2022))
    head = [_HEADERS[i].format(site=site, year=year)
            for i in rng.choice(len(_HEADERS), int(rng.integers(1, 4)), replace=False)]
    foot = [_FOOTERS[i].format(site=site, year=year)
            for i in rng.choice(len(_FOOTERS), int(rng.integers(1, 4)), replace=False)]
    return head, foot


class Pages:
    """Page bodies (lists of paragraph lines) drawn from runs of real sentences."""

    def __init__(self, texts: list[list[str]], rng: np.random.Generator):
        self.texts = texts
        self.rng = rng
        self.words = np.array([sum(len(s.split()) for s in t) / len(t) for t in texts])

    def body(self, target_words: int) -> list[str]:
        lines, count = [], 0
        while count < target_words:
            text = self.texts[int(self.rng.integers(0, len(self.texts)))]
            size = int(self.rng.integers(1, 6))
            start = int(self.rng.integers(0, max(1, len(text) - size + 1)))
            paragraph = " ".join(text[start:start + size])
            lines.append(paragraph)
            count += len(paragraph.split())
        return lines

    def edited(self, body: list[str]) -> list[str]:
        """A few words replaced (0.2-2% of them) by words of other real sentences."""
        rate = self.rng.uniform(0.002, 0.02)
        out = []
        for line in body:
            words = line.split()
            for i in np.flatnonzero(self.rng.random(len(words)) < rate):
                donor = self.texts[int(self.rng.integers(0, len(self.texts)))][0].split()
                words[i] = donor[int(self.rng.integers(0, len(donor)))]
            out.append(" ".join(words))
        return out


def generate(out: Path, docs: int, seed: int = 1, months: int = 24, data: Path = DATA,
             sites: int = 500) -> Path:
    """Write the crawl under `out`; returns it."""
    rng = np.random.default_rng(seed)
    pages = Pages(human_sentences(data), rng)
    names = [f"site{h}.{SUFFIXES[h % len(SUFFIXES)]}" for h in range(sites)]
    furniture = [site_furniture(rng, name) for name in names]
    lengths = np.clip(rng.lognormal(np.log(360), 0.6, docs), 20, 5000).astype(np.int64)
    kinds = rng.choice(3, size=docs, p=[0.87, 0.10, 0.03])  # 0 new, 1 near, 2 exact
    month_of = np.sort(rng.integers(0, months, docs))
    history: list[tuple[int, str, list[str]]] = []  # (site, url, body) of earlier pages
    for month in range(months):
        urls, texts = [], []
        for i in np.flatnonzero(month_of == month):
            site = int(rng.integers(0, sites))
            url = f"https://www.{names[site]}/{month:02d}/page-{i}"
            if kinds[i] and history:
                source_site, source_url, source = history[int(rng.integers(0, len(history)))]
                if kinds[i] == 2:                  # exact re-crawl: same page again
                    site, url, body = source_site, source_url, source
                elif rng.random() < 0.5:           # the same page, a few words edited
                    site, url, body = source_site, source_url, pages.edited(source)
                else:                              # re-published on another site
                    body = source
            else:
                body = pages.body(int(lengths[i]))
            head, foot = furniture[site]
            history.append((site, url, body))
            urls.append(url)
            texts.append("\n".join([*head, *body, *foot]))
        day = dt.date(START.year + (START.month - 1 + month) // 12,
                      (START.month - 1 + month) % 12 + 1, 1)
        part = out / f"crawl_date={day.isoformat()}"
        part.mkdir(parents=True, exist_ok=True)
        table = pa.table({"url": pa.array(urls, pa.string()),
                          "text": pa.array(texts, pa.large_string())})
        pq.write_table(table, part / "part-00000.parquet", compression="zstd")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    generate(args.out, args.docs, args.seed, data=args.data)


if __name__ == "__main__":
    main()
