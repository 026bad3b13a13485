from datetime import timedelta

import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.importer import import_source
from cache.schema import DataValidationError
from cache.store import Store
from tests.cache.helpers import T0, make_candles, make_iv


def _csv(df: pl.DataFrame, path, time_as: str = "iso"):
    if time_as == "iso":
        df = df.with_columns(pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    elif time_as == "naive":
        df = df.with_columns(pl.col("time").dt.strftime("%Y-%m-%d %H:%M:%S"))
    elif time_as == "ms":
        df = df.with_columns(pl.col("time").dt.epoch("ms"))
    df.write_csv(path)
    return path


@pytest.mark.parametrize(
    ("step_h", "tf", "time_as"), [(1, "1h", "iso"), (4, "4h", "ms"), (24, "1d", "naive")]
)
def test_good_files_load_with_detected_timeframe(tmp_path, step_h, tf, time_as):
    candles = make_candles(T0, 40, step_h=step_h)
    cfile = _csv(candles, tmp_path / "c.csv", time_as)
    ifile = tmp_path / "iv.parquet"
    make_iv(T0, 24 * 3).write_parquet(ifile)
    store = Store(tmp_path / "data")
    meta = import_source(store, "mine", "eth", cfile, ifile)
    assert meta.origin == "import"
    assert meta.coverage["ETH"].candles.timeframe == tf
    ds = DeribitDataSource(tmp_path / "data", "mine")
    back = ds.get_candles("ETH", T0, T0 + timedelta(hours=step_h * 40), tf)
    assert back["time"].to_list() == candles["time"].to_list()
    assert back["close"].to_list() == pytest.approx(candles["close"].to_list(), rel=1e-12)
    assert ds.get_iv_index("ETH", T0, T0 + timedelta(hours=2))["iv_is_real"].to_list() == [
        False,
        False,
    ]


def test_reimport_merges_and_keeps_provenance(tmp_path):
    store = Store(tmp_path / "data")
    a = _csv(make_candles(T0, 30), tmp_path / "a.csv")
    b = _csv(make_candles(T0, 60).slice(30), tmp_path / "b.csv")
    import_source(store, "mine", "BTC", a)
    meta = import_source(store, "mine", "BTC", b)
    assert meta.coverage["BTC"].candles.rows == 60
    assert len(meta.details["imported_files"]) == 2


def _bad(tmp_path, name, df=None, text=None):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    else:
        _csv(df, path)
    return path


@pytest.mark.parametrize(
    ("maker", "message"),
    [
        (lambda p: _bad(p, "x.txt", text="time,open\n"), "unsupported file type"),
        (lambda p: p / "missing.csv", "file not found"),
        (lambda p: _bad(p, "c.csv", make_candles(T0, 10).drop("low")), "missing column"),
        (
            lambda p: _bad(
                p,
                "c.csv",
                text="time,open,high,low,close,volume\nyesterday,1,1,1,1,1\ntoday,1,1,1,1,1\n",
            ),
            "'yesterday' is not an ISO-8601",
        ),
        (lambda p: _bad(p, "c.csv", make_candles(T0, 10).reverse()), "not strictly increasing"),
        (
            lambda p: _bad(
                p,
                "c.csv",
                make_candles(T0, 10).with_columns(
                    pl.col("time")
                    + pl.duration(minutes=15 * pl.int_range(pl.len()))
                    - pl.duration(hours=pl.int_range(pl.len()))
                ),
            ),
            "not supported",
        ),
        (
            lambda p: _bad(p, "c.csv", make_candles(T0, 10).with_columns(low=pl.col("high") * 2)),
            "high < low",
        ),
    ],
)
def test_each_bad_candle_file_gets_its_error_and_writes_nothing(tmp_path, maker, message):
    store = Store(tmp_path / "data")
    with pytest.raises(DataValidationError, match=message) as info:
        import_source(store, "mine", "BTC", maker(tmp_path))
    assert str(tmp_path) in str(info.value)  # names the file
    assert store.list_sources() == []


def test_bad_iv_file_and_bad_names(tmp_path):
    store = Store(tmp_path / "data")
    cfile = _csv(make_candles(T0, 10), tmp_path / "c.csv")
    ivfile = tmp_path / "iv.csv"
    make_iv(T0, 10).with_columns(pl.col("iv") / 100).write_csv(ivfile)
    with pytest.raises(DataValidationError, match="must be in percent"):
        import_source(store, "mine", "BTC", cfile, ivfile)
    with pytest.raises(ValueError, match="reserved"):
        import_source(store, "synthetic", "BTC", cfile)
    with pytest.raises(ValueError, match="not supported"):
        import_source(store, "mine", "SOL", cfile)
    assert store.list_sources() == []
