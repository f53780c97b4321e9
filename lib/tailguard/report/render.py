"""ReportData -> one self-contained HTML page (inline CSS, plots as PNG data URIs).

No script, no external font or stylesheet: the file opens offline and in a mail client.
Tables are fixed-layout at the page width with wrapping cells, so nothing scrolls
sideways at 1024 px and up. Every value is HTML-escaped (domains and reasons come from
hostile crawl input).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from tailguard.report import plots
from tailguard.report.gather import ALL, ReportData

SECTIONS = (("overview", "Overview"), ("share", "Synthetic share per domain"),
            ("monthly", "Share by month"), ("diversity", "Diversity per era at matched budgets"),
            ("tail", "Tail coverage and rarefaction"), ("shards", "Shard mix"),
            ("ingest", "Ingest and quarantine"), ("detector", "Detector validation"),
            ("audits", "Outside datasets (audits)"), ("config", "Config and versions"))
# sections a report shows only when their data exists (a crawl need not have audits)
OPTIONAL = {"audits": lambda data: bool(data.audits)}


def sections(data: ReportData) -> list[tuple[str, str]]:
    """The (key, title) of the sections this report shows."""
    return [(k, t) for k, t in SECTIONS if k not in OPTIONAL or OPTIONAL[k](data)]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;
background:#fafafa}
main{max-width:1000px;margin:0 auto;padding:16px 20px 40px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}p.note{color:#555;margin:4px 0 10px}
nav a{margin-right:10px;font-size:13px}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;overflow-wrap:anywhere;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:
tabular-nums}
img{max-width:100%;height:auto;display:block;margin:6px 0}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{border:1px solid #e3e3e3;border-radius:6px;
padding:6px 10px;min-width:150px}.kpi b{display:block;font-size:18px}
.missing{color:#b00}details{margin:6px 0}
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{plots.data_uri(png)}">'


def _missing(job: str) -> str:
    return f'<p class="missing">No data yet: run <code>tailguard {html.escape(job)}</code>.</p>'


def _interval(row) -> str:
    if pd.isna(row["share"]):
        return "–"
    return f"{row['share']:.3f} [{row['share_lo']:.3f}, {row['share_hi']:.3f}]"


# What the real-text evaluation found about `pu` (docs/SHARE.md): the bootstrap holds
# the crawl's synthetic score distribution fixed, so this error is not in the interval.
PU_CAVEAT = (" The estimator fits every site with the crawl's one synthetic score "
             "distribution: where sites are written by different generators it can read "
             "some too high and others too low, by more than the interval shows "
             "(docs/DETECTOR.md, real-text evaluation).")


def section_share(data: ReportData) -> str:
    if data.share is None or data.share.empty:
        return _missing("share")
    domains = data.share[data.share["domain"] != ALL]
    overall = data.share[data.share["domain"] == ALL]
    primary = data.config.share.primary
    out = [f'<p class="note">Estimator <b>{html.escape(primary)}</b> (share.primary) over '
           "new post-AI documents, 95% bootstrap intervals. Placebo: "
           f"{html.escape(data.placebo_label or 'not computed')}; it should read about 0."
           f"{PU_CAVEAT if primary == 'pu' else ''}</p>"]
    shown = domains.dropna(subset=["share"])
    if not shown.empty:
        out.append(image(plots.share_by_domain(shown, data.placebo), "share per domain"))
    placebo = ({} if data.placebo is None else
               data.placebo.set_index("domain")["share"].to_dict())
    rows = [(r["domain"], int(r["n_docs"]), _interval(r), placebo.get(r["domain"]),
             r["reason"] or "") for _, r in pd.concat([overall, domains.sort_values(
                 "share", ascending=False, na_position="last")]).iterrows()]
    out.append(table(["domain", "post-AI docs", "share [95% interval]", "placebo", "note"], rows))
    if data.estimators is not None:
        est = [(r["era"], r["estimator"], int(r["n_docs"]), _interval(r), bool(r["is_primary"]))
               for _, r in data.estimators.iterrows()]
        out.append("<details><summary>Every estimator, all domains</summary>"
                   + table(["era", "estimator", "docs", "share [95% interval]", "primary"], est)
                   + "</details>")
    return "".join(out)


def section_monthly(data: ReportData) -> str:
    if data.monthly is None or data.monthly.empty:
        return _missing("share")
    named = ", ".join(html.escape(d) for d in data.monthly_domains if d != ALL)
    which = (f"Overall and the largest domains ({named})" if named else
             "Overall (no single domain has share.min_docs post-AI documents in a month)")
    return (f"<p class=\"note\">{which}; bands are 95% intervals.</p>"
            + image(plots.share_by_month(data.monthly, data.monthly_domains), "share by month"))


def section_diversity(data: ReportData) -> str:
    div = data.diversity
    if div is None or div.empty:
        return _missing("diversity")
    rows = [(int(r["token_budget"]), r["era"], int(r["n_docs"]),
             *[r[f"distinct_ratio_n_{k}"] for k in range(1, 5)], r["entropy_unigram"],
             r["compression_ratio"], r["homogenization"]) for _, r in div.iterrows()]
    return ('<p class="note">All domains, each era cut to the same token budget (a larger '
            "era is not more diverse just by being larger).</p>"
            + image(plots.diversity_by_era(div), "diversity per era")
            + table(["budget", "era", "docs", "distinct-1", "distinct-2", "distinct-3",
                     "distinct-4", "entropy", "compression", "homogenization"], rows))


def section_tail(data: ReportData) -> str:
    cov, rare = data.tail_coverage, data.rarefaction
    if cov is None or cov.empty:
        return _missing("diversity")
    concepts = int(cov["tail_concepts"].max())
    out = [f'<p class="note">{concepts:,} tail concepts (rare word n-grams of the pre-AI '
           "reference): share of them each scope covers at matched budgets, and distinct "
           "concepts as the budget grows (rarefaction).</p>",
           image(plots.curves(cov, "coverage", "tail coverage"), "tail coverage")]
    if rare is not None and not rare.empty:
        out.append(image(plots.curves(rare, "distinct_concepts", "distinct concepts"),
                         "rarefaction"))
        merged = cov.merge(rare[["scope", "token_budget", "distinct_concepts", "chao1"]],
                           on=["scope", "token_budget"], how="left")
    else:
        merged = cov.assign(distinct_concepts=None, chao1=None)
    rows = [(r["scope"], int(r["token_budget"]), int(r["covered"]), r["coverage"],
             r["distinct_concepts"], r["chao1"]) for _, r in merged.iterrows()]
    out.append(table(["scope", "budget", "tail covered", "coverage", "distinct concepts",
                      "Chao1"], rows))
    return "".join(out)


def section_shards(data: ReportData) -> str:
    m = data.manifest
    if not m:
        return _missing("shards")
    anchor, budget, tail = m.get("anchor", {}), m.get("budget", {}), m.get("tail", {})
    gain_n = tail.get("distinct_n_gain") or {}
    kpis = [("documents", m.get("rows")), ("tokens", m.get("tokens")),
            ("files", len(m.get("files", []))),
            ("anchor share", anchor.get("measured_share")),
            ("tail coverage gain", tail.get("tail_coverage_gain")),
            ("distinct-4 gain", gain_n.get("4"))]
    out = [_kpis(kpis), f'<p class="note">Shard set <b>{html.escape(str(m.get("name")))}</b>, '
           f"config {html.escape(str(m.get('config_hash', ''))[:12])}. Anchor: configured "
           f"{_fmt(anchor.get('configured_ratio'))}, applied {_fmt(anchor.get('applied_ratio'))}"
           f", measured {_fmt(anchor.get('measured_share'))}. Budget requested "
           f"{_fmt(budget.get('requested'))}, applied {_fmt(budget.get('applied'))}"
           + (f" ({html.escape(str(budget.get('message')))})" if budget.get("shrunk") else "")
           + ". " + _admission(m.get("admission") or {})
           + "Gains are shards over an unweighted sample of the same pool at the same "
             "budget.</p>"]
    if m.get("tokens_by_era"):
        out.append(image(plots.bars(m["tokens_by_era"], "tokens by era"), "tokens by era"))
    by_domain = m.get("tokens_by_domain") or {}
    if by_domain:
        top = dict(sorted(by_domain.items(), key=lambda kv: -kv[1])[:15])
        out.append(image(plots.bars(top, "tokens by domain (largest 15)"), "tokens by domain"))
    filters = m.get("filters") or {}
    rows = [(reason, int(count)) for reason, count in sorted(filters.items(),
                                                             key=lambda kv: -kv[1])]
    if rows:
        out.append(table(["quality filter / admission reason", "documents"], rows))
    return "".join(out)


def _admission(rule: dict) -> str:
    """The post-AI admission rule of a manifest, as a sentence ('' for an old manifest)."""
    parts = [(f"detector p_synthetic ≤ {_fmt(rule['max_p_synthetic'])}"
              if "max_p_synthetic" in rule else None),
             (f"in-crawl human_p ≥ {_fmt(rule['min_human_p'])}"
              if rule.get("min_human_p") else None),
             (f"site share upper bound ≤ {_fmt(rule['max_domain_share'])}"
              if "max_domain_share" in rule else None)]
    parts = [p for p in parts if p]
    return f"Post-AI pages admitted with {', '.join(parts)}. " if parts else ""


def section_ingest(data: ReportData) -> str:
    if not data.ingest:
        return _missing("ingest")
    i = data.ingest
    quarantined = sum(data.quarantine.values())
    out = [_kpis([("documents", i.get("docs")), ("crawl dates", i.get("dates")),
                  ("domains", i.get("domains")), ("quarantined", quarantined)]),
           f'<p class="note">Crawl dates {html.escape(str(i.get("first")))} to '
           f"{html.escape(str(i.get('last')))}; {_fmt(i.get('words'))} words.</p>"]
    if data.eras:
        out.append(table(["era", "documents"], sorted(data.eras.items())))
    rows = sorted(data.quarantine.items(), key=lambda kv: -kv[1])
    out.append(table(["quarantine reason", "records"], rows) if rows
               else '<p class="note">Nothing quarantined.</p>')
    return "".join(out)


def section_detector(data: ReportData) -> str:
    d = data.detector
    if not d:
        return _missing("train-detector")
    op = d.get("operating_point", {})
    rows = [("version", d.get("version")), ("ROC AUC", d.get("roc_auc")),
            ("accuracy", d.get("accuracy")), ("ECE (calibrated)", d.get("ece")),
            ("ECE (raw)", d.get("ece_raw")), ("threshold", op.get("threshold")),
            ("TPR at threshold", op.get("tpr")), ("FPR at threshold", op.get("fpr")),
            ("target FPR", op.get("target_fpr"))]
    rows += [(f"validation {k}", v) for k, v in sorted((d.get("counts") or {}).items())]
    return ('<p class="note">Held-out validation split of the detector\'s training data '
            "(detector.valid_fraction); see docs/DETECTOR.md for real-text evaluations.</p>"
            + table(["metric", "value"], [(k, v) for k, v in rows if v is not None]))


def section_config(data: ReportData) -> str:
    cfg = data.config
    rows = [(k, v) for k, v in sorted(data.versions.items())]
    flat = [(k, repr(v) if isinstance(v, list | dict) else v)
            for k, v in sorted(cfg.as_flat_dict().items())]
    return (f'<p class="note">Config hash {html.escape(cfg.fingerprint()[:16])}.</p>'
            + table(["component", "version"], rows)
            + "<details><summary>Every config value</summary>"
            + table(["key", "value"], [(k, str(v)) for k, v in flat]) + "</details>")


def overview(data: ReportData) -> str:
    overall = None if data.share is None else data.share[data.share["domain"] == ALL]
    share = None if overall is None or overall.empty else overall.iloc[0]
    m = data.manifest or {}
    kpis = [("documents", data.ingest.get("docs")),
            ("pre-AI / attested / post-AI", " / ".join(
                _fmt(data.eras.get(e, 0)) for e in ("pre_ai", "attested", "post_ai"))),
            ("synthetic share (all)", _interval(share) if share is not None else None),
            ("shard tokens", m.get("tokens")),
            ("anchor share", (m.get("anchor") or {}).get("measured_share")),
            ("tail coverage gain", (m.get("tail") or {}).get("tail_coverage_gain"))]
    missing = ""
    if data.missing:
        missing = ('<p class="missing">Not computed yet: '
                   + ", ".join(f"{html.escape(s)} (tailguard {html.escape(j)})"
                               for s, j in sorted(data.missing.items())) + "</p>")
    return _kpis(kpis) + missing


def _kpis(items: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(f'<div class="kpi">{html.escape(label)}<b>{html.escape(_fmt(value))}</b>'
                    "</div>" for label, value in items)
    return f'<div class="kpis">{cells}</div>'


def section_audits(data: ReportData) -> str:
    from tailguard.audit.report import section_audits as audits

    return audits(data.audits)


RENDERERS = {"overview": overview, "share": section_share, "monthly": section_monthly,
             "diversity": section_diversity, "tail": section_tail, "shards": section_shards,
             "ingest": section_ingest, "detector": section_detector, "audits": section_audits,
             "config": section_config}


def render(data: ReportData) -> str:
    shown = sections(data)
    nav = "".join(f'<a href="#{key}">{html.escape(title)}</a>' for key, title in shown[1:])
    body = "".join(f'<section id="{key}"><h2>{html.escape(title)}</h2>'
                   f"{RENDERERS[key](data)}</section>" for key, title in shown)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>tailguard report</title><style>{CSS}</style></head><body><main>"
            f"<h1>tailguard report</h1><nav>{nav}</nav>{body}</main></body></html>\n")
