"""The budget ladder's sample rule, as plain functions (no Spark import).

A budget-B sample of a group is the group's first documents in seeded `okey` order whose
running token total is at most B; the group *fills* B when it holds at least B tokens
(a group that ends below B has no B sample: it would be the whole group, and would
measure its size, not its text). Samples are nested, so a document's membership in
every rung of a ladder is one fact: its running total is at most the largest rung the
group fills (`top`). The Spark selection (`select.with_ladder`) computes exactly this
with a window; these functions are the reference the tests hold it to.
"""

from __future__ import annotations

import numpy as np


def filled_top(total: int, budgets) -> int | None:
    """The largest rung of `budgets` a group of `total` tokens fills (B <= total), or
    None when it fills none."""
    filled = [b for b in budgets if b <= total]
    return max(filled) if filled else None


def prefix_members(lengths, budgets) -> tuple[int | None, np.ndarray]:
    """(top, member mask) of a group's documents given in sample order with token counts
    `lengths`: a document is sampled when its running total is at most `top`."""
    lengths = np.asarray(lengths, np.int64)
    top = filled_top(int(lengths.sum()), budgets)
    if top is None:
        return None, np.zeros(len(lengths), bool)
    return top, np.cumsum(lengths) <= top


def rungs_up_to(budgets, top: int | None) -> tuple[int, ...]:
    """The rungs a group whose largest filled rung is `top` has samples for (sorted)."""
    return tuple(sorted(b for b in set(budgets) if top is not None and b <= top))


def replicate_rungs(budgets, max_budget: int, min_budget: int) -> tuple[int, ...]:
    """The replicate samples' rungs: the ladder's, and below the floor its halvings down
    to `min_budget`, all up to `max_budget`. A replicate holds 1/R of its era, so an era
    of a few floors' worth of tokens (a short-page site: 90 pages of 80 words) fills no
    floor-sized replicate and would get no interval."""
    budgets = sorted(set(budgets))
    below, rung = [], budgets[0] // 2 if budgets else 0
    while rung >= max(min_budget, 1):
        below.append(rung)
        rung //= 2
    return tuple(b for b in sorted(below) + budgets if b <= max_budget)
