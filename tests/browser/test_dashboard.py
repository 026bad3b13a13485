"""The dashboard as a person uses it: real headless Chromium against a real ``thetadesk serve``."""

import re

import httpx
import pytest

from engine import __version__
from engine.results.labels import METRIC_LABELS
from tests.browser.conftest import NO_PLAYWRIGHT, SCREENSHOTS_DIR

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

INPUT_IDS = [
    "bt-underlying", "bt-start", "bt-end", "bt-timeframe", "bt-interval", "bt-exit-style",
    "bt-pace", "bt-source",
]  # fmt: skip
TWO_MONTHS = {"start": "2023-01-01", "end": "2023-03-01"}  # 59 daily decisions
SIX_MONTHS = {"start": "2023-01-01", "end": "2023-07-01"}  # 181 daily decisions: ~3.6 s at 50/s
RUN_TIMEOUT_MS = 60_000  # a fresh checkout compiles the numba kernels on its first run


def fill_form(page, *, start: str, end: str, exit_style: str, pace: str = "") -> None:
    """Fill the Backtesting form the way a person would (BTC, 1h bars, daily decisions)."""
    page.click("#tab-backtest")
    expect(page.locator("#panel-backtest")).to_be_visible()
    # the source list arrives from /api/sources after the page loads
    expect(page.locator("#bt-source option[value=synthetic]")).to_be_attached()
    page.select_option("#bt-underlying", "BTC")
    page.fill("#bt-start", start)
    page.fill("#bt-end", end)
    page.select_option("#bt-timeframe", "1h")
    page.select_option("#bt-interval", label="daily")
    page.select_option("#bt-exit-style", exit_style)
    page.select_option("#bt-pace", pace)
    page.select_option("#bt-source", "synthetic")


def record_badge_texts(page) -> None:
    """Keep every distinct text the status badge shows, however briefly, in ``window``."""
    page.evaluate(
        """() => {
        const badge = document.getElementById("bt-status-text");
        window.badgeTexts = [badge.textContent];
        new MutationObserver(() => {
          const text = badge.textContent;
          if (window.badgeTexts.at(-1) !== text) window.badgeTexts.push(text);
        }).observe(badge, { childList: true, characterData: true, subtree: true });
      }"""
    )


def shot(page, name: str) -> None:
    """Keep a screenshot of a moment inside a test."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS_DIR / f"{name}.png", full_page=True)


def expect_inputs_disabled(page, disabled: bool) -> None:
    for input_id in INPUT_IDS:
        field = page.locator(f"#{input_id}")
        expect(field).to_be_disabled() if disabled else expect(field).to_be_enabled()


def parse_shown_number(text: str) -> float:
    return float(text.replace(",", "").replace("+", ""))


def test_backtest_runs_to_finished_with_metrics_and_steps(page, live_server):
    fill_form(page, **TWO_MONTHS, exit_style="tp_and_roll")
    expect(page.locator("#bt-source-note")).to_contain_text("SYNTHETIC")
    record_badge_texts(page)
    page.click("#bt-start-stop-btn")

    badge = page.locator("#bt-status-text")
    expect(badge).to_have_text("FINISHED", timeout=RUN_TIMEOUT_MS)
    texts = page.evaluate("window.badgeTexts")
    assert "RUNNING" in texts and texts.index("RUNNING") < texts.index("FINISHED"), texts
    expect(page.locator("#bt-progress-label")).to_have_text("100%")
    expect(page.locator("#bt-start-stop-btn")).to_have_text("Start Backtest")

    status = httpx.get(f"{live_server.url}/api/backtest/status").json()  # the page's JSON twin
    assert status["underlying"] == "BTC" and status["exit_style"] == "tp_and_roll"
    assert status["start_date"].startswith("2023-01-01")
    assert status["end_date"].startswith("2023-03-01")
    assert status["total_decisions"] == 59
    expect(page.locator("#bt-decisions")).to_have_text("59 / 59")

    metrics = page.locator("#bt-metrics dd[data-metric]")
    shown = {dd.get_attribute("data-metric"): dd.inner_text() for dd in metrics.all()}
    assert set(shown) == set(METRIC_LABELS) & set(status["metrics"])
    assert shown["num_trades"] == str(status["metrics"]["num_trades"])
    assert status["metrics"]["num_trades"] > 0
    for key, text in shown.items():
        label = page.locator(f"#bt-metrics dd[data-metric={key}] >> xpath=preceding-sibling::dt[1]")
        expect(label).to_have_text(METRIC_LABELS[key][0])
        value = status["metrics"][key]
        if value is None:
            assert text == "n/a", key
        else:
            decimals = int(re.search(r"\.(\d)f", METRIC_LABELS[key][1]).group(1))
            assert parse_shown_number(text) == pytest.approx(value, abs=10**-decimals), key

    rows = page.locator("#bt-steps-body tr")
    expect(rows).to_have_count(59)
    first = rows.first.locator("td")
    expect(first).to_have_count(6)
    expect(first.nth(0)).to_have_text("2023-02-28 00:00:00")  # newest decision first
    expect(first.nth(4)).to_have_text("tp_and_roll")
    # actions show the label of the one actions table (GET /api/meta), described in a tooltip
    actions = {a["name"]: a for a in httpx.get(f"{live_server.url}/api/meta").json()["actions"]}
    action = first.nth(5)
    name = action.get_attribute("data-action")
    expect(action).to_have_text(actions[name]["label"])
    expect(action).to_have_attribute("title", actions[name]["description"])


def test_paced_run_can_be_stopped_and_the_form_comes_back(page, live_server):
    fill_form(page, **SIX_MONTHS, exit_style="hold_to_expiry", pace="50")
    expect_inputs_disabled(page, False)
    button = page.locator("#bt-start-stop-btn")
    expect(button).to_have_text("Start Backtest")
    button.click()

    expect(button).to_have_text("Stop Backtest")
    expect_inputs_disabled(page, True)
    expect(page.locator("#bt-status-text")).to_have_text("RUNNING", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#bt-decisions")).to_have_text(re.compile(r"^[1-9]\d* / 181$"))
    shot(page, "paced_run_while_running")
    button.click()

    expect(page.locator("#bt-status-text")).to_have_text("STOPPED", timeout=5_000)
    expect(button).to_have_text("Start Backtest")
    expect_inputs_disabled(page, False)
    status = httpx.get(f"{live_server.url}/api/backtest/status").json()
    assert status["state"] == "stopped" and status["pace"] == 50
    assert 0 < status["decisions_processed"] < status["total_decisions"] == 181


def test_end_before_start_shows_the_error_and_runs_nothing(page, live_server):
    fill_form(page, start="2023-03-01", end="2023-01-01", exit_style="hold_to_expiry")
    page.click("#bt-start-stop-btn")

    error = page.locator("#bt-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("end")
    expect(error).to_contain_text("must be after start")
    expect(page.locator("#bt-status-text")).to_have_text("IDLE")
    expect(page.locator("#bt-start-stop-btn")).to_have_text("Start Backtest")
    expect_inputs_disabled(page, False)
    status = httpx.get(f"{live_server.url}/api/backtest/status").json()
    assert status["state"] == "idle" and status["started_at"] is None
    assert not (live_server.data_dir / "runs").exists()


def test_live_agent_tab_shows_health_and_the_synthetic_source(page, live_server):
    expect(page.locator("#panel-live")).to_be_visible()
    health = page.locator("#status-health")
    expect(health).to_have_text("healthy")
    expect(health).to_have_class("ok")
    expect(page.locator("#status-version")).to_have_text(__version__)
    expect(page.locator("#status-data-dir")).to_have_text(str(live_server.data_dir))
    expect(page.locator("#status-backtest")).to_have_text("idle")

    rows = page.locator("#status-sources tr")
    expect(rows).to_have_count(2)  # the synthetic market has BTC and ETH
    for i, underlying in enumerate(["BTC", "ETH"]):
        cells = rows.nth(i).locator("td")
        expect(cells.nth(0)).to_have_text("synthetic")
        expect(cells.nth(1)).to_have_text("SYNTHETIC (generated)")
        expect(cells.nth(1)).to_have_class("synthetic-tag")
        expect(cells.nth(2)).to_have_text(underlying)
        expect(cells.nth(3)).to_contain_text("1h")
