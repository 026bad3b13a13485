"""Beyond loopback the token is required: ``serve`` refuses to start without one, and with one
every request needs it (``Authorization: Bearer`` or the cookie the login form sets)."""

import os
import subprocess
import sys
from urllib.parse import quote

import httpx
import pytest

from tests.browser.live_server import free_port
from tests.security.conftest import EVIL, TOKEN, assert_error, bearer

START_TIMEOUT_S = 60


def serve(host: str, data_dir, **env: str) -> subprocess.CompletedProcess:
    """Run ``thetadesk serve`` with only these THETADESK_* variables; it should end by itself."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THETADESK_")}
    cmd = [sys.executable, "-m", "api.cli", "serve", "--host", host, "--port", str(free_port())]
    return subprocess.run(
        [*cmd, "--data-dir", str(data_dir)],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "desk.example"])
def test_serve_beyond_loopback_without_a_token_refuses_to_start(tmp_path, host):
    done = serve(host, tmp_path / "data")
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "THETADESK_AUTH_TOKEN" in lines[0] and host in lines[0]
    assert "serving" not in done.stdout
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_a_short_token_is_refused_too(tmp_path):
    done = serve("0.0.0.0", tmp_path / "data", THETADESK_AUTH_TOKEN="letmein")
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: auth_token: must be at least 16"), lines
    assert "letmein" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/backtests"),
        ("GET", "/status"),
        ("GET", "/openapi.json"),
        ("POST", "/api/agent/pause"),
        ("POST", "/api/backtest/start"),
        ("DELETE", "/api/backtests/x"),
    ],
)
def test_without_the_token_the_api_answers_401(token_server, method, path):
    url = f"{token_server.url}{path}"
    for headers in ({}, bearer("s3cr3t-dashboard-token-0000000"), {"Authorization": TOKEN}):
        res = httpx.request(method, url, headers=headers)
        assert_error(res, 401, "authentication required")
        assert res.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "path", ["/", "/docs", "/?tab=backtest", "/vendor/swagger-ui/swagger-ui-bundle.js"]
)
def test_without_the_token_a_page_redirects_to_the_login_form(token_server, path):
    res = httpx.get(f"{token_server.url}{path}")
    assert res.status_code == 303
    assert res.headers["location"] == f"/login?next={quote(path, safe='')}"


def test_the_bearer_token_opens_everything(token_server):
    url = token_server.url
    for path in ("/api/backtests", "/status", "/", "/docs", "/openapi.json"):
        assert httpx.get(f"{url}{path}", headers=bearer()).status_code == 200, path
    res = httpx.post(f"{url}/api/agent/pause", headers=bearer())
    assert res.status_code == 200 and res.json()["state"] == "paused"
    assert httpx.post(f"{url}/api/agent/resume", headers=bearer()).json()["state"] == "running"


def log_in(client: httpx.Client, token: str, next_path: str = "/") -> httpx.Response:
    """Submit the login form as the browser does (same origin, form-encoded)."""
    origin = str(client.base_url).rstrip("/")
    return client.post(
        "/login", data={"token": token, "next": next_path}, headers={"Origin": origin}
    )


def test_the_login_form_sets_an_httponly_strict_cookie_that_opens_everything(token_server):
    with httpx.Client(base_url=token_server.url) as client:
        form = client.get("/login?next=%2Fdocs")
        assert form.status_code == 200 and 'name="token"' in form.text
        assert 'value="/docs"' in form.text

        wrong = log_in(client, "s3cr3t-dashboard-token-0000000", "/docs")
        assert wrong.status_code == 401 and "not the token" in wrong.text
        assert "set-cookie" not in wrong.headers and not client.cookies

        res = log_in(client, TOKEN, "/docs")
        assert res.status_code == 303 and res.headers["location"] == "/docs"
        cookie = res.headers["set-cookie"]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags, cookie
        assert TOKEN not in cookie  # the cookie holds a value derived from the token

        assert client.get("/api/backtests").status_code == 200
        assert client.get("/").status_code == 200
        same_origin = {"Origin": token_server.url, "Sec-Fetch-Site": "same-origin"}
        res = client.post("/api/agent/pause", headers=same_origin)
        assert res.status_code == 200 and res.json()["state"] == "paused"
        assert client.post("/api/agent/resume", headers=same_origin).status_code == 200

        out = client.post("/logout", headers=same_origin)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert not client.cookies
        assert_error(client.get("/api/backtests"), 401)


def test_the_login_form_refuses_other_sites_and_other_destinations(token_server):
    url = token_server.url
    res = httpx.post(f"{url}/login", data={"token": TOKEN}, headers={"Origin": EVIL})
    assert_error(res, 403)  # no login CSRF: another site cannot log the browser in
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        res = httpx.post(f"{url}/login", data={"token": TOKEN, "next": target})
        assert res.status_code == 303 and res.headers["location"] == "/", target


def test_the_token_is_never_returned_or_logged(token_server):
    url = token_server.url
    seen = []
    with httpx.Client(base_url=url) as client:
        seen.append(log_in(client, TOKEN))
        seen.append(log_in(client, TOKEN + "-wrong"))
        for path in ("/", "/status", "/api/agent/status", "/openapi.json", "/login"):
            seen.append(client.get(path, headers=bearer()))
    for res in seen:
        assert TOKEN not in res.text and TOKEN not in str(res.headers), res.request.url
    log = token_server.log()
    assert "login refused" in log  # the failed attempt is logged, without what was typed
    assert TOKEN not in log
