"""Chart curves: thinning keeps first/last and extremes within N points; markers match trades."""

import re
import shutil
import time
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.config import CallSimulationConfig
from engine.metrics import drawdown_series_pct
from engine.results.curves import (
    EXTREME_CURVES,
    SERIES,
    bucket_edges,
    bucket_extremes,
    downsample_indices,
    equity_curve,
    trade_markers,
)
from engine.results.runs import execute_run
from tests.reference.results import bucket_extremes_ref

floats = st.floats(-1e6, 1e6) | st.just(np.nan)  # a few repeats so ties get exercised
floats = floats | st.sampled_from([0.0, 1.0, -1.0])
arrays = st.integers(3, 400).flatmap(lambda n: hnp.arrays(np.float64, n, elements=floats))


@given(values=arrays, buckets=st.integers(1, 400))
@settings(max_examples=200)
def test_bucket_extremes_equals_reference(values, buckets):
    edges = bucket_edges(len(values), min(buckets, len(values) - 2))
    assert np.all(np.diff(edges) >= 1) and edges[0] == 1 and edges[-1] == len(values) - 1
    expected = bucket_extremes_ref(values, edges)
    np.testing.assert_array_equal(bucket_extremes(values, edges), expected)


@given(
    curves=st.integers(1, 3).flatmap(
        lambda k: st.integers(0, 3000).flatmap(
            lambda n: st.lists(hnp.arrays(np.float64, n, elements=floats), min_size=k, max_size=k)
        )
    ),
    points=st.integers(8, 600),
)
@settings(max_examples=150)
def test_downsample_keeps_ends_and_extremes_within_points(curves, points):
    n = len(curves[0])
    keep = downsample_indices(curves, points)
    assert len(keep) <= max(points, 0) and len(keep) == len(np.unique(keep))
    assert np.all(np.diff(keep) > 0)  # sorted: time stays monotonic
    if n == 0:
        return
    assert keep[0] == 0 and keep[-1] == n - 1
    if n <= points:
        np.testing.assert_array_equal(keep, np.arange(n))
    for c in curves:
        if np.isfinite(c).any():
            assert np.nanmin(c[keep]) == np.nanmin(c) and np.nanmax(c[keep]) == np.nanmax(c)


def test_downsample_uses_most_of_the_budget_on_a_long_curve():
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(size=35_065)) + 1e4  # 4 years of hourly bars
    keep = downsample_indices([walk, walk * 2, -walk], 2_000)
    assert 1_500 < len(keep) <= 2_000  # correlated curves share their extremes


@pytest.mark.parametrize(
    ("curves", "points", "words"),
    [
        ([], 100, "at least one"),
        ([np.zeros(5), np.zeros(6)], 100, "same length"),
        ([np.zeros(5)] * 3, 7, "at least 2 + 2 × 3"),
    ],
)
def test_downsample_rejects_bad_input(curves, points, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        downsample_indices(curves, points)


def test_bucket_edges_rejects_more_buckets_than_instants():
    with pytest.raises(ValueError, match="buckets must be between 1 and n - 2 = 3"):
        bucket_edges(5, 4)


@pytest.fixture(scope="module")
def run(synthetic_data_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("curves") / "data"
    shutil.copytree(synthetic_data_dir, data_dir)
    cfg = CallSimulationConfig(
        underlying="BTC", start="2022-01-01", end="2023-01-01", exit_style="tp_and_roll"
    )
    result, _ = execute_run(data_dir, cfg)
    return result


def test_equity_curve_thins_a_year_and_keeps_the_worst_drawdown(run):
    full = run.equity
    t0 = time.perf_counter()
    curve = equity_curve(full, run.trades, 400)
    elapsed = time.perf_counter() - t0
    assert curve["rows"] == full.height == 8761 and curve["points"] <= 400
    assert len(curve["time_s"]) == curve["points"] and np.all(np.diff(curve["time_s"]) > 0)
    assert all(len(curve[name]) == curve["points"] for name in SERIES)
    times = full["time"].dt.epoch("ms").to_numpy() / 1000
    assert curve["time_s"][0] == times[0] and curve["time_s"][-1] == times[-1]
    drawdown = drawdown_series_pct(full["equity_usd"].to_numpy())
    assert min(curve["drawdown_pct"]) == pytest.approx(drawdown.min(), abs=0)
    assert max(curve["spot_usd"]) == full["spot"].max()
    assert curve["equity_usd"][-1] == full["equity_usd"][-1]
    assert set(EXTREME_CURVES) <= set(SERIES)
    assert elapsed < 0.5, elapsed


def test_markers_are_sales_take_profits_and_assignments(run):
    trades = run.trades
    markers = trade_markers(trades)
    counts = dict(markers.group_by("kind").len().iter_rows())
    itm = (pl.col("close_reason") == "expiry") & (pl.col("close_price_coin") > 0)
    assigned = trades.filter(itm)
    assert counts["sell"] == trades.height
    assert counts.get("take_profit", 0) == (trades["close_reason"] == "take_profit").sum() > 0
    assert counts.get("assigned", 0) == assigned.height
    assert markers["time"].is_sorted()
    first = trades.row(0, named=True)
    assert markers.row(0, named=True) == {
        "time": first["open_time"],
        "kind": "sell",
        "price_usd": first["spot_at_open"],
        "instrument_name": first["instrument_name"],
        "strike": first["strike"],
    }


def test_until_cuts_curves_and_markers_where_the_page_has_walked(run):
    until = datetime(2022, 4, 1, tzinfo=UTC)
    curve = equity_curve(run.equity, run.trades, 2_000, until=until)
    assert curve["rows"] == run.equity.filter(pl.col("time") <= until).height
    assert curve["time_s"][-1] == until.timestamp()
    assert curve["markers"] and all(m["time"] <= until for m in curve["markers"])
    sold = run.trades.filter(pl.col("open_time") <= until).height
    assert sum(m["kind"] == "sell" for m in curve["markers"]) == sold
