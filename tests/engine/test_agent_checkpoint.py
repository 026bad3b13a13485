"""The agent's checkpoint: a restarted agent decides exactly as one that never stopped.

In process, over the replayed synthetic market: an agent stopped after any cycle and rebuilt on
its journal (new feed, new broker, new agent, as a restarted server builds them) continues with
the same decisions, trades and equity as one that ran straight through. Also: which checkpoints
are restored, which strategy a restart runs, and the journal's versioned schema.
"""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from cache.datasource import DeribitDataSource
from engine.agent import LiveAgent
from engine.agent.brokers import PaperBroker
from engine.agent.checkpoint import resumed_strategy
from engine.agent.feeds import ReplaySourceFeed
from engine.agent.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DecisionJournal,
    JournalVersionError,
)
from engine.config import StrategyConfig

START = datetime(2024, 3, 1, tzinfo=UTC)
CYCLES = 24 * 60  # two months of hourly cycles: sales, take-profits, rolls and expiries
# decides every 4 h, takes profit early and rolls: the counters and the schedule all matter
CFG = StrategyConfig(underlying="BTC", exit_style="tp_and_roll", tp_threshold_pct=85,
                     max_rolls_per_chain=1, decision_interval_hours=4)  # fmt: skip
DECISION_KEYS = ("time", "action", "best_instrument", "reason", "order_result", "equity_coin")


def build(data_dir, journal_path, cfg: StrategyConfig = CFG, coins: float = 1.0) -> LiveAgent:
    """An agent as the app builds one at start: fresh feed and broker, the journal restored."""
    feed = ReplaySourceFeed(DeribitDataSource(data_dir, "synthetic"), cfg, START,
                            timedelta(hours=1))  # fmt: skip
    broker = PaperBroker(coins, cfg.contracts(coins), cfg.fees)
    agent = LiveAgent(cfg, feed, broker, DecisionJournal(journal_path), cycle_seconds=0)
    agent.restore()
    return agent


def run(agent: LiveAgent, cycles: int) -> None:
    for _ in range(cycles):
        record = agent.run_cycle()
        assert record["error"] is None, record
        if not agent.feed.advance():
            return


def history(agent: LiveAgent) -> tuple[list, list]:
    decisions = [tuple(d[k] for k in DECISION_KEYS) for d in reversed(agent.journal.latest(5000))]
    trades = [{k: v for k, v in t.items() if k != "id"} for t in agent.journal.trades()]
    return decisions, trades


@pytest.fixture(scope="module")
def straight(synthetic_data_dir, tmp_path_factory):
    """The decisions and trades of an agent that never stopped."""
    agent = build(synthetic_data_dir, tmp_path_factory.mktemp("straight") / "j.sqlite")
    run(agent, CYCLES)
    result = history(agent)
    agent.journal.close()
    return result


@pytest.mark.parametrize("stops", [(1,), (37, 38), (100, 101, 260, 400, 900, 1300)])
def test_an_agent_restarted_after_any_cycle_decides_as_one_that_never_stopped(
    synthetic_data_dir, tmp_path, straight, stops
):
    path = tmp_path / "j.sqlite"
    done = 0
    for stop in (*stops, CYCLES):
        agent = build(synthetic_data_dir, path)
        run(agent, stop - done)
        done = stop
        if stop != CYCLES:
            agent.journal.close()  # the process ends here; nothing else is written
    decisions, trades = history(agent)
    agent.journal.close()
    assert {"sell", "take_profit", "roll"} <= {d[1] for d in straight[0]}
    assert {t["close_reason"] for t in straight[1]} == {"take_profit", "expiry"}
    assert decisions == straight[0]
    assert trades == straight[1]


def test_a_checkpoint_of_another_agent_is_set_aside(synthetic_data_dir, tmp_path):
    path = tmp_path / "j.sqlite"
    first = build(synthetic_data_dir, path)
    run(first, 30)
    assert first.broker.position is not None
    first.journal.close()
    other = build(synthetic_data_dir, path, coins=2.0)  # another size: another paper book
    assert other.broker.position is None and other.broker.coins == 2.0
    assert "checkpoint is of another agent (BTC 1 on the paper broker" in other.status().message
    other.journal.close()
    same = build(synthetic_data_dir, path)
    assert same.broker.position == first.broker.position
    assert same.status().message.startswith("continued from the journal: last cycle 2024-03-02")
    same.journal.close()


def test_an_unreadable_checkpoint_starts_afresh_saying_so(synthetic_data_dir, tmp_path):
    path = tmp_path / "j.sqlite"
    journal = DecisionJournal(path)
    journal.commit(checkpoint={"version": 99})
    journal.close()
    agent = build(synthetic_data_dir, path)
    assert agent.broker.position is None and agent.feed.now() == START
    assert "checkpoint could not be read" in agent.status().message
    agent.journal.close()


def test_a_replay_restored_past_its_end_is_finished(synthetic_data_dir, tmp_path):
    path = tmp_path / "j.sqlite"
    agent = build(synthetic_data_dir, path)
    run(agent, 1)
    agent.journal.commit(checkpoint={**agent.checkpoint().model_dump(mode="json"),
                                     "clock": "2100-01-01T00:00:00Z"})  # fmt: skip
    agent.journal.close()
    again = build(synthetic_data_dir, path)
    again.start()
    assert again.status().state == "finished" and again._thread is None
    again.journal.close()


def test_a_switched_strategy_survives_a_restart_until_the_settings_change():
    configured = StrategyConfig(underlying="BTC")
    switched = StrategyConfig(underlying="ETH", target_delta=0.2)
    saved = {"configured": configured.model_dump(mode="json"),
             "strategy": switched.model_dump(mode="json")}  # fmt: skip
    assert resumed_strategy(saved, configured) == switched
    changed = StrategyConfig(underlying="BTC", target_dte=10)
    assert resumed_strategy(saved, changed) == changed
    assert resumed_strategy(None, configured) == configured
    broken = saved | {"strategy": {"underlying": "BTC", "target_delta": True}}
    assert resumed_strategy(broken, configured) == configured


# ---- the journal's schema --------------------------------------------------------------------


def test_a_journal_of_the_first_schema_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # as thetadesk wrote it before the schema had a version
        for statement in MIGRATIONS[1]:
            db.execute(statement)
        db.execute(
            "INSERT INTO decisions (time, recorded_at, feed, broker, underlying, candidates, "
            "action, reason) VALUES ('2024-01-01T00:00:00+00:00', 'x', 'replay', 'paper', 'BTC', "
            "0, 'no_candidate', 'nothing to sell')"
        )
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0
    journal = DecisionJournal(path)
    assert [d["reason"] for d in journal.latest()] == ["nothing to sell"]
    assert journal.checkpoint() is None and not journal.paused()
    journal.set_paused(True)
    journal.close()
    again = DecisionJournal(path)  # opening a current journal changes nothing
    assert again.paused() and len(again.latest()) == 1
    again.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_journal_of_a_newer_thetadesk_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalVersionError, match=f"schema version {SCHEMA_VERSION + 1}; this"):
        DecisionJournal(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_a_cycle_is_journaled_whole_or_not_at_all(tmp_path):
    journal = DecisionJournal(tmp_path / "j.sqlite")
    decision = {"time": "t", "recorded_at": "t", "feed": "replay", "broker": "paper",
                "underlying": "BTC", "candidates": 0, "action": "sell", "reason": "r"}  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):  # the trade lacks its NOT NULL columns
        journal.commit(decision, trades=[{"broker": "paper"}], checkpoint={"a": 1})
    assert journal.latest() == [] and journal.trades() == [] and journal.checkpoint() is None
    journal.close()
