"""Backtest metrics: one function per metric, keyword-only options, NaN when data is too thin.

Returns start from what the run held before it sold anything: USD returns from the initial
capital, coin returns from the coins held at the start (the run's quantity), not from the first
equity point, which already has a call sold against it.

Sharpe and Sortino use daily returns of USD equity sampled at 00:00 UTC (the instant at 00:00; on
a day that lacks it, the last instant before), the first one measured from the initial capital so
the run's first day counts; they are annualised with 365 periods whatever the bar length. A last
day that ends before 00:00 is not sampled.

Win rate is given per leg (each covered call) and per chain (a sale and its rolls, summed): a roll
always follows a take-profit, which is a winning leg, so the per-leg rate flatters a rolled chain.

A month's return is its last equity over the previous month's last equity, minus 1 (the first
month's from the starting equity); a year's from the same month-end values. A drawdown runs from
a peak of the curve to the first instant back at that peak (its recovery), or to the last instant
when it never gets back; CAGR and durations count calendar days of 365 to the year.
"""

import math

import numpy as np
import polars as pl

from cache.timeutil import NS_PER_DAY
from engine.results.schema import assigned_expr, take_profit_expr

PERIODS_PER_YEAR = 365
DAYS_PER_YEAR = 365.0
MIN_RETURNS = 2  # fewer daily returns than this cannot support a ratio


def total_return_pct(equity: np.ndarray, *, start: float | None = None) -> float:
    """Percent change from ``start`` (default: the first equity value) to the last value."""
    if len(equity) < 1:
        return math.nan
    base = float(equity[0]) if start is None else start
    if not base > 0:
        return math.nan
    return float((equity[-1] / base - 1.0) * 100.0)


def max_drawdown_pct(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall, in percent of the peak (a positive number; 0 if none)."""
    if len(equity) < 1:
        return math.nan
    peaks = np.maximum.accumulate(equity)
    return float(np.max((peaks - equity) / peaks) * 100.0)


def drawdown_series_pct(equity: np.ndarray) -> np.ndarray:
    """Underwater curve: percent below the running peak at each point (≤ 0)."""
    if len(equity) == 0:
        return np.empty(0)
    peaks = np.maximum.accumulate(equity)
    return (equity / peaks - 1.0) * 100.0


def drawdown_periods(equity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every drawdown of a curve: indices of its peak, its trough and its recovery.

    A drawdown starts at the last instant at a running peak before the curve falls below it and
    ends at the first instant back at (or above) that peak; its recovery index is ``-1`` when
    the curve never gets back. The trough is the first lowest instant in between. In time order.
    """
    equity = np.asarray(equity, dtype=np.float64)
    under = equity < np.maximum.accumulate(equity)
    edges = np.diff(under.astype(np.int8), prepend=0, append=0)
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs [first, stop)
    if len(first) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    inside = np.flatnonzero(under)  # the runs, one after another
    offsets = np.concatenate(([0], np.cumsum(stop - first)[:-1]))
    lows = np.minimum.reduceat(equity[inside], offsets)
    segment = np.repeat(np.arange(len(first)), stop - first)
    hit = np.flatnonzero(equity[inside] == lows[segment])
    trough = inside[hit[np.diff(segment[hit], prepend=-1) != 0]]  # the first low of each run
    recovery = np.where(stop < len(equity), stop, -1)
    return first - 1, trough.astype(np.int64), recovery.astype(np.int64)


def max_drawdown_days(times_ns: np.ndarray, equity: np.ndarray) -> float:
    """Longest drawdown in days: from a peak to its recovery, or to the last instant if none.

    0 when the curve never falls below a peak; NaN without data.
    """
    if len(equity) == 0:
        return math.nan
    peak, _, recovery = drawdown_periods(equity)
    if len(peak) == 0:
        return 0.0
    end = np.where(recovery >= 0, recovery, len(equity) - 1)
    return float(np.max(times_ns[end] - times_ns[peak]) / NS_PER_DAY)


def cagr_pct(start: float, end: float, days: float) -> float:
    """Compound annual growth rate from ``start`` to ``end`` over ``days`` (365-day years), in %.

    NaN when the span is under a day (a rate extrapolated from hours means nothing) or a value
    is not positive.
    """
    if not (days >= 1 and start > 0 and end > 0):
        return math.nan
    return float(((end / start) ** (DAYS_PER_YEAR / days) - 1.0) * 100.0)


def calmar_ratio(cagr: float, max_drawdown: float) -> float:
    """CAGR over the maximum drawdown, both in percent; NaN without a drawdown."""
    if not (max_drawdown > 0 and math.isfinite(cagr)):
        return math.nan
    return float(cagr / max_drawdown)


def profit_factor(pnl: np.ndarray) -> float:
    """Gross profit over gross loss of closed trades; NaN when no trade lost (or none closed)."""
    loss = -float(np.sum(pnl[pnl < 0]))
    if not loss > 0:
        return math.nan
    return float(np.sum(pnl[pnl > 0])) / loss


def _calendar_returns_pct(
    times: pl.Series, values: np.ndarray, start: float, keys: tuple[str, ...]
) -> pl.DataFrame:
    parts = {"year": pl.col("time").dt.year(), "month": pl.col("time").dt.month()}
    ends = (
        pl.DataFrame({"time": times, "value": values}, schema_overrides={"value": pl.Float64})
        .sort("time")
        .group_by(*(parts[k].alias(k) for k in keys))
        .agg(pl.col("value").last())
        .sort(*keys)
    )
    prev = pl.concat([pl.Series([float(start)]), ends.get_column("value")])[:-1]
    return ends.select(*keys, return_pct=(pl.col("value") / prev - 1.0) * 100.0)


def monthly_returns_pct(times: pl.Series, values: np.ndarray, *, start: float) -> pl.DataFrame:
    """Each calendar month's return (UTC) in percent: columns ``year``, ``month``, ``return_pct``.

    A month's return is its last value over the previous month's last value, minus 1; the first
    month's is measured from ``start`` (what the run held before its first instant). A month
    without an instant has no row.
    """
    return _calendar_returns_pct(times, values, start, ("year", "month"))


def yearly_returns_pct(times: pl.Series, values: np.ndarray, *, start: float) -> pl.DataFrame:
    """Each calendar year's return (UTC) in percent from the same month-end values.

    Columns ``year``, ``return_pct``: the year's last value over the previous year's last value
    (the first year's over ``start``), minus 1.
    """
    return _calendar_returns_pct(times, values, start, ("year",))


def rolling_sharpe_ratio(
    returns: np.ndarray, *, window: int, periods_per_year: int = PERIODS_PER_YEAR
) -> np.ndarray:
    """:func:`sharpe_ratio` of every ``window`` consecutive returns, ending at each return.

    NaN where fewer than ``window`` returns lie behind (the first ``window - 1``) and where a
    window has no dispersion.
    """
    out = np.full(len(returns), np.nan)
    if window < MIN_RETURNS or len(returns) < window:
        return out
    views = np.lib.stride_tricks.sliding_window_view(returns, window)
    sd = views.std(axis=1, ddof=1)
    ok = sd > 0
    out[window - 1 :][ok] = views.mean(axis=1)[ok] / sd[ok] * math.sqrt(periods_per_year)
    return out


def rolling_volatility_pct(
    returns: np.ndarray, *, window: int, periods_per_year: int = PERIODS_PER_YEAR
) -> np.ndarray:
    """Annualised volatility (sample standard deviation × √periods) of every ``window`` returns.

    In percent, ending at each return; NaN where fewer than ``window`` returns lie behind.
    """
    out = np.full(len(returns), np.nan)
    if window < MIN_RETURNS or len(returns) < window:
        return out
    views = np.lib.stride_tricks.sliding_window_view(returns, window)
    out[window - 1 :] = views.std(axis=1, ddof=1) * math.sqrt(periods_per_year) * 100.0
    return out


def best_month_pct(monthly_pct: np.ndarray) -> float:
    """The best monthly return, in percent; NaN without a month."""
    return float(np.max(monthly_pct)) if len(monthly_pct) else math.nan


def worst_month_pct(monthly_pct: np.ndarray) -> float:
    """The worst monthly return, in percent; NaN without a month."""
    return float(np.min(monthly_pct)) if len(monthly_pct) else math.nan


def exposure_pct(times_ns: np.ndarray, call_open: np.ndarray) -> float:
    """Share of the run's time with a call open, in percent.

    ``call_open[i]`` says whether a call is open after instant ``i``, so it holds until the next
    instant; each interval counts with its length (a gap in the data counts as what it was
    before). NaN with fewer than two instants.
    """
    if len(times_ns) < 2:
        return math.nan
    span = np.diff(times_ns).astype(np.float64)
    return float(np.sum(span[call_open[:-1]]) / np.sum(span) * 100.0)


def average_moneyness_pct(strike: np.ndarray, forward: np.ndarray) -> float:
    """Mean of ``strike / forward − 1`` at the sale, in percent (how far out of the money)."""
    if len(strike) == 0:
        return math.nan
    return float(np.mean(strike / forward - 1.0) * 100.0)


def sharpe_ratio(returns: np.ndarray, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Annualised Sharpe ratio of periodic returns (risk-free rate 0)."""
    if len(returns) < MIN_RETURNS:
        return math.nan
    sd = np.std(returns, ddof=1)
    if sd == 0 or not np.isfinite(sd):
        return math.nan
    return float(np.mean(returns) / sd * math.sqrt(periods_per_year))


def sortino_ratio(returns: np.ndarray, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Annualised Sortino ratio: mean return over downside deviation (target 0)."""
    if len(returns) < MIN_RETURNS:
        return math.nan
    downside = np.minimum(returns, 0.0)
    dd = math.sqrt(float(np.mean(downside**2)))
    if dd == 0:
        return math.nan
    return float(np.mean(returns) / dd * math.sqrt(periods_per_year))


def daily_samples(times: pl.Series, equity: np.ndarray) -> tuple[pl.Series, np.ndarray]:
    """Equity at every 00:00 UTC from the first to the last instant, and those midnights.

    A day's sample is the equity at 00:00 UTC, or at the last instant before it when that instant
    is missing; a last day that ends before its 00:00 is not sampled.
    """
    curve = pl.DataFrame({"time": times, "equity": equity}).sort("time")
    first, last = curve.get_column("time")[0], curve.get_column("time")[-1]
    midnights = pl.datetime_range(
        first.replace(hour=0, minute=0, second=0, microsecond=0),
        last,
        "1d",
        eager=True,
        time_zone="UTC",
    ).alias("time")
    sampled = (
        pl.DataFrame({"time": midnights.filter(midnights >= first)})
        .cast({"time": curve.schema["time"]})
        .join_asof(curve, on="time", strategy="backward")
    )
    return sampled.get_column("time"), sampled.get_column("equity").to_numpy()


def daily_returns(times: pl.Series, equity: np.ndarray, *, start_equity: float) -> np.ndarray:
    """Simple returns of equity sampled at every 00:00 UTC from the first to the last instant.

    The samples are :func:`daily_samples`'. The first return is measured from ``start_equity``
    (what the run held before its first instant), so the first day counts; the part of a last
    day before its 00:00 does not.
    """
    return daily_return_series(times, equity, start_equity=start_equity)[1]


def daily_return_series(
    times: pl.Series, equity: np.ndarray, *, start_equity: float
) -> tuple[pl.Series, np.ndarray]:
    """:func:`daily_returns` with the 00:00 UTC instant each return ends at."""
    if len(equity) == 0:
        return pl.Series("time", [], dtype=times.dtype), np.empty(0)
    sample_times, samples = daily_samples(times, equity)
    levels = np.concatenate(([start_equity], samples))
    prev = levels[:-1]
    returns = np.divide(levels[1:] - prev, prev, out=np.full(len(prev), np.nan), where=prev > 0)
    return sample_times, returns


def equity_daily_returns(
    equity: pl.DataFrame, *, initial_capital_usd: float
) -> tuple[pl.Series, np.ndarray]:
    """Daily returns of a run's USD equity (its ``equity`` table), as Sharpe and Sortino read
    them: the finite equity points, the first return from ``initial_capital_usd``; with the
    00:00 UTC instant each return ends at."""
    eq_usd = equity.get_column("equity_usd").to_numpy()
    valid = np.isfinite(eq_usd)
    times = equity.get_column("time").filter(pl.Series(valid))
    return daily_return_series(times, eq_usd[valid], start_equity=initial_capital_usd)


def win_rate_pct(pnl: np.ndarray) -> float:
    """Share of closed trades (legs) with positive PnL, in percent."""
    if len(pnl) == 0:
        return math.nan
    return float(np.mean(pnl > 0) * 100.0)


def win_rate_per_chain_pct(chain_id: np.ndarray, pnl: np.ndarray) -> float:
    """Share of chains (a sale and its rolls) whose legs' PnL sums to more than 0, in percent."""
    if len(pnl) == 0:
        return math.nan
    _, chain = np.unique(chain_id, return_inverse=True)
    return float(np.mean(np.bincount(chain, weights=pnl) > 0) * 100.0)


def average_days_in_trade(open_ns: np.ndarray, close_ns: np.ndarray) -> float:
    """Mean holding time of closed trades in days."""
    if len(open_ns) == 0:
        return math.nan
    return float(np.mean((close_ns - open_ns) / NS_PER_DAY))


def count_where(mask: np.ndarray) -> int:
    """Number of true entries (trades closed a given way)."""
    return int(np.count_nonzero(mask))


def compute_metrics(
    trades: pl.DataFrame,
    equity: pl.DataFrame,
    *,
    initial_capital_usd: float,
    quantity_coin: float,
) -> dict[str, float | int]:
    """Every headline metric of a run from its ``trades`` and ``equity`` tables.

    ``initial_capital_usd`` and ``quantity_coin`` are what the run held before its first
    instant (the coins, and their worth at the first spot): returns are measured from them.
    Units are in the names: ``_usd`` USD, ``_coin`` coin, ``_pct`` percent. Returns and ratios
    use USD equity unless the name says coin.
    """
    eq_usd = equity.get_column("equity_usd").to_numpy()
    eq_coin = equity.get_column("equity_coin").to_numpy()
    hodl_usd = equity.get_column("hodl_usd").to_numpy()
    valid = np.isfinite(eq_usd)
    eq_usd, eq_coin, hodl_usd = eq_usd[valid], eq_coin[valid], hodl_usd[valid]
    times = equity.get_column("time").filter(pl.Series(valid))
    rets = daily_returns(times, eq_usd, start_equity=initial_capital_usd)
    qty_premium = trades.get_column("premium_coin") * trades.get_column("quantity_coin")
    pnl_coin = trades.get_column("pnl_coin").to_numpy()
    last_usd = float(eq_usd[-1]) if len(eq_usd) else math.nan
    times_ns = times.dt.epoch("ns").to_numpy()
    days = (times_ns[-1] - times_ns[0]) / NS_PER_DAY if len(times_ns) else math.nan
    cagr_usd = cagr_pct(initial_capital_usd, last_usd, days)
    months_usd = monthly_returns_pct(times, eq_usd, start=initial_capital_usd)["return_pct"]
    months_coin = monthly_returns_pct(times, eq_coin, start=quantity_coin)["return_pct"]
    pnl_usd = trades.get_column("pnl_usd").to_numpy()
    call_open = equity.get_column("call_open").filter(pl.Series(valid)).to_numpy()
    return {
        "num_trades": trades.height,
        "initial_capital_usd": initial_capital_usd,
        "final_equity_usd": last_usd,
        "final_equity_coin": float(eq_coin[-1]) if len(eq_coin) else math.nan,
        "final_pnl": last_usd - initial_capital_usd,
        "final_pnl_vs_hodl": last_usd - float(hodl_usd[-1]) if len(hodl_usd) else math.nan,
        "total_return_pct_usd": total_return_pct(eq_usd, start=initial_capital_usd),
        "total_return_pct_coin": total_return_pct(eq_coin, start=quantity_coin),
        "hodl_return_pct_usd": total_return_pct(hodl_usd, start=initial_capital_usd),
        "max_drawdown_pct": max_drawdown_pct(eq_usd),
        "hodl_max_drawdown_pct": max_drawdown_pct(hodl_usd),
        "sharpe": sharpe_ratio(rets),
        "sortino": sortino_ratio(rets),
        "cagr_pct_usd": cagr_usd,
        "cagr_pct_coin": cagr_pct(quantity_coin, float(eq_coin[-1]) if len(eq_coin) else 0, days),
        "hodl_cagr_pct_usd": cagr_pct(
            initial_capital_usd, float(hodl_usd[-1]) if len(hodl_usd) else 0, days
        ),
        "calmar": calmar_ratio(cagr_usd, max_drawdown_pct(eq_usd)),
        "max_drawdown_days": max_drawdown_days(times_ns, eq_usd),
        "best_month_pct_usd": best_month_pct(months_usd.to_numpy()),
        "worst_month_pct_usd": worst_month_pct(months_usd.to_numpy()),
        "best_month_pct_coin": best_month_pct(months_coin.to_numpy()),
        "worst_month_pct_coin": worst_month_pct(months_coin.to_numpy()),
        "exposure_pct": exposure_pct(times_ns, call_open),
        "premium_collected_coin": float(qty_premium.sum()),
        "premium_collected_usd": float((qty_premium * trades.get_column("spot_at_open")).sum()),
        "assignments": count_where(trades.select(assigned_expr()).to_series().to_numpy()),
        "win_rate_pct": win_rate_pct(pnl_coin),
        "win_rate_chain_pct": win_rate_per_chain_pct(
            trades.get_column("chain_id").to_numpy(), pnl_coin
        ),
        "profit_factor_coin": profit_factor(pnl_coin),
        "profit_factor_usd": profit_factor(pnl_usd),
        "avg_moneyness_at_open_pct": average_moneyness_pct(
            trades.get_column("strike").to_numpy(), trades.get_column("forward_at_open").to_numpy()
        ),
        "take_profits": count_where(trades.select(take_profit_expr()).to_series().to_numpy()),
        "rolls": count_where(trades.get_column("roll_index").to_numpy() > 0),
        "avg_days_in_trade": average_days_in_trade(
            trades.get_column("open_time").dt.epoch("ns").to_numpy(),
            trades.get_column("close_time").dt.epoch("ns").to_numpy(),
        ),
        "fees_paid_coin": float(trades.get_column("fees_coin").sum()),
        "fees_paid_usd": float(
            (trades.get_column("fees_coin") * trades.get_column("spot_at_close")).sum()
        ),
    }
