"""Deterministic benchmark crawl: `crawl_date=YYYY-MM-DD/part-00000.parquet` with {url, text}.

Realistic in the ways that drive the cost of dedup: English-looking text whose word
frequencies follow Zipf's law (function words from scikit-learn's stop list, common content
words with inflections, and a long tail of coined words), log-normal document lengths with a
median near 2.5 KB, monthly partitions, ~10% near-duplicates of earlier pages (a few words
edited, or the page wrapped in site boilerplate) and ~3% exact re-crawls. The same (docs,
seed) always gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_CONTENT = """time year people way day man thing woman life child world school state family
student group country problem hand part place case week company system program question work
government number night point home water room mother area money story fact month lot right
study book eye job word business issue side kind head house service friend father power hour
game line end member law car city community name president team minute idea kid body
information back parent face others level office door health person art war history party
result change morning reason research girl guy moment air teacher force education foot boy
age policy process music market sense nation plan college interest death experience effect
class control care field development role effort rate heart drug show leader light voice wife
police mind price report decision son view relationship town road arm difference value
building action model season society tax director position player record paper space ground
form event official matter center couple site project activity star table need court oil
situation cost industry figure street image phone data picture practice piece land product
doctor wall patient worker news test movie north love support technology step baby computer
type attention film tree source organization hair window evidence population site energy
garden recipe travel weather garden software network market price river mountain coffee""".split()
_VERBS = """make know think take see come want look use find give tell ask work seem feel try
leave call need keep let begin help talk turn start show hear play run move like live believe
hold bring happen write provide sit stand lose pay meet include continue set learn change lead
understand watch follow stop create speak read allow add spend grow open walk win offer
remember love consider appear buy wait serve die send expect build stay fall cut reach kill
remain suggest raise pass sell require report decide pull""".split()
_ADJ = """good new first last long great little own other old right big high different small
large next early young important few public bad same able late hard major better economic
strong possible whole free military true federal international full special easy clear
recent certain personal open red difficult available likely short single medical current
wrong private past foreign fine common poor natural significant similar hot dead central happy
serious ready simple left physical general environmental financial blue democratic dark""".split()
_SYLLABLES = "ka ri to ne mo sa lu vi den tor mar bel cas fin gro hal pen ter quin ost".split()
_BOILER = ("Home About Contact Privacy Policy Terms of Service Subscribe to our newsletter "
           "Share this article on social media Copyright all rights reserved Cookie settings "
           "Accept all cookies Skip to main content Search Menu Login Register").split()
START = dt.date(2021, 12, 1)
SUFFIXES = ("com", "org", "net", "co.uk", "de")  # public suffixes of the 500 sites


def vocabulary(seed: int, tail_words: int = 30000) -> list[str]:
    """Function words first (most frequent), then inflected content words, then coined ones."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    rng = np.random.default_rng(seed)
    head = "the of and to a in is it that for was on with as he be at by this had".split()
    words = sorted(ENGLISH_STOP_WORDS - set(head))
    rng.shuffle(words)
    words = head + words
    content = sorted(set(_CONTENT) | {n + "s" for n in _CONTENT} | set(_ADJ)
                     | set(_VERBS) | {v + "ing" for v in _VERBS} | {v + "ed" for v in _VERBS})
    rng.shuffle(content)
    syl = np.array(_SYLLABLES)
    coined = ["".join(syl[rng.integers(0, len(syl), int(rng.integers(2, 5)))])
              for _ in range(tail_words)]
    return list(dict.fromkeys(words + content + coined))


def _zipf_tokens(rng, vocab_size: int, count: int) -> np.ndarray:
    """Word ids by Zipf's law; ids >= vocab_size are the same words ending a sentence."""
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    p = 1.0 / ranks ** 1.05
    ids = rng.choice(vocab_size, size=count, p=p / p.sum()).astype(np.int32)
    return ids + vocab_size * (rng.random(count) < 1 / 14)


def _texts(vocab: pa.Array, tokens: list[np.ndarray]) -> pa.Array:
    """Join token ids into texts (vectorised: one take and one list join per month)."""
    words = vocab.take(pa.array(np.concatenate(tokens)))
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in tokens], out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), words)
    return pc.binary_join(lists, " ")


def _derive(rng, source: np.ndarray, boiler: np.ndarray, vocab_size: int) -> np.ndarray:
    """A near-duplicate: a few words edited, or the page wrapped in boilerplate."""
    if rng.random() < 0.5:
        out = source.copy()
        edits = rng.random(len(out)) < rng.uniform(0.002, 0.02)
        out[edits] = rng.integers(0, vocab_size, int(edits.sum()))
        return out
    head, tail = int(rng.integers(5, 15)), int(rng.integers(5, 20))
    return np.concatenate([boiler[:head], source, boiler[-tail:]])


def generate(out: Path, docs: int, seed: int = 1, months: int = 24) -> Path:
    """Write the crawl under `out`; returns it. ~10% near and ~3% exact duplicates."""
    rng = np.random.default_rng(seed)
    words = vocabulary(seed)
    vocab = pa.array(words + [w + "." for w in words])
    index = {w: i for i, w in enumerate(words)}
    boiler = np.array([index.get(w.lower(), 0) for w in _BOILER], dtype=np.int32)
    lengths = np.clip(rng.lognormal(np.log(400), 0.6, docs), 20, 20000).astype(np.int64)
    kinds = rng.choice(3, size=docs, p=[0.87, 0.10, 0.03])  # 0 new, 1 near, 2 exact
    month_of = np.sort(rng.integers(0, months, docs))
    history: list[np.ndarray] = []
    for month in range(months):
        members = np.flatnonzero(month_of == month)
        fresh = _zipf_tokens(rng, len(words), int(lengths[members].sum()))
        cuts = np.cumsum(lengths[members])[:-1]
        tokens = np.split(fresh, cuts)
        for j, i in enumerate(members):
            if kinds[i] and history:
                source = history[int(rng.integers(0, len(history)))]
                tokens[j] = source if kinds[i] == 2 else _derive(rng, source, boiler, len(words))
        history.extend(tokens)
        day = dt.date(START.year + (START.month - 1 + month) // 12,
                      (START.month - 1 + month) % 12 + 1, 1)
        hosts = rng.integers(0, 500, len(members))
        # 500 registrable domains (not subdomains of one: the domain is a grouping key)
        urls = [f"https://www.site{h}.{SUFFIXES[h % len(SUFFIXES)]}/page/{i}"
                for h, i in zip(hosts, members, strict=True)]
        table = pa.table({"url": pa.array(urls), "text": _texts(vocab, tokens)})
        part = out / f"crawl_date={day.isoformat()}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.cast(pa.schema([("url", pa.string()), ("text", pa.large_string())])),
                       part / "part-00000.parquet", compression="zstd")
    return out



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    generate(args.out, args.docs, args.seed)


if __name__ == "__main__":
    main()
