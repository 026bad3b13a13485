"""Results as a person sees them: uPlot charts, trades, history, compare, delete and export."""

import json
import re
import shutil
import time
from decimal import ROUND_HALF_UP, Decimal

import httpx
import polars as pl
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT
from tests.browser.test_dashboard import RUN_TIMEOUT_MS, SIX_MONTHS, TWO_MONTHS, fill_form, shot

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

CHARTS = ("chart-equity", "chart-drawdown", "chart-spot")
TRADES_HEADER = "open_time,close_time,instrument_name,strike,expiry,dte_at_open"
# fmt: off
TRADE_HEADERS = ["Opened (UTC)", "Closed (UTC)", "Instrument", "Strike (USD)", "DTE (d)",
                 "Premium (coin)", "Premium (USD)", "Close reason", "PnL (coin)", "PnL (USD)"]
TRADE_SORTS = ["open_time", "close_time", "instrument_name", "strike", "dte_at_open",
               "premium_coin", "premium_usd", "close_reason", "pnl_coin", "pnl_usd"]
# fmt: on


def _minute(iso: str) -> str:
    return iso.replace("T", " ")[:16]


def _fixed(x: float, digits: int, sign: str = "") -> str:
    """``x`` as the browser's Intl.NumberFormat shows it: its shortest decimal, half away from 0.

    Python's ``format`` rounds the binary value instead; the two differ on a tie such as
    0.0083375 (fills on the tick grid make such PnLs common).
    """
    d = Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{d:{sign},.{digits}f}"


def trade_cells(t: dict) -> list[list[str]]:
    """The cells of a trade's row as the page shows them: text and class of each."""
    reason = "expiry (assigned)" if t["assigned"] else t["close_reason"]
    pnl = "num ok" if t["pnl_usd"] > 0 else "num err" if t["pnl_usd"] < 0 else "num"
    return [[_minute(t["open_time"]), ""], [_minute(t["close_time"]), ""],
            [t["instrument_name"], ""], [_fixed(t["strike"], 0), "num"],
            [_fixed(t["dte_at_open"], 1), "num"], [_fixed(t["premium_coin"], 6), "num"],
            [_fixed(t["premium_usd"], 2), "num"], [reason, ""],
            [_fixed(t["pnl_coin"], 6, "+"), pnl], [_fixed(t["pnl_usd"], 2, "+"), pnl]]  # fmt: skip


def run_via_api(server, exit_style: str) -> str:
    """Run a two-month BTC backtest through the API (as another tab would) and return its id."""
    body = {"underlying": "BTC", **TWO_MONTHS, "timeframe": "1h", "exit_style": exit_style}
    assert httpx.post(f"{server.url}/api/backtest/start", json=body).json()["started"] is True
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/api/backtest/status").json()
        if not status["running"]:
            assert status["state"] == "finished", status
            return status["run_id"]
        time.sleep(0.05)
    raise AssertionError(f"run did not finish: {status}")


def painted_pixels(page, testid: str) -> int:
    """How many pixels of the chart's canvas uPlot has drawn on (not transparent)."""
    return page.evaluate(
        """(testid) => {
        const canvas = document.querySelector(`[data-testid=${testid}] .uplot canvas`);
        const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted += 1;
        return painted;
      }""",
        testid,
    )


def open_results(page) -> None:
    page.reload()
    page.click("#tab-backtest")
    expect(page.get_by_test_id("res-run")).to_be_visible()


def test_a_finished_run_is_charted_and_its_trades_sort_and_page(page, live_server):
    fill_form(page, **SIX_MONTHS, exit_style="tp_and_roll")
    page.click("#bt-start-stop-btn")
    expect(page.locator("#bt-status-text")).to_have_text("FINISHED", timeout=RUN_TIMEOUT_MS)
    run_id = httpx.get(f"{live_server.url}/api/backtest/status").json()["run_id"]
    base = f"{live_server.url}/api/backtests/{run_id}"
    curve = httpx.get(f"{base}/equity", params={"points": 20_000}).json()
    assert curve["rows"] == curve["points"] == 181 * 24 + 1  # whole: hourly bars, half a year

    for testid in CHARTS:
        chart = page.get_by_test_id(testid)
        expect(chart).to_have_attribute("data-run-id", run_id)
        expect(chart.locator(".uplot canvas")).to_be_visible()
        assert 1_000 < int(chart.get_attribute("data-points")) <= 4_000  # thinned for the width
        assert painted_pixels(page, testid) > 2_000
    expect(page.get_by_test_id("chart-spot")).to_have_attribute(
        "data-markers", str(len(curve["markers"]))
    )
    assert {m["kind"] for m in curve["markers"]} >= {"sell", "take_profit"}
    legend = page.get_by_test_id("chart-equity").locator(".u-legend")
    for label in ("Equity (USD)", "HODL (USD)", "Equity (coin)", "HODL (coin)"):
        expect(legend).to_contain_text(label)
    expect(page.get_by_test_id("chart-spot").locator(".u-legend")).to_contain_text("Take profit")
    expect(page.get_by_test_id("res-run-title")).to_contain_text("tp_and_roll")
    expect(page.get_by_test_id("res-run-tag")).to_have_text("SYNTHETIC")
    data = httpx.get(base).json()["data"]
    expect(page.get_by_test_id("res-data-source")).to_have_text("synthetic (SYNTHETIC)")
    expect(page.get_by_test_id("res-data-fill-model")).to_have_text(
        "bid/ask (sales at the bid, buy-backs at the ask)"
    )
    expect(page.get_by_test_id("res-data-iv-real")).to_have_text("0.0 % of decisions")
    expect(page.get_by_test_id("res-data-calibration")).to_have_text(data["calibration_id"])
    warnings = page.get_by_test_id("res-warnings").locator("li")
    expect(warnings).to_have_text(data["warnings"])
    expect(warnings.first).to_be_visible()
    shot(page, "results_finished_run")

    trades = httpx.get(f"{base}/trades").json()
    total = trades["total"]
    assert total > 25
    rows = page.locator("#res-trades-body tr")
    expect(rows).to_have_count(25)
    headers = page.locator("[data-testid=res-trades] th")
    expect(headers).to_have_text(TRADE_HEADERS)
    assert headers.evaluate_all("ths => ths.map(th => th.dataset.sort)") == TRADE_SORTS
    shown = rows.evaluate_all(
        "trs => trs.map(tr => [...tr.cells].map(td => [td.textContent, td.className]))"
    )
    assert shown == [trade_cells(t) for t in trades["trades"][:25]]
    assert any(t["assigned"] for t in trades["trades"][:25])  # "expiry (assigned)" is shown
    expect(page.get_by_test_id("res-trades-info")).to_have_text(f"trades 1–25 of {total}")
    page.get_by_test_id("res-trades-next").click()
    expect(page.get_by_test_id("res-trades-info")).to_have_text(
        f"trades 26–{min(50, total)} of {total}"
    )
    header = page.locator("[data-testid=res-trades] th[data-sort=pnl_usd]")
    header.click()
    header.click()  # second click: descending
    expect(header).to_have_attribute("data-dir", "desc")
    best = httpx.get(f"{base}/trades", params={"sort": "pnl_usd", "desc": True, "limit": 1})
    expect(rows.first.locator("td").nth(2)).to_have_text(
        best.json()["trades"][0]["instrument_name"]
    )
    expect(page.get_by_test_id("res-trades-info")).to_have_text(f"trades 1–25 of {total}")


def test_open_compare_and_delete_past_runs_from_the_history(page, live_server):
    hold = run_via_api(live_server, "hold_to_expiry")
    tp = run_via_api(live_server, "tp_and_roll")
    open_results(page)
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-run-id", tp)  # newest first
    expect(rows.nth(1)).to_contain_text("SYNTHETIC")
    expect(page.get_by_test_id("chart-equity")).to_have_attribute("data-run-id", tp)

    older = page.locator(f"[data-testid=history-row][data-run-id='{hold}']")
    older.get_by_test_id("history-open").click()
    for testid in CHARTS:
        expect(page.get_by_test_id(testid)).to_have_attribute("data-run-id", hold)
    expect(page.get_by_test_id("res-run-title")).to_contain_text("hold_to_expiry")
    expect(older).to_have_class(re.compile(r"\bopen\b"))
    hold_trades = httpx.get(f"{live_server.url}/api/backtests/{hold}/trades").json()["total"]
    expect(page.get_by_test_id("res-trades-info")).to_contain_text(f"of {hold_trades}")

    compare = page.get_by_test_id("res-compare-btn")
    expect(compare).to_be_disabled()
    for row in (rows.first, rows.nth(1)):
        row.get_by_test_id("history-pick").check()
    compare.click()
    config = page.get_by_test_id("res-compare-config")
    expect(config.locator("tr")).to_have_count(1)
    expect(config).to_contain_text("exit_style")
    expect(config).to_contain_text("tp_and_roll")
    expect(page.get_by_test_id("res-compare-metrics")).to_contain_text("Take-profits")
    shot(page, "results_compare")

    page.once("dialog", lambda dialog: dialog.accept())
    older.get_by_test_id("history-delete").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("res-run-title")).to_have_text("No run selected")
    assert not (live_server.data_dir / "runs" / hold).exists()
    assert (live_server.data_dir / "runs" / tp / "summary.json").is_file()


def test_run_live_puts_a_runs_strategy_on_the_paper_agent(page, live_server):
    hold = run_via_api(live_server, "hold_to_expiry")
    open_results(page)
    row = page.locator(f"[data-testid=history-row][data-run-id='{hold}']")
    page.on("dialog", lambda dialog: dialog.accept())  # a call may be open: buy it back first
    row.get_by_test_id("history-run-live").click()
    expect(page.get_by_test_id("res-live-note")).to_contain_text(f"strategy of run {hold}")

    config = httpx.get(f"{live_server.url}/api/backtests/{hold}").json()["config"]
    agent = httpx.get(f"{live_server.url}/api/agent/status").json()
    assert agent["broker"] == "paper" and agent["state"] == "running"
    assert agent["strategy"] == {k: config[k] for k in agent["strategy"]}
    assert agent["strategy"]["exit_style"] == "hold_to_expiry"
    page.click("#tab-live")
    expect(page.get_by_test_id("agent-strategy")).to_contain_text("hold to expiry")
    expect(page.get_by_test_id("agent-strategy")).to_contain_text("decides every 24 h")
    # the agent's decisions name actions by the label of the one actions table
    action = page.locator("#agent-decisions-body td[data-action]").first
    expect(action).to_have_attribute("title", re.compile(r"\w+"))
    shot(page, "agent_after_run_live")


def test_exports_download_csv_parquet_and_summary(page, live_server):
    run_id = run_via_api(live_server, "hold_to_expiry")
    open_results(page)
    expect(page.get_by_test_id("res-exports")).to_be_visible()

    with page.expect_download() as info:
        page.get_by_test_id("dl-trades-csv").click()
    download = info.value
    assert download.suggested_filename == f"thetadesk-{run_id}-trades.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()  # noqa: SIM115
    assert lines[0].startswith(TRADES_HEADER)
    run_dir = live_server.data_dir / "runs" / run_id
    assert len(lines) == 1 + pl.read_parquet(run_dir / "trades.parquet").height

    with page.expect_download() as info:
        page.get_by_test_id("dl-equity-parquet").click()
    equity = pl.read_parquet(info.value.path())
    assert equity.equals(pl.read_parquet(run_dir / "equity.parquet"))

    with page.expect_download() as info:
        page.get_by_test_id("dl-summary").click()
    assert info.value.suggested_filename == f"thetadesk-{run_id}-summary.json"
    assert open(info.value.path(), "rb").read() == (run_dir / "summary.json").read_bytes()  # noqa: SIM115


def test_curves_grow_live_while_a_paced_run_is_published(page, live_server):
    fill_form(page, **SIX_MONTHS, exit_style="tp_and_roll", pace="50")
    page.click("#bt-start-stop-btn")
    chart = page.get_by_test_id("chart-equity")
    expect(chart).to_have_attribute("data-live", "true", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("res-run-tag")).to_have_text("LIVE")
    first = int(chart.get_attribute("data-points"))
    page.wait_for_function(
        """(n) => +document.querySelector("[data-testid=chart-equity]").dataset.points > n""",
        arg=first + 200,
    )
    shot(page, "results_live")
    expect(page.locator("#bt-status-text")).to_have_text("FINISHED", timeout=RUN_TIMEOUT_MS)
    run_id = httpx.get(f"{live_server.url}/api/backtest/status").json()["run_id"]
    expect(chart).to_have_attribute("data-run-id", run_id)
    expect(chart).to_have_attribute("data-live", "false")
    expect(page.get_by_test_id("history-row")).to_have_count(1)


def test_without_the_chart_library_the_page_says_so_and_still_works(page, live_server):
    run_id = run_via_api(live_server, "hold_to_expiry")
    page.route("**/vendor/uplot/**", lambda route: route.fulfill(status=404, body="missing"))
    open_results(page)
    error = page.get_by_test_id("res-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Charts unavailable: the uPlot library is not installed")
    expect(page.get_by_test_id("history-row")).to_have_attribute("data-run-id", run_id)
    expect(page.locator("#res-trades-body tr").first).to_be_visible()
    expect(page.get_by_test_id("chart-equity").locator("canvas")).to_have_count(0)


def test_the_data_block_of_a_run_is_shown_in_the_results_and_the_history(page, live_server):
    run_id = run_via_api(live_server, "hold_to_expiry")
    # a run on partly real DVOL, filled at mark, with a calibration: its summary written by hand
    marked = "fedcba9876543210"
    runs = live_server.data_dir / "runs"
    shutil.copytree(runs / run_id, runs / marked)
    summary = json.loads((runs / marked / "summary.json").read_text())
    warnings = [
        "41 % of IV estimated from realized vol (no DVOL print)",
        "fills at mark: optimistic (no bid/ask spread paid)",
        "fees: a statement",
    ]
    summary["run_id"] = marked
    summary["finished_at"] = "2099-01-01T00:00:00+00:00"  # the newest: opened first
    summary["data"] |= {
        "synthetic": False,
        "source": "deribit",
        "origin": "deribit-mainnet",
        "fill_model": "mark",
        "calibration_id": "cal-2025-12-shared",
        "iv_real_share": 0.59,
        "warnings": warnings,
    }
    (runs / marked / "summary.json").write_text(json.dumps(summary))
    open_results(page)

    expect(page.get_by_test_id("res-run-title")).to_contain_text(marked)
    expect(page.get_by_test_id("res-data-source")).to_have_text("deribit (deribit-mainnet)")
    fill = page.get_by_test_id("res-data-fill-model")
    expect(fill).to_have_text("mark: optimistic (no bid/ask spread paid)")
    expect(fill).to_have_class("warn")
    expect(page.get_by_test_id("res-data-calibration")).to_have_text("cal-2025-12-shared")
    expect(page.get_by_test_id("res-data-iv-real")).to_have_text("59.0 % of decisions")
    expect(page.get_by_test_id("res-warnings").locator("li")).to_have_text(warnings)

    under = page.locator(f"[data-testid=history-data][data-for-run='{marked}']")
    expect(under.get_by_test_id("history-fill-model")).to_have_text(
        "Fills: mark: optimistic (no bid/ask spread paid)"
    )
    expect(under.get_by_test_id("history-calibration")).to_have_text(
        "Calibration: cal-2025-12-shared"
    )
    expect(under.get_by_test_id("history-iv-real")).to_have_text(
        "IV real (DVOL): 59.0 % of decisions"
    )
    expect(under.get_by_test_id("history-warnings").locator("li")).to_have_text(warnings)
    plain = page.locator(f"[data-testid=history-data][data-for-run='{run_id}']")
    expect(plain.get_by_test_id("history-fill-model")).to_contain_text("bid/ask")
    expect(plain.get_by_test_id("history-warnings").locator("li").first).to_contain_text(
        "SYNTHETIC market"
    )
    expect(plain.get_by_test_id("history-calibration")).to_contain_text("cal-")
    shot(page, "results_data_block")

    # a run from before the data block existed: its facts read "not recorded", nothing breaks
    for key in ("fill_model", "calibration_id", "iv_real_share", "warnings", "fee_schedule"):
        del summary["data"][key]
    (runs / marked / "summary.json").write_text(json.dumps(summary))
    open_results(page)
    expect(page.get_by_test_id("res-data-fill-model")).to_have_text("not recorded")
    expect(page.get_by_test_id("res-data-iv-real")).to_have_text("not recorded")
    expect(page.get_by_test_id("res-warnings")).to_be_hidden()


def test_an_unreadable_run_shows_why_in_the_history_and_can_be_deleted(page, live_server):
    run_id = run_via_api(live_server, "hold_to_expiry")
    broken = "0123456789abcdef"
    runs = live_server.data_dir / "runs"
    shutil.copytree(runs / run_id, runs / broken)
    (runs / broken / "summary.json").write_text('{"run_id": "0123456789abcdef", "finis')
    open_results(page)
    bad = page.get_by_test_id("history-unreadable")
    expect(bad).to_have_attribute("data-run-id", broken)
    expect(bad).to_contain_text(f"run {broken} is unreadable: summary.json is not valid JSON")
    expect(page.get_by_test_id("history-row")).to_have_attribute("data-run-id", run_id)
    expect(page.get_by_test_id("chart-equity")).to_have_attribute("data-run-id", run_id)
    shot(page, "results_unreadable_run")
    page.once("dialog", lambda dialog: dialog.accept())
    bad.get_by_test_id("history-delete").click()
    expect(bad).to_have_count(0)
    expect(page.get_by_test_id("history-row")).to_have_count(1)
    assert sorted(p.name for p in runs.iterdir()) == [run_id]
