"""The real-text evaluation's bookkeeping: pooled crawl draws, oracle floor, report block."""

from __future__ import annotations

import pandas as pd
import pytest
from bench.common import replace_section
from bench.share_realeval import summary


def _row(seed, domain, true, share, lo, hi, oracle=None, placebo=None):
    return {"rotation": "R1", "seed": seed, "estimator": "pu", "domain": domain,
            "true": true, "share": share, "lo": lo, "hi": hi, "placebo": placebo,
            "placebo_lo": None, "placebo_hi": None, "oracle": oracle}


def test_summary_pools_crawl_draws_and_reports_the_worst_draw_and_the_oracle():
    frame = pd.DataFrame([
        _row(1, "a.com", 0.2, 0.25, 0.1, 0.3, oracle=0.21, placebo=0.02),   # err 0.05
        _row(1, "b.com", 0.5, 0.45, 0.4, 0.6, oracle=0.52),                 # err 0.05
        _row(2, "a.com", 0.2, 0.40, 0.3, 0.5, oracle=0.26, placebo=-0.04),  # err 0.20, missed
        _row(2, "b.com", 0.5, None, None, None),                            # not measured
    ])
    row = summary(frame).iloc[0]
    assert row.seeds == 2 and row.domains == 4 and row.measured == 3
    assert row.mae == pytest.approx((0.05 + 0.05 + 0.20) / 3)
    assert row.mae_worst_seed == pytest.approx(0.20)
    assert row.coverage == pytest.approx(2 / 3)
    assert row.coverage_worst_seed == pytest.approx(0.0)  # draw 2's one domain missed
    assert row.oracle_mae == pytest.approx((0.01 + 0.02 + 0.06) / 3)
    assert row.placebo_mean == pytest.approx(-0.01)


def test_summary_of_a_single_draw_without_oracle_column():
    frame = pd.DataFrame([_row(1, "a.com", 0.2, 0.3, 0.1, 0.4)]).drop(columns=["seed", "oracle"])
    row = summary(frame).iloc[0]
    assert row.seeds == 1 and row.mae == pytest.approx(0.1)
    assert row.oracle_mae is None


def test_replace_section_replaces_only_the_marked_block(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# head\n<!-- s:b -->\nold\n<!-- s:e -->\ntail\n", "utf-8")
    replace_section(path, "<!-- s:b -->", "<!-- s:e -->", "<!-- s:b -->\nnew\n<!-- s:e -->")
    assert path.read_text("utf-8") == "# head\n<!-- s:b -->\nnew\n<!-- s:e -->\ntail\n"


def test_replace_section_appends_when_the_file_has_no_block(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# head\n", "utf-8")
    replace_section(path, "<!-- s:b -->", "<!-- s:e -->", "<!-- s:b -->\nx\n<!-- s:e -->")
    assert path.read_text("utf-8") == "# head\n\n<!-- s:b -->\nx\n<!-- s:e -->\n"


def test_diversity_eval_block_lists_every_draw_and_their_mean():
    from bench.diversity_eval import BEGIN, END, section

    results = [{"rotation": "R1", "seed": s, "domains": 20, "matched": 20,
                "with_interval": w, "spearman_delta_compression_ratio": c,
                "spearman_delta_distinct_ratio_n_2": d, "spearman_delta_coverage": t}
               for s, c, d, t, w in ((1, 0.7, -0.2, -0.1, 18), (2, 0.9, -0.4, -0.3, 20))]
    block = section(results, "cmd")
    assert block.startswith(BEGIN) and block.endswith(END)
    row = next(line for line in block.splitlines() if line.startswith("| R1 "))
    assert "| 2 | 20/20, 20/20 |" in row
    assert "mean +0.80 (+0.70, +0.90)" in row and "mean -0.30 (-0.20, -0.40)" in row
    assert "mean -0.20 (-0.10, -0.30)" in row and row.endswith("| 18/20, 20/20 |")
