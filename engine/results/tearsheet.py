"""A run's tearsheet as data, computed from its stored outputs (``runs/<run_id>/``).

When it made and lost money (monthly and yearly returns, strategy and HODL, USD and coin), how
deep and long the drawdowns were (the worst five and the underwater curve), whether risk changed
(rolling 90-day Sharpe and volatility), how daily returns spread (a histogram against HODL), which
trades carried the result (:mod:`engine.results.breakdowns`), the premium yield per month, the
metrics, and what the run modelled and what it read from recorded data (``summary.json``
``data``). Every number carries its unit in its name; times are UTC (ISO 8601 or epoch seconds
``time_s``). The dashboard's panels and the one-file HTML report both draw this payload.
"""

from pathlib import Path

import numpy as np
import polars as pl

from cache.timeutil import NS_PER_DAY
from engine import metrics
from engine.results import history
from engine.results.breakdowns import premium_yield, trade_breakdowns
from engine.results.curves import downsample_indices, equity_curve, json_floats
from engine.results.labels import METRIC_LABELS

ROLLING_DAYS = 90
HISTOGRAM_BINS = 40
WORST_DRAWDOWNS = 5


def _iso(time) -> str:
    return time.isoformat()


def metric_row(key: str, value: float | int | None) -> dict:
    """A metric with its label and its value as text (formatted as its label says)."""
    label, form = METRIC_LABELS.get(key, (key, "{}"))
    return {
        "key": key,
        "label": label,
        "value": value,
        "text": "n/a" if value is None else form.format(value),
    }


def monthly_returns(
    equity: pl.DataFrame, *, initial_capital_usd: float, quantity_coin: float
) -> dict[str, list[dict]]:
    """Month and year returns: ``months`` and ``years`` rows, strategy and HODL, USD and coin.

    ``months``: ``{year, month, strategy_usd_pct, hodl_usd_pct, strategy_coin_pct}``;
    ``years``: the same without ``month``. See :func:`engine.metrics.monthly_returns_pct`.
    """
    times = equity.get_column("time")
    starts = {
        "strategy_usd_pct": ("equity_usd", initial_capital_usd),
        "hodl_usd_pct": ("hodl_usd", initial_capital_usd),
        "strategy_coin_pct": ("equity_coin", quantity_coin),
    }
    out = {}
    for table, returns, keys in (
        ("months", metrics.monthly_returns_pct, ["year", "month"]),
        ("years", metrics.yearly_returns_pct, ["year"]),
    ):
        frame = None
        for name, (column, start) in starts.items():
            part = returns(times, equity.get_column(column).to_numpy(), start=start)
            part = part.rename({"return_pct": name})
            frame = part if frame is None else frame.join(part, on=keys, maintain_order="left")
        out[table] = frame.to_dicts()
    return out


def worst_drawdowns(equity: pl.DataFrame, most: int = WORST_DRAWDOWNS) -> list[dict]:
    """The ``most`` deepest drawdowns of USD equity, deepest first.

    Each: ``peak_time``, ``trough_time``, ``recovery_time`` (null: not recovered by the end),
    ``depth_pct`` (trough below peak, positive), ``length_days`` (peak to recovery, or to the
    last instant), ``peak_equity_usd``, ``trough_equity_usd``. See
    :func:`engine.metrics.drawdown_periods`.
    """
    values = equity.get_column("equity_usd").to_numpy()
    times = equity.get_column("time")
    times_ns = times.dt.epoch("ns").to_numpy()
    peak, trough, recovery = metrics.drawdown_periods(values)
    depth = (1.0 - values[trough] / values[peak]) * 100.0
    end = np.where(recovery >= 0, recovery, len(values) - 1)
    rows = []
    for i in np.argsort(-depth, kind="stable")[:most]:
        rows.append(
            {
                "peak_time": _iso(times[int(peak[i])]),
                "trough_time": _iso(times[int(trough[i])]),
                "recovery_time": _iso(times[int(recovery[i])]) if recovery[i] >= 0 else None,
                "depth_pct": float(depth[i]),
                "length_days": float((times_ns[end[i]] - times_ns[peak[i]]) / NS_PER_DAY),
                "peak_equity_usd": float(values[peak[i]]),
                "trough_equity_usd": float(values[trough[i]]),
            }
        )
    return rows


def _daily(equity: pl.DataFrame, column: str, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Days' end (UTC epoch seconds) and daily returns of one curve (first from ``start``)."""
    if equity.height == 0:
        return np.empty(0), np.empty(0)
    days, samples = metrics.daily_samples(equity.get_column("time"), equity[column].to_numpy())
    levels = np.concatenate(([start], samples))
    return days.dt.epoch("ms").to_numpy() / 1000.0, levels[1:] / levels[:-1] - 1.0


def rolling_risk(equity: pl.DataFrame, *, initial_capital_usd: float, points: int) -> dict:
    """Rolling 90-day Sharpe and annualised volatility (365 d), strategy and HODL, thinned.

    On daily USD returns sampled at 00:00 UTC (as the Sharpe metric); a value is null until 90
    returns lie behind it. Thinned like the equity curve (extremes kept) to at most ``points``.
    """
    time_s, strategy = _daily(equity, "equity_usd", initial_capital_usd)
    _, hodl = _daily(equity, "hodl_usd", initial_capital_usd)
    window = {"window": ROLLING_DAYS}
    series = {
        "strategy_sharpe": metrics.rolling_sharpe_ratio(strategy, **window),
        "hodl_sharpe": metrics.rolling_sharpe_ratio(hodl, **window),
        "strategy_vol_pct": metrics.rolling_volatility_pct(strategy, **window),
        "hodl_vol_pct": metrics.rolling_volatility_pct(hodl, **window),
    }
    keep = downsample_indices(list(series.values()), points) if len(time_s) else np.arange(0)
    return {
        "window_days": ROLLING_DAYS,
        "rows": len(time_s),
        "points": len(keep),
        "time_s": time_s[keep].tolist(),
        **{name: json_floats(values[keep]) for name, values in series.items()},
    }


def return_histogram(equity: pl.DataFrame, *, initial_capital_usd: float) -> dict:
    """Daily USD returns of the strategy and HODL counted in shared bins (percent edges)."""
    _, strategy = _daily(equity, "equity_usd", initial_capital_usd)
    _, hodl = _daily(equity, "hodl_usd", initial_capital_usd)
    both = np.concatenate((strategy, hodl)) * 100.0
    edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS) if len(both) else np.empty(0)

    def count(returns: np.ndarray) -> list[int]:
        return np.histogram(returns * 100.0, bins=edges)[0].tolist() if len(edges) else []

    return {
        "days": len(strategy),
        "bin_edges_pct": edges.tolist(),
        "strategy_days": count(strategy),
        "hodl_days": count(hodl),
    }


def compute_tearsheet(
    summary: dict, equity: pl.DataFrame, trades: pl.DataFrame, *, points: int
) -> dict:
    """The tearsheet of a run from its summary (as ``summary.json``), equity and trades tables.

    ``points`` caps the instants of each thinned series (the equity curve, rolling risk).
    """
    equity = equity.filter(pl.col("equity_usd").is_finite())
    capital = summary["metrics"]["initial_capital_usd"]
    quantity = summary["quantity_coin"]
    curve = equity_curve(equity, trades, points)
    curve.pop("markers")
    times = equity.get_column("time")
    return {
        "run_id": summary["run_id"],
        "finished_at": summary["finished_at"],
        "config": summary["config"],
        "quantity_coin": quantity,
        "data": summary["data"],
        "metrics": [metric_row(key, value) for key, value in summary["metrics"].items()],
        "equity_curve": curve,
        "returns": monthly_returns(equity, initial_capital_usd=capital, quantity_coin=quantity),
        "drawdowns": worst_drawdowns(equity),
        "rolling": rolling_risk(equity, initial_capital_usd=capital, points=points),
        "daily_returns": return_histogram(equity, initial_capital_usd=capital),
        "breakdowns": trade_breakdowns(trades),
        "premium_yield": premium_yield(trades, times[0], times[-1], quantity_coin=quantity)
        if len(times)
        else [],
    }


def read_tearsheet(data_dir: Path, run_id: str, *, points: int) -> dict:
    """The tearsheet of a stored run (RunNotFoundError / RunUnreadableError as the history)."""
    summary = history.read_summary(data_dir, run_id)
    equity = history.read_table(data_dir, run_id, "equity")
    trades = history.read_table(data_dir, run_id, "trades")
    return compute_tearsheet(summary, equity, trades, points=points)
