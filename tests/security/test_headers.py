"""No page of another site can frame the dashboard (clickjacking): every response says so."""

import httpx
import pytest

from tests.security.conftest import EVIL, bearer


def assert_unframeable(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY", response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/docs",
        "/status",
        "/api/backtests",
        "/openapi.json",
        "/static/css/app.css",
        "/vendor/swagger-ui/swagger-ui.css",
        "/no/such/page",  # 404
        "/api/backtests/not-a-run-id",  # an error
    ],
)
def test_every_response_forbids_framing(loopback_server, path):
    assert_unframeable(httpx.get(f"{loopback_server.url}{path}"))


def test_refusals_forbid_framing_too(loopback_server, token_server):
    url = loopback_server.url
    assert_unframeable(httpx.get(f"{url}/", headers={"Host": "evil.example"}))  # 400
    assert_unframeable(httpx.post(f"{url}/api/agent/pause", headers={"Origin": EVIL}))  # 403
    assert_unframeable(httpx.post(f"{url}/api/agent/pause", content=b"x" * (2 << 20)))  # 413
    url = token_server.url
    assert_unframeable(httpx.get(f"{url}/api/backtests"))  # 401
    assert_unframeable(httpx.get(f"{url}/"))  # 303 to the login form
    assert_unframeable(httpx.get(f"{url}/login"))
    assert_unframeable(httpx.get(f"{url}/", headers=bearer()))
