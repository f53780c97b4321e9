"""The report page and the pipeline summary from hand-made numbers (no Spark)."""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
from PIL import Image

from tailguard.config import load_config
from tailguard.progress import StageState, progress_line, rate_line
from tailguard.report.gather import ReportData
from tailguard.report.render import OPTIONAL, SECTIONS, render
from tailguard.report.summary import summary_lines


def _share() -> pd.DataFrame:
    rows = [("__all__", 300, 0.2, 0.15, 0.25, None), ("a.com", 100, 0.5, 0.4, 0.6, None),
            ("<b>evil</b>.net", 120, 0.1, 0.05, 0.15, None),
            ("c.org", 80, 0.3, 0.2, 0.4, None), ("tiny.io", 3, None, None, None, "min_docs")]
    return pd.DataFrame(rows, columns=["domain", "n_docs", "share", "share_lo", "share_hi",
                                       "reason"]).assign(era="post_ai", estimator="acc",
                                                         is_primary=True)


def _manifest() -> dict:
    return {"name": "main", "config_hash": "ab" * 32, "rows": 1234, "tokens": 567890,
            "bytes": 2_500_000, "files": [{"name": "part-00000.parquet"}],
            "budget": {"requested": 600000, "applied": 567890, "shrunk": True,
                       "message": "anchor-limited"},
            "anchor": {"configured_ratio": 0.6, "applied_ratio": 0.6, "measured_share": 0.61},
            "tokens_by_era": {"pre_ai": 400000, "post_ai": 167890},
            "tokens_by_domain": {"a.com": 300000, "c.org": 267890},
            "filters": {"p_synthetic": 12, "human_p": 7, "duplicate_exact": 5},
            "admission": {"max_p_synthetic": 0.5, "min_human_p": 0.2, "max_domain_share": 0.6},
            "tail": {"tail_coverage_gain": 1.08, "distinct_n_gain": {"4": 1.01}}}


def test_summary_lists_eras_extremes_shards_and_report():
    lines = summary_lines({"pre_ai": 700, "attested": 50, "post_ai": 250}, _share(),
                          _manifest(), "out/t/report/index.html", extremes=1)
    text = "\n".join(lines)
    assert "documents: 1,000 (pre_ai 700, attested 50, post_ai 250)" in text
    assert "all post-AI docs: 0.200 [0.150, 0.250]" in text
    assert "highest share: a.com 0.500 [0.400, 0.600]" in text
    assert "lowest share: <b>evil</b>.net 0.100 [0.050, 0.150]" in text
    assert "1 domain(s) without an estimate" in text
    assert "1,234 docs, 567,890 tokens, 1 files, 2.5 MB; anchor share 0.610" in text
    assert "tail coverage gain 1.080x" in text
    assert lines[-1] == "  report: out/t/report/index.html"


def test_summary_says_what_is_missing():
    lines = summary_lines({}, None, None, None)
    assert "  synthetic share: not computed" in lines and "  shards: not written" in lines
    assert lines[-1] == "  report: not written"


def _data() -> ReportData:
    cfg = load_config((), ["output.root=/tmp/x"])
    months = pd.DataFrame({"domain": ["__all__"] * 3, "month": ["2023-01-01", "2023-02-01",
                                                                 "2023-03-01"],
                           "share": [0.1, 0.2, 0.3], "share_lo": [0.05, 0.1, 0.2],
                           "share_hi": [0.15, 0.3, 0.4]})
    div = pd.DataFrame([{"token_budget": b, "era": e, "n_docs": 10,
                         **{f"distinct_ratio_n_{k}": 0.2 * k for k in range(1, 5)},
                         "entropy_unigram": 8.0, "compression_ratio": 2.5,
                         "homogenization": 0.01}
                        for b in (1000, 2000) for e in ("pre_ai", "post_ai")])
    cov = pd.DataFrame([{"scope": s, "token_budget": b, "tail_concepts": 500, "covered": b // 20,
                         "coverage": b / 10000} for s in ("pre_ai", "post_ai")
                        for b in (1000, 2000)])
    rare = cov.assign(distinct_concepts=cov["covered"] * 3, chao1=1000.0)
    share = _share()
    placebo = share.assign(era="placebo", share=0.01)
    return ReportData(config=cfg, share=share, placebo=placebo, placebo_label="placebo",
                      estimators=share[share["domain"] == "__all__"], monthly=months,
                      monthly_domains=["__all__"], diversity=div, tail_coverage=cov,
                      rarefaction=rare, manifest=_manifest(),
                      eras={"pre_ai": 700, "post_ai": 250}, ingest={"docs": 1000, "dates": 3},
                      quarantine={"malformed_json": 4}, detector={"version": "ft-1",
                                                                  "roc_auc": 0.99},
                      versions={"tailguard": "0.1.0"})


def test_render_has_every_section_escapes_input_and_embeds_decodable_pngs():
    page = render(_data())
    for key, title in SECTIONS:
        shown = f'<section id="{key}"><h2>{title}</h2>' in page
        assert shown == (key not in OPTIONAL), key  # no audits here: no audits section
    audited = _data()
    audited.audits = [{"name": "vendor", "documents": 3, "attested": 1, "seen": 0, "new": 2,
                       "quarantined": 0, "synthetic_share": None, "duplicates": None}]
    assert '<section id="audits">' in render(audited) and "<td>vendor</td>" in render(audited)
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;.net" in page
    assert "<script" not in page and 'class="missing"' not in page
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) == 7  # share, monthly, diversity, coverage, rarefaction, era + domain mix
    for data in pngs:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.verify()
    assert render(_data()) == page  # same numbers, same bytes (no timestamp in the PNGs)
    # the shard section states the post-AI admission rule the manifest records
    assert ("Post-AI pages admitted with detector p_synthetic ≤ 0.500, in-crawl human_p ≥ "
            "0.200, site share upper bound ≤ 0.600.") in page


def test_share_section_states_the_pu_limit_only_when_pu_is_primary():
    caveat = "with the crawl's one synthetic score distribution"
    assert caveat in render(_data())  # share.primary defaults to pu
    data = _data()
    data.config = load_config((), ["output.root=/tmp/x", "share.primary=acc"])
    assert caveat not in render(data)


def test_render_names_the_job_for_a_missing_section():
    data = ReportData(config=load_config((), ["output.root=/tmp/x"]))
    data.missing = {"shards": "shards"}
    page = render(data)
    assert "run <code>tailguard shards</code>" in page
    assert "run <code>tailguard share</code>" in page


def test_progress_and_rate_lines():
    line = progress_line("score", StageState(12, "parquet at NativeMethodAccessorImpl.java:0",
                                             64, 30, 1))
    assert line == "score: stage 12 (parquet) 30/64 tasks, 1 failed"
    closure = StageState(3, "$anonfun$withThreadLocalCaptured$1 at ...", 4, 0, 0)
    assert progress_line("diversity", closure) == "diversity: stage 3 0/4 tasks"
    assert rate_line("ingest", 2.0, 10_000) == (
        "ingest: done in 2.0 s (5,000 docs/s over 10,000 docs)")
    assert rate_line("report", 1.25, None) == "report: done in 1.2 s"
