"""The chain store: checks on write, day files, merges, reads by range and the latest snapshot."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from cache.chain_snapshots import snapshots_from_chains, write_snapshots
from cache.chains import ChainStore
from cache.datasource import DeribitDataSource
from cache.deribit.naming import complete_from_names
from cache.schema import CHAIN_STORE_SCHEMA, DataValidationError
from cache.store import SourceNotFoundError, Store

T0 = datetime(2025, 12, 8, 23, 50, tzinfo=UTC)
EXPIRY = datetime(2025, 12, 26, 8, tzinfo=UTC)


def rows(times: list[datetime], names=("BTC-26DEC25-90000-C", "BTC-26DEC25-90000-P"), **cols):
    """One row per time and name, valid unless ``cols`` overrides a column."""
    n = len(times) * len(names)
    frame = pl.DataFrame(
        {
            "time": [t for t in times for _ in names],
            "instrument_name": list(names) * len(times),
            "expiry": [EXPIRY] * n,
            "strike": [90_000.0] * n,
            "option_type": [name[-1] for name in names] * len(times),
            "bid_price": [0.05] * n,
            "ask_price": [0.052] * n,
            "mark_price": [0.051] * n,
            "mark_iv": [45.0] * n,
            "underlying_price": [91_000.0] * n,
            "open_interest": [10.0] * n,
        }
    )
    frame = frame.with_columns(pl.col("time", "expiry").cast(pl.Datetime("us", "UTC")))
    return frame.with_columns(**{k: pl.Series(v) for k, v in cols.items()})


@pytest.fixture
def chains(tmp_path):
    store = Store(tmp_path)
    store.ensure_source("rec", "import", label="test")
    return ChainStore(store)


def test_write_splits_by_utc_day_and_reads_back_by_range(chains):
    times = [T0 + timedelta(minutes=5 * i) for i in range(6)]  # 23:50 .. 00:15 next day
    written = chains.write("rec", "BTC", rows(times))
    assert written.rows == 12 and written.snapshots == 6
    assert [d.isoformat() for d in chains.days("rec", "BTC")] == ["2025-12-08", "2025-12-09"]
    back = chains.read("rec", "BTC", T0, T0 + timedelta(hours=1))
    assert back.schema == pl.Schema(CHAIN_STORE_SCHEMA) and back.height == 12
    assert back.get_column("bid_amount").null_count() == 12  # absent optional columns are null
    half_open = chains.read("rec", "BTC", times[1], times[3])
    assert half_open.get_column("time").unique().sort().to_list() == times[1:3]
    cov = chains.store.read_meta("rec").coverage["BTC"]
    assert (cov.chain_snapshots, cov.chain_rows) == (6, 12)
    assert (cov.chain_start, cov.chain_end) == (times[0], times[-1])
    assert chains.snapshot_times("rec", "BTC", T0, T0 + timedelta(days=1)).to_list() == times


def test_stored_rows_win_and_writing_twice_changes_no_file(chains):
    chains.write("rec", "BTC", rows([T0]))
    path = chains.partition_path("rec", "BTC", T0.date())
    before, meta = path.read_bytes(), chains.store.read_meta("rec")
    again = chains.write("rec", "BTC", rows([T0], mark_price=[0.9, 0.9]))
    assert again.rows == 0 and path.read_bytes() == before
    assert chains.store.read_meta("rec").fingerprint == meta.fingerprint
    assert chains.read("rec", "BTC", T0, T0 + timedelta(seconds=1))["mark_price"].to_list() == [
        0.051,
        0.051,
    ]
    more = chains.write("rec", "BTC", rows([T0, T0 + timedelta(minutes=5)]))
    assert (more.rows, more.snapshots) == (2, 1)
    assert chains.store.read_meta("rec").fingerprint != meta.fingerprint
    assert not list(path.parent.glob(".*"))  # no temporary file left beside the day file


def test_latest_snapshot_at_or_before_an_instant(chains):
    times = [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=30)]
    chains.write("rec", "BTC", rows(times))
    at = T0 + timedelta(minutes=29)
    assert chains.latest("rec", "BTC", at)["time"].unique().to_list() == [times[1]]
    assert chains.latest("rec", "BTC", times[2])["time"].unique().to_list() == [times[2]]
    assert chains.latest("rec", "BTC", at, max_age=timedelta(minutes=15)).is_empty()
    assert chains.latest("rec", "BTC", T0 - timedelta(seconds=1)).is_empty()
    ds = DeribitDataSource(chains.store.data_dir, "rec")
    assert ds.get_chain_at("BTC", at).height == 2
    assert ds.get_chains("BTC", T0, T0 + timedelta(hours=1)).height == 6


BAD = [
    ({"bid_price": [-0.01, 0.05]}, 1, "bid_price must be positive and finite or empty"),
    ({"ask_price": [0.05, float("nan")]}, 2, "ask_price must be positive and finite or empty"),
    ({"mark_price": [0.05, -1.0]}, 2, "mark_price must be ≥ 0"),
    ({"mark_iv": [0.45, 45.0]}, 1, "mark_iv is not in percent"),
    ({"underlying_price": [0.0, 9e4]}, 1, "underlying_price must be a positive finite number"),
    ({"strike": [9e4, None]}, 2, "strike is missing"),
    ({"option_type": ["X", "P"]}, 1, "option_type is not C or P"),
]


@pytest.mark.parametrize(("override", "row", "rule"), BAD)
def test_a_bad_row_is_refused_naming_row_and_rule(chains, override, row, rule):
    with pytest.raises(DataValidationError, match=f"data row {row}: {rule}"):
        chains.write("rec", "BTC", rows([T0], **override))
    assert chains.days("rec", "BTC") == []


def test_unsorted_duplicate_expired_or_foreign_rows_are_refused(chains):
    later = T0 + timedelta(minutes=5)
    unsorted = pl.concat([rows([later]), rows([T0])])
    with pytest.raises(DataValidationError, match=r"data row 3: .*not strictly increasing"):
        chains.write("rec", "BTC", unsorted)
    with pytest.raises(DataValidationError, match=r"data row 2: .*not strictly increasing"):
        chains.write("rec", "BTC", rows([T0], names=("BTC-26DEC25-90000-C",) * 2))
    with pytest.raises(DataValidationError, match="expired option"):
        chains.write("rec", "BTC", rows([EXPIRY]))
    with pytest.raises(DataValidationError, match="not an ETH name"):
        chains.write("rec", "ETH", rows([T0]))
    noon = rows([T0]).with_columns(expiry=pl.lit(EXPIRY + timedelta(hours=4)))
    with pytest.raises(DataValidationError, match="expiry is not at 08:00 UTC"):
        chains.write("rec", "BTC", noon)
    with pytest.raises(SourceNotFoundError):
        chains.write("nowhere", "BTC", rows([T0]))


def test_recorder_snapshots_round_trip_through_the_store(chains, snapshots_dir):
    real = pl.read_parquet(snapshots_dir / "BTC_2025-12-07_2025-12-11.parquet")
    written = write_snapshots(chains.store, "rec", real)["BTC"]
    assert written.rows == real.height  # early-recorder rows completed from their names
    back = snapshots_from_chains(chains.read("rec", "BTC", "2025-12-07", "2025-12-12"), "BTC")
    ordered = complete_from_names(real).sort("harvest_time", "instrument_name")
    for column in ("harvest_time", "instrument_name", "mark_price", "mark_iv", "strike"):
        assert back[column].to_list() == ordered[column].to_list()
    assert back["expiry_timestamp"].null_count() == 0
