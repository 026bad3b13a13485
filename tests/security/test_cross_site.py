"""A web page the user visits cannot drive the app: writes from other origins get 403.

Browsers send ``Origin`` (and ``Sec-Fetch-Site``) with every cross-origin POST, including the
"simple" ``text/plain`` ones that need no CORS preflight; the server refuses them before any route
runs. Reads are not opened to other origins either (no CORS headers).
"""

import httpx
import pytest

from tests.security.conftest import EVIL, assert_error


def agent_state(url: str) -> str:
    return httpx.get(f"{url}/api/agent/status").json()["state"]


def run_ids(url: str) -> list[str]:
    return [run["run_id"] for run in httpx.get(f"{url}/api/backtests").json()]


def test_a_cross_origin_text_plain_post_cannot_pause_the_agent(loopback_server):
    url = loopback_server.url
    assert agent_state(url) == "running"
    for action in ("pause", "resume"):
        res = httpx.post(
            f"{url}/api/agent/{action}",
            headers={"Origin": EVIL, "Content-Type": "text/plain"},
            content="x",
        )
        assert_error(res, 403, f"Origin {EVIL} is not this server")
    assert agent_state(url) == "running"


@pytest.mark.parametrize(
    "origin",
    [
        "null",  # sandboxed frames, file:// pages, redirected requests
        "http://localhost:{port}",  # another origin for the same socket
        "http://127.0.0.1:1",
        "http://127.0.0.1:{port}.evil.example",
    ],
)
def test_a_write_from_any_other_origin_is_refused(loopback_server, origin):
    origin = origin.format(port=loopback_server.port)
    res = httpx.post(f"{loopback_server.url}/api/backtest/stop", headers={"Origin": origin})
    assert_error(res, 403, "cross-site request refused")


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_from_another_site_is_refused_even_without_origin(loopback_server, site):
    url = loopback_server.url
    res = httpx.post(f"{url}/api/agent/pause", headers={"Sec-Fetch-Site": site})
    assert_error(res, 403, f"Sec-Fetch-Site is {site}")
    assert agent_state(url) == "running"


def test_a_cross_origin_delete_leaves_the_run(loopback_server):
    url = loopback_server.url
    run_id = run_ids(url)[0]
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        res = httpx.request("DELETE", f"{url}/api/backtests/{run_id}", headers=headers)
        assert_error(res, 403)
    assert run_id in run_ids(url)


def test_the_dashboards_own_writes_and_scripts_still_work(loopback_server):
    url = loopback_server.url
    same_origin = {"Origin": url, "Sec-Fetch-Site": "same-origin"}
    res = httpx.post(f"{url}/api/agent/pause", headers=same_origin)
    assert res.status_code == 200 and res.json()["state"] == "paused", res.text
    res = httpx.post(f"{url}/api/agent/resume")  # curl or a script: no Origin, no Sec-Fetch-*
    assert res.status_code == 200 and res.json()["state"] == "running", res.text
    # a page the user opened from the address bar or a bookmark
    res = httpx.post(f"{url}/api/backtest/stop", headers={"Sec-Fetch-Site": "none"})
    assert res.status_code == 200, res.text


def test_reads_are_not_shared_with_other_origins(loopback_server):
    res = httpx.get(f"{loopback_server.url}/api/backtests", headers={"Origin": EVIL})
    assert res.status_code == 200
    assert not any(h.startswith("access-control-") for h in res.headers)
    preflight = httpx.options(
        f"{loopback_server.url}/api/agent/pause",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
