"""Browser fixtures: system Chromium driven by Playwright against a real ``thetadesk serve``.

The tests skip, saying why, only when ``/usr/bin/chromium`` is absent or the ``playwright``
package cannot be imported; CI installs both, so there they run.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.live_server import LiveServer, copy_data_dir

CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browser here; these flags keep the system one off a network
# it does not have (it would otherwise retry Google's hosts at every start).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = f"{CHROMIUM} is absent (CI installs it: apt-get install chromium)"
NO_PLAYWRIGHT = "the playwright package is not installed (pip install -e '.[dev]')"
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item and add the server's log to a failure's report."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append((f"thetadesk server log ({server.url})", server.log()))
    console = getattr(item, "browser_console", None)
    if report.failed and console:
        report.sections.append(("browser console", "\n".join(console)))
    return report


@pytest.fixture(scope="session")
def browser():
    """One headless system Chromium for the whole session."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(synthetic_data_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A ``thetadesk serve`` subprocess on a free port, over a copy of the synthetic cache."""
    server = LiveServer(copy_data_dir(synthetic_data_dir, tmp_path))
    with server:
        yield server


@pytest.fixture
def page(browser, live_server: LiveServer, request: pytest.FixtureRequest):
    """A fresh page on the dashboard; its last screenshot is kept (``-failed`` when it failed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console: list[str] = []
    request.node.browser_console = console
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.goto(live_server.url)
    yield page
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    call = getattr(request.node, "report_call", None)
    suffix = "-failed" if call is None or call.failed else ""
    page.screenshot(path=SCREENSHOTS_DIR / f"{name}{suffix}.png", full_page=True)
    context.close()
