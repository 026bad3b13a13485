"""Recorded Deribit replies (../shared) as cache frames: dtypes, units and the rules of each kind.

Every reply is read from ``../shared/data/deribit_api_responses`` and parsed by the client's own
parser first, so the frames are built from exactly what the client hands the downloader and the
live feed. Tests skip when ../shared is absent.
"""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from cache.deribit import parse
from cache.deribit.frames import (
    candles_from_chart,
    chain_from_book_summary,
    iv_from_dvol,
    settlements_from_delivery_prices,
)
from cache.schema import (
    CANDLES_SCHEMA,
    CHAIN_SCHEMA,
    DELIVERY_SCHEMA,
    IV_SCHEMA,
    validate_candles,
    validate_chain,
    validate_delivery,
    validate_iv,
)
from cache.timeutil import EXPIRY_HOUR_UTC

MINUTE_MS = 60_000
CHARTS = {  # recording: resolution it was asked for (minutes; the docs example is half-hourly)
    "ccxt/public_get_tradingview_chart_data_BTC-PERPETUAL_1m.json": 1,
    "ccxt/static_public_get_tradingview_chart_data_BTC_USDT_1h.json": 60,
    "deribit_docs_openapi_examples/public_get_tradingview_chart_data.json": 30,
    "nautilus_trader/http_get_tradingview_chart_data.json": 1,
}
ONE_MINUTE_CHART = "nautilus_trader/http_get_tradingview_chart_data.json"
DVOL = "deribit_docs_openapi_examples/public_get_volatility_index_data.json"  # one-minute points
DELIVERY = "deribit_docs_openapi_examples/public_get_delivery_prices.json"
BOOKS = (
    "ccxt/public_get_book_summary_by_currency_option_BTC-28JUN24.json",
    "ccxt/public_get_book_summary_by_currency_option_2020_SYN_underlying.json",
    "deribit_docs_openapi_examples/public_get_book_summary_by_currency.json",
    "nautilus_trader/http_get_book_summary_by_currency.json",
)
BOOK_28JUN24 = BOOKS[0]
BOOK_TWO_ROWS = BOOKS[3]  # its put row leaves out mid_price, last, volume_usd and other optionals
INSTRUMENTS = (
    "ccxt/public_get_instruments_BTC_2022_mixed.json",
    "nautilus_trader/http_get_instruments.json",
)
HARVEST = datetime(2024, 3, 22, 9, 59, 54, 477_000, tzinfo=UTC)


def result(directory: Path, name: str):
    """The ``result`` of a recorded reply, as the client's transport returns it."""
    return parse.parse_envelope(json.loads((directory / name).read_text()))


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# ---- candles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "minutes"), CHARTS.items())
def test_recorded_chart_data_becomes_candles_with_usd_volume(api_responses_dir, name, minutes):
    chunk = parse.parse_chart_data(result(api_responses_dir, name))
    until = chunk["ticks"][-1] + minutes * MINUTE_MS
    candles = candles_from_chart([chunk], minutes, until)
    assert candles.schema == pl.Schema(CANDLES_SCHEMA)
    validate_candles(candles, name)  # the store accepts it as it is
    assert candles.get_column("time").to_list() == [utc_ms(t) for t in chunk["ticks"]]
    for column in ("open", "high", "low", "close"):
        assert candles.get_column(column).to_list() == chunk[column]
    assert candles.get_column("volume").to_list() == chunk["cost"]  # USD notional, not coin
    assert chunk["volume"] != chunk["cost"]


def test_only_bars_closed_by_the_limit_are_candles(api_responses_dir):
    chunk = parse.parse_chart_data(result(api_responses_dir, ONE_MINUTE_CHART))
    last = chunk["ticks"][-1]
    closed = candles_from_chart([chunk], 1, last + MINUTE_MS)
    forming = candles_from_chart([chunk], 1, last + MINUTE_MS - 1)
    assert closed.height == len(chunk["ticks"]) == forming.height + 1
    assert forming.get_column("time").max() == utc_ms(chunk["ticks"][-2])
    # The same bars asked for as hourly candles have not closed at all by then.
    assert candles_from_chart([chunk], 60, last + MINUTE_MS).is_empty()


def test_chunks_give_each_bar_once_first_seen_and_in_time_order(api_responses_dir):
    chunk = parse.parse_chart_data(result(api_responses_dir, ONE_MINUTE_CHART))
    again = copy.deepcopy(chunk)
    again["close"] = [c + 1.0 for c in again["close"]]
    later = {key: values[2:] for key, values in chunk.items() if key != "status"}
    earlier = {key: values[:2] for key, values in chunk.items() if key != "status"}
    candles = candles_from_chart([later, again, earlier], 1, chunk["ticks"][-1] + MINUTE_MS)
    assert candles.get_column("time").to_list() == [utc_ms(t) for t in chunk["ticks"]]
    # `later` came first and keeps its bars; `again` adds the two before them; `earlier` loses.
    expected = [c + 1.0 for c in chunk["close"][:2]] + chunk["close"][2:]
    assert candles.get_column("close").to_list() == expected


def test_no_chunks_give_an_empty_frame_in_the_schema():
    assert candles_from_chart([], 60, 0).schema == pl.Schema(CANDLES_SCHEMA)
    assert iv_from_dvol([], 3600, 0).schema == pl.Schema(IV_SCHEMA)


# ---- DVOL --------------------------------------------------------------------------------------


def dvol_rows(directory: Path) -> list[list[float]]:
    return parse.parse_volatility_index(result(directory, DVOL))["data"]


def percent_rows(directory: Path) -> list[list[float]]:
    """The recorded DVOL rows in percent, the unit Deribit publishes DVOL in today."""
    return [[row[0], *(100 * v for v in row[1:])] for row in dvol_rows(directory)]


def test_recorded_dvol_fractions_are_no_prints(api_responses_dir):
    rows = dvol_rows(api_responses_dir)
    assert all(row[4] < 1.0 for row in rows)  # the docs example holds fractions (0.21 = 21 %)
    iv = iv_from_dvol([rows], 60, rows[-1][0] + MINUTE_MS)
    assert iv.is_empty() and iv.schema == pl.Schema(IV_SCHEMA)


def test_dvol_closes_in_percent_become_real_iv_rows_of_closed_bars(api_responses_dir):
    rows = percent_rows(api_responses_dir)
    until = rows[-1][0] + MINUTE_MS
    iv = iv_from_dvol([rows], 60, until)
    assert iv.schema == pl.Schema(IV_SCHEMA)
    validate_iv(iv, DVOL)
    assert iv.get_column("time").to_list() == [utc_ms(row[0]) for row in rows]
    assert iv.get_column("iv").to_list() == [row[4] for row in rows]  # the close, percent
    assert iv.get_column("iv_is_real").all()
    assert iv_from_dvol([rows], 60, until - 1).height == len(rows) - 1  # last bar still forming


@pytest.mark.parametrize(
    ("close", "kept"), [(0.99, False), (1.0, True), (1000.0, True), (1000.5, False)]
)
def test_a_dvol_close_outside_1_to_1000_percent_is_no_print(api_responses_dir, close, kept):
    rows = percent_rows(api_responses_dir)
    rows[1][4] = close
    iv = iv_from_dvol([rows], 60, rows[-1][0] + MINUTE_MS)
    assert (utc_ms(rows[1][0]) in iv.get_column("time").to_list()) is kept
    assert iv.height == len(rows) - (not kept)


def test_first_valid_dvol_print_of_a_time_wins(api_responses_dir):
    rows = percent_rows(api_responses_dir)
    bad, good = [[*rows[0][:4], 0.2]], [[*rows[0][:4], 42.0]]
    iv = iv_from_dvol([bad, good, rows], 60, rows[-1][0] + MINUTE_MS)
    assert iv.row(0, named=True)["iv"] == 42.0 and iv.height == len(rows)


# ---- settlements -------------------------------------------------------------------------------


def test_delivery_prices_settle_at_08_utc_of_their_date_oldest_first(api_responses_dir):
    reply = parse.parse_delivery_prices(result(api_responses_dir, DELIVERY))
    settlements = settlements_from_delivery_prices(reply)
    assert settlements.schema == pl.Schema(DELIVERY_SCHEMA)
    validate_delivery(settlements, DELIVERY)
    by_date = {r["date"]: r["delivery_price"] for r in reply["data"]}
    expected = [
        (datetime.fromisoformat(day).replace(hour=EXPIRY_HOUR_UTC, tzinfo=UTC), price)
        for day, price in sorted(by_date.items())
    ]
    assert settlements.rows() == expected
    assert expected[-1][0] == datetime(2020, 1, 2, 8, tzinfo=UTC)  # Deribit sends newest first


# ---- chain snapshots ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOOKS)
def test_recorded_book_summaries_become_chain_snapshots(api_responses_dir, name):
    rows = parse.parse_book_summary(result(api_responses_dir, name))
    chain = chain_from_book_summary(rows, HARVEST)
    assert chain.schema == pl.Schema(CHAIN_SCHEMA)
    validate_chain(chain, name)
    assert chain.get_column("instrument_name").to_list() == [r["instrument_name"] for r in rows]
    assert chain.get_column("harvest_time").to_list() == [HARVEST] * len(rows)
    for row, snap in zip(rows, chain.iter_rows(named=True), strict=True):
        assert snap["underlying"] == row["base_currency"]
        assert snap["best_bid_price"] == row["bid_price"]
        assert snap["best_ask_price"] == row["ask_price"]
        for field in ("mark_price", "underlying_price", "underlying_index", "mark_iv", "volume"):
            assert snap[field] == row[field], field
    for column in ("bid_iv", "ask_iv", "greek_delta", "greek_gamma", "greek_theta", "greek_vega"):
        assert chain.get_column(column).is_null().all()  # the ticker has them, the summary not


def test_chain_reads_expiry_strike_and_type_from_the_name(api_responses_dir):
    [snap] = chain_from_book_summary(
        parse.parse_book_summary(result(api_responses_dir, BOOK_28JUN24)), HARVEST
    ).iter_rows(named=True)
    expiry = datetime(2024, 6, 28, EXPIRY_HOUR_UTC, tzinfo=UTC)
    assert (snap["instrument_name"], snap["underlying"]) == ("BTC-28JUN24-42000-C", "BTC")
    assert (snap["expiry"], snap["expiry_timestamp"]) == ("2024-06-28", expiry.timestamp())
    assert (snap["strike"], snap["option_type"]) == (42000.0, "C")
    assert (snap["mark_price"], snap["best_bid_price"], snap["best_ask_price"]) == (
        0.40752052,
        0.404,
        0.411,
    )  # coin
    assert snap["underlying_price"] == 68827.27 and snap["open_interest"] == 364.1  # USD; coin
    assert snap["mark_iv"] is None  # this recording has no mark_iv


def test_book_summary_row_without_optional_fields_gives_nulls(api_responses_dir):
    recorded = result(api_responses_dir, BOOK_TWO_ROWS)
    put = dict(recorded[1])
    assert "mid_price" not in put and "volume_usd" not in put  # optional, left out by Deribit
    del put["mark_iv"]
    put["bid_price"] = put["ask_price"] = None  # an empty book
    rows = parse.parse_book_summary([recorded[0], put])
    chain = chain_from_book_summary(rows, HARVEST)
    validate_chain(chain, BOOK_TWO_ROWS)
    call, snap = chain.iter_rows(named=True)
    assert snap["instrument_name"] == "BTC-28MAR25-90000-P" and snap["option_type"] == "P"
    assert snap["mark_iv"] is None and snap["best_bid_price"] is None
    assert snap["best_ask_price"] is None and snap["mark_price"] == 0.038
    assert call["mark_iv"] == 55.2 and call["best_bid_price"] == 0.040


def test_names_that_are_not_btc_eth_options_are_skipped(api_responses_dir):
    listed = [row for name in INSTRUMENTS for row in result(api_responses_dir, name)]
    others = {r["instrument_name"] for r in listed if r["kind"] != "option"}
    assert {"BTC-PERPETUAL", "BTC-27MAY22", "BTC-COMBO-1"} <= others
    options = parse.parse_book_summary(result(api_responses_dir, BOOK_TWO_ROWS))
    renamed = [dict(options[0], instrument_name=name) for name in sorted(others)]
    linear = dict(options[0], instrument_name="XRP_USDC-30JUN23-0d625-C")
    chain = chain_from_book_summary([*renamed[:1], *options, *renamed[1:], linear], HARVEST)
    assert chain.get_column("instrument_name").to_list() == [r["instrument_name"] for r in options]


def test_empty_book_summary_gives_an_empty_snapshot_in_the_schema():
    chain = chain_from_book_summary([], HARVEST)
    assert chain.is_empty() and chain.schema == pl.Schema(CHAIN_SCHEMA)
