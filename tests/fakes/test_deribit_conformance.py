"""Recorded Deribit responses (../shared) against the client's parsers and the fake server.

(1) The parsers accept every recorded response of the endpoints thetadesk uses and return numbers
as numbers (ccxt's static recordings carry them as strings). (2) The fake server answers each of
those endpoints with the same envelope and, for every field the parsers rely on (the ``RowSpec``
lists in cache/deribit/parse.py) that a recording holds, the same key with the same JSON type; a
field the spec marks nullable may also be null. (3) The fake's chain obeys Deribit's pricing
identity (checked with engine.pricing, an independent Black-76). Tests that read ../shared skip
when it is absent.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from cache.deribit import InvalidParamsError, RateLimitError
from cache.deribit import parse as p
from tests.fakes.deribit import FakeDeribit
from tests.fakes.deribit_market import DAY_MS, utc_ms

# ccxt's static response tests store numbers as strings: those count as numbers here.
STRINGIFIED = frozenset(
    {
        "ccxt/static_public_get_tradingview_chart_data_BTC_USDT_1h.json",
        "ccxt/static_public_ticker_BTC_USDT.json",
        "ccxt/static_public_get_last_trades_by_instrument_BTC_USDT.json",
    }
)
CHART = (
    "ccxt/public_get_tradingview_chart_data_BTC-PERPETUAL_1m.json",
    "ccxt/static_public_get_tradingview_chart_data_BTC_USDT_1h.json",
    "deribit_docs_openapi_examples/public_get_tradingview_chart_data.json",
    "nautilus_trader/http_get_tradingview_chart_data.json",
)
DVOL = ("deribit_docs_openapi_examples/public_get_volatility_index_data.json",)
DELIVERY = ("deribit_docs_openapi_examples/public_get_delivery_prices.json",)
BOOK = (
    "ccxt/public_get_book_summary_by_currency_option_BTC-28JUN24.json",
    "ccxt/public_get_book_summary_by_currency_option_2020_SYN_underlying.json",
    "deribit_docs_openapi_examples/public_get_book_summary_by_currency.json",
    "nautilus_trader/http_get_book_summary_by_currency.json",
)
INSTRUMENTS = (
    "ccxt/public_get_instruments_BTC_2022_mixed.json",
    "deribit_docs_openapi_examples/public_get_instruments.json",
    "gec/public_get_instruments_ETH_option_ETH-6JUL25.json",
    "nautilus_trader/http_get_instruments.json",
)
OPTION_TICKER = "ccxt/public_ticker_option_BTC-27SEP24-40000-C.json"
PERPETUAL_TICKER = "deribit_docs_openapi_examples/public_ticker.json"
SPOT_TICKER = "ccxt/static_public_ticker_BTC_USDT.json"
TIME = ("deribit_docs_openapi_examples/public_get_time.json", "nautilus_trader/http_get_time.json")
AUTH = "deribit_docs_openapi_examples/public_auth.json"
FILLED_ORDERS = (
    "deribit_docs_openapi_examples/private_buy.json",
    "deribit_docs_openapi_examples/private_sell.json",
)
OPEN_ORDERS = (
    "nautilus_trader/ws_order_buy_response.json",
    "nautilus_trader/ws_order_sell_response.json",
)
POSITIONS = (
    "deribit_docs_openapi_examples/private_get_positions.json",
    "nautilus_trader/http_get_positions.json",
)
ACCOUNT = "deribit_docs_openapi_examples/private_get_account_summary.json"
ACCOUNTS = "nautilus_trader/http_get_account_summaries.json"  # each summary is one account row
INVALID_PARAMS = "ccxt/error_invalid_params_-32602.json"
RATE_LIMITED = "nautilus_trader/ws_error.json"  # hand-written; its null data is not required

PARSERS = {
    **dict.fromkeys(CHART, p.parse_chart_data),
    **dict.fromkeys(DVOL, p.parse_volatility_index),
    **dict.fromkeys(DELIVERY, p.parse_delivery_prices),
    **dict.fromkeys(BOOK, p.parse_book_summary),
    **dict.fromkeys(INSTRUMENTS, p.parse_instruments),
    **dict.fromkeys((OPTION_TICKER, PERPETUAL_TICKER, SPOT_TICKER), p.parse_ticker),
    **dict.fromkeys(TIME, p.parse_time),
    AUTH: p.parse_auth,
    **dict.fromkeys(FILLED_ORDERS + OPEN_ORDERS, p.parse_order_response),
    **dict.fromkeys(POSITIONS, p.parse_positions),
    ACCOUNT: p.parse_account_summary,
    ACCOUNTS: lambda result: [p.parse_account_summary(s) for s in result["summaries"]],
}
NOT_USED = {  # recordings of endpoints the client does not call, with the reason
    "ccxt/public_get_book_summary_by_instrument_option_BTC-27DEC24-240000-C.json": "by instrument",
    "ccxt/public_get_historical_volatility_BTC.json": "historical volatility",
    "ccxt/static_public_get_last_trades_by_instrument_BTC_USDT.json": "trades",
    "ccxt/trade_object_public_BTC-PERPETUAL.json": "trades",
    "deribit_docs_openapi_examples/public_get_book_summary_by_instrument.json": "by instrument",
    "deribit_docs_openapi_examples/public_get_expirations.json": "expirations",
    "deribit_docs_openapi_examples/public_get_funding_rate_history.json": "funding",
    "deribit_docs_openapi_examples/public_get_historical_volatility.json": "historical vol",
    "deribit_docs_openapi_examples/public_get_index_chart_data.json": "index chart",
    "deribit_docs_openapi_examples/public_get_instrument.json": "single instrument",
    "deribit_docs_openapi_examples/public_get_last_trades_by_currency_and_time.json": "trades",
    "deribit_docs_openapi_examples/public_get_last_trades_by_instrument.json": "trades",
    "deribit_docs_openapi_examples/public_get_last_trades_by_instrument_and_time.json": "trades",
    "deribit_docs_openapi_examples/public_get_mark_price_history.json": "mark history",
    "nautilus_trader/http_get_expirations_any.json": "expirations",
    "nautilus_trader/http_get_expirations_btc_option.json": "expirations",
    "nautilus_trader/http_get_instrument_option.json": "single instrument",
    "nautilus_trader/http_get_last_trades.json": "trades",
    "nautilus_trader/http_get_order_book.json": "order book",
    "nautilus_trader/http_test.json": "public/test",
    "nautilus_trader/ws_chart.json": "websocket",
    "nautilus_trader/ws_quote.json": "websocket",
    "nautilus_trader/ws_subscribe_response.json": "websocket",
    "nautilus_trader/ws_test_request.json": "websocket",
    "nautilus_trader/ws_ticker.json": "websocket",
    "nautilus_trader/ws_trades.json": "websocket",
    "nautilus_trader/ws_volatility_index.json": "websocket",
}
WINDOW = (utc_ms(2025, 11, 1), utc_ms(2025, 11, 1) + DAY_MS)


def load(directory: Path, name: str) -> dict:
    return json.loads((directory / name).read_text())


def kind(value, stringified: bool = False) -> str:
    """The JSON type of ``value``; numeric strings count as numbers in stringified files."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if stringified:
            try:
                float(value)
                return "number"
            except ValueError:
                pass
        return "string"
    return "array" if isinstance(value, list) else "object"


def assert_same_shape(recorded: dict, fake_rows: list[dict], spec: p.RowSpec, source: str):
    """Every spec field of ``recorded`` is in each fake row with the recorded JSON type."""
    stringified = source in STRINGIFIED
    for key in spec.fields:
        if key not in recorded:
            continue
        where = f"{spec.name}.{key} (vs {source})"
        got = {kind(row[key]) if key in row else "missing" for row in fake_rows}
        assert "missing" not in got, f"the fake omits {where}"
        want = kind(recorded[key], stringified)
        if want == "null":
            continue
        allowed = {want, "null"} if key in spec.nullable else {want}
        assert got <= allowed and want in got, f"{where}: fake {got}, recorded {want}"
    for key, sub in spec.nested:
        if isinstance(recorded.get(key), dict):
            assert_same_shape(recorded[key], [row[key] for row in fake_rows], sub, source)
    if recorded.get("tick_size_steps"):
        steps = [step for row in fake_rows for step in row["tick_size_steps"]]
        assert_same_shape(recorded["tick_size_steps"][0], steps, p.TICK_SIZE_STEP, source)


def assert_same_envelope(recorded: dict, fake: dict, source: str) -> None:
    stringified = source in STRINGIFIED
    assert fake["jsonrpc"] == recorded["jsonrpc"] == "2.0"
    for key in recorded.keys() - {"jsonrpc", "id", "result", "error"}:
        assert key in fake, f"the fake's envelope lacks {key} (vs {source})"
        assert kind(fake[key]) == kind(recorded[key], stringified), f"envelope {key} ({source})"
    assert ("result" in fake) == ("result" in recorded)


@pytest.fixture(scope="module")
def fake():
    with FakeDeribit() as server:
        yield server


@pytest.fixture(scope="module")
def http(fake):
    with httpx.Client(base_url=fake.url + "/", timeout=10) as client:
        yield client


def rpc(http: httpx.Client, method: str, token: str | None = None, **params) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(method, params=params, headers=headers).json()


@pytest.fixture(scope="module")
def private(fake, http):
    """Envelopes of auth, a filled sell, a resting buy, positions and the account summary."""
    auth = http.post(
        "public/auth",
        json={
            "jsonrpc": "2.0",
            "id": 7,
            "method": "public/auth",
            "params": {
                "grant_type": "client_credentials",
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
            },
        },
    ).json()
    token = auth["result"]["access_token"]
    chain = rpc(http, "public/get_book_summary_by_currency", currency="BTC", kind="option")
    row = next(r for r in chain["result"] if r["bid_price"] and r["bid_price"] > 0.01)
    name = row["instrument_name"]
    return {
        "auth": auth,
        "filled": rpc(
            http,
            "private/sell",
            token,
            instrument_name=name,
            amount="1",
            type="limit",
            price=str(row["bid_price"]),
            label="conformance",
        ),
        "open": rpc(
            http,
            "private/buy",
            token,
            instrument_name=name,
            amount="1",
            type="limit",
            price="0.0001",
            post_only="true",
        ),
        "positions": rpc(http, "private/get_positions", token, currency="BTC", kind="option"),
        "account": rpc(http, "private/get_account_summary", token, currency="BTC"),
    }


# ---- (1) the parsers accept every recording --------------------------------------------------


def test_every_recording_is_parsed_or_set_aside_with_a_reason(api_responses_dir):
    files = {str(f.relative_to(api_responses_dir)) for f in api_responses_dir.rglob("*.json")}
    classified = set(PARSERS) | set(NOT_USED) | {INVALID_PARAMS, RATE_LIMITED}
    assert files == classified


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_accepts_recording(api_responses_dir, name):
    parsed = PARSERS[name](p.parse_envelope(load(api_responses_dir, name)))
    rows_and_specs = {
        p.parse_book_summary: lambda r: [(row, p.BOOK_SUMMARY) for row in r],
        p.parse_instruments: lambda r: [(row, p.INSTRUMENT) for row in r],
        p.parse_positions: lambda r: [(row, p.POSITION) for row in r],
        p.parse_ticker: lambda r: [(r, p.TICKER)],
        p.parse_auth: lambda r: [(r, p.AUTH)],
        p.parse_account_summary: lambda r: [(r, p.ACCOUNT_SUMMARY)],
        PARSERS[ACCOUNTS]: lambda r: [(row, p.ACCOUNT_SUMMARY) for row in r],
        p.parse_delivery_prices: lambda r: [(row, p.DELIVERY_PRICE) for row in r["data"]],
        p.parse_order_response: lambda r: (
            [(r["order"], p.ORDER)] + [(t, p.TRADE) for t in r["trades"]]
        ),
    }
    parser = PARSERS[name]
    if parser is p.parse_chart_data:
        assert parsed["status"] == "ok" and parsed["ticks"]
        assert all(type(t) is int for t in parsed["ticks"])
        assert all(
            type(v) is float
            for c in ("open", "high", "low", "close", "volume", "cost")
            for v in parsed[c]
        )
    elif parser is p.parse_volatility_index:
        assert all(
            type(r[0]) is int and all(type(v) is float for v in r[1:]) for r in parsed["data"]
        )
    elif parser is p.parse_time:
        assert type(parsed) is int and parsed > 1.5e12
    else:
        pairs = rows_and_specs[parser](parsed)
        assert pairs
        for row, spec in pairs:
            assert_typed(row, spec)


def assert_typed(row: dict, spec: p.RowSpec) -> None:
    """Every spec field is present; numeric ones are float/int (or None)."""
    for key in spec.fields:
        value = row[key]
        if key in spec.floats:
            assert value is None or type(value) is float, f"{spec.name}.{key}={value!r}"
        elif key in spec.ints:
            assert value is None or type(value) is int, f"{spec.name}.{key}={value!r}"
    for key, sub in spec.nested:
        if row[key] is not None:
            assert_typed(row[key], sub)


def test_stringified_numbers_become_numbers(api_responses_dir):
    ticker = p.parse_ticker(p.parse_envelope(load(api_responses_dir, SPOT_TICKER)))
    assert ticker["best_bid_price"] == 73418.58 and ticker["timestamp"] == 1710328244150
    assert isinstance(ticker["timestamp"], int) and ticker["stats"]["volume"] == 25.9035


def test_recorded_errors_raise_their_classes(api_responses_dir):
    with pytest.raises(InvalidParamsError) as invalid:
        p.parse_envelope(load(api_responses_dir, INVALID_PARAMS))
    assert (invalid.value.reason, invalid.value.param) == ("invalid currency", "currency")
    with pytest.raises(RateLimitError) as limited:
        p.parse_envelope(load(api_responses_dir, RATE_LIMITED))
    assert limited.value.code == 10028 and limited.value.message == "too_many_requests"


# ---- (2) the fake speaks the recorded shapes -------------------------------------------------


@pytest.mark.parametrize("name", CHART)
def test_fake_chart_data_matches(api_responses_dir, http, name):
    recorded = load(api_responses_dir, name)
    fake = rpc(
        http,
        "public/get_tradingview_chart_data",
        instrument_name="BTC-PERPETUAL",
        start_timestamp=WINDOW[0],
        end_timestamp=WINDOW[1],
        resolution="60",
    )
    assert_same_envelope(recorded, fake, name)
    stringified = name in STRINGIFIED
    assert set(fake["result"]) == set(recorded["result"])
    for key, values in recorded["result"].items():
        assert kind(fake["result"][key]) == kind(values)
        if isinstance(values, list):
            assert {kind(v) for v in fake["result"][key]} == {kind(v, stringified) for v in values}


def test_fake_volatility_index_matches(api_responses_dir, http):
    recorded = load(api_responses_dir, DVOL[0])
    fake = rpc(
        http,
        "public/get_volatility_index_data",
        currency="BTC",
        start_timestamp=WINDOW[0],
        end_timestamp=WINDOW[1],
        resolution="3600",
    )
    assert_same_envelope(recorded, fake, DVOL[0])
    assert (
        set(fake["result"]) == {"data", "continuation"} and fake["result"]["continuation"] is None
    )
    shapes = {tuple(kind(v) for v in row) for row in fake["result"]["data"]}
    assert shapes == {tuple(kind(v) for v in recorded["result"]["data"][0])}


def test_fake_delivery_prices_match(api_responses_dir, http):
    recorded = load(api_responses_dir, DELIVERY[0])
    fake = rpc(http, "public/get_delivery_prices", index_name="btc_usd", offset=0, count=5)
    assert_same_envelope(recorded, fake, DELIVERY[0])
    assert kind(fake["result"]["records_total"]) == "number"
    assert_same_shape(
        recorded["result"]["data"][0], fake["result"]["data"], p.DELIVERY_PRICE, DELIVERY[0]
    )


def test_fake_index_price_has_the_documented_fields(http):
    fake = rpc(http, "public/get_index_price", index_name="eth_usd")
    assert {k: kind(v) for k, v in fake["result"].items()} == {
        "index_price": "number",
        "estimated_delivery_price": "number",
    }


@pytest.mark.parametrize("name", BOOK)
def test_fake_book_summary_matches(api_responses_dir, http, name):
    recorded = load(api_responses_dir, name)
    fake = rpc(http, "public/get_book_summary_by_currency", currency="BTC", kind="option")
    assert_same_envelope(recorded, fake, name)
    for row in recorded["result"]:
        assert_same_shape(row, fake["result"], p.BOOK_SUMMARY, name)


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_fake_instruments_match_recorded_option_rows(api_responses_dir, http, name):
    recorded = load(api_responses_dir, name)
    fake = rpc(http, "public/get_instruments", currency="ETH", kind="option", expired="false")
    assert_same_envelope(recorded, fake, name)
    for row in (r for r in recorded["result"] if r["kind"] == "option"):
        assert_same_shape(row, fake["result"], p.INSTRUMENT, name)


@pytest.mark.parametrize("name", [OPTION_TICKER, PERPETUAL_TICKER])
def test_fake_ticker_matches(api_responses_dir, http, name):
    recorded = load(api_responses_dir, name)
    if name == OPTION_TICKER:
        chain = rpc(http, "public/get_book_summary_by_currency", currency="BTC", kind="option")
        traded = next(r for r in chain["result"] if r["last"] and r["bid_price"])
        instrument = traded["instrument_name"]
    else:
        instrument = "BTC-PERPETUAL"
    fake = rpc(http, "public/ticker", instrument_name=instrument)
    assert_same_envelope(recorded, fake, name)
    assert_same_shape(recorded["result"], [fake["result"]], p.TICKER, name)


@pytest.mark.parametrize("name", TIME)
def test_fake_time_matches(api_responses_dir, http, name):
    recorded = load(api_responses_dir, name)
    fake = rpc(http, "public/get_time")
    assert_same_envelope(recorded, fake, name)
    assert kind(fake["result"]) == kind(recorded["result"]) == "number"


def test_fake_auth_matches_and_echoes_the_id(api_responses_dir, private):
    recorded = load(api_responses_dir, AUTH)
    assert_same_envelope(recorded, private["auth"], AUTH)
    assert private["auth"]["id"] == 7
    assert_same_shape(recorded["result"], [private["auth"]["result"]], p.AUTH, AUTH)


@pytest.mark.parametrize("name", FILLED_ORDERS + OPEN_ORDERS)
def test_fake_orders_match(api_responses_dir, private, name):
    recorded = load(api_responses_dir, name)
    fake = private["filled" if name in FILLED_ORDERS else "open"]
    assert_same_envelope(recorded, fake, name)
    assert_same_shape(recorded["result"]["order"], [fake["result"]["order"]], p.ORDER, name)
    assert len(fake["result"]["trades"]) == len(recorded["result"]["trades"])
    for trade in recorded["result"]["trades"]:
        assert_same_shape(trade, fake["result"]["trades"], p.TRADE, name)


@pytest.mark.parametrize("name", POSITIONS)
def test_fake_positions_match(api_responses_dir, private, name):
    recorded = load(api_responses_dir, name)
    assert_same_envelope(recorded, private["positions"], name)
    assert len(private["positions"]["result"]) == 1
    assert_same_shape(recorded["result"][0], private["positions"]["result"], p.POSITION, name)


def test_fake_account_summary_matches(api_responses_dir, private):
    fake = private["account"]
    recorded = load(api_responses_dir, ACCOUNT)
    assert_same_envelope(recorded, fake, ACCOUNT)
    assert_same_shape(recorded["result"], [fake["result"]], p.ACCOUNT_SUMMARY, ACCOUNT)
    for summary in load(api_responses_dir, ACCOUNTS)["result"]["summaries"]:
        assert_same_shape(summary, [fake["result"]], p.ACCOUNT_SUMMARY, ACCOUNTS)


def test_fake_errors_match(api_responses_dir, fake, http):
    recorded = load(api_responses_dir, INVALID_PARAMS)
    invalid = rpc(
        http,
        "public/get_volatility_index_data",
        currency="XBT",
        start_timestamp=WINDOW[0],
        end_timestamp=WINDOW[1],
        resolution="60",
    )
    assert_same_envelope(recorded, invalid, INVALID_PARAMS)
    assert invalid["error"] == recorded["error"]  # same code, message, reason and param
    fake.inject("rate_limit", method="public/get_time")
    limited = http.get("public/get_time")
    recorded = load(api_responses_dir, RATE_LIMITED)
    assert limited.status_code == 429
    assert {k: limited.json()["error"][k] for k in ("code", "message")} == {
        k: recorded["error"][k] for k in ("code", "message")
    }


# ---- (3) the fake's chain obeys Deribit's pricing identity -----------------------------------


def test_fake_chain_obeys_the_pricing_identity_and_matches_its_instruments(fake, http):
    """mark = Black-76(underlying_price, strike, T to 08:00 ACT/365, mark_iv) / forward, as in
    the real snapshots; names, strikes, types and expiries agree with get_instruments."""
    from engine.pricing import greeks, option_price

    chain = rpc(http, "public/get_book_summary_by_currency", currency="BTC", kind="option")
    listed = rpc(http, "public/get_instruments", currency="BTC", kind="option")["result"]
    instruments = {row["instrument_name"]: row for row in listed}
    rows = chain["result"]
    assert len(rows) > 300 and set(instruments) == {r["instrument_name"] for r in rows}
    for name, row in instruments.items():
        expiry = datetime.fromtimestamp(row["expiration_timestamp"] / 1000, UTC)
        code = f"{expiry.day}{expiry.strftime('%b').upper()}{expiry.year % 100:02d}"
        assert (expiry.hour, expiry.minute) == (8, 0) and row["creation_timestamp"] <= fake.now_ms
        assert name == f"BTC-{code}-{row['strike']:g}-{row['option_type'][0].upper()}"
    legs = [instruments[r["instrument_name"]] for r in rows]
    t_years = np.array(
        [(leg["expiration_timestamp"] - fake.now_ms) / (365 * DAY_MS) for leg in legs]
    )
    args = (
        np.array([r["underlying_price"] for r in rows]),
        np.array([leg["strike"] for leg in legs]),
        t_years,
        np.array([r["mark_iv"] for r in rows]) / 100,
        np.array([leg["option_type"] == "call" for leg in legs]),
    )
    error = np.abs(option_price(*args) - np.array([r["mark_price"] for r in rows]))
    assert np.median(error) < 5e-6 and error.max() < 5e-5  # IV and forward are rounded
    ticker = rpc(http, "public/ticker", instrument_name=rows[len(rows) // 2]["instrument_name"])
    i = len(rows) // 2
    expected = greeks(*(a[i] for a in args))
    got = ticker["result"]["greeks"]
    assert got["delta"] == pytest.approx(expected.delta_usd, abs=2e-4)
    assert got["vega"] == pytest.approx(expected.vega, rel=1e-3)
    assert got["theta"] == pytest.approx(expected.theta, rel=1e-3)


def test_fake_candles_agree_across_resolutions(http):
    """One hourly candle summarises its 60 minute candles (one path behind every resolution)."""
    hour_start = utc_ms(2025, 11, 3, 14)
    minutes = rpc(
        http,
        "public/get_tradingview_chart_data",
        instrument_name="ETH-PERPETUAL",
        start_timestamp=hour_start,
        end_timestamp=hour_start + 59 * 60_000,
        resolution="1",
    )["result"]
    hour = rpc(
        http,
        "public/get_tradingview_chart_data",
        instrument_name="ETH-PERPETUAL",
        start_timestamp=hour_start,
        end_timestamp=hour_start,
        resolution="60",
    )["result"]
    assert len(minutes["ticks"]) == 60 and hour["ticks"] == [hour_start]
    assert hour["open"] == [minutes["open"][0]] and hour["close"] == [minutes["close"][-1]]
    assert hour["high"] == [max(minutes["high"])] and hour["low"] == [min(minutes["low"])]
    assert hour["cost"] == [sum(minutes["cost"])]
    assert hour["volume"][0] == pytest.approx(sum(minutes["volume"]), abs=1e-6)
