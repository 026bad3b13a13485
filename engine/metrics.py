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
"""

import math

import numpy as np
import polars as pl

from cache.timeutil import NS_PER_DAY
from engine.results.schema import assigned_expr, take_profit_expr

PERIODS_PER_YEAR = 365
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


def daily_returns(times: pl.Series, equity: np.ndarray, *, start_equity: float) -> np.ndarray:
    """Simple returns of equity sampled at every 00:00 UTC from the first to the last instant.

    A day's sample is the equity at 00:00 UTC, or at the last instant before it when that instant
    is missing. The first return is measured from ``start_equity`` (what the run held before its
    first instant), so the first day counts; the part of a last day before its 00:00 does not.
    """
    return daily_return_series(times, equity, start_equity=start_equity)[1]


def daily_return_series(
    times: pl.Series, equity: np.ndarray, *, start_equity: float
) -> tuple[pl.Series, np.ndarray]:
    """:func:`daily_returns` with the 00:00 UTC instant each return ends at."""
    if len(equity) == 0:
        return pl.Series("time", [], dtype=times.dtype), np.empty(0)
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
    levels = np.concatenate(([start_equity], sampled.get_column("equity").to_numpy()))
    prev = levels[:-1]
    returns = np.divide(levels[1:] - prev, prev, out=np.full(len(prev), np.nan), where=prev > 0)
    return sampled.get_column("time"), returns


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
    rets = equity_daily_returns(equity, initial_capital_usd=initial_capital_usd)[1]
    qty_premium = trades.get_column("premium_coin") * trades.get_column("quantity_coin")
    pnl_coin = trades.get_column("pnl_coin").to_numpy()
    last_usd = float(eq_usd[-1]) if len(eq_usd) else math.nan
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
        "premium_collected_coin": float(qty_premium.sum()),
        "premium_collected_usd": float((qty_premium * trades.get_column("spot_at_open")).sum()),
        "assignments": count_where(trades.select(assigned_expr()).to_series().to_numpy()),
        "win_rate_pct": win_rate_pct(pnl_coin),
        "win_rate_chain_pct": win_rate_per_chain_pct(
            trades.get_column("chain_id").to_numpy(), pnl_coin
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
