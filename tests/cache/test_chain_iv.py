"""The IV index a chain source derives from its own chains: hourly, without look-ahead, and enough
for a backtest on the recorded snapshots."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from cache.datasource import DataNotCoveredError, DeribitDataSource
from cache.importers import series
from cache.importers.chains import import_chains
from cache.ivindex import iv_index
from cache.store import Store
from engine.calibration.chains import read_chain_file
from engine.config import CallSimulationConfig
from engine.market import check_covered
from engine.market_context import market_context_batch
from tests.cache.helpers import files_state
from tests.engine.model_chains import flat, model_chain

NOON = datetime(2025, 12, 10, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _hour_closes(index: pl.DataFrame) -> pl.DataFrame:
    """The reference rule, row by row: per UTC hour the index of its last snapshot that has one."""
    hours = index.with_columns(time=pl.col("harvest_time").dt.truncate("1h"))
    last = hours.sort("harvest_time").group_by("time", maintain_order=True).last()
    return last.select("time", iv="index").sort("time")


def test_each_hour_holds_its_last_index_and_no_decision_sees_a_later_snapshot(tmp_path):
    # (offset from 12:00, flat vol, expiries): the 12:45 snapshot has no expiry beyond 30 days,
    # so no index; 13:00:00 sharp opens the 13:00 bar; nothing is recorded in the 14:00 hour
    plan = [
        (timedelta(0), 0.40, (20, 40)),
        (timedelta(minutes=30), 0.50, (20, 40)),
        (timedelta(minutes=45), 0.90, (5, 10)),
        (HOUR, 0.60, (20, 40)),
        (2 * HOUR - timedelta(microseconds=1), 0.70, (20, 40)),
        (3 * HOUR + timedelta(minutes=10), 0.80, (20, 40)),
    ]
    snapshots = pl.concat(
        [model_chain(flat(vol), harvest=NOON + at, expiry_days=exp) for at, vol, exp in plan]
    )
    path = tmp_path / "snapshots.parquet"
    snapshots.write_parquet(path)
    store = Store(tmp_path / "data")
    import_chains(store, "model", "snapshots", [path], underlyings=["BTC"])

    index = iv_index(snapshots).select("harvest_time", "index")
    assert index.height == 5  # every snapshot but 12:45
    stored = pl.read_parquet(store.iv_path("model", "BTC"))
    assert stored.select("time", "iv").equals(_hour_closes(index))
    assert stored["time"].to_list() == [NOON, NOON + HOUR, NOON + 3 * HOUR]  # 14:00 is a gap
    assert stored["iv"].to_list() == pytest.approx([50.0, 70.0, 80.0], abs=0.02)
    assert not stored["iv_is_real"].any()

    # the engine takes the value of the bar opening at t as known at t + 1 h, the bar's end
    candles = pl.read_parquet(store.candles_path("model", "BTC", "1h"))
    decisions = pl.datetime_range(NOON, NOON + 4 * HOUR, "1h", eager=True, time_zone="UTC")
    seen = market_context_batch(candles, stored, decisions, 1).get_column("iv_index").to_list()
    for at, value in zip(decisions, seen, strict=True):
        before = index.filter(pl.col("harvest_time") < at)["index"]  # strictly before: t = bar end
        if before.is_empty():
            assert value != value  # NaN: nothing is known yet
        else:
            assert value == before[-1]
    assert seen[1:] == pytest.approx([50.0, 70.0, 70.0, 80.0], abs=0.02)  # never 60 (13:00:00)


def test_importing_more_snapshots_of_an_hour_recomputes_it_from_all_of_them(tmp_path):
    early = model_chain(flat(0.40), harvest=NOON + timedelta(minutes=10))
    late = model_chain(flat(0.55), harvest=NOON + timedelta(minutes=50))
    for name, frame in (("early", early), ("late", late)):
        frame.write_parquet(tmp_path / f"{name}.parquet")
    store = Store(tmp_path / "data")
    import_chains(store, "model", "snapshots", [tmp_path / "late.parquet"], underlyings=["BTC"])
    import_chains(store, "model", "snapshots", [tmp_path / "early.parquet"], underlyings=["BTC"])
    stored = pl.read_parquet(store.iv_path("model", "BTC"))
    assert stored["time"].to_list() == [NOON]
    assert stored["iv"][0] == pytest.approx(55.0, abs=0.02)  # the later snapshot still closes


def test_recorded_snapshots_get_the_dvol_style_index_of_their_chains(tmp_path, snapshots_dir):
    files = sorted(snapshots_dir.glob("*.parquet"))
    store = Store(tmp_path / "data")
    import_chains(store, "rec", "snapshots", files)
    meta = store.read_meta("rec")
    assert meta.details["chains"]["iv"] == series.IV_DERIVED
    for path in files:
        u = path.name[:3]
        expected = _hour_closes(iv_index(read_chain_file(path)))
        stored = pl.read_parquet(store.iv_path("rec", u))
        candles = pl.read_parquet(store.candles_path("rec", u, "1h"))
        # a row for every candle hour where a snapshot has an index, and only there
        assert stored["time"].to_list() == expected["time"].to_list()
        assert set(stored["time"]) <= set(candles["time"])
        assert stored["iv"].to_numpy() == pytest.approx(expected["iv"].to_numpy(), rel=1e-12)
        assert stored["iv"].is_between(20.0, 150.0).all() and not stored["iv_is_real"].any()
        cov = meta.coverage[u]
        assert (cov.iv.rows, cov.iv.real_rows) == (stored.height, 0)
        # this recording has an index in every hour it covers: the IV covers what the candles do
        iv_span = (cov.iv.start, cov.iv.end, cov.iv.gaps)
        assert iv_span == (cov.candles.start, cov.candles.end, cov.candles.gaps)

    before = files_state(store.data_dir)
    assert not import_chains(store, "rec", "snapshots", files).changed
    assert files_state(store.data_dir) == before


def test_a_backtest_on_the_imported_snapshots_is_covered(tmp_path, snapshots_dir):
    store = Store(tmp_path / "data")
    import_chains(store, "rec", "snapshots", sorted(snapshots_dir.glob("*.parquet")))
    ds = DeribitDataSource(store.data_dir, "rec")
    for underlying in ("BTC", "ETH"):
        run = {"underlying": underlying, "source": "rec", "start": "2025-12-07T21:00:00Z"}
        check_covered(ds, CallSimulationConfig(**run, end="2025-12-11T23:00:00Z"))
        with pytest.raises(DataNotCoveredError, match="candles"):
            check_covered(ds, CallSimulationConfig(**run, end="2025-12-12T00:00:00Z"))


def test_a_source_whose_iv_came_from_another_rule_takes_no_more_chains(tmp_path):
    path = tmp_path / "snapshots.parquet"
    model_chain(flat(0.5)).write_parquet(path)
    store = Store(tmp_path / "data")
    import_chains(store, "old", "snapshots", [path], underlyings=["BTC"])
    chains = store.read_meta("old").details["chains"]
    store.set_details("old", chains=chains | {"iv": "fallback, not real: realized vol + 5 points"})
    before = files_state(store.data_dir)
    with pytest.raises(ValueError, match=r"IV index by another rule \(fallback.*into a new source"):
        import_chains(store, "old", "snapshots", [path], underlyings=["BTC"])
    assert files_state(store.data_dir) == before
