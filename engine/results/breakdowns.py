"""Where a run's result came from: its trades grouped, and the premium it collected per month.

Each breakdown row is ``{group, trades, win_rate_pct, premium_coin, premium_usd, pnl_coin,
pnl_usd, avg_days_held}``: premium is what the sales collected (``premium_coin × quantity_coin``;
in USD at the spot of the sale), PnL the legs' ``pnl_coin`` / ``pnl_usd``, the win rate the share
of legs with ``pnl_coin > 0``. Trades fall into a year by their close (when their PnL is
realised) and into a delta or DTE bucket by their value at the sale.
"""

from datetime import UTC, datetime

import polars as pl

from engine.enums import CloseReason
from engine.policy.actions import CLOSE_REASONS
from engine.results.schema import assigned_expr

DELTA_BREAKS = (0.1, 0.2, 0.3, 0.4)  # call delta at the sale, buckets [a, b)
DTE_BREAKS_DAYS = (3.0, 7.0, 14.0, 30.0)  # days to expiry at the sale, buckets [a, b)
CLOSE_GROUPS = {  # how a trade ended, in the order the tables show
    "expired_worthless": "expired worthless",
    "assigned": "assigned (expired in the money)",
    "take_profit": "take profit",
    "end_of_data": "open at the end of the data",
}
DAYS_PER_YEAR = 365.0
_PREMIUM_COIN = pl.col("premium_coin") * pl.col("quantity_coin")
_SUMS = ("trades", "premium_coin", "premium_usd", "pnl_coin", "pnl_usd")  # 0 for no trade


def _bucket_labels(breaks: tuple[float, ...], fmt: str) -> list[str]:
    edges = [0.0, *breaks]
    inner = [f"{fmt.format(a)}–{fmt.format(b)}" for a, b in zip(edges, breaks, strict=False)]
    return [*inner, f"≥ {fmt.format(breaks[-1])}"]


DELTA_LABELS = _bucket_labels(DELTA_BREAKS, "{:.2f}")
DTE_LABELS = [f"{label} d" for label in _bucket_labels(DTE_BREAKS_DAYS, "{:.0f}")]


def _close_group() -> pl.Expr:
    reason = pl.col("close_reason")
    return (
        pl.when(assigned_expr())
        .then(pl.lit("assigned"))
        .when(reason == CLOSE_REASONS[CloseReason.expiry].name)
        .then(pl.lit("expired_worthless"))
        .otherwise(reason)
    )


def _bucket(column: str, breaks: tuple[float, ...], labels: list[str]) -> pl.Expr:
    index = pl.sum_horizontal(*((pl.col(column) >= b).cast(pl.Int32) for b in breaks))
    return index.replace_strict(dict(enumerate(labels)), return_dtype=pl.String)


def breakdown(trades: pl.DataFrame, key: pl.Expr, groups: list[str] | None = None) -> list[dict]:
    """The trades grouped by ``key`` (a string expression), one row per group.

    With ``groups`` every one of them gets a row, in that order (0 trades where none fell in
    it, its rates and averages null); without, the groups found, sorted.
    """
    days_held = (pl.col("close_time") - pl.col("open_time")).dt.total_microseconds() / 86_400e6
    stats = trades.group_by(key.alias("group")).agg(
        trades=pl.len(),
        win_rate_pct=(pl.col("pnl_coin") > 0).mean() * 100.0,
        premium_coin=_PREMIUM_COIN.sum(),
        premium_usd=(_PREMIUM_COIN * pl.col("spot_at_open")).sum(),
        pnl_coin=pl.col("pnl_coin").sum(),
        pnl_usd=pl.col("pnl_usd").sum(),
        avg_days_held=days_held.mean(),
    )
    if groups is None:
        return stats.sort("group").to_dicts()
    frame = pl.DataFrame({"group": groups}, schema={"group": stats.schema["group"]})
    rows = frame.join(stats, on="group", how="left", maintain_order="left").to_dicts()
    return [row | {k: 0 for k in _SUMS if row[k] is None} for row in rows]


def trade_breakdowns(trades: pl.DataFrame) -> dict[str, list[dict]]:
    """Every breakdown of the tearsheet: by close reason, delta and DTE at the sale, by year."""
    year = pl.col("close_time").dt.year().cast(pl.String)
    return {
        "close_reason": breakdown(trades, _close_group(), list(CLOSE_GROUPS)),
        "delta_at_open": breakdown(
            trades, _bucket("delta_at_open", DELTA_BREAKS, DELTA_LABELS), DELTA_LABELS
        ),
        "dte_at_open": breakdown(
            trades, _bucket("dte_at_open", DTE_BREAKS_DAYS, DTE_LABELS), DTE_LABELS
        ),
        "year": breakdown(trades, year),
    }


def premium_yield(
    trades: pl.DataFrame, first: datetime, last: datetime, *, quantity_coin: float
) -> list[dict]:
    """Premium collected per calendar month (UTC, by the sale) as an annualised % of the coins.

    One row per month from ``first`` to ``last`` instant: ``premium_coin`` (Σ premium ×
    quantity of the sales that month), ``premium_usd`` (at the spot of each sale),
    ``days`` (of the month within the run), and ``premium_yield_annualised_pct`` =
    ``premium_coin / quantity_coin × 365 / days × 100``: the coins covered are the
    ``quantity_coin`` the run held.
    """
    sold = (
        trades.group_by(
            pl.col("open_time").dt.year().alias("year"),
            pl.col("open_time").dt.month().alias("month"),
        )
        .agg(
            premium_coin=_PREMIUM_COIN.sum(),
            premium_usd=(_PREMIUM_COIN * pl.col("spot_at_open")).sum(),
        )
        .rows_by_key(["year", "month"], named=True, unique=True)
    )
    rows = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        following = (year + 1, 1) if month == 12 else (year, month + 1)
        start = max(first, datetime(year, month, 1, tzinfo=UTC))
        end = min(last, datetime(*following, 1, tzinfo=UTC))
        days = (end - start).total_seconds() / 86_400.0
        got = sold.get((year, month), {"premium_coin": 0.0, "premium_usd": 0.0})
        annualised = None
        if quantity_coin > 0 and days > 0:
            annualised = got["premium_coin"] / quantity_coin * DAYS_PER_YEAR / days * 100.0
        rows.append(
            {"year": year, "month": month, **got, "days": days,
             "premium_yield_annualised_pct": annualised}
        )  # fmt: skip
        year, month = following
    return rows
