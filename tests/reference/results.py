"""Slow, obvious twins of the results helpers (engine.results.curves, engine.metrics drawdowns).

Plain Python on purpose: a loop over each bucket's values, where the helper uses NumPy reductions.
"""

import itertools
import math

import numpy as np


def bucket_extremes_ref(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Twin of ``engine.results.curves.bucket_extremes``: first min and max index per bucket."""
    mins, maxs = [], []
    for a, b in itertools.pairwise(edges):
        lo = hi = None
        for i in range(int(a), int(b)):
            v = float(values[i])
            if math.isnan(v):
                continue
            if lo is None or v < values[lo]:
                lo = i
            if hi is None or v > values[hi]:
                hi = i
        if lo is not None:
            mins.append(lo)
            maxs.append(hi)
    return np.array(mins + maxs, dtype=np.int64)


def drawdown_periods_ref(equity: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Twin of ``engine.metrics.drawdown_periods``: peak, first trough and recovery (-1) indices.

    One pass: a value at or above the running peak ends the drawdown under way (if any) and is
    the new peak; a value below it starts one or deepens it.
    """
    found = []  # (peak, trough, recovery)
    peak, low, under = 0, 0, False
    for i in range(1, len(equity)):
        if equity[i] >= equity[peak]:
            if under:
                found.append((peak, low, i))
            peak, under = i, False
        elif not under or equity[i] < equity[low]:
            low, under = i, True
    if under:
        found.append((peak, low, -1))
    return [p for p, _, _ in found], [t for _, t, _ in found], [r for _, _, r in found]
