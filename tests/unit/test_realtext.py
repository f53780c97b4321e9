"""The real-text evaluation crawl: truth matches what is written, no leakage, token floors."""

import json

import pytest

from shared_data import SHARED_DATA
from tailguard.errors import InputError
from tailguard.sample import realtext as rt

DATA = SHARED_DATA


def _rows():
    rows = []
    for source, gens in (("DetectRL", ("gpt-3.5-turbo", "gpt-4")), ("M4", ("gpt-4",))):
        for content in ("news", "story"):
            for i in range(400):
                rows.append({"text": f"{source} {content} human {i} " + "w " * 60,
                             "label": "human", "domain": content, "generator": "human",
                             "source": source})
                for g in gens:
                    rows.append({"text": f"{source} {content} {g} {i} " + "s " * 60,
                                 "label": "synthetic", "domain": content, "generator": g,
                                 "source": source})
    return rows


def test_plan_truth_counts_floors_and_leave_generators_out(monkeypatch):
    monkeypatch.setitem(rt.ROTATIONS, "T", rt.Rotation("T", ("DetectRL",), ("gpt-3.5-turbo",)))
    spec = rt.CrawlSpec(rotation="T", domains_per_cell=2, pre_docs=30, post_docs=50,
                        min_human_tokens=2000, min_domain_docs=20)
    plan = rt.plan_crawl(_rows(), spec)
    assert len(plan.truth) == 4
    cutoff = spec.cutoff
    for name, t in plan.truth.items():
        mine = [d for d in plan.docs if d.domain == name]
        pre = [d for d in mine if d.crawl_date < cutoff]
        post = [d for d in mine if d.crawl_date >= cutoff]
        assert len(pre) == t["n_pre"] and all(d.label == "human" for d in pre)
        assert len(post) == t["n_post"]
        n_syn = sum(d.label == "synthetic" for d in post)
        assert n_syn == t["n_synthetic_post"]
        assert t["share"] == pytest.approx(n_syn / len(post), abs=1e-6)
        assert abs(t["share"] - t["target_share"]) < 0.02
        for era in (pre, post):
            assert sum(rt.n_tokens(d.text) for d in era if d.label == "human") >= 2000
        assert all(d.generator in ("human", "gpt-3.5-turbo") for d in mine)
        assert all("/h/" not in d.url and "/s/" not in d.url for d in mine)
    assert {t["share"] for t in plan.truth.values()} >= {0.0}
    assert max(t["target_share"] for t in plan.truth.values()) == pytest.approx(0.8)
    # the detector sees neither the crawl's source nor its generator
    assert plan.detector_rows
    assert all(r["source"] != "DetectRL" and r["generator"] != "gpt-3.5-turbo"
               for r in plan.detector_rows)
    texts = {d.text for d in plan.docs}
    assert not texts & {r["text"] for r in plan.detector_rows}
    assert len(texts) == len(plan.docs)  # drawn without replacement
    assert rt.plan_crawl(_rows(), spec).docs == plan.docs  # deterministic


def test_write_crawl_is_atomic_and_refuses_foreign_dirs(tmp_path, monkeypatch):
    monkeypatch.setitem(rt.ROTATIONS, "T", rt.Rotation("T", ("DetectRL",), ("gpt-4",)))
    plan = rt.plan_crawl(_rows(), rt.CrawlSpec(rotation="T", domains_per_cell=2,
                                               pre_docs=30, post_docs=50,
                                               min_human_tokens=2000))
    out = tmp_path / "crawl"
    written = rt.write_crawl(plan, out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (out / "crawl" / "crawl_date=1999-01-15").mkdir()  # stale partition is removed
    rt.write_crawl(plan, out)
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert again == first and not (out / "crawl" / "crawl_date=1999-01-15").exists()
    truth = json.loads(written.truth.read_text())
    assert set(truth["domains"]) == set(plan.truth)
    assert sum(1 for _ in open(written.labels)) == len(plan.docs)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(InputError):
        rt.write_crawl(plan, foreign)
    assert (foreign / "keep.txt").exists()


@pytest.mark.shared_data
def test_real_rotations_hold_8k_human_tokens_per_era_where_data_allows():
    rows = rt.read_rows(DATA)
    for rotation in rt.ROTATIONS:
        plan = rt.plan_crawl(rows, rt.CrawlSpec(rotation=rotation))
        assert len(plan.truth) >= 10
        for name, t in plan.truth.items():
            floor = 8000 if "pubmedqa" not in name else 2000  # PubMedQA: 7.9k tokens in all
            assert t["human_tokens_pre"] >= floor and t["human_tokens_post"] >= floor, name


def test_first_words_cuts_after_the_nth_word_and_keeps_the_formatting():
    text = "One two,\n  three\tfour five"
    assert rt.first_words(text, 3) == "One two,\n  three"
    assert rt.first_words(text, 5) == text
    assert rt.first_words(text, 9) == text


def test_max_words_makes_short_pages_from_the_start_of_each_row(monkeypatch):
    monkeypatch.setitem(rt.ROTATIONS, "T", rt.Rotation("T", ("DetectRL",), ("gpt-3.5-turbo",)))
    spec = rt.CrawlSpec(rotation="T", domains_per_cell=2, pre_docs=30, post_docs=50,
                        min_human_tokens=200, min_domain_docs=20, max_words=12)
    whole = {r["text"] for r in _rows()}
    plan = rt.plan_crawl(_rows(), spec)
    assert plan.docs
    for doc in plan.docs:
        assert len(doc.text.split()) == 12
        assert any(t.startswith(doc.text) for t in whole)
    # the detector's training rows (other sources) are not cut
    assert any(len(r["text"].split()) > 12 for r in plan.detector_rows)
