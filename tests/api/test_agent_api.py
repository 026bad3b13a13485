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
