"""Hand-computed cases on a tiny flat market: payout, fees, settlement, bar boundaries, gaps."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.store import Store
from engine.config import CallSimulationConfig, FeeModel
from engine.simulator import CoveredCallSimulator

T0 = datetime(2022, 1, 1, tzinfo=UTC)
HOURS = 24 * 60
SPOT = 10_000.0


def _market(tmp_path, settle_overrides=None, drop_hours=()):
    """Flat 10,000 USD market with 60 % IV; ``settle_overrides`` sets chosen hourly closes."""
    times = [T0 + timedelta(hours=i) for i in range(HOURS)]
    close = np.full(HOURS, SPOT)
    for t, price in (settle_overrides or {}).items():
        close[int((t - T0) / timedelta(hours=1))] = price
    candles = pl.DataFrame(
        {"time": times, "open": close, "high": close, "low": close, "close": close,
         "volume": np.full(HOURS, 1e6)}
    ).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))  # fmt: skip
    keep = ~pl.col("time").is_in([T0 + timedelta(hours=h) for h in drop_hours])
    iv = pl.DataFrame({"time": times, "iv": np.full(HOURS, 60.0)}).with_columns(
        pl.col("time").cast(pl.Datetime("us", "UTC"))
    )
    store = Store(tmp_path)
    store.ensure_source("flat", "import", label="flat test market")
    store.write_candles("flat", "BTC", candles.filter(keep))
    store.write_iv("flat", "BTC", iv)
    return DeribitDataSource(tmp_path, "flat")


def _cfg(**kw):
    base = dict(underlying="BTC", start="2022-02-01", end="2022-02-20", timeframe="1h",
                decision_interval_hours=24, exit_style="hold_to_expiry", source="flat",
                min_score_to_trade=0.0)  # fmt: skip
    return CallSimulationConfig(**(base | kw))


def test_itm_settlement_payout_and_fees_by_hand(tmp_path):
    # the first call sold 2022-02-01 00:00 targets ~7 DTE: expiry Friday 2022-02-04 or 02-11
    probe = CoveredCallSimulator(_market(tmp_path / "probe"), _cfg()).simulate_policy()
    first = probe.trades.row(0, named=True)
    expiry = first["expiry"]
    settle = 12_500.0
    bar_open = expiry - timedelta(hours=1)  # the 07:00-08:00 bar closes at the settlement time
    ds = _market(tmp_path / "itm", settle_overrides={bar_open: settle})
    res = CoveredCallSimulator(ds, _cfg()).simulate_policy()
    t = res.trades.row(0, named=True)
    assert t["instrument_name"] == first["instrument_name"]
    assert t["close_reason"] == "expiry" and t["close_time"] == expiry
    assert t["settlement_price"] == settle
    payout = (settle - t["strike"]) / settle
    assert t["close_price_coin"] == pytest.approx(payout, rel=1e-12)
    open_fee = min(0.0003, 0.125 * t["premium_coin"])
    is_friday = expiry.weekday() == 4
    settle_fee = min(0.00015, 0.125 * payout) if is_friday else 0.0
    assert t["fees_coin"] == pytest.approx(open_fee + settle_fee, rel=1e-12)
    assert t["pnl_coin"] == pytest.approx(t["premium_coin"] - payout - open_fee - settle_fee)
    assert t["pnl_usd"] == pytest.approx(t["pnl_coin"] * settle)
    assert res.metrics["assignments"] >= 1


def test_otm_expiry_pays_nothing_and_fee_is_capped(tmp_path):
    fees = FeeModel(option_fee_rate=0.01, option_fee_cap_pct=12.5)  # cap binds
    res = CoveredCallSimulator(_market(tmp_path), _cfg(fees=fees)).simulate_policy()
    t = res.trades.row(0, named=True)
    assert t["close_reason"] == "expiry" and t["close_price_coin"] == 0.0
    assert t["fees_coin"] == pytest.approx(0.125 * t["premium_coin"], rel=1e-12)
    assert t["pnl_coin"] == pytest.approx(t["premium_coin"] * 0.875, rel=1e-12)


def test_expiry_on_a_bar_boundary_settles_before_the_same_instant_decision(tmp_path):
    cfg = _cfg(start="2022-02-01T08:00:00Z", target_dte=1, min_dte=0.5, max_dte=2)
    res = CoveredCallSimulator(_market(tmp_path), cfg).simulate_policy()
    trades = res.trades.filter(pl.col("close_reason") == "expiry")
    assert trades.height >= 3
    for row in trades.iter_rows(named=True):
        assert row["close_time"] == row["expiry"]
        assert row["expiry"].hour == 8
    opens = set(res.trades["open_time"])
    # a call settled at 08:00 is replaced by a new sale at that same 08:00 decision
    assert any(row["close_time"] in opens for row in trades.iter_rows(named=True))
    eq = res.equity.filter(pl.col("time") == trades["close_time"][0])
    assert eq["call_open"][0]  # the new call is already on the books at that instant


def test_gaps_skip_instants_and_settle_from_last_bar(tmp_path):
    probe = CoveredCallSimulator(_market(tmp_path / "p"), _cfg()).simulate_policy()
    expiry = probe.trades["expiry"][0]
    gap_hours = [int((expiry - T0) / timedelta(hours=1)) - k for k in (1, 2)]  # 06:00, 07:00 bars
    settle_bar = expiry - timedelta(hours=3)  # the 05:00 bar: last one closed before 08:00
    ds = _market(tmp_path / "g", settle_overrides={settle_bar: 11_000.0}, drop_hours=gap_hours)
    assert len(ds.coverage("BTC").candles.gaps) == 1
    res = CoveredCallSimulator(ds, _cfg()).simulate_policy()
    times = set(res.equity["time"])
    assert expiry - timedelta(hours=1) not in times and expiry not in times
    t = res.trades.row(0, named=True)
    assert t["settlement_price"] == 11_000.0
    assert t["close_time"] == expiry


@pytest.mark.parametrize("style", ["hold_to_expiry", "tp_and_roll"])
def test_run_without_any_candidate_trades_nothing_and_says_why(tmp_path, style):
    # no listed expiry is ever within 0.003 days: every decision finds no candidate
    cfg = _cfg(min_dte=0.0, max_dte=0.003, target_dte=0.002, exit_style=style)
    res = CoveredCallSimulator(_market(tmp_path), cfg).simulate_policy()
    assert res.trades.height == 0 and res.metrics["num_trades"] == 0
    assert set(res.steps["action"]) == {"no_candidate"}
    assert res.steps["best_instrument"].null_count() == res.steps.height
    assert res.equity["equity_coin"].to_list() == [1.0] * res.equity.height
