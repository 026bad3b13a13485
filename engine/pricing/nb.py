"""Numba kernels for Black-76 on the forward with r = 0, as Deribit prices its options.

Conventions shared by every kernel here (the Python API in ``engine.pricing`` validates input and
documents units; these kernels assume valid shapes and dtypes):

- ``F`` forward (USD), ``K`` strike (USD), ``T`` time to expiry in years (ACT/365), ``sigma``
  volatility as a fraction (0.55 = 55 %), ``is_call`` True for a call, False for a put.
- Prices come back in USD; a coin (inverse) price is the USD price divided by ``F``.
- Any non-finite input, or ``F <= 0`` or ``K <= 0``, gives NaN (never an exception).
- ``T <= 0`` or ``sigma <= 0`` (or ``sigma * sqrt(T)`` underflowing to 0) gives the intrinsic
  value on the forward, ``max(±(F - K), 0)``, with delta 1/0 (call) or -1/0 (put), ±0.5 exactly
  at the money, and gamma = vega = theta = 0.

Scalar kernels (``black76_*_nb``, ``call_price_coin_nb``, ``implied_vol_nb``) are meant to be called
from other kernels' loops; the ``*_array_nb`` kernels loop over 1-D arrays of equal length.

All kernels use ``error_model="numpy"``: a division by zero deep inside a batch (e.g. an underflowed
``sigma * sqrt(T)``) must give inf/NaN like NumPy does instead of raising ZeroDivisionError.
"""

import math

import numpy as np

from cache.kernel_cache import njit

SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
DAYS_PER_YEAR = 365.0
VOL_POINT = 0.01  # Deribit quotes vega per 1 vol point, i.e. per 0.01 of sigma

IV_SIGMA_MIN = 1e-4
IV_SIGMA_MAX = 10.0
IV_SIGMA_TOL = 1e-10
IV_MAX_ITER = 100
IV_ROUNDING_ULPS = 8.0  # ITM time values within this many ulps of max(F, K) count as zero
EPS = float(np.finfo(np.float64).eps)

# Implied-vol status codes; engine.pricing.IVStatus holds their readable descriptions.
IV_OK = 0
IV_INVALID_INPUT = 1
IV_EXPIRED = 2
IV_BELOW_INTRINSIC = 3
IV_ABOVE_UPPER_BOUND = 4
IV_BELOW_BRACKET = 5
IV_ABOVE_BRACKET = 6
IV_NOT_CONVERGED = 7


@njit(cache=True, nogil=True, error_model="numpy")
def norm_cdf_nb(x):
    """Return the standard normal CDF, via erfc for accuracy in the tails.

    Reference twin: ``tests.reference.pricing.norm_cdf``.
    """
    return 0.5 * math.erfc(-x / SQRT2)


@njit(cache=True, nogil=True, error_model="numpy")
def norm_pdf_nb(x):
    """Return the standard normal density. Reference twin: ``tests.reference.pricing.norm_pdf``."""
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


# Acklam's rational approximation of the normal quantile (relative error 1.2e-9 before the
# Halley step that polishes it to machine precision)
_PPF_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
          -30.66479806614716, 2.506628274631000)  # fmt: skip
_PPF_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
          -13.28068155288572)  # fmt: skip
_PPF_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
          4.374664141464968, 2.938163982698783)  # fmt: skip
_PPF_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_PPF_LOW = 0.02425


@njit(cache=True, nogil=True, error_model="numpy")
def norm_ppf_nb(p):
    """Return the standard normal quantile of ``p`` (NaN outside ``(0, 1)``).

    Reference twin: ``statistics.NormalDist().inv_cdf`` (``tests.reference.pricing.norm_ppf``).
    """
    if not 0.0 < p < 1.0:
        return math.nan
    a, b, c, d = _PPF_A, _PPF_B, _PPF_C, _PPF_D
    if p < _PPF_LOW or p > 1.0 - _PPF_LOW:
        q = math.sqrt(-2.0 * math.log(min(p, 1.0 - p)))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        )
        if p > 0.5:
            x = -x
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
        )
    e = norm_cdf_nb(x) - p  # one Halley step
    u = e / norm_pdf_nb(x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True, nogil=True, error_model="numpy")
def _valid_nb(F, K, T, sigma):
    # NaN fails every comparison, so this one test screens NaN, inf and non-positive F or K.
    return 0.0 < F < np.inf and 0.0 < K < np.inf and abs(T) < np.inf and abs(sigma) < np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def _intrinsic_price_delta_nb(F, K, is_call):
    # Zero-vol limit: the price is the payoff on the forward, the delta its slope (0.5 on the kink,
    # which keeps call delta - put delta = 1).
    if F > K:
        call_price, call_delta = F - K, 1.0
    elif F < K:
        call_price, call_delta = 0.0, 0.0
    else:
        call_price, call_delta = 0.0, 0.5
    if is_call:
        return call_price, call_delta
    return call_price - (F - K), call_delta - 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def _d1_n1_nb(F, K, sd):
    # d1, the side w (+1 for the call OTM, -1 for the put) and N(w d1) of the out-of-the-money
    # option of this strike: everything its delta needs
    d1 = math.log(F / K) / sd + 0.5 * sd
    w = 1.0 if K >= F else -1.0
    return d1, w, 0.5 * math.erfc(-w * d1 / SQRT2)


@njit(cache=True, nogil=True, error_model="numpy")
def _otm_price_nb(F, K, sd, d1, w, n1):
    # w * (F N(w d1) - K N(w d2)), the OTM option's price from _d1_n1_nb's values. Rounding can
    # leave a far-OTM price a hair below zero; an option is never worth less.
    n2 = 0.5 * math.erfc(-w * (d1 - sd) / SQRT2)
    return max(w * (F * n1 - K * n2), 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _price_delta_nb(F, K, sd, is_call):
    # Price the out-of-the-money option of this strike from its own tail probabilities,
    # w * (F N(w d1) - K N(w d2)) with w = +1 for a call and -1 for a put, and get an ITM option
    # by parity as intrinsic + OTM price: no cancellation, and never below intrinsic.
    # Returns (price_usd, delta_usd, d1).
    d1, w, n1 = _d1_n1_nb(F, K, sd)
    price, delta = _otm_price_nb(F, K, sd, d1, w, n1), w * n1
    if is_call != (K >= F):  # in the money: add the forward intrinsic value and its slope
        sign = 1.0 if is_call else -1.0
        price = min(price + sign * (F - K), F if is_call else K)  # rounding past the cap
        delta += sign
    return price, delta, d1


@njit(cache=True, nogil=True, error_model="numpy")
def black76_price_delta_nb(F, K, T, sigma, is_call):
    """Return ``(price_usd, delta_usd)`` of one option in a single pass.

    ``delta_usd`` is ∂price_usd/∂F. Reference twin: ``tests.reference.pricing.black76_price_ref``
    and ``tests.reference.pricing.black76_greeks_ref``.
    """
    if not _valid_nb(F, K, T, sigma):
        return np.nan, np.nan
    sd = sigma * math.sqrt(max(T, 0.0))
    if not sd > 0.0:  # expired, zero vol, or sigma * sqrt(T) underflowed
        return _intrinsic_price_delta_nb(F, K, is_call)
    price, delta, _ = _price_delta_nb(F, K, sd, is_call)
    return price, delta


@njit(cache=True, nogil=True, error_model="numpy")
def call_delta_nb(F, K, T, sigma):
    """Return a call's ``delta_usd``: ``black76_price_delta_nb(F, K, T, sigma, True)[1]`` to the
    last bit, without pricing it (one erfc instead of two; the prepare phase's bisections)."""
    return call_delta_first_nb(F, K, T, sigma)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def call_delta_first_nb(F, K, T, sigma):
    """Return ``(delta_usd, sd, d1, n1)`` of a call: its delta as :func:`call_delta_nb`, and what
    :func:`call_price_after_delta_nb` needs to price it without computing the delta again.

    The prepare phase tests a candidate's delta against the band (and its score's bound) first,
    and prices only the candidates that can still rank.
    """
    if not _valid_nb(F, K, T, sigma):
        return np.nan, 0.0, 0.0, 0.0
    sd = sigma * math.sqrt(max(T, 0.0))
    if not sd > 0.0:
        return _intrinsic_price_delta_nb(F, K, True)[1], sd, 0.0, 0.0
    d1, w, n1 = _d1_n1_nb(F, K, sd)
    delta = w * n1
    if K < F:  # in the money: the forward intrinsic value's slope
        delta += 1.0
    return delta, sd, d1, n1


@njit(cache=True, nogil=True, error_model="numpy")
def call_d1_nb(F, K, T, sigma):
    """A call's d1 as :func:`call_delta_first_nb` computes it, NaN where it computes none
    (invalid inputs, no volatility left): the delta is :func:`call_delta_of_d1_nb` of it."""
    if not _valid_nb(F, K, T, sigma):
        return np.nan
    sd = sigma * math.sqrt(max(T, 0.0))
    if not sd > 0.0:
        return np.nan
    return math.log(F / K) / sd + 0.5 * sd


@njit(cache=True, nogil=True, error_model="numpy")
def call_delta_of_d1_nb(d1, itm):
    """A call's delta from its d1 with :func:`call_delta_first_nb`'s arithmetic to the bit
    (``itm``: struck below the forward, where it adds the forward intrinsic value's slope)."""
    w = -1.0 if itm else 1.0
    delta = w * (0.5 * math.erfc(-w * d1 / SQRT2))
    if itm:
        delta += 1.0
    return delta


# a d1 this far (relative) from the level's quantile decides the side without the delta; the
# delta there must clear the level by DELTA_SURE_GAP, far above erfc's rounding (a few 1e-16)
D1_SURE_MARGIN = 1e-6
DELTA_SURE_GAP = 1e-12


@njit(cache=True, nogil=True, error_model="numpy")
def delta_level_d1_nb(level):
    """``(below, above)``: a call whose d1 (:func:`call_d1_nb`) is below ``below`` has a delta
    under ``level``, above ``above`` one over it, as :func:`call_delta_first_nb` computes the
    delta in or out of the money; between them, or for a NaN d1, only the delta tells.

    The delta rises with d1 and ``norm_ppf_nb`` is exact to the last bits, so d1 a relative
    1e-6 off the level's quantile moves the delta far past the level: checked here on both
    formulas, with a gap of 1e-12, else ``(-inf, inf)`` (never sure). So is a level outside
    (0, 1). The prepare phase tests a candidate's side of its delta band this way and skips the
    ``erfc`` of those it can then tell cannot rank (the candidates kept are the same to the bit).
    """
    d = norm_ppf_nb(level)
    if not abs(d) < np.inf:
        return -np.inf, np.inf
    margin = D1_SURE_MARGIN * max(1.0, abs(d))
    below, above = d - margin, d + margin
    low = max(call_delta_of_d1_nb(below, False), call_delta_of_d1_nb(below, True))
    high = min(call_delta_of_d1_nb(above, False), call_delta_of_d1_nb(above, True))
    if low <= level - DELTA_SURE_GAP and high >= level + DELTA_SURE_GAP:
        return below, above
    return -np.inf, np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def call_price_after_delta_nb(F, K, T, sigma, sd, d1, n1):
    """Return a call's ``price_usd``, ``black76_price_delta_nb(F, K, T, sigma, True)[0]`` to the
    last bit, from ``(sd, d1, n1)`` of :func:`call_delta_first_nb` on the same inputs."""
    if not sd > 0.0:  # invalid input, expired or zero vol: the full kernel's special cases
        return black76_price_delta_nb(F, K, T, sigma, True)[0]
    w = 1.0 if K >= F else -1.0
    price = _otm_price_nb(F, K, sd, d1, w, n1)
    if K < F:  # in the money: add the forward intrinsic value
        price = min(price + (F - K), F)
    return price


@njit(cache=True, nogil=True, error_model="numpy")
def black76_price_nb(F, K, T, sigma, is_call):
    """Return the Black-76 (r = 0) price of one option in USD.

    Reference twin: ``tests.reference.pricing.black76_price_ref``.
    """
    return black76_price_delta_nb(F, K, T, sigma, is_call)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def black76_price_coin_nb(F, K, T, sigma, is_call):
    """Return the inverse (coin) price of one option: USD price / forward.

    Reference twin: ``tests.reference.pricing.black76_price_coin_ref``.
    """
    return black76_price_nb(F, K, T, sigma, is_call) / F


@njit(cache=True, nogil=True, error_model="numpy")
def call_price_coin_nb(F, K, T, sigma):
    """Return the coin price of one inverse call (the covered-call case).

    Reference twin: ``tests.reference.pricing.black76_price_coin_ref`` with ``is_call=True``.
    """
    return black76_price_coin_nb(F, K, T, sigma, True)


@njit(cache=True, nogil=True, error_model="numpy")
def black76_greeks_nb(F, K, T, sigma, is_call):
    """Return ``(price_usd, delta_usd, gamma, vega, theta)`` of one option.

    Units: delta USD/USD, gamma USD/USD², vega USD per vol point (0.01 sigma), theta USD per
    calendar day (365-day year). Reference twin: ``tests.reference.pricing.black76_greeks_ref``.
    """
    if not _valid_nb(F, K, T, sigma):
        return np.nan, np.nan, np.nan, np.nan, np.nan
    sqrt_t = math.sqrt(max(T, 0.0))
    sd = sigma * sqrt_t
    if not sd > 0.0:
        price, delta = _intrinsic_price_delta_nb(F, K, is_call)
        return price, delta, 0.0, 0.0, 0.0
    price, delta, d1 = _price_delta_nb(F, K, sd, is_call)
    pdf = norm_pdf_nb(d1)
    gamma = pdf / (F * sd)
    vega = F * pdf * sqrt_t * VOL_POINT
    theta = -F * pdf * sigma / (2.0 * sqrt_t) / DAYS_PER_YEAR
    return price, delta, gamma, vega, theta


@njit(cache=True, nogil=True, error_model="numpy")
def implied_vol_nb(price, F, K, T, is_call, inverse):
    """Return ``(sigma, status)`` implied by one option price (coin if ``inverse``, else USD).

    Solve on the time value (price minus intrinsic), which equals the price of the OTM option of
    the same strike, so ITM quotes lose no digits. Newton steps (on log price when far above the
    root) are kept inside a shrinking bracket [``IV_SIGMA_MIN``, ``IV_SIGMA_MAX``]; a step that
    leaves it is replaced by bisection, so the solver cannot diverge. It stops when a step moves
    sigma by at most ``IV_SIGMA_TOL``. ``sigma`` is NaN unless ``status == IV_OK``.
    Reference twin: ``tests.reference.pricing.implied_vol_ref`` (plain bisection on the full price).
    """
    if not (_valid_nb(F, K, T, 0.0) and abs(price) < np.inf):
        return np.nan, IV_INVALID_INPUT
    if T <= 0.0:
        return np.nan, IV_EXPIRED
    price_usd = price * F if inverse else price
    intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
    # In the money, the coin-to-USD conversion and the subtraction of the intrinsic value are
    # exact only to a few ulps of F or K: a time value within that noise carries no vol.
    noise = IV_ROUNDING_ULPS * EPS * max(F, K) if intrinsic > 0.0 else 0.0
    if price_usd < intrinsic - noise:
        return np.nan, IV_BELOW_INTRINSIC
    if price_usd >= (F if is_call else K):
        return np.nan, IV_ABOVE_UPPER_BOUND
    time_value = price_usd - intrinsic
    otm_is_call = K >= F
    sqrt_t = math.sqrt(T)
    lo, hi = IV_SIGMA_MIN, IV_SIGMA_MAX
    if time_value <= noise or _price_delta_nb(F, K, lo * sqrt_t, otm_is_call)[0] >= time_value:
        return np.nan, IV_BELOW_BRACKET
    if _price_delta_nb(F, K, hi * sqrt_t, otm_is_call)[0] <= time_value:
        return np.nan, IV_ABOVE_BRACKET
    # Start at the inflection point of price(sigma) (Manaster-Koehler), from where Newton moves
    # monotonically; near the money use the Brenner-Subrahmanyam ATM approximation instead.
    sigma = max(
        math.sqrt(2.0 * abs(math.log(F / K)) / T),
        math.sqrt(2.0 * math.pi / T) * time_value / F,
    )
    sigma = min(max(sigma, lo), hi)
    for _ in range(IV_MAX_ITER):
        model, _delta, d1 = _price_delta_nb(F, K, sigma * sqrt_t, otm_is_call)
        if model == time_value:
            return sigma, IV_OK
        if model > time_value:
            hi = sigma
        else:
            lo = sigma
        vega = F * norm_pdf_nb(d1) * sqrt_t
        if model > 2.0 * time_value:
            # Far above the root on a convex price curve (OTM prices behave like exp(-c/sigma²))
            # a Newton step on the price crawls; on log(price), which is nearly concave, it
            # jumps to the root or just below it.
            step = sigma - math.log(model / time_value) * model / vega
        else:
            step = sigma - (model - time_value) / vega
        if not lo < step < hi:  # also catches NaN from an underflowed model price or vega
            step = 0.5 * (lo + hi)
        if abs(step - sigma) <= IV_SIGMA_TOL:
            return step, IV_OK
        sigma = step
    return np.nan, IV_NOT_CONVERGED


@njit(cache=True, nogil=True, error_model="numpy")
def option_price_array_nb(F, K, T, sigma, is_call, inverse):
    """Return prices (coin if ``inverse``, else USD) for 1-D arrays of equal length.

    Reference twin: ``tests.reference.pricing.black76_price_ref`` / ``black76_price_coin_ref``
    per element.
    """
    n = F.shape[0]
    out = np.empty(n)
    for i in range(n):
        price = black76_price_nb(F[i], K[i], T[i], sigma[i], is_call[i])
        out[i] = price / F[i] if inverse else price
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def price_delta_array_nb(F, K, T, sigma, is_call):
    """Return ``(price_usd, delta_usd)`` arrays in one pass over 1-D arrays of equal length.

    Reference twin: ``tests.reference.pricing.black76_greeks_ref`` (first two outputs) per element.
    """
    n = F.shape[0]
    price = np.empty(n)
    delta = np.empty(n)
    for i in range(n):
        price[i], delta[i] = black76_price_delta_nb(F[i], K[i], T[i], sigma[i], is_call[i])
    return price, delta


@njit(cache=True, nogil=True, error_model="numpy")
def greeks_array_nb(F, K, T, sigma, is_call):
    """Return ``(price_usd, delta_usd, gamma, vega, theta)`` arrays (units as in
    ``black76_greeks_nb``) for 1-D arrays of equal length.

    Reference twin: ``tests.reference.pricing.black76_greeks_ref`` per element.
    """
    n = F.shape[0]
    price = np.empty(n)
    delta = np.empty(n)
    gamma = np.empty(n)
    vega = np.empty(n)
    theta = np.empty(n)
    for i in range(n):
        price[i], delta[i], gamma[i], vega[i], theta[i] = black76_greeks_nb(
            F[i], K[i], T[i], sigma[i], is_call[i]
        )
    return price, delta, gamma, vega, theta


@njit(cache=True, nogil=True, error_model="numpy")
def implied_vol_array_nb(price, F, K, T, is_call, inverse):
    """Return ``(sigma, status)`` arrays for 1-D arrays of equal length; status is int8.

    Reference twin: ``tests.reference.pricing.implied_vol_ref`` per element.
    """
    n = F.shape[0]
    sigma = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    for i in range(n):
        sigma[i], status[i] = implied_vol_nb(price[i], F[i], K[i], T[i], is_call[i], inverse)
    return sigma, status
