"""Option-chain snapshots priced by Black-76 at known vols, in the ``../shared`` snapshot schema."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from cache.deribit.naming import option_names_expr
from cache.schema import CHAIN_SCHEMA
from cache.timeutil import SECONDS_PER_YEAR
from engine.pricing import expiry_datetime, option_price

HARVEST = datetime(2025, 12, 10, 12, tzinfo=UTC)
BTC_STRIKES = np.arange(20_000.0, 360_000.0, 500.0)

Vol = Callable[[np.ndarray, float], np.ndarray]  # (log-moneyness, t years) -> vol fraction


def flat(sigma: float) -> Vol:
    """The same vol at every strike and expiry."""
    return lambda k, t: np.full_like(k, sigma)


def model_chain(
    vol: Vol,
    *,
    underlying: str = "BTC",
    forward: float = 90_250.0,
    expiry_days: tuple[int, ...] = (20, 40),
    strikes: np.ndarray = BTC_STRIKES,
    harvest: datetime = HARVEST,
    spread: float = 0.05,
) -> pl.DataFrame:
    """One snapshot: a call and a put per strike and expiry, priced in coin on ``forward``.

    ``expiry_days`` are whole days from the harvest date (expiring 08:00 UTC); bid and ask sit
    ``spread`` (a share of the mark) either side of the mark.
    """
    parts = []
    for days in expiry_days:
        expiry = expiry_datetime(harvest.date() + timedelta(days=days))
        t = (expiry - harvest).total_seconds() / SECONDS_PER_YEAR
        sigma = vol(np.log(strikes / forward), t)
        for option_type in ("C", "P"):
            mark = option_price(forward, strikes, t, sigma, option_type == "C")
            part = pl.DataFrame({"strike": strikes, "mark_price": mark, "mark_iv": 100 * sigma})
            part = part.with_columns(expiry_time=pl.lit(expiry), option_type=pl.lit(option_type))
            names = option_names_expr(underlying, "expiry_time", "strike", option_type)
            parts.append(part.with_columns(names=names))
    rows = pl.concat(parts)
    frame = rows.select(
        harvest_time=pl.lit(harvest),
        instrument_name="names",
        underlying=pl.lit(underlying),
        expiry=pl.col("expiry_time").dt.strftime("%Y-%m-%d"),
        expiry_timestamp=pl.col("expiry_time").dt.epoch("us") / 1e6,
        option_type="option_type",
        strike="strike",
        underlying_price=pl.lit(forward),
        mark_price="mark_price",
        best_bid_price=pl.col("mark_price") * (1 - spread),
        best_ask_price=pl.col("mark_price") * (1 + spread),
        mark_iv="mark_iv",
    )
    return frame.cast({k: CHAIN_SCHEMA[k] for k in frame.columns})
