"""The security pages as a person meets them: /docs offline, and the login of a token server."""

import re

import httpx
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT
from tests.browser.live_server import LiveServer, copy_data_dir

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

TOKEN = "s3cr3t-browser-token-8f02b6"


def test_docs_render_with_every_other_host_blocked(browser, live_server):
    """Swagger UI lists every operation of the API while the page can reach no other host."""
    paths = httpx.get(f"{live_server.url}/openapi.json").json()["paths"]
    operations = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    context = browser.new_context()
    blocked: list[str] = []

    def only_this_server(route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.goto(f"{live_server.url}/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("thetadesk")
    expect(page.locator(".opblock").first).to_be_visible()
    shown = page.locator(".opblock-summary").evaluate_all(
        """(blocks) => blocks.map((b) =>
        `${b.querySelector(".opblock-summary-method").textContent} ` +
        b.querySelector(".opblock-summary-path").getAttribute("data-path"))"""
    )
    assert set(shown) == operations
    context.close()
    assert blocked == []


def test_a_token_server_asks_for_the_token_then_the_dashboard_works(
    browser, synthetic_data_dir, tmp_path
):
    env = {"THETADESK_AUTH_TOKEN": TOKEN}
    server = LiveServer(
        copy_data_dir(synthetic_data_dir, tmp_path),
        host="0.0.0.0",
        env=env,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
        expect(page.locator("[data-testid=logout]")).to_have_count(0)
        page.fill("[data-testid=login-token]", "not-the-token-at-all")
        page.click("[data-testid=login-submit]")
        expect(page.locator("[data-testid=login-error]")).to_be_visible()

        page.fill("[data-testid=login-token]", TOKEN)
        page.click("[data-testid=login-submit]")
        expect(page).to_have_url(f"{server.url}/")
        # the dashboard's own scripts read and write with the cookie, from its own origin
        badge = page.locator("[data-testid=agent-state]")
        expect(badge).to_have_text("RUNNING")
        page.click("[data-testid=agent-toggle]")
        expect(badge).to_have_text("PAUSED")
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert TOKEN not in cookie["value"]
        assert page.evaluate("document.cookie") == ""  # out of reach of scripts

        page.click("[data-testid=logout]")
        expect(page).to_have_url(re.compile(r"/login$"))
        assert context.cookies() == []
        context.close()
