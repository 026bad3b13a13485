from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from cache.chain_snapshots import write_snapshots
from cache.datasource import DataNotCoveredError, DeribitDataSource
from cache.files import CorruptFileError
from cache.store import SourceNotFoundError, Store
from tests.cache.helpers import T0, make_candles, make_iv


@pytest.fixture
def data_dir(tmp_path):
    store = Store(tmp_path)
    store.ensure_source("demo", "import", label="test")
    store.write_candles("demo", "BTC", make_candles(T0, 24 * 5))
    store.write_iv("demo", "BTC", make_iv(T0, 24 * 5))
    return tmp_path


def test_reads_exact_half_open_range(data_dir):
    ds = DeribitDataSource(data_dir, "demo")
    df = ds.get_candles("BTC", T0 + timedelta(hours=5), T0 + timedelta(hours=15))
    assert df.height == 10
    assert df["time"][0] == T0 + timedelta(hours=5)
    assert df["time"][-1] == T0 + timedelta(hours=14)
    daily = ds.get_candles("btc", "2024-01-02", "2024-01-04", "1d")
    assert daily["time"].to_list() == [T0 + timedelta(days=1), T0 + timedelta(days=2)]
    iv = ds.get_iv_index("BTC", T0, T0 + timedelta(hours=3))
    assert iv.columns == ["time", "iv", "iv_is_real"] and iv.height == 3


@pytest.mark.parametrize("kind", ["candles", "iv"])
def test_a_truncated_file_is_an_error_naming_it_and_the_way_out(data_dir, kind):
    store, ds = Store(data_dir), DeribitDataSource(data_dir, "demo")
    path, read, write = {
        "candles": (store.candles_path("demo", "BTC", "1h"), ds.get_candles, store.write_candles),
        "iv": (store.iv_path("demo", "BTC"), ds.get_iv_index, store.write_iv),
    }[kind]
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CorruptFileError) as err:
        read("BTC", T0, T0 + timedelta(hours=3))
    assert str(err.value).startswith(f"{path}: cannot be read (")
    assert "thetadesk cache --verify" in str(err.value) and err.value.path == path
    frame = make_candles(T0, 24) if kind == "candles" else make_iv(T0, 24)
    with pytest.raises(CorruptFileError, match=str(path)):  # a write merging into it says so too
        write("demo", "BTC", frame)


def test_uncovered_ranges_and_bad_arguments_say_what_is_wrong(data_dir):
    ds = DeribitDataSource(data_dir, "demo")
    with pytest.raises(DataNotCoveredError, match=r"cover 2024-01-01T00:00:00\+00:00 to"):
        ds.get_candles("BTC", T0 - timedelta(days=1), T0 + timedelta(days=1))
    with pytest.raises(DataNotCoveredError, match="holds no ETH"):
        ds.get_candles("ETH", T0, T0 + timedelta(days=1))
    with pytest.raises(ValueError, match="must be after start"):
        ds.get_candles("BTC", T0 + timedelta(days=1), T0)
    with pytest.raises(ValueError, match="no timezone"):
        ds.get_candles("BTC", datetime(2024, 1, 2), datetime(2024, 1, 3))
    with pytest.raises(ValueError, match="not one of"):
        ds.get_candles("BTC", T0, T0 + timedelta(days=1), "15m")
    with pytest.raises(SourceNotFoundError, match="'nope' not found"):
        DeribitDataSource(data_dir, "nope")


def test_finer_timeframe_than_data_is_refused(tmp_path):
    store = Store(tmp_path)
    store.ensure_source("daily", "import", label="test")
    store.write_candles("daily", "ETH", make_candles(T0, 30, step_h=24), timeframe="1d")
    ds = DeribitDataSource(tmp_path, "daily")
    with pytest.raises(ValueError, match="finer than the 1d data"):
        ds.get_candles("ETH", T0, T0 + timedelta(days=3), "1h")
    assert ds.get_candles("ETH", T0, T0 + timedelta(days=3), "1d").height == 3


def test_chain_snapshots_round_trip_real_data(tmp_path, snapshots_dir):
    real = pl.read_parquet(snapshots_dir / "ETH_2025-12-07_2025-12-11.parquet")
    store = Store(tmp_path)
    store.ensure_source("rec", "deribit-mainnet", label="recorded chains")
    ds_empty = DeribitDataSource(tmp_path, "rec")
    assert ds_empty.get_chain_snapshots("ETH", "2025-12-01", "2025-12-31").is_empty()
    added = write_snapshots(store, "rec", real)["ETH"]
    assert added.rows == real.height
    assert write_snapshots(store, "rec", real.slice(0, 500))["ETH"].rows == 0  # idempotent
    ds = DeribitDataSource(tmp_path, "rec")
    cov = ds.coverage("ETH")
    assert cov.chain_snapshots == real["harvest_time"].n_unique() and cov.chain_rows == real.height
    day = ds.get_chain_snapshots("ETH", "2025-12-10", "2025-12-11")
    expected = real.filter(pl.col("harvest_time").dt.date() == datetime(2025, 12, 10).date())
    assert day.height == expected.height
    assert set(day["instrument_name"]) == set(expected["instrument_name"])
    assert day["harvest_time"].dtype == pl.Datetime("us", "UTC")
    stored = sorted(store.chain_dir("rec", "ETH").glob("*.parquet"))
    assert [p.stem for p in stored] == sorted(
        d.isoformat() for d in real["harvest_time"].dt.date().unique()
    )
    files = store.read_meta("rec").files
    assert all(f"chains/ETH/{p.name}" in files for p in stored)  # part of the fingerprint
    assert cov.chain_start == real["harvest_time"].min().astimezone(UTC)
