"""Slow, obvious twin of the vol surface's numba kernel (``engine/volsurface/nb.py``).

Plain Python on purpose: the formula written out with the math module, one point at a time.
"""

import math


def surface_iv_ref(
    iv_index, k, t, atm_over_index, term_beta, skew, curvature, min_ratio, max_ratio, min_term_t
):
    """Twin of ``engine.volsurface.nb.surface_iv_nb``."""
    atm = iv_index * atm_over_index * math.pow(max(t, min_term_t) * 365.0 / 30.0, term_beta)
    x = k / (atm * math.sqrt(max(t, 1e-12)))
    ratio = 1.0 + skew * x + curvature * x**2
    if ratio < min_ratio:
        ratio = min_ratio
    if ratio > max_ratio:
        ratio = max_ratio
    return atm * ratio
