"""The sweep endpoints through the app's lifespan, as the Sweeps tab uses them."""

import time

import polars as pl
import pytest

from tests.api.test_backtest_api import BODY as BACKTEST
from tests.api.test_backtest_api import wait_for as wait_for_backtest

# two months of synthetic hourly bars, daily decisions: a sweep of 8 takes about a second
BASE = {
    "underlying": "BTC",
    "start": "2022-01-01",
    "end": "2022-03-01",
    "timeframe": "1h",
    "decision_interval_hours": 24,
    "source": "synthetic",
}
AXES = {
    "tp_threshold_pct": [50, 80],
    "min_score_to_trade": [3, 5],
    "exit_style": ["hold_to_expiry", "tp_and_roll"],
}
SPEC = {"base": BASE, "axes": AXES}


def wait_for(client, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/sweeps/status").json()
        if predicate(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"sweep status never matched; last: {status}")


def run_sweep(client, spec=SPEC) -> dict:
    res = client.post("/api/sweeps/start", json=spec)
    assert res.status_code == 200, res.json()
    status = wait_for(client, lambda s: not s["running"])
    assert status["state"] == "finished", status
    return res.json() | {"status": status}


@pytest.fixture
def swept(client):
    """A finished sweep of the eight configurations of SPEC."""
    return run_sweep(client)


def test_count_before_start_and_field_errors(client):
    res = client.post("/api/sweeps/count", json=SPEC)
    assert res.status_code == 200
    assert res.json() == {
        "configurations": 8,
        "grid": 8,
        "excluded_by_constraints": 0,
        "dropped_invalid": 0,
        "dropped": [],
    }
    constrained = SPEC | {"constraints": ["tp_threshold_pct > 60"]}
    assert client.post("/api/sweeps/count", json=constrained).json()["configurations"] == 4
    bad = client.post("/api/sweeps/count", json=SPEC | {"axes": {"target_delta": [0.2, 1.5]}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "axes"
    assert "target_delta[1] = 1.5" in bad.json()["error"]
    unknown = client.post("/api/sweeps/start", json=SPEC | {"axes": {"no_such_field": [1]}})
    assert unknown.status_code == 422 and "no_such_field" in unknown.json()["error"]
    extra = client.post("/api/sweeps/count", json=SPEC | {"executor": "ray"})
    assert extra.status_code == 422 and extra.json()["detail"][0]["field"] == "executor"


def test_start_refuses_unknown_source_uncovered_range_and_a_bad_spec(client):
    missing = client.post(
        "/api/sweeps/start", json={"base": BASE | {"source": "nope"}, "axes": AXES}
    )
    assert missing.status_code == 404 and missing.json()["detail"][0]["field"] == "base.source"
    far = client.post(
        "/api/sweeps/start",
        json={"base": BASE | {"start": "2031-01-01", "end": "2031-02-01"}, "axes": AXES},
    )
    assert far.status_code == 400
    assert {d["field"] for d in far.json()["detail"]} <= {"base.start", "base.end", "base.source"}
    no_body = client.post("/api/sweeps/start", json={"axes": AXES})
    assert no_body.status_code == 422 and no_body.json()["detail"][0]["field"] == "base"
    assert client.get("/api/sweeps/status").json()["state"] == "idle"


def test_a_sweep_runs_with_progress_and_is_listed_read_and_deleted(client, data_dir):
    res = client.post("/api/sweeps/start", json=SPEC)
    assert res.status_code == 200
    started = res.json()
    assert started["started"] is True and started["configurations"] == 8
    seen = []
    status = wait_for(client, lambda s: seen.append(s["progress_pct"]) or not s["running"])
    assert seen == sorted(seen)
    assert status["state"] == "finished" and status["progress_pct"] == 1.0
    assert status["configurations_done"] == status["configurations_total"] == 8
    assert status["sweep_id"] == started["sweep_id"] and status["synthetic"] is True
    assert status["executor"] == "threads"
    sweep_id = started["sweep_id"]
    assert (data_dir / "sweeps" / sweep_id / "results.parquet").is_file()

    listed = client.get("/api/sweeps").json()
    assert [e["sweep_id"] for e in listed] == [sweep_id]
    assert listed[0]["synthetic"] is True and listed[0]["configurations"] == 8
    summary = client.get(f"/api/sweeps/{sweep_id}").json()
    assert summary["spec"]["axes"] == AXES and summary["counts"]["configurations"] == 8
    stats = summary["statistics"]
    assert stats["best_row"] == summary["best"][0]["row"]
    assert stats["deflated_sharpe"]["explanation"] and stats["pbo"]["explanation"]

    assert client.delete(f"/api/sweeps/{sweep_id}").json() == {"deleted": sweep_id}
    assert client.get(f"/api/sweeps/{sweep_id}").status_code == 404
    assert client.delete(f"/api/sweeps/{sweep_id}").status_code == 404
    assert client.get("/api/sweeps").json() == []


def test_results_sort_and_page_like_the_parquet_file(client, data_dir, swept):
    sweep_id = swept["sweep_id"]
    table = pl.read_parquet(data_dir / "sweeps" / sweep_id / "results.parquet")
    page = client.get(f"/api/sweeps/{sweep_id}/results", params={"sort": "sharpe", "desc": True})
    body = page.json()
    assert body["total"] == 8 and body["axes"] == list(AXES)
    expected = table.sort(["sharpe", "row"], descending=[True, False], nulls_last=True)
    assert [r["row"] for r in body["rows"]] == expected["row"].to_list()
    assert body["rows"][0]["sharpe"] == pytest.approx(expected["sharpe"][0])
    assert set(body["rows"][0]) == set(table.columns)
    second = client.get(
        f"/api/sweeps/{sweep_id}/results",
        params={"sort": "tp_threshold_pct", "offset": 6, "limit": 5},
    ).json()
    assert [r["tp_threshold_pct"] for r in second["rows"]] == [80, 80]
    bad = client.get(f"/api/sweeps/{sweep_id}/results", params={"sort": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "sort"


def test_heatmap_reduces_the_other_axes(client, data_dir, swept):
    sweep_id = swept["sweep_id"]
    table = pl.read_parquet(data_dir / "sweeps" / sweep_id / "results.parquet")
    query = {"metric": "total_return_pct_usd", "x": "tp_threshold_pct", "y": "exit_style"}
    for reduce in ("max", "median", "min"):
        grid = client.get(f"/api/sweeps/{sweep_id}/heatmap", params=query | {"reduce": reduce})
        body = grid.json()
        assert grid.status_code == 200 and body["x_values"] == [50, 80]
        assert body["y_values"] == ["hold_to_expiry", "tp_and_roll"]
        for i, style in enumerate(body["y_values"]):
            for j, tp in enumerate(body["x_values"]):
                cell = table.filter(
                    (pl.col("exit_style") == style) & (pl.col("tp_threshold_pct") == tp)
                )
                values = cell["total_return_pct_usd"]
                want = getattr(values, reduce)()
                assert body["values"][i][j] == pytest.approx(want)
                assert body["counts"][i][j] == 2
                shown = table.filter(pl.col("row") == body["rows"][i][j])
                assert shown["exit_style"][0] == style and shown["tp_threshold_pct"][0] == tp
                if reduce != "median":
                    assert shown["total_return_pct_usd"][0] == pytest.approx(want)
    one_row = client.get(
        f"/api/sweeps/{sweep_id}/heatmap", params={"metric": "sharpe", "x": "min_score_to_trade"}
    ).json()
    assert one_row["y"] is None and len(one_row["values"]) == 1 and len(one_row["values"][0]) == 2
    for params, field in [
        ({"metric": "sharpe", "x": "target_delta"}, "x"),
        ({"metric": "sharpe", "x": "exit_style", "y": "exit_style"}, "y"),
        ({"metric": "exit_style", "x": "tp_threshold_pct"}, "metric"),
    ]:
        bad = client.get(f"/api/sweeps/{sweep_id}/heatmap", params=params)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == field


def test_a_walk_forward_shows_its_progress_folds_and_out_of_sample_curve(client):
    spec = {"base": BASE, "axes": AXES, "walk_forward": "train=30d,test=14d,step=14d"}
    assert client.post("/api/sweeps/count", json=spec).json()["configurations"] == 8
    started = client.post("/api/sweeps/start", json=spec).json()
    seen = []
    status = wait_for(client, lambda s: seen.append(s["progress_pct"]) or not s["running"])
    assert status["state"] == "finished", status
    assert status["walk_forward_done"] == status["walk_forward_total"] == 2 * (8 + 1)  # 2 folds
    assert seen == sorted(seen) and status["progress_pct"] == 1.0
    assert status["message"].endswith("walk-forward: 2 folds")
    sweep_id = started["sweep_id"]
    wf = client.get(f"/api/sweeps/{sweep_id}").json()["walk_forward"]
    assert [f["fold"] for f in wf["folds"]] == [0, 1] and wf["explanation"]
    curve = client.get(f"/api/sweeps/{sweep_id}/walk-forward", params={"points": 50}).json()
    assert curve["rows"] > curve["points"] == len(curve["time_s"]) <= 50
    assert curve["strategy_return_pct_usd"][0] == pytest.approx(0.0, abs=1e-9)
    assert curve["strategy_return_pct_usd"][-1] == pytest.approx(wf["oos_return_pct_usd"])
    assert curve["hodl_return_pct_usd"][-1] == pytest.approx(wf["oos_hodl_return_pct_usd"])
    assert curve["time_s"] == sorted(curve["time_s"]) and set(curve["fold"]) == {0, 1}
    bad = client.post(
        "/api/sweeps/count", json=spec | {"walk_forward": "train=300d,test=14d,step=14d"}
    )
    assert bad.status_code == 422 and "walk_forward" in bad.json()["error"]


def test_unknown_and_unreadable_sweeps_are_404_and_409(client, data_dir, swept):
    unknown = "0123456789abcdef"
    for path in ("", "/results", "/heatmap?metric=sharpe&x=exit_style", "/walk-forward"):
        assert client.get(f"/api/sweeps/{unknown}{path}").status_code == 404
    assert client.post(f"/api/sweeps/{unknown}/rows/0/backtest").status_code == 404
    assert client.get("/api/sweeps/not-an-id").status_code == 422
    sweep_id = swept["sweep_id"]
    assert client.post(f"/api/sweeps/{sweep_id}/rows/8/backtest").status_code == 404
    none = client.get(f"/api/sweeps/{sweep_id}/walk-forward")
    assert none.status_code == 404 and "no walk-forward" in none.json()["error"]
    folder = data_dir / "sweeps" / sweep_id
    (folder / "results.parquet").write_bytes(b"not parquet")
    broken = client.get(f"/api/sweeps/{sweep_id}/results")
    assert broken.status_code == 409 and "results.parquet" in broken.json()["error"]
    (folder / "summary.json").write_text("{")
    assert client.get(f"/api/sweeps/{sweep_id}").status_code == 409
    listed = client.get("/api/sweeps").json()
    assert listed[0]["sweep_id"] == sweep_id and "unreadable" in listed[0]
    assert client.delete(f"/api/sweeps/{sweep_id}").status_code == 200


def test_a_row_opens_as_an_ordinary_backtest_equal_to_the_row(client, data_dir, swept):
    sweep_id = swept["sweep_id"]
    row = client.get(
        f"/api/sweeps/{sweep_id}/results", params={"sort": "num_trades", "desc": True, "limit": 1}
    ).json()["rows"][0]
    res = client.post(f"/api/sweeps/{sweep_id}/rows/{row['row']}/backtest")
    assert res.status_code == 200
    assert res.json() == {
        "sweep_id": sweep_id,
        "row": row["row"],
        "run_id": row["run_id"],
        "started": True,
    }
    status = wait_for_backtest(client, lambda s: not s["running"])
    assert status["state"] == "finished" and status["run_id"] == row["run_id"]
    run = client.get(f"/api/backtests/{row['run_id']}").json()
    for axis in AXES:
        assert run["config"][axis] == row[axis]
    for key in ("num_trades", "total_return_pct_usd", "sharpe", "max_drawdown_pct"):
        assert run["metrics"][key] == pytest.approx(row[key], nan_ok=True)
    again = client.post(f"/api/sweeps/{sweep_id}/rows/{row['row']}/backtest").json()
    assert again["started"] is False and again["run_id"] == row["run_id"]  # from the history


def test_a_row_over_a_nested_field_opens_with_that_field(client):
    """The page could not post this config to /api/backtest/start (it has no nested fields)."""
    swept = run_sweep(client, {"base": BASE, "axes": {"scoring.w_delta": [1.0, 4.0]}})
    sweep_id = swept["sweep_id"]
    row = client.get(f"/api/sweeps/{sweep_id}/results", params={"offset": 1}).json()["rows"][0]
    started = client.post(f"/api/sweeps/{sweep_id}/rows/1/backtest").json()
    assert started["started"] is True and started["run_id"] == row["run_id"]
    status = wait_for_backtest(client, lambda s: not s["running"])
    assert status["run_id"] == row["run_id"] and status["config"]["scoring"]["w_delta"] == 4.0
    assert status["metrics"]["sharpe"] == pytest.approx(row["sharpe"], nan_ok=True)


def test_a_sweep_and_a_backtest_never_run_together(client):
    assert client.post("/api/backtest/start", json=BACKTEST | {"pace": 10}).json()["started"]
    wait_for_backtest(client, lambda s: s["phase"] == "publishing")
    refused = client.post("/api/sweeps/start", json=SPEC)
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("a backtest is running")
    client.post("/api/backtest/stop")
    wait_for_backtest(client, lambda s: not s["running"])

    spec = {
        "base": BASE | {"end": "2022-12-01"},
        "axes": AXES | {"target_dte": [7, 14, 28], "target_delta": [0.2, 0.3]},
    }
    assert client.post("/api/sweeps/start", json=spec).status_code == 200
    backtest = client.post("/api/backtest/start", json=BACKTEST)
    assert backtest.status_code == 409 and backtest.json()["started"] is False
    assert backtest.json()["error"].startswith("a sweep is running")
    again = client.post("/api/sweeps/start", json=SPEC)
    assert again.status_code == 409 and again.json()["error"] == "Sweep already running"
    assert client.post("/api/sweeps/stop").json() == {"stopping": True}
    status = wait_for(client, lambda s: not s["running"])
    assert status["state"] == "stopped" and status["message"] == "stopped by user"
    assert client.post("/api/backtest/start", json=BACKTEST).json()["started"] is True
    wait_for_backtest(client, lambda s: not s["running"])


def test_the_openapi_schema_lists_the_sweep_endpoints(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    one = "/api/sweeps/{sweep_id}"
    for path in ("start", "count", "status", "stop"):
        assert f"/api/sweeps/{path}" in paths, path
    for path in ("", "/results", "/heatmap", "/walk-forward", "/rows/{row}/backtest"):
        assert f"{one}{path}" in paths, path
    request = doc["components"]["schemas"]["SweepRequest"]["properties"]
    assert set(request) >= {"base", "axes", "constraints", "sample", "objective", "executor"}
