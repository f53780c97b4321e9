"""The embedded demo crawl generator: determinism, coverage of the contracts the later
jobs are validated against, and the statistical properties the demo must let them show."""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tldextract
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text

from tailguard.cli import JobContext, main
from tailguard.sample import job, lexicon
from tailguard.sample.human import human_document
from tailguard.sample.markov import BOUNDARY, fit_bigram, lm_tokens
from tailguard.sample.plan import crawl_dates, share_at, target_shares, volume_counts
from tailguard.sample.recrawl import batch_jaccard, wrap_in_boilerplate
from tailguard.sample.synthetic import synthetic_documents
from tailguard.sample.vocab import build_vocab, made_up_words
from tailguard.sample.writers import html_page
from tailguard.text.tokenize import words_arrow

SMALL = ("sample.docs=700", "sample.detector_docs=192")
CUTOFF = "2022-11-30"
PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _generate(make_cfg, out: Path, *sets: str) -> dict:
    ctx = JobContext(cfg=make_cfg(*SMALL, *sets), options=argparse.Namespace(out=str(out)))
    job.run(ctx)
    return json.loads((out / "ground_truth" / "summary.json").read_text())


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    from tailguard.config import load_config

    out = tmp_path_factory.mktemp("sample") / "demo"
    cfg = load_config(sets=SMALL)
    job.run(JobContext(cfg=cfg, options=argparse.Namespace(out=str(out))))
    return out


@pytest.fixture(scope="module")
def truth_rows(sample_dir):
    lines = (sample_dir / "ground_truth" / "documents.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _read_records(path: Path) -> list[tuple[str | None, str | None]]:
    """(url, text) per record, None for lines that do not parse (a reader for the test)."""
    name = path.name
    if name.endswith(".parquet"):
        table = pq.read_table(path)
        return list(zip(table["url"].to_pylist(), table["text"].to_pylist(), strict=True))
    if name.endswith((".warc.gz", ".wet.gz")):
        kind = WarcRecordType.response if ".warc" in name else WarcRecordType.conversion
        out = []
        for rec in ArchiveIterator(path.open("rb"), record_types=kind):
            body = rec.reader.read().decode("utf-8")
            text = extract_plain_text(body, main_content=True) if ".warc" in name else body
            out.append((rec.headers["WARC-Target-URI"], text))
        return out
    raw = path.read_bytes()
    data = gzip.decompress(raw) if name.endswith(".gz") else (
        zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 26))
    out = []
    for line in data.splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
            out.append((row.get("url"), row.get("text")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            out.append((None, None))
    return out


def test_same_seed_gives_byte_identical_files(sample_dir, make_cfg, tmp_path):
    _generate(make_cfg, tmp_path / "again")
    files_a = sorted(p.relative_to(sample_dir) for p in sample_dir.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*")
                     if p.is_file())
    assert files_a == files_b and len(files_a) > 50
    for rel in files_a:
        assert (sample_dir / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel
    _generate(make_cfg, tmp_path / "other", "sample.seed=8")
    assert ((sample_dir / "detector_train.jsonl").read_bytes()
            != (tmp_path / "other" / "detector_train.jsonl").read_bytes())


def test_domains_hosts_and_public_suffixes(truth_rows):
    valid = [r for r in truth_rows if r["kind"] != "malformed"]
    domains = {r["domain"] for r in valid}
    assert len(domains) >= 20
    assert {".co.uk", ".com.au", ".co.jp", ".org.uk"} <= {
        "." + PSL(d).suffix for d in domains}
    hosts = Counter(r["domain"] for r in {(r["domain"], r["host"]): r for r in valid}.values())
    assert min(hosts.values()) >= 2
    for row in valid:
        assert PSL(row["host"]).top_domain_under_public_suffix == row["domain"]
        assert row["url"].startswith(f"https://{row['host']}/")


def test_every_format_and_monthly_partition_present(sample_dir, truth_rows):
    names = [p.name for p in sample_dir.glob("crawl/crawl_date=*/*")]
    for ext in ("jsonl.gz", "parquet", "jsonl.zst", "warc.gz", "wet.gz"):
        assert sum(n.endswith(ext) for n in names) >= (3 if ext == "warc.gz" else 1), ext
    partitions = {p.name for p in sample_dir.glob("crawl/crawl_date=*")}
    assert {f"crawl_date={d.isoformat()}" for d in crawl_dates()} <= partitions
    assert len(crawl_dates()) == 72 and "crawl_date=not-a-date" in partitions
    assert set(Counter(r["format"] for r in truth_rows)) == {
        "jsonl.gz", "parquet", "jsonl.zst", "warc.gz", "wet.gz"}


def test_ground_truth_matches_the_files(sample_dir, truth_rows):
    by_file: dict[str, list[dict]] = {}
    for row in truth_rows:
        by_file.setdefault(row["file"], []).append(row)
    assert set(by_file) == {str(p.relative_to(sample_dir))
                            for p in sample_dir.glob("crawl/*/*")}
    for rel, rows in by_file.items():
        if rows[0]["expected_reason"] == "unreadable_file":
            with pytest.raises(gzip.BadGzipFile):
                gzip.decompress((sample_dir / rel).read_bytes())
            continue
        records = _read_records(sample_dir / rel)
        assert len(records) == len(rows), rel
        for row in rows:
            url, text = records[row["record_index"]]
            if row["kind"] != "malformed":
                assert url == row["url"] and text, rel
    seen = Counter((r["url"], r["crawl_date"]) for r in truth_rows if r["kind"] != "malformed")
    assert max(seen.values()) == 1


def test_recrawls_copy_or_wrap_pre_cutoff_pages(sample_dir, truth_rows):
    text_of = {}
    for rel in {r["file"] for r in truth_rows if r["format"] in ("jsonl.gz", "parquet")
                and r["expected_reason"] != "unreadable_file"}:
        for row, (_, text) in zip((r for r in truth_rows if r["file"] == rel),
                                  _read_records(sample_dir / rel), strict=False):
            text_of[(row["url"], row["crawl_date"])] = text
    date_of = {r["url"]: r["crawl_date"] for r in truth_rows if r["kind"] == "original"}
    kinds = Counter(r["kind"] for r in truth_rows)
    assert kinds["exact_recrawl"] >= 5 and kinds["near_recrawl"] >= 5
    for row in truth_rows:
        if row["kind"] not in ("exact_recrawl", "near_recrawl"):
            continue
        assert date_of[row["source_url"]] < min(row["crawl_date"], CUTOFF)
        assert row["label"] == "human" and row["format"] in ("jsonl.gz", "parquet", "jsonl.zst")
        if row["kind"] == "near_recrawl":
            assert 0.84 <= row["near_jaccard"] <= 0.96
        source = text_of.get((row["source_url"], date_of[row["source_url"]]))
        own = text_of.get((row["url"], row["crawl_date"]))
        if source and own:
            assert (own == source) == (row["kind"] == "exact_recrawl") and source in own
    assert any(r["kind"] == "exact_recrawl" and r["crawl_date"] < CUTOFF for r in truth_rows)


def test_synthetic_share_zero_before_cutoff_and_truth_consistent(sample_dir, truth_rows):
    assert not any(r["label"] == "synthetic" and r["crawl_date"] < CUTOFF
                   for r in truth_rows if r["crawl_date"])
    shares = json.loads((sample_dir / "ground_truth" / "domain_share.json").read_text())
    new = [r for r in truth_rows if r["kind"] == "original" and r["crawl_date"] >= CUTOFF]
    for name, entry in shares["domains"].items():
        mine = [r for r in new if r["domain"] == name]
        n_syn = sum(r["label"] == "synthetic" for r in mine)
        assert (entry["n_new_post"], entry["n_synthetic_post"]) == (len(mine), n_syn)
        month = entry["monthly"]["2024-12"]
        assert month["n_new"] == sum(r["crawl_date"].startswith("2024-12") for r in mine)
    assert shares["__all__"]["n_synthetic_post"] == sum(r["label"] == "synthetic" for r in new)
    assert 0.15 < shares["__all__"]["share"] < 0.5
    summary = json.loads((sample_dir / "ground_truth" / "summary.json").read_text())
    assert summary["records"] == len(truth_rows)


def test_malformed_records_cover_every_quarantine_reason(sample_dir, truth_rows):
    from tailguard.schema import QUARANTINE_REASONS

    reasons = Counter(r["expected_reason"] for r in truth_rows if r["kind"] == "malformed")
    expected = {"malformed_json", "invalid_utf8", "missing_url", "invalid_url", "empty_text",
                "nul_bytes", "oversize", "bad_partition", "unreadable_file"}
    assert set(reasons) == expected and set(reasons) <= set(QUARANTINE_REASONS)
    assert all(1 <= n <= 2 for n in reasons.values())
    assert all(r["label"] is None for r in truth_rows if r["kind"] == "malformed")
    assert {"not a url", "ftp://x"} <= {r["url"] for r in truth_rows}
    texts = {}
    for row in truth_rows:
        if row["expected_reason"] in ("oversize", "nul_bytes"):
            texts[row["expected_reason"]] = _read_records(
                sample_dir / row["file"])[row["record_index"]][1]
    assert len(texts["oversize"]) > 1_000_000 and "\x00" in texts["nul_bytes"]


def test_detector_set_disjoint_balanced_and_covers_domains(sample_dir, truth_rows):
    rows = [json.loads(x) for x in (sample_dir / "detector_train.jsonl").read_text().splitlines()]
    assert len(rows) == 192 and Counter(r["label"] for r in rows) == {"human": 96,
                                                                      "synthetic": 96}
    domains = {r["domain"] for r in truth_rows if r["domain"]}
    assert {r["domain"] for r in rows} == domains
    crawl_texts = set()
    for rel in {r["file"] for r in truth_rows if r["expected_reason"] != "unreadable_file"}:
        crawl_texts.update(t for _, t in _read_records(sample_dir / rel) if t)
    assert not {r["text"] for r in rows} & crawl_texts


def _tokens(texts: list[str]) -> list[list[str]]:
    return words_arrow(pa.array(texts, type=pa.string())).to_pylist()


def _distinct(docs: list[list[str]], budget: int, n: int) -> float:
    toks = [w for d in docs for w in d][:budget]
    return len({tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}) / len(toks)


def _marker_rate(texts: list[str]) -> float:
    hits = sum(t.lower().count(m) for t in texts for m in lexicon.MARKER_PHRASES)
    return hits / sum(len(d) for d in _tokens(texts))


def test_synthetic_docs_truncate_the_tail_and_overuse_markers():
    rng = np.random.default_rng(3)
    vocab = build_vocab(rng, ("tide", "sail", "boat"))
    human = [human_document(rng, vocab) for _ in range(160)]
    lm = fit_bigram(human[:120], top_k=50, temperature=0.85)
    synthetic, intensity = synthetic_documents(lm, rng, 40)
    held_out, synthetic_tokens = _tokens(human[120:]), _tokens(synthetic)
    for n, factor in ((1, 0.75), (2, 0.85), (3, 0.95)):
        assert _distinct(synthetic_tokens, 8000, n) < factor * _distinct(held_out, 8000, n)
    ttr = [np.mean([len(set(d[:150])) / 150 for d in docs if len(d) >= 150])
           for docs in (held_out, synthetic_tokens)]
    assert ttr[1] < ttr[0]
    assert _marker_rate(synthetic) > 0.003 > _marker_rate(human[120:]) == 0.0
    assert len(set(synthetic)) == 40 and 0.1 <= intensity.min() and intensity.max() <= 1.0
    median_bytes = np.median([len(t.encode()) for t in human])
    assert 1500 <= median_bytes <= 2500


def test_vocab_is_zipfian_and_words_are_invented():
    rng = np.random.default_rng(0)
    vocab = build_vocab(rng, ("moss", "stone"))
    assert vocab.concepts[:2] == ("moss", "stone")
    assert sum(" " in c for c in vocab.concepts) > 0.3 * len(vocab.concepts)
    counts = np.bincount(vocab.draw(rng, 200_000), minlength=len(vocab.concepts))
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(counts[:200] + 1), 1)[0]
    assert -1.3 < slope < -0.8
    # a long tail: at a domain's pre-cutoff volume (~20k concept mentions) most concepts
    # beyond rank 1000 are seen a handful of times at most
    small = np.bincount(vocab.draw(rng, 20_000), minlength=len(vocab.concepts))
    assert (small[1000:] <= 5).mean() > 0.8 and (small[1000:] > 0).mean() > 0.3
    invented = made_up_words(np.random.default_rng(1), 500)
    assert len(set(invented)) == 500 and not set(invented) & lexicon.FUNCTION_WORDS


def test_bigram_model_keeps_top_k_and_samples_deterministically():
    lm = fit_bigram(["The cat sat. The cat ran. The dog sat, and the cat sat."], 1, 0.5)
    the = lm.vocab.index("the")
    assert lm.vocab[lm.successors[the, 0]] == "cat" and lm.cum[the, -1] == 1.0
    assert lm_tokens("I ran. We sat")[:4] == [BOUNDARY, "I", "ran", BOUNDARY]
    a = lm.sample(np.random.default_rng(5), 3, 20)
    assert (a == lm.sample(np.random.default_rng(5), 3, 20)).all()
    assert set(lm.vocab[i] for i in a.ravel()) <= {"the", "cat", "sat", BOUNDARY}


def test_boilerplate_wrap_hits_the_jaccard_band():
    rng = np.random.default_rng(2)
    vocab = build_vocab(rng, ("bee", "hive"))
    docs = [human_document(rng, vocab) for _ in range(30)]
    wrapped = [wrap_in_boilerplate(d, rng) for d in docs]
    scores = batch_jaccard(docs, wrapped)
    assert all(0.84 <= s <= 0.96 for s in scores) and all(d in w for d, w in zip(
        docs, wrapped, strict=True))
    assert batch_jaccard(docs[:2], docs[:2]) == [1.0, 1.0]


def test_html_page_main_content_is_the_text():
    text = human_document(np.random.default_rng(4), build_vocab(np.random.default_rng(4),
                                                                  ("tea",)))
    page = html_page("https://www.leafandladle.co.nz/articles/x-1", text)
    assert "cookie" in page and extract_plain_text(page, main_content=True) == text


def test_shares_ramp_from_zero_and_default_volume_is_enough():
    assert share_at(0.8, -1) == 0.0 and 0 < share_at(0.8, 0) < share_at(0.8, 12) < 0.8
    finals = target_shares(24, np.random.default_rng(0))
    assert finals.min() == 0.0 and (finals <= 0.02).sum() >= 3 and 0.75 <= finals.max() <= 0.8
    from tailguard.config import load_config

    cfg = load_config()
    counts = volume_counts(cfg.sample.docs, cfg.sample.domains, np.random.default_rng(0))
    cut = next(i for i, d in enumerate(crawl_dates()) if d.isoformat() >= CUTOFF)
    new_post = counts[cut:].sum(axis=0) * (1 - cfg.sample.recrawl_rate)
    assert new_post.min() >= 110 and 10_000 <= cfg.sample.docs <= 15_000
    assert counts[-1].sum() > counts[0].sum()            # crawl volume grows


def test_cli_writes_sample_and_refuses_to_clobber(tmp_path):
    out = tmp_path / "cli"
    args = ["sample", "--out", str(out), "--docs", "200", "--seed", "3",
            "--set", "sample.detector_docs=48", "--set", f"output.root={tmp_path / 't'}"]
    assert main(args) == 0
    summary = json.loads((out / "ground_truth" / "summary.json").read_text())
    assert summary["params"]["seed"] == 3 and summary["params"]["docs"] == 200
    assert "SYNTHETIC" in (out / "README.md").read_text()
    assert main(args) == 0                               # a sample may be regenerated
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("x")
    assert main([*args[:2], str(tmp_path / "keep"), *args[3:]]) == 2
    assert (tmp_path / "keep" / "precious.txt").exists()
    assert main([*args[:4], "0", *args[5:]]) == 2
