"""The numpy HLL kernel must be bit-identical to datasketch and accurate to its error bound."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import HyperLogLogPlusPlus

from tailguard.diversity import hll


def _hashes(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(np.uint64).max, size=count, dtype=np.uint64,
                        endpoint=True)


def test_bit_length64_matches_python_at_edges():
    values = [0, 1, 2, 3, (1 << 32) - 1, 1 << 32, (1 << 53) - 1, (1 << 53) + 1,
              (1 << 63), (1 << 64) - 1]
    got = hll.bit_length64(np.array(values, dtype=np.uint64))
    assert got.tolist() == [v.bit_length() for v in values]


@pytest.mark.parametrize("p", [4, 10, 14])
def test_registers_equal_datasketch_fed_the_same_hashes(p):
    hashes = np.concatenate([_hashes(3000, p), np.array([0, 1 << 63, 2**64 - 1], np.uint64)])
    reference = HyperLogLogPlusPlus(p=p, hashfunc=lambda h: h)
    for h in hashes.tolist():
        reference.update(h)
    mine = hll.registers(hashes, p)
    assert mine.dtype == reference.reg.dtype
    np.testing.assert_array_equal(mine, reference.reg)
    assert hll.estimate(mine) == pytest.approx(reference.count())


def test_registers_merge_by_max_equals_sketch_of_union():
    a, b = _hashes(5000, 1), _hashes(7000, 2)
    merged = np.maximum(hll.registers(a, 12), hll.registers(b, 12))
    np.testing.assert_array_equal(merged, hll.registers(np.concatenate([a, b]), 12))


@pytest.mark.parametrize("exact", [0, 1, 37, 2_000, 60_000])
def test_estimate_within_error_bound_of_exact(exact):
    distinct = _hashes(exact, exact + 11)
    repeated = np.concatenate([distinct, distinct[: exact // 2]])  # duplicates do not count
    estimate = hll.estimate(hll.registers(repeated, 14))
    # 4 standard errors; small counts are in linear counting, nearly exact.
    assert abs(estimate - exact) <= max(4 * hll.relative_error(14) * exact, 1.0)


def test_empty_registers_estimate_zero():
    assert hll.estimate(np.zeros(1 << 14, np.int8)) == 0.0


@pytest.mark.parametrize("count", [0, 10, 20_000])
def test_encode_decode_round_trip(count):
    reg = hll.registers(_hashes(count, 5), 12)
    blob = hll.encode(reg)
    assert blob[:1] == (b"D" if count > 10_000 else b"S")
    np.testing.assert_array_equal(hll.decode(blob, 12), reg)


@pytest.mark.parametrize("p", [4, 8, 12, 14])
def test_estimate_many_equals_datasketch_row_by_row(p):
    rng = np.random.default_rng(p)
    sizes = [0, 1, 7, 100, 3000, 40000, 250000]
    regs = np.stack([hll.registers(rng.integers(0, 2**63, size=s, dtype=np.uint64)
                                   * np.uint64(2) + np.uint64(1), p) for s in sizes])
    got = hll.estimate_many(regs)
    want = [HyperLogLogPlusPlus(p=p, reg=r.copy(), hashfunc=lambda h: h).count() for r in regs]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
