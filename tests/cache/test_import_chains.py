"""Importing option chains: Tardis sampling, recorded snapshots, all-or-nothing, idempotence."""

import gzip
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from cache import staging
from cache.chains import ChainStore
from cache.importers import series, tardis
from cache.importers.chains import import_chains, parse_every
from cache.schema import DataValidationError
from cache.store import Store
from tests.cache.chain_files import (
    CALL,
    DAY,
    EXPIRY,
    PUT,
    csv_text,
    row,
    small_tardis,
    tardis_from_snapshots,
    write_tardis,
)
from tests.cache.helpers import files_state, make_candles

FIVE_MIN = timedelta(minutes=5)


def test_tardis_sampling_takes_the_last_quote_at_or_before_each_boundary(tmp_path):
    store = Store(tmp_path / "data")
    report = import_chains(
        store, "tc", "tardis", [small_tardis(tmp_path / "day.csv")], underlyings=["BTC"]
    )
    got = ChainStore(store).read("tc", "BTC", DAY, DAY + timedelta(days=1))
    assert got.select("time", "instrument_name", "bid_price", "ask_price").rows() == [
        (DAY + FIVE_MIN, CALL, 0.07, 0.052),
        (DAY + 2 * FIVE_MIN, CALL, 0.08, 0.052),
        (DAY + 2 * FIVE_MIN, PUT, None, None),  # an empty bid and a 0 ask are no quotes
    ]
    put = got.row(2, named=True)
    assert put["bid_amount"] is None and put["bid_iv"] is None and put["option_type"] == "P"
    call = got.row(0, named=True)
    assert call["expiry"] == EXPIRY and call["strike"] == 90_000.0 and call["bid_amount"] == 2.0
    assert (call["mark_price"], call["mark_iv"], call["underlying_price"]) == (0.051, 45.0, 91000.5)
    assert report.rows_read == 8 and report.skipped["rows of other underlyings"] == 2
    meta = store.read_meta("tc")
    assert meta.details["chains"]["every"] == "5m" and meta.details["chains"]["formats"] == [
        "tardis"
    ]


def test_tardis_from_real_snapshots_equals_a_plain_resampling(tmp_path, snapshots_dir):
    real = pl.read_parquet(snapshots_dir / "ETH_2025-12-07_2025-12-11.parquet")
    source = tardis_from_snapshots(real)
    path = write_tardis(source, tmp_path / "eth.csv.gz")
    store = Store(tmp_path / "data")
    import_chains(store, "tz", "tardis", [path], underlyings=["ETH"], every="15m")
    got = ChainStore(store).read("tz", "ETH", "2025-12-01", "2026-01-01")

    every = 15 * 60 * 1_000_000
    first, last = source["local_timestamp"].min(), source["local_timestamp"].max()
    expected = (
        source.with_columns(b=(pl.col("local_timestamp") + every - 1) // every * every)
        .filter((pl.col("b") - every + tardis.EDGE_SLACK_US >= first) & (pl.col("b") <= last))
        .filter(pl.col("expiration") > pl.col("b"))
        .sort("local_timestamp", maintain_order=True)
        .unique(["b", "symbol"], keep="last")
        .sort("b", "symbol")
    )
    assert got.height == expected.height > 40_000
    assert got["time"].dt.epoch("us").to_list() == expected["b"].to_list()
    pairs = {"instrument_name": "symbol", "mark_price": "mark_price", "bid_price": "bid_price"}
    for ours, theirs in pairs.items():
        assert got[ours].to_list() == expected[theirs].to_list()


def test_blocks_bound_what_is_parsed_at_once_and_change_no_result(
    tmp_path, snapshots_dir, monkeypatch
):
    real = pl.read_parquet(snapshots_dir / "BTC_2025-12-07_2025-12-11.parquet")
    path = write_tardis(tardis_from_snapshots(real).head(30_000), tmp_path / "btc.csv")
    whole = Store(tmp_path / "whole")
    import_chains(whole, "t", "tardis", [path], underlyings=["BTC"])
    read = tardis._read
    largest = []

    def spy(lines, schema, index):
        largest.append(max(len(lines.head), len(lines.data)))
        return read(lines, schema, index)

    monkeypatch.setattr(tardis, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(tardis, "_read", spy)
    small = Store(tmp_path / "small")
    import_chains(small, "t", "tardis", [path], underlyings=["BTC"])
    assert path.stat().st_size > 50 * (64 << 10) and max(largest) <= (64 << 10) + 1024  # + a line
    span = ("2025-12-01", "2026-01-01")
    assert (
        ChainStore(small).read("t", "BTC", *span).equals(ChainStore(whole).read("t", "BTC", *span))
    )


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    store = Store(tmp_path / "data")
    path = small_tardis(tmp_path / "day.csv")
    import_chains(store, "tc", "tardis", [path])
    before = files_state(store.data_dir)
    again = import_chains(store, "tc", "tardis", [path])
    assert not again.changed and "nothing new" in again.lines()[-1]
    assert files_state(store.data_dir) == before
    assert not [p for p in (store.data_dir / staging.STAGING_DIR).iterdir() if p.is_dir()]


def test_an_interrupted_import_leaves_the_store_as_it_was(tmp_path, monkeypatch, snapshots_dir):
    store = Store(tmp_path / "data")
    import_chains(store, "tc", "tardis", [small_tardis(tmp_path / "day.csv")])
    before = files_state(store.data_dir)
    real = tardis_from_snapshots(
        pl.read_parquet(snapshots_dir / "BTC_2025-12-07_2025-12-11.parquet")
    )
    more = write_tardis(real.head(5_000), tmp_path / "more.csv")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(series, "derive", interrupted)  # chains written, candles not yet
    with pytest.raises(KeyboardInterrupt):
        import_chains(store, "tc", "tardis", [more])
    assert files_state(store.data_dir) == before
    monkeypatch.undo()

    renames = []

    def second_rename_fails(src, dst):  # killed between the swap's two renames
        renames.append(src)
        if len(renames) == 2:
            raise OSError("disk gone")
        return Path(src).rename(dst)

    monkeypatch.setattr(staging.os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="disk gone"):
        import_chains(store, "tc", "tardis", [more])
    assert files_state(store.data_dir) == before
    assert not [p for p in (store.data_dir / staging.STAGING_DIR).iterdir() if p.is_dir()]


def test_bad_rows_are_named_with_file_row_and_rule(tmp_path):
    store = Store(tmp_path / "data")
    bad_price = tmp_path / "bad_price.csv"
    negative = row(PUT, timedelta(seconds=2), bid="-0.01", kind="put")
    bad_price.write_text(csv_text([row(CALL, timedelta(seconds=1)), negative]))
    with pytest.raises(
        DataValidationError, match=rf"{bad_price}, data row 2: bid_price must be positive"
    ):
        import_chains(store, "tc", "tardis", [bad_price])
    late = row(CALL, timedelta(seconds=2)).split(",")
    late[3] = "soon"  # local_timestamp
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text(csv_text([row(CALL, timedelta(seconds=1)), ",".join(late)]))
    with pytest.raises(
        DataValidationError, match=rf"{bad_time}, data row 2: local_timestamp 'soon'"
    ):
        import_chains(store, "tc", "tardis", [bad_time])
    not_tardis = tmp_path / "candles.csv"
    not_tardis.write_text("time,open\n1,2\n")
    with pytest.raises(DataValidationError, match="not a Tardis options_chain file"):
        import_chains(store, "tc", "tardis", [not_tardis])
    assert not store.has_source("tc")


def test_a_damaged_gzip_file_is_named_not_a_traceback(tmp_path):
    store = Store(tmp_path / "data")
    good = small_tardis(tmp_path / "good.csv").read_bytes() * 3000  # a few blocks' worth
    packed = gzip.compress(good)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(packed[:200] + bytes(range(256)) * 40 + packed[200 + 256 * 40 :])
    for damaged in (truncated, corrupt):
        with pytest.raises(DataValidationError, match=rf"{damaged}.*cannot be read"):
            import_chains(store, "tc", "tardis", [damaged])
    assert not store.has_source("tc")


def test_recorded_snapshots_import_with_their_dirty_rows_handled(tmp_path, snapshots_dir):
    store = Store(tmp_path / "data")
    files = sorted(snapshots_dir.glob("*.parquet"))
    report = import_chains(store, "rec", "snapshots", files)
    btc = pl.read_parquet(snapshots_dir / "BTC_2025-12-07_2025-12-11.parquet")
    assert report.skipped["partial snapshots"] == 2  # the 10- and 20-row BTC recordings
    assert report.written["BTC"].rows == btc.height - 30  # early-recorder rows completed, kept
    cov = store.read_meta("rec").coverage
    assert cov["BTC"].chain_snapshots == btc["harvest_time"].n_unique() - 2
    assert cov["ETH"].chain_rows == pl.read_parquet(files[1]).height
    details = store.read_meta("rec").details["chains"]
    assert details["candles_from"] is None and "derived" in details["candles"]
    assert details["iv"] == series.IV_DERIVED and "index rule" in details["settlement"]
    candles = pl.read_parquet(store.candles_path("rec", "BTC", "1h"))
    assert candles.height > 10 and (candles["volume"] == 0).all()
    with pytest.raises(ValueError, match="--every applies to tardis"):
        import_chains(store, "rec", "snapshots", files, every="5m")

    dup = tmp_path / "dup.parquet"
    pl.concat([btc.head(3), btc.slice(1, 1)]).write_parquet(dup)
    with pytest.raises(DataValidationError, match=rf"{dup}, data row 4: .*repeated.*data row 2"):
        import_chains(store, "rec", "snapshots", [dup])


def test_candles_joined_from_another_source_and_never_mixed(tmp_path):
    store = Store(tmp_path / "data")
    store.ensure_source("spot", "import", label="spot candles")
    store.write_candles("spot", "BTC", make_candles(DAY - timedelta(days=40), 40 * 24 + 48))
    path = small_tardis(tmp_path / "day.csv")
    import_chains(store, "tj", "tardis", [path], underlyings=["BTC"], candles_from="spot")
    joined = pl.read_parquet(store.candles_path("tj", "BTC", "1h"))
    assert joined["time"].min() == DAY - timedelta(days=40) and joined["volume"].min() > 0
    assert joined["time"].max() < DAY + timedelta(days=1)  # up to the chains' last day
    assert store.read_meta("tj").details["chains"]["candles_from"] == "spot"
    with pytest.raises(ValueError, match="takes its candles 'spot'"):
        import_chains(store, "tj", "tardis", [path], underlyings=["BTC"])
    with pytest.raises(ValueError, match="sampled every 5m"):
        import_chains(store, "tj", "tardis", [path], every="1m", candles_from="spot")


def test_every_must_divide_a_day():
    assert parse_every("5m") == 300_000_000 and parse_every("1h") == 3_600_000_000
    for bad in ("7m", "0m", "5 minutes", "25h"):
        with pytest.raises(ValueError, match="--every"):
            parse_every(bad)


def test_chains_added_to_a_source_with_its_own_candles_leave_them_alone(tmp_path):
    store = Store(tmp_path / "data")
    store.ensure_source("deribit", "deribit-mainnet", label="downloaded")
    store.write_candles("deribit", "BTC", make_candles(DAY - timedelta(days=2), 72))
    candles = store.candles_path("deribit", "BTC", "1h").read_bytes()
    report = import_chains(store, "deribit", "tardis", [small_tardis(tmp_path / "day.csv")])
    assert report.written["BTC"].rows == 3
    assert store.candles_path("deribit", "BTC", "1h").read_bytes() == candles
    meta = store.read_meta("deribit")
    assert meta.origin == "deribit-mainnet" and meta.details["chains"]["candles"].startswith(
        "the source's own"
    )
    store.ensure_source("spot", "import", label="spot candles")
    store.write_candles("spot", "BTC", make_candles(DAY - timedelta(days=2), 72))
    with pytest.raises(ValueError, match="has candles of its own"):
        import_chains(store, "deribit", "tardis", [tmp_path / "day.csv"], candles_from="spot")


def test_the_index_price_is_the_forward_of_expiries_priced_on_the_index(tmp_path):
    on_index = row(PUT, timedelta(minutes=1), kind="put").replace("SYN.BTC-26DEC25", "index_price")
    on_index = on_index.replace("91000.5", "90990.0")
    path = tmp_path / "day.csv"
    path.write_text(csv_text([row(CALL, timedelta(seconds=0.5)), on_index, row(CALL, FIVE_MIN)]))
    store = Store(tmp_path / "data")
    import_chains(store, "ti", "tardis", [path], underlyings=["BTC"])
    got = ChainStore(store).read("ti", "BTC", DAY, DAY + timedelta(hours=1))
    assert got["index_price"].to_list() == [90990.0, 90990.0]
    candles = pl.read_parquet(store.candles_path("ti", "BTC", "1h"))
    assert candles.row(0, named=True)["close"] == 90990.0  # spot = the index where recorded
