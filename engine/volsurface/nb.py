"""Numba kernels of the vol surface: a candidate's IV, and calls quoted on that surface.

The model is described in ``engine/volsurface/surface.py``. The prepare phase, the replay
(marking an open call), the agent's model feed and the state builder all quote through here.
"""

import math

from cache.kernel_cache import njit
from engine.pricing.nb import black76_price_delta_nb, call_d1_nb, call_delta_first_nb


@njit(cache=True, nogil=True)
def surface_iv_nb(
    iv_index,
    log_moneyness,
    t_years,
    atm_over_index,
    term_beta,
    skew,
    curvature,
    min_ratio,
    max_ratio,
    min_term_t,
):
    """IV (fraction) of a strike at ``log_moneyness = ln(K/F)`` and ``t_years`` to expiry.

    ``iv_index`` is the 30-day index as a fraction; ``atm_over_index`` turns it into the 30-day
    ATM IV (a DVOL-style index sits above it: the calibration's ratio).
    Reference: ``tests.reference.volsurface.surface_iv_ref``.
    """
    atm, scale = surface_slice_nb(iv_index, t_years, atm_over_index, term_beta, min_term_t)
    return slice_iv_nb(log_moneyness, atm, scale, skew, curvature, min_ratio, max_ratio)


@njit(cache=True, nogil=True)
def surface_slice_nb(iv_index, t_years, atm_over_index, term_beta, min_term_t):
    """``(atm, scale)`` of the surface's slice at ``t_years``: its ATM IV and ``atm·√T``.

    What :func:`surface_iv_nb` computes once per expiry; :func:`slice_iv_nb` then gives each
    strike's IV with the very same arithmetic.
    """
    term_t = max(t_years, min_term_t)
    atm = iv_index * atm_over_index * (term_t / (30.0 / 365.0)) ** term_beta
    return atm, atm * math.sqrt(max(t_years, 1e-12))


@njit(cache=True, nogil=True)
def slice_iv_nb(log_moneyness, atm, scale, skew, curvature, min_ratio, max_ratio):
    """IV (fraction) at ``log_moneyness`` on a slice ``(atm, scale)`` (:func:`surface_slice_nb`)."""
    x = log_moneyness / scale
    ratio = 1.0 + skew * x + curvature * x * x
    ratio = min(max(ratio, min_ratio), max_ratio)
    return atm * ratio


@njit(cache=True, nogil=True)
def strike_iv_nb(k, fwd, atm, scale, shape):
    """IV of a strike ``k`` on the slice ``(atm, scale)`` with ``shape`` = (skew, curvature,
    min_ratio, max_ratio): :func:`slice_iv_nb` at ``ln(k / fwd)``."""
    return slice_iv_nb(math.log(k / fwd), atm, scale, shape[0], shape[1], shape[2], shape[3])


@njit(cache=True, nogil=True)
def strike_delta_nb(k, fwd, t, atm, scale, shape):
    """``(iv, delta, sd, d1, n1)`` of a call struck at ``k`` on the slice ``(atm, scale)``
    (``shape`` = skew, curvature, min_ratio, max_ratio): its IV and
    :func:`engine.pricing.nb.call_delta_first_nb` of it."""
    iv = strike_iv_nb(k, fwd, atm, scale, shape)
    delta, sd, d1, n1 = call_delta_first_nb(fwd, k, t, iv)
    return iv, delta, sd, d1, n1


@njit(cache=True, nogil=True)
def first_delta_at_most_nb(strikes, n, fwd, t, atm, scale, shape, delta_max, d1_sure):
    """Index of the first of the sorted ``strikes[:n]`` whose call delta on the slice
    ``(atm, scale)`` is ≤ ``delta_max`` (``n`` if none): a bisection, call delta falling as the
    strike rises. The left end of :func:`delta_window_nb`, with deltas equal to its to the last
    bit. Returns ``(index, strike_delta_nb of that strike)``, NaNs when the index is ``n``.

    ``d1_sure`` is :func:`engine.pricing.nb.delta_level_d1_nb` of ``delta_max``: a probe whose
    d1 is clearly on one side needs no ``erfc``; the others compute the delta.
    """
    a, b = 0, n
    below, above = d1_sure
    while a < b:
        mid = (a + b) // 2
        k = strikes[mid]
        iv = strike_iv_nb(k, fwd, atm, scale, shape)
        d1 = call_d1_nb(fwd, k, t, iv)
        if d1 < below:
            at_most = True
        elif d1 > above:
            at_most = False
        else:
            at_most = call_delta_first_nb(fwd, k, t, iv)[0] <= delta_max
        if at_most:
            b = mid
        else:
            a = mid + 1
    if a == n:
        return a, (math.nan, math.nan, 0.0, 0.0, 0.0)
    return a, strike_delta_nb(strikes[a], fwd, t, atm, scale, shape)


@njit(cache=True, nogil=True)
def quote_call_nb(fwd, strike, t, iv_index, surface_args):
    """Return ``(iv, price_usd, delta)`` of a call on the surface scaled by ``iv_index``."""
    iv = surface_iv_nb(iv_index, math.log(strike / fwd), t, *surface_args)
    price_usd, delta = black76_price_delta_nb(fwd, strike, t, iv, True)
    return iv, price_usd, delta


@njit(cache=True, nogil=True)
def quote_calls_array_nb(fwd, strike, t, iv_index, surface_args, iv, price_usd, delta):
    """:func:`quote_call_nb` over 1-D arrays of equal length, into ``iv``, ``price_usd`` and
    ``delta``; an element with a non-positive forward, strike, time or index gives NaNs.

    Reference: ``tests.reference.volsurface.quote_call_ref`` per element.
    """
    for i in range(fwd.shape[0]):
        if fwd[i] > 0.0 and strike[i] > 0.0 and t[i] > 0.0 and iv_index[i] > 0.0:
            iv[i], price_usd[i], delta[i] = quote_call_nb(fwd[i], strike[i], t[i], iv_index[i],
                                                          surface_args)  # fmt: skip
        else:
            iv[i], price_usd[i], delta[i] = math.nan, math.nan, math.nan


@njit(cache=True, nogil=True)
def delta_window_nb(strikes, n, fwd, t, iv_index, surface_args, delta_min, delta_max):
    """Return ``(lo, hi)``: the strikes ``strikes[lo:hi]`` to consider for the delta band.

    ``lo`` is the first strike with delta ≤ ``delta_max``, found by bisection (call delta falls
    as the strike rises); ``hi`` is the first strike after it with delta < ``delta_min``. Callers
    still check each strike's delta, so a wing where delta rises again cannot leak in.
    """
    a, b = 0, n
    while a < b:
        mid = (a + b) // 2
        if quote_call_nb(fwd, strikes[mid], t, iv_index, surface_args)[2] <= delta_max:
            b = mid
        else:
            a = mid + 1
    hi = a
    while hi < n and quote_call_nb(fwd, strikes[hi], t, iv_index, surface_args)[2] >= delta_min:
        hi += 1
    return a, hi


@njit(cache=True, nogil=True)
def model_quote_coin_nb(spot, iv_index, strike, t_years, surface_args, basis_annual):
    """``(mark_coin, delta)`` of a call on the model surface: Black-76 on ``spot·exp(basis·T)``.

    How the backtest (and the agent's model feed) marks an open call at an instant; the delta
    prices its buy-back (:func:`engine.fills.nb.model_bid_ask_nb`).
    """
    fwd = spot * math.exp(basis_annual * t_years)
    _, price_usd, delta = quote_call_nb(fwd, strike, t_years, iv_index, surface_args)
    return price_usd / fwd, delta


@njit(cache=True, nogil=True)
def model_mark_coin_nb(spot, iv_index, strike, t_years, surface_args, basis_annual):
    """Coin mark of a call on the model surface (see :func:`model_quote_coin_nb`)."""
    return model_quote_coin_nb(spot, iv_index, strike, t_years, surface_args, basis_annual)[0]
