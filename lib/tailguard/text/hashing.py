"""Vectorised integer mixing shared by the MinHash and HyperLogLog kernels."""

from __future__ import annotations

import numpy as np


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (uint64 in, uint64 out): full avalanche, so any bit
    range of the result (an HLL register index, a MinHash input) is uniform."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))
