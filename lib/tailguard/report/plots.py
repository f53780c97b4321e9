"""The report's figures: matplotlib (Agg, no display) to PNG bytes, embedded as data URIs.

Each function takes small pandas frames (already aggregated by the gather step) and
returns PNG bytes. PNG metadata carries no timestamp or version, so the same numbers
give the same image bytes.
"""

from __future__ import annotations

import base64
import io

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ERA_COLOURS = {"pre_ai": "#1b7837", "attested": "#5aae61", "post_ai": "#c2185b",
               "shards": "#1f4e9c", "unweighted": "#9e9e9e"}
_PNG_META = {"Software": None}


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata=_PNG_META)
    plt.close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def share_by_domain(share: pd.DataFrame, placebo: pd.DataFrame | None) -> bytes:
    """Horizontal point + 95% interval per domain (primary estimator), the placebo beside."""
    rows = share.sort_values("share", na_position="first")
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.2))
    y = range(len(rows))
    low = -0.05
    # an estimator's interval need not hold its point (matplotlib refuses a negative
    # error bar): such a side is drawn as no bar
    ax.errorbar(rows["share"], y, xerr=[(rows["share"] - rows["share_lo"]).clip(lower=0),
                                        (rows["share_hi"] - rows["share"]).clip(lower=0)],
                fmt="o", color=ERA_COLOURS["post_ai"], ecolor="#888", capsize=2, ms=4,
                label="post-AI share (95% interval)")
    if placebo is not None and not placebo.empty:
        lookup = placebo.set_index("domain")["share"]
        values = [lookup.get(d) for d in rows["domain"]]
        ax.plot(values, y, "x", color=ERA_COLOURS["pre_ai"], ms=5, label="placebo (pre-AI)")
        # a placebo is signed (pu_share.py): room on the left for negative readings
        low = min([-0.05, *[v - 0.03 for v in values if v is not None and np.isfinite(v)]])
    ax.set_yticks(list(y), [_short(d) for d in rows["domain"]], fontsize=8)
    ax.axvline(0, color="#ccc", lw=0.8)
    ax.set_xlim(low, 1.0)
    ax.set_xlabel("estimated synthetic share of new (post-AI) documents")
    ax.legend(loc="lower right", fontsize=8)
    return to_png(fig)


def share_by_month(monthly: pd.DataFrame, domains: list[str]) -> bytes:
    """Share by month with its interval band, one line per domain (overall first)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for domain in domains:
        rows = monthly[monthly["domain"] == domain].sort_values("month")
        if rows.empty:
            continue
        x = pd.to_datetime(rows["month"])
        width = 2.2 if domain == "__all__" else 1.2
        line = ax.plot(x, rows["share"], lw=width, marker="o", ms=3,
                       label="overall" if domain == "__all__" else _short(domain))[0]
        ax.fill_between(x, rows["share_lo"], rows["share_hi"], color=line.get_color(),
                        alpha=0.12)
    ax.set_ylim(0, 1)
    ax.set_ylabel("synthetic share")
    ax.legend(fontsize=7, ncol=2)
    fig.autofmt_xdate()
    return to_png(fig)


def diversity_by_era(div: pd.DataFrame) -> bytes:
    """distinct-n ratio (n = 1..4) per era at each matched token budget."""
    budgets = sorted(div["token_budget"].unique())
    fig, axes = plt.subplots(1, len(budgets), figsize=(2.6 * len(budgets) + 0.6, 2.8),
                             sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets, strict=True):
        rows = div[div["token_budget"] == budget]
        for _, row in rows.iterrows():
            ax.plot([1, 2, 3, 4], [row[f"distinct_ratio_n_{k}"] for k in range(1, 5)],
                    marker="o", ms=3, color=ERA_COLOURS.get(row["era"]), label=row["era"])
        ax.set_title(f"{int(budget):,} tokens", fontsize=9)
        ax.set_xticks([1, 2, 3, 4])
        ax.set_xlabel("n")
    axes[0][0].set_ylabel("distinct n-grams / n-grams")
    axes[0][0].legend(fontsize=7)
    return to_png(fig)


def curves(rows: pd.DataFrame, value: str, ylabel: str) -> bytes:
    """One line per scope over the token budget (tail coverage, rarefaction)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    for scope, group in rows.groupby("scope", sort=True):
        group = group.sort_values("token_budget")
        ax.plot(group["token_budget"], group[value], marker="o", ms=3,
                color=ERA_COLOURS.get(scope), label=scope)
    ax.set_xlabel("token budget")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tokens))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return to_png(fig)


def bars(values: dict[str, float], xlabel: str, colour: str = "#1f4e9c") -> bytes:
    """Horizontal bars of a small mapping (shard tokens by era or domain, counts by reason)."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(5.2, 0.26 * len(items) + 1.0))
    ax.barh([_short(k) for k, _ in items], [v for _, v in items], color=colour)
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tokens))
    ax.tick_params(axis="y", labelsize=8)
    return to_png(fig)


def _tokens(value: float, _pos=None) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def _short(name: str, width: int = 26) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
