"""Numba kernel of the candidate IV model (see ``engine/volsurface/__init__.py``)."""

import math

from numba import njit


@njit(cache=True, nogil=True)
def surface_iv_nb(
    iv_index, log_moneyness, t_years, term_beta, skew, curvature, min_ratio, max_ratio, min_term_t
):
    """IV (fraction) of a strike at ``log_moneyness = ln(K/F)`` and ``t_years`` to expiry.

    ``iv_index`` is the 30-day index as a fraction. Reference: ``tests.reference.surface_iv_ref``.
    """
    term_t = max(t_years, min_term_t)
    atm = iv_index * (term_t / (30.0 / 365.0)) ** term_beta
    x = log_moneyness / (atm * math.sqrt(max(t_years, 1e-12)))
    ratio = 1.0 + skew * x + curvature * x * x
    ratio = min(max(ratio, min_ratio), max_ratio)
    return atm * ratio
