"""The crawl plan: how many pages each domain publishes each month, and which are
human, synthetic, or re-crawls of older pages.

Shape of the demo web (all numbers SYNTHETIC, chosen so the estimators have something to
find): crawl volume grows linearly to 2x over 2019-2024; after the cutoff a domain's
share of LLM-written new pages ramps up as final * (1 - exp(-(t + 1) / 6)) over months t
since the cutoff, toward a per-domain final share between 0 and 0.8 (a few domains stay
near 0); a fixed fraction of post-cutoff records re-crawl pre-cutoff pages, half as byte
copies and half wrapped in new boilerplate; a few pre-cutoff pages are duplicated too.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import numpy as np

from tailguard.sample.catalog import Domain
from tailguard.sample.human import human_document
from tailguard.sample.markov import BigramLM, fit_bigram
from tailguard.sample.recrawl import batch_jaccard, wrap_in_boilerplate
from tailguard.sample.synthetic import synthetic_documents
from tailguard.sample.vocab import DomainVocab
from tailguard.sample.writers import FORMATS, TEXT_FORMATS

N_MONTHS = 72                 # 2019-01 .. 2024-12, one crawl per month
CRAWL_DAY = 15
VOLUME_GROWTH = 1.0           # the last month has (1 + growth) x the first month's volume
RAMP_MONTHS = 6.0             # e-folding time of the synthetic-share ramp after the cutoff
PRE_DUP_RATE = 0.004          # pre-cutoff records that copy an earlier pre-cutoff page
FORMAT_WEIGHTS = {"jsonl.gz": 0.35, "parquet": 0.35, "jsonl.zst": 0.3, "warc.gz": 0.25,
                  "wet.gz": 0.25}
SECTIONS = {"www": "articles", "blog": "posts", "news": "news", "forum": "threads",
            "shop": "guides", "community": "topics", "m": "a", "docs": "docs"}


@dataclass
class Doc:
    """One crawl record and its ground truth."""

    url: str | None
    text: str | None
    crawl_date: str | None
    fmt: str
    kind: str                       # original | exact_recrawl | near_recrawl | malformed
    label: str | None               # human | synthetic | None (malformed)
    domain: str | None = None
    host: str | None = None
    source_url: str | None = None
    expected_reason: str | None = None
    near_jaccard: float | None = None
    raw: bytes | None = None        # verbatim JSONL line (malformed records only)
    file: str | None = None
    record_index: int | None = None


@dataclass(frozen=True)
class PlanParams:
    cutoff: dt.date
    recrawl_rate: float
    top_k: int
    temperature: float


def crawl_dates() -> list[dt.date]:
    return [dt.date(2019 + m // 12, m % 12 + 1, CRAWL_DAY) for m in range(N_MONTHS)]


def formats_in_month(month: int) -> tuple[str, ...]:
    """JSONL.gz and Parquet every month; zstd JSONL, WARC and WET in some months."""
    present = ["jsonl.gz", "parquet"]
    if month % 3 == 1:
        present.append("jsonl.zst")
    if month % 8 == 2:
        present.append("warc.gz")
    if month % 8 == 6:
        present.append("wet.gz")
    return tuple(f for f in FORMATS if f in present)


def target_shares(n_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Final synthetic shares: a few domains near 0, the rest spread up to 0.8."""
    n_low = min(n_domains, max(2, n_domains // 8))
    shares = np.concatenate([np.array([0.0, 0.01, 0.02] * n_low)[:n_low],
                             np.linspace(0.08, 0.8, n_domains - n_low)])
    return np.round(shares[rng.permutation(n_domains)], 3)


def share_at(final: float, months_after_cutoff: int) -> float:
    """Expected synthetic share of new pages; 0 before the cutoff."""
    if months_after_cutoff < 0:
        return 0.0
    return final * (1.0 - math.exp(-(months_after_cutoff + 1) / RAMP_MONTHS))


def volume_counts(n_docs: int, n_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Records per (month, domain): growing months x unevenly sized domains."""
    months = 1.0 + VOLUME_GROWTH * np.arange(N_MONTHS) / (N_MONTHS - 1)
    sizes = rng.uniform(0.75, 1.25, size=n_domains)
    p = np.outer(months, sizes).ravel()
    return rng.multinomial(n_docs, p / p.sum()).reshape(N_MONTHS, n_domains)


def make_url(host: str, text: str, serial: int) -> str:
    slug = "-".join(re.findall(r"[a-z]+", text[:120].lower())[:4]) or "page"
    return f"https://{host}/{SECTIONS[host.split('.')[0]]}/{slug}-{serial}"


def _original(domain: Domain, text: str, label: str, date: dt.date, month: int,
              serial: int, rng: np.random.Generator) -> Doc:
    formats = formats_in_month(month)
    weights = np.array([FORMAT_WEIGHTS[f] for f in formats])
    fmt = formats[int(rng.choice(len(formats), p=weights / weights.sum()))]
    host_p = np.array([2.0] + [1.0] * (len(domain.hosts) - 1))
    host = domain.hosts[int(rng.choice(len(domain.hosts), p=host_p / host_p.sum()))]
    return Doc(make_url(host, text, serial), text, date.isoformat(), fmt, "original", label,
               domain.name, host)


def _copy(source: Doc, kind: str, date: dt.date, month: int, domain: Domain,
          rng: np.random.Generator) -> Doc:
    """A re-crawl of `source`: same url, or the same path on another host of the domain."""
    host = source.host
    if len(domain.hosts) > 1 and rng.random() < 0.4:
        others = [h for h in domain.hosts if h != source.host]
        host = others[int(rng.integers(0, len(others)))]
    url = source.url.replace(f"//{source.host}/", f"//{host}/", 1)
    text = source.text
    if kind == "near_recrawl":
        text = wrap_in_boilerplate(source.text, rng)
    text_formats = [f for f in formats_in_month(month) if f in TEXT_FORMATS]
    fmt = text_formats[int(rng.integers(0, len(text_formats)))]
    return Doc(url, text, date.isoformat(), fmt, kind, source.label, domain.name, host,
               source_url=source.url)


def _recrawls(pool: list[Doc], n_exact: int, n_near: int, date: dt.date, month: int,
              domain: Domain, rng: np.random.Generator) -> list[Doc]:
    """Copies of distinct pages from `pool` (earlier text-format human originals)."""
    n = min(len(pool), n_exact + n_near)
    picks = rng.choice(len(pool), size=n, replace=False) if n else []
    kinds = ["exact_recrawl"] * n_exact + ["near_recrawl"] * n_near
    return [_copy(pool[int(i)], kinds[j], date, month, domain, rng) for j, i in enumerate(picks)]


def domain_crawl(domain: Domain, vocab: DomainVocab, counts: np.ndarray, final_share: float,
                 params: PlanParams, streams: dict[str, np.random.Generator],
                 ) -> tuple[list[Doc], BigramLM]:
    """Every record one domain contributes, and the "LLM" fitted on its pre-cutoff pages."""
    dates = crawl_dates()
    cut = next(m for m, d in enumerate(dates) if d >= params.cutoff)
    plan, rng = [], streams["plan"]
    for month, n in enumerate(counts.tolist()):
        if month >= cut:
            n_re = int(rng.binomial(n, params.recrawl_rate))
            n_syn = int(rng.binomial(n - n_re, share_at(final_share, month - cut)))
            n_exact = int(rng.binomial(n_re, 0.5))
            plan.append((n - n_re - n_syn, n_syn, n_exact, n_re - n_exact))
        else:
            n_dup = int(rng.binomial(n, PRE_DUP_RATE)) if month else 0
            plan.append((n - n_dup, 0, n_dup, 0))
    docs: list[Doc] = []
    serial = 0
    for month, (n_human, _, _, _) in enumerate(plan):
        for _ in range(n_human):
            text = human_document(streams["human"], vocab)
            docs.append(_original(domain, text, "human", dates[month], month, serial, rng))
            serial += 1
    pre = [d for d in docs if d.crawl_date < params.cutoff.isoformat()]
    pre_text = [d for d in pre if d.fmt in TEXT_FORMATS]     # sorted by crawl_date
    lm = fit_bigram([d.text for d in pre] or ["Nothing here yet."], params.top_k,
                    params.temperature)
    synthetic = iter(synthetic_documents(lm, streams["llm"], sum(p[1] for p in plan))[0])
    for month, (_, n_syn, n_exact, n_near) in enumerate(plan):
        for _ in range(n_syn):
            docs.append(_original(domain, next(synthetic), "synthetic", dates[month], month,
                                  serial, rng))
            serial += 1
        before = dates[min(month, cut)].isoformat()
        pool = pre_text[: sum(1 for d in pre_text if d.crawl_date < before)]
        docs.extend(_recrawls(pool, n_exact, n_near, dates[month], month, domain, rng))
    _measure_near_duplicates(docs)
    return docs, lm


def _measure_near_duplicates(docs: list[Doc]) -> None:
    """Record each near re-crawl's exact Jaccard with its source page."""
    by_url = {d.url: d.text for d in docs if d.kind == "original"}
    near = [d for d in docs if d.kind == "near_recrawl"]
    scores = batch_jaccard([by_url[d.source_url] for d in near], [d.text for d in near])
    for doc, score in zip(near, scores, strict=True):
        doc.near_jaccard = round(score, 4)
