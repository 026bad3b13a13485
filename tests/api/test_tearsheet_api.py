"""``GET /api/backtests/{run_id}/tearsheet`` equals a recomputation from the run's Parquet files.

The recomputation here is written apart from the engine, row by row in plain Python, so a wrong
rule in ``engine.results.tearsheet`` or ``engine.metrics`` shows up as a difference.
"""

import json
import math
import shutil
import statistics
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.api.test_results_api import UNKNOWN, assert_error, client, runs  # noqa: F401

DAY_S = 86_400.0


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-9)


def load(data_dir, run_id):
    folder = data_dir / "runs" / run_id
    summary = json.loads((folder / "summary.json").read_text())
    equity = pl.read_parquet(folder / "equity.parquet").to_dicts()
    trades = pl.read_parquet(folder / "trades.parquet").to_dicts()
    return summary, equity, trades


def calendar_returns(equity, column, start, key):
    last = {}
    for row in equity:
        last[key(row["time"])] = row[column]
    out, prev = {}, start
    for k, value in last.items():
        out[k] = (value / prev - 1) * 100
        prev = value
    return out


def drawdowns(equity):
    found, peak, under, low = [], 0, False, 0
    values = [row["equity_usd"] for row in equity]
    for i, v in enumerate(values):
        if v >= values[peak]:
            if under:
                found.append((peak, low, i))
            peak, under = i, False
        elif not under or v < values[low]:
            low, under = i, True
    if under:
        found.append((peak, low, None))
    rows = []
    for p, t, r in found:
        end = equity[r if r is not None else -1]["time"]
        rows.append(
            {
                "peak_time": equity[p]["time"],
                "trough_time": equity[t]["time"],
                "recovery_time": equity[r]["time"] if r is not None else None,
                "depth_pct": (1 - values[t] / values[p]) * 100,
                "length_days": (end - equity[p]["time"]).total_seconds() / DAY_S,
            }
        )
    return sorted(rows, key=lambda d: -d["depth_pct"])[:5]


def daily(equity, column, start):
    """(midnight, return) for every 00:00 UTC from the first day, the last instant at or before."""
    first, last = equity[0]["time"], equity[-1]["time"]
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    out, prev, i = [], start, 0
    while day <= last:
        if day >= first:
            while i + 1 < len(equity) and equity[i + 1]["time"] <= day:
                i += 1
            out.append((day, equity[i][column] / prev - 1))
            prev = equity[i][column]
        day += timedelta(days=1)
    return out


def group_stats(rows):
    n = len(rows)
    held = [(t["close_time"] - t["open_time"]).total_seconds() / DAY_S for t in rows]
    return {
        "trades": n,
        "win_rate_pct": sum(t["pnl_coin"] > 0 for t in rows) / n * 100 if n else None,
        "premium_coin": sum(t["premium_coin"] * t["quantity_coin"] for t in rows),
        "premium_usd": sum(
            t["premium_coin"] * t["quantity_coin"] * t["spot_at_open"] for t in rows
        ),
        "pnl_coin": sum(t["pnl_coin"] for t in rows),
        "pnl_usd": sum(t["pnl_usd"] for t in rows),
        "avg_days_held": sum(held) / n if n else None,
    }


def assert_rows(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert set(e) <= set(g)
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == approx(value), key
            else:
                assert g[key] == value, key


@pytest.mark.parametrize("which", [0, 1], ids=["hold_to_expiry", "tp_and_roll"])
def test_tearsheet_equals_a_recomputation_from_the_parquet_outputs(client, runs, which):  # noqa: F811
    data_dir, ids = runs
    run_id = ids[which]
    res = client.get(f"/api/backtests/{run_id}/tearsheet", params={"points": 20_000})
    assert res.status_code == 200, res.text
    sheet = res.json()
    summary, equity, trades = load(data_dir, run_id)
    capital, quantity = summary["metrics"]["initial_capital_usd"], summary["quantity_coin"]
    assert sheet["run_id"] == run_id and sheet["config"] == summary["config"]
    assert sheet["data"]["synthetic"] is True and sheet["data"]["modelled"]
    assert {m["key"]: m["value"] for m in sheet["metrics"]} == summary["metrics"]

    month = lambda t: (t.year, t.month)  # noqa: E731
    year = lambda t: t.year  # noqa: E731
    for table, key in (("months", month), ("years", year)):
        usd = calendar_returns(equity, "equity_usd", capital, key)
        hodl = calendar_returns(equity, "hodl_usd", capital, key)
        coin = calendar_returns(equity, "equity_coin", quantity, key)
        expected = [
            {
                "year": k[0] if table == "months" else k,
                **({"month": k[1]} if table == "months" else {}),
                "strategy_usd_pct": usd[k],
                "hodl_usd_pct": hodl[k],
                "strategy_coin_pct": coin[k],
            }
            for k in usd
        ]
        assert_rows(sheet["returns"][table], expected)
    # January to June, and July of the last instant (1 July 00:00)
    assert len(sheet["returns"]["months"]) == 7 and len(sheet["returns"]["years"]) == 1
    best = max(r["strategy_usd_pct"] for r in sheet["returns"]["months"])
    assert summary["metrics"]["best_month_pct_usd"] == approx(best)

    expected = drawdowns(equity)
    for row in expected:
        for k in ("peak_time", "trough_time", "recovery_time"):
            row[k] = row[k].isoformat().replace("+00:00", "Z") if row[k] else None
    assert_rows(sheet["drawdowns"], expected)
    assert sheet["drawdowns"][0]["depth_pct"] == approx(summary["metrics"]["max_drawdown_pct"])

    strategy, hodl = daily(equity, "equity_usd", capital), daily(equity, "hodl_usd", capital)
    rolling = sheet["rolling"]
    assert rolling["rows"] == rolling["points"] == len(strategy) == 182  # 1 Jan to 1 Jul
    assert rolling["time_s"] == [d.timestamp() for d, _ in strategy]
    for name, series in (("strategy", strategy), ("hodl", hodl)):
        rets = [r for _, r in series]
        for i in range(len(rets)):
            window = rets[i - 89 : i + 1] if i >= 89 else None
            sharpe, vol = rolling[f"{name}_sharpe"][i], rolling[f"{name}_vol_pct"][i]
            if window is None:
                assert sharpe is None and vol is None
                continue
            sd = statistics.stdev(window)
            assert vol == approx(sd * math.sqrt(365) * 100)
            assert sharpe == approx(statistics.fmean(window) / sd * math.sqrt(365))

    hist = sheet["daily_returns"]
    both = [r * 100 for _, r in strategy + hodl]
    lo, hi = min(both), max(both)
    assert hist["bin_edges_pct"][0] == approx(lo) and hist["bin_edges_pct"][-1] == approx(hi)
    width = (hi - lo) / (len(hist["bin_edges_pct"]) - 1)
    for name, series in (("strategy_days", strategy), ("hodl_days", hodl)):
        counts = [0] * (len(hist["bin_edges_pct"]) - 1)
        for _, r in series:
            counts[min(int((r * 100 - lo) / width), len(counts) - 1)] += 1
        assert sum(hist[name]) == len(series) == hist["days"]
        # a value on a bin edge may fall either side of it by rounding: allow one move per edge
        assert sum(abs(a - b) for a, b in zip(hist[name], counts, strict=True)) <= 2

    def by(key_of, groups=None):
        found = {}
        for t in trades:
            found.setdefault(key_of(t), []).append(t)
        names = groups if groups is not None else sorted(found)
        return [{"group": g, **group_stats(found.get(g, []))} for g in names]

    def reason(t):
        if t["close_reason"] == "expiry":
            return "assigned" if t["close_price_coin"] > 0 else "expired_worthless"
        return t["close_reason"]

    def bucket(edges, labels):
        return lambda v: labels[sum(v >= e for e in edges)]

    dlabels = ["0.00–0.10", "0.10–0.20", "0.20–0.30", "0.30–0.40", "≥ 0.40"]
    tlabels = ["0–3 d", "3–7 d", "7–14 d", "14–30 d", "≥ 30 d"]
    delta = bucket((0.1, 0.2, 0.3, 0.4), dlabels)
    dte = bucket((3, 7, 14, 30), tlabels)
    got = sheet["breakdowns"]
    reasons = ["expired_worthless", "assigned", "take_profit", "end_of_data"]
    assert_rows(got["close_reason"], by(reason, reasons))
    assert_rows(got["delta_at_open"], by(lambda t: delta(t["delta_at_open"]), dlabels))
    assert_rows(got["dte_at_open"], by(lambda t: dte(t["dte_at_open"]), tlabels))
    assert_rows(got["year"], by(lambda t: str(t["close_time"].year)))
    assert sum(r["trades"] for r in got["close_reason"]) == len(trades) > 0

    months = [(2022, m) for m in range(1, 7)] + [(2022, 7)]  # the last instant: 1 July 00:00
    first, last = equity[0]["time"], equity[-1]["time"]
    expected = []
    for y, m in months:
        start = max(first, datetime(y, m, 1, tzinfo=UTC))
        end = min(last, datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC))
        days = (end - start).total_seconds() / DAY_S
        sold = [t for t in trades if (t["open_time"].year, t["open_time"].month) == (y, m)]
        premium = sum(t["premium_coin"] * t["quantity_coin"] for t in sold)
        annualised = premium / quantity * 365 / days * 100 if days else None
        expected.append(
            {"year": y, "month": m, "premium_coin": premium, "days": days,
             "premium_yield_annualised_pct": annualised}
        )  # fmt: skip
    assert_rows(sheet["premium_yield"], expected)


def test_tearsheet_series_are_thinned_like_the_equity_curve(client, runs):  # noqa: F811
    _, (hold, _) = runs
    full = client.get(f"/api/backtests/{hold}/tearsheet", params={"points": 20_000}).json()
    thin = client.get(f"/api/backtests/{hold}/tearsheet", params={"points": 60}).json()
    curve = client.get(f"/api/backtests/{hold}/equity", params={"points": 60}).json()
    assert thin["equity_curve"]["time_s"] == curve["time_s"]
    assert thin["equity_curve"]["drawdown_pct"] == curve["drawdown_pct"]
    assert thin["rolling"]["points"] <= 60 < thin["rolling"]["rows"] == full["rolling"]["rows"]
    where = {t: i for i, t in enumerate(full["rolling"]["time_s"])}
    for name in ("strategy_sharpe", "hodl_sharpe", "strategy_vol_pct", "hodl_vol_pct"):
        kept = [full["rolling"][name][where[t]] for t in thin["rolling"]["time_s"]]
        assert thin["rolling"][name] == kept
        values = [v for v in full["rolling"][name] if v is not None]
        assert max(values) in thin["rolling"][name] and min(values) in thin["rolling"][name]
    assert thin["returns"] == full["returns"] and thin["breakdowns"] == full["breakdowns"]


def test_tearsheet_of_an_unknown_or_broken_run_says_so(client, runs):  # noqa: F811
    data_dir, (hold, _) = runs
    body = assert_error(client.get(f"/api/backtests/{UNKNOWN}/tearsheet"), 404, UNKNOWN)
    assert "no finished run" in body["error"]
    assert_error(client.get("/api/backtests/NOT-A-RUN/tearsheet"), 422)
    assert_error(client.get(f"/api/backtests/{hold}/tearsheet", params={"points": 3}), 422)
    (data_dir / "runs" / hold / "equity.parquet").write_bytes(b"not parquet")
    assert_error(client.get(f"/api/backtests/{hold}/tearsheet"), 409, "equity.parquet")


def test_overlay_puts_two_or_more_runs_on_one_scale(client, runs):  # noqa: F811
    data_dir, (hold, tp) = runs
    res = client.get("/api/backtests/overlay", params=[("run", tp), ("run", hold)])
    assert res.status_code == 200, res.text
    body = res.json()
    assert (
        [r["run_id"] for r in body["runs"]] == [c["run_id"] for c in body["curves"]] == [tp, hold]
    )
    for curve in body["curves"]:
        summary, equity, _ = load(data_dir, curve["run_id"])
        capital = summary["metrics"]["initial_capital_usd"]
        by_time = {row["time"].timestamp(): row["equity_usd"] / capital for row in equity}
        assert 50 < len(curve["time_s"]) <= 1_000 < len(equity)
        assert curve["equity_norm"] == [approx(by_time[t]) for t in curve["time_s"]]
        assert min(curve["equity_norm"]) == approx(min(by_time.values()))  # extremes kept
    assert body["config_diff"] == [
        {"key": "exit_style", "values": ["tp_and_roll", "hold_to_expiry"]}
    ]
    trades = next(m for m in body["metrics"] if m["key"] == "num_trades")
    assert trades["label"] == "Trades"
    assert trades["values"] == [load(data_dir, r)[0]["metrics"]["num_trades"] for r in (tp, hold)]


def test_overlay_refuses_one_run_or_an_unknown_one(client, runs):  # noqa: F811
    _, (hold, _) = runs
    assert_error(client.get("/api/backtests/overlay", params={"run": hold}), 422)
    assert_error(client.get("/api/backtests/overlay", params=[("run", hold), ("run", "x")]), 422)
    unknown = client.get("/api/backtests/overlay", params=[("run", hold), ("run", UNKNOWN)])
    assert_error(unknown, 404, UNKNOWN)


def test_the_report_download_is_one_self_contained_file(client, runs):  # noqa: F811
    _, (hold, _) = runs
    res = client.get(f"/api/backtests/{hold}/tearsheet.html")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert res.headers["content-disposition"] == (
        f'attachment; filename="thetadesk-{hold}-report.html"'
    )
    html = res.text
    assert "http://" not in html.lower() and "https://" not in html.lower()
    assert "<script src" not in html and "<link" not in html  # nothing is fetched
    assert "var uPlot=" in html and "renderTearsheet(" in html
    assert "SYNTHETIC DATA" in html and "hold_to_expiry" in html
    assert_error(client.get(f"/api/backtests/{UNKNOWN}/tearsheet.html"), 404, UNKNOWN)


def test_a_run_on_recorded_chains_says_what_was_recorded(chain_data_dir, tmp_path):
    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run
    from tests.api.test_results_api import app_client

    data_dir = shutil.copytree(chain_data_dir, tmp_path / "data")
    cfg = CallSimulationConfig(
        underlying="BTC", start="2025-12-07T20:00:00Z", end="2025-12-11T22:00:00Z",
        source="real", decision_interval_hours=1, exit_style="tp_and_roll", target_dte=2.0,
        min_dte=0.3, max_dte=7.0, min_score_to_trade=3.0, option_market="chains",
    )  # fmt: skip
    run_id = execute_run(data_dir, cfg)[0].run_id
    with app_client(data_dir) as c:
        sheet = c.get(f"/api/backtests/{run_id}/tearsheet").json()
        html = c.get(f"/api/backtests/{run_id}/tearsheet.html").text
    assert sheet["data"]["option_market"] == "chains" and sheet["data"]["recorded"]
    assert [(m["year"], m["month"]) for m in sheet["returns"]["months"]] == [(2025, 12)]
    assert set(sheet["rolling"]["strategy_sharpe"]) == {None}  # 4 days: no 90-day window
    assert sum(r["trades"] for r in sheet["breakdowns"]["close_reason"]) > 0
    assert "options: REAL recorded chains of source real" in html
    assert "SYNTHETIC DATA" not in html and "https://" not in html and "http://" not in html
    for line in sheet["data"]["recorded"]:
        assert line.replace("&", "&amp;").replace("'", "&#39;") in html
