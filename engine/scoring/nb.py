"""Numba kernels of the candidate score (documented in ``engine/scoring/score.py``)."""

import math

import numpy as np

from cache.kernel_cache import njit

RICHNESS_FLOOR = 0.8  # IV/RV at or below this earns nothing
RICHNESS_SPAN = 0.6  # IV/RV of FLOOR + SPAN (1.4) earns full marks
RICHNESS_UNKNOWN = 0.5  # share of the richness weight while realized vol is unknown


@njit(cache=True, nogil=True)
def iv_rv_ratio_nb(iv, rv):
    """Candidate IV over realized vol: +inf for a market that did not move, NaN if unknown."""
    if rv > 0.0:
        return iv / rv
    if rv == 0.0:
        return math.inf
    return math.nan


@njit(cache=True, nogil=True)
def yield_fit_nb(premium_yield_annual, yield_ref_annual):
    """The premium yield's part of the score, in [0, 1]."""
    return min(max(premium_yield_annual / yield_ref_annual, 0.0), 1.0)


@njit(cache=True, nogil=True)
def richness_fit_nb(iv_rv_ratio):
    """The richness part of the score (IV over realized vol), in [0, 1]."""
    if math.isnan(iv_rv_ratio):
        return RICHNESS_UNKNOWN
    return min(max((iv_rv_ratio - RICHNESS_FLOOR) / RICHNESS_SPAN, 0.0), 1.0)


@njit(cache=True, nogil=True)
def delta_fit_nb(delta, target_delta, delta_width):
    """The delta fit part of the score, in [0, 1]."""
    z_delta = (delta - target_delta) / delta_width
    return math.exp(-0.5 * z_delta * z_delta)


@njit(cache=True, nogil=True)
def dte_fit_nb(dte, target_dte, dte_log_width):
    """The DTE fit part of the score, in [0, 1] (one value per expiry and time)."""
    z_dte = math.log(max(dte, 1e-6) / target_dte) / dte_log_width
    return math.exp(-0.5 * z_dte * z_dte)


@njit(cache=True, nogil=True)
def combine_score_nb(
    s_yield, s_rich, s_delta, s_dte, regime, w_yield, w_richness, w_delta, w_dte, bull_penalty,
    bear_penalty,
):  # fmt: skip
    """The score in [0, 10] from its four parts (each in [0, 1]) and the regime.

    It never falls when a part rises (the weights are not negative, and IEEE sums and products
    round monotonically), so parts at their maximum bound the score from above, bit for bit.
    """
    score = w_yield * s_yield + w_richness * s_rich + w_delta * s_delta + w_dte * s_dte
    if regime > 0:
        score -= bull_penalty
    elif regime < 0:
        score -= bear_penalty
    return min(max(score, 0.0), 10.0)


@njit(cache=True, nogil=True)
def score_nb(
    premium_yield_annual,
    iv_rv_ratio,
    delta,
    dte,
    regime,
    target_delta,
    target_dte,
    w_yield,
    w_richness,
    w_delta,
    w_dte,
    yield_ref_annual,
    delta_width,
    dte_log_width,
    bull_penalty,
    bear_penalty,
):
    """Score one candidate in [0, 10]. Reference: ``tests.reference.scoring.score_ref``."""
    return combine_score_nb(
        yield_fit_nb(premium_yield_annual, yield_ref_annual),
        richness_fit_nb(iv_rv_ratio),
        delta_fit_nb(delta, target_delta, delta_width),
        dte_fit_nb(dte, target_dte, dte_log_width),
        regime, w_yield, w_richness, w_delta, w_dte, bull_penalty, bear_penalty,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def score_batch_nb(
    premium_yield_annual,
    iv_rv_ratio,
    delta,
    dte,
    regime,
    target_delta,
    target_dte,
    w_yield,
    w_richness,
    w_delta,
    w_dte,
    yield_ref_annual,
    delta_width,
    dte_log_width,
    bull_penalty,
    bear_penalty,
):
    """Score arrays of candidates; element ``i`` equals ``score_nb`` on element ``i``."""
    n = premium_yield_annual.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = score_nb(
            premium_yield_annual[i],
            iv_rv_ratio[i],
            delta[i],
            dte[i],
            regime[i],
            target_delta,
            target_dte,
            w_yield,
            w_richness,
            w_delta,
            w_dte,
            yield_ref_annual,
            delta_width,
            dte_log_width,
            bull_penalty,
            bear_penalty,
        )
    return out
