import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine import metrics as m
from tests.reference.results import drawdown_periods_ref


def test_total_return_and_drawdown_hand_computed():
    eq = np.array([100.0, 120.0, 90.0, 95.0, 130.0, 117.0])
    assert m.total_return_pct(eq) == pytest.approx(17.0)
    assert m.max_drawdown_pct(eq) == pytest.approx(25.0)  # 120 -> 90
    assert m.drawdown_series_pct(eq).tolist() == pytest.approx([0, 0, -25, -20.8333333, 0, -10])
    assert m.max_drawdown_pct(np.array([1.0, 2.0, 3.0])) == 0.0


def test_sharpe_sortino_hand_computed():
    r = np.array([0.01, -0.02, 0.03, 0.0])
    mean, sd = r.mean(), r.std(ddof=1)
    assert m.sharpe_ratio(r) == pytest.approx(mean / sd * math.sqrt(365))
    down = math.sqrt((0.02**2) / 4)
    assert m.sortino_ratio(r) == pytest.approx(mean / down * math.sqrt(365))
    assert m.sharpe_ratio(r, periods_per_year=252) == pytest.approx(mean / sd * math.sqrt(252))


@pytest.mark.parametrize("fn", [m.sharpe_ratio, m.sortino_ratio])
def test_too_little_data_is_nan(fn):
    assert math.isnan(fn(np.array([0.01])))
    assert math.isnan(fn(np.array([0.01, 0.01])))  # zero dispersion / no downside
    assert math.isnan(m.total_return_pct(np.array([])))
    assert math.isnan(m.win_rate_pct(np.array([])))
    assert math.isnan(m.average_days_in_trade(np.array([]), np.array([])))


def test_total_return_from_a_given_start():
    eq = np.array([0.98, 1.01, 1.05])  # coins: the first point has a call sold against it
    assert m.total_return_pct(eq, start=1.0) == pytest.approx(5.0)
    assert m.total_return_pct(eq) == pytest.approx((1.05 / 0.98 - 1) * 100)
    assert math.isnan(m.total_return_pct(eq, start=0.0))
    assert math.isnan(m.total_return_pct(np.array([]), start=1.0))


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_daily_returns_sample_00_utc_from_the_starting_equity():
    # 12h bars closing 12:00, 00:00, 12:00, 00:00, 12:00: midnights Jan 2 and Jan 3 are sampled,
    # the first return runs from the starting equity, the half day after Jan 3 00:00 is not used
    times = pl.Series([T0 + timedelta(hours=12 * (i + 1)) for i in range(5)])
    eq = np.array([90.0, 110.0, 99.0, 121.0, 50.0])
    assert m.daily_returns(times, eq, start_equity=100.0).tolist() == pytest.approx([0.1, 0.1])


def test_daily_returns_take_the_last_value_before_a_missing_midnight():
    # the Jan 2 00:00 bar is missing: Jan 1 18:00 stands for it
    times = pl.Series([T0 + timedelta(hours=h) for h in (6, 18, 30, 48)])
    eq = np.array([100.0, 104.0, 1000.0, 114.4])
    got = m.daily_returns(times, eq, start_equity=80.0)
    assert got.tolist() == pytest.approx([104 / 80 - 1, 114.4 / 104 - 1])


def test_daily_returns_of_daily_bars_count_the_first_day():
    times = pl.Series([T0 + timedelta(days=d) for d in (1, 2, 3)])
    eq = np.array([105.0, 84.0, 126.0])
    got = m.daily_returns(times, eq, start_equity=100.0)
    assert got.tolist() == pytest.approx([0.05, -0.2, 0.5])


def test_daily_returns_too_short_a_run():
    one_bar = pl.Series([T0 + timedelta(hours=1)])
    assert len(m.daily_returns(one_bar, np.array([99.0]), start_equity=100.0)) == 0
    assert (
        len(m.daily_returns(pl.Series([], dtype=one_bar.dtype), np.array([]), start_equity=1)) == 0
    )


def test_trade_stats():
    assert m.win_rate_pct(np.array([1.0, -1.0, 0.0, 2.0])) == 50.0
    day = 86_400 * 10**9
    assert m.average_days_in_trade(np.array([0, day]), np.array([2 * day, 2 * day])) == 1.5
    assert m.count_where(np.array([True, False, True])) == 2


def test_win_rate_per_chain_sums_the_legs_of_a_chain():
    # chain 7: a take-profit (+0.4) then a roll lost more (-0.5): one losing chain of two legs;
    # chain 3: +0.2; chain 9: one leg at exactly 0 does not win
    chain = np.array([3, 7, 7, 9])
    pnl = np.array([0.2, 0.4, -0.5, 0.0])
    assert m.win_rate_pct(pnl) == 50.0
    assert m.win_rate_per_chain_pct(chain, pnl) == pytest.approx(100 / 3)
    assert m.win_rate_per_chain_pct(np.array([1, 1]), np.array([0.4, -0.1])) == 100.0
    assert math.isnan(m.win_rate_per_chain_pct(np.array([], np.int64), np.array([])))


def _trades(chain: list[int], roll: list[int], pnl: list[float]) -> pl.DataFrame:
    n = len(pnl)
    opened = [T0 + timedelta(days=i) for i in range(n)]
    return pl.DataFrame(
        {
            "open_time": opened,
            "close_time": [t + timedelta(days=1) for t in opened],
            "quantity_coin": [2.0] * n,
            "premium_coin": [0.01] * n,
            "spot_at_open": [100.0] * n,
            "spot_at_close": [100.0] * n,
            "close_reason": ["take_profit"] * n,
            "close_price_coin": [0.0] * n,
            "fees_coin": [0.0] * n,
            "pnl_coin": pnl,
            "pnl_usd": [x * 100.0 for x in pnl],
            "strike": [110.0] * n,
            "forward_at_open": [100.0] * n,
            "chain_id": chain,
            "roll_index": roll,
        }
    )


def test_compute_metrics_measures_returns_from_what_the_run_held_at_the_start():
    # 2 coins at 100 USD; the first instant already has a call sold against them
    times = [T0 + timedelta(hours=12 * (i + 1)) for i in range(4)]
    equity = pl.DataFrame(
        {
            "time": times,
            "equity_coin": [1.98, 2.01, 2.02, 2.04],
            "equity_usd": [198.0, 201.0, 222.2, 224.4],
            "hodl_usd": [200.0, 200.0, 220.0, 220.0],
            "call_open": [True, True, False, False],
        }
    )
    trades = _trades([0, 0, 1], [0, 1, 0], [0.03, -0.05, 0.02])
    got = m.compute_metrics(trades, equity, initial_capital_usd=200.0, quantity_coin=2.0)
    assert got["total_return_pct_coin"] == pytest.approx(2.0)
    assert got["total_return_pct_usd"] == pytest.approx(12.2)
    assert got["hodl_return_pct_usd"] == pytest.approx(10.0)
    assert got["win_rate_pct"] == pytest.approx(200 / 3)
    assert got["win_rate_chain_pct"] == pytest.approx(50.0)
    # samples: start 200, Jan 2 00:00 201, Jan 3 00:00 224.4
    rets = np.array([201 / 200 - 1, 224.4 / 201 - 1])
    assert got["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * math.sqrt(365))
    assert math.isnan(got["sortino"])  # no down day
    assert got["exposure_pct"] == pytest.approx(200 / 3)  # 2 of 3 half-day intervals
    assert got["avg_moneyness_at_open_pct"] == pytest.approx(10.0)
    assert got["profit_factor_coin"] == pytest.approx(0.05 / 0.05)
    assert got["max_drawdown_days"] == 0.0  # 198 -> 224.4 never falls
    assert math.isnan(got["calmar"])  # no drawdown
    assert got["best_month_pct_usd"] == got["worst_month_pct_usd"] == pytest.approx(12.2)
    assert got["cagr_pct_usd"] == pytest.approx((224.4 / 200) ** (365 / 1.5) * 100 - 100)
    assert got["hodl_cagr_pct_usd"] == pytest.approx((1.1 ** (365 / 1.5) - 1) * 100)


def test_drawdown_periods_peak_trough_recovery_hand_computed():
    eq = np.array([100, 120, 90, 95, 120, 117, 117, 140, 100, 100, 50, 60.0])
    peak, trough, recovery = m.drawdown_periods(eq)
    assert peak.tolist() == [1, 4, 7]  # 120 (back at 120 is a recovery), 120, 140
    assert trough.tolist() == [2, 5, 10]  # first lowest instant: 117 at 5, not 6
    assert recovery.tolist() == [4, 7, -1]  # the last one never recovers
    for flat in ([1.0, 2.0, 3.0], [5.0, 5.0], [7.0], []):
        assert all(len(a) == 0 for a in m.drawdown_periods(np.array(flat)))
    day = 86_400 * 10**9
    times = np.arange(len(eq)) * day
    assert m.max_drawdown_days(times, eq) == 4.0  # 140 at day 7 to the end, day 11
    assert m.max_drawdown_days(times[:8], eq[:8]) == 3.0  # day 1 -> day 4; day 4 -> day 7
    assert m.max_drawdown_days(times[:2], eq[:2]) == 0.0
    assert math.isnan(m.max_drawdown_days(times[:0], eq[:0]))


def test_cagr_calmar_profit_factor_moneyness_exposure_hand_computed():
    assert m.cagr_pct(100.0, 121.0, 730.0) == pytest.approx(10.0)
    assert m.cagr_pct(100.0, 90.0, 365.0) == pytest.approx(-10.0)
    assert math.isnan(m.cagr_pct(100.0, 110.0, 0.5))  # under a day
    assert math.isnan(m.cagr_pct(0.0, 110.0, 30.0))
    assert m.calmar_ratio(10.0, 25.0) == pytest.approx(0.4)
    assert math.isnan(m.calmar_ratio(10.0, 0.0))
    assert m.profit_factor(np.array([3.0, -1.0, 2.0, -4.0, 0.0])) == pytest.approx(1.0)
    assert math.isnan(m.profit_factor(np.array([1.0, 2.0])))  # nothing lost
    assert math.isnan(m.profit_factor(np.array([])))
    assert m.average_moneyness_pct(
        np.array([110.0, 95.0]), np.array([100.0, 100.0])
    ) == pytest.approx(2.5)
    assert math.isnan(m.average_moneyness_pct(np.array([]), np.array([])))
    # an hour open, then a 3-hour gap closed, then an hour open: 2 of 5 hours
    hours = np.array([0, 1, 4, 5]) * 3_600 * 10**9
    assert m.exposure_pct(hours, np.array([True, False, True, True])) == pytest.approx(40.0)
    assert math.isnan(m.exposure_pct(hours[:1], np.array([True])))


def test_monthly_returns_chain_month_ends_from_the_starting_value():
    times = pl.Series(
        [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 31, 23, tzinfo=UTC),
         datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)]
    )  # fmt: skip
    got = m.monthly_returns_pct(times, np.array([90.0, 110.0, 99.0, 121.0]), start=100.0)
    assert got["year"].to_list() == [2024, 2024, 2024]
    assert got["month"].to_list() == [1, 2, 4]  # March has no instant: no row
    assert got["return_pct"].to_list() == pytest.approx([10.0, -10.0, 100 * (121 / 99 - 1)])
    assert m.best_month_pct(got["return_pct"].to_numpy()) == pytest.approx(22.2222222)
    assert m.worst_month_pct(got["return_pct"].to_numpy()) == pytest.approx(-10.0)
    assert math.isnan(m.best_month_pct(np.array([])))


@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 60),
        elements=st.sampled_from([90.0, 95.0, 100.0, 100.0, 105.0, 110.0]),  # ties are common
    )
)
@settings(max_examples=300, deadline=None)
def test_drawdown_periods_equal_their_slow_twin(equity):
    got = m.drawdown_periods(equity)
    assert [a.tolist() for a in got] == list(drawdown_periods_ref(equity))
