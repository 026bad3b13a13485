"""The Deribit downloader against the fake Deribit server: values, faults, resume, idempotence, CLI.

Ranges straddle the fake's first DVOL print (2021-03-31) so that both real and fallback IV rows
exist; the fake caps replies below the download window so that every kind of paging is used.
"""

import math
import shutil
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from api.cli import main
from cache.deribit import DeribitClient, DeribitError
from cache.download import URL_ENV, DownloadError, download_range, warm_deribit
from cache.iv_fallback import DEFAULT_FALLBACK, IvFallback
from cache.schema import CANDLES_SCHEMA, DELIVERY_SCHEMA, IV_SCHEMA, Gap
from cache.store import Store
from tests.fakes.deribit import FakeDeribit
from tests.fakes.deribit_market import (
    ASSETS,
    DVOL_START_MS,
    HOUR_MS,
    candles,
    delivery_price,
    dvol_candles,
    utc_ms,
)

START, END = datetime(2021, 3, 17, tzinfo=UTC), datetime(2021, 4, 7, tzinfo=UTC)
RULE = IvFallback(window_days=7)  # a week of RV: fallback rows start a week into the range
WINDOW = 168  # bars per window: three windows in the range
FAKE = {"chart_max_candles": 100, "dvol_max_points": 50, "timeout_sleep_s": 3.0}
COINS = ("BTC", "ETH")
FAULTS = [
    "rate_limit",  # 10028 too_many_requests
    "http_429",
    "http_500",
    "http_502",
    "timeout",
    "truncated",
    "malformed",
    "disconnect",
    "gap",  # an empty answer to a chart or DVOL request
]


def make_client(server: FakeDeribit) -> DeribitClient:
    # a timeout far above a loaded machine's response time: only injected faults time out
    return DeribitClient(server.url, timeout_s=2.0, max_retries=3, sleep=lambda s: None)


def download(server, root, coins=COINS, start=START, end=END, **options):
    with make_client(server) as client:
        return warm_deribit(
            Store(root),
            coins,
            start=start,
            end=end,
            client=client,
            window_bars=WINDOW,
            fallback=RULE,
            **options,
        )


def files(root, pattern="*.parquet") -> dict[str, bytes]:
    paths = sorted(p for p in root.rglob(pattern) if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in paths}


def calls(requests) -> list[tuple[str, dict]]:
    return [(r.method, r.params) for r in requests]


def read(root, kind: str, name: str) -> pl.DataFrame:
    return pl.read_parquet(root / "sources" / "deribit" / kind / f"{name}.parquet")


def hours(lo: datetime, hi: datetime) -> list[int]:
    return list(range(utc_ms(*lo.timetuple()[:4]), utc_ms(*hi.timetuple()[:4]), HOUR_MS))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A fault-free download of BTC and ETH: its Parquet files and the requests it made."""
    root = tmp_path_factory.mktemp("clean")
    with FakeDeribit(**FAKE) as server:
        meta = download(server, root)
        return SimpleNamespace(
            root=root, meta=meta, files=files(root), calls=calls(server.requests), seed=server.seed
        )


# ---- what is stored --------------------------------------------------------------------------


@pytest.mark.parametrize("coin", COINS)
def test_download_stores_what_deribit_serves_in_the_schema(clean, coin):
    asset, ticks = ASSETS[coin], np.array(hours(START, END))
    bars = read(clean.root, "candles", f"{coin}_1h")
    assert dict(bars.schema) == CANDLES_SCHEMA
    served = candles(clean.seed, asset, ticks, 60)
    assert bars.get_column("time").dt.epoch("ms").to_list() == served["ticks"]
    for column in ("open", "high", "low", "close"):
        assert bars.get_column(column).to_list() == served[column]
    assert bars.get_column("volume").to_list() == served["cost"]  # USD notional, not coin

    iv = read(clean.root, "iv", coin)
    assert dict(iv.schema) == IV_SCHEMA
    real = iv.filter("iv_is_real")
    real_ticks = ticks[ticks >= DVOL_START_MS]
    assert real.get_column("time").dt.epoch("ms").to_list() == real_ticks.tolist()
    closes = [row[4] for row in dvol_candles(clean.seed, asset, real_ticks, HOUR_MS)]
    assert real.get_column("iv").to_list() == closes
    # Before DVOL: every hour from one RV window after the first bar is the fallback.
    fallback = iv.filter(~pl.col("iv_is_real")).get_column("time").dt.epoch("ms").to_list()
    assert fallback == hours(
        START + timedelta(days=RULE.window_days), datetime(2021, 3, 31, tzinfo=UTC)
    )

    delivery = read(clean.root, "delivery", coin)
    assert dict(delivery.schema) == DELIVERY_SCHEMA
    days = [START.date() + timedelta(days=k) for k in range((END - START).days)]
    assert delivery.get_column("time").to_list() == [
        datetime(d.year, d.month, d.day, 8, tzinfo=UTC) for d in days
    ]
    assert delivery.get_column("delivery_price").to_list() == [
        delivery_price(clean.seed, asset, d) for d in days
    ]

    cov = clean.meta.coverage[coin]
    assert (cov.candles.start, cov.candles.end, cov.candles.rows) == (START, END, len(ticks))
    assert cov.iv.real_rows == len(real_ticks) and not cov.candles.gaps and not cov.iv.gaps
    assert clean.meta.origin == "deribit-mainnet" and "REAL" in clean.meta.label


def test_fallback_value_checked_by_hand(clean):
    bars = read(clean.root, "candles", "BTC_1h")
    t = datetime(2021, 3, 27, 13, tzinfo=UTC)
    # Closes of the bars opening in [t - 7 days, t]: 168 returns ending at the close of bar t.
    window = bars.filter(pl.col("time").is_between(t - timedelta(days=7), t))
    log_close = np.log(window.get_column("close").to_numpy())
    assert len(log_close) == 169
    rv_percent = 100 * math.sqrt(365 / 7 * float(np.sum(np.diff(log_close) ** 2)))
    stored = read(clean.root, "iv", "BTC").filter(pl.col("time") == t).row(0, named=True)
    assert stored["iv_is_real"] is False
    assert stored["iv"] == pytest.approx(max(rv_percent + 5.0, 20.0), rel=1e-12)


def test_daily_testnet_download_uses_the_default_fallback_rule(tmp_path):
    start, end = datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 5, 1, tzinfo=UTC)
    with FakeDeribit(testnet=True) as server, make_client(server) as client:
        meta = warm_deribit(Store(tmp_path), ["BTC"], start, end, "1d", testnet=True, client=client)
    assert (meta.name, meta.origin) == ("deribit-testnet", "deribit-testnet")
    assert "TESTNET" in meta.label
    folder = tmp_path / "sources" / "deribit-testnet"
    assert sorted(p.name for p in (folder / "candles").iterdir()) == ["BTC_1d.parquet"]
    bars = pl.read_parquet(folder / "candles" / "BTC_1d.parquet")
    ticks = np.arange(utc_ms(2021, 1, 1), utc_ms(2021, 5, 1), 24 * HOUR_MS)
    assert (
        bars.get_column("close").to_list()
        == candles(server.seed, ASSETS["BTC"], ticks, 1440)["close"]
    )
    iv = pl.read_parquet(folder / "iv" / "BTC.parquet")
    first_real = iv.filter("iv_is_real").get_column("time")[0]
    assert first_real == datetime(2021, 3, 31, tzinfo=UTC)  # detected from the data
    fallback = iv.filter(~pl.col("iv_is_real"))
    assert fallback.get_column("time")[0] == start + timedelta(days=DEFAULT_FALLBACK.window_days)
    t = datetime(2021, 3, 1, tzinfo=UTC)
    closes = bars.filter(pl.col("time").is_between(t - timedelta(days=30), t))
    rv = 100 * math.sqrt(365 / 30 * np.sum(np.diff(np.log(closes.get_column("close"))) ** 2))
    assert fallback.filter(pl.col("time") == t).get_column("iv")[0] == pytest.approx(
        max(rv + 5.0, 20.0), rel=1e-12
    )


# ---- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("after", [0, 7])
@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_ends_with_the_same_files_as_a_clean_run(clean, tmp_path, kind, after):
    with FakeDeribit(**FAKE) as server:
        server.inject(kind, after=after)
        download(server, tmp_path)
        assert server.pending_faults() == 0
        assert [r.fault for r in server.requests].count(kind) == 1
    assert files(tmp_path) == clean.files


def test_a_real_gap_is_reported_and_not_asked_for_again(clean, tmp_path):
    gap = (utc_ms(2021, 4, 2, 3), utc_ms(2021, 4, 2, 9) - 1)  # bars 03:00..08:00 do not exist
    with FakeDeribit(**FAKE, data_gaps=(gap,)) as server:
        meta = download(server, tmp_path, coins=["BTC"])
        asked = len(server.requests)
        download(server, tmp_path, coins=["BTC"])
        assert len(server.requests) == asked
    expected = [Gap("2021-04-02T03:00:00+00:00", "2021-04-02T09:00:00+00:00", 6)]
    assert meta.coverage["BTC"].candles.gaps == expected
    assert meta.coverage["BTC"].iv.gaps == expected  # not filled by the fallback either
    outside = ~pl.col("time").is_between(
        datetime(2021, 4, 2, 3, tzinfo=UTC), datetime(2021, 4, 2, 8, tzinfo=UTC)
    )
    for kind, name in (("candles", "BTC_1h"), ("iv", "BTC")):
        got = pl.read_parquet(tmp_path / "sources" / "deribit" / kind / f"{name}.parquet")
        assert got.equals(read(clean.root, kind, name).filter(outside))


# ---- interruption, resume, idempotence -------------------------------------------------------


def _fail_for_good(server, root):
    server.inject("http_500", method="get_tradingview_chart_data", times=4, after=5)
    with pytest.raises(DownloadError) as info:
        download(server, root)
    message = str(info.value)
    assert "public/get_tradingview_chart_data" in message and "gave up after 4 attempts" in message
    assert "BTC-PERPETUAL 1h candles" in message and "2021-03-31T00:00:00+00:00" in message
    assert isinstance(info.value, DeribitError) and info.value.__cause__ is not None


def _interrupt(server, root):
    def progress(step):
        if step.kind == "history" and step.done == 2 * WINDOW:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(server, root, progress=progress)


@pytest.mark.parametrize("kill", [_fail_for_good, _interrupt])
def test_killed_download_resumes_with_only_the_missing_windows(clean, tmp_path, kill):
    with FakeDeribit(**FAKE) as server:
        kill(server, tmp_path)
        assert [p for p in tmp_path.rglob("*") if p.name.startswith(".") or ".tmp" in p.name] == []
        kept = Store(tmp_path).read_meta("deribit").coverage["BTC"].candles
        assert (kept.start, kept.end) == (START, START + timedelta(hours=2 * WINDOW))
        before = len(server.requests)
        download(server, tmp_path)
        resumed = calls(server.requests[before:])
    assert files(tmp_path) == clean.files
    assert 0 < len(resumed) < len(clean.calls)
    assert resumed == clean.calls[-len(resumed) :]  # the clean run's requests from the cut on
    method, params = resumed[0]
    assert method == "public/get_tradingview_chart_data"
    assert int(params["end_timestamp"]) == utc_ms(2021, 4, 7) - 1  # the third window


def test_rerunning_a_finished_download_asks_nothing_and_changes_no_file(clean, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(clean.root, root)
    before = files(root, "*")
    with FakeDeribit(**FAKE) as server:
        meta = download(server, root)
        assert server.requests == []
    assert files(root, "*") == before
    assert meta == clean.meta


def test_growing_the_range_fetches_only_new_spans_and_matches_one_download(clean, tmp_path):
    later = START + timedelta(days=7)
    with FakeDeribit(**FAKE) as server:
        download(server, tmp_path, coins=["BTC"], start=later)
        before = len(server.requests)
        download(server, tmp_path, coins=["BTC"])
        grown = server.requests[before:]
    windows = [r.params for r in grown if r.method != "public/get_delivery_prices"]
    assert windows and all(int(p["start_timestamp"]) < utc_ms(2021, 3, 24) for p in windows)
    btc = {name: data for name, data in clean.files.items() if "BTC" in name}
    assert files(tmp_path) == btc  # fallback rows at the old start were filled in as well


def test_bars_not_yet_published_are_fetched_next_time_not_recorded_as_a_gap(clean, tmp_path):
    with FakeDeribit(**FAKE, now_ms=utc_ms(2021, 4, 6, 19)) as server:
        meta = download(server, tmp_path, coins=["BTC"])
        assert meta.coverage["BTC"].candles.end == datetime(2021, 4, 6, 19, tzinfo=UTC)
        server.now_ms = utc_ms(2021, 4, 10)
        before = len(server.requests)
        download(server, tmp_path, coins=["BTC"])
        windows = [r.params for r in server.requests[before:] if "start_timestamp" in r.params]
    assert windows and min(int(p["start_timestamp"]) for p in windows) == utc_ms(2021, 4, 6, 19)
    btc = {name: data for name, data in clean.files.items() if "BTC" in name}
    assert files(tmp_path) == btc


# ---- arguments -------------------------------------------------------------------------------


def test_download_range_rounds_to_whole_bars_and_clamps():
    now = datetime(2025, 12, 10, 12, 34, tzinfo=UTC)
    lo, hi = download_range(None, None, HOUR_MS, now=now)
    assert (lo, hi) == (utc_ms(2019, 1, 1), utc_ms(2025, 12, 10, 12))  # 12:00 bar still forming
    lo, hi = download_range("2017-01-01", "2030-01-01", 24 * HOUR_MS, now=now)
    assert (lo, hi) == (utc_ms(2018, 8, 13), utc_ms(2025, 12, 10))  # listing .. now, whole days
    assert download_range("2021-01-01T00:30:00Z", date(2021, 1, 2), HOUR_MS, now=now)[0] == utc_ms(
        2021, 1, 1, 1
    )
    with pytest.raises(ValueError, match="nothing to download"):
        download_range("2021-01-01", "2021-01-01", HOUR_MS, now=now)


def test_bad_arguments_and_conflicting_sources_are_refused(clean, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(clean.root, root)
    unused = DeribitClient("http://127.0.0.1:9/api/v2")  # never called: refused before any request
    store = Store(root)
    cases = [
        ({"timeframe": "4h"}, "timeframe '4h'"),
        ({"underlyings": ["DOGE"]}, "not supported"),
        ({"window_bars": 0}, "window_bars"),
        ({"fallback": DEFAULT_FALLBACK}, "IV fallback"),
        ({"timeframe": "1d", "fallback": RULE}, "holds BTC candles at 1h"),
    ]
    for options, message in cases:
        kwargs = {"underlyings": COINS, "start": START, "end": END, "client": unused} | options
        with pytest.raises(ValueError, match=message):
            warm_deribit(store, **kwargs)
    with pytest.raises(ValueError, match="window_days"):
        IvFallback(window_days=0)


# ---- command line ----------------------------------------------------------------------------


def test_cli_warm_deribit_downloads_and_prints_coverage(tmp_path, monkeypatch, capsys):
    argv = ["warm", "--source", "deribit", "--data-dir", str(tmp_path), "--underlying", "btc"]
    argv += ["--start", "2021-03-25", "--end", "2021-04-02"]
    with FakeDeribit() as server:
        monkeypatch.setenv(URL_ENV, server.url)
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "deribit  [deribit-mainnet]  Deribit mainnet - REAL" in out
        assert "BTC candles 1h: 2021-03-25 00:00 to 2021-04-02 00:00 UTC, 192 rows, 0 gaps" in out
        assert "BTC iv: 2021-03-31 00:00 to 2021-04-02 00:00 UTC, 48 rows, 0 gaps, 48 real" in out

        server.inject(
            "error", method="get_tradingview_chart_data", code=11050, message="bad_request"
        )
        assert main([*argv[:-1], "2021-04-03"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: deribit: fetching BTC-PERPETUAL 1h candles")
    assert "public/get_tradingview_chart_data: bad_request (code 11050)" in err
    assert "Traceback" not in err
