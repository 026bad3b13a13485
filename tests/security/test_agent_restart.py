"""The live agent survives ``kill -9`` of a real ``thetadesk serve`` and a restart on its data dir.

Paper agent replaying the synthetic market: the restarted agent holds the same call, its journal
continues at the next replayed instant (nothing lost, nothing repeated) and it sells no second
call. Testnet agent on the fake Deribit: restarted with the account as it left it, it continues
without an order; restarted after the position was changed behind its back, it stays paused,
says what differs and sends no order until the account is put right (the Live Agent tab showing
it: tests/browser/test_agent_reconcile.py).
"""

import itertools
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cache.deribit import DeribitClient
from tests.browser.live_server import LiveServer, copy_data_dir
from tests.fakes.deribit import FakeDeribit

ORDER_METHODS = ("private/sell", "private/buy")
AGENT_LABEL = "thetadesk-agent"
SECRET = "s3cr3t-testnet-key-restart"


def journal_of(data_dir: Path) -> tuple[list[dict], list[dict], dict]:
    """The journal as a killed server left it: decisions and trades (oldest first), checkpoint."""
    with sqlite3.connect(data_dir / "agent" / "decisions.sqlite") as db:
        db.row_factory = sqlite3.Row
        decisions = [dict(r) for r in db.execute("SELECT * FROM decisions ORDER BY id")]
        trades = [dict(r) for r in db.execute("SELECT * FROM trades ORDER BY id")]
        state = db.execute("SELECT checkpoint FROM agent_state").fetchone()
    return decisions, trades, json.loads(state["checkpoint"])


def started(data_dir: Path, env: dict[str, str]) -> LiveServer:
    return LiveServer(data_dir, env=env).start()


# ---- paper agent on the replayed synthetic market --------------------------------------------


@pytest.fixture
def data_dir(synthetic_data_dir, tmp_path) -> Iterator[Path]:
    path = copy_data_dir(synthetic_data_dir, tmp_path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_paper_agent_killed_mid_replay_continues_with_the_same_call(data_dir):
    # holding to expiry keeps the call open for a week of replayed hours (~170 cycles)
    env = {"THETADESK_AGENT_CYCLE_SECONDS": "0.05", "THETADESK_AGENT_EXIT_STYLE": "hold_to_expiry"}
    first = started(data_dir, env)
    try:
        first.wait_for_agent(
            lambda s: s["position"] is not None and s["cycles"] >= 5, "sold a call"
        )
        first.kill()
    finally:
        first.close()
    decisions, trades, saved = journal_of(data_dir)
    assert saved["position"] is not None, "killed with no call open"
    assert datetime.fromisoformat(decisions[-1]["time"]) == datetime.fromisoformat(saved["clock"])
    assert decisions[-1]["action"] in ("not_a_decision", "position_open")  # after the sale
    sales = [d for d in decisions if d["action"] in ("sell", "roll")]

    second = started(data_dir, env)
    try:
        status = second.agent_status()
        held = status["position"]
        assert held is not None and "continued from the journal" in status["message"]
        assert held["instrument_name"] == saved["position"]["instrument_name"]
        assert held["premium_coin"] == saved["position"]["premium_coin"]
        assert datetime.fromisoformat(held["opened_at"]) == datetime.fromisoformat(
            saved["position"]["open_time"]
        )
        second.wait_for_agent(lambda s: s["cycles"] >= 10, "cycled after the restart")
        httpx.post(f"{second.url}/api/agent/pause", timeout=10)  # hold the journal still
        rows = list(reversed(httpx.get(f"{second.url}/api/agent/decisions?limit=1000").json()))
        closed = httpx.get(f"{second.url}/api/agent/trades").json()
        after = second.agent_status()
    finally:
        second.close()

    assert len(sales) == len(trades) + 1  # before the kill: one call open
    assert [r["id"] for r in rows[: len(decisions)]] == [d["id"] for d in decisions]
    new = rows[len(decisions) :]
    assert len(new) >= 10 and all(r["error"] is None for r in new)
    times = [datetime.fromisoformat(r["time"]) for r in rows]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(times))
    # no second sale while a call is open: every sale but the open call's has been closed
    all_sales = [r for r in rows if r["action"] in ("sell", "roll")]
    assert len(all_sales) == len(closed) + (after["position"] is not None)
    assert new[0]["action"] not in ("sell", "roll")


def test_paused_paper_agent_stays_paused_after_a_kill(data_dir):
    env = {"THETADESK_AGENT_CYCLE_SECONDS": "0.05"}
    first = started(data_dir, env)
    try:
        first.wait_for_agent(lambda s: s["cycles"] >= 3, "cycled")
        assert httpx.post(f"{first.url}/api/agent/pause").json()["state"] == "paused"
        cycles = first.agent_status()["cycles"]
        first.kill()
    finally:
        first.close()
    count = len(journal_of(data_dir)[0])
    assert count <= cycles + 1
    second = started(data_dir, env)
    try:
        time.sleep(0.5)  # ten cycle periods
        status = second.agent_status()
        assert status["state"] == "paused" and status["cycles"] == 0
        assert len(journal_of(data_dir)[0]) == count
        assert httpx.post(f"{second.url}/api/agent/resume").json()["state"] == "running"
        second.wait_for_agent(lambda s: s["cycles"] >= 2, "cycled once resumed")
    finally:
        second.close()


# ---- testnet agent on the fake Deribit -------------------------------------------------------


def agent_orders(fake: FakeDeribit, since: int) -> list:
    """Orders the agent sent (its label) from request number ``since`` on."""
    return [
        r
        for r in fake.requests[since:]
        if r.method in ORDER_METHODS and r.params.get("label") == AGENT_LABEL
    ]


def short_calls(fake: FakeDeribit) -> dict[str, float]:
    return {r["instrument_name"]: r["size"] for r in fake.account.position_rows("BTC", fake.now_ms)}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDeribit]:
    # the agent's feed reads the wall clock, so the fake's market is set to now
    with FakeDeribit(client_secret=SECRET, now_ms=int(time.time() * 1000)) as server:
        yield server


@pytest.fixture(scope="module")
def account(fake) -> Iterator[DeribitClient]:
    """The account's owner, trading on it behind the agent's back."""
    client = DeribitClient(fake.url, client_id=fake.client_id, client_secret=SECRET)
    yield client
    client.close()


@pytest.fixture(scope="module")
def testnet(fake, tmp_path_factory):
    """A testnet agent that sold a call, was killed, restarted once on the unchanged account
    and killed again; then the account's call was partly bought back by its owner."""
    data_dir = tmp_path_factory.mktemp("testnet") / "data"
    env = fake.agent_env(position_size=0.5)
    log: dict = {"env": env, "data_dir": data_dir}
    server = started(data_dir, env)
    try:
        log["sold"] = server.wait_for_agent(lambda s: s["position"] is not None, "sold", 60)
        server.kill()
    finally:
        server.close()
    log["sales"] = agent_orders(fake, 0)
    since = len(fake.requests)
    server = started(data_dir, env)
    try:
        log["unchanged"] = server.wait_for_agent(lambda s: s["cycles"] >= 3, "cycled", 60)
        server.kill()
    finally:
        server.close()
    log["unchanged_requests"] = fake.requests[since:]
    return log


def test_restart_on_the_unchanged_account_continues_without_an_order(fake, testnet):
    name = testnet["sold"]["position"]["instrument_name"]
    assert [r.params["instrument_name"] for r in testnet["sales"]] == [name]
    status = testnet["unchanged"]
    assert status["state"] == "running" and status["reconcile_error"] is None
    assert status["position"]["instrument_name"] == name
    methods = [r.method for r in testnet["unchanged_requests"]]
    assert "private/get_positions" in methods and "private/get_open_orders_by_currency" in methods
    assert not [m for m in methods if m in ORDER_METHODS]
    assert short_calls(fake) == {name: -0.5}


@pytest.fixture(scope="module")
def held_back(fake, account, testnet) -> Iterator[dict]:
    """The agent restarted after its call was partly bought back behind its back."""
    name = testnet["sold"]["position"]["instrument_name"]
    account.buy(name, 0.2, type="market")
    since = len(fake.requests)
    server = started(testnet["data_dir"], testnet["env"])
    try:
        status = server.wait_for_agent(lambda s: s["reconcile_error"] is not None, "held back", 60)
        yield {"server": server, "since": since, "name": name, "status": status}
    finally:
        server.close()


def test_a_position_changed_behind_its_back_holds_the_agent_paused_with_no_order(fake, held_back):
    server, name = held_back["server"], held_back["name"]
    status = held_back["status"]
    assert status["state"] == "paused"
    assert f"{name} is -0.3 in the account, -0.5 in the agent's book" in status["reconcile_error"]
    time.sleep(1.0)  # ten cycle periods
    assert server.agent_status()["state"] == "paused"
    refused = httpx.post(f"{server.url}/api/agent/resume", timeout=30)
    assert refused.status_code == 409 and "still differs" in refused.json()["error"]
    wrong = httpx.post(f"{server.url}/api/agent/resume", json={"adopt_account": True}, timeout=30)
    assert wrong.status_code == 409 and "cannot adopt" in wrong.json()["error"]
    assert agent_orders(fake, held_back["since"]) == []
    decisions = httpx.get(f"{server.url}/api/agent/decisions?limit=5").json()
    assert decisions[0]["action"] == "error" and "AccountMismatchError" in decisions[0]["error"]


def test_once_the_account_is_put_right_resume_continues_with_the_same_call(
    fake, account, held_back
):
    server, name = held_back["server"], held_back["name"]
    account.sell(name, 0.2, type="market")  # the owner restores the agent's call
    res = httpx.post(f"{server.url}/api/agent/resume", timeout=30)
    assert res.status_code == 200 and res.json()["state"] == "running", res.text
    assert res.json()["reconcile_error"] is None
    cycles = res.json()["cycles"]
    status = server.wait_for_agent(lambda s: s["cycles"] >= cycles + 3, "cycled once resumed")
    assert status["position"]["instrument_name"] == name and status["last_error"] is None
    assert agent_orders(fake, held_back["since"]) == []
    assert short_calls(fake) == {name: -0.5}
