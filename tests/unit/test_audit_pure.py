"""The audit's pure parts: stored parameters, record finishing, the share fits, the
summary (no Spark)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tailguard.audit import read, summary
from tailguard.audit import share as audit_share
from tailguard.audit.job import audit_name
from tailguard.audit.lookup import StoredDedup
from tailguard.config import load_config
from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.state import dedup_params
from tailguard.errors import InputError
from tailguard.io.readers import RAW_SCHEMA
from tailguard.share import pu


def _params(**changes):
    cfg = load_config([], [])
    params = dedup_params(cfg, LshSpec.from_config(cfg.dedup))
    params.update(changes)
    return params


def test_stored_parameters_are_the_index_s_not_the_config_s():
    stored = StoredDedup.from_params(_params(**{"dedup.num_perm": "64",
                                                "lsh.bands_x_rows": "8x8",
                                                "dedup.shingle_size": "3"}), "/root")
    assert stored.spec == LshSpec(64, 8, 8)
    assert stored.hasher.num_perm == 64 and stored.hasher.shingle_size == 3
    assert stored.scope == "domain+global" and stored.min_repeats == 5
    assert stored.global_max_words > 0 and stored.site_max_words > 0


def test_missing_or_foreign_stored_parameters_fail_naming_the_key():
    with pytest.raises(InputError, match="dedup_params"):
        StoredDedup.from_params(None, "/root")
    params = _params()
    del params["dedup.seed"]
    with pytest.raises(InputError, match="does not record dedup.seed"):
        StoredDedup.from_params(params, "/root")
    with pytest.raises(InputError, match="fingerprint"):
        StoredDedup.from_params(_params(fingerprint="words v0"), "/root")
    none = StoredDedup.from_params(_params(**{"dedup.boilerplate_scope": "none",
                                              "dedup.boilerplate_min_repeats": "-"}), "/r")
    assert none.scope == "none" and none.min_repeats == 0 and none.site_max_words == 0


def _raw(rows):
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, RAW_SCHEMA, strict=True)],
        schema=RAW_SCHEMA)


def test_records_keep_a_missing_url_and_quarantine_bad_ones_with_a_reason():
    cfg = load_config([], [])
    opts = read.read_options(cfg, 64)
    raw = _raw([
        (0, None, "Text without a URL.", "wiki", None, b"{}", None),
        (1, "https://Example.com/a", "Some text.", None, None, b"{}", None),
        (2, "not a url", "Some text.", None, None, b'{"url": "not a url"}', None),
        (3, "https://example.com/b", "   ", None, None, b'{"text": "   "}', None),
        (4, None, None, None, "malformed_json", b"{oops", None),
        (5, "", "Empty URL string is no URL.", "x", None, b"{}", None),
    ])
    out = read.finish_batch(raw, "part.jsonl", opts, 1000, ("http", "https")).to_pylist()
    assert [r["reason"] for r in out] == [None, None, "invalid_url", "empty_text",
                                          "malformed_json", None]
    assert out[0]["url"] is None and out[0]["label"] == "wiki" and out[0]["n_words"] == 4
    assert out[1]["url"] == "https://example.com/a" and out[1]["domain"] == "example.com"
    assert out[2]["text"] is None and out[2]["raw_prefix"]
    assert out[4]["raw_prefix"] == "{oops"
    assert all(r["n_read"] is None for r in out)


def test_read_options_fall_back_to_the_input_fields():
    cfg = load_config([], ["audit.text_field=body", "audit.label_field="])
    opts = read.read_options(cfg, 16)
    assert (opts.text_field, opts.url_field) == ("body", cfg.input.url_field)
    assert opts.lang_field not in ("", "lang")


def test_audit_name():
    assert audit_name(argparse.Namespace(input="/x/vendor-a.jsonl.gz", name=None)) == "vendor-a"
    assert audit_name(argparse.Namespace(input="/x/hf_dataset/", name=None)) == "hf_dataset"
    with pytest.raises(InputError):
        audit_name(argparse.Namespace(input="/x", name="../up"))


def _reference(rng, sites=4, pre=400):
    """Human scores ~ Beta(2, 5) on every site, synthetic ~ Beta(6, 2)."""
    grid = np.unique(np.quantile(np.concatenate([rng.beta(2, 5, 4000), rng.beta(6, 2, 1000)]),
                                 np.linspace(0.01, 0.99, 99)))
    human = rng.beta(2, 5, 20000)
    f_syn = pu.weighted_cdf(rng.beta(6, 2, 20000), grid)
    pooled = pu.weighted_cdf(human, grid)
    frame = pd.DataFrame({
        "domain": np.repeat([f"site{i}.com" for i in range(sites)], pre),
        "pu_score": rng.beta(2, 5, sites * pre),
        "doc_hash": rng.integers(-2**62, 2**62, sites * pre)})
    cfg = load_config([], ["share.bootstrap=60"])
    return audit_share.reference_from(grid, f_syn, pooled, frame, cfg.share)


def _targets(rng, n, share, domains):
    synthetic = rng.random(n) < share
    scores = np.where(synthetic, rng.beta(6, 2, n), rng.beta(2, 5, n))
    return pd.DataFrame({"domain": rng.choice(domains, n), "label": np.where(
        synthetic, "vendor", "other"), "pu_score": scores,
        "doc_hash": rng.integers(-2**62, 2**62, n)})


@pytest.mark.parametrize("truth", [0.0, 0.3])
def test_share_of_not_attested_documents_covers_the_truth(truth):
    rng = np.random.default_rng(5)
    ref = _reference(rng)
    on_sites = _targets(rng, 600, truth, ["site0.com", "site1.com", "site2.com"])
    elsewhere = _targets(rng, 300, truth, [None, "unknown.org"])
    fit = audit_share.fit_groups(pd.concat([on_sites, elsewhere]), ref)
    assert fit["reference"] == "own+pooled" and fit["sites"] == 3
    assert fit["documents_own_reference"] == 600 and fit["documents_pooled_reference"] == 300
    assert abs(fit["estimate"] - truth) <= 0.05, fit
    assert fit["lo"] <= truth <= fit["hi"], fit


def test_shares_per_label_and_the_placebo():
    rng = np.random.default_rng(6)
    ref = _reference(rng)
    targets = _targets(rng, 800, 0.4, ["site0.com", "site1.com"])
    out = audit_share.audit_shares(targets, ref, max_labels=5)
    assert set(out["by_label"]) == {"vendor", "other"}
    assert out["by_label"]["vendor"]["estimate"] > 0.9
    assert out["by_label"]["other"]["estimate"] < 0.1
    placebo = out["placebo"]
    assert placebo["sites"] == 2 and abs(placebo["estimate"]) <= 0.08, placebo
    assert placebo["lo"] <= 0.0 <= placebo["hi"], placebo


def test_no_scored_document_has_no_share():
    rng = np.random.default_rng(7)
    ref = _reference(rng)
    empty = pd.DataFrame({"domain": [None], "label": [None], "pu_score": [np.nan],
                          "doc_hash": [1]})
    assert audit_share.fit_groups(empty, ref)["estimate"] is None


def test_summary_and_its_lines():
    import datetime as dt

    body = summary.summary(
        name="v", input_path="/x", files=1, skipped_files=[],
        counts={"read": 10, "kept": 9, "quarantined": 1},
        statuses={"attested": 5, "new": 4}, shares={"overall": {
            "estimate": 0.123456, "lo": 0.1, "hi": 0.2, "reference": "pooled", "n": 4},
            "by_label": {}, "placebo": None}, why_not=None,
        duplicates={"documents": 9, "exact_duplicates": 1, "near_duplicate_documents": 2,
                    "clusters": 8, "redundant": 1}, shards=None,
        cutoff=dt.date(2022, 11, 30), config="abcdef0123456789", timings={"read": 1.234})
    assert (body["documents"], body["attested"], body["seen"], body["new"],
            body["quarantined"]) == (10, 5, 0, 4, 1)
    assert body["synthetic_share"]["estimate"] == 0.1235
    text = summary.render(body)
    assert "attested 5 (50.0%)" in text and "0.123 [0.100, 0.200]" in text


def test_report_section_lists_the_audits(tmp_path):
    import json as json_module

    from tailguard.audit.report import gather_audits, section_audits

    cfg = load_config([], [f"output.root={tmp_path}"])
    assert gather_audits(cfg) == [] and "No outside dataset" in section_audits([])
    body = {"name": "vendor", "documents": 10, "attested": 5, "seen": 1, "new": 3,
            "quarantined": 1, "synthetic_share": {"estimate": 0.25, "lo": 0.1, "hi": 0.4,
                                                  "reference": "own", "placebo": None},
            "duplicates": {"redundant": 2}}
    (tmp_path / "audit" / "vendor").mkdir(parents=True)
    (tmp_path / "audit" / "vendor" / "summary.json").write_text(json_module.dumps(body))
    (tmp_path / "audit" / "_staging").mkdir()
    assert [a["name"] for a in gather_audits(cfg)] == ["vendor"]
    html = section_audits(gather_audits(cfg))
    assert "<td>vendor</td>" in html and "0.250 [0.100, 0.400]" in html


def test_the_cli_knows_the_audit():
    from tailguard.cli import build_parser

    args = build_parser().parse_args(["audit", "--input", "data.jsonl", "--shards", "main"])
    assert (args.job, args.input, args.name, args.shards) == ("audit", "data.jsonl", None, "main")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["audit"])


def test_the_placebo_fifth_is_not_a_fold_of_the_classifier():
    hashes = np.random.default_rng(8).integers(-2**63, 2**63 - 1, 50_000, dtype=np.int64)
    held = audit_share.held_out(hashes)
    assert 0.19 < held.mean() < 0.21
    folds = np.mod(hashes, 5)  # pu_classifier.with_fold: pmod(xxhash64(doc_id, seed), 5)
    per_fold = [held[folds == k].mean() for k in range(5)]
    assert max(per_fold) - min(per_fold) < 0.03, per_fold


def test_documents_spread_thinly_over_sites_meet_their_sites_mixture():
    """Sites whose human text scores differently: a few documents on each are fitted
    against the mixture of their own sites' pre-AI text, not against the pooled one."""
    rng = np.random.default_rng(9)
    ref = _reference(rng, sites=2, pre=400)
    low, high = rng.beta(2, 8, 400), rng.beta(3, 4, 400)  # site0 scores low, site1 higher
    ref.sites["site0.com"] = (low, ref.sites["site0.com"][1])
    ref.sites["site1.com"] = (high, ref.sites["site1.com"][1])
    targets = pd.DataFrame({"domain": ["site1.com"] * 12, "label": None,
                            "pu_score": rng.beta(3, 4, 12),
                            "doc_hash": rng.integers(-2**62, 2**62, 12)})
    assert list(audit_share.groups_of(targets.domain.to_numpy(), ref)) == [
        audit_share.MATCHED] * 12
    fit = audit_share.fit_groups(targets, ref)
    assert fit["reference"] == "own" and fit["sites"] == 1
    assert fit["estimate"] <= 0.1 and fit["lo"] <= 0.0, fit
