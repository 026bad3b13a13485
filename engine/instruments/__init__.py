"""Deribit instruments: option names, the expiry calendar and synthetic strike grids.

- :func:`parse_instrument` / :func:`format_instrument`: ``BTC-26DEC25-100000-C`` and back
  (defined in :mod:`cache.deribit.naming`, so that the cache can read Deribit's replies without
  importing the engine).
- :func:`listed_expiries` / :func:`listed_expiries_batch`: the expiries listed at given instants.
- :func:`strike_grid`: a Deribit-like strike grid for a synthetic chain.

docs/instruments.md documents the calendar and grid rules and the evidence they were fitted on.
"""

from cache.deribit.naming import (
    SUPPORTED_UNDERLYINGS,
    Instrument,
    format_expiry_code,
    format_instrument,
    format_strike,
    option_names_expr,
    parse_expiry_code,
    parse_instrument,
    parse_strike,
)
from engine.instruments.expiries import (
    DEFAULT_EXPIRY_RULES,
    ExpiryRules,
    is_monthly_expiry,
    listed_expiries,
    listed_expiries_batch,
    listing_table,
    monthly_expiries_ns,
)
from engine.instruments.strikes import DEFAULT_GRID_RULES, StrikeGridRules, strike_grid

__all__ = [
    "DEFAULT_EXPIRY_RULES",
    "DEFAULT_GRID_RULES",
    "SUPPORTED_UNDERLYINGS",
    "ExpiryRules",
    "Instrument",
    "StrikeGridRules",
    "format_expiry_code",
    "format_instrument",
    "format_strike",
    "is_monthly_expiry",
    "listed_expiries",
    "listed_expiries_batch",
    "listing_table",
    "monthly_expiries_ns",
    "option_names_expr",
    "parse_expiry_code",
    "parse_instrument",
    "parse_strike",
    "strike_grid",
]
