"""Numba kernels that read recorded chains: find one call's quote in a snapshot.

A run's recorded calls (:class:`engine.chains.ChainQuotes`) are rows sorted by snapshot, expiry
and strike; snapshot ``s`` owns rows ``offsets[s]:offsets[s + 1]``.
"""

import math

from cache.kernel_cache import njit


@njit(cache=True, nogil=True)
def find_call_nb(snap, expiry_ns, strike, offsets, exp_ns, strikes):
    """Row of the call (``expiry_ns``, ``strike``) in snapshot ``snap``; -1 if not quoted there.

    ``snap`` -1 (no snapshot recent enough) finds nothing. Binary search on (expiry, strike).
    """
    if snap < 0:
        return -1
    lo, hi = offsets[snap], offsets[snap + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if exp_ns[mid] < expiry_ns or (exp_ns[mid] == expiry_ns and strikes[mid] < strike):
            lo = mid + 1
        else:
            hi = mid
    if lo < offsets[snap + 1] and exp_ns[lo] == expiry_ns and strikes[lo] == strike:
        return lo
    return -1


@njit(cache=True, nogil=True)
def recorded_quote_nb(snap, expiry_ns, strike, offsets, exp_ns, strikes, mark, ask):
    """``(mark, ask)`` (coin) of one call in snapshot ``snap``: NaNs when it is not quoted there;
    the ask is NaN when the book had none."""
    r = find_call_nb(snap, expiry_ns, strike, offsets, exp_ns, strikes)
    if r < 0:
        return math.nan, math.nan
    return mark[r], ask[r]
