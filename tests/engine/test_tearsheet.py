"""The tearsheet's parts on small hand-made tables: partial months, empty runs, bucket edges."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from engine.results.breakdowns import DELTA_LABELS, DTE_LABELS, premium_yield, trade_breakdowns
from engine.results.schema import TRADES

T0 = datetime(2024, 1, 16, tzinfo=UTC)


def trades(rows: list[dict]) -> pl.DataFrame:
    """A trades table of the contract's columns: ``rows`` override a plain expired call."""
    base = {
        "open_time": T0, "close_time": T0 + timedelta(days=2), "delta_at_open": 0.25,
        "dte_at_open": 7.0, "quantity_coin": 2.0, "premium_coin": 0.01, "spot_at_open": 100.0,
        "close_reason": "expiry", "close_price_coin": 0.0, "pnl_coin": 0.02, "pnl_usd": 2.0,
    }  # fmt: skip
    schema = {c.name: c.dtype for c in TRADES if c.name in base}
    return pl.DataFrame([base | r for r in rows], schema=schema)


def test_buckets_are_closed_on_the_left_and_every_group_has_a_row():
    t = trades([
        {"delta_at_open": 0.1, "dte_at_open": 3.0},  # on the edges: the upper buckets
        {"delta_at_open": 0.0999, "dte_at_open": 30.0, "close_price_coin": 0.004,
         "pnl_coin": -0.01},
        {"close_reason": "take_profit", "pnl_coin": 0.0, "close_time": T0 + timedelta(days=400)},
    ])  # fmt: skip
    got = trade_breakdowns(t)
    delta = {r["group"]: r["trades"] for r in got["delta_at_open"]}
    assert list(delta) == DELTA_LABELS and delta == dict(
        zip(DELTA_LABELS, [1, 1, 1, 0, 0], strict=True)
    )
    dte = {r["group"]: r["trades"] for r in got["dte_at_open"]}
    assert list(dte) == DTE_LABELS and dte == dict(zip(DTE_LABELS, [0, 1, 1, 0, 1], strict=True))
    reasons = {r["group"]: r for r in got["close_reason"]}
    assert [reasons[k]["trades"] for k in reasons] == [1, 1, 1, 0]  # worthless, assigned, tp, end
    assert (
        reasons["assigned"]["win_rate_pct"] == 0.0 and reasons["take_profit"]["win_rate_pct"] == 0
    )
    assert reasons["end_of_data"]["win_rate_pct"] is None
    assert reasons["expired_worthless"]["premium_coin"] == pytest.approx(0.02)
    assert reasons["expired_worthless"]["premium_usd"] == pytest.approx(2.0)
    assert [(r["group"], r["trades"]) for r in got["year"]] == [("2024", 2), ("2025", 1)]
    assert got["year"][0]["avg_days_held"] == pytest.approx(2.0)


def test_an_empty_run_has_zero_rows_not_errors():
    got = trade_breakdowns(trades([]).clear())
    assert [r["trades"] for r in got["close_reason"]] == [0, 0, 0, 0]
    assert got["year"] == []


def test_premium_yield_annualises_over_the_days_of_each_month_in_the_run():
    t = trades([{}, {"open_time": datetime(2024, 2, 10, tzinfo=UTC), "premium_coin": 0.02}])
    rows = premium_yield(t, T0, datetime(2024, 3, 1, 12, tzinfo=UTC), quantity_coin=2.0)
    assert [(r["year"], r["month"], r["days"]) for r in rows] == [
        (2024, 1, 16.0), (2024, 2, 29.0), (2024, 3, 0.5)
    ]  # fmt: skip
    assert rows[0]["premium_coin"] == pytest.approx(0.02)
    assert rows[0]["premium_yield_annualised_pct"] == pytest.approx(0.01 * 365 / 16 * 100)
    assert rows[1]["premium_yield_annualised_pct"] == pytest.approx(0.02 * 365 / 29 * 100)
    assert rows[2]["premium_coin"] == 0.0 and rows[2]["premium_yield_annualised_pct"] == 0.0
