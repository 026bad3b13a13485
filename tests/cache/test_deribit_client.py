"""DeribitClient against the fake Deribit server: retries, errors, paging, auth, orders, secrets."""

import itertools
import logging
import random
import socket
import time

import numpy as np
import pytest

from cache.deribit import (
    TESTNET_URL,
    AuthError,
    DeribitClient,
    DeribitError,
    InvalidParamsError,
    MalformedResponseError,
    MethodNotFoundError,
    RateLimitError,
    RetryableError,
)
from tests.fakes.deribit import FakeDeribit
from tests.fakes.deribit_market import DAY_MS, HOUR_MS, utc_ms

START = utc_ms(2025, 11, 1)
PAGING_START = utc_ms(2025, 5, 1)  # paging ranges end well before the fake's "now"
RETRIED_KINDS = [
    "rate_limit",
    "retry",
    "settlement_in_progress",
    "temporarily_unavailable",
    "http_500",
    "http_502",
    "http_429",
    "truncated",
    "malformed",
    "disconnect",
]


@pytest.fixture
def server():
    with FakeDeribit() as fake:
        yield fake


def make_client(server: FakeDeribit, delays: list | None = None, **options) -> DeribitClient:
    """A client of ``server`` that records backoff delays instead of sleeping."""
    settings = dict(
        client_id=server.client_id,
        client_secret=server.client_secret,
        timeout_s=5.0,
        max_retries=3,
        rng=random.Random(11),
        sleep=(delays.append if delays is not None else lambda s: None),
    )
    return DeribitClient(server.url, **(settings | options))


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v2"


# ---- transport and retries -------------------------------------------------------------------


def test_call_renders_params_as_deribit_reads_them(server):
    with make_client(server) as client:
        client.call("public/get_time", flag=True, off=False, tiny=1e-05, n=3, skip=None)
        rows = client.get_instruments("BTC", expired=True)
    params = server.requests[0].params
    assert params == {"flag": "true", "off": "false", "tiny": "0.00001", "n": "3"}
    assert server.requests[1].params == {"currency": "BTC", "kind": "option", "expired": "true"}
    assert rows and all(row["is_active"] is False for row in rows)


@pytest.mark.parametrize("kind", RETRIED_KINDS)
def test_each_retryable_fault_is_retried_to_the_correct_data(server, kind, caplog):
    window = (START, START + 2 * DAY_MS, 60)
    delays = []
    with make_client(server, delays) as client:
        clean = client.get_tradingview_chart_data("BTC-PERPETUAL", *window)
        server.inject(kind, method="get_tradingview_chart_data", times=2)
        with caplog.at_level(logging.WARNING, logger="cache.deribit.rpc"):
            faulted = client.get_tradingview_chart_data("BTC-PERPETUAL", *window)
    assert faulted == clean and len(clean["ticks"]) == 49
    assert [r.fault for r in server.requests] == [None, kind, kind, None]
    assert server.pending_faults() == 0
    assert 0.25 <= delays[0] <= 0.5 <= delays[1] <= 1.0  # equal jitter on 0.5 s, then 1 s
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "attempt 1 of 4" in warnings[0] and "attempt 2" in warnings[1]


def test_rate_limit_warning_names_the_code(server, caplog):
    server.inject("rate_limit", method="public/get_time")
    with caplog.at_level(logging.WARNING, logger="cache.deribit.rpc"), make_client(server) as c:
        assert c.get_time() == server.now_ms
    assert "too_many_requests (code 10028" in caplog.records[0].getMessage()


def test_timeout_is_retried_and_does_not_wedge_the_server(server):
    server.timeout_sleep_s = 0.5
    with make_client(server, timeout_s=0.2) as client:
        client.get_time()  # connection and caches warm, so only the fault is slow
        server.inject("timeout", method="get_time")
        started = time.monotonic()
        assert client.get_time() == server.now_ms
        elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.45  # the retry was answered while the fault was still sleeping
    assert [r.fault for r in server.requests] == [None, "timeout", None]


def test_gap_fault_is_asked_again_by_the_window_iterator(server):
    with make_client(server) as client:
        server.inject("gap", method="get_tradingview_chart_data")
        single = client.get_tradingview_chart_data("BTC-PERPETUAL", START, START + DAY_MS, 60)
        assert single["status"] == "no_data" and single["ticks"] == []
        server.inject("gap", method="get_tradingview_chart_data")
        chunks = list(client.iter_chart_windows("BTC-PERPETUAL", START, START + DAY_MS, 60))
    assert [c["ticks"][0] for c in chunks] == [START] and len(chunks[0]["ticks"]) == 25


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [
        (
            lambda c: c.get_volatility_index_data("XBT", START, START + DAY_MS, 3600),
            InvalidParamsError,
            -32602,
        ),
        (lambda c: c.call("public/no_such_method"), MethodNotFoundError, -32601),
        (lambda c: c.get_index_price("xrp_usd"), InvalidParamsError, -32602),
    ],
)
def test_non_retryable_errors_raise_at_once(server, call, error, code):
    delays = []
    with make_client(server, delays) as client, pytest.raises(error) as info:
        call(client)
    assert info.value.code == code and info.value.attempts == 1
    assert not isinstance(info.value, RetryableError) and delays == []


def test_invalid_params_expose_reason_and_param(server):
    with make_client(server) as client, pytest.raises(InvalidParamsError) as info:
        client.get_volatility_index_data("XBT", START, START + DAY_MS, 3600)
    assert (info.value.reason, info.value.param) == ("invalid currency", "currency")
    assert "public/get_volatility_index_data" in str(info.value)
    assert len(server.requests) == 1


def test_unknown_error_code_is_a_plain_deribit_error(server):
    server.inject("error", code=10009, message="not_enough_funds", method="get_time")
    with make_client(server) as client, pytest.raises(DeribitError) as info:
        client.get_time()
    assert type(info.value) is DeribitError and info.value.code == 10009


def test_exhausted_retries_raise_the_last_error_with_context(server):
    server.inject("rate_limit", method="get_time", times=10)
    delays = []
    with make_client(server, delays, max_retries=3) as client, pytest.raises(RateLimitError) as e:
        client.get_time()
    assert e.value.attempts == 4 and e.value.code == 10028 and len(server.requests) == 4
    assert str(e.value).startswith("public/get_time: too_many_requests (code 10028)")
    assert str(e.value).endswith("gave up after 4 attempts")
    for n, delay in enumerate(delays, start=1):
        step = min(30.0, 0.5 * 2 ** (n - 1))
        assert step / 2 <= delay <= step


def test_jitter_is_deterministic_with_a_seeded_rng(server):
    runs = []
    for _ in range(2):
        server.inject("http_500", method="get_time", times=3)
        delays = []
        with make_client(server, delays, rng=random.Random(5)) as client:
            client.get_time()
        runs.append(delays)
    assert runs[0] == runs[1] and len(set(runs[0])) == 3


def test_refused_connection_is_retried_then_raised():
    delays = []
    client = DeribitClient(closed_port_url(), max_retries=2, sleep=delays.append, timeout_s=1)
    with client, pytest.raises(RetryableError) as info:
        client.get_time()
    assert info.value.attempts == 3 and len(delays) == 2 and "connection failed" in str(info.value)


def test_bad_input_raises_value_error_before_any_request(server):
    with make_client(server) as client:
        with pytest.raises(ValueError, match="resolution"):
            client.get_tradingview_chart_data("BTC-PERPETUAL", START, START + DAY_MS, 7)
        with pytest.raises(ValueError, match="after end_ms"):
            client.get_volatility_index_data("BTC", START + 1, START, 3600)
        with pytest.raises(ValueError, match="label"):
            client.sell("BTC-26DEC25-100000-C", 1.0, price=0.01, label="x" * 65)
    assert server.requests == []


def test_numpy_integer_timestamps_are_accepted_and_floats_refused(server):
    with make_client(server) as client:
        candles = client.get_tradingview_chart_data(
            "BTC-PERPETUAL", np.int64(START), np.int64(START + HOUR_MS), "60"
        )
        with pytest.raises(ValueError, match="start_ms"):
            client.get_volatility_index_data("BTC", float(START), START + DAY_MS, 60)
    assert candles["ticks"] == [START, START + HOUR_MS]
    assert server.requests[0].params["start_timestamp"] == str(START)


def test_base_url_defaults_and_overrides():
    assert DeribitClient(testnet=True).base_url == TESTNET_URL
    assert DeribitClient("http://h/api/v2/", testnet=True).base_url == "http://h/api/v2"


# ---- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", ["last", "first"])
def test_chart_windows_return_every_candle_once_in_order(keep):
    start, end = PAGING_START + 17 * 60_000, PAGING_START + 120 * DAY_MS  # unaligned start
    gap = (PAGING_START + 30 * DAY_MS, PAGING_START + 32 * DAY_MS)
    with FakeDeribit(chart_max_candles=100_000, data_gaps=(gap,)) as big:
        reference = make_client(big).get_tradingview_chart_data("BTC-PERPETUAL", start, end, 60)
    with FakeDeribit(chart_max_candles=300, chart_keep=keep, data_gaps=(gap,)) as capped:
        chunks = list(make_client(capped).iter_chart_windows("BTC-PERPETUAL", start, end, 60))
    ticks = [t for chunk in chunks for t in chunk["ticks"]]
    assert ticks == reference["ticks"] and len(ticks) == 2880 - 49  # the gap spans 49 ticks
    assert ticks[0] == PAGING_START + HOUR_MS
    for column in ("open", "high", "low", "close", "volume", "cost"):
        assert [v for chunk in chunks for v in chunk[column]] == reference[column]
    assert all(a["ticks"][-1] < b["ticks"][0] for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("window_points", [1000, 10**9])
def test_dvol_paging_follows_continuation_backwards(overlap, window_points):
    start, end = PAGING_START, PAGING_START + 100 * DAY_MS
    with FakeDeribit(dvol_max_points=5000) as big:
        reference = make_client(big).get_volatility_index_data("ETH", start, end, 3600)
    assert reference["continuation"] is None and len(reference["data"]) == 2401
    with FakeDeribit(dvol_max_points=400, dvol_overlap=overlap) as capped:
        client = make_client(capped)
        chunks = list(client.iter_volatility_index("ETH", start, end, 3600, window_points))
        ends = [int(r.params["end_timestamp"]) for r in capped.requests]
    rows = [row for chunk in chunks for row in chunk]
    assert rows == reference["data"]
    if window_points == 10**9:  # one window: pure backward paging from the end
        assert ends[0] == end and ends == sorted(ends, reverse=True) and len(ends) == 7


def test_paging_helpers_skip_empty_windows_before_the_data_starts(server):
    with make_client(server) as client:
        dvol = list(
            client.iter_volatility_index("BTC", utc_ms(2021, 1, 1), utc_ms(2021, 5, 1), "1D")
        )
        chart = list(
            client.iter_chart_windows(
                "ETH-PERPETUAL", utc_ms(2019, 6, 1), utc_ms(2019, 7, 1), "1D", window_candles=10
            )
        )
    assert dvol[0][0][0] == utc_ms(2021, 3, 31)
    assert sum(len(c["ticks"]) for c in chart) == 7  # listed 25 Jun: 25 Jun .. 1 Jul


# ---- authentication, orders, secrets ---------------------------------------------------------


class Clock:
    """A manual monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_cached_and_refreshed_before_expiry(server):
    clock = Clock()
    with make_client(server, clock=clock) as client:
        client.get_positions("BTC")
        client.get_account_summary("BTC")
        clock.now += 900 - 61  # still outside the 60 s refresh margin
        client.get_positions("BTC")
        clock.now += 2  # inside the margin: refresh with the refresh token
        client.get_positions("BTC")
        clock.now += 1000  # expired: log in again
        client.get_positions("BTC")
    auths = [r.params for r in server.requests if r.method == "public/auth"]
    assert [a["grant_type"] for a in auths] == [
        "client_credentials",
        "refresh_token",
        "client_credentials",
    ]
    private = [r for r in server.requests if r.method.startswith("private/")]
    assert len(private) == 5 and all(r.authorization for r in private)
    assert all(r.http_method == "POST" for r in server.requests if r.method == "public/auth")


def test_token_rejected_by_the_server_triggers_one_reauthentication(server):
    with make_client(server) as client:
        client.get_positions("BTC")
        server.now_ms += 901_000  # the server's clock moves past the token's expiry
        assert client.get_positions("BTC") == []
    assert server.methods() == [
        "public/auth",
        "private/get_positions",
        "private/get_positions",
        "public/auth",
        "private/get_positions",
    ]
    assert server.requests[3].params["grant_type"] == "refresh_token"


def test_wrong_credentials_and_missing_credentials_raise_auth_errors(server):
    client = make_client(server, client_secret="wrong-secret")
    with client, pytest.raises(AuthError) as info:
        client.get_account_summary("BTC")
    assert info.value.code == 13004 and "wrong-secret" not in str(info.value)
    assert server.methods() == ["public/auth"]
    with DeribitClient(server.url) as anonymous, pytest.raises(AuthError, match="client_id"):
        anonymous.get_positions("BTC")
    assert len(server.requests) == 1


def test_sell_and_buy_back_round_trip(server):
    with make_client(server) as client:
        chain = client.get_book_summary_by_currency("BTC")
        call = next(
            r
            for r in chain
            if r["instrument_name"].endswith("-C") and r["bid_price"] and r["bid_price"] > 0.01
        )
        before = client.get_account_summary("BTC")["balance"]
        sold = client.sell(call["instrument_name"], 2.0, price=call["bid_price"], label="cc-1")
        positions = client.get_positions("BTC")
        after_sale = client.get_account_summary("BTC")
        resting = client.buy(call["instrument_name"], 2.0, price=0.0001, post_only=True)
        bought = client.buy(call["instrument_name"], 2.0, type="market")
        final = client.get_positions("BTC")
    fee = 2 * 0.0003
    assert sold["order"]["order_state"] == "filled" and sold["order"]["label"] == "cc-1"
    assert sold["trades"][0]["price"] == call["bid_price"] and sold["trades"][0]["fee"] == fee
    assert positions[0]["size"] == -2.0 and positions[0]["direction"] == "sell"
    assert positions[0]["average_price"] == call["bid_price"]
    assert after_sale["balance"] == pytest.approx(before + 2 * call["bid_price"] - fee)
    assert after_sale["initial_margin"] > 0.2 and after_sale["options_value"] < 0
    assert resting["order"]["order_state"] == "open" and resting["trades"] == []
    assert bought["order"]["price"] is None and bought["trades"][0]["price"] == call["ask_price"]
    assert final == []


def test_orders_are_not_resent_after_an_ambiguous_failure(server):
    with make_client(server, timeout_s=0.2) as client:
        name = client.get_book_summary_by_currency("BTC")[60]["instrument_name"]
        server.inject("timeout", method="private/sell")
        with pytest.raises(RetryableError) as info:
            client.sell(name, 1.0, type="market")
        assert info.value.ambiguous and info.value.attempts == 1
        server.inject("rate_limit", method="private/sell")
        client.sell(name, 1.0, type="market")  # a 10028 reply means "not executed": retried
    deadline = time.monotonic() + 2
    while len(server.account.orders) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sells = [r for r in server.requests if r.method == "private/sell"]
    assert [r.fault for r in sells] == ["timeout", "rate_limit", None]
    assert len(server.account.orders) == 2


def test_secrets_stay_out_of_repr_errors_and_logs(server, caplog):
    secret = server.client_secret
    with caplog.at_level(logging.DEBUG), make_client(server) as client:
        assert secret not in repr(client) and server.client_id not in repr(client)
        server.account.client_secret = "rotated"
        with pytest.raises(AuthError) as info:
            client.auth()
        server.account.client_secret = secret
        server.inject("http_502", method="private/get_positions")
        client.get_positions("BTC")
    tokens = list(server.account.tokens) + list(server.account.refresh_tokens)
    text = "\n".join(r.getMessage() for r in caplog.records) + str(info.value)
    assert tokens and not any(t in text for t in [secret, *tokens])
    assert any("retrying" in r.getMessage() for r in caplog.records)


def test_malformed_envelope_is_retryable_and_then_raised(server):
    server.inject("malformed", method="get_time", times=5)
    with make_client(server, max_retries=1) as client, pytest.raises(MalformedResponseError):
        client.get_time()
