"""Request bodies above the cap (1 MiB) are refused with 413 before any route runs, whether the
client declared the length or streamed the body in chunks without one."""

import json

import httpx
import pytest

from api.settings import Settings
from tests.security.conftest import assert_error

CAP = Settings.model_fields["max_body_bytes"].default
CHUNK = 64 * 1024
JSON = {"Content-Type": "application/json"}


def in_chunks(body: bytes):
    """The body with no Content-Length: httpx sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


@pytest.mark.parametrize("size", [CAP + 1, 2 * CAP, 6 * CAP])
def test_a_declared_body_over_the_cap_is_413(loopback_server, size):
    res = httpx.post(f"{loopback_server.url}/api/agent/strategy", content=b"x" * size)
    assert res.request.headers["content-length"] == str(size)
    assert_error(res, 413, f"the limit is {CAP} bytes")


@pytest.mark.parametrize("size", [CAP + 1, 3 * CAP])
def test_a_chunked_body_over_the_cap_is_413(loopback_server, size):
    res = httpx.post(f"{loopback_server.url}/api/backtest/start", content=in_chunks(b"x" * size))
    assert "content-length" not in res.request.headers
    assert res.request.headers["transfer-encoding"] == "chunked"
    assert_error(res, 413, "too large")


def test_a_body_far_beyond_the_cap_is_cut_off_and_the_server_carries_on(loopback_server):
    """Past eight times the cap the server stops reading and closes the connection."""
    url = loopback_server.url
    try:
        res = httpx.post(f"{url}/api/agent/strategy", content=in_chunks(b"x" * 40 * CAP))
        assert_error(res, 413)
    except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
        pass  # the connection closed while the client was still sending (never a hang)
    assert httpx.get(f"{url}/status").status_code == 200


def test_an_oversized_body_changes_nothing(loopback_server):
    url = loopback_server.url
    res = httpx.post(f"{url}/api/agent/pause", content=in_chunks(b"x" * 2 * CAP))
    assert_error(res, 413)
    assert httpx.get(f"{url}/api/agent/status").json()["state"] == "running"


def test_a_body_under_the_cap_reaches_the_route(loopback_server):
    padding = "p" * (CAP - 100)  # an unknown field: the route itself refuses it, naming it
    body = json.dumps({"config": {"underlying": "BTC"}, "padding": padding}).encode()
    assert len(body) <= CAP
    for content in (body, in_chunks(body)):
        res = httpx.post(f"{loopback_server.url}/api/agent/strategy", content=content, headers=JSON)
        assert_error(res, 422, "padding")
