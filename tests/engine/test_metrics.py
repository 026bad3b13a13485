import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from engine import metrics as m


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


def test_daily_returns_sample_last_bar_of_each_day():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    times = pl.Series([t0 + timedelta(hours=12 * i) for i in range(6)])
    eq = np.array([100.0, 110.0, 99.0, 121.0, 50.0, 133.1])
    assert m.daily_returns(times, eq).tolist() == pytest.approx([0.1, 0.1])


def test_trade_stats():
    assert m.win_rate_pct(np.array([1.0, -1.0, 0.0, 2.0])) == 50.0
    day = 86_400 * 10**9
    assert m.average_days_in_trade(np.array([0, day]), np.array([2 * day, 2 * day])) == 1.5
    assert m.count_where(np.array([True, False, True])) == 2
