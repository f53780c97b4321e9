"""Per-domain deltas (target era - base era) at a matched budget, with intervals (no Spark).

A comparison of two eras of one domain is only fair at the same number of tokens: every
signal here grows or shrinks with sample size (distinct-n ratios fall, compression and
tail coverage rise as a sample grows). The job measures every (era, domain) at each rung
of a token-budget ladder its text fills (`diversity.token_budgets`, nested seeded
samples); the comparison uses the largest rung **both** eras fill (`token_budget`), and a
domain whose smaller era is below the ladder's floor gets a row with a `reason` instead.

Intervals come from repeated seeded subsamples. The kernel splits each (era, domain) into
R disjoint replicates (okey mod R) and measures each one's own nested samples on the
ladder's rungs up to `diversity.replicate_max_budget` (8k by default: R replicates of 64k
would cost R times the budget samples themselves, ~40% of the kernel stage, for a spread
that is scaled anyway) and on halvings of the floor down to
`diversity.replicate_min_budget` (500), so that an era of a few thousand tokens, whose
replicates each hold 1/R of it, still has replicate samples. At the largest such rung at
or below the matched budget where both
eras have at least two replicate samples (`interval_budget`), the spread of the replicates
gives each era's standard deviation for one sample of that size. Its coefficient of
variation falls as 1/sqrt(tokens) (as a mean's would), so at the matched budget each era's
sd is sd * (value at the budget / replicates' mean) * sqrt(interval_budget / token_budget)
(`scaled_sd`: for the ratio metrics, whose level barely moves with size, the plain sqrt
scaling; tail coverage, a count, grows with the sample); `half_*` is the 95% half-width
of the delta, Student's t (df = k_base + k_target - 2) times the two eras' sds in
quadrature. An era whose replicates fill no replicate rung twice (under
about R * replicate_min_budget tokens) has no interval: the half-widths are null, the
delta is still given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailguard.schema import DELTA_METRICS, DIVERSITY_DELTAS

RATIO_METRICS = DELTA_METRICS[:-1]
ERA_PAIRS = (("pre_ai", "post_ai"), ("pre_ai", "attested"))
# Student's t 97.5% quantiles, df = 1..30 (beyond: the normal 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
         2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
         2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
DELTA_COLUMNS = tuple(DIVERSITY_DELTAS.fieldNames())


def t975(df: int) -> float:
    """Two-sided 95% Student t quantile for `df` degrees of freedom (df >= 1)."""
    return _T975[df - 1] if df <= len(_T975) else 1.96


def replicate_metrics(rows: pd.DataFrame, tail_size: int) -> pd.DataFrame:
    """The delta metrics of replicate samples from their sums: compression = raw /
    compressed bytes, distinct ratio = distinct_n_k / ngrams_k (at most 1), coverage =
    tail concepts covered / tail size."""
    out = rows[["scope", "domain", "key", "token_budget"]].copy()
    out["compression_ratio"] = rows.raw_bytes / rows.compressed_bytes.where(
        rows.compressed_bytes > 0)
    for k in range(1, 5):
        grams = rows[f"ngrams_{k}"].where(rows[f"ngrams_{k}"] > 0)
        out[f"distinct_ratio_n_{k}"] = np.minimum(rows[f"distinct_n_{k}"] / grams, 1.0)
    out["coverage"] = rows.covered / tail_size if tail_size else np.nan
    return out


def _spread(reps: pd.DataFrame, budget: int) -> tuple[int, dict, dict]:
    """(samples, sd, mean) of each metric over the replicate samples at `budget`."""
    at = reps[reps.token_budget == budget]
    return (len(at), {m: float(at[m].std(ddof=1)) for m in DELTA_METRICS},
            {m: float(at[m].mean()) for m in DELTA_METRICS})


def scaled_sd(sd: float, mean_at_rung: float, value: float, rung: int, budget: int) -> float:
    """One era's standard deviation at `budget` from its replicates' at `rung`: the
    coefficient of variation falls as 1 / sqrt(tokens), so sd * (value / mean) *
    sqrt(rung / budget), `value` the era's metric at `budget`. For the ratio metrics
    value ~ mean and this is the plain sqrt scaling; tail coverage grows with the sample
    (a count of rare concepts, about proportional to tokens), and scaled as a ratio it
    came out ~2x too narrow on real human text (docs/ARCHITECTURE.md)."""
    if np.isnan(sd) or value is None or np.isnan(value):
        return float("nan")
    growth = value / mean_at_rung if mean_at_rung > 0 else 1.0
    return sd * growth * float(np.sqrt(rung / budget))


def compare(domain: str, base: str, target: str, tokens: dict, budget: pd.DataFrame,
            reps: pd.DataFrame, floor: int, scope: str) -> dict:
    """One comparison row (DIVERSITY_DELTAS). `tokens`: era -> the domain's tokens in it;
    `budget`: the domain's budget rows of both eras (scope = era, token_budget and the
    DELTA_METRICS); `reps`: its replicate metrics (`replicate_metrics`)."""
    row = {c: None for c in DELTA_COLUMNS}
    row.update(scope=scope, domain=domain, base=base, target=target,
               base_tokens=int(tokens.get(base, 0)), target_tokens=int(tokens.get(target, 0)))
    sides = {era: budget[budget.scope == era].set_index("token_budget") for era in (base, target)}
    matched = sorted(set(sides[base].index) & set(sides[target].index))
    if not matched:
        small, have = min((row["base_tokens"], base), (row["target_tokens"], target))[::-1]
        row["reason"] = (f"{small} has {have} tokens, below the {floor}-token floor"
                         if have < floor else "no ladder budget is filled by both eras "
                         "(a single document passes the floor)")
        return row
    at = max(matched)
    row["token_budget"] = int(at)
    for m in DELTA_METRICS:
        b, t = sides[base].at[at, m], sides[target].at[at, m]
        row[f"base_{m}"] = None if pd.isna(b) else float(b)
        row[f"delta_{m}"] = None if pd.isna(b) or pd.isna(t) else float(t - b)
    rb, rt = reps[reps.scope == base], reps[reps.scope == target]
    counts_b, counts_t = (dict(r.token_budget.value_counts()) for r in (rb, rt))
    usable = [x for x in counts_b if x <= at and counts_b[x] >= 2 and counts_t.get(x, 0) >= 2]
    if not usable:
        return row
    rung = max(usable)
    kb, sd_b, mean_b = _spread(rb, rung)
    kt, sd_t, mean_t = _spread(rt, rung)
    row.update(interval_budget=int(rung), replicates=int(min(kb, kt)))
    for m in DELTA_METRICS:
        eras = [scaled_sd(sd[m], mean[m], sides[era].at[at, m], rung, at)
                for era, sd, mean in ((base, sd_b, mean_b), (target, sd_t, mean_t))]
        half = t975(kb + kt - 2) * np.hypot(*eras)
        row[f"half_{m}"] = None if np.isnan(half) else float(half)
    return row


def delta_rows(budget: pd.DataFrame, totals: pd.DataFrame, replicates: pd.DataFrame,
               floor: int, scope: str = "eras", pairs=ERA_PAIRS) -> list[dict]:
    """Every comparison of the `pairs` of eras for every domain either era holds.

    budget: scope (= era), domain, token_budget and the DELTA_METRICS of the nested
    budget samples; totals: scope, domain, n_tokens of each whole (era, domain);
    replicates: `replicate_metrics` rows. Rows (dicts, None for null) are sorted by
    (domain, base, target)."""
    rows = []
    eras = {e for pair in pairs for e in pair}
    totals = totals[totals.scope.isin(eras)]
    tokens = {d: dict(zip(g.scope, g.n_tokens, strict=True))
              for d, g in totals.groupby("domain")}
    by_domain = dict(tuple(budget.groupby("domain")))
    reps_by = dict(tuple(replicates.groupby("domain")))
    empty_b, empty_r = budget.iloc[:0], replicates.iloc[:0]
    for domain in sorted(tokens):
        for base, target in pairs:
            if base in tokens[domain] or target in tokens[domain]:
                rows.append(compare(domain, base, target, tokens[domain],
                                    by_domain.get(domain, empty_b), reps_by.get(domain, empty_r),
                                    floor, scope))
    return rows
