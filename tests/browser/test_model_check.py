"""The model check as a person reaches it: from a chain source in the Backtesting tab."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.calibration import load_calibration
from tests.browser.conftest import NO_PLAYWRIGHT
from tests.browser.live_server import LiveServer, copy_data_dir
from tests.browser.test_dashboard import shot

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

COMPUTE_TIMEOUT_MS = 90_000  # the first visit computes the report (a fresh checkout compiles)


@pytest.fixture
def live_server(chain_data_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """``thetadesk serve`` over the synthetic market and the chain source ``real``."""
    with LiveServer(copy_data_dir(chain_data_dir, tmp_path)) as server:
        yield server


def test_a_chain_source_links_to_its_model_check_page(page, live_server):
    page.click("#tab-backtest")
    expect(page.locator("#bt-source option[value=real]")).to_be_attached()
    link = page.locator("[data-testid=bt-model-check]")
    page.select_option("#bt-source", "synthetic")
    expect(link).to_be_hidden()
    page.select_option("#bt-source", "real")
    expect(page.locator("#bt-source-note")).to_contain_text("recorded option chains")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "/model-check?source=real")

    link.click()
    expect(page).to_have_url(re.compile(r"/model-check\?source=real$"), timeout=COMPUTE_TIMEOUT_MS)
    banner = page.locator("[data-testid=mc-banner]")
    expect(banner).to_contain_text("MODEL")
    expect(banner).to_contain_text("RECORDED")
    calibration = load_calibration().calibration_id
    expect(page.locator("[data-testid=mc-calibration-id]")).to_have_text(calibration)
    for u in ("BTC", "ETH"):
        pooled = page.locator(f"[data-testid=mc-iv_error-{u}] tbody tr").last
        expect(pooled.locator("td").first).to_have_text("all")
        verdict = page.locator(f"[data-testid=mc-note-backtest-{u}]")
        expect(verdict).to_contain_text(re.compile(r"the model (flatters|penalises|matches)"))
    chart = page.locator("[data-testid=mc-chart]")
    expect(chart.locator(".uplot")).to_be_visible()
    expect(chart).to_have_attribute("data-series", re.compile(r"^[1-9]"))
    shot(page, "model_check_page")

    page.click("[data-testid=mc-back]")
    expect(page.locator("#panel-backtest")).to_be_visible()
