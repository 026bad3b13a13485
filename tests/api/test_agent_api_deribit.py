"""The agent wired from settings onto the fake Deribit: refusals, testnet orders, no leaks."""

import logging
import os
import time

import pytest
from fastapi.testclient import TestClient

from api.agent_setup import AgentConfigError, build_agent
from api.main import create_app
from api.settings import Settings
from tests.fakes.deribit import FakeDeribit

SECRET = "s3cr3t-testnet-key-c41d08"  # distinctive, so a leak anywhere is found by substring
MAINNET_SECRET = "s3cr3t-mainnet-key-9be7aa"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Keep a developer's THETADESK_* variables out of these settings."""
    for name in [n for n in os.environ if n.startswith("THETADESK_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def fake():
    # The feed built from settings reads the wall clock, so the fake's market is set to now.
    with FakeDeribit(client_secret=SECRET, now_ms=int(time.time() * 1000)) as server:
        yield server


def settings_for(fake: FakeDeribit, tmp_path, **fields) -> Settings:
    """Settings of an agent on ``fake`` (no .env file read)."""
    base = dict(
        _env_file=None,
        data_dir=tmp_path / "data",
        agent_feed="deribit",
        deribit_url=fake.url,
        agent_underlying="BTC",
        agent_position_size=0.5,
        agent_cycle_seconds=0.05,
    )
    return Settings(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"agent_broker": "testnet"}, "THETADESK_DERIBIT_CLIENT_SECRET"),
        (
            {"agent_broker": "testnet", "deribit_client_id": "id-only"},
            "THETADESK_DERIBIT_CLIENT_SECRET",
        ),
        (
            {
                "agent_broker": "mainnet",
                "deribit_mainnet_client_id": "main-id",
                "deribit_mainnet_client_secret": MAINNET_SECRET,
            },
            "THETADESK_AGENT_ALLOW_MAINNET_ORDERS=true",
        ),
        (
            {"agent_broker": "mainnet", "agent_allow_mainnet_orders": True},
            "THETADESK_DERIBIT_MAINNET_CLIENT_SECRET",
        ),
        (  # testnet keys are never used for mainnet orders
            {
                "agent_broker": "mainnet",
                "agent_allow_mainnet_orders": True,
                "deribit_client_id": "test-id",
                "deribit_client_secret": SECRET,
            },
            "THETADESK_DERIBIT_MAINNET_CLIENT_ID",
        ),
    ],
)
def test_build_agent_refuses_unsafe_brokers_before_any_request(fake, tmp_path, fields, named):
    settings = settings_for(fake, tmp_path, **fields)
    with pytest.raises(AgentConfigError) as info:
        build_agent(settings)
    message = str(info.value)
    assert named in message
    assert SECRET not in message and MAINNET_SECRET not in message
    assert fake.requests == [] and not (tmp_path / "data").exists()


def test_settings_never_show_the_secrets(fake, tmp_path):
    settings = settings_for(
        fake,
        tmp_path,
        agent_broker="testnet",
        deribit_client_id=fake.client_id,
        deribit_client_secret=SECRET,
        deribit_mainnet_client_secret=MAINNET_SECRET,
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert SECRET not in shown and MAINNET_SECRET not in shown
    assert settings.deribit_client_secret.get_secret_value() == SECRET


def test_refused_agent_is_reported_by_status(fake, tmp_path):
    settings = settings_for(fake, tmp_path, agent_enabled=True, agent_broker="mainnet")
    with TestClient(create_app(settings)) as client:
        agent = client.get("/status").json()["agent"]
        assert agent["state"] == "error" and "AgentConfigError" in agent["last_error"]
        assert "THETADESK_AGENT_ALLOW_MAINNET_ORDERS" in agent["last_error"]
        assert client.post("/api/agent/resume").status_code == 409
    assert fake.requests == []


def wait_for_cycles(client: TestClient, n: int, timeout_s: float = 15.0) -> dict:
    """Poll ``/api/agent/status`` until the agent has run ``n`` cycles."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.get("/api/agent/status").json()
        if status["cycles"] >= n:
            return status
        assert time.monotonic() < deadline, f"the agent ran only {status['cycles']} cycles"
        time.sleep(0.05)


def bodies(client: TestClient) -> str:
    """Everything the API shows about the agent, as sent."""
    return "".join(
        client.get(path).text for path in ("/status", "/api/agent/status", "/api/agent/decisions")
    )


def test_testnet_agent_from_settings_trades_on_the_fake_and_never_shows_the_secret(
    fake, tmp_path, caplog
):
    settings = settings_for(
        fake,
        tmp_path,
        agent_enabled=True,
        agent_broker="testnet",
        deribit_client_id=fake.client_id,
        deribit_client_secret=SECRET,
    )
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as client:
        status = wait_for_cycles(client, 2)
        text = bodies(client)
        decisions = client.get("/api/agent/decisions", params={"limit": 1000}).json()
        switch = client.post("/api/agent/strategy", json={"config": {"underlying": "ETH"}})
    assert switch.status_code == 409 and "only at start" in switch.json()["error"]
    assert status["feed"] == "deribit" and status["broker"] == "testnet"
    assert status["last_error"] is None and status["position"] is not None
    assert decisions[-1]["action"] == "sell" and decisions[-1]["broker"] == "testnet"
    sells = [r for r in fake.requests if r.method == "private/sell"]
    assert len(sells) == 1 and sells[0].params["label"] == "thetadesk-agent"
    assert sells[0].params["instrument_name"] == status["position"]["instrument_name"]
    assert SECRET not in text and SECRET not in caplog.text


def test_rejected_testnet_key_is_reported_without_the_secret(fake, tmp_path, caplog):
    wrong = "s3cr3t-but-wrong-key-51a2e0"
    settings = settings_for(
        fake,
        tmp_path,
        agent_enabled=True,
        agent_broker="testnet",
        deribit_client_id=fake.client_id,
        deribit_client_secret=wrong,
    )
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as client:
        status = wait_for_cycles(client, 2)
        text = bodies(client)
        decisions = client.get("/api/agent/decisions").json()
    assert status["state"] == "running" and status["last_action"] == "error"
    assert status["last_error"].startswith("AuthError: public/auth: invalid_credentials")
    assert decisions and all(d["action"] == "error" for d in decisions)
    assert "AuthError" in text
    assert not [r for r in fake.requests if r.method in ("private/sell", "private/buy")]
    for secret in (wrong, SECRET):
        assert secret not in text and secret not in caplog.text
