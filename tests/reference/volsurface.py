"""Slow, obvious twin of the vol surface's numba kernel (``engine/volsurface/nb.py``).

Plain Python on purpose: the formula written out with the math module, one point at a time.
"""

import math

from tests.reference.pricing import black76_greeks_ref


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


def quote_call_ref(fwd, strike, t, iv_index, surface_args):
    """Twin of ``engine.volsurface.nb.quote_call_nb`` for one call: ``(iv, price_usd, delta)``,
    NaNs unless the forward, strike, time and index are positive."""
    if not (fwd > 0 and strike > 0 and t > 0 and iv_index > 0):
        return math.nan, math.nan, math.nan
    iv = surface_iv_ref(iv_index, math.log(strike / fwd), t, *surface_args)
    price_usd, delta, *_ = black76_greeks_ref(fwd, strike, t, iv, True)
    return iv, price_usd, delta
