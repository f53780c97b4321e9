"""The compiled loops equal their numpy / Python references bit for bit."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tailguard.diversity import compiled
from tailguard.diversity.hll import index_rank
from tailguard.text.hashing import fmix64


def _hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.int64).view(
        np.uint64) * np.uint64(2) + np.uint64(1)


_NONE = np.zeros(0, np.int64)
_MIX = np.uint64(0x9E3779B97F4A7C15)


@pytest.mark.parametrize("n", [0, 1, 5000, 3 * compiled.BUCKET_ROWS + 17, 200_000])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("grouped", [False, True])
def test_count_probes_sums_per_key_or_pair_and_reports_each_once(n, weighted, grouped):
    rng = np.random.default_rng(n)
    pool = _hashes(max(n // 3, 1), seed=n)
    keys = pool[rng.integers(0, len(pool), n)] if n else np.zeros(0, np.uint64)
    groups = rng.integers(-3, 4, n).astype(np.int64)  # negative ids mix in as their bits
    weights = rng.integers(1, 9, n).astype(np.int64)
    out_groups, out_keys, sums = compiled.count_probes(
        keys, groups if grouped else _NONE, grouped, weights if weighted else _NONE,
        weighted, _MIX)
    expected = Counter()
    for i, key in enumerate(keys.tolist()):
        expected[(int(groups[i]) if grouped else None, key)] += (int(weights[i]) if weighted
                                                                 else 1)
    labels = out_groups.tolist() if grouped else [None] * len(out_keys)
    got = Counter()
    for label, key, total in zip(labels, out_keys.tolist(), sums.tolist(), strict=True):
        got[(label, key)] += total
    assert got == expected
    assert len(out_keys) == len(expected)  # each key (pair) reported once


def test_count_probes_order_depends_only_on_the_input():
    keys = _hashes(50_000, seed=3)[np.random.default_rng(4).integers(0, 50_000, 120_000)]
    groups = np.random.default_rng(5).integers(0, 7, len(keys)).astype(np.int64)
    a = compiled.count_probes(keys, groups, True, _NONE, False, _MIX)
    b = compiled.count_probes(keys.copy(), groups.copy(), True, _NONE, False, _MIX)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("p", [4, 11, 14, 16])
def test_hll_update_equals_the_numpy_registers(p):
    hashes = np.concatenate([_hashes(30_000, seed=p),
                             np.array([0, 1 << p, (1 << 64) - 1], np.uint64)])
    cuts = np.sort(np.random.default_rng(p).integers(0, len(hashes), 40))
    bounds = np.concatenate([[0], cuts, [len(hashes)]]).astype(np.int64)  # empty runs too
    doc_rows = np.random.default_rng(p + 1).integers(0, 5, len(bounds) - 1).astype(np.int64)
    rows = np.repeat(doc_rows, np.diff(bounds))
    regs = np.zeros((5, 1 << p), np.int8)
    compiled.hll_update(regs, hashes, bounds, doc_rows, p)
    expected = np.zeros_like(regs)
    index, rank = index_rank(hashes, p)
    np.maximum.at(expected, (rows, index), rank)
    assert np.array_equal(regs, expected)
    assert regs.max() == 64 - p + 1  # the all-zero rest has datasketch's largest rank


def _members(table: np.ndarray, keys: np.ndarray, queries: np.ndarray) -> int:
    """`count_members` of the queries (`keys`: what the table holds, unused)."""
    return compiled.count_members(table, queries)


@pytest.mark.parametrize("with_zero", [False, True])
def test_key_table_membership_is_exact(with_zero):
    keys = _hashes(20_000, seed=5)
    if with_zero:
        keys = np.append(keys, np.uint64(0))
    table = compiled.key_table(keys)
    queries = np.concatenate([keys[::3], _hashes(20_000, seed=6), np.array([0], np.uint64)])
    want = len(set(queries.tolist()) & set(keys.tolist()))
    assert _members(table, keys, queries) == want
    assert _members(table, keys, np.array([0], np.uint64)) == int(with_zero)
    none = np.zeros(0, np.uint64)
    assert _members(compiled.key_table(none), none, queries) == 0
    # already sorted and unique (as the tail arrives: no second sort), or with repeats
    for prepared in (np.unique(keys), np.concatenate([keys, keys[:500]])):
        assert _members(compiled.key_table(prepared), prepared, queries) == want


@pytest.mark.parametrize("with_zero", [False, True])
def test_finish_hashes_flags_exactly_the_table_keys(with_zero):
    """The branch-free lookup finds every key of a crowded table (long probe runs, the
    wrap-around at its end, the key 0) and nothing else; hashes are fmix64 of the
    states, as the one-word reference finishes them."""
    states = _hashes(30_000, seed=8)
    states[:10] = 0  # fmix64(0) == 0: the key 0 through the flag slot
    hashes = fmix64(states)
    members = np.unique(hashes[::2])
    if not with_zero:
        members = members[members != 0]
    table = compiled.key_table(members, slots_per_key=1)  # load ~1: long runs
    probes = compiled.max_probes(table)
    assert probes > 4
    got, is_stop = compiled.finish_hashes(states, table, probes)
    assert got.tolist() == hashes.tolist()
    assert is_stop.tolist() == np.isin(hashes, members).tolist()


