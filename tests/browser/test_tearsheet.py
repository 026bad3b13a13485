"""The tearsheet as a person sees it: the results panel, compare overlay and the one-file report."""

import re
import time

import httpx
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT
from tests.browser.test_dashboard import RUN_TIMEOUT_MS, SIX_MONTHS, shot
from tests.browser.test_results import _fixed, open_results, painted_pixels

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

TEARSHEET_CHARTS = ("ts-chart-rolling", "ts-chart-histogram")
REPORT_CHARTS = ("ts-chart-equity", "ts-chart-underwater", *TEARSHEET_CHARTS)
URL = re.compile(r"https?://", re.IGNORECASE)


def run(server, exit_style: str, underlying: str = "BTC") -> str:
    """Run a half-year backtest through the API (over 90 days: the rolling risk has values)."""
    body = {"underlying": underlying, **SIX_MONTHS, "timeframe": "1h", "exit_style": exit_style}
    assert httpx.post(f"{server.url}/api/backtest/start", json=body).json()["started"] is True
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/api/backtest/status").json()
        if not status["running"]:
            assert status["state"] == "finished", status
            return status["run_id"]
        time.sleep(0.05)
    raise AssertionError(f"run did not finish: {status}")


def heatmap_values(page, testid: str = "ts-heatmap") -> dict:
    """{(year, month or "year"): value} of every cell of a heatmap the page shows."""
    cells = page.locator(f"[data-testid={testid}] td[data-month]").evaluate_all(
        "tds => tds.map(td => [td.closest('tr').dataset.year, td.dataset.month, td.dataset.value,"
        " td.textContent])"
    )
    return {
        (int(y), m if m == "year" else int(m)): (float(v) if v else None, text)
        for y, m, v, text in cells
    }


def expected_cells(sheet: dict, column: str) -> dict:
    cells = {(r["year"], r["month"]): r[column] for r in sheet["returns"]["months"]}
    return cells | {(r["year"], "year"): r[column] for r in sheet["returns"]["years"]}


def assert_heatmap(page, sheet: dict, column: str) -> None:
    shown = heatmap_values(page)
    expected = expected_cells(sheet, column)
    assert shown.keys() == expected.keys()
    for key, value in expected.items():
        assert shown[key][0] == pytest.approx(value, rel=1e-12), key
        assert shown[key][1] == _fixed(value, 2, "+" if value > 0 else ""), key


def test_the_results_panel_shows_the_tearsheet_of_the_run_opened(page, live_server):
    run_id = run(live_server, "tp_and_roll")
    sheet = httpx.get(f"{live_server.url}/api/backtests/{run_id}/tearsheet").json()
    open_results(page)
    root = page.get_by_test_id("res-tearsheet-body")
    expect(root).to_have_attribute("data-run-id", run_id)

    assert_heatmap(page, sheet, "strategy_usd_pct")
    expect(page.get_by_test_id("ts-modelled").locator("li")).to_have_text(sheet["data"]["modelled"])
    expect(page.get_by_test_id("ts-recorded")).to_have_text("nothing: every price was modelled")
    page.get_by_test_id("ts-returns-unit").select_option("coin")
    expect(page.get_by_test_id("ts-heatmap")).to_have_attribute("data-unit", "coin")
    assert_heatmap(page, sheet, "strategy_coin_pct")
    page.get_by_test_id("ts-returns-unit").select_option("usd")
    page.get_by_test_id("ts-returns-series").select_option("hodl")
    expect(page.get_by_test_id("ts-heatmap")).to_have_attribute("data-series", "hodl")
    assert_heatmap(page, sheet, "hodl_usd_pct")

    for testid in TEARSHEET_CHARTS:
        expect(page.get_by_test_id(testid).locator(".uplot canvas")).to_be_visible()
        assert painted_pixels(page, testid) > 2_000
    assert sum(v is not None for v in sheet["rolling"]["strategy_sharpe"]) > 50

    drawdowns = page.get_by_test_id("ts-drawdowns-body").locator("tr")
    expect(drawdowns).to_have_count(len(sheet["drawdowns"]))
    worst = sheet["drawdowns"][0]
    expect(drawdowns.first.locator("td").nth(4)).to_have_text(f"{-worst['depth_pct']:,.2f}")
    reasons = page.get_by_test_id("ts-breakdown-close_reason-body").locator("tr")
    expect(reasons).to_have_count(4)
    counts = [r["trades"] for r in sheet["breakdowns"]["close_reason"]]
    assert reasons.evaluate_all("trs => trs.map(tr => +tr.cells[1].textContent)") == counts
    expect(page.get_by_test_id("ts-premium").locator("td[data-month]")).to_have_count(
        len(sheet["premium_yield"])
    )
    expect(page.get_by_test_id("dl-report")).to_have_attribute(
        "href", f"/api/backtests/{run_id}/tearsheet.html"
    )
    shot(page, "tearsheet_panel")


def test_compare_overlays_three_runs_normalised_with_their_metrics(page, live_server):
    ids = [run(live_server, "hold_to_expiry"), run(live_server, "tp_and_roll"),
           run(live_server, "tp_and_roll", underlying="ETH")]  # fmt: skip
    open_results(page)
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(3)
    for i in range(3):
        rows.nth(i).get_by_test_id("history-pick").check()
    page.get_by_test_id("res-compare-btn").click()
    chart = page.get_by_test_id("res-compare-chart")
    expect(chart).to_have_attribute("data-runs", "3")
    assert painted_pixels(page, "res-compare-chart") > 2_000
    legend = chart.locator(".u-legend")
    for letter in "ABC":
        expect(legend).to_contain_text(f"{letter}: ")
    expect(page.locator("#res-compare-metrics-head th")).to_have_text(["Metric", "A", "B", "C"])
    picked = ids[::-1]  # ticked top to bottom: the history is newest first
    overlay = httpx.get(
        f"{live_server.url}/api/backtests/overlay", params=[("run", i) for i in picked]
    ).json()
    assert [r["run_id"] for r in overlay["runs"]] == picked
    trades = next(m for m in overlay["metrics"] if m["key"] == "num_trades")
    row = page.get_by_test_id("res-compare-metrics").locator("tr", has_text="Trades").first
    expect(row.locator("td")).to_have_text(["Trades", *(str(v) for v in trades["values"])])
    assert all(c["equity_norm"][0] == pytest.approx(1, abs=0.05) for c in overlay["curves"])
    expect(page.get_by_test_id("res-compare-config")).to_contain_text("underlying")
    shot(page, "tearsheet_compare_three")


def test_the_one_file_report_opens_offline_and_draws_its_charts(browser, live_server, tmp_path):
    run_id = run(live_server, "tp_and_roll")
    base = f"{live_server.url}/api/backtests/{run_id}"
    res = httpx.get(f"{base}/tearsheet.html")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert "attachment" in res.headers["content-disposition"]
    assert URL.search(res.text) is None  # no resource, link or text reaches outside the file
    report = tmp_path / "report.html"
    report.write_bytes(res.content)
    sheet = httpx.get(f"{base}/tearsheet").json()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(report.as_uri())
    expect(page.get_by_test_id("report-tearsheet")).to_have_attribute("data-run-id", run_id)
    for testid in REPORT_CHARTS:
        expect(page.get_by_test_id(testid).locator(".uplot canvas")).to_be_visible()
        assert painted_pixels(page, testid) > 2_000, testid
    assert_heatmap(page, sheet, "strategy_usd_pct")
    expect(page.get_by_test_id("report-synthetic")).to_contain_text("SYNTHETIC")
    expect(page.get_by_test_id("report-modelled")).to_contain_text("vol surface")
    expect(page.get_by_test_id("report-warnings").locator("li").first).to_contain_text("SYNTHETIC")
    expect(page.get_by_test_id("report-config")).to_contain_text("tp_and_roll")
    metric = page.locator("[data-testid=report-metrics] tr[data-key=cagr_pct_usd] td").nth(1)
    expect(metric).to_have_text(
        next(m["text"] for m in sheet["metrics"] if m["key"] == "cagr_pct_usd")
    )
    assert requests == [report.as_uri()] and errors == []
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    shot(page, "tearsheet_report")
    context.close()
