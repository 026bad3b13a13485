"""The agent endpoints with the offline default (replay of the synthetic market, paper broker)."""

import time

from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings


def test_agent_runs_offline_and_can_be_paused(data_dir):
    settings = Settings(data_dir=data_dir, agent_cycle_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 20
        while client.get("/api/agent/status").json()["cycles"] < 3:
            assert time.monotonic() < deadline, "the agent never cycled"
            time.sleep(0.05)
        status = client.get("/status").json()["agent"]
        assert status["state"] == "running" and status["feed"] == "replay"
        assert status["broker"] == "paper" and "SYNTHETIC" in status["feed_description"]
        assert status["last_cycle_ms"] > 0 and status["equity_coin"] > 0
        decisions = client.get("/api/agent/decisions", params={"limit": 2}).json()
        assert len(decisions) == 2 and decisions[0]["id"] > decisions[1]["id"]
        first = client.get("/api/agent/decisions", params={"limit": 1000}).json()[-1]
        assert first["action"] in {"sell", "below_threshold", "no_candidate"}
        paused = client.post("/api/agent/pause").json()
        assert paused["state"] == "paused"
        n = client.get("/api/agent/status").json()["cycles"]
        time.sleep(0.3)
        assert client.get("/api/agent/status").json()["cycles"] <= n + 1
        assert client.post("/api/agent/resume").json()["state"] == "running"
        assert client.get("/api/agent/decisions", params={"limit": 0}).status_code == 422
    assert (data_dir / "agent" / "decisions.sqlite").is_file()


def test_agent_that_cannot_start_says_why(tmp_path):
    settings = Settings(data_dir=tmp_path / "empty", agent_replay_source="nope")
    with TestClient(create_app(settings)) as client:
        agent = client.get("/status").json()["agent"]
        assert agent["state"] == "error" and "'nope' not found" in agent["last_error"]
        res = client.post("/api/agent/pause")
        assert res.status_code == 409 and "'nope' not found" in res.json()["error"]
        assert client.get("/api/agent/decisions").json() == []


def _wait(client, until, what: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get("/api/agent/status").json()
        if until(status):
            return status
        assert time.monotonic() < deadline, f"the agent never {what}: {status}"
        time.sleep(0.05)


def test_agent_runs_the_strategy_file_of_a_backtest(data_dir, tmp_path):
    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run

    cfg = CallSimulationConfig(underlying="ETH", start="2023-01-01", end="2023-02-01",
                               exit_style="hold_to_expiry", target_delta=0.2,
                               decision_interval_hours=12)  # fmt: skip
    _, run_dir = execute_run(data_dir, cfg)
    settings = Settings(data_dir=data_dir, agent_cycle_seconds=0.05,
                        agent_strategy=run_dir / "summary.json")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        status = _wait(client, lambda s: s["cycles"] >= 1, "cycled")
        assert status["underlying"] == "ETH" and status["exit_style"] == "hold_to_expiry"
        assert status["strategy"] == cfg.strategy.model_dump(mode="json")
        assert "start" not in status["strategy"]  # run-only fields stay with the backtest


def test_unreadable_strategy_file_is_reported_not_raised(data_dir, tmp_path):
    bad = tmp_path / "strategy.json"
    bad.write_text('{"underlying": "BTC", "target_delta": 2}')
    settings = Settings(data_dir=data_dir, agent_strategy=bad)
    with TestClient(create_app(settings)) as client:
        agent = client.get("/api/agent/status").json()
        assert agent["state"] == "error"
        assert "THETADESK_AGENT_STRATEGY" in agent["last_error"]
        assert "target_delta" in agent["last_error"]


def test_paper_agent_switches_strategy_and_closes_the_open_call_only_when_asked(data_dir):
    # held to expiry, a sold call stays open for days of replayed time: no race with the test
    settings = Settings(data_dir=data_dir, agent_cycle_seconds=0.02, agent_replay_step_hours=24,
                        agent_exit_style="hold_to_expiry")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        _wait(client, lambda s: s["position"] is not None, "sold a call")
        client.post("/api/agent/pause")
        name = client.get("/api/agent/status").json()["position"]["instrument_name"]
        new = {"underlying": "ETH", "exit_style": "hold_to_expiry", "target_delta": 0.2}
        refused = client.post("/api/agent/strategy", json={"config": new})
        assert refused.status_code == 409 and name in refused.json()["error"]
        assert client.get("/api/agent/status").json()["underlying"] == "BTC"
        switched = client.post("/api/agent/strategy",
                               json={"config": new, "close_open_call": True})  # fmt: skip
        assert switched.status_code == 200, switched.json()
        body = switched.json()
        assert body["underlying"] == "ETH" and body["strategy"]["target_delta"] == 0.2
        assert body["state"] == "running"
        # the BTC call is gone; the new agent, cycling fast, may have sold an ETH call already
        assert body["position"] is None or body["position"]["instrument_name"].startswith("ETH-")
        trades = client.get("/api/agent/trades").json()
        assert trades[-1]["instrument_name"] == name and trades[-1]["close_reason"] == "manual"
        closes = [d for d in client.get("/api/agent/decisions?limit=1000").json()
                  if d["action"] == "close"]  # fmt: skip
        assert len(closes) == 1 and "switching strategy" in closes[0]["reason"]
        _wait(client, lambda s: s["cycles"] >= 1 and s["underlying"] == "ETH", "cycled on ETH")


def test_strategy_of_a_finished_run_and_bad_bodies(data_dir):
    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run

    cfg = CallSimulationConfig(underlying="BTC", start="2023-01-01", end="2023-02-01",
                               exit_style="tp_and_roll", tp_threshold_pct=55)  # fmt: skip
    result, _ = execute_run(data_dir, cfg)
    settings = Settings(data_dir=data_dir, agent_cycle_seconds=3600)  # one cycle, then waits
    with TestClient(create_app(settings)) as client:
        _wait(client, lambda s: s["cycles"] >= 1, "cycled")
        if client.get("/api/agent/status").json()["position"] is not None:
            body = {"from_run": result.run_id, "close_open_call": True}
        else:
            body = {"from_run": result.run_id}
        ok = client.post("/api/agent/strategy", json=body)
        assert ok.status_code == 200, ok.json()
        assert ok.json()["strategy"] == cfg.strategy.model_dump(mode="json")
        missing = client.post("/api/agent/strategy", json={"from_run": "0123456789abcdef"})
        assert missing.status_code == 404 and missing.json()["detail"][0]["field"] == "from_run"
        both = client.post("/api/agent/strategy", json={"from_run": result.run_id, "config": {}})
        assert both.status_code == 422 and "exactly one" in both.json()["error"]
        bad = client.post(
            "/api/agent/strategy", json={"config": {"underlying": "BTC", "target_delta": 0.9}}
        )
        assert bad.status_code == 422 and "target_delta" in bad.json()["error"]
        unknown = client.post(
            "/api/agent/strategy", json={"config": {"underlying": "BTC", "delta": 0.3}}
        )
        assert unknown.status_code == 422 and "delta" in unknown.json()["error"]


def test_a_switched_paper_agent_is_the_one_a_restart_continues(data_dir):
    settings = Settings(data_dir=data_dir, agent_cycle_seconds=0.02)
    new = {"underlying": "ETH", "exit_style": "hold_to_expiry", "target_delta": 0.2}
    with TestClient(create_app(settings)) as client:
        _wait(client, lambda s: s["cycles"] >= 1, "cycled")
        client.post("/api/agent/pause")
        switched = client.post("/api/agent/strategy", json={"config": new, "close_open_call": True})
        assert switched.status_code == 200 and switched.json()["state"] == "running"
        _wait(client, lambda s: s["cycles"] >= 3 and s["underlying"] == "ETH", "cycled on ETH")
        client.post("/api/agent/pause")
        before = client.get("/api/agent/status").json()
    with TestClient(create_app(settings)) as client:  # the settings still name the BTC strategy
        after = client.get("/api/agent/status").json()
    assert after["strategy"] == before["strategy"] and after["underlying"] == "ETH"
    assert after["state"] == "paused"
    unvalued = [{k: v for k, v in (s["position"] or {}).items() if k != "mark_coin"}
                for s in (before, after)]  # fmt: skip
    assert unvalued[0] == unvalued[1]  # the mark is read again at the next cycle
    assert after["message"].startswith("continued from the journal")
    changed = Settings(
        data_dir=data_dir, agent_cycle_seconds=0.02, agent_exit_style="hold_to_expiry"
    )
    with TestClient(create_app(changed)) as client:  # the settings changed: they win
        again = client.get("/api/agent/status").json()
    assert again["underlying"] == "BTC" and again["exit_style"] == "hold_to_expiry"
    assert "checkpoint is of another agent" in again["message"]
