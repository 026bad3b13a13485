"""Slow, obvious twins of the engine's numba kernels (scoring, vol surface, replay)."""

import math


def surface_iv_ref(iv_index, k, t, term_beta, skew, curvature, min_ratio, max_ratio, min_term_t):
    """Twin of ``engine.volsurface.nb.surface_iv_nb``."""
    atm = iv_index * math.pow(max(t, min_term_t) * 365.0 / 30.0, term_beta)
    x = k / (atm * math.sqrt(max(t, 1e-12)))
    ratio = 1.0 + skew * x + curvature * x**2
    if ratio < min_ratio:
        ratio = min_ratio
    if ratio > max_ratio:
        ratio = max_ratio
    return atm * ratio


def score_ref(
    yld,
    ratio,
    delta,
    dte,
    regime,
    target_delta,
    target_dte,
    w_yield,
    w_rich,
    w_delta,
    w_dte,
    yield_ref,
    delta_width,
    dte_log_width,
    bull_penalty,
    bear_penalty,
):
    """Twin of ``engine.scoring.nb.score_nb``, written out plainly."""
    yield_part = yld / yield_ref
    yield_part = 0.0 if yield_part < 0 else (1.0 if yield_part > 1 else yield_part)
    if math.isnan(ratio):
        rich = 0.5
    else:
        rich = (ratio - 0.8) / 0.6
        rich = 0.0 if rich < 0 else (1.0 if rich > 1 else rich)
    delta_part = math.exp(-0.5 * ((delta - target_delta) / delta_width) ** 2)
    dte_part = math.exp(-0.5 * (math.log(max(dte, 1e-6) / target_dte) / dte_log_width) ** 2)
    total = w_yield * yield_part + w_rich * rich + w_delta * delta_part + w_dte * dte_part
    if regime == 1:
        total -= bull_penalty
    if regime == -1:
        total -= bear_penalty
    return min(10.0, max(0.0, total))
