"""The short summary `tailguard pipeline` (and so `make demo`) ends with on stdout.

`summary_lines` is a pure function of the numbers (unit-tested without Spark);
`pipeline_summary` reads them from the stored tables and the shard manifest.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tailguard import paths
from tailguard.report.gather import ALL, ReportData, _counts, _share, read_json


def _interval(row: dict[str, Any]) -> str:
    return f"{row['share']:.3f} [{row['share_lo']:.3f}, {row['share_hi']:.3f}]"


def summary_lines(eras: dict[str, int], share: pd.DataFrame | None, manifest: dict | None,
                  report: str | None, extremes: int = 3) -> list[str]:
    """Documents by era, the highest- and lowest-share domains with intervals, the shard
    set (size, anchor share, tail gain) and the report's path."""
    total = sum(eras.values())
    lines = ["tailguard summary",
             f"  documents: {total:,} (" + ", ".join(
                 f"{era} {eras.get(era, 0):,}" for era in ("pre_ai", "attested", "post_ai"))
             + ")"]
    if share is not None and not share.empty:
        overall = share[share["domain"] == ALL]
        if not overall.empty:
            lines.append(f"  synthetic share, all post-AI docs: {_interval(overall.iloc[0])}")
        known = share[(share["domain"] != ALL) & share["share"].notna()].sort_values(
            ["share", "domain"], ascending=[False, True])
        top = known.head(extremes)
        bottom = known.iloc[::-1].head(extremes)
        for label, rows in (("highest", top), ("lowest", bottom)):
            if not rows.empty:
                lines.append(f"  {label} share: " + "; ".join(
                    f"{r['domain']} {_interval(r)}" for _, r in rows.iterrows()))
        skipped = int(((share["domain"] != ALL) & share["share"].isna()).sum())
        if skipped:
            lines.append(f"  {skipped} domain(s) without an estimate (too few documents)")
    else:
        lines.append("  synthetic share: not computed")
    if manifest:
        anchor, tail = manifest.get("anchor") or {}, manifest.get("tail") or {}
        gain = tail.get("tail_coverage_gain")
        lines.append(
            f"  shards '{manifest.get('name')}': {manifest.get('rows', 0):,} docs, "
            f"{manifest.get('tokens', 0):,} tokens, {len(manifest.get('files', []))} files, "
            f"{manifest.get('bytes', 0) / 1e6:.1f} MB; anchor share "
            f"{anchor.get('measured_share', float('nan')):.3f} (>= "
            f"{anchor.get('applied_ratio', float('nan')):.2f}); tail coverage gain "
            + (f"{gain:.3f}x" if gain is not None else "n/a"))
    else:
        lines.append("  shards: not written")
    lines.append(f"  report: {report}" if report else "  report: not written")
    return lines


def pipeline_summary(spark, cfg) -> str:
    data = ReportData(config=cfg)
    _counts(spark, cfg, data)
    _share(spark, cfg, data)
    manifest = read_json(paths.join(cfg.table_path("shards"), cfg.shards.name,
                                    "manifest.json"))
    from tailguard.report.job import report_path

    report = report_path(cfg)
    exists = read_json_exists(report)
    return "\n".join(summary_lines(data.eras, data.share, manifest,
                                   report if exists else None))


def read_json_exists(uri: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(paths.for_pyarrow(paths.absolute(uri)))
    return fs.get_file_info(path).type == pafs.FileType.File
