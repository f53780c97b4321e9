"""Choosing the shard documents: the anchor plan, and a token-budget prefix of key order.

A sample is the longest prefix of the documents in descending (tier, key) order whose
tokens fit a cap: tier 1 holds the documents an earlier shard set keeps (`forced`),
tier 0 the rest; the key is the Efraimidis-Spirakis key. A prefix of one order makes the
samples of two budgets nested, and choosing it needs no global sort of the documents:
1. a histogram of tokens over (tier, key bucket), 2^16 equal-width buckets of the key;
2. on the driver, the bucket where the running token sum crosses the cap (every
   document of a higher bucket is in, every one of a lower bucket out);
3. the rows of that one bucket only (doc_id, crawl_date, key, tokens) come to the
   driver, sorted by key (then doc_id, crawl_date, so ties are decided by the data, not
   by partitioning), and the prefix is cut exactly there.
So the driver holds about 1/65536 of the pool's small rows at a time, not the pool.

The anchor plan (`plan_budget`) decides the caps: fresh `post_ai` text gets at most
(1 - ratio) of the budget, the anchor (`pre_ai` + `attested`) fills the rest, and once
the anchor is chosen the fresh cap is cut so that anchor / total >= ratio holds exactly
(in rationals, not floats). A pool whose anchor cannot reach the ratio at the asked
budget shrinks the budget, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

BUCKETS = 1 << 16
ANCHOR_FLOOR = 0.1  # the anchor ratio never goes below this, whatever the config says


@dataclass(frozen=True)
class BudgetPlan:
    requested: int           # shards.token_budget (0 = as large as the anchor allows)
    budget: int              # the budget the shards are chosen for
    ratio: float             # the anchor ratio applied (config, raised to the floor)
    anchor_cap: int          # tokens the anchor may take
    fresh_cap: int           # tokens fresh post_ai text may take at most
    message: str | None      # why the budget or ratio differs from the config, if it does

    @property
    def shrunk(self) -> bool:
        return self.requested > 0 and self.budget < self.requested


def plan_budget(requested: int, ratio: float, anchor_pool: int, fresh_pool: int,
                forced_anchor: int = 0) -> BudgetPlan:
    """Caps for the anchor and fresh samples from the pool's token totals."""
    notes = []
    applied = max(float(ratio), ANCHOR_FLOOR)
    if applied != ratio:
        notes.append(f"shards.anchor_ratio {ratio} is below the floor {ANCHOR_FLOOR}: "
                     f"{ANCHOR_FLOOR} applies")
    share = Fraction(str(applied))  # the decimal the config says, not its binary float
    if requested > 0:
        budget = requested
        if anchor_pool < share * budget:
            budget = math.floor(anchor_pool / share)
            notes.append(
                f"the pool holds {anchor_pool:,} anchor tokens (pre_ai + attested): at "
                f"anchor ratio {applied} the token budget shrinks from {requested:,} to "
                f"{budget:,}")
    else:
        budget = math.floor(anchor_pool / share) if share > 0 else 0
    fresh_cap = math.floor((1 - share) * budget)
    anchor_cap = max(budget - min(fresh_pool, fresh_cap), forced_anchor)
    return BudgetPlan(requested, budget, applied, anchor_cap, fresh_cap,
                      "; ".join(notes) or None)


def fresh_cap_after(plan: BudgetPlan, anchor_tokens: int) -> int:
    """The fresh cap once the anchor holds `anchor_tokens`: within the plan's cap and the
    budget, and small enough that anchor / (anchor + fresh) >= ratio exactly."""
    share = Fraction(str(plan.ratio))
    by_ratio = math.floor(anchor_tokens * (1 - share) / share)
    return max(0, min(plan.fresh_cap, by_ratio, max(plan.budget, anchor_tokens) - anchor_tokens))


def bucket_of(key: float) -> int:
    """The histogram bucket of a key in [0, 1] (the Spark form is `job.order_column`)."""
    return min(int(key * BUCKETS), BUCKETS - 1)


@dataclass(frozen=True)
class Cut:
    """Where a prefix ends: every order above `order` is in; inside `order`, the first
    documents up to `remaining` tokens. `order` None: every document fits."""

    order: int | None
    above_tokens: int
    remaining: int


def find_cut(histogram: list[tuple[int, int]], cap: int) -> Cut:
    """The cut of a token cap over (order, tokens) pairs (any order; higher orders first)."""
    running = 0
    for order, tokens in sorted(histogram, reverse=True):
        if running + tokens > cap:
            return Cut(order, running, cap - running)
        running += tokens
    return Cut(None, running, 0)


def prefix_within(rows: list[tuple[float, str, object, int]], remaining: int
                  ) -> tuple[list[tuple[str, object]], int]:
    """The longest prefix of (key, doc_id, crawl_date, tokens) rows in descending key
    order (ascending doc_id, crawl_date among equal keys) whose tokens fit `remaining`:
    ((doc_id, crawl_date) chosen, their tokens)."""
    ordered = sorted(rows, key=lambda r: (-r[0], r[1], r[2]))
    chosen, total = [], 0
    for _key, doc_id, crawl_date, tokens in ordered:
        if total + tokens > remaining:
            break
        chosen.append((doc_id, crawl_date))
        total += tokens
    return chosen, total
