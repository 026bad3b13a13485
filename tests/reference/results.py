"""Slow, obvious twins of the results helpers (engine.results.curves) (the tests compare them).

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
