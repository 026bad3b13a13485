"""Synthetic Deribit-like strike grids: finer near the money and for short expiries.

The rule (fitted to the recorded BTC/ETH chains; docs/instruments.md has the evidence):

- Time-to-expiry tiers pick the inner step as a fraction of spot, rounded to a nice number
  (1, 2, 2.5, 5 times a power of ten): daily (T <= 4 days), weekly (<= 30 days), monthly
  (<= 92 days) and quarterly tiers. A last-Friday monthly expiry keeps the monthly tier until it
  enters the daily tier, as Deribit keeps its coarser grid.
- Three bands around spot, symmetric in log-moneyness and measured in standard deviations
  ``sigma * sqrt(max(T, 4 days))``: multiples of the inner step near the money, of about twice it
  further out, and of about four times it in the wings. The grid is the union of the bands, which
  reproduces Deribit's mixes such as 84k, 85k, 86k, 88k (a 2,000 grid plus a 5,000 grid).
"""

import itertools
import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from cache.deribit.naming import check_underlying
from engine.instruments.nb import strike_grid_nb

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class StrikeGridRules:
    """Parameters of the synthetic strike grid of one underlying.

    Attributes
    ----------
    sigma : float
        Reference annual volatility (fraction) that scales the bands when the caller gives none.
    tier_rel_step : tuple of float
        Inner step as a fraction of spot for each tier (one more entry than ``tier_max_days``).
    tier_max_days : tuple of float
        Upper time-to-expiry bound (days, inclusive) of every tier but the last; increasing.
    monthly_min_tier : int
        Lowest tier a last-Friday monthly expiry uses outside the first (daily) tier.
    band_sd : tuple of float
        Half-width of each band in standard deviations; increasing.
    band_step_factor : tuple of float
        Step of each band as a multiple of the inner step (rounded up to a nice number); the first
        is 1, increasing.
    t_floor_days : float
        Time floor (days) of the band width: a grid keeps the width it had when listed.
    mantissas : tuple of float
        Nice-number mantissas in [1, 10), each a multiple of 0.1, increasing.
    """

    sigma: float
    tier_rel_step: tuple[float, ...]
    tier_max_days: tuple[float, ...] = (4.0, 30.0, 92.0)
    monthly_min_tier: int = 2
    band_sd: tuple[float, ...] = (1.0, 1.5, 2.5)
    band_step_factor: tuple[float, ...] = (1.0, 2.0, 4.0)
    t_floor_days: float = 3.0
    mantissas: tuple[float, ...] = (1.0, 2.0, 2.5, 5.0)

    def __post_init__(self) -> None:
        _check_positive("sigma", [self.sigma])
        _check_positive("tier_rel_step", self.tier_rel_step)
        _check_increasing("tier_max_days", self.tier_max_days)
        _check_positive("tier_max_days", self.tier_max_days)
        if len(self.tier_rel_step) != len(self.tier_max_days) + 1:
            raise ValueError(
                f"StrikeGridRules.tier_rel_step needs {len(self.tier_max_days) + 1} entries (one "
                f"per tier), got {len(self.tier_rel_step)}"
            )
        if not 0 <= self.monthly_min_tier < len(self.tier_rel_step):
            raise ValueError(
                f"StrikeGridRules.monthly_min_tier must index a tier, got {self.monthly_min_tier}"
            )
        _check_positive("band_sd", self.band_sd)
        _check_increasing("band_sd", self.band_sd)
        if len(self.band_step_factor) != len(self.band_sd) or self.band_step_factor[:1] != (1.0,):
            raise ValueError(
                "StrikeGridRules.band_step_factor needs one entry per band, the first 1.0, got "
                f"{self.band_step_factor}"
            )
        _check_increasing("band_step_factor", self.band_step_factor)
        if not (math.isfinite(self.t_floor_days) and self.t_floor_days >= 0):
            raise ValueError(f"StrikeGridRules.t_floor_days must be >= 0, got {self.t_floor_days}")
        _check_increasing("mantissas", self.mantissas)
        if not self.mantissas or any(
            not 1.0 <= m < 10.0 or abs(m * 10 - round(m * 10)) > 1e-9 for m in self.mantissas
        ):
            raise ValueError(
                "StrikeGridRules.mantissas must be multiples of 0.1 in [1, 10), got "
                f"{self.mantissas}"
            )


def _check_positive(field: str, values: tuple[float, ...] | list[float]) -> None:
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise ValueError(f"StrikeGridRules.{field} must be positive finite numbers, got {values}")


def _check_increasing(field: str, values: tuple[float, ...]) -> None:
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"StrikeGridRules.{field} must be strictly increasing, got {values}")


# Inner steps at the recorded spots (BTC ~92,000, ETH ~3,300): BTC 1,000 for dailies and weeklies,
# 2,000 for monthlies, 5,000 beyond; ETH 25, 50, 100, 200. sigma is the chains' median ATM IV.
DEFAULT_GRID_RULES = {
    "BTC": StrikeGridRules(sigma=0.45, tier_rel_step=(0.011, 0.011, 0.022, 0.055)),
    "ETH": StrikeGridRules(sigma=0.70, tier_rel_step=(0.0075, 0.015, 0.03, 0.06)),
}


def strike_grid(
    underlying: str,
    spot_usd: float,
    t_years: float,
    *,
    monthly: bool = False,
    sigma: float | None = None,
    rules: StrikeGridRules | None = None,
) -> np.ndarray:
    """Return a Deribit-like strike grid for one expiry: sorted unique strikes in USD.

    Parameters
    ----------
    underlying : str
        ``"BTC"`` or ``"ETH"``; selects the default rules.
    spot_usd : float
        Spot (or forward) price in USD around which the grid is centred.
    t_years : float
        Time to expiry in years (ACT/365), >= 0.
    monthly : bool
        True if the expiry is a last-Friday monthly (see ``is_monthly_expiry``): it keeps the
        coarser monthly grid until its last days.
    sigma : float, optional
        Annual volatility (fraction) that scales the band widths; defaults to ``rules.sigma``.
    rules : StrikeGridRules, optional
        Grid parameters; defaults to ``DEFAULT_GRID_RULES[underlying]``.
    """
    check_underlying(underlying)
    rules = DEFAULT_GRID_RULES[underlying] if rules is None else rules
    if sigma is not None:
        rules = replace(rules, sigma=sigma)
    for name, value in (("spot_usd", spot_usd), ("t_years", t_years)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(spot_usd) and spot_usd > 0):
        raise ValueError(f"spot_usd must be positive and finite, got {spot_usd!r}")
    if not (math.isfinite(t_years) and t_years >= 0):
        raise ValueError(f"t_years must be finite and >= 0, got {t_years!r}")
    return strike_grid_nb(
        float(spot_usd), float(t_years), bool(monthly), float(rules.sigma), *grid_kernel_args(rules)
    )


def grid_kernel_args(rules: StrikeGridRules) -> tuple:
    """The rule arrays ``strike_grid_nb`` takes after ``(spot_usd, t_years, monthly, sigma)``."""
    return (
        np.asarray(rules.tier_max_days, np.float64) / DAYS_PER_YEAR,
        np.asarray(rules.tier_rel_step, np.float64),
        int(rules.monthly_min_tier),
        np.asarray(rules.band_sd, np.float64),
        np.asarray(rules.band_step_factor, np.float64),
        float(rules.t_floor_days) / DAYS_PER_YEAR,
        np.asarray(rules.mantissas, np.float64),
    )
