"""The Sweeps tab as a person uses it: build a spec, watch it run, read the heatmap and the
results, open a configuration's full run; a real ``thetadesk serve`` and headless Chromium."""

import time

import httpx
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT
from tests.browser.test_dashboard import RUN_TIMEOUT_MS, SIX_MONTHS, TWO_MONTHS, shot
from tests.browser.test_results import painted_pixels

sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = sync_api.expect

pytestmark = pytest.mark.browser

BASE = {"underlying": "BTC", **TWO_MONTHS, "timeframe": "1h", "decision_interval_hours": 24}
EXIT_STYLES = ["hold_to_expiry", "tp_and_roll"]
SPEC = {
    "base": BASE,
    "axes": {"tp_threshold_pct": [50, 80], "exit_style": EXIT_STYLES},
}


def open_tab(page) -> None:
    page.click("#tab-sweeps")
    expect(page.locator("#panel-sweeps")).to_be_visible()
    expect(page.locator("#sw-source option[value=synthetic]")).to_be_attached()
    expect(page.get_by_test_id("sw-axis-row")).to_have_count(2)


def record_badge_texts(page) -> None:
    """Keep every distinct text the sweep's status badge shows, however briefly."""
    page.evaluate(
        """() => {
        const badge = document.getElementById("sw-status-text");
        window.sweepBadge = [badge.textContent];
        new MutationObserver(() => {
          const text = badge.textContent;
          if (window.sweepBadge.at(-1) !== text) window.sweepBadge.push(text);
        }).observe(badge, { childList: true, characterData: true, subtree: true });
      }"""
    )


def sweep_via_api(server, spec=SPEC) -> str:
    started = httpx.post(f"{server.url}/api/sweeps/start", json=spec)
    assert started.status_code == 200, started.json()
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/api/sweeps/status").json()
        if not status["running"]:
            assert status["state"] == "finished", status
            return status["sweep_id"]
        time.sleep(0.05)
    raise AssertionError(f"sweep did not finish: {status}")


def test_build_count_run_chart_sort_and_open_a_row(page, live_server):
    open_tab(page)
    page.fill("#sw-start", TWO_MONTHS["start"])
    page.fill("#sw-end", TWO_MONTHS["end"])
    page.select_option("#sw-source", "synthetic")
    expect(page.get_by_test_id("sw-source-note")).to_contain_text("SYNTHETIC")
    page.click("#sw-add-axis")
    rows = page.get_by_test_id("sw-axis-row")
    rows.nth(2).get_by_test_id("sw-axis-field").select_option("min_score_to_trade")
    rows.nth(2).get_by_test_id("sw-axis-values").fill("3:7:2")  # a range: 3, 5, 7
    count = page.get_by_test_id("sw-count")
    expect(count).to_have_attribute("data-count", "12")
    rows.nth(2).get_by_test_id("sw-axis-values").fill("3, 5")
    expect(count).to_have_attribute("data-count", "8")
    expect(count).to_contain_text("8 configurations")
    page.fill("#sw-constraints", "tp_threshold_pct > 60")
    expect(count).to_have_attribute("data-count", "4")
    expect(count).to_contain_text("4 excluded by constraints")
    page.fill("#sw-constraints", "")
    rows.nth(0).get_by_test_id("sw-axis-values").fill("50, 2000")
    expect(count).to_contain_text("tp_threshold_pct[1] = 2000")
    expect(count).to_have_class("err")
    rows.nth(0).get_by_test_id("sw-axis-values").fill("50, 80")
    expect(count).to_have_attribute("data-count", "8")

    record_badge_texts(page)
    page.click("#sw-start-stop-btn")
    badge = page.get_by_test_id("sw-status-text")
    expect(badge).to_have_text("FINISHED", timeout=RUN_TIMEOUT_MS)
    assert "RUNNING" in page.evaluate("window.sweepBadge")
    expect(page.get_by_test_id("sw-progress-label")).to_have_text("100%")
    expect(page.get_by_test_id("sw-done")).to_have_text("8 / 8")
    status = httpx.get(f"{live_server.url}/api/sweeps/status").json()
    sweep_id = status["sweep_id"]

    result = page.get_by_test_id("sw-result")
    expect(result).to_have_attribute("data-sweep-id", sweep_id)
    expect(page.get_by_test_id("sw-result-tag")).to_have_text("SYNTHETIC")
    # the heatmap: Sharpe over tp_threshold_pct x exit_style, max over min_score_to_trade
    api = f"{live_server.url}/api/sweeps/{sweep_id}"
    grid = httpx.get(
        f"{api}/heatmap", params={"metric": "sharpe", "x": "tp_threshold_pct", "y": "exit_style"}
    ).json()
    cells = page.get_by_test_id("sw-cell")
    expect(cells).to_have_count(4)
    shown = [
        float(v) if v else None for v in cells.evaluate_all("els => els.map(e => e.dataset.value)")
    ]
    assert shown == pytest.approx([v for line in grid["values"] for v in line])
    colours = cells.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    best = shown.index(max(v for v in shown if v is not None))
    red, green, _ = (int(c) for c in colours[best].removeprefix("rgb(").rstrip(")").split(","))
    assert green > 2 * red  # the best cell is green
    page.select_option("#sw-heat-reduce", "median")
    expect(page.get_by_test_id("sw-heatmap")).to_have_attribute("data-reduce", "median")
    page.select_option("#sw-heat-y", "")
    expect(cells).to_have_count(2)

    # the results: sorted by the objective, best first; a header click sorts by that column
    table = page.get_by_test_id("sw-row")
    expect(table).to_have_count(8)
    by_sharpe = httpx.get(f"{api}/results", params={"sort": "sharpe", "desc": True}).json()["rows"]
    assert table.evaluate_all("els => els.map(e => +e.dataset.row)") == [
        r["row"] for r in by_sharpe
    ]
    page.locator("#sw-results-head th[data-sort=num_trades]").click()
    by_trades = httpx.get(f"{api}/results", params={"sort": "num_trades", "desc": True}).json()[
        "rows"
    ]
    expect(table.first).to_have_attribute("data-row", str(by_trades[0]["row"]))
    assert table.evaluate_all("els => els.map(e => +e.dataset.row)") == [
        r["row"] for r in by_trades
    ]
    expect(page.locator("#sw-results-head th[data-sort=num_trades]")).to_have_attribute(
        "data-dir", "desc"
    )
    shot(page, "sweeps-finished")

    # a row opens its configuration's full run as an ordinary backtest, kept in the history
    chosen = by_trades[0]
    table.first.click()
    expect(page.locator("#panel-backtest")).to_be_visible()
    expect(page.get_by_test_id("res-run-title")).to_contain_text(
        chosen["run_id"], timeout=RUN_TIMEOUT_MS
    )
    expect(page.locator("#bt-status-text")).to_have_text("FINISHED")
    run = httpx.get(f"{live_server.url}/api/backtests/{chosen['run_id']}").json()
    assert run["metrics"]["num_trades"] == chosen["num_trades"]
    assert run["config"]["exit_style"] == chosen["exit_style"]
    expect(page.locator(f"#res-history-body tr[data-run-id='{chosen['run_id']}']")).to_have_count(1)

    # a heatmap cell opens the configuration it shows: from the history when it is there
    page.click("#tab-sweeps")
    page.select_option("#sw-heat-y", "exit_style")
    page.select_option("#sw-heat-reduce", "max")
    expect(page.get_by_test_id("sw-heatmap")).to_have_attribute("data-reduce", "max")
    expect(cells).to_have_count(4)
    cell = page.locator(f"[data-testid=sw-cell][data-row='{chosen['row']}']")
    if cell.count() == 0:  # the row is not the max of its cell: open the first cell's row
        cell = cells.first
    row = int(cell.get_attribute("data-row"))
    run_id = next(r["run_id"] for r in by_trades if r["row"] == row)
    cell.click()
    expect(page.locator("#panel-backtest")).to_be_visible()
    expect(page.get_by_test_id("res-run-title")).to_contain_text(run_id, timeout=RUN_TIMEOUT_MS)


def test_a_sweep_is_refused_with_409_while_a_backtest_runs(page, live_server):
    body = {"underlying": "BTC", **SIX_MONTHS, "timeframe": "1h", "pace": 10}
    assert httpx.post(f"{live_server.url}/api/backtest/start", json=body).json()["started"]
    open_tab(page)
    page.fill("#sw-start", TWO_MONTHS["start"])
    page.fill("#sw-end", TWO_MONTHS["end"])
    expect(page.get_by_test_id("sw-count")).to_have_attribute("data-count", "4")
    page.click("#sw-start-stop-btn")
    error = page.get_by_test_id("sw-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("a backtest is running")
    expect(page.get_by_test_id("sw-status-text")).to_have_text("IDLE")
    httpx.post(f"{live_server.url}/api/backtest/stop")
    expect(page.locator("#bt-status-text")).to_have_text("STOPPED", timeout=10_000)

    # and the other way round: the Backtesting tab says a sweep is running
    # 2,880 configurations of four years: minutes of work however fast the machine, stopped at
    # once (120 could finish before the click on a quiet machine)
    tp_pct = {"start": 5, "stop": 100, "step": 1}
    axes = {"target_dte": [2, 7, 14, 28, 35], "tp_threshold_pct": tp_pct,
            "min_score_to_trade": [3, 5, 7], "exit_style": EXIT_STYLES}  # fmt: skip
    long = {"base": BASE | {"start": "2020-01-01", "end": "2024-01-01"}, "axes": axes}
    assert httpx.post(f"{live_server.url}/api/sweeps/start", json=long).status_code == 200
    page.click("#tab-backtest")
    page.click("#bt-start-stop-btn")
    expect(page.get_by_test_id("bt-error")).to_contain_text("a sweep is running")
    page.click("#tab-sweeps")
    expect(page.get_by_test_id("sw-start-stop-btn")).to_have_text("Stop Sweep")
    page.click("#sw-start-stop-btn")
    expect(page.get_by_test_id("sw-status-text")).to_have_text("STOPPED", timeout=10_000)


def test_past_sweeps_reopen_and_delete(page, live_server):
    first = sweep_via_api(live_server)
    second = sweep_via_api(live_server, SPEC | {"axes": {"min_score_to_trade": [3, 5, 7]}})
    page.reload()
    open_tab(page)
    history = page.get_by_test_id("sw-history-row")
    expect(history).to_have_count(2)
    result = page.get_by_test_id("sw-result")
    expect(result).to_have_attribute("data-sweep-id", second)  # the newest opens first
    expect(page.get_by_test_id("sw-cell")).to_have_count(3)
    expect(history.first).to_contain_text("SYNTHETIC")
    page.locator(
        f"#sw-history-body tr[data-sweep-id='{first}'] [data-testid=sw-history-open]"
    ).click()
    expect(result).to_have_attribute("data-sweep-id", first)
    expect(page.get_by_test_id("sw-cell")).to_have_count(4)
    summary = httpx.get(f"{live_server.url}/api/sweeps/{first}").json()
    best = summary["best"][0]
    expect(page.get_by_test_id("sw-winner-objective")).to_have_text(f"{best['sharpe']:.2f}")
    for axis in ("tp_threshold_pct", "exit_style"):
        expect(page.get_by_test_id(f"sw-winner-{axis}")).to_have_text(
            str(best[axis]).removesuffix(".0")
        )
    stats = summary["statistics"]
    for testid, block, key in (("sw-dsr", "deflated_sharpe", "dsr"), ("sw-pbo", "pbo", "pbo")):
        value = stats[block][key]
        shown = "n/a" if value is None else f"{round(value * 100)} %"
        expect(page.get_by_test_id(testid)).to_contain_text(shown)
        expect(page.get_by_test_id(testid)).to_contain_text(stats[block]["explanation"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(
        f"#sw-history-body tr[data-sweep-id='{first}'] [data-testid=sw-history-delete]"
    ).click()
    expect(history).to_have_count(1)
    expect(result).to_be_hidden()
    assert httpx.get(f"{live_server.url}/api/sweeps/{first}").status_code == 404


def test_the_walk_forward_view_charts_out_of_sample_equity_and_the_folds(page, live_server):
    spec = SPEC | {"walk_forward": "train=30d,test=14d,step=14d"}
    sweep_id = sweep_via_api(live_server, spec)
    page.reload()
    open_tab(page)
    expect(page.get_by_test_id("sw-result")).to_have_attribute("data-sweep-id", sweep_id)
    wf = httpx.get(f"{live_server.url}/api/sweeps/{sweep_id}").json()["walk_forward"]
    expect(page.get_by_test_id("sw-wf")).to_be_visible()
    expect(page.get_by_test_id("sw-wf-explanation")).to_have_text(wf["explanation"])
    oos = f"{wf['oos_return_pct_usd']:+.2f} %"
    expect(page.get_by_test_id("sw-wf-return")).to_contain_text(f"out of sample {oos}")
    folds = page.get_by_test_id("sw-wf-fold")
    expect(folds).to_have_count(len(wf["folds"]))
    for i, fold in enumerate(wf["folds"]):
        cells = folds.nth(i).locator("td")
        expect(cells.nth(1)).to_have_text(f"{fold['train_start'][:10]} → {fold['train_end'][:10]}")
        expect(cells.nth(3)).to_have_text(str(fold["tp_threshold_pct"]).removesuffix(".0"))
        expect(cells.nth(4)).to_have_text(fold["exit_style"])
        expect(cells.nth(5)).to_have_text(str(fold["chosen_row"]))
    chart = page.get_by_test_id("sw-wf-chart")
    expect(chart.locator(".uplot canvas")).to_be_visible()
    legend = chart.locator(".u-legend")
    expect(legend).to_contain_text("Walk-forward, out of sample (USD %)")
    expect(legend).to_contain_text("HODL (USD %)")
    assert int(chart.get_attribute("data-points")) > 100
    assert painted_pixels(page, "sw-wf-chart") > 2_000
    shot(page, "sweeps-walk-forward")
