"""Vectorised integer mixing shared by the MinHash and HyperLogLog kernels."""

from __future__ import annotations

import numba as nb
import numpy as np


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (uint64 in, uint64 out): full avalanche, so any bit
    range of the result (an HLL register index, a MinHash input) is uniform.

    Works on one copy of `h` in place: the textbook five-expression form allocates a
    temporary per step, and on the tens of millions of n-grams of a batch the
    allocations cost as much as the arithmetic."""
    out = np.array(h, dtype=np.uint64, copy=True)
    shifted = np.empty_like(out)
    np.right_shift(out, _S33, out=shifted)
    out ^= shifted
    out *= _M1
    np.right_shift(out, _S33, out=shifted)
    out ^= shifted
    out *= _M2
    np.right_shift(out, _S33, out=shifted)
    out ^= shifted
    return out


_S33 = np.uint64(33)
FMIX_M1 = _M1 = np.uint64(0xFF51AFD7ED558CCD)  # fmix64's multipliers (compiled kernels too)
FMIX_M2 = _M2 = np.uint64(0xC4CEB9FE1A85EC53)
# 2^64 / golden ratio, odd: the multiplier of every multiplicative (Fibonacci) hash and
# hash combine in the diversity kernels (distinct inputs stay distinct mod 2^64)
GOLDEN64 = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, nogil=True, inline="always")
def fmix64_one(h: np.uint64) -> np.uint64:
    """`fmix64` on one value, for the compiled kernels (MinHash lines, n-grams, quality)."""
    h ^= h >> np.uint64(33)
    h *= FMIX_M1
    h ^= h >> np.uint64(33)
    h *= FMIX_M2
    h ^= h >> np.uint64(33)
    return h
