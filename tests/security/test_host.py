"""DNS rebinding: a page whose name now resolves to 127.0.0.1 is refused by its ``Host`` header.

After rebinding, the attacker's page is same-origin with the server under the attacker's name, so
Origin checks cannot see it; only the ``Host`` header it must send gives it away.
"""

import httpx
import pytest

from tests.security.conftest import EXTRA_HOST, assert_error, bearer

REBOUND = ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}"]
LOOPBACK = ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}", "localhost"]


@pytest.mark.parametrize("host", REBOUND)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/backtests"), ("GET", "/"), ("POST", "/api/agent/pause")],
)
def test_a_rebound_name_is_refused(loopback_server, host, method, path):
    host = host.format(port=loopback_server.port)
    res = httpx.request(method, f"{loopback_server.url}{path}", headers={"Host": host})
    body = assert_error(res, 400, "is not one this server answers to")
    assert "THETADESK_ALLOWED_HOSTS" in body["detail"]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_names_are_served(loopback_server, host):
    host = host.format(port=loopback_server.port)
    res = httpx.get(f"{loopback_server.url}/api/backtests", headers={"Host": host})
    assert res.status_code == 200, res.text


def test_the_allowed_hosts_setting_adds_a_name(token_server):
    url = token_server.url
    named = {"Host": f"{EXTRA_HOST}:{token_server.port}"}
    assert httpx.get(f"{url}/api/backtests", headers=named | bearer()).status_code == 200
    other = {"Host": f"other.{EXTRA_HOST}:{token_server.port}"}
    assert_error(httpx.get(f"{url}/api/backtests", headers=other | bearer()), 400)
