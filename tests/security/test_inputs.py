"""Bad input, as a careless user or a hostile page sends it, against a real ``thetadesk serve``.

Each refusal must be a 4xx in the app's one error shape (``error`` a sentence, ``detail`` a list
naming the field at fault and why), ``/api/backtest/start``'s with ``"started": false``, and must
start nothing. Nothing here may reach a 500: dates past what UTC can hold, booleans for numbers,
unknown or unusable sources, malformed or non-UTF-8 bodies.
"""

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from api.schemas import ErrorResponse
from cache.store import Store
from tests.browser.live_server import LiveServer, copy_data_dir
from tests.cache.helpers import T0, make_candles, make_iv

BODY = {
    "underlying": "BTC",
    "start": "2022-01-01",
    "end": "2022-02-01",
    "timeframe": "1h",
    "decision_interval_hours": 24,
    "exit_style": "hold_to_expiry",
}
JSON = {"Content-Type": "application/json"}
DAILY = {"source": "daily", "start": "2024-01-10", "end": "2024-02-01"}  # 1d candles only


@pytest.fixture(scope="module")
def server(synthetic_data_dir, tmp_path_factory) -> Iterator[LiveServer]:
    """A server whose cache holds the synthetic market, an empty source and a daily-only one."""
    data_dir = copy_data_dir(synthetic_data_dir, tmp_path_factory.mktemp("inputs"))
    store = Store(data_dir)
    store.ensure_source("empty", "import", label="nothing imported yet")
    store.ensure_source("daily", "import", label="daily candles")
    store.write_candles("daily", "BTC", make_candles(T0, 60, step_h=24), timeframe="1d")
    store.write_iv("daily", "BTC", make_iv(T0, 60 * 24))
    # the agent cycles once and then waits: its endpoints answer, it trades nothing meanwhile
    with LiveServer(data_dir, env={"THETADESK_AGENT_CYCLE_SECONDS": "3600"}) as live:
        yield live
    shutil.rmtree(data_dir, ignore_errors=True)


def refused(res: httpx.Response, status: int, *fields: str) -> dict:
    """Check ``res`` is ``status`` in the one error shape, naming exactly ``fields``."""
    assert res.status_code == status, res.text
    body = res.json()
    ErrorResponse.model_validate(body)
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], list) and body["detail"], body
    assert [d["field"] for d in body["detail"]] == list(fields), body
    assert all(d["message"] for d in body["detail"])
    return body


def backtest_status(server: LiveServer) -> dict:
    return httpx.get(f"{server.url}/api/backtest/status", timeout=10).json()


def start(server: LiveServer, **request) -> tuple[httpx.Response, dict]:
    """POST a start; return the answer and the backtest status from before it."""
    before = backtest_status(server)
    return httpx.post(f"{server.url}/api/backtest/start", timeout=30, **request), before


def not_started(server: LiveServer, body: dict, before: dict) -> None:
    assert body["started"] is False
    after = backtest_status(server)
    assert not after["running"] and after["started_at"] == before["started_at"], after


def wait_until_stopped(server: LiveServer) -> None:
    httpx.post(f"{server.url}/api/backtest/stop", timeout=10)
    deadline = time.monotonic() + 30
    while backtest_status(server)["running"]:
        assert time.monotonic() < deadline, "the backtest did not stop"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("change", "status", "fields", "words"),
    [
        ({"start": "0001-01-01T00:00:00+01:00"}, 422, ["start"], "outside the dates UTC"),
        ({"end": "9999-12-31T23:00:00-05:00"}, 422, ["end"], "outside the dates UTC"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, 400, ["start", "end"], "cover 2019"),
        ({"end": "9999-12-31"}, 400, ["end"], "cover 2019"),
        ({"decision_interval_hours": True}, 422, ["decision_interval_hours"], "not a boolean"),
        ({"target_delta": False}, 422, ["target_delta"], "not a boolean"),
        ({"max_rolls_per_chain": True}, 422, ["max_rolls_per_chain"], "not a boolean"),
        ({"position_size": "1"}, 422, ["position_size"], "valid number"),
        ({"decision_interval_hours": "24"}, 422, ["decision_interval_hours"], "valid integer"),
        ({"pace": True}, 422, ["pace"], "10"),
        ({"source": "nope"}, 404, ["source"], "'nope' not found"),
        ({"source": "empty"}, 400, ["source"], "holds no BTC"),
        ({**DAILY, "timeframe": "1h"}, 400, ["source", "timeframe"], "timeframe of 1d or more"),
        ({"source": "../synthetic"}, 422, ["source"], "pattern"),
    ],
)  # fmt: skip
def test_bad_fields_are_refused_naming_them(server, change, status, fields, words):
    res, before = start(server, json=BODY | change)
    body = refused(res, status, *fields)
    assert words in body["error"], body
    not_started(server, body, before)


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b'{"underlying": "BTC",\n "start": }', JSON, 422, "at line 2, column 11 (char 32)"),
        (b'{"underlying": "BTC", "start": "2022-01-01"', JSON, 422, "at line 1, column 44"),
        (b'{"underlying": "\xff"}', JSON, 400, "not UTF-8: byte 0xff"),
        (b"[" * 100_000, JSON, 400, "nests too deeply"),
        (b"[1, 2]", JSON, 422, "must be a JSON object, not an array"),
        (b"", JSON, 422, "the body is missing"),
        (b"underlying=BTC", {"Content-Type": "text/plain"}, 422, "Content-Type: application/json"),
        (b'{"underlying": "BTC"}', {}, 422, "Content-Type: application/json"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_field_body_and_say_where(
    server, content, headers, status, words
):
    res, before = start(server, content=content, headers=headers)
    body = refused(res, status, "body")
    assert words in body["error"], body
    not_started(server, body, before)


def test_a_nan_is_refused_as_not_finite(server):
    content = b'{"underlying": "BTC", "start": "2022-01-01", "end": "2022-02-01", "top_k": 5, '
    content += b'"tp_threshold_pct": NaN}'
    res, before = start(server, content=content, headers=JSON)
    body = refused(res, 422, "tp_threshold_pct")
    assert "finite number" in body["error"]
    not_started(server, body, before)


@pytest.mark.parametrize(
    "change",
    [
        {"start": "2022-01-01T01:00:00+01:00"},  # an offset is read as the UTC instant it names
        {**DAILY, "timeframe": "1d"},  # the source refused at 1h runs on its own bars
    ],
)
def test_good_requests_still_start(server, change):
    res, _ = start(server, json=BODY | change)
    assert res.status_code == 200 and res.json()["started"] is True, res.text
    wait_until_stopped(server)


def strategy(server: LiveServer, **request) -> httpx.Response:
    return httpx.post(f"{server.url}/api/agent/strategy", timeout=30, **request)


@pytest.mark.parametrize(
    ("request_", "status", "field", "words"),
    [
        ({"json": {"config": {"underlying": "BTC", "decision_interval_hours": True}}}, 422,
         "config.decision_interval_hours", "not a boolean"),
        ({"json": {"config": {"underlying": "BTC", "fees": {"option_fee_rate": True}}}}, 422,
         "config.fees.option_fee_rate", "not a boolean"),
        ({"json": {"config": {"underlying": "BTC", "position_size": "1"}}}, 422,
         "config.position_size", "valid number"),
        ({"json": {"config": {"underlying": "BTC"}, "close_open_call": 1}}, 422,
         "close_open_call", "valid boolean"),
        ({"json": {"config": "BTC"}}, 422, "config", "dictionary"),
        ({"json": {"from_run": "../../etc"}}, 422, "from_run", "pattern"),
        ({"json": {"from_run": "0123456789abcdef"}}, 404, "from_run", "no finished run"),
        ({"content": b'{"config": {"underlying": "BTC",}}', "headers": JSON}, 422, "body",
         "at line 1, column 33 (char 32)"),
        ({"content": b'{"config": "\xfe"}', "headers": JSON}, 400, "body", "not UTF-8"),
        ({"content": b"close_open_call=true", "headers": {"Content-Type": "text/plain"}}, 422,
         "body", "Content-Type: application/json"),
    ],
)  # fmt: skip
def test_bad_strategy_requests_name_the_field(server, request_, status, field, words):
    before = httpx.get(f"{server.url}/api/agent/status", timeout=10).json()
    body = refused(strategy(server, **request_), status, field)
    assert words in body["error"], body
    after = httpx.get(f"{server.url}/api/agent/status", timeout=10).json()
    assert after["strategy"] == before["strategy"]


@pytest.mark.parametrize(
    ("request_", "status", "field"),
    [
        ({"json": {"adopt_account": "yes"}}, 422, "adopt_account"),
        ({"json": {"adopt_account": 1}}, 422, "adopt_account"),
        ({"json": {"adopt": True}}, 422, "adopt"),
        ({"content": b'{"adopt_account": tru}', "headers": JSON}, 422, "body"),
    ],
)
def test_bad_resume_bodies_name_the_field(server, request_, status, field):
    res = httpx.post(f"{server.url}/api/agent/resume", timeout=10, **request_)
    refused(res, status, field)


def test_decisions_limit_must_be_an_integer(server):
    res = httpx.get(f"{server.url}/api/agent/decisions", params={"limit": "true"}, timeout=10)
    refused(res, 422, "limit")
