"""The report's "Audits" section: one row per `audit/NAME/summary.json` under output.root
(the audit job writes them; the report only reads)."""

from __future__ import annotations

from typing import Any

import pyarrow.fs as pafs

from tailguard import paths


def gather_audits(cfg) -> list[dict[str, Any]]:
    """Every audit summary under `audit/`, by name; none when there is no audit."""
    from tailguard.report.gather import read_json

    root = cfg.table_path("audit")
    fs, path = pafs.FileSystem.from_uri(paths.for_pyarrow(paths.absolute(root)))
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    names = sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(path))
                   if info.type == pafs.FileType.Directory
                   and not info.base_name.startswith(("_", ".")))
    found = (read_json(paths.join(root, name, "summary.json")) for name in names)
    return [body for body in found if body]


def _share(fit: dict | None) -> str:
    if not fit or fit.get("estimate") is None:
        return "–"
    return f"{fit['estimate']:.3f} [{fit['lo']:.3f}, {fit['hi']:.3f}]"


def section_audits(audits: list[dict[str, Any]]) -> str:
    """A table: records, attested / seen / new / quarantined, the synthetic share of the
    not-attested part with its reference and placebo, internal redundancy."""
    from tailguard.report.render import table

    if not audits:
        return ("<p>No outside dataset audited yet: <code>tailguard audit --input PATH"
                "</code> (docs/AUDIT.md).</p>")
    rows = []
    for a in audits:
        share = a.get("synthetic_share") or {}
        rows.append((a["name"], a["documents"], a["attested"], a["seen"], a["new"],
                     a["quarantined"], _share(share), share.get("reference") or "–",
                     _share(share.get("placebo")),
                     (a.get("duplicates") or {}).get("redundant")))
    return ("<p>Outside datasets looked up in the crawl (read-only). <em>attested</em>: "
            "copies of pages first seen before the cutoff; the synthetic share is of the "
            "rest, against the crawl's own pre-AI text (reference <em>own</em>: the "
            "dataset's URLs fall on crawl sites); the placebo is held-out crawl pre-AI "
            "text and should read about 0.</p>"
            + table(["audit", "records", "attested", "seen", "new", "quarantined",
                     "synthetic share [95%]", "reference", "placebo", "redundant"], rows))
