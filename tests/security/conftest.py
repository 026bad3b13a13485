"""Security probes against real ``thetadesk serve`` subprocesses, as an attacker would send them.

Two servers per session: one on loopback as ``make run`` starts it (no token), holding two finished
runs to try to delete; one bound to 0.0.0.0 with a token, which the probes reach via 127.0.0.1
only (nothing here sends traffic beyond this machine).
"""

from collections.abc import Iterator

import httpx
import pytest

from tests.browser.live_server import LiveServer, copy_data_dir

# distinctive, so a leak into a response or the server's log is found by substring
TOKEN = "s3cr3t-dashboard-token-5d1e0c7a"
EXTRA_HOST = "desk.example"  # a name given in THETADESK_ALLOWED_HOSTS
EVIL = "http://evil.example"


@pytest.fixture(scope="session")
def loopback_server(runs_source, tmp_path_factory) -> Iterator[LiveServer]:
    """``thetadesk serve`` on 127.0.0.1 without a token, over a copy of two finished runs."""
    data_dir, _ = runs_source
    with LiveServer(copy_data_dir(data_dir, tmp_path_factory.mktemp("loopback"))) as server:
        yield server


@pytest.fixture(scope="session")
def token_server(synthetic_data_dir, tmp_path_factory) -> Iterator[LiveServer]:
    """``thetadesk serve --host 0.0.0.0`` with a token and one extra Host name."""
    env = {"THETADESK_AUTH_TOKEN": TOKEN, "THETADESK_ALLOWED_HOSTS": EXTRA_HOST}
    server = LiveServer(
        copy_data_dir(synthetic_data_dir, tmp_path_factory.mktemp("token")),
        host="0.0.0.0",
        env=env,
        headers=bearer(),
    )
    with server:
        yield server


def bearer(token: str = TOKEN) -> dict[str, str]:
    """The header a script sends to a server that requires a token."""
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, says: str = "") -> dict:
    """Assert the app's one JSON error shape with this status (and words); return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str), body
    assert says.lower() in body["error"].lower(), body
    return body
