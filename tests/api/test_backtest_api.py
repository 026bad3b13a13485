"""The backtest endpoints through the app's lifespan, as the dashboard uses them."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from engine.simulator import CoveredCallSimulator
from engine.warmup import EngineWarmup
from tests.fakes.warmup import HeldWarmup

BODY = {
    "underlying": "BTC",
    "start": "2022-01-01",
    "end": "2022-07-01",
    "timeframe": "1h",
    "decision_interval_hours": 24,
    "exit_style": "tp_and_roll",
}


def wait_for(client, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/backtest/status").json()
        if predicate(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"status never matched; last: {status}")


def test_start_progress_finish_with_metrics(client, data_dir):
    idle = client.get("/api/backtest/status").json()
    assert idle["state"] == "idle" and idle["running"] is False
    res = client.post("/api/backtest/start", json=BODY)
    assert res.status_code == 200 and res.json() == {"started": True, "error": None}
    seen = []
    status = wait_for(client, lambda s: seen.append(s["progress_pct"]) or not s["running"])
    assert seen == sorted(seen)  # monotonic
    assert status["state"] == "finished" and status["progress_pct"] == 1.0
    assert status["decisions_processed"] == status["total_decisions"] == 181
    assert status["metrics"]["num_trades"] > 0 and "sharpe" in status["metrics"]
    assert 0 < len(status["recent_steps"]) <= 100
    step = status["recent_steps"][0]
    assert set(step) >= {"time", "candidates", "best_score", "traded", "exit_style"}
    for key in ("started_at", "finished_at", "current_time", "start_date"):
        assert datetime.fromisoformat(status[key]).utcoffset().total_seconds() == 0
    assert status["synthetic"] is True
    run_dir = data_dir / "runs" / status["run_id"]
    assert (run_dir / "summary.json").is_file() and (run_dir / "trades.parquet").is_file()
    assert client.get("/status").json()["backtest_state"] == "finished"


def test_second_start_is_409_and_stop_is_honoured_within_a_second(client, data_dir):
    paced = BODY | {"pace": 10}
    assert client.post("/api/backtest/start", json=paced).json()["started"] is True
    wait_for(client, lambda s: s["phase"] == "publishing")
    again = client.post("/api/backtest/start", json=BODY)
    assert again.status_code == 409
    assert again.json()["started"] is False and again.json()["error"] == "Backtest already running"
    t0 = time.monotonic()
    assert client.post("/api/backtest/stop").json() == {"stopping": True}
    status = wait_for(client, lambda s: not s["running"], timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert status["state"] == "stopped" and status["message"] == "stopped by user"
    assert 0 < status["decisions_processed"] < status["total_decisions"]
    assert not (data_dir / "runs").exists()  # a stopped paced run leaves nothing on disk


def test_paced_run_streams_steps_visibly(client):
    client.post("/api/backtest/start", json=BODY | {"pace": 200})
    counts = set()
    wait_for(client, lambda s: counts.add(s["decisions_processed"]) or not s["running"])
    assert len(counts) >= 4  # the page saw the run walk, not jump to the end


@pytest.mark.parametrize(
    ("change", "status", "field", "words"),
    [
        ({"underlying": "DOGE"}, 422, "underlying", "BTC"),
        ({"end": "2021-01-01"}, 422, "end", "must be after start"),
        ({"start": "2010-01-01"}, 400, "start", "cover 2019-01-01"),
        ({"timeframe": "4h", "decision_interval_hours": 6}, 422, "decision_interval_hours",
         "multiple"),
        ({"source": "nope"}, 404, "source", "not found"),
        ({"colour": "red"}, 422, "colour", "Extra inputs"),
        ({"start": "yesterday"}, 422, "start", "date"),
        ({"pace": 7}, 422, "pace", "10"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_starts_nothing(client, change, status, field, words):
    res = client.post("/api/backtest/start", json=BODY | change)
    assert res.status_code == status, res.json()
    body = res.json()
    assert words in body["error"]
    assert any(d["field"] == field for d in body["detail"]), body
    assert client.get("/api/backtest/status").json()["state"] == "idle"


def test_a_capital_below_deribits_minimum_order_is_refused_naming_it(client):
    res = client.post("/api/backtest/start", json={**BODY, "initial_capital_usd": 500})
    assert res.status_code == 400
    body = res.json()
    assert body["error"].startswith("initial_capital_usd (500.00 USD) buys")
    assert "below Deribit's minimum option order of 0.1 BTC" in body["error"]
    assert [d["field"] for d in body["detail"]] == ["initial_capital_usd"]
    assert client.get("/api/backtest/status").json()["running"] is False
    enough = client.post("/api/backtest/start", json={**BODY, "initial_capital_usd": 50_000})
    assert enough.json()["started"] is True
    assert wait_for(client, lambda s: not s["running"])["state"] == "finished"


def test_a_position_below_the_minimum_is_refused_at_start(client):
    res = client.post("/api/backtest/start", json={**BODY, "position_size": 0.05})
    assert res.status_code == 422 and "position_size" in res.json()["error"]


def test_a_data_dir_that_refuses_writes_is_a_503_before_anything_runs(client, data_dir):
    (data_dir / "runs").write_text("a file where the runs folder should be")
    res = client.post("/api/backtest/start", json=BODY)
    assert res.status_code == 503
    body = res.json()
    assert body == {
        "started": False,
        "error": f"the data directory is not writable: cannot write to {data_dir / 'runs'}: "
        "Not a directory",
        "detail": None,
    }
    assert client.get("/api/backtest/status").json()["state"] == "idle"


def test_fifty_concurrent_starts_start_exactly_one(client):
    # paced at ten steps a second (18 s), the run outlives the 50 requests on any machine
    # (unpaced, a warm six-month run can finish between two of them and a later start succeed)
    body = {**BODY, "pace": 10}
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: client.post("/api/backtest/start", json=body), range(50)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1 and codes.count(409) == 49
    client.post("/api/backtest/stop")
    wait_for(client, lambda s: not s["running"])


def test_worker_exception_ends_in_error_not_stuck_running(client, monkeypatch):
    def boom(self, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(CoveredCallSimulator, "simulate_policy", boom)
    assert client.post("/api/backtest/start", json=BODY).json()["started"] is True
    status = wait_for(client, lambda s: not s["running"])
    assert status["state"] == "error" and status["error"] == "RuntimeError: kernel exploded"
    assert client.post("/api/backtest/start", json=BODY).status_code == 200  # can start again


def test_every_error_has_one_shape(data_dir, monkeypatch):
    app = create_app(Settings(data_dir=data_dir, agent_enabled=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        responses = [
            c.get("/nope"),
            c.post("/api/backtest/status"),  # wrong method
            c.post("/api/backtest/start", content=b"{not json"),
            c.post("/api/backtest/start", json=BODY | {"underlying": 1}),
        ]
        monkeypatch.setattr(app.state.backtest_manager, "get_status", lambda: 1 / 0, raising=True)
        responses.append(c.get("/api/backtest/status"))
    assert [r.status_code for r in responses] == [404, 405, 422, 422, 500]
    for r in responses:
        body = r.json()
        assert isinstance(body["error"], str) and body["error"] and "detail" in body
    assert "Traceback" not in responses[-1].text


def test_status_lists_sources_and_openapi_docs(client):
    status = client.get("/status").json()
    assert status["sources"][0]["name"] == "synthetic" and status["sources"][0]["synthetic"]
    assert status["agent"]["state"] == "disabled"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/backtest/start", "/api/backtest/status", "/api/backtest/stop"} <= set(paths)


def test_a_backtest_on_recorded_chains_through_the_api(data_dir, snapshots_dir):
    """The dashboard's path on a chain source: listed with its chains, run on them, and the
    summary says the options were the recorded chains and how many decisions were gaps."""
    from cache.importers.chains import import_chains
    from cache.store import Store

    import_chains(Store(data_dir), "real", "snapshots", sorted(snapshots_dir.glob("BTC_*.parquet")))
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as client:
        (real,) = [s for s in client.get("/api/sources").json() if s["name"] == "real"]
        assert real["chains"]["BTC"]["snapshots"] > 100 and "ETH" not in real["chains"]
        body = BODY | {
            "source": "real", "start": "2025-12-07T20:00:00Z", "end": "2025-12-11T22:00:00Z",
            "decision_interval_hours": 1, "target_dte": 2.0, "min_dte": 0.3, "max_dte": 7.0,
            "option_market": "chains",
        }  # fmt: skip
        assert client.post("/api/backtest/start", json=body).json()["started"] is True
        status = wait_for(client, lambda s: not s["running"])
        assert status["state"] == "finished", status.get("message")
        data = client.get(f"/api/backtests/{status['run_id']}").json()["data"]
        assert data["option_market"] == "chains" and data["chains"]["source"] == "real"
        assert data["chains"]["gap_decisions"] >= 0 and data["recorded"] and data["modelled"]
        entry = next(
            e for e in client.get("/api/backtests").json() if e["run_id"] == status["run_id"]
        )
        assert entry["option_market"] == "chains"
        refused = client.post("/api/backtest/start", json=body | {"source": "synthetic"})
        assert refused.status_code == 400
        assert "no recorded BTC option chains" in refused.json()["error"]


def test_a_backtest_started_while_the_engine_warms_up_shows_it(data_dir, monkeypatch):
    held = HeldWarmup()
    monkeypatch.setattr("api.main.WARMUP", EngineWarmup(held))
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as client:
        assert client.get("/status").json()["engine"] == "warming"
        assert client.post("/api/backtest/start", json=BODY).json()["started"] is True
        status = client.get("/api/backtest/status").json()
        assert status["running"] and status["phase"] == "engine"
        assert status["message"] == "preparing the engine, first run after install"
        held.release.set()
        assert wait_for(client, lambda s: not s["running"])["state"] == "finished"
        assert client.get("/status").json()["engine"] == "ready"
