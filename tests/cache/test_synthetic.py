"""The embedded synthetic market: determinism, schema, OHLC sanity and documented statistics.

The statistics asserted here are the ranges stated in docs/synthetic.md for the default seed.
"""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache.nb import ar1_filter_nb, markov_chain_nb
from cache.synthetic import DEFAULT_END, ORIGIN, generate_synthetic_market
from tests.reference.synthetic import ar1_filter_ref, markov_chain_ref

UTC_US = pl.Datetime("us", "UTC")
CANDLES_SCHEMA = {
    "time": UTC_US,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}
IV_SCHEMA = {"time": UTC_US, "iv": pl.Float64, "iv_is_real": pl.Boolean}
HOURS_2019_2025 = 61_368
PROPERTY = settings(max_examples=200)


@pytest.fixture(scope="module")
def market():
    """The default market, generated once for the module."""
    return generate_synthetic_market()


def hourly_log_returns(series) -> np.ndarray:
    c = series.candles
    return np.log(c["close"].to_numpy() / c["open"].to_numpy())


def excess_kurtosis(x: np.ndarray) -> float:
    d = x - x.mean()
    return float(np.mean(d**4) / np.mean(d**2) ** 2 - 3.0)


def trailing_realized_vol_pct(r: np.ndarray, hours: int = 720) -> np.ndarray:
    """Annualised realized vol in percent of the ``hours`` returns before each bar (NaN early)."""
    cum = np.concatenate(([0.0], np.cumsum(r**2)))
    out = np.full(r.shape[0], np.nan)
    out[hours:] = 100.0 * np.sqrt((cum[hours:-1] - cum[: -hours - 1]) * 8760.0 / hours)
    return out


def test_same_seed_gives_bit_identical_frames(market):
    again = generate_synthetic_market()
    for coin, series in market.items():
        for name in ("candles", "iv"):
            a, b = getattr(series, name), getattr(again[coin], name)
            assert a.equals(b)
            for col in a.columns:
                if a[col].dtype == pl.Float64:
                    assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes(), col


def test_different_seed_gives_different_paths(market):
    other = generate_synthetic_market(seed=7, end=datetime(2019, 2, 1, tzinfo=UTC))
    for coin in ("BTC", "ETH"):
        mine = market[coin].candles["close"][: other[coin].candles.height].to_numpy()
        theirs = other[coin].candles["close"].to_numpy()
        assert np.mean(mine != theirs) > 0.99
        assert not np.array_equal(market[coin].iv["iv"][:744], other[coin].iv["iv"])


def test_schema_is_exact_and_labelled_synthetic(market):
    assert list(market) == ["BTC", "ETH"]
    for coin, series in market.items():
        assert series.underlying == coin
        assert series.source == "synthetic"
        assert series.candles.schema == pl.Schema(CANDLES_SCHEMA)
        assert series.iv.schema == pl.Schema(IV_SCHEMA)
        assert not series.iv["iv_is_real"].any()
        assert series.candles.null_count().sum_horizontal().item() == 0
        assert series.iv.null_count().sum_horizontal().item() == 0


def test_hourly_grid_has_no_gaps(market):
    for series in market.values():
        time = series.candles["time"]
        assert time.len() == HOURS_2019_2025
        assert time[0] == ORIGIN
        assert time[-1] == DEFAULT_END - timedelta(hours=1)
        assert (time.diff().drop_nulls() == timedelta(hours=1)).all()
        assert series.iv["time"].equals(time)


def test_ohlc_is_consistent_and_positive(market):
    for series in market.values():
        c = series.candles
        o, h, low, cl = (c[k].to_numpy() for k in ("open", "high", "low", "close"))
        assert np.all(np.isfinite(c.select(pl.exclude("time")).to_numpy()))
        assert np.all(low > 0) and np.all(c["volume"].to_numpy() > 0)
        assert np.all(h >= np.maximum(o, cl)) and np.all(low <= np.minimum(o, cl))
        assert np.all(h > low)  # 12 sub-steps always move
        assert np.array_equal(o[1:], cl[:-1])  # continuous: each bar opens at the last close


def test_starting_prices_and_path_are_plausible(market):
    btc, eth = (market[c].candles for c in ("BTC", "ETH"))
    assert btc["open"][0] == 3700.0 and eth["open"][0] == 130.0
    assert btc["low"].min() > 2_000 and btc["high"].max() < 200_000
    assert 20_000 < btc["close"][-1] < 150_000
    assert eth["low"].min() > 50 and eth["high"].max() < 10_000
    assert 500 < eth["close"][-1] < 8_000
    for c in (btc, eth):  # regimes: a multi-fold bull run and a deep bear market
        close = c["close"].to_numpy()
        assert np.max(close / np.minimum.accumulate(close)) > 5.0
        assert np.max(1.0 - close / np.maximum.accumulate(close)) > 0.5


def test_realized_vol_kurtosis_and_correlation_in_documented_ranges(market):
    r = {coin: hourly_log_returns(series) for coin, series in market.items()}
    vol = {coin: np.sqrt(np.mean(x**2) * 8760.0) for coin, x in r.items()}
    assert 0.55 <= vol["BTC"] <= 0.75
    assert 0.70 <= vol["ETH"] <= 0.95
    assert vol["ETH"] > vol["BTC"]
    for coin, series in market.items():
        close = series.candles["close"].to_numpy()
        daily = np.diff(np.log(close[23::24]))
        assert excess_kurtosis(r[coin]) > 10.0, coin
        assert excess_kurtosis(daily) > 2.0, coin
        assert np.mean((r[coin] - r[coin].mean()) ** 3) < 0.0, coin  # crashes: negative skew
    assert 0.70 <= np.corrcoef(r["BTC"], r["ETH"])[0, 1] <= 0.85


def test_iv_levels_and_variance_risk_premium_in_documented_ranges(market):
    limits = {"BTC": (30.0, 125.0, 55.0, 80.0), "ETH": (40.0, 160.0, 70.0, 100.0)}
    for coin, series in market.items():
        iv = series.iv["iv"].to_numpy()
        low, high, mean_low, mean_high = limits[coin]
        assert iv.min() > 20.0
        assert low <= np.percentile(iv, 1) and np.percentile(iv, 99) <= high
        assert mean_low <= iv.mean() <= mean_high
        rv30 = trailing_realized_vol_pct(hourly_log_returns(series))
        premium = np.nanmean(iv - rv30)
        assert 3.0 <= premium <= 10.0, (coin, premium)
    assert market["ETH"].iv["iv"].mean() > market["BTC"].iv["iv"].mean()


def test_iv_tracks_realized_vol_and_spikes_after_crashes(market):
    for coin, series in market.items():
        r = hourly_log_returns(series)
        iv = series.iv["iv"].to_numpy()
        rv30 = trailing_realized_vol_pct(r)
        forward = np.roll(rv30, -720)[720:-720]  # RV over the 30 days after each bar
        assert np.corrcoef(iv[720:-720], forward)[0, 1] > 0.5, coin
        worst = np.argsort(r)[:20]
        jump = iv[worst + 1] - iv[worst]
        assert jump.mean() > 3.0 * np.abs(np.diff(iv)).mean(), coin


def test_volume_is_plausible_and_follows_moves(market):
    medians = {"BTC": (1e7, 3e8), "ETH": (2e6, 1e8)}
    for coin, series in market.items():
        volume = series.candles["volume"]
        low, high = medians[coin]
        assert low <= volume.median() <= high
        moves = pl.Series(np.abs(hourly_log_returns(series)))
        spearman = pl.DataFrame({"v": volume, "m": moves}).select(
            pl.corr("v", "m", method="spearman")
        )
        assert spearman.item() > 0.3, coin


def test_short_window_is_a_slice_of_the_long_run(market):
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    window = generate_synthetic_market(start=start, end=end)
    for coin, series in window.items():
        assert series.candles.height == 60 * 24
        assert series.candles["time"][0] == start
        assert series.candles["time"][-1] == end - timedelta(hours=1)
        rows = pl.col("time").is_between(start, end, closed="left")
        full_c, full_iv = market[coin].candles.filter(rows), market[coin].iv.filter(rows)
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(series.candles[col], full_c[col], rtol=1e-12)
        np.testing.assert_allclose(series.iv["iv"], full_iv["iv"], rtol=1e-12)


def test_one_coin_alone_matches_its_path_in_the_pair(market):
    end = datetime(2019, 3, 1, tzinfo=UTC)
    alone = generate_synthetic_market(end=end, underlyings=("ETH",))
    assert list(alone) == ["ETH"]
    n = alone["ETH"].candles.height
    np.testing.assert_allclose(alone["ETH"].candles["close"], market["ETH"].candles["close"][:n])


def test_aware_non_utc_bounds_are_converted():
    plus2 = timezone(timedelta(hours=2))
    out = generate_synthetic_market(
        start=datetime(2020, 1, 1, 2, tzinfo=plus2), end=datetime(2020, 1, 2, tzinfo=UTC)
    )
    assert out["BTC"].candles["time"][0] == datetime(2020, 1, 1, tzinfo=UTC)
    assert out["BTC"].candles.height == 24


AWARE = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"start": AWARE, "end": AWARE}, "end"),
        ({"start": AWARE, "end": AWARE - timedelta(hours=1)}, "end"),
        ({"start": datetime(2024, 1, 1)}, "start"),
        ({"start": AWARE, "end": datetime(2024, 2, 1)}, "end"),
        ({"start": AWARE + timedelta(minutes=30)}, "start"),
        ({"start": datetime(2018, 12, 31, tzinfo=UTC)}, "start"),
        ({"end": datetime(2051, 1, 1, tzinfo=UTC)}, "end"),
        ({"start": "2024-01-01"}, "start"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"underlyings": ()}, "underlyings"),
        ({"underlyings": ("BTC", "DOGE")}, "underlyings"),
        ({"underlyings": ("BTC", "BTC")}, "underlyings"),
        ({"underlyings": "BTC"}, "underlyings"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        generate_synthetic_market(**kwargs)


finite = st.floats(-1e3, 1e3, allow_nan=False)


@PROPERTY
@given(st.lists(finite, max_size=50), st.floats(-1.0, 1.0), finite)
def test_ar1_filter_matches_reference(innovations, phi, x0):
    got = ar1_filter_nb(np.array(innovations, dtype=np.float64), phi, x0)
    assert got.tolist() == ar1_filter_ref(innovations, phi, x0)


@st.composite
def chains(draw):
    n = draw(st.integers(1, 4))
    rows = [draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)) for _ in range(n)]
    transition = [[x / sum(row) for x in row] if sum(row) > 0 else [1.0 / n] * n for row in rows]
    uniforms = draw(st.lists(st.floats(0.0, 1.0, exclude_max=True), max_size=50))
    return transition, uniforms, draw(st.integers(0, n - 1))


@PROPERTY
@given(chains())
def test_markov_chain_matches_reference(chain):
    transition, uniforms, state0 = chain
    cum = np.cumsum(np.array(transition, dtype=np.float64), axis=1)
    got = markov_chain_nb(np.array(uniforms, dtype=np.float64), cum, state0)
    assert got.tolist() == markov_chain_ref(uniforms, transition, state0)
