"""Ground truth of the demo crawl: what every record really is, and the true shares.

The estimators of `tailguard share` are judged against `domain_share.json`: the realised
(not just expected) synthetic share of each domain's post-cutoff NEW pages, i.e.
originals crawled on or after the cutoff; re-crawls of older pages are not new content.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tailguard.sample.plan import Doc, crawl_dates, share_at

DOC_FIELDS = ("url", "crawl_date", "domain", "host", "label", "kind", "source_url",
              "expected_reason", "format", "file", "record_index", "near_jaccard")


def doc_row(doc: Doc) -> dict:
    row = {k: getattr(doc, k) for k in DOC_FIELDS if k != "format"}
    row["format"] = doc.fmt
    return {k: row[k] for k in DOC_FIELDS}


def _share(n_syn: int, n_new: int) -> float | None:
    return round(n_syn / n_new, 6) if n_new else None


def domain_shares(docs: list[Doc], targets: dict[str, float], cutoff: str) -> dict:
    """Per domain and per (domain, month): new post-cutoff pages, synthetic among them."""
    new = [d for d in docs if d.kind == "original" and d.crawl_date >= cutoff]
    per_domain = Counter((d.domain, d.label) for d in new)
    per_month = Counter((d.domain, d.crawl_date[:7], d.label) for d in new)
    months = [(d.isoformat()[:7], m) for m, d in enumerate(crawl_dates())
              if d.isoformat() >= cutoff]
    domains = {}
    for name, final in sorted(targets.items()):
        n_syn, n_hum = per_domain[(name, "synthetic")], per_domain[(name, "human")]
        monthly = {}
        for i, (month, _) in enumerate(months):
            s, h = per_month[(name, month, "synthetic")], per_month[(name, month, "human")]
            monthly[month] = {"n_new": s + h, "n_synthetic": s, "share": _share(s, s + h),
                              "expected_share": round(share_at(final, i), 6)}
        domains[name] = {"target_final_share": final, "n_new_post": n_syn + n_hum,
                         "n_synthetic_post": n_syn, "share": _share(n_syn, n_syn + n_hum),
                         "monthly": monthly}
    n_syn = sum(v["n_synthetic_post"] for v in domains.values())
    n_new = sum(v["n_new_post"] for v in domains.values())
    return {"cutoff": cutoff,
            "definition": "share = n_synthetic_post / n_new_post over records with "
                          "kind == 'original' and crawl_date >= cutoff",
            "domains": domains,
            "__all__": {"n_new_post": n_new, "n_synthetic_post": n_syn,
                        "share": _share(n_syn, n_new)}}


def summary(docs: list[Doc], files: dict[str, int], params: dict) -> dict:
    """Totals by format, kind and label, the files written and the generator settings."""
    def count(key) -> dict:
        return dict(sorted(Counter(str(key(d)) for d in docs).items()))

    return {"params": params, "records": len(docs),
            "by_format": count(lambda d: d.fmt), "by_kind": count(lambda d: d.kind),
            "by_label": count(lambda d: d.label),
            "by_expected_reason": dict(sorted(Counter(
                d.expected_reason for d in docs if d.expected_reason).items())),
            "files": len(files), "bytes": sum(files.values())}


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
