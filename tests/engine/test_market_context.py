import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.store import Store
from engine.market_context import (
    CONTEXT_FIELDS,
    compute_market_context_from_ds,
    market_context_batch,
)
from tests.cache.helpers import T0, make_candles, make_iv

DAYS = 420


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("mc")
    store = Store(root)
    store.ensure_source("demo", "import", label="test")
    store.write_candles("demo", "BTC", make_candles(T0, 24 * DAYS, seed=7))
    store.write_iv("demo", "BTC", make_iv(T0, 24 * DAYS, seed=8))
    return DeribitDataSource(root, "demo")


def _batch(ds, tf="1h", bar_hours=1):
    end = T0 + timedelta(days=DAYS)
    candles = ds.get_candles("BTC", T0, end, tf)
    iv = ds.get_iv_index("BTC", T0, end)
    times = pl.datetime_range(
        T0 + timedelta(days=1), end, f"{bar_hours}h", eager=True, time_zone="UTC"
    )
    return times, market_context_batch(candles, iv, times, bar_hours)


@pytest.mark.parametrize(("tf", "bar_hours"), [("1h", 1), ("4h", 4), ("1d", 24)])
def test_batch_equals_one_at_a_time(ds, tf, bar_hours):
    times, batch = _batch(ds, tf, bar_hours)
    for i in np.linspace(0, len(times) - 1, 12).astype(int):
        one = compute_market_context_from_ds(ds, "BTC", times[int(i)], tf)
        row = batch.row(int(i), named=True)
        for name in CONTEXT_FIELDS:
            a, b = getattr(one, name), row[name]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), name


def test_formulas_on_known_values(ds):
    times, batch = _batch(ds)
    candles = ds.get_candles("BTC", T0, T0 + timedelta(days=DAYS))
    i = len(times) - 1  # decision at the very end sees every bar
    row = batch.row(i, named=True)
    close = candles["close"].to_numpy()
    assert row["spot"] == close[-1]
    assert row["return_7d"] == pytest.approx(close[-1] / close[-1 - 168] - 1)
    rets = np.diff(np.log(close[-721:]))
    assert row["rv_30d"] == pytest.approx(np.std(rets, ddof=1) * math.sqrt(365 * 24))
    assert row["ma_200d"] == pytest.approx(close[-4800:].mean())
    expected = (
        1
        if close[-1] > row["ma_50d"] > row["ma_200d"]
        else (-1 if close[-1] < row["ma_50d"] < row["ma_200d"] else 0)
    )
    assert row["regime"] == expected
    iv = ds.get_iv_index("BTC", T0, T0 + timedelta(days=DAYS))["iv"].to_numpy()
    window = iv[-365 * 24 :]
    assert row["iv_index"] == iv[-1]
    assert row["iv_rank"] == pytest.approx((iv[-1] - window.min()) / (window.max() - window.min()))


def test_not_enough_history_is_nan(ds):
    _, batch = _batch(ds)
    early = batch.row(0, named=True)  # one day in
    assert math.isnan(early["return_7d"]) and math.isnan(early["ma_200d"])
    assert math.isnan(early["iv_rank"])
    assert early["regime"] == 0


def test_no_look_ahead(ds, tmp_path):
    """Changing every bar after t leaves the context at t unchanged."""
    t = T0 + timedelta(days=300)
    before = compute_market_context_from_ds(ds, "BTC", t)
    candles = ds.get_candles("BTC", T0, T0 + timedelta(days=DAYS))
    iv = ds.get_iv_index("BTC", T0, T0 + timedelta(days=DAYS))
    after_t = pl.col("time") >= t
    shocked = candles.with_columns(
        [
            pl.when(after_t).then(pl.col(c) * 3).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        ]
    )
    iv2 = iv.with_columns(pl.when(after_t).then(pl.col("iv") * 2).otherwise(pl.col("iv")))
    store = Store(tmp_path)
    store.ensure_source("x", "import", label="x")
    store.write_candles("x", "BTC", shocked)
    store.write_iv("x", "BTC", iv2)
    again = compute_market_context_from_ds(DeribitDataSource(tmp_path, "x"), "BTC", t)
    assert again == before
    times = pl.Series([t])
    b1 = market_context_batch(candles, iv, times, 1)
    b2 = market_context_batch(shocked, iv2, times, 1)
    assert b1.equals(b2)


def test_iv_is_real_follows_the_iv_value_the_context_reads():
    candles = make_candles(T0, 48)
    iv = make_iv(T0, 48).with_columns(
        iv_is_real=pl.int_range(pl.len()) >= 24  # prints from the hour opening T0 + 24 h on
    )
    times = pl.Series([T0 + timedelta(hours=h) for h in (0, 1, 24, 25, 48)])
    batch = market_context_batch(candles, iv, times, 1)
    # at T0 no IV has closed yet; the IV read at T0 + 25 h is the one opening at T0 + 24 h
    assert batch.get_column("iv_is_real").to_list() == [False, False, False, True, True]
    without_flag = market_context_batch(candles, iv.drop("iv_is_real"), times, 1)
    assert not without_flag.get_column("iv_is_real").any()
