"""Deribit-exact option pricing: Black-76 on each expiry's forward, r = 0, ACT/365 to 08:00 UTC.

Deribit prices BTC/ETH options with Black-76 on the forward of the expiry (``underlying_price``),
with no discounting, and quotes inverse options in coin: coin price = USD price / forward.

Every function here validates its input, broadcasts array arguments with NumPy rules and loops over
them in the numba kernels of :mod:`engine.pricing.nb`. Scalars in give Python floats out; anything
else gives an ndarray of the broadcast shape. Units:

- ``forward``, ``strike``: USD; ``t_years``: years, ACT/365 (see :func:`t_years_to_expiry`);
  ``sigma``: fraction per year (0.55 for 55 %; Deribit's ``mark_iv`` is in percent);
  ``is_call``: bool (True = call, False = put), or 0/1.
- Expected outcomes never raise: NaN or inf inputs give NaN, ``t_years <= 0`` gives the intrinsic
  value on the forward (zero greeks except delta), ``sigma == 0`` likewise.
- Invalid input raises ValueError naming the argument: forward or strike ``<= 0``, sigma ``< 0``,
  shapes that do not broadcast, ``is_call`` that is not boolean.
"""

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from engine.pricing import nb


class IVStatus(IntEnum):
    """Outcome of :func:`implied_vol_with_status` for one element (int8 in arrays)."""

    OK = nb.IV_OK
    INVALID_INPUT = nb.IV_INVALID_INPUT
    EXPIRED = nb.IV_EXPIRED
    BELOW_INTRINSIC = nb.IV_BELOW_INTRINSIC
    ABOVE_UPPER_BOUND = nb.IV_ABOVE_UPPER_BOUND
    BELOW_BRACKET = nb.IV_BELOW_BRACKET
    ABOVE_BRACKET = nb.IV_ABOVE_BRACKET
    NOT_CONVERGED = nb.IV_NOT_CONVERGED


IV_STATUS_DESCRIPTIONS: dict[IVStatus, str] = {
    IVStatus.OK: "solved: sigma reprices the option to within 1e-10 in sigma",
    IVStatus.INVALID_INPUT: (
        "price, forward, strike or t_years is NaN or infinite (or, from kernels, forward or"
        " strike <= 0)"
    ),
    IVStatus.EXPIRED: "t_years <= 0: an expired option has no time value to imply a vol from",
    IVStatus.BELOW_INTRINSIC: "price is below intrinsic value max(±(F - K), 0) (arbitrage)",
    IVStatus.ABOVE_UPPER_BOUND: "price is at or above its cap (F for a call, K for a put)",
    IVStatus.BELOW_BRACKET: (
        "no time value to imply a vol from: price - intrinsic is zero within rounding, or at or"
        f" below the price at sigma = {nb.IV_SIGMA_MIN:g}"
    ),
    IVStatus.ABOVE_BRACKET: f"price needs sigma above {nb.IV_SIGMA_MAX:g} (1000 vol points)",
    IVStatus.NOT_CONVERGED: f"no convergence within {nb.IV_MAX_ITER} iterations",
}


class Greeks(NamedTuple):
    """Black-76 price and greeks (r = 0) as Deribit reports them; arrays or floats."""

    price_usd: float | np.ndarray
    """Option price in USD."""
    price_coin: float | np.ndarray
    """Option price in coin (USD price / forward)."""
    delta_usd: float | np.ndarray
    """∂price_usd/∂forward (USD per USD), Black-76 delta; Deribit's ticker ``delta``."""
    delta_coin: float | np.ndarray
    """delta_usd - price_coin: forward × ∂price_coin/∂forward, the coin-adjusted delta."""
    gamma: float | np.ndarray
    """∂²price_usd/∂forward² (USD per USD²)."""
    vega: float | np.ndarray
    """USD per 1 vol point (0.01 of sigma)."""
    theta: float | np.ndarray
    """USD per calendar day (365-day year); negative for a long option."""


class ImpliedVol(NamedTuple):
    """Implied vols (fraction per year, NaN unless solved) and their :class:`IVStatus` codes."""

    sigma: float | np.ndarray
    status: IVStatus | np.ndarray


def _float_array(name: str, value: ArrayLike) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r:.80}") from None


def _positive(name: str, value: ArrayLike) -> np.ndarray:
    arr = _float_array(name, value)
    if np.any(arr <= 0.0):  # NaN compares False and flows through to a NaN result
        raise ValueError(f"{name} must be > 0 USD, got minimum {np.nanmin(arr)!r}")
    return arr


def _non_negative(name: str, value: ArrayLike) -> np.ndarray:
    arr = _float_array(name, value)
    if np.any(arr < 0.0):
        raise ValueError(f"{name} must be >= 0, got minimum {np.nanmin(arr)!r}")
    return arr


def _bool_array(name: str, value: ArrayLike) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iu" and np.all((arr == 0) | (arr == 1)):
        return arr.astype(np.bool_)
    raise ValueError(f"{name} must be boolean (True = call, False = put) or 0/1, got {value!r:.80}")


def _broadcast(**arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the named arrays and flatten each to 1-D (views where NumPy allows)."""
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{name}{a.shape}" for name, a in arrays.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from None
    return shape, [np.broadcast_to(a, shape).reshape(-1) for a in arrays.values()]


def _shaped(flat: np.ndarray, shape: tuple[int, ...]) -> float | np.ndarray:
    return float(flat[0]) if shape == () else flat.reshape(shape)


def _inputs(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike, is_call: ArrayLike
) -> tuple[tuple[int, ...], list[np.ndarray]]:
    return _broadcast(
        forward=_positive("forward", forward),
        strike=_positive("strike", strike),
        t_years=_float_array("t_years", t_years),
        sigma=_non_negative("sigma", sigma),
        is_call=_bool_array("is_call", is_call),
    )


def option_price(
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    inverse: bool = True,
) -> float | np.ndarray:
    """Return the Black-76 (r = 0) option price: coin if ``inverse`` (Deribit's quote), else USD.

    Parameters
    ----------
    forward, strike : array_like
        Forward of the expiry and strike, USD, > 0.
    t_years : array_like
        Years to expiry, ACT/365; ``<= 0`` prices the intrinsic value.
    sigma : array_like
        Volatility as a fraction per year, >= 0.
    is_call : array_like of bool
        True for calls, False for puts.
    inverse : bool
        Return coin prices (USD price / forward) when True, USD prices when False.
    """
    shape, args = _inputs(forward, strike, t_years, sigma, is_call)
    return _shaped(nb.option_price_array_nb(*args, bool(inverse)), shape)


def greeks(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike, is_call: ArrayLike
) -> Greeks:
    """Return price and all greeks in one pass; arguments as in :func:`option_price`.

    Units follow Deribit's ticker: delta USD/USD, gamma USD/USD², vega USD per vol point, theta USD
    per calendar day. See :class:`Greeks` for each field.
    """
    shape, args = _inputs(forward, strike, t_years, sigma, is_call)
    price_usd, delta, gam, veg, the = nb.greeks_array_nb(*args)
    price_coin = price_usd / args[0]
    return Greeks(
        *(
            _shaped(a, shape)
            for a in (price_usd, price_coin, delta, delta - price_coin, gam, veg, the)
        )
    )


def delta_usd(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike, is_call: ArrayLike
) -> float | np.ndarray:
    """Return the Black-76 delta ∂price_usd/∂forward (USD per USD), as Deribit's ticker reports.

    Calls lie in [0, 1], puts in [-1, 0]; arguments as in :func:`option_price`.
    """
    shape, args = _inputs(forward, strike, t_years, sigma, is_call)
    return _shaped(nb.price_delta_array_nb(*args)[1], shape)


def delta_coin(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike, is_call: ArrayLike
) -> float | np.ndarray:
    """Return Deribit's coin-adjusted delta of an inverse option: ``delta_usd - price_coin``.

    It equals ``forward * ∂price_coin/∂forward``: the coin exposure of an option whose premium is
    itself held in coin. Arguments as in :func:`option_price`.
    """
    shape, args = _inputs(forward, strike, t_years, sigma, is_call)
    price_usd, delta = nb.price_delta_array_nb(*args)
    return _shaped(delta - price_usd / args[0], shape)


def _greek(
    index: int, forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike
) -> float | np.ndarray:
    # Gamma, vega and theta do not depend on the option type when r = 0.
    shape, args = _inputs(forward, strike, t_years, sigma, True)
    return _shaped(nb.greeks_array_nb(*args)[index], shape)


def gamma(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike
) -> float | np.ndarray:
    """Return ∂²price_usd/∂forward² in USD per USD² (same for calls and puts)."""
    return _greek(2, forward, strike, t_years, sigma)


def vega(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike
) -> float | np.ndarray:
    """Return the USD price change per 1 vol point (0.01 of sigma), as Deribit reports vega."""
    return _greek(3, forward, strike, t_years, sigma)


def theta(
    forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike
) -> float | np.ndarray:
    """Return the USD price change per calendar day (365-day year), as Deribit reports theta."""
    return _greek(4, forward, strike, t_years, sigma)


def implied_vol_with_status(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    is_call: ArrayLike,
    inverse: bool = True,
) -> ImpliedVol:
    """Return the Black-76 implied vol of each price with an :class:`IVStatus` code.

    The solver never raises inside a batch: prices outside the no-arbitrage bounds, expired
    options, non-finite inputs and vols outside [1e-4, 10] come back as NaN with a status code
    (see ``IV_STATUS_DESCRIPTIONS``).

    Parameters
    ----------
    price : array_like
        Option price: coin if ``inverse`` (Deribit's quote), else USD.
    forward, strike, t_years, is_call : array_like
        As in :func:`option_price`.
    inverse : bool
        Whether ``price`` is in coin.
    """
    shape, args = _broadcast(
        price=_float_array("price", price),
        forward=_positive("forward", forward),
        strike=_positive("strike", strike),
        t_years=_float_array("t_years", t_years),
        is_call=_bool_array("is_call", is_call),
    )
    sigma, status = nb.implied_vol_array_nb(*args, bool(inverse))
    if shape == ():
        return ImpliedVol(float(sigma[0]), IVStatus(int(status[0])))
    return ImpliedVol(sigma.reshape(shape), status.reshape(shape))


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    is_call: ArrayLike,
    inverse: bool = True,
) -> float | np.ndarray:
    """Return the implied vol (fraction per year) of each price, NaN where it has none.

    Same as :func:`implied_vol_with_status` without the status codes.
    """
    return implied_vol_with_status(price, forward, strike, t_years, is_call, inverse).sigma
