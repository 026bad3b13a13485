"""Market context at a decision time: returns, realized vol, regime, MA distance, IV rank.

Only data at or before the decision time is used. A decision at time ``t`` (a bar boundary) sees
the bars that have *closed* by ``t`` (open time + bar length ≤ ``t``) and the IV index value that
closed by ``t``. Windows are in days and converted to bars of the run's timeframe:

- ``return_7d`` / ``return_30d``: close now over the close 7 / 30 days earlier, minus 1;
- ``rv_7d`` / ``rv_30d``: sample standard deviation of the log returns of the bars in the last
  7 / 30 days, annualised with 365 days (fraction, 0.6 = 60 %);
- ``ma_50d`` / ``ma_200d``: mean bar close over the last 50 / 200 days; ``dist_ma50`` /
  ``dist_ma200`` = close / MA − 1;
- ``regime``: bull (+1) when close > MA50 > MA200, bear (−1) when close < MA50 < MA200, sideways (0)
  otherwise, including while the 200-day history is not yet there;
- ``iv_index``: the IV index (percent) that closed by ``t``; ``iv_rank``: where it sits between its
  minimum and maximum of the last 365 days (0..1), NaN with less than 30 days of IV history;
  ``iv_is_real``: whether that IV value is a real Deribit DVOL print (false for synthetic,
  imported or realized-vol fallback values, for a series without the flag and before any IV).

Quantities without enough history are NaN. :func:`market_context_batch` computes every decision
time at once; :func:`compute_market_context_from_ds` computes one, from the data source, and a test
proves both agree.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from cache.timeutil import DAYS_PER_YEAR, TIMEFRAME_HOURS, as_utc

REGIME_NAMES = {1: "bull", 0: "sideways", -1: "bear"}
CONTEXT_FIELDS = (
    "spot",
    "return_7d",
    "return_30d",
    "rv_7d",
    "rv_30d",
    "ma_50d",
    "ma_200d",
    "dist_ma50",
    "dist_ma200",
    "regime",
    "iv_index",
    "iv_rank",
)
LOOKBACK_DAYS = 366  # the longest window (IV rank) plus one bar of margin
IV_RANK_DAYS = 365
IV_RANK_MIN_DAYS = 30


@dataclass(frozen=True)
class MarketContext:
    """The context of one decision time; prices in USD, vols and returns as fractions."""

    time: datetime
    spot: float
    return_7d: float
    return_30d: float
    rv_7d: float
    rv_30d: float
    ma_50d: float
    ma_200d: float
    dist_ma50: float
    dist_ma200: float
    regime: int
    iv_index: float
    iv_rank: float

    @property
    def regime_name(self) -> str:
        """``bull``, ``sideways`` or ``bear``."""
        return REGIME_NAMES[self.regime]

    def as_dict(self) -> dict:
        """Plain dict with the regime's name added."""
        return asdict(self) | {"regime_name": self.regime_name}

    @classmethod
    def from_row(cls, row: dict) -> "MarketContext":
        """The context in a row of :func:`market_context_batch` (extra keys are ignored)."""
        return cls(**{k: row[k] for k in ("time", *CONTEXT_FIELDS)})


def _bars(days: int, bar_hours: int) -> int:
    return days * 24 // bar_hours


def candle_context_columns(candles: pl.DataFrame, bar_hours: int) -> pl.DataFrame:
    """Context of every bar *close*: row ``i`` is what a decision at ``time[i] + bar`` sees."""
    per_year = DAYS_PER_YEAR * 24 / bar_hours
    close = pl.col("close")
    logret = (close / close.shift(1)).log()
    n7, n30, n50, n200 = (_bars(d, bar_hours) for d in (7, 30, 50, 200))
    out = candles.select(
        (pl.col("time") + timedelta(hours=bar_hours)).alias("time"),
        close.alias("spot"),
        (close / close.shift(n7) - 1).alias("return_7d"),
        (close / close.shift(n30) - 1).alias("return_30d"),
        (logret.rolling_std(n7) * np.sqrt(per_year)).alias("rv_7d"),
        (logret.rolling_std(n30) * np.sqrt(per_year)).alias("rv_30d"),
        close.rolling_mean(n50).alias("ma_50d"),
        close.rolling_mean(n200).alias("ma_200d"),
    )
    return out.with_columns(
        (pl.col("spot") / pl.col("ma_50d") - 1).alias("dist_ma50"),
        (pl.col("spot") / pl.col("ma_200d") - 1).alias("dist_ma200"),
        pl.when((pl.col("spot") > pl.col("ma_50d")) & (pl.col("ma_50d") > pl.col("ma_200d")))
        .then(1)
        .when((pl.col("spot") < pl.col("ma_50d")) & (pl.col("ma_50d") < pl.col("ma_200d")))
        .then(-1)
        .otherwise(0)
        .cast(pl.Int8)
        .alias("regime"),
    )


def iv_context_columns(iv: pl.DataFrame) -> pl.DataFrame:
    """IV index, IV rank and the real-print flag as of each IV close (``time`` + the IV step)."""
    step = iv.get_column("time").diff().slice(1).mode().sort()[0] if iv.height > 1 else None
    step = step or timedelta(hours=1)
    window = f"{IV_RANK_DAYS}d"
    closed_at = (pl.col("time") + step).alias("time")
    real = pl.col("iv_is_real") if "iv_is_real" in iv.columns else pl.lit(False)
    out = iv.select(closed_at, pl.col("iv").alias("iv_index"), real.alias("iv_is_real"))
    out = out.with_columns(
        pl.col("iv_index").rolling_min_by("time", window, closed="right").alias("_lo"),
        pl.col("iv_index").rolling_max_by("time", window, closed="right").alias("_hi"),
        pl.col("time").first().alias("_first"),
    )
    enough = (pl.col("time") - pl.col("_first")) >= timedelta(days=IV_RANK_MIN_DAYS)
    rank = (pl.col("iv_index") - pl.col("_lo")) / (pl.col("_hi") - pl.col("_lo"))
    rank = pl.when(pl.col("_hi") > pl.col("_lo")).then(rank).otherwise(0.5)
    return out.select(
        "time",
        "iv_index",
        pl.when(enough).then(rank).otherwise(None).alias("iv_rank"),
        "iv_is_real",
    )


def market_context_batch(
    candles: pl.DataFrame, iv: pl.DataFrame, times: pl.Series, bar_hours: int
) -> pl.DataFrame:
    """Context for every decision time in ``times`` (sorted UTC datetimes), one row each.

    ``candles`` and ``iv`` must start early enough for the windows (or the values are NaN).
    """
    bars = candle_context_columns(candles, bar_hours)
    ivc = iv_context_columns(iv)
    frame = pl.DataFrame({"time": times}).cast({"time": pl.Datetime("us", "UTC")})
    out = frame.join_asof(bars, on="time", strategy="backward").join_asof(
        ivc, on="time", strategy="backward"
    )
    return out.with_columns(
        pl.col(pl.Float64).fill_null(float("nan")), pl.col("iv_is_real").fill_null(False)
    )


def compute_market_context_from_ds(
    ds, underlying: str, as_of: datetime | str, timeframe: str = "1h"
) -> MarketContext:
    """The context of one decision time, read from a data source (the seed's function).

    Loads only the lookback window before ``as_of`` and applies the same formulas as
    :func:`market_context_batch`.
    """
    as_of = as_utc(as_of, "as_of")
    cov = ds.coverage(underlying)
    lo = max(as_of - timedelta(days=LOOKBACK_DAYS), cov.candles.start)
    bar_hours = TIMEFRAME_HOURS[timeframe]
    candles = ds.get_candles(underlying, lo, as_of, timeframe)
    iv_lo = max(as_of - timedelta(days=LOOKBACK_DAYS), cov.iv.start)
    iv = ds.get_iv_index(underlying, iv_lo, as_of)
    return MarketContext.from_row(
        market_context_batch(candles, iv, pl.Series([as_of]), bar_hours).row(0, named=True)
    )
