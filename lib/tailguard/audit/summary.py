"""`audit/NAME/summary.json` and the audit's closing lines on stdout (pure; no Spark)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tailguard import __version__


def _round(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    return value


def summary(*, name: str, input_path: str, files: int, skipped_files: list[str],
            counts: dict[str, int], statuses: dict[str, int], shares: dict, why_not: str | None,
            duplicates: dict, shards: dict | None, cutoff: dt.date, config: str,
            timings: dict[str, float]) -> dict:
    """The summary's fields: documents (input records), attested / seen / new /
    quarantined, synthetic_share (of the not-attested documents: estimate, lo, hi,
    reference, ...; with `by_label` and `placebo`), duplicates, shards."""
    overall = shares.get("overall")
    share = dict(overall) if overall else {"estimate": None, "lo": None, "hi": None,
                                           "reference": None}
    if why_not:
        share["reason"] = why_not
    share["by_label"] = shares.get("by_label", {})
    share["placebo"] = shares.get("placebo")
    return _round({
        "name": name, "input": input_path, "files": files, "skipped_files": skipped_files,
        "documents": counts["read"],
        "attested": statuses.get("attested", 0), "seen": statuses.get("seen", 0),
        "new": statuses.get("new", 0), "quarantined": counts["quarantined"],
        "cutoff": cutoff.isoformat(),
        "synthetic_share": share, "duplicates": duplicates, "shards": shards,
        "config": config[:12], "tailguard": __version__,
        "stage_seconds": {k: round(v, 1) for k, v in timings.items()},
    })


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _interval(fit: dict | None) -> str:
    if not fit or fit.get("estimate") is None:
        return "n/a" + (f" ({fit['reason']})" if fit and fit.get("reason") else "")
    return f"{fit['estimate']:.3f} [{fit['lo']:.3f}, {fit['hi']:.3f}]"


def render(body: dict) -> str:
    """A few lines for the terminal."""
    n = body["documents"]
    share = body["synthetic_share"]
    lines = [
        f"audit {body['name']}: {n} records from {body['files']} file(s)",
        f"  attested {body['attested']} ({_pct(body['attested'], n)}), seen {body['seen']} "
        f"({_pct(body['seen'], n)}), new {body['new']} ({_pct(body['new'], n)}), "
        f"quarantined {body['quarantined']} ({_pct(body['quarantined'], n)})",
        f"  synthetic share of the not-attested: {_interval(share)}"
        + (f", reference {share['reference']}" if share.get("reference") else ""),
    ]
    for label, fit in list(share.get("by_label", {}).items())[:10]:
        lines.append(f"    {label}: {_interval(fit)} (n={fit.get('n')})")
    if share.get("placebo"):
        lines.append(f"  placebo (held-out crawl pre-AI text): {_interval(share['placebo'])}")
    d = body["duplicates"]
    lines.append(f"  internal duplicates: {d['exact_duplicates']} exact, "
                 f"{d['near_duplicate_documents']} documents in near-duplicate clusters, "
                 f"{d['redundant']} redundant")
    if body.get("shards"):
        s = body["shards"]
        tail = s.get("tail") or {}
        lines.append(f"  shard set {s['name']}: {s['overlap']} documents already in it"
                     + (f"; at {tail['token_budget']} tokens it adds {tail['added']} tail "
                        f"concepts (it holds {tail['dataset_tail']}, the set "
                        f"{tail['shard_tail']})" if tail else ""))
    return "\n".join(lines)
