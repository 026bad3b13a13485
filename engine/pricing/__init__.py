"""Deribit-exact option pricing: Black-76 on each expiry's forward, r = 0, ACT/365 to 08:00 UTC.

- :mod:`engine.pricing.black76`: prices, greeks and implied vol with validated, broadcast input;
- :mod:`engine.pricing.daycount`: time to expiry as Deribit counts it;
- :mod:`engine.pricing.nb`: the numba kernels.
"""

from engine.pricing.black76 import (
    IV_STATUS_DESCRIPTIONS,
    Greeks,
    ImpliedVol,
    IVStatus,
    delta_coin,
    delta_usd,
    gamma,
    greeks,
    implied_vol,
    implied_vol_with_status,
    option_price,
    theta,
    vega,
)
from engine.pricing.daycount import expiry_datetime, t_years_to_expiry, year_fraction

__all__ = [
    "IV_STATUS_DESCRIPTIONS",
    "Greeks",
    "IVStatus",
    "ImpliedVol",
    "delta_coin",
    "delta_usd",
    "expiry_datetime",
    "gamma",
    "greeks",
    "implied_vol",
    "implied_vol_with_status",
    "option_price",
    "t_years_to_expiry",
    "theta",
    "vega",
    "year_fraction",
]
