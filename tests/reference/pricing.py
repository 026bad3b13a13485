"""Slow, obvious twins of the pricing kernels (``engine/pricing/nb.py``): textbook formulas.

Plain Python on purpose: the math module, one element at a time. Each numba kernel names its twin
here, and hypothesis tests check that they agree. The twins favour plainness over speed or
numerical finesse (e.g. the implied vol is a plain bisection on the full price), so an agreement is
evidence that the kernels are right, not that both share a bug.
"""

import math

from engine.pricing import nb


def norm_cdf(x: float) -> float:
    """Return the standard normal CDF, N(x) = erfc(-x / √2) / 2."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def norm_pdf(x: float) -> float:
    """Return the standard normal density."""
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _valid(F: float, K: float, T: float, sigma: float) -> bool:
    return all(math.isfinite(v) for v in (F, K, T, sigma)) and F > 0 and K > 0


def _intrinsic_delta(F: float, K: float, is_call: bool) -> float:
    call_delta = 1.0 if F > K else 0.0 if F < K else 0.5
    return call_delta if is_call else call_delta - 1.0


def black76_price_ref(F: float, K: float, T: float, sigma: float, is_call: bool) -> float:
    """Return the Black-76 price in USD with r = 0 (Hull's formula with the discount factor 1)."""
    if not _valid(F, K, T, sigma):
        return math.nan
    if T <= 0 or sigma <= 0 or sigma * math.sqrt(T) == 0:  # the last: underflow
        return max(F - K, 0.0) if is_call else max(K - F, 0.0)
    d1 = (math.log(F / K) + 0.5 * sigma**2 * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    if is_call:
        return F * norm_cdf(d1) - K * norm_cdf(d2)
    return K * norm_cdf(-d2) - F * norm_cdf(-d1)


def black76_price_coin_ref(F: float, K: float, T: float, sigma: float, is_call: bool) -> float:
    """Return the inverse (coin) price: USD price / forward."""
    return black76_price_ref(F, K, T, sigma, is_call) / F


def black76_greeks_ref(
    F: float, K: float, T: float, sigma: float, is_call: bool
) -> tuple[float, float, float, float, float]:
    """Return (price_usd, delta_usd, gamma USD/USD², vega USD per vol point, theta USD per day)."""
    price = black76_price_ref(F, K, T, sigma, is_call)
    if not _valid(F, K, T, sigma):
        return (math.nan,) * 5
    if T <= 0 or sigma <= 0 or sigma * math.sqrt(T) == 0:
        return price, _intrinsic_delta(F, K, is_call), 0.0, 0.0, 0.0
    d1 = (math.log(F / K) + 0.5 * sigma**2 * T) / (sigma * math.sqrt(T))
    delta = norm_cdf(d1) if is_call else norm_cdf(d1) - 1.0
    gamma = norm_pdf(d1) / (F * sigma * math.sqrt(T))
    vega_per_unit_sigma = F * norm_pdf(d1) * math.sqrt(T)
    theta_per_year = -F * norm_pdf(d1) * sigma / (2.0 * math.sqrt(T))
    return price, delta, gamma, vega_per_unit_sigma / 100.0, theta_per_year / 365.0


def implied_vol_ref(
    price: float, F: float, K: float, T: float, is_call: bool, inverse: bool
) -> tuple[float, int]:
    """Return (sigma, status code of engine.pricing.nb) by bisection on the full price."""
    if not (_valid(F, K, T, 0.0) and math.isfinite(price)):
        return math.nan, nb.IV_INVALID_INPUT
    if T <= 0:
        return math.nan, nb.IV_EXPIRED
    price_usd = price * F if inverse else price
    intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
    noise = nb.IV_ROUNDING_ULPS * nb.EPS * max(F, K) if intrinsic > 0 else 0.0
    if price_usd < intrinsic - noise:
        return math.nan, nb.IV_BELOW_INTRINSIC
    if price_usd >= (F if is_call else K):
        return math.nan, nb.IV_ABOVE_UPPER_BOUND
    lo, hi = nb.IV_SIGMA_MIN, nb.IV_SIGMA_MAX
    if price_usd - intrinsic <= noise or black76_price_ref(F, K, T, lo, is_call) >= price_usd:
        return math.nan, nb.IV_BELOW_BRACKET
    if black76_price_ref(F, K, T, hi, is_call) <= price_usd:
        return math.nan, nb.IV_ABOVE_BRACKET
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if black76_price_ref(F, K, T, mid, is_call) < price_usd:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi), nb.IV_OK
