"""The IV-index fallback for bars without a Deribit DVOL print: realized vol plus a premium.

DVOL only exists from 2021, and even then an hour may lack a print. Such bars get
``iv = max(RV + premium_points, floor_percent)`` with ``iv_is_real=False``, RV being the
close-to-close realized volatility of the trailing ``window_days`` (annualised with 365 days, in
percent). The rule and its default parameters are documented in ``docs/data.md``.
"""

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from cache.schema import UTC_US

RV_WINDOW_DAYS = 30
IV_PREMIUM_POINTS = 5.0  # vol points over RV: implied vol usually trades above realized
IV_FLOOR_PERCENT = 20.0  # calm stretches must not yield an implausibly low implied vol


@dataclass(frozen=True)
class IvFallback:
    """The IV-index fallback for bars without a DVOL print (see :func:`fallback_iv`).

    ``iv = max(RV + premium_points, floor_percent)``, RV being the close-to-close realized vol of
    the ``window_days`` days ending at the bar's close, annualised with 365 days, in percent.
    """

    window_days: int = RV_WINDOW_DAYS
    premium_points: float = IV_PREMIUM_POINTS
    floor_percent: float = IV_FLOOR_PERCENT

    def __post_init__(self) -> None:
        if not (isinstance(self.window_days, int) and self.window_days >= 1):
            raise ValueError(f"window_days must be an int >= 1: {self.window_days!r}")
        if not 1.0 <= self.floor_percent <= 1000.0:
            raise ValueError(f"floor_percent must be in 1..1000: {self.floor_percent!r}")


DEFAULT_FALLBACK = IvFallback()


def fallback_iv(candles: pl.DataFrame, rule: IvFallback = DEFAULT_FALLBACK) -> pl.DataFrame:
    """Return the fallback IV index (percent, ``iv_is_real=False``) of a candle series.

    For the bar opening at ``t``: ``RV = 100 * sqrt(365 / D * sum(r_i**2))`` with ``r_i`` the log
    returns close-to-close of the bars opening in ``(t - D days, t]`` (each against the previous
    bar's close, across gaps too) and ``D = rule.window_days``; then
    ``iv = max(RV + rule.premium_points, rule.floor_percent)``. Bars with less than ``D`` days of
    data before them get no row.
    """
    schema = {"time": UTC_US, "iv": pl.Float64(), "iv_is_real": pl.Boolean()}
    if candles.is_empty():
        return pl.DataFrame(schema=schema)
    window = timedelta(days=rule.window_days)
    ordered = candles.select("time", "close").sort("time")
    first = ordered.get_column("time")[0]
    r2 = (pl.col("close") / pl.col("close").shift(1)).log().pow(2).fill_null(0.0)
    rv = 100.0 * (pl.col("r2").rolling_sum_by("time", window) * (365.0 / rule.window_days)).sqrt()
    return (
        ordered.with_columns(r2=r2)
        .with_columns(rv=rv)
        .filter(pl.col("time") >= first + window)
        .select(
            "time",
            iv=pl.max_horizontal(pl.col("rv") + rule.premium_points, pl.lit(rule.floor_percent)),
            iv_is_real=pl.lit(False),
        )
    )
