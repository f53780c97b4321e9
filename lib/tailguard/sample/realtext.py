"""A date-partitioned crawl of real human and real LLM text with a known synthetic share.

The demo crawl (`tailguard sample`) is written by our own generator and flatters every
estimator tuned on it. This module builds the evaluation crawl from real text instead:
the labelled rows of `shared/data/detector` (DetectRL, M4, Fast-DetectGPT/Glimpse; read in
place, never copied into the repository). It serves the synthetic-share evaluation
(`bench/share_eval.py`) and any other job that needs real text with known labels and
dates (e.g. diversity validation).

How a crawl is made (`plan_crawl`, pure; `write_crawl` writes it):
- A *cell* is one (source, content domain) of the data. Every web domain is built from
  one cell only, so its human pages before and after the cutoff share the source's
  formatting (the data README lists artefacts that differ between sources and labels),
  and the synthetic pages are the only thing that changes at the cutoff.
- A cell holds `domains_per_cell` web domains, fewer when its human text cannot give each
  `min_human_tokens` whitespace tokens in BOTH eras (diversity deltas need them) or
  `min_domain_docs` rows. Each domain gets a true synthetic share from an even spread
  over [0, `max_share`], assigned by a seeded permutation, so 0 and the maximum occur.
- With `max_words`, every row of the crawl is first cut after that many words (short
  pages, formatting kept).
- Per domain: `pre_docs` pre-AI human rows and round((1 - share) * `post_docs`) post-AI
  human rows, each era extended to `min_human_tokens`; then share / (1 - share) times as
  many synthetic rows (so the post-AI human text never falls below the floor, whatever
  the share). A cell too small for that deals its human rows out evenly and splits each
  domain's rows into eras of equal tokens (noted in `notes`; the truth holds the real
  counts and token totals). Human rows are drawn without replacement and spread uniformly
  over monthly crawl dates before the cutoff (`pre_months`) and after it
  (`post_months`); synthetic rows, drawn from the cell's rows of the rotation's held-out
  generators, only after it. URLs carry no label.
- A *rotation* (leave-generators-out) names the sources whose rows form the crawl and the
  generators whose rows are its synthetic pages. The detector may train only on rows of
  other sources AND other generators (`CrawlPlan.detector_rows`): it never sees the
  crawl's generators, its sources' formatting, or any of its documents.

Ground truth: `truth` maps each web domain to its counts and true share; `labels` maps
every written URL to (label, generator). Everything is deterministic in (data, spec).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from tailguard.errors import InputError

DATA_FILES = ("train.jsonl", "valid.jsonl")
HUMAN = "human"
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Rotation:
    """One leave-generators-out split: the crawl's sources and synthetic generators."""

    name: str
    crawl_sources: tuple[str, ...]
    crawl_generators: tuple[str, ...]

    def crawl_uses(self, row: dict) -> bool:
        """A row that may appear in this rotation's crawl."""
        if row["source"] not in self.crawl_sources:
            return False
        return row["generator"] == HUMAN or row["generator"] in self.crawl_generators

    def detector_may_train_on(self, row: dict) -> bool:
        """A row of another source and (if synthetic) another generator."""
        return (row["source"] not in self.crawl_sources
                and row["generator"] not in self.crawl_generators)


# The two complementary rotations of shared/data/detector: every source and all but one
# generator (gpt-3.5-turbo in Glimpse, which R2 leaves unused) is held out once.
ROTATIONS = {
    "R1": Rotation("R1", ("DetectRL",),
                   ("gpt-3.5-turbo", "claude-instant-1.2", "palm-2-text-bison-002",
                    "llama-2-70b-chat")),
    "R2": Rotation("R2", ("Fast-DetectGPT/Glimpse", "M4"),
                   ("gpt-4", "claude-3-opus-20240229", "claude-3-sonnet-20240229",
                    "gemini-1.5-pro", "llama-2-70b-chat")),
}


@dataclass(frozen=True)
class CrawlSpec:
    """Sizes and dates of an evaluation crawl (the defaults mirror a ~20-domain crawl with
    ~90 pre-AI and ~150 post-AI documents per domain)."""

    rotation: str = "R1"
    domains_per_cell: int = 5
    pre_docs: int = 90
    post_docs: int = 150
    max_share: float = 0.8
    cutoff: str = "2022-11-30"
    pre_months: int = 36          # monthly crawl dates before the cutoff
    post_months: int = 18         # ... and from the cutoff on
    min_human_tokens: int = 8000  # human whitespace tokens per web domain in each era
    min_domain_docs: int = 40     # human rows a cell needs per web domain it makes
    seed: int = 20240917
    max_words: int = 0            # > 0: every page cut after its first max_words words


@dataclass(frozen=True)
class PlannedDoc:
    url: str
    text: str
    crawl_date: str
    domain: str
    label: str
    generator: str


@dataclass
class CrawlPlan:
    """Documents, ground truth and the detector's allowed training rows of one crawl."""

    spec: CrawlSpec
    docs: list[PlannedDoc]
    truth: dict[str, dict]
    detector_rows: list[dict]
    notes: list[str] = field(default_factory=list)

    @property
    def rotation(self) -> Rotation:
        return ROTATIONS[self.spec.rotation]


def read_rows(data_dir: str | Path) -> list[dict]:
    """Every row of train.jsonl and valid.jsonl (the split is the rotation's, not theirs)."""
    data_dir = Path(data_dir)
    rows: list[dict] = []
    for name in DATA_FILES:
        path = data_dir / name
        if not path.is_file():
            raise InputError(f"{path} is missing: the real-text crawl needs "
                             f"shared/data/detector (see its README)")
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    rows.append({k: row[k] for k in
                                 ("text", "label", "domain", "generator", "source")})
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(f"{path}:{number}: not a detector-data row") from exc
    return rows


def _key(seed: int, *parts: object) -> int:
    return xxhash.xxh64_intdigest("\x1f".join(map(str, parts)).encode("utf-8"), seed=seed)


def _shuffled(rows: list[dict], seed: int, salt: str) -> list[dict]:
    return sorted(rows, key=lambda r: _key(seed, salt, r["text"]))


def _months(cutoff: dt.date, count: int, before: bool) -> list[dt.date]:
    """`count` monthly dates (the 15th) ending the month before `cutoff`, or starting after."""
    first = dt.date(cutoff.year, cutoff.month, 15)
    if before and first >= cutoff:
        first = _add_months(first, -1)
    if not before and first < cutoff:
        first = _add_months(first, 1)
    step = -1 if before else 1
    dates = [_add_months(first, step * i) for i in range(count)]
    return sorted(dates)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, day.day)


def web_domain_name(source: str, content_domain: str, index: int) -> str:
    """A registrable .com name per (source, content domain, index), e.g.
    `detectrl-news-xsum-bbc-2.com`."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{source}-{content_domain}".lower()).strip("-")
    slug = slug.replace("fast-detectgpt-glimpse", "glimpse").replace("_", "-")
    return f"{slug}-{index}.com"


def first_words(text: str, words: int) -> str:
    """`text` up to the end of its `words`-th whitespace-separated word, formatting kept:
    short real web pages (a median of ~80 words) from the longer rows of the data."""
    ends = [m.end() for m in itertools.islice(_WORD.finditer(text), words)]
    return text[:ends[-1]] if len(ends) == words else text


def n_tokens(text: str) -> int:
    """Whitespace tokens: the unit of the per-era human-text floor (`min_human_tokens`)."""
    return len(text.split())


def _domain_count(human: list[dict], spec: CrawlSpec) -> int:
    """Web domains a cell can fill: at most `domains_per_cell`, fewer when its human text
    cannot give each one `min_human_tokens` in both eras (10% slack) or `min_domain_docs`
    documents; always at least one (a short cell gets one domain, noted in the plan)."""
    tokens = sum(n_tokens(r["text"]) for r in human)
    by_tokens = int(tokens // (2.2 * spec.min_human_tokens))
    by_docs = len(human) // max(1, spec.min_domain_docs)
    return max(1, min(spec.domains_per_cell, by_tokens, by_docs))


def _take(rows: list[dict], start: int, docs: int, tokens: int) -> int:
    """End index of the shortest run from `start` with >= `docs` rows and >= `tokens`
    tokens (or the end of `rows`)."""
    end, have = start, 0
    while end < len(rows) and (end - start < docs or have < tokens):
        have += n_tokens(rows[end]["text"])
        end += 1
    return end


def _split_tokens(rows: list[dict]) -> int:
    """Index splitting `rows` into two runs of about equal token count."""
    total = sum(n_tokens(r["text"]) for r in rows)
    have = 0
    for i, row in enumerate(rows):
        if have >= total / 2:
            return i
        have += n_tokens(row["text"])
    return len(rows)


def _cell_human(human: list[dict], shares: list[float], spec: CrawlSpec):
    """(pre rows, post human rows) per web domain of one cell.

    Wanted per domain: `pre_docs` pre-AI documents and round((1 - share) * `post_docs`)
    post-AI human documents, each era extended until it holds `min_human_tokens`. When the
    cell cannot give that to every domain, its human rows are dealt out evenly and each
    domain's rows split into eras of equal token count (the plan notes it)."""
    out, h = [], 0
    for s in shares:
        pre_end = _take(human, h, spec.pre_docs, spec.min_human_tokens)
        post_end = _take(human, pre_end, int(round((1 - s) * spec.post_docs)),
                         spec.min_human_tokens)
        out.append((human[h:pre_end], human[pre_end:post_end]))
        h = post_end
    short = any(sum(n_tokens(r["text"]) for r in era) < spec.min_human_tokens
                or not era for pair in out for era in pair)
    if not short:
        return out, False
    k = len(shares)
    out = []
    for i in range(k):
        mine = human[i::k]
        cut = max(1, min(len(mine) - 1, _split_tokens(mine)))
        out.append((mine[:cut], mine[cut:]))
    return out, True


def _n_synthetic(share: float, n_human_post: int) -> int:
    """Synthetic documents that make `n_human_post` human ones a `share` of synthetic."""
    if share <= 0 or n_human_post <= 0:
        return 0
    return int(round(share / (1 - share) * n_human_post))


def plan_crawl(rows: list[dict], spec: CrawlSpec) -> CrawlPlan:
    """The crawl of `spec` from detector-data `rows` (see the module docstring)."""
    if spec.rotation not in ROTATIONS:
        raise InputError(f"unknown rotation {spec.rotation!r}; known: {sorted(ROTATIONS)}")
    if not 0.0 <= spec.max_share < 1.0:
        raise InputError(f"max_share must be in [0, 1), got {spec.max_share}")
    rotation = ROTATIONS[spec.rotation]
    cutoff = dt.date.fromisoformat(spec.cutoff)
    pre_dates = _months(cutoff, spec.pre_months, before=True)
    post_dates = _months(cutoff, spec.post_months, before=False)
    cells: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(
        lambda: {"human": [], "synthetic": []})
    for row in rows:
        if rotation.crawl_uses(row):
            if spec.max_words > 0:
                row = {**row, "text": first_words(row["text"], spec.max_words)}
            cells[(row["source"], row["domain"])][row["label"]].append(row)
    shuffled = {cell: (_shuffled(cells[cell]["human"], spec.seed, "human"),
                       _shuffled(cells[cell]["synthetic"], spec.seed, "synthetic"))
                for cell in sorted(cells) if cells[cell]["human"]}
    counts = {cell: _domain_count(human, spec) for cell, (human, _) in shuffled.items()}
    names = [(cell, i) for cell in sorted(shuffled) for i in range(counts[cell])]
    shares = np.linspace(0.0, spec.max_share, len(names))
    order = sorted(range(len(names)), key=lambda i: _key(spec.seed, "share", *names[i][0],
                                                         names[i][1]))
    share_of = {names[j]: float(shares[rank]) for rank, j in enumerate(order)}
    docs: list[PlannedDoc] = []
    truth: dict[str, dict] = {}
    notes: list[str] = []
    for cell, (human, synthetic) in shuffled.items():
        source, content = cell
        targets = [share_of[(cell, i)] for i in range(counts[cell])]
        eras, short = _cell_human(human, targets, spec)
        if counts[cell] < spec.domains_per_cell or short:
            notes.append(f"{source}/{content}: {len(human)} human rows make "
                         f"{counts[cell]} web domain(s)"
                         + (", eras split by tokens (cell below the wanted sizes)"
                            if short else ""))
        wanted = [_n_synthetic(t, len(post)) for t, (_, post) in zip(targets, eras, strict=True)]
        scale = min(1.0, len(synthetic) / sum(wanted)) if sum(wanted) else 1.0
        if scale < 1.0:
            notes.append(f"{source}/{content}: {len(synthetic)} synthetic rows, synthetic "
                         f"counts scaled by {scale:.3f}")
        s = 0
        for i, ((pre, post_human), want) in enumerate(zip(eras, wanted, strict=True)):
            name = web_domain_name(source, content, i + 1)
            syn = synthetic[s:s + int(math.floor(want * scale))]
            s += len(syn)
            picked = ([(r, "pre") for r in pre] + [(r, "post") for r in post_human]
                      + [(r, "post") for r in syn])
            gens: dict[str, int] = defaultdict(int)
            for row, era in picked:
                dates = pre_dates if era == "pre" else post_dates
                k = _key(spec.seed, "doc", name, row["text"])
                # The path carries no label: a URL must not leak the answer to the job.
                url = f"https://www.{name}/p/{k & 0xFFFFFFFFFFFF:012x}"
                docs.append(PlannedDoc(url, row["text"], dates[k % len(dates)].isoformat(),
                                       name, row["label"], row["generator"]))
                if row["label"] != HUMAN:
                    gens[row["generator"]] += 1
            n_post = len(post_human) + len(syn)
            truth[name] = {"source": source, "content_domain": content,
                           "target_share": round(targets[i], 6), "n_pre": len(pre),
                           "n_post": n_post, "n_synthetic_post": len(syn),
                           "share": round(len(syn) / n_post, 6) if n_post else None,
                           "human_tokens_pre": sum(n_tokens(r["text"]) for r in pre),
                           "human_tokens_post": sum(n_tokens(r["text"]) for r in post_human),
                           "generators": dict(sorted(gens.items()))}
    detector_rows = [{"text": r["text"], "label": r["label"], "generator": r["generator"],
                      "source": r["source"], "domain": r["domain"]}
                     for r in rows if rotation.detector_may_train_on(r)]
    docs.sort(key=lambda d: (d.crawl_date, d.url))
    return CrawlPlan(spec, docs, truth, detector_rows, notes)


@dataclass(frozen=True)
class WrittenCrawl:
    """Paths of a written crawl: `crawl` (crawl_date=... dirs), `detector_train` (JSONL the
    detector may train on), `truth` (ground_truth.json), `labels` (url -> label JSONL)."""

    root: Path
    crawl: Path
    detector_train: Path
    truth: Path
    labels: Path


def write_crawl(plan: CrawlPlan, out_dir: str | Path) -> WrittenCrawl:
    """Write the plan: one `part-0.jsonl` per crawl date, the detector's training JSONL and
    the ground truth. Byte-identical for the same plan. Atomic: written beside `out_dir`
    and renamed into place; an existing `out_dir` is replaced only if it is a previous
    crawl (holds ground_truth.json), never an unrelated directory."""
    final = Path(out_dir)
    if final.exists() and not (final / "ground_truth.json").is_file():
        raise InputError(f"{final} exists and is not a real-text crawl; refusing to replace")
    final.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    crawl = root / "crawl"
    by_date: dict[str, list[PlannedDoc]] = defaultdict(list)
    for doc in plan.docs:
        by_date[doc.crawl_date].append(doc)
    for date, docs in sorted(by_date.items()):
        part = crawl / f"crawl_date={date}"
        part.mkdir(parents=True, exist_ok=True)
        _write_lines(part / "part-0.jsonl",
                     ({"url": d.url, "text": d.text} for d in docs))
    _write_lines(root / "detector_train.jsonl", plan.detector_rows)
    _write_lines(root / "labels.jsonl", ({"url": d.url, "domain": d.domain, "label": d.label,
                                          "generator": d.generator, "crawl_date": d.crawl_date}
                                         for d in plan.docs))
    rotation = plan.rotation
    trained = sorted({r["generator"] for r in plan.detector_rows} - {HUMAN})
    summary = {
        "spec": asdict(plan.spec),
        "rotation": {"name": rotation.name, "crawl_sources": list(rotation.crawl_sources),
                     "crawl_generators": list(rotation.crawl_generators),
                     "detector_sources": sorted({r["source"] for r in plan.detector_rows}),
                     "detector_generators": trained},
        "detector_rows": {"human": sum(r["label"] == HUMAN for r in plan.detector_rows),
                          "synthetic": sum(r["label"] != HUMAN for r in plan.detector_rows)},
        "definition": "share = n_synthetic_post / n_post over the documents written with a "
                      "crawl_date on or after the cutoff",
        "notes": plan.notes,
        "domains": plan.truth,
    }
    (root / "ground_truth.json").write_text(json.dumps(summary, indent=1, sort_keys=True),
                                            "utf-8")
    root.chmod(0o755)
    if final.exists():
        shutil.rmtree(final)
    root.rename(final)
    root, crawl = final, final / "crawl"
    return WrittenCrawl(root, crawl, root / "detector_train.jsonl", root / "ground_truth.json",
                        root / "labels.jsonl")


def _write_lines(path: Path, records: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def build_crawl(data_dir: str | Path, out_dir: str | Path,
                spec: CrawlSpec | None = None) -> tuple[CrawlPlan, WrittenCrawl]:
    """Read the detector data, plan the crawl of `spec` and write it under `out_dir`."""
    plan = plan_crawl(read_rows(data_dir), spec or CrawlSpec())
    return plan, write_crawl(plan, out_dir)
