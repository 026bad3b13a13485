"""``/api/backtests``: history, curves, trades, export, compare, delete, and the live curve."""

import errno
import io
import json
import shutil
import time

import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.results.runs import execute_run
from tests.api.test_backtest_api import BODY, wait_for

UNKNOWN = "0123456789abcdef"
ERROR_KEYS = {"error", "detail"}


@pytest.fixture
def runs(runs_source, tmp_path):
    """A private copy of the data dir with the two runs: (data_dir, [hold_id, tp_id])."""
    source, ids = runs_source
    shutil.copytree(source, tmp_path / "data")
    return tmp_path / "data", ids


def app_client(data_dir) -> TestClient:
    return TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False)))


@pytest.fixture
def client(runs):
    with app_client(runs[0]) as c:
        yield c


def assert_error(res, status: int, words: str = "") -> dict:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == ERROR_KEYS and isinstance(body["error"], str) and words in body["error"]
    return body


def test_history_is_newest_first_and_survives_a_restart(runs):
    data_dir, (hold, tp) = runs
    with app_client(data_dir) as c:
        before = c.get("/api/backtests").json()
    assert [e["run_id"] for e in before] == [tp, hold]
    assert before[0]["exit_style"] == "tp_and_roll" and before[1]["exit_style"] == "hold_to_expiry"
    assert all(e["synthetic"] and e["source"] == "synthetic" for e in before)
    assert (
        before[0]["start"] == "2022-01-01T00:00:00Z" and before[0]["end"] == "2022-07-01T00:00:00Z"
    )
    with app_client(data_dir) as c:  # a new app instance: the history is the files
        assert c.get("/api/backtests").json() == before


def test_run_detail_is_the_summary_with_its_config(client, runs):
    data_dir, (hold, _) = runs
    body = client.get(f"/api/backtests/{hold}").json()
    summary = json.loads((data_dir / "runs" / hold / "summary.json").read_text())
    assert body["run_id"] == hold and body["config"] == summary["config"]
    assert body["metrics"] == summary["metrics"] and body["rows"] == summary["rows"]
    assert body["data"]["synthetic"] is True and body["config"]["exit_style"] == "hold_to_expiry"


def test_history_and_detail_say_how_far_a_run_can_be_trusted(client, runs):
    _, (hold, _) = runs
    entry = next(e for e in client.get("/api/backtests").json() if e["run_id"] == hold)
    data = client.get(f"/api/backtests/{hold}").json()["data"]
    assert entry["fill_model"] == data["fill_model"] == "bid_ask"
    assert entry["calibration_id"] == data["calibration_id"] == SpreadModel.default().calibration_id
    assert entry["iv_real_share"] == data["iv_real_share"] == 0.0  # synthetic: no DVOL print
    assert entry["warnings"] == data["warnings"]
    assert data["warnings"][0].startswith("SYNTHETIC market")
    assert data["warnings"][-1] == data["fee_schedule"]["statement"]
    assert data["fee_schedule"]["name"] == "deribit-current"
    assert data["fee_schedule"]["valid_from"] is None


def test_a_run_written_before_the_trust_facts_reads_as_not_recorded(client, runs):
    data_dir, (hold, _) = runs
    path = data_dir / "runs" / hold / "summary.json"
    summary = json.loads(path.read_text())
    for key in ("fill_model", "calibration_id", "iv_real_share", "warnings", "fee_schedule"):
        del summary["data"][key]
    path.write_text(json.dumps(summary))
    entry = next(e for e in client.get("/api/backtests").json() if e["run_id"] == hold)
    assert [entry[k] for k in ("fill_model", "iv_real_share", "warnings")] == [None] * 3
    detail = client.get(f"/api/backtests/{hold}")
    assert detail.status_code == 200 and detail.json()["data"]["warnings"] is None


def test_equity_is_thinned_to_points_with_ends_extremes_and_markers(client, runs):
    data_dir, (_, tp) = runs
    full = pl.read_parquet(data_dir / "runs" / tp / "equity.parquet")
    trades = pl.read_parquet(data_dir / "runs" / tp / "trades.parquet")
    body = client.get(f"/api/backtests/{tp}/equity", params={"points": 100}).json()
    assert body["run_id"] == tp and body["live"] is False
    assert body["rows"] == full.height and body["points"] == len(body["time_s"]) <= 100
    times = full["time"].dt.epoch("s").to_list()
    assert body["time_s"][0] == times[0] and body["time_s"][-1] == times[-1]
    assert body["time_s"] == sorted(set(body["time_s"]))
    assert max(body["equity_usd"]) == full["equity_usd"].max()
    assert min(body["equity_coin"]) == full["equity_coin"].min()
    kinds = [m["kind"] for m in body["markers"]]
    assert kinds.count("sell") == trades.height
    assert kinds.count("take_profit") == (trades["close_reason"] == "take_profit").sum()
    default = client.get(f"/api/backtests/{tp}/equity").json()
    assert 1_500 < default["points"] <= 2_000  # the default
    whole = client.get(f"/api/backtests/{tp}/equity", params={"points": 5_000}).json()
    assert whole["points"] == full.height and whole["equity_usd"] == full["equity_usd"].to_list()


def test_trades_page_sort_and_desc(client, runs):
    data_dir, (_, tp) = runs
    full = pl.read_parquet(data_dir / "runs" / tp / "trades.parquet")
    body = client.get(f"/api/backtests/{tp}/trades", params={"offset": 3, "limit": 4}).json()
    assert body["total"] == full.height and len(body["trades"]) == 4
    assert [t["instrument_name"] for t in body["trades"]] == full["instrument_name"][3:7].to_list()
    row = body["trades"][0]
    assert {
        "open_time",
        "close_time",
        "strike",
        "dte_at_open",
        "premium_coin",
        "premium_usd",
    } <= set(row)
    assert {"close_reason", "assigned", "pnl_coin", "pnl_usd"} <= set(row)
    params = {"sort": "pnl_usd", "desc": "true", "limit": 500}
    pnl = [
        t["pnl_usd"]
        for t in client.get(f"/api/backtests/{tp}/trades", params=params).json()["trades"]
    ]
    assert pnl == sorted(pnl, reverse=True) and len(pnl) == full.height
    params = {"sort": "close_reason", "limit": 500}
    reasons = [
        t["close_reason"]
        for t in client.get(f"/api/backtests/{tp}/trades", params=params).json()["trades"]
    ]
    assert reasons == sorted(reasons)


@pytest.mark.parametrize("what", ["trades", "equity"])
def test_export_csv_and_parquet(client, runs, what):
    data_dir, (hold, _) = runs
    expected = pl.read_parquet(data_dir / "runs" / hold / f"{what}.parquet")
    csv = client.get(f"/api/backtests/{hold}/export", params={"what": what, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f'filename="thetadesk-{hold}-{what}.csv"' in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0].split(",") == expected.columns and len(lines) == expected.height + 1
    pq = client.get(f"/api/backtests/{hold}/export", params={"what": what, "format": "parquet"})
    assert pq.status_code == 200 and pq.headers["content-type"] == "application/vnd.apache.parquet"
    assert f"thetadesk-{hold}-{what}.parquet" in pq.headers["content-disposition"]
    assert pl.read_parquet(io.BytesIO(pq.content)).equals(expected)


def test_summary_json_download(client, runs):
    data_dir, (hold, _) = runs
    res = client.get(f"/api/backtests/{hold}/summary.json")
    assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
    assert res.content == (data_dir / "runs" / hold / "summary.json").read_bytes()


def test_compare_two_runs(client, runs):
    _, (hold, tp) = runs
    body = client.get("/api/backtests/compare", params={"a": hold, "b": tp}).json()
    assert body["a"]["run_id"] == hold and body["b"]["run_id"] == tp
    assert body["config_diff"] == [{"key": "exit_style", "a": "hold_to_expiry", "b": "tp_and_roll"}]
    by_key = {m["key"]: m for m in body["metrics"]}
    assert by_key["take_profits"]["a"] == 0 and by_key["take_profits"]["b"] > 0
    assert by_key["sharpe"]["label"] == "Sharpe (365 d)"


def test_delete_removes_the_files_and_the_entry(client, runs):
    data_dir, (hold, tp) = runs
    res = client.delete(f"/api/backtests/{hold}")
    assert res.status_code == 200 and res.json() == {"deleted": hold}
    assert not (data_dir / "runs" / hold).exists()
    assert [p.name for p in (data_dir / "runs").iterdir()] == [tp]
    assert [e["run_id"] for e in client.get("/api/backtests").json()] == [tp]
    assert_error(client.delete(f"/api/backtests/{hold}"), 404, hold)
    assert_error(client.get(f"/api/backtests/{hold}/equity"), 404, hold)


@pytest.mark.parametrize(
    "path",
    [
        "/api/backtests/{u}",
        "/api/backtests/{u}/equity",
        "/api/backtests/{u}/trades",
        "/api/backtests/{u}/summary.json",
        "/api/backtests/{u}/export?what=trades&format=csv",
        "/api/backtests/{u}/export?what=equity&format=parquet",
        "/api/backtests/compare?a={u}&b={u}",
    ],
)
def test_unknown_run_is_404_in_the_error_shape(client, path):
    assert_error(client.get(path.format(u=UNKNOWN)), 404, f"no finished run {UNKNOWN}")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("equity?points=1", "points"),
        ("equity?points=1000000", "points"),
        ("equity?points=many", "points"),
        ("trades?offset=-1", "offset"),
        ("trades?limit=0", "limit"),
        ("trades?limit=501", "limit"),
        ("trades?sort=secret", "sort"),
        ("trades?desc=sideways", "desc"),
        ("export?what=steps&format=csv", "what"),
        ("export?what=trades&format=xlsx", "format"),
        ("export?format=csv", "what"),
    ],
)
def test_bad_params_are_422_naming_the_field(client, runs, query, field):
    _, (hold, _) = runs
    body = assert_error(client.get(f"/api/backtests/{hold}/{query}"), 422)
    assert [d["field"] for d in body["detail"]] == [field]


@pytest.mark.parametrize(
    "run_id",
    ["..", "..%2F..%2Fsources", "..%2Fsynthetic", "%2e%2e", "....%2F%2F", "0123456789ABCDEF",
     "0123456789abcde", "0123456789abcdef0", "%2Fetc%2Fpasswd", "0123456789abcde%00"],
)  # fmt: skip
def test_traversal_attempts_never_leave_the_runs_folder(client, runs, run_id):
    data_dir, ids = runs
    for method, suffix in [
        ("GET", ""),
        ("GET", "/equity"),
        ("GET", "/summary.json"),
        ("DELETE", ""),
    ]:
        res = client.request(method, f"/api/backtests/{run_id}{suffix}")
        assert res.status_code in (404, 405, 422), (method, run_id, suffix, res.text)
        assert set(res.json()) == ERROR_KEYS
    assert (data_dir / "sources").is_dir()
    assert sorted(p.name for p in (data_dir / "runs").iterdir()) == sorted(ids)


def test_live_equity_grows_while_a_paced_run_publishes(runs):
    data_dir, _ = runs
    with app_client(data_dir) as c:
        idle = c.get("/api/backtest/live/equity").json()
        assert idle["live"] is False and idle["points"] == 0 and idle["markers"] == []
        assert c.post("/api/backtest/start", json=BODY | {"pace": 50}).json()["started"] is True
        wait_for(c, lambda s: s["phase"] == "publishing" and s["decisions_processed"] >= 20)
        first = c.get("/api/backtest/live/equity", params={"points": 200}).json()
        wait_for(c, lambda s: s["decisions_processed"] >= 40)
        later = c.get("/api/backtest/live/equity", params={"points": 200}).json()
        c.post("/api/backtest/stop")
        wait_for(c, lambda s: not s["running"])
        after = c.get("/api/backtest/live/equity").json()
    assert first["live"] is True and first["run_id"] is not None and first["points"] <= 200
    assert 19 * 24 < first["rows"] < later["rows"] < 181 * 24  # hourly bars, daily decisions
    assert first["time_s"][-1] <= later["time_s"][-1]
    assert all(m["time_s"] <= later["time_s"][-1] for m in later["markers"])
    assert after["live"] is False and after["run_id"] is None


def test_four_hourly_years_come_back_thinned_and_fast(runs):
    data_dir, _ = runs
    cfg = CallSimulationConfig(underlying="BTC", start="2021-01-01", end="2025-01-01")
    result, _ = execute_run(data_dir, cfg)
    with app_client(data_dir) as c:
        c.get(f"/api/backtests/{result.run_id}/equity", params={"points": 1000})  # warm imports
        t0 = time.perf_counter()
        res = c.get(f"/api/backtests/{result.run_id}/equity", params={"points": 1000})
        elapsed = time.perf_counter() - t0
    body = res.json()
    assert body["rows"] == 35_065 and 500 < body["points"] <= 1000
    assert elapsed < 1.0, f"{elapsed:.3f} s"


def test_openapi_documents_every_results_endpoint(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        ("/api/backtests", "get"),
        ("/api/backtests/compare", "get"),
        ("/api/backtests/{run_id}", "get"),
        ("/api/backtests/{run_id}", "delete"),
        ("/api/backtests/{run_id}/summary.json", "get"),
        ("/api/backtests/{run_id}/equity", "get"),
        ("/api/backtests/{run_id}/trades", "get"),
        ("/api/backtests/{run_id}/export", "get"),
        ("/api/backtest/live/equity", "get"),
    }
    for path, method in expected:
        op = paths[path][method]
        assert op["tags"] == ["results"] and op["summary"]
        if "{run_id}" in path:
            assert op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/ErrorResponse"
            )
            run_id = next(p for p in op["parameters"] if p["name"] == "run_id")
            assert run_id["schema"]["pattern"] == "^[0-9a-f]{16}$"
    export = paths["/api/backtests/{run_id}/export"]["get"]["responses"]["200"]["content"]
    assert {"text/csv", "application/vnd.apache.parquet"} <= set(export)


def test_app_starts_without_the_chart_library(runs, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr("api.main.UPLOT_DIR", tmp_path / "no-node-modules")
    with app_client(runs[0]) as c:
        assert c.get("/").status_code == 200
        assert_error(c.get("/vendor/uplot/uPlot.esm.js"), 404)
        assert c.get("/api/backtests").status_code == 200
    assert "charts unavailable" in caplog.text


@pytest.mark.parametrize(
    "text", ['{"run_id": 5}', "[1, 2, 3]", "{truncated", '{"finished_at": "yesterday"}']
)
def test_an_unreadable_run_is_listed_as_such_409_when_asked_for_and_deletable(client, runs, text):
    data_dir, (hold, tp) = runs
    (data_dir / "runs" / hold / "summary.json").write_text(text)
    listed = client.get("/api/backtests")
    assert listed.status_code == 200, listed.text
    bad, good = listed.json()
    assert bad["run_id"] == hold and set(bad) == {"run_id", "unreadable"}
    assert good["run_id"] == tp and good["exit_style"] == "tp_and_roll"
    for path in (f"/api/backtests/{hold}", f"/api/backtests/compare?a={tp}&b={hold}"):
        body = assert_error(client.get(path), 409, f"run {hold} cannot be read: summary.json")
        assert body["detail"] == {"run_id": hold, "unreadable": bad["unreadable"]}
    assert client.get(f"/api/backtests/{hold}/summary.json").content == text.encode()
    assert client.get(f"/api/backtests/{hold}/equity").status_code == 200  # its tables are fine
    assert client.delete(f"/api/backtests/{hold}").json() == {"deleted": hold}
    assert [e["run_id"] for e in client.get("/api/backtests").json()] == [tp]


def test_a_truncated_table_is_409_naming_it_and_its_download_is_the_file(client, runs):
    data_dir, (hold, _) = runs
    path = data_dir / "runs" / hold / "trades.parquet"
    path.write_bytes(path.read_bytes()[:-64])
    for query in ("trades", "equity", "export?what=trades&format=csv"):
        assert_error(client.get(f"/api/backtests/{hold}/{query}"), 409, "trades.parquet")
    res = client.get(f"/api/backtests/{hold}/export?what=trades&format=parquet")
    assert res.status_code == 200 and res.content == path.read_bytes()
    assert client.get(f"/api/backtests/{hold}").status_code == 200  # the summary is fine


def test_a_delete_the_data_dir_refuses_is_503_and_the_run_stays(client, runs, monkeypatch):
    """Simulated: a read-only mount (tests/security makes a real one) fails the rename so."""
    _, (hold, _) = runs

    def read_only(*_):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("engine.results.history.discard_path", read_only)
    body = assert_error(client.delete(f"/api/backtests/{hold}"), 503, f"cannot delete run {hold}")
    assert body["error"].endswith("is not writable (Read-only file system)")
    assert client.get(f"/api/backtests/{hold}").status_code == 200
