"""Numba kernels of the fill model: a call's bid and ask from its model mark.

Model chains have a mark but no book. The spread model (:mod:`engine.fills`) puts a bid below
and an ask above the mark, each ``gap = Σ coef_j · feature_j`` with the terms of
:data:`engine.enums.SpreadFeature`, then onto Deribit's tick grid: the bid rounded down, the ask
up, at least one tick apart. The replay kernel, the agent's model feed and
:meth:`engine.fills.SpreadModel.bid_ask` all quote through :func:`model_bid_ask_nb`.

Reference: ``tests.reference.fills.model_bid_ask_ref``.
"""

import math

import numpy as np

from cache.kernel_cache import njit
from engine.enums import N_SPREAD_FEATURES, SpreadFeature, SpreadParam
from engine.policy.nb import tick_at_nb, tick_down_nb, tick_up_nb
from engine.pricing.nb import VOL_POINT, norm_pdf_nb, norm_ppf_nb

CONST_COIN = 1e-4  # the constant term's unit, so every coefficient is of order one


@njit(cache=True, nogil=True)
def spread_features_nb(mark_coin, delta, dte_days, ticks, out):
    """Fill ``out`` (length ``N_SPREAD_FEATURES``) with the spread terms of one call.

    ``delta`` and ``dte_days`` must already lie in the fitted range (see :func:`spread_gap_nb`).
    The vega is Black-76's per vol point and per coin of forward, ``φ(d1)·√T / 100``, with
    ``d1 = Φ⁻¹(delta)``: on the forward with r = 0 a call's delta is ``Φ(d1)``.
    """
    t = dte_days / 365.0
    vega = norm_pdf_nb(norm_ppf_nb(delta)) * math.sqrt(t) * VOL_POINT
    ln_dte = math.log(dte_days)
    m = mark_coin
    out[SpreadFeature.tick] = tick_at_nb(m, ticks)
    out[SpreadFeature.vega] = vega
    out[SpreadFeature.vega_ln_dte] = vega * ln_dte
    out[SpreadFeature.mark] = m
    out[SpreadFeature.mark_delta] = m * delta
    out[SpreadFeature.mark_ln_dte] = m * ln_dte
    out[SpreadFeature.vega_delta] = vega * delta
    out[SpreadFeature.const] = CONST_COIN
    out[SpreadFeature.mark_ln_mark] = m * math.log(m)
    out[SpreadFeature.mark_delta_sq] = m * delta * delta


@njit(cache=True, nogil=True)
def spread_gap_nb(mark_coin, delta, dte_days, ticks, spread, first):
    """Modelled gap (coin, ≥ 0) between the mark and one side: ``first`` is ``SpreadParam.bid``
    or ``SpreadParam.ask``. Delta and days are clamped to the fitted range first."""
    d = min(max(delta, spread[SpreadParam.delta_lo]), spread[SpreadParam.delta_hi])
    dte = min(max(dte_days, spread[SpreadParam.dte_lo]), spread[SpreadParam.dte_hi])
    f = np.empty(N_SPREAD_FEATURES)
    spread_features_nb(mark_coin, d, dte, ticks, f)
    gap = 0.0
    for j in range(N_SPREAD_FEATURES):
        gap += spread[first + j] * f[j]
    return max(gap, 0.0)


@njit(cache=True, nogil=True)
def model_bid_ask_nb(mark_coin, delta, dte_days, ticks, spread):
    """Return ``(bid, ask)`` (coin) of a call marked ``mark_coin`` on a model chain.

    With ``spread[at_mark]`` set both are the mark itself (fills at mark, off the grid, as
    before bid/ask fills existed). Otherwise the bid is ``mark − gap`` (plus the fitted tick
    shift) rounded down to the grid, never above the mark's grid level nor below zero, and the
    ask ``mark + gap`` (less its shift) rounded up, never below the mark's grid level; an ask
    that would not exceed the bid is put one tick above it. So ``bid ≤ mark ≤ ask`` always (a
    mark within 1e-6 of a tick of a grid level, e.g. 0.005000000000000001, counts as that
    level, as in the grid kernels). A NaN mark gives NaNs.
    """
    if math.isnan(mark_coin):
        return math.nan, math.nan
    if spread[SpreadParam.at_mark] != 0.0:
        return mark_coin, mark_coin
    if mark_coin <= 0.0:
        return 0.0, tick_at_nb(0.0, ticks)
    tick = tick_at_nb(mark_coin, ticks)
    gap_bid = spread_gap_nb(mark_coin, delta, dte_days, ticks, spread, SpreadParam.bid)
    gap_ask = spread_gap_nb(mark_coin, delta, dte_days, ticks, spread, SpreadParam.ask)
    bid = tick_down_nb(max(mark_coin - gap_bid + spread[SpreadParam.bid_tick_shift] * tick, 0.0),
                       ticks)  # fmt: skip
    ask = tick_up_nb(mark_coin + gap_ask - spread[SpreadParam.ask_tick_shift] * tick, ticks)
    bid = min(bid, tick_down_nb(mark_coin, ticks))  # a shift never lifts the bid over the mark
    ask = max(ask, tick_up_nb(mark_coin, ticks))
    if ask <= bid:
        ask = tick_up_nb(bid + tick_at_nb(bid, ticks), ticks)
    return bid, ask


@njit(cache=True, nogil=True)
def model_bid_ask_array_nb(mark_coin, delta, dte_days, ticks, spread, bid, ask):
    """:func:`model_bid_ask_nb` over 1-D arrays of equal length, into ``bid`` and ``ask``."""
    for i in range(mark_coin.shape[0]):
        bid[i], ask[i] = model_bid_ask_nb(mark_coin[i], delta[i], dte_days[i], ticks, spread)


@njit(cache=True, nogil=True)
def spread_features_array_nb(mark_coin, delta, dte_days, ticks, out):
    """:func:`spread_features_nb` over 1-D arrays, into the rows of ``out`` (n × features)."""
    for i in range(mark_coin.shape[0]):
        spread_features_nb(mark_coin[i], delta[i], dte_days[i], ticks, out[i])
