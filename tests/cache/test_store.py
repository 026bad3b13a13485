from datetime import timedelta

import polars as pl
import pytest

from cache.schema import CANDLES_SCHEMA, DataValidationError
from cache.store import Store, derive_timeframe
from tests.cache.helpers import T0, make_candles, make_iv


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    s.ensure_source("demo", "import", label="test data")
    return s


def _files(store: Store, name: str = "demo") -> dict[str, bytes]:
    root = store.source_dir(name)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_write_read_round_trip_and_coverage(store):
    df = make_candles(T0, 48)
    cov = store.write_candles("demo", "BTC", df)
    back = pl.read_parquet(store.candles_path("demo", "BTC", "1h"))
    assert back.schema == pl.Schema(CANDLES_SCHEMA)
    assert back.equals(df)
    assert cov.start == T0 and cov.end == T0 + timedelta(hours=48) and cov.rows == 48
    assert cov.gaps == [] and cov.timeframe == "1h"
    meta = store.read_meta("demo")
    assert len(meta.fingerprint) == 16
    assert set(meta.files) == {
        "candles/BTC_1h.parquet",
        "candles/BTC_4h.parquet",
        "candles/BTC_1d.parquet",
    }


def test_derived_timeframes_match_manual_aggregation(store):
    df = make_candles(T0 + timedelta(hours=2), 24 * 3)  # starts mid-bucket, ends mid-bucket
    store.write_candles("demo", "BTC", df)
    four = pl.read_parquet(store.candles_path("demo", "BTC", "4h"))
    # first complete 4h bucket opens at 04:00; the partial 00:00 bucket is dropped
    assert four["time"][0] == T0 + timedelta(hours=4)
    first = df.filter((pl.col("time") >= four["time"][0]) & (pl.col("time") < four["time"][1]))
    assert four["open"][0] == first["open"][0]
    assert four["close"][0] == first["close"][-1]
    assert four["high"][0] == first["high"].max()
    assert four["low"][0] == first["low"].min()
    assert four["volume"][0] == pytest.approx(first["volume"].sum())
    assert (four["time"][-1] + timedelta(hours=4)) <= df["time"][-1] + timedelta(hours=1)
    daily = pl.read_parquet(store.candles_path("demo", "BTC", "1d"))
    assert daily["time"].to_list() == [T0 + timedelta(days=1), T0 + timedelta(days=2)]


def test_derive_keeps_complete_edges():
    df = make_candles(T0, 8)
    out = derive_timeframe(df, "4h")
    assert out["time"].to_list() == [T0, T0 + timedelta(hours=4)]


def test_rewrite_is_idempotent_and_merge_fills_missing(tmp_path):
    df = make_candles(T0, 24 * 10)
    whole = Store(tmp_path / "a")
    whole.ensure_source("demo", "import", label="x")
    whole.write_candles("demo", "BTC", df)
    parts = Store(tmp_path / "b")
    parts.ensure_source("demo", "import", label="x")
    parts.write_candles("demo", "BTC", df.slice(0, 130))
    parts.write_candles("demo", "BTC", df.slice(100, 140))  # overlaps; existing rows win
    parts.write_candles("demo", "BTC", df)  # re-run: nothing changes
    assert _files(whole) == _files(parts)
    assert whole.read_meta("demo").fingerprint == parts.read_meta("demo").fingerprint


def test_gaps_are_reported_not_filled(store):
    df = make_candles(T0, 48)
    holed = pl.concat([df.slice(0, 10), df.slice(13, 35)])
    cov = store.write_candles("demo", "BTC", holed)
    assert cov.rows == 45
    assert len(cov.gaps) == 1
    gap = cov.gaps[0]
    assert gap.missing_bars == 3
    assert gap.start == (T0 + timedelta(hours=10)).isoformat()


@pytest.mark.parametrize(
    ("mutate", "rule", "row"),
    [
        (lambda d: d.with_columns(pl.col("time").reverse()), "not strictly increasing", 2),
        (lambda d: pl.concat([d.slice(0, 5), d.slice(4, 5)]), "not strictly increasing", 6),
        (
            lambda d: d.with_columns(
                close=pl.when(pl.int_range(pl.len()) == 3).then(-1.0).otherwise(pl.col("close"))
            ),
            "close must be",
            4,
        ),
        (
            lambda d: d.with_columns(
                open=pl.when(pl.int_range(pl.len()) == 7)
                .then(float("nan"))
                .otherwise(pl.col("open"))
            ),
            "open must",
            8,
        ),
        (lambda d: d.with_columns(high=pl.col("low") * 0.5), "high < low", 1),
        (lambda d: d.drop("volume"), "missing column", None),
    ],
)
def test_bad_candles_are_rejected_with_row_and_rule(store, mutate, rule, row):
    good = make_candles(T0, 10)
    store.write_candles("demo", "BTC", good)
    before = _files(store)
    with pytest.raises(DataValidationError) as info:
        store.write_candles("demo", "BTC", mutate(make_candles(T0 + timedelta(days=1), 10)))
    assert rule in str(info.value)
    assert info.value.row == (row - 1 if row is not None else None)
    assert _files(store) == before  # nothing written, nothing lost


def test_failed_write_leaves_no_partial_file(store, monkeypatch):
    def boom(self, path, *args, **kwargs):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError):
        store.write_candles("demo", "BTC", make_candles(T0, 10))
    assert not list(store.source_dir("demo").rglob("*.parquet"))
    assert not list(store.source_dir("demo").rglob("*.tmp"))


def test_iv_and_base_timeframe_rules(store):
    cov = store.write_iv("demo", "BTC", make_iv(T0, 24))
    assert cov.rows == 24 and cov.real_rows == 0
    store.write_candles("demo", "ETH", make_candles(T0, 20, step_h=4), timeframe="4h")
    with pytest.raises(ValueError, match="stores ETH candles at 4h"):
        store.write_candles("demo", "ETH", make_candles(T0, 20), timeframe="1h")
    with pytest.raises(DataValidationError, match="percent"):
        store.write_iv("demo", "BTC", make_iv(T0, 5).with_columns(pl.col("iv") / 100))


def test_source_names_and_origins_are_checked(store):
    with pytest.raises(ValueError, match="invalid"):
        store.ensure_source("Bad Name!", "import", label="x")
    with pytest.raises(ValueError, match="already holds import"):
        store.ensure_source("demo", "synthetic", label="x")
    with pytest.raises(ValueError, match="not supported"):
        store.write_candles("demo", "DOGE", make_candles(T0, 5))
